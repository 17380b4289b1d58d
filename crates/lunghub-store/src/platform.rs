//! The web platform's records, in the catalog's database: accounts, sessions, one-time
//! tokens, subscribers, institutes with their history and documents, working tracks.
//!
//! Secrets (session and one-time tokens) are stored as sha256 hashes, so a copy of the
//! database signs nobody in. Rules (which stage may follow which, who may do what) live in
//! `lunghub-domain`; this module only records what the web layer decided.

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use crate::StoreError;
use crate::catalog::now_ns;

/// The platform's tables, sharing the catalog's connection pool.
#[derive(Debug, Clone)]
pub struct Platform {
    pub(crate) pool: AnyPool,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Account {
    pub id: String,
    pub email: String,
    pub name: String,
    #[serde(skip)]
    pub password_hash: Option<String>,
    pub role: String,
    pub site_id: Option<String>,
    pub signup_role: Option<String>,
    /// JSON object of the sign-up answers.
    pub profile: String,
    /// Asked to be listed as a partner or contributor …
    pub listed: bool,
    /// … and the admin approved it: only then is it public.
    pub listing_approved: bool,
    pub confirmed: bool,
    pub created_at: i64,
    /// A tombstone (`consent::delete_account`).
    pub deleted: bool,
    /// The language chosen for pages and mail ("en", "it"), if any.
    pub lang: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct NewAccount {
    pub email: String,
    pub name: String,
    pub password_hash: Option<String>,
    pub role: String,
    pub signup_role: Option<String>,
    pub profile: String,
    pub listed: bool,
    pub confirmed: bool,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Institute {
    pub id: String,
    pub name: String,
    pub location: String,
    /// Keys of `RequestedData`.
    pub requested_data: Vec<String>,
    pub contacts: String,
    pub notes: String,
    /// A `Stage` key.
    pub stage: String,
    pub ethics_required: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// Taken off the table by the admin (`moderation`), and into which institute if merged.
    pub removed_at: Option<i64>,
    pub merged_into: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct InstituteFields {
    pub name: String,
    pub location: String,
    pub requested_data: Vec<String>,
    pub contacts: String,
    pub notes: String,
    pub ethics_required: bool,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HistoryEntry {
    pub at: i64,
    pub actor: String,
    pub from_stage: Option<String>,
    pub to_stage: Option<String>,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Document {
    pub id: String,
    pub institute_id: String,
    pub kind: String,
    pub file_name: String,
    pub content_type: String,
    pub bytes: i64,
    pub blob: String,
    pub uploaded_by: String,
    pub uploaded_at: i64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Track {
    pub id: String,
    pub name: String,
    pub summary: String,
    pub coordinator: Option<String>,
    pub members: i64,
    pub coordinator_offers: i64,
}

/// A fresh random id: 128 bits in hex.
pub fn random_id() -> Result<String, StoreError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Random(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn account(row: &AnyRow) -> Result<Account, sqlx::Error> {
    Ok(Account {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        password_hash: row.try_get("password_hash")?,
        role: row.try_get("role")?,
        site_id: row.try_get("site_id")?,
        signup_role: row.try_get("signup_role")?,
        profile: row.try_get("profile")?,
        listed: row.try_get::<i64, _>("listed")? != 0,
        listing_approved: row
            .try_get::<Option<i64>, _>("listing_approved_at")?
            .is_some(),
        confirmed: row.try_get::<Option<i64>, _>("confirmed_at")?.is_some(),
        created_at: row.try_get("created_at")?,
        deleted: row.try_get::<Option<i64>, _>("deleted_at")?.is_some(),
        lang: row.try_get("lang")?,
    })
}

pub(crate) fn institute(row: &AnyRow) -> Result<Institute, sqlx::Error> {
    let requested: String = row.try_get("requested_data")?;
    Ok(Institute {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        location: row.try_get("location")?,
        requested_data: requested
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        contacts: row.try_get("contacts")?,
        notes: row.try_get("notes")?,
        stage: row.try_get("stage")?,
        ethics_required: row.try_get::<i64, _>("ethics_required")? != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        removed_at: row.try_get("removed_at")?,
        merged_into: row.try_get("merged_into")?,
    })
}

fn document(row: &AnyRow) -> Result<Document, sqlx::Error> {
    Ok(Document {
        id: row.try_get("id")?,
        institute_id: row.try_get("institute_id")?,
        kind: row.try_get("kind")?,
        file_name: row.try_get("file_name")?,
        content_type: row.try_get("content_type")?,
        bytes: row.try_get("bytes")?,
        blob: row.try_get("blob")?,
        uploaded_by: row.try_get("uploaded_by")?,
        uploaded_at: row.try_get("uploaded_at")?,
    })
}

const ACCOUNT_COLUMNS: &str = "id, email, name, password_hash, role, site_id, signup_role, profile, listed, listing_approved_at, confirmed_at, created_at, deleted_at, lang";
pub(crate) const INSTITUTE_COLUMNS: &str = "id, name, location, requested_data, contacts, notes, stage, ethics_required, created_at, updated_at, removed_at, merged_into";

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

impl Platform {
    pub(crate) fn new(pool: AnyPool) -> Self {
        Platform { pool }
    }

    /// A setting, created with `make` on first use. Concurrent first uses agree on one
    /// value: the first insert wins and everyone reads it back.
    pub async fn setting_or_insert(
        &self,
        key: &str,
        make: impl FnOnce() -> String,
    ) -> Result<String, StoreError> {
        sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(key)
            .bind(make())
            .execute(&self.pool)
            .await?;
        let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("value")?)
    }

    // ---- accounts ------------------------------------------------------------------

    /// Creates an account; an email already registered is a [`StoreError::Conflict`].
    pub async fn create_account(&self, new: &NewAccount) -> Result<Account, StoreError> {
        let id = random_id()?;
        let now = now_ns();
        let result = sqlx::query(
            "INSERT INTO accounts (id, email, name, password_hash, role, signup_role, profile, listed, confirmed_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .persistent(false)
        .bind(&id)
        .bind(new.email.trim().to_lowercase())
        .bind(new.name.trim())
        .bind(&new.password_hash)
        .bind(&new.role)
        .bind(&new.signup_role)
        .bind(&new.profile)
        .bind(i64::from(new.listed))
        .bind(new.confirmed.then_some(now))
        .bind(now)
        .execute(&self.pool)
        .await;
        match result {
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(
                "an account with this email already exists".into(),
            )),
            Err(e) => Err(e.into()),
            Ok(_) => self
                .account(&id)
                .await?
                .ok_or(StoreError::NotFound("account")),
        }
    }

    pub async fn account(&self, id: &str) -> Result<Option<Account>, StoreError> {
        let q = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1");
        let row = sqlx::query(&q).bind(id).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(account).transpose()?)
    }

    pub async fn account_by_email(&self, email: &str) -> Result<Option<Account>, StoreError> {
        let q = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE email = $1");
        let row = sqlx::query(&q)
            .bind(email.trim().to_lowercase())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(account).transpose()?)
    }

    pub async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        let q = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY created_at, email");
        let rows = sqlx::query(&q).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(account).collect::<Result<_, _>>()?)
    }

    pub async fn admin_count(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM accounts WHERE role = 'admin'")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    pub async fn confirm_account(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE accounts SET confirmed_at = $1 WHERE id = $2 AND confirmed_at IS NULL")
            .bind(now_ns())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The language the account reads pages and mail in; `None` follows the browser.
    pub async fn set_account_lang(&self, id: &str, lang: Option<&str>) -> Result<(), StoreError> {
        sqlx::query("UPDATE accounts SET lang = $1 WHERE id = $2")
            .bind(lang)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The language a subscriber's mail is written in.
    pub async fn set_subscriber_lang(&self, email: &str, lang: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE subscribers SET lang = $1 WHERE email = $2")
            .bind(lang)
            .bind(email.trim().to_lowercase())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn set_password(&self, id: &str, password_hash: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE accounts SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Sets an account's role and, for an uploader, its site (which must exist).
    pub async fn set_role(
        &self,
        id: &str,
        role: &str,
        site_id: Option<&str>,
    ) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE accounts SET role = $1, site_id = $2 WHERE id = $3")
            .persistent(false)
            .bind(role)
            .bind(site_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("account"));
        }
        Ok(())
    }

    /// Confirmed accounts that agreed to be listed and whose listing the admin approved,
    /// oldest first: what the public partners page shows.
    pub async fn listed_accounts(&self) -> Result<Vec<Account>, StoreError> {
        let q = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE listed = 1 AND listing_approved_at IS NOT NULL \
             AND confirmed_at IS NOT NULL AND deleted_at IS NULL ORDER BY created_at"
        );
        let rows = sqlx::query(&q).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(account).collect::<Result<_, _>>()?)
    }

    /// Confirmed accounts that asked to be listed and wait for the admin.
    pub async fn pending_listings(&self) -> Result<Vec<Account>, StoreError> {
        let q = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE listed = 1 AND listing_approved_at IS NULL \
             AND confirmed_at IS NOT NULL AND deleted_at IS NULL ORDER BY created_at"
        );
        let rows = sqlx::query(&q).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(account).collect::<Result<_, _>>()?)
    }

    /// The admin's decision on a listing: approved, it is public; declined, the account is
    /// no longer asking to be listed (it may ask again from its account page).
    /// The admin's decision on a listing, kept in the moderation log.
    pub async fn decide_listing(
        &self,
        account_id: &str,
        approve: bool,
        actor: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = if approve {
            sqlx::query(
                "UPDATE accounts SET listing_approved_at = $1 WHERE id = $2 AND listed = 1 AND deleted_at IS NULL",
            )
            .bind(now_ns())
            .bind(account_id)
        } else {
            sqlx::query(
                "UPDATE accounts SET listed = 0, listing_approved_at = NULL WHERE id = $1 AND deleted_at IS NULL",
            )
            .bind(account_id)
        }
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("listing"));
        }
        let action = if approve {
            "listing-approved"
        } else {
            "listing-declined"
        };
        crate::moderation::log(&mut tx, actor, &format!("account:{account_id}"), action, "")
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Asks to be listed again, after a withdrawal or a decline: the admin decides anew.
    pub async fn ask_to_be_listed(&self, account_id: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE accounts SET listed = 1, listing_approved_at = NULL WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(account_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    // ---- sessions and one-time tokens ----------------------------------------------

    pub async fn create_session(
        &self,
        token_hash: &str,
        account_id: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO sessions (token_hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash)
            .bind(account_id)
            .bind(now_ns())
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The account of a live session.
    pub async fn session_account(&self, token_hash: &str) -> Result<Option<Account>, StoreError> {
        let q = format!(
            "SELECT {} FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.token_hash = $1 AND s.expires_at > $2",
            ACCOUNT_COLUMNS
                .split(", ")
                .map(|c| format!("a.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let row = sqlx::query(&q)
            .bind(token_hash)
            .bind(now_ns())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(account).transpose()?)
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends every session of an account (after a password reset).
    pub async fn delete_sessions_of(&self, account_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE account_id = $1")
            .bind(account_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn create_token(
        &self,
        token_hash: &str,
        purpose: &str,
        subject: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO tokens (token_hash, purpose, subject, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(token_hash)
            .bind(purpose)
            .bind(subject)
            .bind(now_ns())
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Uses up every unused token of `purpose` for `subject`: once a reset link has been
    /// used or the password changed, the older links that may lie in a mailbox are void.
    pub async fn void_tokens(&self, purpose: &str, subject: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE tokens SET used_at = $1 WHERE purpose = $2 AND subject = $3 AND used_at IS NULL",
        )
        .bind(now_ns())
        .bind(purpose)
        .bind(subject)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Uses a one-time token: returns its subject the first time, before it expires, and
    /// never again.
    pub async fn take_token(
        &self,
        token_hash: &str,
        purpose: &str,
    ) -> Result<Option<String>, StoreError> {
        let now = now_ns();
        let done = sqlx::query(
            "UPDATE tokens SET used_at = $1 WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(token_hash)
        .bind(purpose)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(None);
        }
        let row = sqlx::query("SELECT subject FROM tokens WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_one(&self.pool)
            .await?;
        Ok(Some(row.try_get("subject")?))
    }

    // ---- subscribers ---------------------------------------------------------------

    /// Adds (or re-adds) a subscriber, unconfirmed. Returns false if the address is
    /// already subscribed and confirmed.
    pub async fn subscribe(
        &self,
        email: &str,
        unsubscribe_token: &str,
    ) -> Result<bool, StoreError> {
        let email = email.trim().to_lowercase();
        let existing =
            sqlx::query("SELECT confirmed_at, unsubscribed_at FROM subscribers WHERE email = $1")
                .bind(&email)
                .fetch_optional(&self.pool)
                .await?;
        if let Some(row) = existing {
            let confirmed: Option<i64> = row.try_get("confirmed_at")?;
            let gone: Option<i64> = row.try_get("unsubscribed_at")?;
            if confirmed.is_some() && gone.is_none() {
                return Ok(false);
            }
            sqlx::query("UPDATE subscribers SET unsubscribe_token = $1, confirmed_at = NULL, unsubscribed_at = NULL WHERE email = $2")
                .persistent(false)
                .bind(unsubscribe_token)
                .bind(&email)
                .execute(&self.pool)
                .await?;
            return Ok(true);
        }
        sqlx::query(
            "INSERT INTO subscribers (email, unsubscribe_token, created_at) VALUES ($1, $2, $3)",
        )
        .bind(&email)
        .bind(unsubscribe_token)
        .bind(now_ns())
        .execute(&self.pool)
        .await?;
        Ok(true)
    }

    pub async fn confirm_subscriber(&self, email: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE subscribers SET confirmed_at = $1 WHERE email = $2")
            .bind(now_ns())
            .bind(email)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Unsubscribes whoever holds this token; returns their address.
    pub async fn unsubscribe(&self, token: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT email FROM subscribers WHERE unsubscribe_token = $1")
            .bind(token)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let email: String = row.try_get("email")?;
        sqlx::query("UPDATE subscribers SET unsubscribed_at = $1 WHERE email = $2 AND unsubscribed_at IS NULL")
            .bind(now_ns())
            .bind(&email)
            .execute(&self.pool)
            .await?;
        Ok(Some(email))
    }

    /// Confirmed addresses that have not unsubscribed.
    pub async fn active_subscribers(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT email FROM subscribers WHERE confirmed_at IS NOT NULL AND unsubscribed_at IS NULL ORDER BY email",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get("email"))
            .collect::<Result<_, _>>()?)
    }

    // ---- institutes ----------------------------------------------------------------

    /// Adds an institute at `stage`, recording who added it.
    pub async fn create_institute(
        &self,
        fields: &InstituteFields,
        stage: &str,
        actor: &str,
    ) -> Result<Institute, StoreError> {
        let id = random_id()?;
        let now = now_ns();
        let mut tx = self.pool.begin().await?;
        let result = sqlx::query(
            "INSERT INTO institutes (id, name, location, requested_data, contacts, notes, stage, ethics_required, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        )
        .bind(&id)
        .bind(fields.name.trim())
        .bind(fields.location.trim())
        .bind(fields.requested_data.join(","))
        .bind(&fields.contacts)
        .bind(&fields.notes)
        .bind(stage)
        .bind(i64::from(fields.ethics_required))
        .bind(now)
        .execute(&mut *tx)
        .await;
        match result {
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(
                    "an institute with this name already exists".into(),
                ));
            }
            r => r?,
        };
        record(&mut tx, &id, now, actor, None, Some(stage), "").await?;
        link_site(&mut tx, &id, fields.name.trim(), now).await?;
        tx.commit().await?;
        self.institute(&id)
            .await?
            .ok_or(StoreError::NotFound("institute"))
    }

    pub async fn institute(&self, id: &str) -> Result<Option<Institute>, StoreError> {
        let q = format!("SELECT {INSTITUTE_COLUMNS} FROM institutes WHERE id = $1");
        let row = sqlx::query(&q).bind(id).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(institute).transpose()?)
    }

    /// Every institute on the table (not removed), by name.
    pub async fn institutes(&self) -> Result<Vec<Institute>, StoreError> {
        let q = format!(
            "SELECT {INSTITUTE_COLUMNS} FROM institutes WHERE removed_at IS NULL ORDER BY name"
        );
        let rows = sqlx::query(&q).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(institute).collect::<Result<_, _>>()?)
    }

    /// Changes an institute's details (not its stage), recording who did and what changed.
    pub async fn update_institute(
        &self,
        id: &str,
        fields: &InstituteFields,
        actor: &str,
        note: &str,
    ) -> Result<(), StoreError> {
        let now = now_ns();
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE institutes SET name = $1, location = $2, requested_data = $3, contacts = $4, notes = $5, \
             ethics_required = $6, updated_at = $7 WHERE id = $8",
        )
        .bind(fields.name.trim())
        .bind(fields.location.trim())
        .bind(fields.requested_data.join(","))
        .bind(&fields.contacts)
        .bind(&fields.notes)
        .bind(i64::from(fields.ethics_required))
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await;
        let done = match done {
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(
                    "an institute with this name already exists".into(),
                ));
            }
            r => r?,
        };
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("institute"));
        }
        let renamed = sqlx::query("UPDATE sites SET name = $1 WHERE institute_id = $2")
            .bind(fields.name.trim())
            .bind(id)
            .execute(&mut *tx)
            .await;
        match renamed {
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(
                    "a collection of images with this name already exists".into(),
                ));
            }
            r => r?,
        };
        record(&mut tx, id, now, actor, None, None, note).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Moves an institute from stage `from` to `to`. If someone else moved it meanwhile
    /// (its stage is no longer `from`), nothing changes and the result is a conflict.
    pub async fn move_institute(
        &self,
        id: &str,
        from: &str,
        to: &str,
        ethics_required: bool,
        actor: &str,
        note: &str,
    ) -> Result<(), StoreError> {
        let now = now_ns();
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("UPDATE institutes SET stage = $1, ethics_required = $2, updated_at = $3 WHERE id = $4 AND stage = $5")
            .bind(to)
            .bind(i64::from(ethics_required))
            .bind(now)
            .bind(id)
            .bind(from)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(
                "the institute's stage changed meanwhile; reload and try again".into(),
            ));
        }
        record(&mut tx, id, now, actor, Some(from), Some(to), note).await?;
        tx.commit().await?;
        Ok(())
    }

    /// An institute's history, oldest first.
    pub async fn history(&self, id: &str) -> Result<Vec<HistoryEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, actor, from_stage, to_stage, note FROM institute_history WHERE institute_id = $1 ORDER BY at, id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(HistoryEntry {
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    from_stage: r.try_get("from_stage")?,
                    to_stage: r.try_get("to_stage")?,
                    note: r.try_get("note")?,
                })
            })
            .collect()
    }

    pub async fn add_document(&self, doc: &Document) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO documents (id, institute_id, kind, file_name, content_type, bytes, blob, uploaded_by, uploaded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&doc.id)
        .bind(&doc.institute_id)
        .bind(&doc.kind)
        .bind(&doc.file_name)
        .bind(&doc.content_type)
        .bind(doc.bytes)
        .bind(&doc.blob)
        .bind(&doc.uploaded_by)
        .bind(doc.uploaded_at)
        .execute(&mut *tx)
        .await?;
        let note = format!("document added: {} ({})", doc.file_name, doc.kind);
        record(
            &mut tx,
            &doc.institute_id,
            doc.uploaded_at,
            &doc.uploaded_by,
            None,
            None,
            &note,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn documents(&self, institute_id: &str) -> Result<Vec<Document>, StoreError> {
        let rows =
            sqlx::query("SELECT * FROM documents WHERE institute_id = $1 ORDER BY uploaded_at")
                .bind(institute_id)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.iter().map(document).collect::<Result<_, _>>()?)
    }

    pub async fn document(&self, id: &str) -> Result<Option<Document>, StoreError> {
        let row = sqlx::query("SELECT * FROM documents WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(document).transpose()?)
    }

    // ---- working tracks --------------------------------------------------------------

    pub async fn tracks(&self) -> Result<Vec<Track>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.id, t.name, t.summary, a.name AS coordinator, \
             (SELECT COUNT(*) FROM track_people p WHERE p.track_id = t.id AND p.kind = 'member') AS members, \
             (SELECT COUNT(*) FROM track_people p WHERE p.track_id = t.id AND p.kind = 'coordinator-offer') AS offers \
             FROM tracks t LEFT JOIN accounts a ON a.id = t.coordinator_id ORDER BY t.position",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Track {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    summary: r.try_get("summary")?,
                    coordinator: r.try_get("coordinator")?,
                    members: r.try_get("members")?,
                    coordinator_offers: r.try_get("offers")?,
                })
            })
            .collect()
    }

    /// Records that an account joins a track (`member`) or offers to coordinate it
    /// (`coordinator-offer`). Doing it twice changes nothing.
    pub async fn join_track(
        &self,
        track_id: &str,
        account_id: &str,
        kind: &str,
    ) -> Result<(), StoreError> {
        let exists = sqlx::query("SELECT id FROM tracks WHERE id = $1")
            .bind(track_id)
            .fetch_optional(&self.pool)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound("track"));
        }
        sqlx::query("INSERT INTO track_people (track_id, account_id, kind, at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
            .bind(track_id)
            .bind(account_id)
            .bind(kind)
            .bind(now_ns())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn set_track_coordinator(
        &self,
        track_id: &str,
        account_id: Option<&str>,
    ) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE tracks SET coordinator_id = $1 WHERE id = $2")
            .persistent(false)
            .bind(account_id)
            .bind(track_id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("track"));
        }
        Ok(())
    }

    /// (track id, account) pairs of the given kind, for the coordinator's view.
    pub async fn track_people(
        &self,
        track_id: &str,
        kind: &str,
    ) -> Result<Vec<Account>, StoreError> {
        let q = format!(
            "SELECT {} FROM track_people p JOIN accounts a ON a.id = p.account_id WHERE p.track_id = $1 AND p.kind = $2 ORDER BY p.at",
            ACCOUNT_COLUMNS
                .split(", ")
                .map(|c| format!("a.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let rows = sqlx::query(&q)
            .bind(track_id)
            .bind(kind)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(account).collect::<Result<_, _>>()?)
    }
}

// ---- site tokens ---------------------------------------------------------------------

/// An API token a site's systems send images with (DICOMweb STOW-RS). Only the token's
/// hash is stored; it also serves as the token's id in pages and forms, which reveals
/// nothing of the token.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SiteToken {
    pub token_hash: String,
    pub site_id: String,
    pub label: String,
    /// The account that issued it.
    pub created_by: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

fn site_token(row: &AnyRow) -> Result<SiteToken, sqlx::Error> {
    Ok(SiteToken {
        token_hash: row.try_get("token_hash")?,
        site_id: row.try_get("site_id")?,
        label: row.try_get("label")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

impl Platform {
    /// Records a new token of a site by its hash; an unknown site is
    /// [`StoreError::NotFound`].
    pub async fn create_site_token(
        &self,
        token_hash: &str,
        site_id: &str,
        label: &str,
        created_by: &str,
    ) -> Result<(), StoreError> {
        let site = sqlx::query("SELECT id FROM sites WHERE id = $1")
            .bind(site_id)
            .fetch_optional(&self.pool)
            .await?;
        if site.is_none() {
            return Err(StoreError::NotFound("site"));
        }
        sqlx::query("INSERT INTO site_tokens (token_hash, site_id, label, created_by, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(token_hash)
            .bind(site_id)
            .bind(label)
            .bind(created_by)
            .bind(now_ns())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A site's tokens, newest first, revoked ones included.
    pub async fn site_tokens(&self, site_id: &str) -> Result<Vec<SiteToken>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM site_tokens WHERE site_id = $1 ORDER BY created_at DESC, token_hash",
        )
        .bind(site_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(site_token).collect::<Result<_, _>>()?)
    }

    /// Revokes a token of a site for good. Returns false when the site has no such live
    /// token.
    pub async fn revoke_site_token(
        &self,
        token_hash: &str,
        site_id: &str,
    ) -> Result<bool, StoreError> {
        revoke_bearer(&self.pool, SITE_TOKENS, token_hash, site_id).await
    }

    /// The site a live (not revoked) token belongs to, noting that it was used now.
    pub async fn use_site_token(&self, token_hash: &str) -> Result<Option<String>, StoreError> {
        use_bearer(&self.pool, SITE_TOKENS, token_hash).await
    }
}

/// A table of bearer tokens (only their hashes) and the column naming their owner. The
/// table and column names are constants of this crate, never input.
pub(crate) struct BearerTable {
    pub table: &'static str,
    pub owner: &'static str,
}

const SITE_TOKENS: BearerTable = BearerTable {
    table: "site_tokens",
    owner: "site_id",
};

/// Revokes the live token `token_hash` of `owner`; false when there is none.
pub(crate) async fn revoke_bearer(
    pool: &AnyPool,
    t: BearerTable,
    token_hash: &str,
    owner: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query(&format!(
        "UPDATE {} SET revoked_at = $1 WHERE token_hash = $2 AND {} = $3 AND revoked_at IS NULL",
        t.table, t.owner
    ))
    .bind(now_ns())
    .bind(token_hash)
    .bind(owner)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The owner of a live token, noting that it was used now.
pub(crate) async fn use_bearer(
    pool: &AnyPool,
    t: BearerTable,
    token_hash: &str,
) -> Result<Option<String>, StoreError> {
    let done = sqlx::query(&format!(
        "UPDATE {} SET last_used_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
        t.table
    ))
    .bind(now_ns())
    .bind(token_hash)
    .execute(pool)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(None);
    }
    let row = sqlx::query(&format!(
        "SELECT {} AS owner FROM {} WHERE token_hash = $1",
        t.owner, t.table
    ))
    .bind(token_hash)
    .fetch_one(pool)
    .await?;
    Ok(Some(row.try_get("owner")?))
}

pub(crate) async fn record(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    institute_id: &str,
    at: i64,
    actor: &str,
    from: Option<&str>,
    to: Option<&str>,
    note: &str,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO institute_history (id, institute_id, at, actor, from_stage, to_stage, note) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .persistent(false)
        .bind(random_id()?)
        .bind(institute_id)
        .bind(at)
        .bind(actor)
        .bind(from)
        .bind(to)
        .bind(note)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Makes the site that institute `institute_id` sends data as: an existing site of the same
/// name that belongs to no institute (made before sites and institutes were one record), or
/// a new one whose id is a slug of the name.
async fn link_site(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    institute_id: &str,
    name: &str,
    now: i64,
) -> Result<(), StoreError> {
    let linked =
        sqlx::query("UPDATE sites SET institute_id = $1 WHERE name = $2 AND institute_id IS NULL")
            .bind(institute_id)
            .bind(name)
            .execute(&mut **tx)
            .await?;
    if linked.rows_affected() > 0 {
        return Ok(());
    }
    let slug = match crate::catalog::site_slug(name) {
        // A name of punctuation only: the institute's own id names its site.
        s if s.is_empty() => institute_id.to_owned(),
        s => s,
    };
    for id in [
        slug.clone(),
        format!("{slug}-{}", &institute_id[..6.min(institute_id.len())]),
    ] {
        let made = sqlx::query(
            "INSERT INTO sites (id, name, created_at, institute_id) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(&id)
        .bind(name)
        .bind(now)
        .bind(institute_id)
        .execute(&mut **tx)
        .await?;
        if made.rows_affected() > 0 {
            return Ok(());
        }
    }
    Err(StoreError::Conflict(
        "a collection of images with this name already belongs to another institute".into(),
    ))
}

/// Moves the institute that site `site_id` is from stage `from` to `to`, with a history
/// entry that says why, if it is at `from`; otherwise changes nothing. Called in the
/// transaction that made it true (the first item committed, the first release).
pub(crate) async fn advance_site_stage(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    site_id: &str,
    from: lunghub_domain::onboarding::Stage,
    to: lunghub_domain::onboarding::Stage,
    why: &str,
    at: i64,
) -> Result<(), StoreError> {
    let row = sqlx::query(
        "SELECT i.id AS id FROM sites s JOIN institutes i ON i.id = s.institute_id WHERE s.id = $1 AND i.stage = $2",
    )
    .bind(site_id)
    .bind(from.key())
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else { return Ok(()) };
    let institute: String = row.try_get("id")?;
    sqlx::query("UPDATE institutes SET stage = $1, updated_at = $2 WHERE id = $3 AND stage = $4")
        .bind(to.key())
        .bind(at)
        .bind(&institute)
        .bind(from.key())
        .execute(&mut **tx)
        .await?;
    record(
        tx,
        &institute,
        at,
        "lunghub",
        Some(from.key()),
        Some(to.key()),
        why,
    )
    .await
}
