//! The catalog: sites, pseudonymous patients, studies, series, items, labels and their
//! history, on SQLite or PostgreSQL through one code path.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor, Row};

use crate::StoreError;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// The catalog, cheap to clone (a connection pool).
#[derive(Debug, Clone)]
pub struct Catalog {
    pub(crate) pool: AnyPool,
}

/// An item's perceptual hash and the original its near-duplicates are linked to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashedItem {
    pub id: String,
    pub perceptual_hash: String,
    /// The item it is a near-duplicate of, or its own id.
    pub original: String,
}

/// Everything intake knows about one new item.
#[derive(Debug, Clone, Default)]
pub struct NewItem {
    pub id: String,
    pub site_id: String,
    pub patient_id: String,
    pub study_id: String,
    pub series_id: String,
    pub kind: String,
    pub modality: String,
    pub view: Option<String>,
    pub photometric: Option<String>,
    pub bits: Option<i64>,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub frames: Option<i64>,
    pub bytes: i64,
    pub pixel_hash: Option<String>,
    pub perceptual_hash: Option<String>,
    pub thumbnail: Option<String>,
    pub near_duplicate_of: Option<String>,
    pub age_years: Option<f64>,
    pub sex: Option<String>,
    pub comorbidities: Option<String>,
    pub therapy: Option<String>,
    pub outcome: Option<String>,
    pub offset_days: Option<i64>,
    pub route: String,
    pub source_dataset: Option<String>,
    pub tool_version: String,
    pub deid_profile: String,
    pub review_state: String,
    /// (finding, known, source, set_by)
    pub labels: Vec<(String, bool, String, String)>,
    /// Why the item was flagged, recorded in its history.
    pub notes: Vec<String>,
    /// Frames sampled from a clip or multi-frame image: (frame number, PNG blob id).
    pub sampled_frames: Vec<(i64, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    New,
    /// An item with these exact bytes is already catalogued: nothing was added.
    Existing,
}

/// Counts over the whole catalog.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub items: i64,
    pub by_site: BTreeMap<String, i64>,
    pub by_source: BTreeMap<String, i64>,
    pub by_modality: BTreeMap<String, i64>,
    pub by_view: BTreeMap<String, i64>,
    pub by_finding: BTreeMap<String, i64>,
    pub by_review_state: BTreeMap<String, i64>,
    pub unknown_findings: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LabelRow {
    pub finding: String,
    pub known: bool,
    pub source: String,
    pub set_by: String,
    pub set_at: i64,
}

/// One item with its labels and history.
#[derive(Debug, Clone, Serialize)]
pub struct ItemDetail {
    pub fields: BTreeMap<String, serde_json::Value>,
    pub labels: Vec<LabelRow>,
    pub history: Vec<(i64, String, String)>,
}

/// Now, in nanoseconds since the Unix epoch: how every time is stored.
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

impl Catalog {
    /// The default catalog URL for a data directory.
    pub fn sqlite_url(data_dir: &Path) -> String {
        format!(
            "sqlite://{}?mode=rwc",
            data_dir.join("catalog.sqlite").display()
        )
    }

    /// Connects and runs the embedded migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        if backend == Backend::Sqlite {
            if let Some(parent) = url
                .strip_prefix("sqlite://")
                .and_then(|p| p.split('?').next())
                .and_then(|p| Path::new(p).parent())
            {
                std::fs::create_dir_all(parent).map_err(|source| StoreError::Io {
                    path: parent.display().to_string(),
                    source,
                })?;
            }
        }
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the writer; FULL sync makes every
                        // committed batch survive a power cut, not just a crash.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = FULL").await?;
                        conn.execute("PRAGMA busy_timeout = 30000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Catalog { pool })
    }

    /// The web platform's tables, on the same database.
    pub fn platform(&self) -> crate::Platform {
        crate::Platform::new(self.pool.clone())
    }

    /// The site's id, creating the site on first use. Sites made this way belong to no
    /// institute: they are the operator's own collections (see migration 0006); a
    /// hospital's site is made with its institute.
    pub async fn ensure_site(&self, name: &str) -> Result<String, StoreError> {
        let id = site_slug(name);
        sqlx::query(
            "INSERT INTO sites (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(&id)
        .bind(name.trim())
        .bind(now_ns())
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    pub async fn contains_item(&self, id: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM items WHERE id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    /// The original (an item that is no one's near-duplicate) of the items whose decoded
    /// pixels hash to `pixel_hash`, if any.
    pub async fn original_with_pixels(
        &self,
        pixel_hash: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT COALESCE(near_duplicate_of, id) AS original FROM items WHERE pixel_hash = $1 \
             ORDER BY CASE WHEN near_duplicate_of IS NULL THEN 0 ELSE 1 END, id LIMIT 1",
        )
        .bind(pixel_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .map(|r| r.try_get::<String, _>("original"))
            .transpose()?)
    }

    /// Every item's perceptual hash (hex), for near-duplicate search, with the original it
    /// is a near-duplicate of (itself if none).
    pub async fn perceptual_hashes(&self) -> Result<Vec<HashedItem>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, perceptual_hash, COALESCE(near_duplicate_of, id) AS original FROM items \
             WHERE perceptual_hash IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(HashedItem {
                    id: r.try_get("id")?,
                    perceptual_hash: r.try_get("perceptual_hash")?,
                    original: r.try_get("original")?,
                })
            })
            .collect()
    }

    /// Inserts a batch of items in one transaction. Items already present are left as they
    /// are, so inserting the same batch twice adds nothing.
    pub async fn insert_batch(&self, items: &[NewItem]) -> Result<Vec<InsertOutcome>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut outcomes = Vec::with_capacity(items.len());
        let at = now_ns();
        for it in items {
            sqlx::query(
                "INSERT INTO patients (id, site_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(&it.patient_id)
            .bind(&it.site_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO studies (id, patient_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(&it.study_id)
            .bind(&it.patient_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO series (id, study_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(&it.series_id)
                .bind(&it.study_id)
                .execute(&mut *tx)
                .await?;
            let inserted = sqlx::query(
                "INSERT INTO items (id, site_id, patient_id, study_id, series_id, kind, modality, view, \
                 photometric, bits, width, height, frames, bytes, pixel_hash, perceptual_hash, thumbnail, \
                 near_duplicate_of, age_years, sex, comorbidities, therapy, outcome, offset_days, route, \
                 source_dataset, intake_at, tool_version, deid_profile, review_state) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
                 $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30) ON CONFLICT DO NOTHING",
            )
            // Not a cached prepared statement: through the Any driver, PostgreSQL would
            // keep the parameter types of the first execution, and a NULL age there makes
            // a later real age fail to bind.
            .persistent(false)
            .bind(&it.id)
            .bind(&it.site_id)
            .bind(&it.patient_id)
            .bind(&it.study_id)
            .bind(&it.series_id)
            .bind(&it.kind)
            .bind(&it.modality)
            .bind(&it.view)
            .bind(&it.photometric)
            .bind(it.bits)
            .bind(it.width)
            .bind(it.height)
            .bind(it.frames)
            .bind(it.bytes)
            .bind(&it.pixel_hash)
            .bind(&it.perceptual_hash)
            .bind(&it.thumbnail)
            .bind(&it.near_duplicate_of)
            .bind(it.age_years)
            .bind(&it.sex)
            .bind(&it.comorbidities)
            .bind(&it.therapy)
            .bind(&it.outcome)
            .bind(it.offset_days)
            .bind(&it.route)
            .bind(&it.source_dataset)
            .bind(at)
            .bind(&it.tool_version)
            .bind(&it.deid_profile)
            .bind(&it.review_state)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                outcomes.push(InsertOutcome::Existing);
                continue;
            }
            for (finding, known, source, set_by) in &it.labels {
                sqlx::query(
                    "INSERT INTO labels (item_id, finding, known, source, set_by, set_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                )
                .bind(&it.id)
                .bind(finding)
                .bind(i64::from(*known))
                .bind(source)
                .bind(set_by)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
            for (idx, (frame, blob)) in it.sampled_frames.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO item_frames (item_id, idx, frame, blob) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(&it.id)
                .bind(idx as i64)
                .bind(*frame)
                .bind(blob)
                .execute(&mut *tx)
                .await?;
            }
            let mut events = vec![("intake".to_owned(), format!("{} via {}", it.kind, it.route))];
            events.extend(it.notes.iter().map(|n| ("flag".to_owned(), n.clone())));
            for (i, (kind, detail)) in events.iter().enumerate() {
                sqlx::query("INSERT INTO item_events (item_id, at, kind, detail) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
                    .bind(&it.id)
                    .bind(at + i as i64)
                    .bind(kind)
                    .bind(detail)
                    .execute(&mut *tx)
                    .await?;
            }
            outcomes.push(InsertOutcome::New);
        }
        let mut arrived: Vec<(&str, &str)> = items
            .iter()
            .zip(&outcomes)
            .filter(|(_, o)| **o == InsertOutcome::New)
            .map(|(it, _)| (it.site_id.as_str(), it.route.as_str()))
            .collect();
        arrived.sort_unstable();
        arrived.dedup_by_key(|(site, _)| *site);
        for (site, route) in arrived {
            crate::platform::advance_site_stage(
                &mut tx,
                site,
                lunghub_domain::onboarding::Stage::WaitingForData,
                lunghub_domain::onboarding::Stage::DataReceived,
                &format!("the first image arrived (by {route})"),
                at,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    async fn counts(&self, sql: &str) -> Result<BTreeMap<String, i64>, StoreError> {
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        let mut out = BTreeMap::new();
        for r in rows {
            let key: Option<String> = r.try_get("k")?;
            out.insert(
                key.unwrap_or_else(|| "(none)".into()),
                r.try_get::<i64, _>("n")?,
            );
        }
        Ok(out)
    }

    pub async fn summary(&self) -> Result<Summary, StoreError> {
        let items: i64 = sqlx::query("SELECT COUNT(*) AS n FROM items")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        Ok(Summary {
            items,
            by_site: self.counts("SELECT s.name AS k, COUNT(*) AS n FROM items i JOIN sites s ON s.id = i.site_id GROUP BY s.name").await?,
            by_source: self.counts("SELECT source_dataset AS k, COUNT(*) AS n FROM items GROUP BY source_dataset").await?,
            by_modality: self.counts("SELECT modality AS k, COUNT(*) AS n FROM items GROUP BY modality").await?,
            by_view: self.counts("SELECT view AS k, COUNT(*) AS n FROM items GROUP BY view").await?,
            by_finding: self.counts("SELECT finding AS k, COUNT(*) AS n FROM labels GROUP BY finding").await?,
            by_review_state: self.counts("SELECT review_state AS k, COUNT(*) AS n FROM items GROUP BY review_state").await?,
            unknown_findings: self.counts("SELECT finding AS k, COUNT(*) AS n FROM labels WHERE known = 0 GROUP BY finding").await?,
        })
    }

    /// One item with its labels and history; `id` may be a unique prefix of at least 8 characters.
    pub async fn item(&self, id: &str) -> Result<Option<ItemDetail>, StoreError> {
        if id.len() < 8 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let rows = sqlx::query(
            "SELECT i.id, s.name AS site, i.patient_id, i.study_id, i.series_id, i.kind, i.modality, i.view, \
             i.photometric, i.bits, i.width, i.height, i.frames, i.bytes, i.pixel_hash, i.perceptual_hash, \
             i.thumbnail, i.near_duplicate_of, i.age_years, i.sex, i.comorbidities, i.therapy, i.outcome, \
             i.offset_days, i.route, i.source_dataset, i.intake_at, i.tool_version, i.deid_profile, i.review_state \
             FROM items i JOIN sites s ON s.id = i.site_id WHERE i.id LIKE $1 ORDER BY i.id LIMIT 2",
        )
        .bind(format!("{id}%"))
        .fetch_all(&self.pool)
        .await?;
        if rows.len() != 1 {
            return Ok(None);
        }
        let r = &rows[0];
        let mut fields = BTreeMap::new();
        for name in [
            "id",
            "site",
            "patient_id",
            "study_id",
            "series_id",
            "kind",
            "modality",
            "view",
            "photometric",
            "pixel_hash",
            "perceptual_hash",
            "thumbnail",
            "near_duplicate_of",
            "sex",
            "comorbidities",
            "therapy",
            "outcome",
            "route",
            "source_dataset",
            "tool_version",
            "deid_profile",
            "review_state",
        ] {
            let v: Option<String> = r.try_get(name)?;
            fields.insert(
                name.to_owned(),
                v.map(serde_json::Value::from)
                    .unwrap_or(serde_json::Value::Null),
            );
        }
        for name in [
            "bits",
            "width",
            "height",
            "frames",
            "bytes",
            "offset_days",
            "intake_at",
        ] {
            let v: Option<i64> = r.try_get(name)?;
            fields.insert(
                name.to_owned(),
                v.map(serde_json::Value::from)
                    .unwrap_or(serde_json::Value::Null),
            );
        }
        let age: Option<f64> = r.try_get("age_years")?;
        fields.insert(
            "age_years".into(),
            age.map(serde_json::Value::from)
                .unwrap_or(serde_json::Value::Null),
        );
        let full_id: String = r.try_get("id")?;
        let labels = sqlx::query("SELECT finding, known, source, set_by, set_at FROM labels WHERE item_id = $1 ORDER BY set_at, finding")
            .bind(&full_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|l| {
                Ok(LabelRow {
                    finding: l.try_get("finding")?,
                    known: l.try_get::<i64, _>("known")? != 0,
                    source: l.try_get("source")?,
                    set_by: l.try_get("set_by")?,
                    set_at: l.try_get("set_at")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let history =
            sqlx::query("SELECT at, kind, detail FROM item_events WHERE item_id = $1 ORDER BY at")
                .bind(&full_id)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|e| Ok((e.try_get("at")?, e.try_get("kind")?, e.try_get("detail")?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok(Some(ItemDetail {
            fields,
            labels,
            history,
        }))
    }

    /// Ids of every item, for consistency checks.
    pub async fn item_ids(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT id FROM items ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get("id").map_err(StoreError::from))
            .collect()
    }
}

/// Whether a site's data may come in now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    Open,
    /// Refused, with the reason in words a hospital's staff can act on.
    Closed(String),
}

impl Catalog {
    /// The ethics gate, asked by every route before it takes a file of `site_id`: a site
    /// that is an institute of the onboarding tracker sends data only once its stage is past
    /// ethical committee approval (or the coordinator recorded that none is needed, which
    /// skips to "Waiting for data"). A site that is no institute is the operator's own
    /// collection, made from the command line, and is not gated.
    pub async fn admission(&self, site_id: &str) -> Result<Admission, StoreError> {
        use lunghub_domain::onboarding::Stage;
        let row = sqlx::query(
            "SELECT s.name AS name, i.stage AS stage, i.removed_at AS removed_at FROM sites s LEFT JOIN institutes i ON i.id = s.institute_id \
             WHERE s.id = $1",
        )
        .bind(site_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(Admission::Closed(format!("there is no site {site_id:?}")));
        };
        let stage: Option<String> = row.try_get("stage")?;
        let Some(stage) = stage else {
            return Ok(Admission::Open);
        };
        let name: String = row.try_get("name")?;
        if row.try_get::<Option<i64>, _>("removed_at")?.is_some() {
            return Ok(Admission::Closed(format!(
                "{name} was taken off the onboarding table by the admin, and takes no data"
            )));
        }
        match Stage::parse(&stage) {
            Ok(s) if s.accepts_data() => Ok(Admission::Open),
            Ok(s) => Ok(Admission::Closed(format!(
                "{name} is at the onboarding stage \"{}\": lunghub takes its images only after its \
                 ethical committee has approved the project (or the coordinator has recorded that \
                 no approval is needed)",
                s.label()
            ))),
            Err(e) => Ok(Admission::Closed(format!("{name}: {e}"))),
        }
    }
}

/// A site's id: its name in lower case, runs of anything but letters and digits made one `-`.
pub fn site_slug(name: &str) -> String {
    name.trim()
        .to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}
