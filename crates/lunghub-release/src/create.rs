//! Creating a release against the catalog: plan it from the approved items and the version
//! before, write its folder in a staging area, publish every file into the blob store under
//! its sha256 (SHA256SUMS included, so the release is named by the sha256 of its manifest),
//! then freeze its record and clear the staging folder. The record is committed last, so a
//! crash leaves either a whole release or none: blobs without a record are harmless, and a
//! stray staging folder is cleared by the next attempt at that version.
//!
//! Keeping a release's files in the blob store, not on one machine's disk, keeps the server
//! stateless apart from its database and blob store: any instance serves any release. Files
//! shared between exports (an image in `images/` and in `imagefolder/`) and DICOM originals
//! already stored by intake cost no extra space.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use lunghub_domain::split::{Shares, Split};
use lunghub_store::{Blobs, Catalog, ReleaseRecord};

use crate::plan::{Previous, Settings, check_name, plan};
use crate::selection::Selection;
use crate::write::{Written, io, write};
use crate::{MANIFEST, Manifest, ReleaseError};

/// What a coordinator asks for.
#[derive(Debug, Clone)]
pub struct Request {
    pub name: String,
    pub seed: u64,
    pub shares: Shares,
    pub selection: Selection,
    pub licences: BTreeMap<String, String>,
    /// Who asked: an account's email, or the operator at the command line.
    pub created_by: String,
}

/// Where releases are written before they are published: `<root>/<name>-v<version>`.
#[derive(Debug, Clone)]
pub struct Staging {
    root: PathBuf,
}

impl Staging {
    pub fn new(root: impl Into<PathBuf>) -> Staging {
        Staging { root: root.into() }
    }

    /// The staging folder of a release. `name` must have passed [`check_name`].
    pub fn dir(&self, name: &str, version: i64) -> PathBuf {
        self.root.join(format!("{name}-v{version}"))
    }
}

/// "70,15,15" or "0.7,0.15,0.15": the shares of train, validation and test, normalised.
pub fn parse_shares(text: &str) -> Result<Shares, ReleaseError> {
    let bad = || {
        ReleaseError::Input(format!(
            "shares {text:?}: give three numbers (train, validation, test), e.g. 70,15,15"
        ))
    };
    let parts: Vec<f64> = text
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    let [train, validation, test] = parts[..] else {
        return Err(bad());
    };
    Shares::new(train, validation, test)
        .map_err(|e| ReleaseError::Input(format!("shares {text:?}: {e}")))
}

/// `SOURCE=LICENCE` pairs, one per entry.
pub fn parse_licences<S: AsRef<str>>(
    pairs: &[S],
) -> Result<BTreeMap<String, String>, ReleaseError> {
    pairs
        .iter()
        .map(|p| p.as_ref())
        .filter(|p| !p.trim().is_empty())
        .map(|p| match p.split_once('=') {
            Some((s, l)) if !s.trim().is_empty() && !l.trim().is_empty() => {
                Ok((s.trim().to_owned(), l.trim().to_owned()))
            }
            _ => Err(ReleaseError::Input(format!(
                "licence {p:?}: write SOURCE=LICENCE, e.g. NIH ChestX-ray14=CC0-1.0"
            ))),
        })
        .collect()
}

/// Progress of a release being written: images done of images in all.
pub type Progress = dyn Fn(usize, usize) + Send + Sync;

/// Creates the next version of the release `request.name`. `blobs` is anything that holds
/// the blob store and can move to the writer's thread (an `Arc<Blobs>`, say).
pub async fn create<B: AsRef<Blobs> + Send + 'static>(
    catalog: &Catalog,
    blobs: B,
    staging: &Staging,
    request: Request,
    progress: Arc<Progress>,
) -> Result<(ReleaseRecord, Written), ReleaseError> {
    check_name(&request.name)?;
    let last = catalog.release(&request.name, None).await?;
    let previous = match &last {
        None => None,
        Some(r) => {
            let items = catalog.release_items(&r.name, r.version).await?;
            let ids: Vec<String> = items.iter().map(|i| i.item_id.clone()).collect();
            Some(Previous {
                version: r.version,
                states_now: catalog.review_states(&ids).await?,
                items,
            })
        }
    };
    let version = last.map_or(1, |r| r.version + 1);
    let settings = Settings {
        name: request.name.clone(),
        version,
        seed: request.seed,
        shares: request.shares,
        selection: request.selection.clone(),
        licences: request.licences.clone(),
    };
    let planned = plan(settings, catalog.approved_items().await?, previous)?;
    let items = planned.items();
    let total = planned.entries.len();

    let dir = staging.dir(&request.name, version);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| io(&dir, e))?;
    }
    let written = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || {
            let done = AtomicUsize::new(0);
            let blobs = blobs.as_ref();
            let written = write(&planned, blobs, &dir, &|| {
                progress(done.fetch_add(1, Ordering::Relaxed) + 1, total)
            })?;
            let published = publish(&dir, blobs)?;
            if published != written.manifest_sha256 {
                return Err(ReleaseError::Input(format!(
                    "{MANIFEST} was stored as {published}, not {}",
                    written.manifest_sha256
                )));
            }
            Ok(written)
        })
        .await
        .map_err(|e| ReleaseError::Input(format!("the release writer stopped: {e}")))?
    };
    let written = match written {
        Ok(w) => w,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
    };
    let record = ReleaseRecord {
        name: request.name.clone(),
        version,
        created_at: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0),
        created_by: request.created_by.clone(),
        seed: request.seed as i64,
        shares: Split::ALL
            .map(|s| format!("{}", request.shares.of(s)))
            .join(","),
        filters: serde_json::to_string(&request.selection)
            .map_err(|e| ReleaseError::Input(e.to_string()))?,
        licences: serde_json::to_string(&request.licences)
            .map_err(|e| ReleaseError::Input(e.to_string()))?,
        files: written.files as i64,
        bytes: written.bytes as i64,
        manifest_sha256: written.manifest_sha256.clone(),
    };
    let recorded = catalog.record_release(&record, &items).await;
    // Published or not, the staging folder has served its purpose.
    let _ = std::fs::remove_dir_all(&dir);
    recorded?;
    Ok((record, written))
}

/// Puts every file of a written release into the blob store, checking that each lands
/// under the sha256 its manifest gives, then SHA256SUMS itself; syncs; returns the sha256
/// of SHA256SUMS.
fn publish(dir: &Path, blobs: &Blobs) -> Result<String, ReleaseError> {
    let manifest = Manifest::read(dir)?;
    for (name, sha) in &manifest.files {
        let path = dir.join(name);
        let bytes = std::fs::read(&path).map_err(|e| io(&path, e))?;
        let id = blobs.put(&bytes)?;
        if id != *sha {
            return Err(ReleaseError::Input(format!(
                "{name} changed while it was published ({id}, not {sha})"
            )));
        }
    }
    let path = dir.join(MANIFEST);
    let text = std::fs::read(&path).map_err(|e| io(&path, e))?;
    let id = blobs.put(&text)?;
    blobs.sync()?;
    Ok(id)
}
