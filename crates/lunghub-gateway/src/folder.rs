//! The watched folder: files dropped in it are taken once they have stopped changing, then
//! moved to `done/YYYY-MM-DD/` (queued) or `quarantine/YYYY-MM-DD/` (refused, with a
//! `.why.txt` beside), keeping their relative paths. Both live inside the watched folder, so
//! the move is a rename on one file system, and both are purged after `keep_days`: they
//! hold originals, with identity, which must not pile up.
//!
//! Labels come the two ways `lunghub ingest` reads them:
//! - a metadata CSV (any `*.csv`) labels the files of its folder, and of the `images/`
//!   folder beside it, by file name (columns as in `lunghub_sources`); while a CSV is still
//!   changing, its folder waits. It moves to `done/` once every file of its folder is taken;
//! - a folder named after a finding (`COVID-19/`, `healthy/`, `pneumonia/`…) labels what is
//!   under it. Other folder names label nothing: a hospital's folder names often carry a
//!   patient's name, and never leave.
//!
//! Drop a prepared folder by moving it in (a rename), so that the CSV and the images appear
//! at once: a file that settles before its CSV appears is sent without labels.
//!
//! A file is moved only after the outbox holds its de-identified copy. A crash in between
//! leaves it in place, and it is taken again on the next scan: the same de-identified UID,
//! so the outbox queues it once.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use lunghub_domain::Finding;
use lunghub_sources::{Metadata, read_metadata_csv};

use crate::{Gateway, Taken, ledger};

pub const DONE: &str = "done";
pub const QUARANTINE: &str = "quarantine";

/// A file modified this recently may still be being written.
const SETTLE: Duration = Duration::from_secs(2);

/// What one scan did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Scan {
    pub queued: usize,
    pub quarantined: usize,
    /// Left in place to try again (the outbox could not take them).
    pub failed: usize,
}

fn is_csv(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}

/// The files under `watch` (hidden names and the `done/` and `quarantine/` folders
/// skipped), sorted, and whether each has settled.
fn listing(watch: &Path) -> Vec<(PathBuf, bool)> {
    walkdir::WalkDir::new(watch)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            let name = e.file_name().to_string_lossy();
            let top = e.depth() == 1 && (name == DONE || name == QUARANTINE);
            !name.starts_with('.') && !top
        })
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let settled = e
                .metadata()
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_some_and(|age| age >= SETTLE);
            (e.into_path(), settled)
        })
        .collect()
}

/// The labels of the settled CSVs, by the path of the file each row names (in the CSV's
/// folder, or the `images/` folder beside it); the folders whose CSV is still changing; and
/// the CSVs that could not be read, with why.
struct Sheets {
    rows: HashMap<PathBuf, Metadata>,
    waiting: HashSet<PathBuf>,
    broken: Vec<(PathBuf, String)>,
}

fn read_sheets(files: &[(PathBuf, bool)]) -> Sheets {
    let mut sheets = Sheets {
        rows: HashMap::new(),
        waiting: HashSet::new(),
        broken: Vec::new(),
    };
    for (path, settled) in files.iter().filter(|(p, _)| is_csv(p)) {
        let Some(dir) = path.parent() else { continue };
        if !settled {
            sheets.waiting.insert(dir.to_path_buf());
            continue;
        }
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let read = std::fs::File::open(path)
            .map_err(|e| e.to_string())
            .and_then(|f| read_metadata_csv(f, &name).map_err(|e| e.to_string()));
        match read {
            Ok((rows, issues)) => {
                for issue in issues {
                    eprintln!("gateway: {name}: {issue}");
                }
                for row in rows {
                    for folder in [dir.to_path_buf(), dir.join("images")] {
                        sheets
                            .rows
                            .insert(folder.join(&row.file), row.metadata.clone());
                    }
                }
            }
            Err(why) => sheets.broken.push((path.clone(), why)),
        }
    }
    sheets
}

/// The finding a folder on the way from `watch` to the file names, the nearest first.
fn folder_finding(relative: &Path) -> Option<String> {
    relative
        .parent()?
        .components()
        .rev()
        .filter_map(|c| match Finding::parse(&c.as_os_str().to_string_lossy()) {
            Finding::Known(path) => Some(path.to_owned()),
            Finding::Unknown(_) => None,
        })
        .next()
}

/// Takes every settled file under `watch`.
pub fn scan(gateway: &Gateway, watch: &Path) -> Scan {
    let mut result = Scan::default();
    let day = ledger::day_of(ledger::now_ms());
    let files = listing(watch);
    let sheets = read_sheets(&files);
    for (path, why) in &sheets.broken {
        if let Ok(relative) = path.strip_prefix(watch) {
            let to = watch.join(QUARANTINE).join(&day).join(relative);
            if move_to(
                path,
                &to,
                Some(&format!("cannot read the metadata CSV: {why}")),
            )
            .is_ok()
            {
                result.quarantined += 1;
            }
        }
    }
    for (path, settled) in &files {
        if !settled || is_csv(path) {
            continue;
        }
        let waits_for_sheet = path
            .ancestors()
            .skip(1)
            .take_while(|a| a.starts_with(watch))
            .any(|a| sheets.waiting.contains(a));
        if waits_for_sheet {
            continue;
        }
        let Ok(relative) = path.strip_prefix(watch) else {
            continue;
        };
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("gateway: cannot read a file in {}: {e}", watch.display());
                result.failed += 1;
                continue;
            }
        };
        let mut metadata = sheets.rows.get(path).cloned().unwrap_or_default();
        if metadata.finding.is_none() {
            metadata.finding = folder_finding(relative);
        }
        let (to, why) = match gateway.take_labelled(&bytes, &metadata) {
            Taken::Queued { .. } => {
                result.queued += 1;
                (watch.join(DONE).join(&day).join(relative), None)
            }
            Taken::Quarantined(why) | Taken::Unreadable(why) => {
                result.quarantined += 1;
                (
                    watch.join(QUARANTINE).join(&day).join(relative),
                    Some(why.explained()),
                )
            }
            Taken::Failed(e) => {
                eprintln!("gateway: cannot queue a file of {}: {e}", watch.display());
                result.failed += 1;
                continue;
            }
        };
        if let Err(e) = move_to(path, &to, why.as_deref()) {
            // Queued already: taken again next scan, which the outbox queues once.
            eprintln!("gateway: cannot move a taken file to {}: {e}", to.display());
        }
    }
    retire_sheets(watch, &day, &files);
    result
}

/// Moves each settled CSV whose folder has no file left to take to `done/`.
fn retire_sheets(watch: &Path, day: &str, before: &[(PathBuf, bool)]) {
    // Most polls find no CSV: they walk the folder once, not twice.
    if !before.iter().any(|(p, settled)| *settled && is_csv(p)) {
        return;
    }
    let left: Vec<PathBuf> = listing(watch)
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| !is_csv(p))
        .collect();
    for (sheet, settled) in before.iter().filter(|(p, _)| is_csv(p)) {
        let Some(dir) = sheet.parent() else { continue };
        let labels_more = left.iter().any(|f| f.starts_with(dir));
        if !settled || labels_more || !sheet.exists() {
            continue;
        }
        if let Ok(relative) = sheet.strip_prefix(watch) {
            let to = watch.join(DONE).join(day).join(relative);
            if let Err(e) = move_to(sheet, &to, None) {
                eprintln!(
                    "gateway: cannot move a metadata CSV to {}: {e}",
                    to.display()
                );
            }
        }
    }
}

fn move_to(from: &Path, to: &Path, why: Option<&str>) -> std::io::Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if let Some(why) = why {
        let mut note = to.as_os_str().to_owned();
        note.push(".why.txt");
        std::fs::write(PathBuf::from(note), format!("{why}\n"))?;
    }
    std::fs::rename(from, to)
}
