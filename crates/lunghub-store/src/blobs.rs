//! The local, content-addressed blob store: `ROOT/ab/abcd…` by sha256.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use crate::StoreError;

/// Blobs in a local directory, sharded one level deep (256 directories) by their sha256.
///
/// A blob is written to a `.partial-…` file beside its final name and renamed, so a crash
/// never leaves a half-written blob that looks complete. One level, like git's objects: a
/// second level cost two `mkdir`s per blob on a young store, and the temporary files sit
/// in the blob's own directory because a rename across directories takes the file system's
/// global rename lock; together these were two thirds of intake's time on 1,385 X-rays. A blob is never renamed or changed once in
/// place. Durability is batched: [`LocalBlobs::sync`] makes everything put so far durable
/// with one `syncfs`, and callers call it before they commit anything that names the blobs
/// (one fsync per blob cost the intake pipeline 40% of its time).
#[derive(Debug)]
pub struct LocalBlobs {
    root: PathBuf,
    counter: AtomicU64,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The sha256 of `bytes` in lowercase hex: a blob's id.
pub fn blob_id(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `name` has the form of a blob id: 64 lowercase hex digits.
pub(crate) fn is_blob_id(name: &str) -> bool {
    name.len() == 64 && is_lower_hex(name)
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Prefix of the temporary file a blob is written to before it is renamed into place.
const PARTIAL: &str = ".partial-";

/// The local shard directory a blob id is filed under: its first two digits.
fn shard(id: &str) -> &str {
    id.get(0..2).unwrap_or("__")
}

/// The two key levels an S3 blob is filed under: its first and second pair of digits.
pub(crate) fn shards(id: &str) -> (&str, &str) {
    (id.get(0..2).unwrap_or("__"), id.get(2..4).unwrap_or("__"))
}

impl LocalBlobs {
    pub fn new(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(io(&root))?;
        Ok(LocalBlobs {
            root,
            counter: AtomicU64::new(0),
        })
    }

    pub fn path_of(&self, id: &str) -> PathBuf {
        self.root.join(shard(id)).join(id)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.path_of(id).is_file()
    }

    /// Stores `bytes` and returns their id. Storing the same bytes twice is a no-op.
    pub fn put(&self, bytes: &[u8]) -> Result<String, StoreError> {
        let id = blob_id(bytes);
        let target = self.path_of(&id);
        // A blob already in place is trusted only if it is whole: after a power cut, a blob
        // that was never synced could have lost its data.
        if fs::metadata(&target).is_ok_and(|m| m.is_file() && m.len() == bytes.len() as u64) {
            return Ok(id);
        }
        let dir = target.parent().unwrap_or(&self.root).to_path_buf();
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!("{PARTIAL}{id}.{}.{n}", std::process::id()));
        let mut file = fs::File::create(&tmp).map_err(io(&tmp))?;
        file.write_all(bytes).map_err(io(&tmp))?;
        drop(file);
        fs::rename(&tmp, &target).map_err(io(&target))?;
        Ok(id)
    }

    /// Makes every blob put so far durable (data and names), with one `syncfs` of the
    /// file system that holds the store.
    pub fn sync(&self) -> Result<(), StoreError> {
        let root = fs::File::open(&self.root).map_err(io(&self.root))?;
        rustix::fs::syncfs(&root).map_err(|e| io(&self.root)(e.into()))
    }

    /// Deletes a blob; deleting one that is not there is not an error.
    pub fn remove(&self, id: &str) -> Result<(), StoreError> {
        let path = self.path_of(id);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&path)(e)),
        }
    }

    pub fn get(&self, id: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.path_of(id);
        match fs::read(&path) {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StoreError::MissingBlob(id.to_owned()))
            }
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// Every blob id in the store, sorted. Partial writes and anything else that is not a
    /// blob at its content address are left out.
    pub fn ids(&self) -> Result<Vec<String>, StoreError> {
        let mut ids = Vec::new();
        for dir in shard_dirs(&self.root)? {
            for entry in fs::read_dir(&dir).map_err(io(&dir))? {
                let entry = entry.map_err(io(&dir))?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                if is_blob_id(name) && entry.path() == self.path_of(name) && entry.path().is_file()
                {
                    ids.push(name.to_owned());
                }
            }
        }
        ids.sort_unstable();
        Ok(ids)
    }

    /// Removes leftovers of interrupted writes (never a complete blob).
    pub fn clean_partial_writes(&self) -> Result<usize, StoreError> {
        let mut removed = 0;
        for dir in shard_dirs(&self.root)? {
            for entry in fs::read_dir(&dir).map_err(io(&dir))? {
                let entry = entry.map_err(io(&dir))?;
                if entry
                    .file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with(PARTIAL))
                {
                    fs::remove_file(entry.path()).map_err(io(&dir))?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

/// The subdirectories of `dir` named like a shard (two lowercase hex digits).
fn shard_dirs(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let mut dirs = Vec::new();
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name();
        let is_shard = name
            .to_str()
            .is_some_and(|n| n.len() == 2 && is_lower_hex(n));
        if is_shard && entry.file_type().map_err(io(dir))?.is_dir() {
            dirs.push(entry.path());
        }
    }
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_are_content_addressed_and_idempotent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalBlobs::new(dir.path()).expect("store");
        let id = store.put(b"hello").expect("put");
        assert_eq!(
            id,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(store.put(b"hello").expect("again"), id);
        assert!(
            store
                .path_of(&id)
                .ends_with("2c/2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
        );
        assert_eq!(store.get(&id).expect("get"), b"hello");
        assert!(matches!(store.get("00ff"), Err(StoreError::MissingBlob(_))));
        assert_eq!(store.clean_partial_writes().expect("clean"), 0);
    }
}
