//! De-identified instances waiting to be sent.
//!
//! One file per instance, `<SOP Instance UID>.dcm`, written to a temporary name and renamed
//! into place, so an entry is either whole or absent. The name is the de-identified UID,
//! which the key derives deterministically from the original: the same instance taken twice
//! (a PACS re-sending, a folder file taken again after a crash) lands on the same name and
//! is queued once. An entry is removed only after the server has answered that it stored
//! it; killed in between, the gateway sends it again and the server, which deduplicates by
//! content, keeps it once. So a kill at any point loses and doubles nothing. Like DCMTK's
//! `storescp`, entries are not synced one by one: a power cut may lose the last seconds.
//!
//! Instances the server refused for good are moved to `rejected/` with the reason beside
//! them; they are de-identified, so they may be kept for the operator to look at.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("outbox {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{0:?} is not a UID the outbox can name a file after")]
    BadUid(String),
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> OutboxError + '_ {
    move |source| OutboxError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A temporary file older than this belongs to no live write.
const STALE_TMP: std::time::Duration = std::time::Duration::from_secs(600);

pub struct Outbox {
    dir: PathBuf,
    rejected: PathBuf,
}

/// One waiting instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub uid: String,
    pub bytes: u64,
    queued: SystemTime,
}

impl Entry {
    pub fn path(&self, outbox: &Outbox) -> PathBuf {
        outbox.dir.join(format!("{}.dcm", self.uid))
    }
}

/// A UID as a file name: digits and dots, as PS3.5 allows, at most 64 characters.
fn valid_uid(uid: &str) -> bool {
    !uid.is_empty()
        && uid.len() <= 64
        && uid.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && !uid.starts_with('.')
}

impl Outbox {
    pub fn open(state_dir: &Path) -> Result<Outbox, OutboxError> {
        let dir = state_dir.join("outbox");
        let rejected = state_dir.join("rejected");
        for d in [&dir, &rejected] {
            fs::create_dir_all(d).map_err(io_at(d))?;
        }
        // Temporary files of a write that a crash cut short were never answered for. Only
        // old ones: another gateway process on the same state (a `send` beside `run`) may
        // be writing the young ones.
        for entry in fs::read_dir(&dir).map_err(io_at(&dir))? {
            let entry = entry.map_err(io_at(&dir))?;
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_none_or(|age| age > STALE_TMP);
            if entry.file_name().to_string_lossy().starts_with(".tmp-") && stale {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(Outbox { dir, rejected })
    }

    /// Queues `bytes`, the de-identified instance `uid`. Returns whether it was new (not
    /// already waiting).
    pub fn put(&self, uid: &str, bytes: &[u8]) -> Result<bool, OutboxError> {
        if !valid_uid(uid) {
            return Err(OutboxError::BadUid(uid.to_owned()));
        }
        let path = self.dir.join(format!("{uid}.dcm"));
        let fresh = !path.exists();
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).map_err(|e| OutboxError::Io {
            path: self.dir.clone(),
            source: io::Error::other(e.to_string()),
        })?;
        let tmp = self.dir.join(format!(
            ".tmp-{}",
            nonce.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ));
        let written = fs::File::create(&tmp).and_then(|mut f| f.write_all(bytes));
        if let Err(e) = written.and_then(|()| fs::rename(&tmp, &path)) {
            let _ = fs::remove_file(&tmp);
            return Err(io_at(&path)(e));
        }
        Ok(fresh)
    }

    /// Every waiting instance, oldest first.
    pub fn waiting(&self) -> Result<Vec<Entry>, OutboxError> {
        let mut entries = Vec::new();
        for e in fs::read_dir(&self.dir).map_err(io_at(&self.dir))? {
            let e = e.map_err(io_at(&self.dir))?;
            let name = e.file_name();
            let Some(uid) = name.to_str().and_then(|n| n.strip_suffix(".dcm")) else {
                continue;
            };
            if !valid_uid(uid) {
                continue;
            }
            // Removed by another sender since the listing: no longer waiting.
            let Ok(meta) = e.metadata() else { continue };
            entries.push(Entry {
                uid: uid.to_owned(),
                bytes: meta.len(),
                queued: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            });
        }
        entries.sort_by(|a, b| a.queued.cmp(&b.queued).then_with(|| a.uid.cmp(&b.uid)));
        Ok(entries)
    }

    pub fn read(&self, entry: &Entry) -> Result<Vec<u8>, OutboxError> {
        let path = entry.path(self);
        fs::read(&path).map_err(io_at(&path))
    }

    /// The server stored it.
    pub fn sent(&self, entry: &Entry) -> Result<(), OutboxError> {
        let path = entry.path(self);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_at(&path)(e)),
        }
    }

    /// The server refused it for good: kept in `rejected/` with the reason.
    pub fn reject(&self, entry: &Entry, why: &str) -> Result<(), OutboxError> {
        let to = self.rejected.join(format!("{}.dcm", entry.uid));
        let note = self.rejected.join(format!("{}.why.txt", entry.uid));
        fs::write(&note, format!("{why}\n")).map_err(io_at(&note))?;
        match fs::rename(entry.path(self), &to) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_at(&to)(e)),
        }
    }

    pub fn rejected_count(&self) -> usize {
        fs::read_dir(&self.rejected)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".dcm"))
                    .count()
            })
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_instance_is_queued_once_and_leaves_only_when_sent_or_rejected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outbox = Outbox::open(dir.path()).expect("open");
        assert!(outbox.put("2.25.1", b"one").expect("put"));
        assert!(!outbox.put("2.25.1", b"one").expect("again"), "queued once");
        assert!(outbox.put("2.25.2", b"two!").expect("put"));
        assert!(outbox.put("../../etc/passwd", b"x").is_err());
        let waiting = outbox.waiting().expect("list");
        assert_eq!(waiting.len(), 2);
        assert_eq!(
            outbox.read(&waiting[0]).expect("read").len() as u64,
            waiting[0].bytes
        );
        outbox.sent(&waiting[0]).expect("sent");
        outbox.sent(&waiting[0]).expect("sent twice is no error");
        outbox
            .reject(&waiting[1], "refused: not a chest image")
            .expect("reject");
        assert!(outbox.waiting().expect("list").is_empty());
        assert_eq!(outbox.rejected_count(), 1);
        // A half-written temporary file is never listed as waiting.
        fs::write(dir.path().join("outbox/.tmp-dead"), b"half").expect("write");
        let outbox = Outbox::open(dir.path()).expect("reopen");
        assert!(outbox.waiting().expect("list").is_empty());
    }
}
