//! The admin's moderation (migration 0011): taking an institute off the public table, merging
//! a duplicate into the real record, and the log of every decision (listings too).
//!
//! Only an institute that never sent an image may be removed or merged: its site's key made
//! the pseudonyms of anything that arrived, and one hospital's patients never mix with
//! another's, so data can't move between records. A removed institute keeps its row and
//! history (renamed, so the name is free again), its site takes no more data, and its site
//! tokens are revoked; a merge first moves the duplicate's documents, contacts, notes and
//! uploaders to the record that stays.

use sqlx::Row;

use crate::StoreError;
use crate::catalog::now_ns;
use crate::platform::{INSTITUTE_COLUMNS, Institute, Platform, institute, random_id, record};

/// One decision of the log, newest first when listed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModerationEntry {
    pub at: i64,
    /// The name of the account that decided (its address when it has none now).
    pub actor: String,
    /// `institute:ID` or `account:ID`.
    pub subject: String,
    /// Its name now, when the subject still has one.
    pub subject_name: Option<String>,
    pub action: String,
    pub note: String,
}

/// Writes one line of the moderation log in `tx`.
pub(crate) async fn log(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    actor: &str,
    subject: &str,
    action: &str,
    note: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO moderation_log (id, at, actor, subject, action, note) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .persistent(false)
    .bind(random_id()?)
    .bind(now_ns())
    .bind(actor)
    .bind(subject)
    .bind(action)
    .bind(note)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// An institute on the table (not removed), in `tx`.
async fn current(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
) -> Result<Institute, StoreError> {
    let q = format!("SELECT {INSTITUTE_COLUMNS} FROM institutes WHERE id = $1");
    let row = sqlx::query(&q)
        .persistent(false)
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound("institute"))?;
    let found = institute(&row)?;
    if found.removed_at.is_some() {
        return Err(StoreError::Conflict(format!(
            "{} was already removed from the table",
            found.name
        )));
    }
    Ok(found)
}

/// The institute's site and how many images came from it; refuses one that sent any.
async fn site_without_data(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    found: &Institute,
) -> Result<Option<String>, StoreError> {
    let site: Option<String> = sqlx::query("SELECT id FROM sites WHERE institute_id = $1")
        .persistent(false)
        .bind(&found.id)
        .fetch_optional(&mut **tx)
        .await?
        .map(|r| r.try_get("id"))
        .transpose()?;
    let Some(site) = site else { return Ok(None) };
    let items: i64 = sqlx::query("SELECT COUNT(*) AS n FROM items WHERE site_id = $1")
        .persistent(false)
        .bind(&site)
        .fetch_one(&mut **tx)
        .await?
        .try_get("n")?;
    if items > 0 {
        return Err(StoreError::Conflict(format!(
            "{items} image(s) came from {}: an institute that sent data stays on the table, \
             because its images can't move to another hospital's record",
            found.name
        )));
    }
    Ok(Some(site))
}

/// Takes the institute and its site off the table, freeing the name, and revokes the site's
/// tokens.
async fn take_off(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    found: &Institute,
    site: Option<&str>,
    merged_into: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    let gone_name = format!(
        "{} (removed {})",
        found.name,
        &found.id[..8.min(found.id.len())]
    );
    sqlx::query(
        "UPDATE institutes SET removed_at = $1, merged_into = $2, name = $3, updated_at = $1 WHERE id = $4",
    )
    .persistent(false)
    .bind(now)
    .bind(merged_into)
    .bind(&gone_name)
    .bind(&found.id)
    .execute(&mut **tx)
    .await?;
    if let Some(site) = site {
        sqlx::query("UPDATE sites SET name = $1 WHERE id = $2")
            .persistent(false)
            .bind(&gone_name)
            .bind(site)
            .execute(&mut **tx)
            .await?;
        sqlx::query(
            "UPDATE site_tokens SET revoked_at = $1 WHERE site_id = $2 AND revoked_at IS NULL",
        )
        .persistent(false)
        .bind(now)
        .bind(site)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

impl Platform {
    /// Takes an institute that never sent data off the public table, with the reason in its
    /// history and the moderation log.
    pub async fn remove_institute(
        &self,
        id: &str,
        actor: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        let now = now_ns();
        let mut tx = self.pool.begin().await?;
        let found = current(&mut tx, id).await?;
        let site = site_without_data(&mut tx, &found).await?;
        take_off(&mut tx, &found, site.as_deref(), None, now).await?;
        let note = format!("removed from the table: {reason}");
        record(&mut tx, id, now, actor, None, None, &note).await?;
        log(
            &mut tx,
            actor,
            &format!("institute:{id}"),
            "institute-removed",
            &format!("{}: {reason}", found.name),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Merges a duplicate (`from`, which never sent data) into the record that stays
    /// (`into`): its documents, contacts, notes and uploaders move over, and it is taken
    /// off the table. Both histories say so.
    pub async fn merge_institute(
        &self,
        from: &str,
        into: &str,
        actor: &str,
        note: &str,
    ) -> Result<(), StoreError> {
        if from == into {
            return Err(StoreError::Conflict(
                "an institute can't be merged into itself".into(),
            ));
        }
        let now = now_ns();
        let mut tx = self.pool.begin().await?;
        let duplicate = current(&mut tx, from).await?;
        let stays = current(&mut tx, into).await?;
        let site = site_without_data(&mut tx, &duplicate).await?;
        sqlx::query("UPDATE documents SET institute_id = $1 WHERE institute_id = $2")
            .persistent(false)
            .bind(into)
            .bind(from)
            .execute(&mut *tx)
            .await?;
        let joined = |kept: &str, other: &str| match (kept.trim(), other.trim()) {
            (_, "") => kept.to_owned(),
            ("", o) => o.to_owned(),
            (k, o) if k.contains(o) => k.to_owned(),
            (k, o) => format!("{k}\n\n(from {}) {o}", duplicate.name),
        };
        sqlx::query(
            "UPDATE institutes SET contacts = $1, notes = $2, updated_at = $3 WHERE id = $4",
        )
        .persistent(false)
        .bind(joined(&stays.contacts, &duplicate.contacts))
        .bind(joined(&stays.notes, &duplicate.notes))
        .bind(now)
        .bind(into)
        .execute(&mut *tx)
        .await?;
        if let Some(site) = &site {
            let target: Option<String> =
                sqlx::query("SELECT id FROM sites WHERE institute_id = $1")
                    .persistent(false)
                    .bind(into)
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|r| r.try_get("id"))
                    .transpose()?;
            sqlx::query("UPDATE accounts SET site_id = $1 WHERE site_id = $2")
                .persistent(false)
                .bind(target)
                .bind(site)
                .execute(&mut *tx)
                .await?;
        }
        take_off(&mut tx, &duplicate, site.as_deref(), Some(into), now).await?;
        let said = if note.trim().is_empty() {
            String::new()
        } else {
            format!(": {}", note.trim())
        };
        record(
            &mut tx,
            from,
            now,
            actor,
            None,
            None,
            &format!("merged into {}{said}", stays.name),
        )
        .await?;
        record(
            &mut tx,
            into,
            now,
            actor,
            None,
            None,
            &format!(
                "{} merged into this record (documents, contacts, notes, uploaders){said}",
                duplicate.name
            ),
        )
        .await?;
        log(
            &mut tx,
            actor,
            &format!("institute:{from}"),
            "institute-merged",
            &format!("{} into {}{said}", duplicate.name, stays.name),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Institutes taken off the table, most recent first.
    pub async fn removed_institutes(&self) -> Result<Vec<Institute>, StoreError> {
        let q = format!(
            "SELECT {INSTITUTE_COLUMNS} FROM institutes WHERE removed_at IS NOT NULL ORDER BY removed_at DESC"
        );
        let rows = sqlx::query(&q).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(institute).collect::<Result<_, _>>()?)
    }

    /// The latest `limit` decisions, newest first.
    pub async fn moderation_log(&self, limit: i64) -> Result<Vec<ModerationEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT m.at AS at, COALESCE(a.name, m.actor) AS actor, m.subject AS subject, m.action AS action, \
             m.note AS note, COALESCE(i.name, s.name) AS subject_name \
             FROM moderation_log m \
             LEFT JOIN accounts a ON a.email = m.actor \
             LEFT JOIN institutes i ON 'institute:' || i.id = m.subject \
             LEFT JOIN accounts s ON 'account:' || s.id = m.subject \
             ORDER BY m.at DESC, m.id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ModerationEntry {
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    subject: r.try_get("subject")?,
                    subject_name: r.try_get("subject_name")?,
                    action: r.try_get("action")?,
                    note: r.try_get("note")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}
