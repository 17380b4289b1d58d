//! Creating a release against the catalog: plan it from the approved items and the version
//! before, write its folder, then freeze its record. The folder is written under a
//! temporary name and renamed into place, and the record is committed last, so a crash
//! leaves either a whole release or none (a stray folder without a record is cleared by the
//! next attempt at that version).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use lunghub_domain::split::{Shares, Split};
use lunghub_store::{Blobs, Catalog, ReleaseRecord};

use crate::ReleaseError;
use crate::plan::{Previous, Settings, check_name, plan};
use crate::selection::Selection;
use crate::write::{Written, io, write};

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

/// Where a deployment keeps its releases' folders: `<root>/<name>/v<version>`.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    /// The folder of a release. `name` must have passed [`check_name`] (the catalog only
    /// holds names that did).
    pub fn dir(&self, name: &str, version: i64) -> PathBuf {
        self.root.join(name).join(format!("v{version}"))
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
    store: &Store,
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

    let dir = store.dir(&request.name, version);
    let building = dir.with_file_name(format!(".v{version}.building"));
    for stale in [&dir, &building] {
        if stale.exists() {
            std::fs::remove_dir_all(stale).map_err(|e| io(stale, e))?;
        }
    }
    let written = {
        let building = building.clone();
        tokio::task::spawn_blocking(move || {
            let done = AtomicUsize::new(0);
            write(&planned, blobs.as_ref(), &building, &|| {
                progress(done.fetch_add(1, Ordering::Relaxed) + 1, total)
            })
        })
        .await
        .map_err(|e| ReleaseError::Input(format!("the release writer stopped: {e}")))??
    };
    rename(&building, &dir)?;
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
    if let Err(e) = catalog.record_release(&record, &items).await {
        // Without its record the folder is no release: take it away again.
        let _ = std::fs::remove_dir_all(&dir);
        return Err(e.into());
    }
    Ok((record, written))
}

fn rename(from: &Path, to: &Path) -> Result<(), ReleaseError> {
    std::fs::rename(from, to).map_err(|e| io(to, e))
}
