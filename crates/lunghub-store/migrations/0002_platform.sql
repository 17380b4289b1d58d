-- The web platform: accounts and their sessions, one-time tokens, subscribers, the
-- institutes being brought on board with their history and documents, and the working
-- tracks. Same conventions as 0001: text keys, BIGINT nanosecond times, INTEGER flags.

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,                    -- random
    email TEXT NOT NULL UNIQUE,             -- lowercased
    name TEXT NOT NULL,
    password_hash TEXT,                     -- argon2id, PHC string; NULL until one is set
    role TEXT NOT NULL,                     -- admin, coordinator, reviewer, uploader, data-scientist, member
    site_id TEXT REFERENCES sites (id),     -- the one site of an uploader
    signup_role TEXT,                       -- what they signed up as, on the public site
    profile TEXT NOT NULL DEFAULT '{}',     -- JSON: the answers their sign-up role was asked
    listed INTEGER NOT NULL DEFAULT 0,      -- agreed to be listed as partner or contributor
    confirmed_at BIGINT,
    created_at BIGINT NOT NULL
);

-- Only a hash of the session token is stored: a copy of the database opens no session.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- One-time tokens: confirm an email, reset a password, the admin's first sign-in,
-- confirm a subscription. Also stored hashed.
CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,
    purpose TEXT NOT NULL,
    subject TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

CREATE TABLE subscribers (
    email TEXT PRIMARY KEY,
    unsubscribe_token TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    confirmed_at BIGINT,
    unsubscribed_at BIGINT
);

CREATE TABLE institutes (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    location TEXT NOT NULL,
    requested_data TEXT NOT NULL,           -- comma-separated keys: xray-healthy, ultrasound-lung, …
    contacts TEXT NOT NULL DEFAULT '',
    notes TEXT NOT NULL DEFAULT '',
    stage TEXT NOT NULL,                    -- a Stage key
    ethics_required INTEGER NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX institutes_by_stage ON institutes (stage);

-- Every change to an institute: who, when, what, and why.
CREATE TABLE institute_history (
    id TEXT PRIMARY KEY,
    institute_id TEXT NOT NULL REFERENCES institutes (id),
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    from_stage TEXT,
    to_stage TEXT,
    note TEXT NOT NULL
);
CREATE INDEX institute_history_by_institute ON institute_history (institute_id, at);

CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    institute_id TEXT NOT NULL REFERENCES institutes (id),
    kind TEXT NOT NULL,                     -- ethics-approval, signed-form, other
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    blob TEXT NOT NULL,                     -- sha256 in the blob store
    uploaded_by TEXT NOT NULL,
    uploaded_at BIGINT NOT NULL
);

CREATE TABLE tracks (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    summary TEXT NOT NULL,
    position INTEGER NOT NULL,
    coordinator_id TEXT REFERENCES accounts (id)
);

CREATE TABLE track_people (
    track_id TEXT NOT NULL REFERENCES tracks (id),
    account_id TEXT NOT NULL REFERENCES accounts (id),
    kind TEXT NOT NULL,                     -- member, or coordinator-offer
    at BIGINT NOT NULL,
    PRIMARY KEY (track_id, account_id, kind)
);

INSERT INTO tracks (id, name, summary, position) VALUES
    ('medical-imaging', 'Medical imaging', 'Chest X-ray and lung ultrasound models: datasets, training, evaluation on sequestered test sets.', 1),
    ('outbreak-statistics', 'Statistical outbreak analysis', 'Models of the spread of the outbreak from public case data.', 2),
    ('clinical-correlation', 'Clinical data correlation', 'How clinical fields (age, comorbidities, days since onset) relate to imaging findings and outcome.', 3),
    ('drug-impact', 'Drug impact analysis', 'What the therapies recorded with the images tell about outcome, with the caution observational data needs.', 4),
    ('maker-equipment', 'Maker equipment', 'Open designs for equipment hospitals run short of, checked by clinicians.', 5);

-- Server-wide secrets and settings shared by every instance on this database (the key
-- that signs CSRF tokens, for one).
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
