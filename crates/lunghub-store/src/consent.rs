//! What a person may do with their own account (migration 0009): see what lunghub holds
//! about them, leave a track, withdraw a partner listing, and delete the account.
//!
//! Deleting keeps the account's row as a tombstone, with no name, address, password,
//! profile or role left in it: submissions on leaderboards and reads in an item's history
//! still point at it, and show "deleted participant". Everything that could reach the
//! person or act for them goes: sessions, one-time and API tokens, the subscription, track
//! memberships, and mail not yet sent; mail already sent keeps its row (the record that
//! something was sent) without the address or the text.

use sqlx::Row;

use crate::StoreError;
use crate::catalog::now_ns;
use crate::platform::{Account, Platform};

/// The name a deleted account shows wherever its work is kept.
pub const DELETED_NAME: &str = "deleted participant";

/// Everything lunghub keeps about one account, as its owner may download it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AccountExport {
    pub exported_at: i64,
    pub account: Account,
    /// Sign-up answers, as given.
    pub profile: serde_json::Value,
    pub sessions: Vec<SessionRecord>,
    pub api_tokens: Vec<ApiTokenRecord>,
    pub tracks: Vec<TrackRecord>,
    pub subscription: Option<SubscriptionRecord>,
    pub submissions: Vec<SubmissionRecord>,
    pub reads: Vec<ReadRecord>,
    pub mail: Vec<MailRecord>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SessionRecord {
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ApiTokenRecord {
    pub label: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TrackRecord {
    pub track: String,
    /// `member` or `coordinator-offer`.
    pub kind: String,
    pub at: i64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SubscriptionRecord {
    pub created_at: i64,
    pub confirmed_at: Option<i64>,
    pub unsubscribed_at: Option<i64>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SubmissionRecord {
    pub challenge: String,
    pub at: i64,
    pub file_sha256: String,
    pub public_scores: serde_json::Value,
    pub note: String,
    pub writeup: String,
    pub links: serde_json::Value,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ReadRecord {
    pub item: String,
    pub at: i64,
    pub decision: String,
    pub finding: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct MailRecord {
    pub subject: String,
    pub created_at: i64,
    pub state: String,
}

fn json_of(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_owned()))
}

impl Platform {
    /// The account's own data, or `None` for no such account.
    pub async fn export_account(&self, id: &str) -> Result<Option<AccountExport>, StoreError> {
        let Some(account) = self.account(id).await? else {
            return Ok(None);
        };
        let pool = &self.pool;
        let sessions = sqlx::query(
            "SELECT created_at, expires_at FROM sessions WHERE account_id = $1 ORDER BY created_at",
        )
        .bind(id)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| {
            Ok(SessionRecord {
                created_at: r.try_get("created_at")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
        let api_tokens = sqlx::query(
            "SELECT label, created_at, last_used_at, revoked_at FROM api_tokens \
             WHERE account_id = $1 ORDER BY created_at",
        )
        .bind(id)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| {
            Ok(ApiTokenRecord {
                label: r.try_get("label")?,
                created_at: r.try_get("created_at")?,
                last_used_at: r.try_get("last_used_at")?,
                revoked_at: r.try_get("revoked_at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
        let tracks = self.tracks_of(id).await?;
        let subscription = sqlx::query(
            "SELECT created_at, confirmed_at, unsubscribed_at FROM subscribers WHERE email = $1",
        )
        .bind(&account.email)
        .fetch_optional(pool)
        .await?
        .map(|r| {
            Ok::<_, sqlx::Error>(SubscriptionRecord {
                created_at: r.try_get("created_at")?,
                confirmed_at: r.try_get("confirmed_at")?,
                unsubscribed_at: r.try_get("unsubscribed_at")?,
            })
        })
        .transpose()?;
        // Public scores only: the private part of a challenge is its organisers' until the
        // close, and the leaderboard shows it from then on.
        let submissions = sqlx::query(
            "SELECT challenge_id, at, file_sha256, public_scores, note, writeup, links \
             FROM submissions WHERE account_id = $1 ORDER BY at",
        )
        .bind(id)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| {
            Ok(SubmissionRecord {
                challenge: r.try_get("challenge_id")?,
                at: r.try_get("at")?,
                file_sha256: r.try_get("file_sha256")?,
                public_scores: json_of(&r.try_get::<String, _>("public_scores")?),
                note: r.try_get("note")?,
                writeup: r.try_get("writeup")?,
                links: json_of(&r.try_get::<String, _>("links")?),
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
        let reads = sqlx::query(
            "SELECT item_id, at, decision, finding, reason FROM reads WHERE reviewer = $1 ORDER BY at",
        )
        .bind(id)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| {
            Ok(ReadRecord {
                item: r.try_get("item_id")?,
                at: r.try_get("at")?,
                decision: r.try_get("decision")?,
                finding: r.try_get("finding")?,
                reason: r.try_get("reason")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
        let mail = sqlx::query(
            "SELECT subject, created_at, state FROM mail_queue WHERE recipient = $1 ORDER BY created_at",
        )
        .bind(&account.email)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| {
            Ok(MailRecord {
                subject: r.try_get("subject")?,
                created_at: r.try_get("created_at")?,
                state: r.try_get("state")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
        Ok(Some(AccountExport {
            exported_at: now_ns(),
            profile: json_of(&account.profile),
            account,
            sessions,
            api_tokens,
            tracks,
            subscription,
            submissions,
            reads,
            mail,
        }))
    }

    /// The tracks an account joined or offered to coordinate.
    pub async fn tracks_of(&self, account_id: &str) -> Result<Vec<TrackRecord>, StoreError> {
        Ok(sqlx::query(
            "SELECT track_id, kind, at FROM track_people WHERE account_id = $1 ORDER BY at",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(TrackRecord {
                track: r.try_get("track_id")?,
                kind: r.try_get("kind")?,
                at: r.try_get("at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?)
    }

    /// Takes an account out of a track: its membership, its offer to coordinate, and its
    /// coordination. Returns whether it was in the track at all.
    pub async fn leave_track(&self, track_id: &str, account_id: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let left = sqlx::query("DELETE FROM track_people WHERE track_id = $1 AND account_id = $2")
            .bind(track_id)
            .bind(account_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let coordinated = sqlx::query(
            "UPDATE tracks SET coordinator_id = NULL WHERE id = $1 AND coordinator_id = $2",
        )
        .persistent(false)
        .bind(track_id)
        .bind(account_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(left + coordinated > 0)
    }

    /// Withdraws the account from the public partners and contributors page.
    pub async fn withdraw_listing(&self, account_id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE accounts SET listed = 0, listing_approved_at = NULL WHERE id = $1")
            .bind(account_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes an account as the module says: one transaction, so a half-deleted account
    /// never exists. Returns false for an account that is not there or already deleted.
    pub async fn delete_account(&self, id: &str) -> Result<bool, StoreError> {
        let Some(account) = self.account(id).await? else {
            return Ok(false);
        };
        if account.deleted {
            return Ok(false);
        }
        let email = account.email;
        let mut tx = self.pool.begin().await?;
        for (statement, key) in [
            ("DELETE FROM sessions WHERE account_id = $1", id),
            ("DELETE FROM api_tokens WHERE account_id = $1", id),
            ("DELETE FROM tokens WHERE subject = $1", id),
            ("DELETE FROM tokens WHERE subject = $1", email.as_str()),
            ("DELETE FROM track_people WHERE account_id = $1", id),
            (
                "UPDATE tracks SET coordinator_id = NULL WHERE coordinator_id = $1",
                id,
            ),
            ("DELETE FROM subscribers WHERE email = $1", email.as_str()),
            (
                "UPDATE mail_queue SET state = 'cancelled' WHERE recipient = $1 AND state <> 'sent'",
                email.as_str(),
            ),
            (
                "UPDATE mail_queue SET recipient = '', body = '', unsubscribe_url = NULL, \
                 dedupe_key = NULL, last_error = NULL WHERE recipient = $1",
                email.as_str(),
            ),
        ] {
            sqlx::query(statement)
                .persistent(false)
                .bind(key)
                .execute(&mut *tx)
                .await?;
        }
        // The address must stay unique and can never be typed into a form (no `@`).
        sqlx::query(
            "UPDATE accounts SET email = $1, name = $2, password_hash = NULL, role = 'member', \
             site_id = NULL, signup_role = NULL, profile = '{}', listed = 0, \
             listing_approved_at = NULL, confirmed_at = NULL, deleted_at = $3 WHERE id = $4",
        )
        .bind(format!("deleted {id}"))
        .bind(DELETED_NAME)
        .bind(now_ns())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
