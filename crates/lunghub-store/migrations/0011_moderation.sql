-- The admin's moderation (lunghub_store::moderation): institutes taken off the public table
-- (test entries, junk, a duplicate merged into the real record) and partner listings
-- decided. Nothing is deleted: a removed institute keeps its row, its history and its site,
-- which takes no more data; every decision is a line of the moderation log.
ALTER TABLE institutes ADD COLUMN removed_at BIGINT;
ALTER TABLE institutes ADD COLUMN merged_into TEXT;
CREATE TABLE moderation_log (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,       -- the address of the account that decided
    subject TEXT NOT NULL,     -- 'institute:ID' or 'account:ID'
    action TEXT NOT NULL,      -- institute-removed, institute-merged, listing-approved, listing-declined
    note TEXT NOT NULL
);
CREATE INDEX moderation_log_by_time ON moderation_log (at);
