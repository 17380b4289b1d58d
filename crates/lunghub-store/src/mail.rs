//! The outgoing mail queue (migration 0007): a request only adds rows; a background sender
//! leases the due ones, delivers them, and records each outcome the moment it knows it.
//!
//! Crash safety: a lease is short and renewed while its sender works, so a mail a killed
//! sender held is taken up again, by any sender on the database, soon after. A mail is marked sent right after the SMTP server accepted it, one row at a
//! time, so a kill can double at most the mail in flight at that instant (SMTP itself
//! cannot tell a sender whether a message whose reply was lost arrived, RFC 1047); it
//! carries the same Message-ID both times, which lets the receiving side drop the copy.
//!
//! Those per-mail marks are written with the durability a killed process needs and no more
//! (SQLite `synchronous = NORMAL` in WAL mode, PostgreSQL `synchronous_commit = off`): they
//! survive a kill of lunghub, while a power cut or an OS crash may lose the last fraction
//! of a second of them, whose mails then go again. A flush to disk per mail would hold the
//! sender to the disk's fsync rate (80 mails a second here).

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Connection, Executor, Row, Transaction};

use crate::StoreError;
use crate::catalog::now_ns;
use crate::platform::{Platform, random_id};

/// A mail to add to the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMail {
    pub to: String,
    pub subject: String,
    pub body: String,
    /// For news: the link that unsubscribes with one click (`List-Unsubscribe`).
    pub unsubscribe_url: Option<String>,
    /// Queued once only: a second mail with the same key is dropped.
    pub dedupe_key: Option<String>,
}

impl NewMail {
    pub fn new(to: &str, subject: &str, body: &str) -> NewMail {
        NewMail {
            to: to.to_owned(),
            subject: subject.to_owned(),
            body: body.to_owned(),
            unsubscribe_url: None,
            dedupe_key: None,
        }
    }
}

/// A mail a sender holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMail {
    pub id: String,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub unsubscribe_url: Option<String>,
    /// Tries so far, this one included.
    pub attempts: i64,
    pub created_at: i64,
}

/// How many mails are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct MailCounts {
    pub queued: i64,
    pub sent: i64,
    /// Not sent by SMTP (none configured, or it refused them for good): in the outbox
    /// folder for the admin.
    pub outbox: i64,
}

fn queued(row: &AnyRow) -> Result<QueuedMail, sqlx::Error> {
    Ok(QueuedMail {
        id: row.try_get("id")?,
        to: row.try_get("recipient")?,
        subject: row.try_get("subject")?,
        body: row.try_get("body")?,
        unsubscribe_url: row.try_get("unsubscribe_url")?,
        attempts: row.try_get("attempts")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Adds mails inside a transaction; returns how many were new.
pub(crate) async fn insert_mails(
    tx: &mut Transaction<'static, Any>,
    mails: &[NewMail],
    now: i64,
) -> Result<u64, StoreError> {
    let mut added = 0;
    for m in mails {
        let done = sqlx::query(
            "INSERT INTO mail_queue (id, dedupe_key, recipient, subject, body, unsubscribe_url, created_at, state, due_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', $7) ON CONFLICT DO NOTHING",
        )
        .bind(random_id()?)
        .bind(&m.dedupe_key)
        .bind(&m.to)
        .bind(&m.subject)
        .bind(&m.body)
        .bind(&m.unsubscribe_url)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        added += done.rows_affected();
    }
    Ok(added)
}

impl Platform {
    /// Adds mails to the queue, all or none; returns how many were new (the others had a
    /// dedupe key already queued).
    pub async fn queue_mails(&self, mails: &[NewMail]) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let added = insert_mails(&mut tx, mails, now_ns()).await?;
        tx.commit().await?;
        Ok(added)
    }

    /// Leases up to `limit` due mails to a new holder until `now + hold_ns`, counting the
    /// try; returns the holder's lease and the mails, oldest first.
    pub async fn lease_due_mail(
        &self,
        now: i64,
        hold_ns: i64,
        limit: i64,
    ) -> Result<(String, Vec<QueuedMail>), StoreError> {
        let lease = random_id()?;
        // The lease is checked again on the row itself, so that two senders on
        // PostgreSQL never hold one mail: the second's update finds it leased.
        sqlx::query(
            "UPDATE mail_queue SET lease = $1, leased_until = $2, attempts = attempts + 1 \
             WHERE state = 'queued' AND due_at <= $3 AND (leased_until IS NULL OR leased_until < $3) \
             AND id IN (SELECT id FROM mail_queue WHERE state = 'queued' AND due_at <= $3 \
                        AND (leased_until IS NULL OR leased_until < $3) ORDER BY due_at, created_at, id LIMIT $4)",
        )
        .bind(&lease)
        .bind(now.saturating_add(hold_ns))
        .bind(now)
        .bind(limit)
        .execute(&self.pool)
        .await?;
        let rows = sqlx::query(
            "SELECT id, recipient, subject, body, unsubscribe_url, attempts, created_at FROM mail_queue \
             WHERE lease = $1 AND state = 'queued' ORDER BY due_at, created_at, id",
        )
        .bind(&lease)
        .fetch_all(&self.pool)
        .await?;
        let mails = rows.iter().map(queued).collect::<Result<_, _>>()?;
        Ok((lease, mails))
    }

    /// Keeps a lease for `hold_ns` more: a sender renews its lease while it works, so
    /// that the lease can be short and a killed sender's mails come back soon.
    pub async fn renew_mail_lease(&self, lease: &str, hold_ns: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE mail_queue SET leased_until = $1 WHERE lease = $2 AND state = 'queued'",
        )
        .bind(now_ns().saturating_add(hold_ns))
        .bind(lease)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Runs an outcome's update as the module's header says: safe against a kill, not
    /// flushed to disk one by one.
    async fn record<'q>(&self, query: Query<'q, Any, AnyArguments<'q>>) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        if conn.backend_name().eq_ignore_ascii_case("sqlite") {
            conn.execute("PRAGMA synchronous = NORMAL").await?;
            let done = query.execute(&mut *conn).await;
            conn.execute("PRAGMA synchronous = FULL").await?;
            done?;
        } else {
            let mut tx = conn.begin().await?;
            tx.execute("SET LOCAL synchronous_commit TO OFF").await?;
            query.execute(&mut *tx).await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// The mail was delivered (to the SMTP server, or to the outbox folder as `state`).
    pub async fn mail_done(
        &self,
        id: &str,
        lease: &str,
        state: MailDone,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.record(sqlx::query(
            "UPDATE mail_queue SET state = $1, done_at = $2, lease = NULL, leased_until = NULL, last_error = $3 \
             WHERE id = $4 AND lease = $5",
        )
        .bind(state.key())
        .bind(now_ns())
        .bind(error)
        .bind(id)
        .bind(lease))
        .await
    }

    /// The mail could not be delivered now: try again at `due_at`.
    pub async fn mail_later(
        &self,
        id: &str,
        lease: &str,
        due_at: i64,
        error: &str,
    ) -> Result<(), StoreError> {
        self.record(sqlx::query(
            "UPDATE mail_queue SET due_at = $1, lease = NULL, leased_until = NULL, last_error = $2 \
             WHERE id = $3 AND lease = $4",
        )
        .bind(due_at)
        .bind(error)
        .bind(id)
        .bind(lease))
        .await
    }

    /// When the next queued mail falls due (a leased one: when its lease runs out).
    pub async fn next_mail_due(&self) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT MIN(CASE WHEN leased_until IS NOT NULL AND leased_until > due_at THEN leased_until ELSE due_at END) AS due \
             FROM mail_queue WHERE state = 'queued'",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<Option<i64>, _>("due")?)
    }

    pub async fn mail_counts(&self) -> Result<MailCounts, StoreError> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM mail_queue GROUP BY state")
            .fetch_all(&self.pool)
            .await?;
        let mut counts = MailCounts::default();
        for row in rows {
            let n: i64 = row.try_get("n")?;
            match row.try_get::<String, _>("state")?.as_str() {
                "queued" => counts.queued = n,
                "sent" => counts.sent = n,
                "outbox" => counts.outbox = n,
                _ => {}
            }
        }
        Ok(counts)
    }
}

/// Where a delivered mail went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailDone {
    /// The SMTP server accepted it.
    Sent,
    /// Written to the outbox folder, for the admin to read.
    Outbox,
}

impl MailDone {
    fn key(self) -> &'static str {
        match self {
            MailDone::Sent => "sent",
            MailDone::Outbox => "outbox",
        }
    }
}
