-- Every outgoing mail waits in this queue until it is delivered: a request only inserts a
-- row, a background sender delivers it with retries, and a restart carries on from the
-- rows. A row is never deleted: it is the record of what was sent to whom.
CREATE TABLE mail_queue (
    id TEXT PRIMARY KEY,                 -- random; the mail's Message-ID is <id@host>
    dedupe_key TEXT UNIQUE,              -- 'news:POST:ADDRESS': one post, once per reader
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    unsubscribe_url TEXT,                -- news: List-Unsubscribe with one click (RFC 8058)
    created_at BIGINT NOT NULL,
    state TEXT NOT NULL,                 -- queued, sent, outbox (kept for the admin)
    attempts INTEGER NOT NULL DEFAULT 0,
    due_at BIGINT NOT NULL,              -- not tried before this
    lease TEXT,                          -- the sender holding it, until leased_until
    leased_until BIGINT,
    done_at BIGINT,
    last_error TEXT
);
CREATE INDEX mail_queue_due ON mail_queue (state, due_at);
CREATE INDEX mail_queue_by_lease ON mail_queue (lease);

-- News posts: written by coordinators, or drafted by an event (a release, an institute
-- whose dataset is available, a challenge's close) for a coordinator to publish.
CREATE TABLE news_posts (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    body TEXT NOT NULL,                  -- Markdown; rendered without raw HTML
    event TEXT UNIQUE,                   -- what drafted it: release:NAME:VERSION, institute:ID, challenge:ID
    author TEXT,                         -- account id; NULL for a draft an event made
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    published_at BIGINT,
    published_by TEXT
);
CREATE INDEX news_by_published ON news_posts (published_at);
