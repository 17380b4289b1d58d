-- Images arriving from hospitals by web upload, DICOMweb and DICOM C-STORE, and their
-- review. Same conventions as 0001: text keys, BIGINT nanosecond times, INTEGER flags.

-- A site that asks for two independent reads of every item before it is released.
ALTER TABLE sites ADD COLUMN double_read INTEGER NOT NULL DEFAULT 0;

-- Frames sampled from a clip or a multi-frame image, for review (frame scrubbing) and
-- for the dataset's previews. Each is a PNG in the blob store.
CREATE TABLE item_frames (
    item_id TEXT NOT NULL REFERENCES items (id),
    idx INTEGER NOT NULL,             -- 0-based order of the sample
    frame INTEGER NOT NULL,           -- the frame number in the clip
    blob TEXT NOT NULL,
    PRIMARY KEY (item_id, idx)
);

-- One reviewer's read of one item. A later read by the same reviewer replaces theirs.
CREATE TABLE reads (
    item_id TEXT NOT NULL REFERENCES items (id),
    reviewer TEXT NOT NULL,           -- account id
    at BIGINT NOT NULL,
    decision TEXT NOT NULL,           -- approve | reject
    finding TEXT,                     -- the reviewer's label, when approving
    reason TEXT NOT NULL DEFAULT '',  -- why, when rejecting
    PRIMARY KEY (item_id, reviewer)
);

-- API tokens a site's systems use for DICOMweb STOW-RS. Only a hash is stored.
CREATE TABLE site_tokens (
    token_hash TEXT PRIMARY KEY,
    site_id TEXT NOT NULL REFERENCES sites (id),
    label TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX site_tokens_by_site ON site_tokens (site_id);

-- A web upload: one batch of files with the labels and clinical fields set for all of them.
CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL REFERENCES sites (id),
    account_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    fields TEXT NOT NULL DEFAULT '{}' -- JSON: finding, view, modality, … for every file
);

-- What happened to each file of an upload, by its path in the batch: a retried or resumed
-- upload skips the files already here.
CREATE TABLE upload_files (
    upload_id TEXT NOT NULL REFERENCES uploads (id),
    name TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    outcome TEXT NOT NULL,            -- new | duplicate | near-duplicate | quarantined | unreadable
    item_id TEXT,
    detail TEXT NOT NULL DEFAULT '',
    at BIGINT NOT NULL,
    PRIMARY KEY (upload_id, name)
);
