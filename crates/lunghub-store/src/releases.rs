//! Releases in the catalog: the approved items a release may take, and the frozen record of
//! each release (its settings and, per item, the split, the finding and the file name).
//! A release row is written once, with its items, in one transaction, and never changed.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;

use crate::{Catalog, StoreError};

/// An approved item, with what a release needs to know of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReleaseCandidate {
    pub id: String,
    pub site_id: String,
    pub site_name: String,
    pub patient_id: String,
    pub study_id: String,
    pub series_id: String,
    /// dicom | png | jpeg | clip
    pub kind: String,
    pub modality: String,
    pub view: Option<String>,
    pub sex: Option<String>,
    pub age_years: Option<f64>,
    pub offset_days: Option<i64>,
    pub source_dataset: Option<String>,
    pub intake_at: i64,
    pub deid_profile: String,
    /// The finding a release uses: the reviewer's when there is one, otherwise the most
    /// specific known finding of the metadata. `None` when neither is a known finding.
    pub finding: Option<String>,
}

/// One release's settings, as frozen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReleaseRecord {
    pub name: String,
    pub version: i64,
    pub created_at: i64,
    pub created_by: String,
    pub seed: i64,
    pub shares: String,
    pub filters: String,
    pub licences: String,
    pub files: i64,
    pub bytes: i64,
    pub manifest_sha256: String,
}

/// One item of a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseItem {
    pub item_id: String,
    /// Read from the item; not stored with the release.
    pub patient_id: String,
    pub split: String,
    pub finding: String,
    pub file: String,
}

impl Catalog {
    /// Every approved item, in id order.
    pub async fn approved_items(&self) -> Result<Vec<ReleaseCandidate>, StoreError> {
        let rows = sqlx::query(
            "SELECT i.id, i.site_id, s.name AS site_name, i.patient_id, i.study_id, i.series_id, i.kind, \
             i.modality, i.view, i.sex, i.age_years, i.offset_days, i.source_dataset, i.intake_at, i.deid_profile \
             FROM items i JOIN sites s ON s.id = i.site_id WHERE i.review_state = 'approved' ORDER BY i.id",
        )
        .fetch_all(&self.pool)
        .await?;
        let labels = sqlx::query(
            "SELECT l.item_id, l.finding, l.source FROM labels l JOIN items i ON i.id = l.item_id \
             WHERE i.review_state = 'approved' AND l.known = 1",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut reviewer: BTreeMap<String, String> = BTreeMap::new();
        let mut metadata: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for l in &labels {
            let id: String = l.try_get("item_id")?;
            let finding: String = l.try_get("finding")?;
            match l.try_get::<String, _>("source")?.as_str() {
                "reviewer" => {
                    reviewer.insert(id, finding);
                }
                "metadata" => metadata.entry(id).or_default().push(finding),
                _ => {}
            }
        }
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("id")?;
                let finding = reviewer.get(&id).cloned().or_else(|| {
                    metadata
                        .get(&id)
                        .and_then(|found| most_specific(found).cloned())
                });
                Ok(ReleaseCandidate {
                    site_id: r.try_get("site_id")?,
                    site_name: r.try_get("site_name")?,
                    patient_id: r.try_get("patient_id")?,
                    study_id: r.try_get("study_id")?,
                    series_id: r.try_get("series_id")?,
                    kind: r.try_get("kind")?,
                    modality: r.try_get("modality")?,
                    view: r.try_get("view")?,
                    sex: r.try_get("sex")?,
                    age_years: r.try_get("age_years")?,
                    offset_days: r.try_get("offset_days")?,
                    source_dataset: r.try_get("source_dataset")?,
                    intake_at: r.try_get("intake_at")?,
                    deid_profile: r.try_get("deid_profile")?,
                    finding,
                    id,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The review state of each of these items that is still in the catalog.
    pub async fn review_states(
        &self,
        ids: &[String],
    ) -> Result<BTreeMap<String, String>, StoreError> {
        let mut states = BTreeMap::new();
        // Chunks keep the statement under SQLite's and PostgreSQL's parameter limits.
        for chunk in ids.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
            let sql = format!(
                "SELECT id, review_state FROM items WHERE id IN ({})",
                marks.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id);
            }
            for r in query.fetch_all(&self.pool).await? {
                states.insert(r.try_get("id")?, r.try_get("review_state")?);
            }
        }
        Ok(states)
    }

    /// Every release, newest version of each name first within the name, names in order.
    pub async fn releases(&self) -> Result<Vec<ReleaseRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {RELEASE_COLUMNS} FROM releases ORDER BY name, version DESC"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(release_record).collect()
    }

    /// One release, or the newest version of the name when `version` is `None`.
    pub async fn release(
        &self,
        name: &str,
        version: Option<i64>,
    ) -> Result<Option<ReleaseRecord>, StoreError> {
        let row = match version {
            Some(v) => {
                sqlx::query(&format!(
                    "SELECT {RELEASE_COLUMNS} FROM releases WHERE name = $1 AND version = $2"
                ))
                .bind(name)
                .bind(v)
                .fetch_optional(&self.pool)
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {RELEASE_COLUMNS} FROM releases WHERE name = $1 ORDER BY version DESC LIMIT 1"
                ))
                .bind(name)
                .fetch_optional(&self.pool)
                .await?
            }
        };
        row.as_ref().map(release_record).transpose()
    }

    /// The items of a release, in item id order.
    pub async fn release_items(
        &self,
        name: &str,
        version: i64,
    ) -> Result<Vec<ReleaseItem>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.item_id, i.patient_id, r.split, r.finding, r.file FROM release_items r \
             JOIN items i ON i.id = r.item_id WHERE r.name = $1 AND r.version = $2 ORDER BY r.item_id",
        )
        .bind(name)
        .bind(version)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ReleaseItem {
                    item_id: r.try_get("item_id")?,
                    patient_id: r.try_get("patient_id")?,
                    split: r.try_get("split")?,
                    finding: r.try_get("finding")?,
                    file: r.try_get("file")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Freezes a release. Fails with [`StoreError::Conflict`] when that name and version
    /// exist already: a release is never overwritten.
    pub async fn record_release(
        &self,
        record: &ReleaseRecord,
        items: &[ReleaseItem],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let exists = sqlx::query("SELECT 1 AS one FROM releases WHERE name = $1 AND version = $2")
            .bind(&record.name)
            .bind(record.version)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            return Err(StoreError::Conflict(format!(
                "release {} version {} exists already",
                record.name, record.version
            )));
        }
        sqlx::query(
            "INSERT INTO releases (name, version, created_at, created_by, seed, shares, filters, licences, \
             files, bytes, manifest_sha256) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&record.name)
        .bind(record.version)
        .bind(record.created_at)
        .bind(&record.created_by)
        .bind(record.seed)
        .bind(&record.shares)
        .bind(&record.filters)
        .bind(&record.licences)
        .bind(record.files)
        .bind(record.bytes)
        .bind(&record.manifest_sha256)
        .execute(&mut *tx)
        .await?;
        for item in items {
            sqlx::query(
                "INSERT INTO release_items (name, version, item_id, split, finding, file) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&record.name)
            .bind(record.version)
            .bind(&item.item_id)
            .bind(&item.split)
            .bind(&item.finding)
            .bind(&item.file)
            .execute(&mut *tx)
            .await?;
        }
        let sites = sqlx::query(
            "SELECT DISTINCT i.site_id AS site_id FROM release_items r JOIN items i ON i.id = r.item_id \
             WHERE r.name = $1 AND r.version = $2",
        )
        .bind(&record.name)
        .bind(record.version)
        .fetch_all(&mut *tx)
        .await?;
        let why = format!(
            "release {} version {} includes this hospital's images",
            record.name, record.version
        );
        for row in sites {
            let site: String = row.try_get("site_id")?;
            crate::platform::advance_site_stage(
                &mut tx,
                &site,
                lunghub_domain::onboarding::Stage::DataReceived,
                lunghub_domain::onboarding::Stage::DatasetAvailable,
                &why,
                record.created_at,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

const RELEASE_COLUMNS: &str = "name, version, created_at, created_by, seed, shares, filters, licences, files, bytes, manifest_sha256";

fn release_record(r: &sqlx::any::AnyRow) -> Result<ReleaseRecord, StoreError> {
    Ok(ReleaseRecord {
        name: r.try_get("name")?,
        version: r.try_get("version")?,
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by")?,
        seed: r.try_get("seed")?,
        shares: r.try_get("shares")?,
        filters: r.try_get("filters")?,
        licences: r.try_get("licences")?,
        files: r.try_get("files")?,
        bytes: r.try_get("bytes")?,
        manifest_sha256: r.try_get("manifest_sha256")?,
    })
}

/// The deepest path of the hierarchy among these findings; ties go to the smaller name, so
/// the choice never depends on the order rows come back in.
pub(crate) fn most_specific(findings: &[String]) -> Option<&String> {
    findings.iter().min_by(|a, b| {
        b.matches('/')
            .count()
            .cmp(&a.matches('/').count())
            .then(a.cmp(b))
    })
}

#[cfg(test)]
mod tests {
    use super::most_specific;

    #[test]
    fn the_deepest_finding_wins_and_ties_go_to_the_smaller_name() {
        let found = |v: &[&str]| {
            let v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
            most_specific(&v).cloned()
        };
        assert_eq!(
            found(&["Pneumonia", "Pneumonia/Viral/COVID-19", "Pneumonia/Viral"]).as_deref(),
            Some("Pneumonia/Viral/COVID-19")
        );
        assert_eq!(found(&["No Finding", "ARDS"]).as_deref(), Some("ARDS"));
        assert_eq!(found(&[]), None);
    }
}
