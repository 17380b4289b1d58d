//! The watched folder: files dropped in it are taken once they have stopped changing, then
//! moved to `done/YYYY-MM-DD/` (queued) or `quarantine/YYYY-MM-DD/` (refused, with a
//! `.why.txt` beside), keeping their relative paths. Both live inside the watched folder, so
//! the move is a rename on one file system, and both are purged after `keep_days`: they
//! hold originals, with identity, which must not pile up.
//!
//! A file is moved only after the outbox holds its de-identified copy. A crash in between
//! leaves it in place, and it is taken again on the next scan: the same de-identified UID,
//! so the outbox queues it once.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

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

/// Takes every settled file under `watch` (hidden names and the `done/` and `quarantine/`
/// folders skipped).
pub fn scan(gateway: &Gateway, watch: &Path) -> Scan {
    let mut result = Scan::default();
    let day = ledger::day_of(ledger::now_ms());
    let walk = walkdir::WalkDir::new(watch)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            let name = e.file_name().to_string_lossy();
            let top = e.depth() == 1 && (name == DONE || name == QUARANTINE);
            !name.starts_with('.') && !top
        });
    for entry in walk.filter_map(Result::ok) {
        if !entry.file_type().is_file() {
            continue;
        }
        let settled = entry
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age >= SETTLE);
        if !settled {
            continue;
        }
        let path = entry.path();
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
        let (to, why) = match gateway.take(&bytes) {
            Taken::Queued { .. } => {
                result.queued += 1;
                (watch.join(DONE).join(&day).join(relative), None)
            }
            Taken::Quarantined(why) | Taken::Unreadable(why) => {
                result.quarantined += 1;
                (watch.join(QUARANTINE).join(&day).join(relative), Some(why))
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
    result
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
