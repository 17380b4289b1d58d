-- Versioned open datasets (issue 6). Same conventions as 0001: text keys, BIGINT nanosecond
-- times. A release is immutable once its row is written: nothing updates these tables.

CREATE TABLE releases (
    name TEXT NOT NULL,               -- a slug: lowercase letters, digits and '-'
    version BIGINT NOT NULL,          -- 1, 2, … per name
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    seed BIGINT NOT NULL,
    shares TEXT NOT NULL,             -- "train,validation,test", e.g. "0.7,0.15,0.15"
    filters TEXT NOT NULL,            -- JSON: the selection, as given
    licences TEXT NOT NULL,           -- JSON: source → licence, as given
    files BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    manifest_sha256 TEXT NOT NULL,    -- sha256 of the release's SHA256SUMS
    PRIMARY KEY (name, version)
);

-- What a release holds. The finding of a test item is kept here and nowhere public: the
-- leaderboard scores against it.
CREATE TABLE release_items (
    name TEXT NOT NULL,
    version BIGINT NOT NULL,
    item_id TEXT NOT NULL REFERENCES items (id),
    split TEXT NOT NULL,              -- train | validation | test
    finding TEXT NOT NULL,
    file TEXT NOT NULL,               -- the image's file name in the release
    PRIMARY KEY (name, version, item_id),
    FOREIGN KEY (name, version) REFERENCES releases (name, version)
);
CREATE INDEX release_items_by_item ON release_items (item_id);
