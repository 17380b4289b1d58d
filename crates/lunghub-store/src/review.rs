//! What the hospitals' routes and the reviewers need from the catalog: sites and their
//! review settings, web-upload batches and the outcome of each file, the review queue with
//! why each item is in it, reviewers' reads, and sampled frames.

use lunghub_domain::ReviewState;
use lunghub_domain::review::{Decision, Read, settle};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::StoreError;
use crate::catalog::{Catalog, now_ns};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Site {
    /// A slug of the name.
    pub id: String,
    pub name: String,
    pub created_at: i64,
    /// The site asks for two independent reads before release.
    pub double_read: bool,
    /// The onboarding tracker's institute this site is; `None` for the operator's own
    /// collections.
    pub institute_id: Option<String>,
    /// The fingerprint of the site's gateway key, whose output is checked, not keyed again.
    pub gateway_fingerprint: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Upload {
    pub id: String,
    pub site_id: String,
    pub account_id: String,
    pub created_at: i64,
    /// JSON: the labels and clinical fields set for the batch, and the sidecar's rows.
    pub fields: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadFile {
    /// The keyed tag of the file's name (`SiteKey::name_tag`), never the name: names in
    /// hospitals carry patients' names and record numbers. Stored in the `name` column.
    pub tag: String,
    pub bytes: i64,
    pub outcome: String,
    pub item_id: Option<String>,
    pub detail: String,
    /// Why it was refused (`lunghub_deid::Cause::as_str`); empty when it was taken.
    pub cause: String,
}

/// Why an item waits in the review queue. One item can have several reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum QueueReason {
    /// On-screen text suspected in the pixels.
    BurnedInText,
    /// No label, an unknown one, or labels that disagree.
    Labels,
    /// A radiograph without a known projection.
    UnknownView,
    NearDuplicate,
    /// A video clip or a multi-frame image.
    Clip,
    /// Two reads that do not agree.
    Disagreement,
}

impl QueueReason {
    pub const ALL: [QueueReason; 6] = [
        QueueReason::BurnedInText,
        QueueReason::Labels,
        QueueReason::UnknownView,
        QueueReason::NearDuplicate,
        QueueReason::Clip,
        QueueReason::Disagreement,
    ];

    pub fn key(self) -> &'static str {
        match self {
            QueueReason::BurnedInText => "burned-in-text",
            QueueReason::Labels => "labels",
            QueueReason::UnknownView => "unknown-view",
            QueueReason::NearDuplicate => "near-duplicate",
            QueueReason::Clip => "clip",
            QueueReason::Disagreement => "disagreement",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            QueueReason::BurnedInText => "suspected burned-in text",
            QueueReason::Labels => "missing or conflicting labels",
            QueueReason::UnknownView => "unknown view",
            QueueReason::NearDuplicate => "near-duplicate",
            QueueReason::Clip => "clip",
            QueueReason::Disagreement => "reads disagree",
        }
    }

    pub fn parse(key: &str) -> Option<QueueReason> {
        QueueReason::ALL.into_iter().find(|r| r.key() == key)
    }

    /// The condition on `items i` that puts an item in the queue for this reason. Flags
    /// written at intake start with a fixed phrase (see lunghub-intake) so they can be found.
    fn condition(self) -> &'static str {
        match self {
            QueueReason::BurnedInText => {
                "EXISTS (SELECT 1 FROM item_events e WHERE e.item_id = i.id AND e.kind = 'flag' \
                 AND e.detail LIKE 'suspected on-screen text%')"
            }
            QueueReason::Labels => {
                "(NOT EXISTS (SELECT 1 FROM labels l WHERE l.item_id = i.id) \
                 OR EXISTS (SELECT 1 FROM labels l WHERE l.item_id = i.id AND l.known = 0) \
                 OR (SELECT COUNT(DISTINCT l.finding) FROM labels l WHERE l.item_id = i.id) > 1)"
            }
            QueueReason::UnknownView => "(i.view IS NULL AND i.modality IN ('CR', 'DX'))",
            QueueReason::NearDuplicate => "i.near_duplicate_of IS NOT NULL",
            QueueReason::Clip => "(i.kind = 'clip' OR i.frames > 1)",
            QueueReason::Disagreement => "i.review_state = 'disagreement'",
        }
    }
}

/// One line of the review queue.
#[derive(Debug, Clone, Serialize)]
pub struct QueueItem {
    pub id: String,
    pub site: String,
    pub kind: String,
    pub modality: String,
    pub view: Option<String>,
    pub frames: Option<i64>,
    pub thumbnail: Option<String>,
    pub review_state: String,
    pub findings: Vec<String>,
    pub reasons: Vec<QueueReason>,
}

/// A read as the viewer shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ReadRow {
    pub reviewer: String,
    pub reviewer_name: String,
    pub at: i64,
    pub decision: String,
    pub finding: Option<String>,
    pub reason: String,
}

const OPEN_STATES: &str = "('pending', 'needs-attention', 'disagreement')";

impl Catalog {
    pub async fn sites(&self) -> Result<Vec<Site>, StoreError> {
        sqlx::query(&format!("SELECT {SITE_COLUMNS} FROM sites ORDER BY name"))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(site_row)
            .collect()
    }

    pub async fn site(&self, id: &str) -> Result<Option<Site>, StoreError> {
        sqlx::query(&format!("SELECT {SITE_COLUMNS} FROM sites WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(site_row)
            .transpose()
    }

    /// Registers (or, with `None`, removes) the fingerprint of the site's gateway key.
    pub async fn set_gateway_fingerprint(
        &self,
        site_id: &str,
        fingerprint: Option<&str>,
    ) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE sites SET gateway_fingerprint = $1 WHERE id = $2")
            .bind(fingerprint)
            .bind(site_id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("site"));
        }
        Ok(())
    }

    /// The site that is institute `institute_id`.
    pub async fn site_of_institute(&self, institute_id: &str) -> Result<Option<Site>, StoreError> {
        sqlx::query(&format!(
            "SELECT {SITE_COLUMNS} FROM sites WHERE institute_id = $1"
        ))
        .bind(institute_id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(site_row)
        .transpose()
    }

    pub async fn set_double_read(&self, site_id: &str, on: bool) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE sites SET double_read = $1 WHERE id = $2")
            .bind(i64::from(on))
            .bind(site_id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("site"));
        }
        Ok(())
    }

    pub async fn create_upload(
        &self,
        id: &str,
        site_id: &str,
        account_id: &str,
        fields: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO uploads (id, site_id, account_id, created_at, fields) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(site_id)
        .bind(account_id)
        .bind(now_ns())
        .bind(fields)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn upload(&self, id: &str) -> Result<Option<Upload>, StoreError> {
        let row = sqlx::query(
            "SELECT id, site_id, account_id, created_at, fields FROM uploads WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Upload {
                id: r.try_get("id")?,
                site_id: r.try_get("site_id")?,
                account_id: r.try_get("account_id")?,
                created_at: r.try_get("created_at")?,
                fields: r.try_get("fields")?,
            })
        })
        .transpose()
    }

    pub async fn set_upload_fields(&self, id: &str, fields: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE uploads SET fields = $1 WHERE id = $2")
            .bind(fields)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A site's uploads, newest first, with how many files each has so far.
    pub async fn uploads(&self, site_id: &str) -> Result<Vec<(Upload, i64)>, StoreError> {
        sqlx::query(
            "SELECT u.id, u.site_id, u.account_id, u.created_at, u.fields, \
             (SELECT COUNT(*) FROM upload_files f WHERE f.upload_id = u.id) AS files \
             FROM uploads u WHERE u.site_id = $1 ORDER BY u.created_at DESC LIMIT 50",
        )
        .bind(site_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok((
                Upload {
                    id: r.try_get("id")?,
                    site_id: r.try_get("site_id")?,
                    account_id: r.try_get("account_id")?,
                    created_at: r.try_get("created_at")?,
                    fields: r.try_get("fields")?,
                },
                r.try_get("files")?,
            ))
        })
        .collect()
    }

    pub async fn upload_files(&self, upload_id: &str) -> Result<Vec<UploadFile>, StoreError> {
        sqlx::query(
            "SELECT name, bytes, outcome, item_id, detail, cause FROM upload_files WHERE upload_id = $1 ORDER BY name",
        )
        .bind(upload_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(UploadFile {
                tag: r.try_get("name")?,
                bytes: r.try_get("bytes")?,
                outcome: r.try_get("outcome")?,
                item_id: r.try_get("item_id")?,
                detail: r.try_get("detail")?,
                cause: r.try_get("cause")?,
            })
        })
        .collect()
    }

    /// Replaces every upload line still recorded under a file's name (as lines were before
    /// names were tagged) by `tag(name)`. Returns how many lines it changed.
    pub async fn retag_upload_files(
        &self,
        tag: impl Fn(&str) -> String,
    ) -> Result<u64, StoreError> {
        let is_tag = |n: &str| {
            n.len() == 16
                && n.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        let rows = sqlx::query("SELECT upload_id, name FROM upload_files")
            .fetch_all(&self.pool)
            .await?;
        let mut changed = 0;
        for r in rows {
            let (upload, name): (String, String) = (r.try_get("upload_id")?, r.try_get("name")?);
            if is_tag(&name) {
                continue;
            }
            sqlx::query("UPDATE upload_files SET name = $1 WHERE upload_id = $2 AND name = $3")
                .bind(tag(&name))
                .bind(&upload)
                .bind(&name)
                .execute(&self.pool)
                .await?;
            changed += 1;
        }
        Ok(changed)
    }

    /// Records what happened to one file of an upload; sending it again replaces the line.
    pub async fn record_upload_file(
        &self,
        upload_id: &str,
        file: &UploadFile,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO upload_files (upload_id, name, bytes, outcome, item_id, detail, cause, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (upload_id, name) DO UPDATE SET \
             bytes = excluded.bytes, outcome = excluded.outcome, item_id = excluded.item_id, \
             detail = excluded.detail, cause = excluded.cause, at = excluded.at",
        )
        .bind(upload_id)
        .bind(&file.tag)
        .bind(file.bytes)
        .bind(&file.outcome)
        .bind(&file.item_id)
        .bind(&file.detail)
        .bind(&file.cause)
        .bind(now_ns())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Open items, those in disagreement first, then oldest first; `reason` narrows the
    /// queue to one kind of problem. Returns the page and the number of open items per reason.
    pub async fn review_queue(
        &self,
        reason: Option<QueueReason>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<QueueItem>, Vec<(QueueReason, i64)>, i64), StoreError> {
        let flags: String = QueueReason::ALL
            .iter()
            .map(|r| {
                format!(
                    ", CASE WHEN {} THEN 1 ELSE 0 END AS r_{}",
                    r.condition(),
                    r.key().replace('-', "_")
                )
            })
            .collect();
        let filter = reason
            .map(|r| format!(" AND {}", r.condition()))
            .unwrap_or_default();
        let rows = sqlx::query(&format!(
            "SELECT i.id, s.name AS site, i.kind, i.modality, i.view, i.frames, i.thumbnail, \
             i.review_state{flags} FROM items i JOIN sites s ON s.id = i.site_id \
             WHERE i.review_state IN {OPEN_STATES}{filter} \
             ORDER BY CASE WHEN i.review_state = 'disagreement' THEN 0 ELSE 1 END, i.intake_at, i.id \
             LIMIT $1 OFFSET $2"
        ))
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let mut page = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: String = r.try_get("id")?;
            let mut reasons = Vec::new();
            for q in QueueReason::ALL {
                let flag: i64 = r.try_get(format!("r_{}", q.key().replace('-', "_")).as_str())?;
                if flag != 0 {
                    reasons.push(q);
                }
            }
            let findings = sqlx::query(
                "SELECT DISTINCT finding FROM labels WHERE item_id = $1 ORDER BY finding",
            )
            .bind(&id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|l| l.try_get::<String, _>("finding"))
            .collect::<Result<Vec<_>, _>>()?;
            page.push(QueueItem {
                id,
                site: r.try_get("site")?,
                kind: r.try_get("kind")?,
                modality: r.try_get("modality")?,
                view: r.try_get("view")?,
                frames: r.try_get("frames")?,
                thumbnail: r.try_get("thumbnail")?,
                review_state: r.try_get("review_state")?,
                findings,
                reasons,
            });
        }
        let sums: String = QueueReason::ALL
            .iter()
            .map(|r| {
                format!(
                    ", SUM(CASE WHEN {} THEN 1 ELSE 0 END) AS r_{}",
                    r.condition(),
                    r.key().replace('-', "_")
                )
            })
            .collect();
        let counts_row = sqlx::query(&format!(
            "SELECT COUNT(*) AS total{sums} FROM items i WHERE i.review_state IN {OPEN_STATES}"
        ))
        .fetch_one(&self.pool)
        .await?;
        let total: i64 = counts_row.try_get("total")?;
        let mut counts = Vec::new();
        for q in QueueReason::ALL {
            let n: Option<i64> =
                counts_row.try_get(format!("r_{}", q.key().replace('-', "_")).as_str())?;
            counts.push((q, n.unwrap_or(0)));
        }
        Ok((page, counts, total))
    }

    pub async fn reads(&self, item_id: &str) -> Result<Vec<ReadRow>, StoreError> {
        sqlx::query(
            "SELECT r.reviewer, COALESCE(a.name, r.reviewer) AS reviewer_name, r.at, r.decision, \
             r.finding, r.reason FROM reads r LEFT JOIN accounts a ON a.id = r.reviewer \
             WHERE r.item_id = $1 ORDER BY r.at",
        )
        .bind(item_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(ReadRow {
                reviewer: r.try_get("reviewer")?,
                reviewer_name: r.try_get("reviewer_name")?,
                at: r.try_get("at")?,
                decision: r.try_get("decision")?,
                finding: r.try_get("finding")?,
                reason: r.try_get("reason")?,
            })
        })
        .collect()
    }

    /// Records a reviewer's read (by account id; `name` is how the history shows them),
    /// settles the item's state by the site's rules, and keeps both in the item's history.
    /// Returns the new state.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_read(
        &self,
        item_id: &str,
        reviewer: &str,
        name: &str,
        decision: Decision,
        finding: Option<&str>,
        reason: &str,
    ) -> Result<ReviewState, StoreError> {
        let mut tx = self.pool.begin().await?;
        let item = sqlx::query(
            "SELECT i.review_state, s.double_read FROM items i JOIN sites s ON s.id = i.site_id WHERE i.id = $1",
        )
        .bind(item_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound("item"))?;
        let state: String = item.try_get("review_state")?;
        if state == ReviewState::Replaced.as_str() {
            return Err(StoreError::Conflict(
                "this item was replaced by a copy with text blanked; review that one".into(),
            ));
        }
        let double_read = item.try_get::<i64, _>("double_read")? != 0;
        let at = now_ns();
        sqlx::query(
            "INSERT INTO reads (item_id, reviewer, at, decision, finding, reason) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (item_id, reviewer) DO UPDATE SET at = excluded.at, decision = excluded.decision, \
             finding = excluded.finding, reason = excluded.reason",
        )
        .bind(item_id)
        .bind(reviewer)
        .bind(at)
        .bind(decision.as_str())
        .bind(finding)
        .bind(reason)
        .execute(&mut *tx)
        .await?;
        let reads =
            sqlx::query("SELECT reviewer, at, decision, finding FROM reads WHERE item_id = $1")
                .bind(item_id)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| {
                    Ok(Read {
                        reviewer: r.try_get("reviewer")?,
                        at: r.try_get("at")?,
                        decision: Decision::parse(&r.try_get::<String, _>("decision")?)
                            .unwrap_or(Decision::Reject),
                        finding: r.try_get("finding")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let flagged = state == ReviewState::NeedsAttention.as_str();
        let settled = settle(&reads, double_read, flagged);
        sqlx::query("UPDATE items SET review_state = $1 WHERE id = $2")
            .bind(settled.as_str())
            .bind(item_id)
            .execute(&mut *tx)
            .await?;
        if settled == ReviewState::Approved {
            // The agreed finding becomes the reviewer label; other reviewer labels go.
            let agreed = reads
                .iter()
                .max_by_key(|r| r.at)
                .and_then(|r| r.finding.clone());
            if let Some(finding) = agreed {
                set_reviewer_label(&mut tx, item_id, &finding, name, at).await?;
            }
        }
        let detail = match decision {
            Decision::Approve => format!(
                "read by {name}: approve as {}; now {}",
                finding.unwrap_or("(no finding)"),
                settled.as_str()
            ),
            Decision::Reject => format!(
                "read by {name}: reject ({reason}); now {}",
                settled.as_str()
            ),
        };
        add_event(&mut tx, item_id, at, "read", &detail).await?;
        tx.commit().await?;
        Ok(settled)
    }

    /// Sets the reviewer's finding without deciding anything.
    pub async fn relabel(&self, item_id: &str, finding: &str, by: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let exists = sqlx::query("SELECT 1 AS one FROM items WHERE id = $1")
            .bind(item_id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound("item"));
        }
        let at = now_ns();
        set_reviewer_label(&mut tx, item_id, finding, by, at).await?;
        add_event(
            &mut tx,
            item_id,
            at,
            "relabel",
            &format!("{by} set the finding to {finding}"),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks `old` as replaced by `new` (a copy with burned-in text blanked), in both
    /// histories, and gives `new` the labels of `old`. `new` must be catalogued already.
    /// Returns the blobs only `old` used (its bytes, thumbnail and frames), for deletion.
    pub async fn mark_replaced(
        &self,
        old: &str,
        new: &str,
        detail: &str,
    ) -> Result<Vec<String>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let at = now_ns();
        let mut blobs = vec![old.to_owned()];
        let thumb: Option<String> = sqlx::query("SELECT thumbnail FROM items WHERE id = $1")
            .bind(old)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound("item"))?
            .try_get("thumbnail")?;
        blobs.extend(thumb);
        for r in sqlx::query("SELECT blob FROM item_frames WHERE item_id = $1")
            .bind(old)
            .fetch_all(&mut *tx)
            .await?
        {
            blobs.push(r.try_get("blob")?);
        }
        sqlx::query("DELETE FROM item_frames WHERE item_id = $1")
            .bind(old)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE items SET review_state = $1, thumbnail = NULL WHERE id = $2")
            .bind(ReviewState::Replaced.as_str())
            .bind(old)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO labels (item_id, finding, known, source, set_by, set_at) \
             SELECT $1, finding, known, source, set_by, set_at FROM labels WHERE item_id = $2 \
             ON CONFLICT DO NOTHING",
        )
        .bind(new)
        .bind(old)
        .execute(&mut *tx)
        .await?;
        add_event(
            &mut tx,
            old,
            at,
            "replaced",
            &format!("{detail}; replaced by {new}"),
        )
        .await?;
        add_event(
            &mut tx,
            new,
            at + 1,
            "derived",
            &format!("{detail}; from {old}"),
        )
        .await?;
        tx.commit().await?;
        // A blob another item still names (a shared thumbnail, say) stays.
        let mut only_old = Vec::new();
        for b in blobs {
            let used: i64 = sqlx::query(
                "SELECT (SELECT COUNT(*) FROM items WHERE id = $1 AND review_state <> 'replaced') \
                 + (SELECT COUNT(*) FROM items WHERE thumbnail = $1) \
                 + (SELECT COUNT(*) FROM item_frames WHERE blob = $1) AS n",
            )
            .bind(&b)
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
            if used == 0 {
                only_old.push(b);
            }
        }
        Ok(only_old)
    }

    /// The site an item belongs to.
    pub async fn site_of_item(&self, item_id: &str) -> Result<String, StoreError> {
        sqlx::query("SELECT site_id FROM items WHERE id = $1")
            .bind(item_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("item"))?
            .try_get("site_id")
            .map_err(Into::into)
    }

    /// Whether a blob is a preview (a thumbnail or a sampled frame): the only blobs the
    /// review pages serve by id, so that no other blob (a signed document, say) leaks.
    pub async fn is_preview_blob(&self, id: &str) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM items WHERE thumbnail = $1) \
             + (SELECT COUNT(*) FROM item_frames WHERE blob = $1) AS n",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?;
        Ok(n > 0)
    }

    /// The frames sampled at intake: (frame number, PNG blob id), in order.
    pub async fn item_frames(&self, item_id: &str) -> Result<Vec<(i64, String)>, StoreError> {
        sqlx::query("SELECT frame, blob FROM item_frames WHERE item_id = $1 ORDER BY idx")
            .bind(item_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("frame")?, r.try_get("blob")?)))
            .collect()
    }

    /// Approves, as one reviewer, every pending item of a site (and, when given, of one
    /// source dataset) whose metadata carries a known finding, with that finding. This is
    /// for curated public collections whose labels a coordinator vouches for; each approval
    /// is an ordinary read, so a double-read site still needs a second reader, and flagged
    /// items (needs-attention) stay in the queue. Returns (approved, still waiting).
    pub async fn approve_metadata_labels(
        &self,
        site_id: &str,
        source: Option<&str>,
        reviewer: &str,
        name: &str,
    ) -> Result<(usize, usize), StoreError> {
        let rows = sqlx::query(
            "SELECT i.id, i.source_dataset, l.finding FROM items i JOIN labels l ON l.item_id = i.id \
             WHERE i.site_id = $1 AND i.review_state = 'pending' AND l.source = 'metadata' AND l.known = 1 \
             ORDER BY i.id, l.finding",
        )
        .bind(site_id)
        .fetch_all(&self.pool)
        .await?;
        let mut findings: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for r in &rows {
            if source.is_some()
                && r.try_get::<Option<String>, _>("source_dataset")?.as_deref() != source
            {
                continue;
            }
            findings
                .entry(r.try_get("id")?)
                .or_default()
                .push(r.try_get("finding")?);
        }
        let (mut approved, mut waiting) = (0, 0);
        for (id, found) in &findings {
            let Some(finding) = crate::releases::most_specific(found) else {
                continue;
            };
            match self
                .record_read(id, reviewer, name, Decision::Approve, Some(finding), "")
                .await?
            {
                ReviewState::Approved => approved += 1,
                _ => waiting += 1,
            }
        }
        Ok((approved, waiting))
    }
}

const SITE_COLUMNS: &str = "id, name, created_at, double_read, institute_id, gateway_fingerprint";

fn site_row(r: &AnyRow) -> Result<Site, StoreError> {
    Ok(Site {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        created_at: r.try_get("created_at")?,
        double_read: r.try_get::<i64, _>("double_read")? != 0,
        institute_id: r.try_get("institute_id")?,
        gateway_fingerprint: r.try_get("gateway_fingerprint")?,
    })
}

async fn set_reviewer_label(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    item_id: &str,
    finding: &str,
    by: &str,
    at: i64,
) -> Result<(), StoreError> {
    let parsed = lunghub_domain::Finding::parse(finding);
    sqlx::query("DELETE FROM labels WHERE item_id = $1 AND source = 'reviewer'")
        .bind(item_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO labels (item_id, finding, known, source, set_by, set_at) VALUES ($1, $2, $3, 'reviewer', $4, $5)",
    )
    .bind(item_id)
    .bind(parsed.as_str())
    .bind(i64::from(parsed.is_known()))
    .bind(by)
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn add_event(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    item_id: &str,
    at: i64,
    kind: &str,
    detail: &str,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO item_events (item_id, at, kind, detail) VALUES ($1, $2, $3, $4)")
        .bind(item_id)
        .bind(at)
        .bind(kind)
        .bind(detail)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
