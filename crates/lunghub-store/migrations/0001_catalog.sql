-- lunghub's catalog. One schema for SQLite and PostgreSQL: text keys (content hashes,
-- pseudonyms, UIDs) instead of auto-increment, times as BIGINT nanoseconds since the Unix
-- epoch, flags as INTEGER, JSON as TEXT.

CREATE TABLE sites (
    id TEXT PRIMARY KEY,              -- a slug of the name
    name TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE patients (
    id TEXT PRIMARY KEY,              -- keyed pseudonym (LH-…)
    site_id TEXT NOT NULL REFERENCES sites (id)
);

CREATE TABLE studies (
    id TEXT PRIMARY KEY,              -- de-identified Study Instance UID, or a keyed id
    patient_id TEXT NOT NULL REFERENCES patients (id)
);

CREATE TABLE series (
    id TEXT PRIMARY KEY,              -- de-identified Series Instance UID, or a keyed id
    study_id TEXT NOT NULL REFERENCES studies (id)
);

-- One image or clip, identified by the sha256 of its de-identified bytes in the blob store.
CREATE TABLE items (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL REFERENCES sites (id),
    patient_id TEXT NOT NULL REFERENCES patients (id),
    study_id TEXT NOT NULL REFERENCES studies (id),
    series_id TEXT NOT NULL REFERENCES series (id),
    kind TEXT NOT NULL,               -- dicom | png | jpeg
    modality TEXT NOT NULL,
    view TEXT,
    photometric TEXT,
    bits INTEGER,
    width INTEGER,
    height INTEGER,
    frames INTEGER,
    bytes BIGINT NOT NULL,
    pixel_hash TEXT,                  -- sha256 of the decoded pixels
    perceptual_hash TEXT,             -- 256-bit DCT hash, hex
    thumbnail TEXT,                   -- blob id of a PNG, longest side 256
    near_duplicate_of TEXT REFERENCES items (id),
    age_years DOUBLE PRECISION,
    sex TEXT,
    comorbidities TEXT,
    therapy TEXT,
    outcome TEXT,                     -- survival / outcome as the source says it
    offset_days INTEGER,              -- days since symptom onset
    route TEXT NOT NULL,              -- folder | upload | stow-rs | c-store
    source_dataset TEXT,
    intake_at BIGINT NOT NULL,
    tool_version TEXT NOT NULL,
    deid_profile TEXT NOT NULL,
    review_state TEXT NOT NULL
);
CREATE INDEX items_pixel_hash ON items (pixel_hash);
CREATE INDEX items_site ON items (site_id);

CREATE TABLE labels (
    item_id TEXT NOT NULL REFERENCES items (id),
    finding TEXT NOT NULL,            -- hierarchy path, or the verbatim unknown string
    known INTEGER NOT NULL,           -- 1 if the finding is in the hierarchy
    source TEXT NOT NULL,             -- metadata | reviewer | model
    set_by TEXT NOT NULL,
    set_at BIGINT NOT NULL,
    PRIMARY KEY (item_id, finding, source)
);

CREATE TABLE item_events (
    item_id TEXT NOT NULL REFERENCES items (id),
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (item_id, at, kind)
);
