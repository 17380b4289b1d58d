-- The working tracks' challenges (issue 8): a leaderboard on a release's sequestered test
-- split. Same conventions as 0001: text keys, BIGINT nanosecond times, INTEGER flags.

CREATE TABLE challenges (
    id TEXT PRIMARY KEY,              -- a slug: lowercase letters, digits and '-'
    track_id TEXT NOT NULL REFERENCES tracks (id),
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    release_name TEXT NOT NULL,
    release_version BIGINT NOT NULL,
    task TEXT NOT NULL,               -- a lunghub-learn task: covid-vs-rest, three-class, …
    threshold DOUBLE PRECISION NOT NULL,  -- where F1 is taken, declared in advance
    opens_at BIGINT NOT NULL,
    closes_at BIGINT NOT NULL,
    daily_limit BIGINT NOT NULL,      -- submissions per participant per UTC day
    total_limit BIGINT NOT NULL,      -- submissions per participant in all
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    FOREIGN KEY (release_name, release_version) REFERENCES releases (name, version)
);

-- Every scored submission. Both parts are scored when it arrives, so nothing waits on the
-- close; private_scores is read only through lunghub-store's challenge code, which returns
-- it once the challenge has closed and never before.
CREATE TABLE submissions (
    id TEXT PRIMARY KEY,              -- random
    challenge_id TEXT NOT NULL REFERENCES challenges (id),
    account_id TEXT NOT NULL REFERENCES accounts (id),
    at BIGINT NOT NULL,
    -- 1, 2, … per participant and challenge. Unique, so two submissions sent at once by one
    -- participant cannot both pass the limit check: the second one's insert fails.
    slot BIGINT NOT NULL,
    file_sha256 TEXT NOT NULL,        -- of the CSV as sent
    public_scores TEXT NOT NULL,      -- JSON: lunghub-challenge's Scores on the public part
    private_scores TEXT NOT NULL,     -- JSON: the same on the private part
    final_pick INTEGER NOT NULL DEFAULT 0,
    baseline INTEGER NOT NULL DEFAULT 0,  -- lunghub's own model, outside the limits
    note TEXT NOT NULL DEFAULT '',    -- the participant's own label
    writeup TEXT NOT NULL DEFAULT '', -- the results post: a short write-up …
    links TEXT NOT NULL DEFAULT '[]'  -- … and its links (JSON list of URLs)
);
CREATE UNIQUE INDEX submissions_by_participant ON submissions (challenge_id, account_id, slot);

-- Personal API tokens (lunghub submit, the JSON submission endpoint). Only a hash is stored.
CREATE TABLE api_tokens (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    label TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX api_tokens_by_account ON api_tokens (account_id);
