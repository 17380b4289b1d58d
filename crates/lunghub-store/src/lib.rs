//! lunghub's storage: the catalog (the single source of truth about every image) and the
//! content-addressed blob store that holds the de-identified bytes.
//!
//! The catalog runs on SQLite in the data directory by default, or on PostgreSQL when given
//! a `postgres://` URL: one schema (`migrations/`, embedded and run at start-up) and one code
//! path serve both, through sqlx's `Any` driver. Blobs live in a local directory
//! ([`LocalBlobs`]) or in an S3-compatible bucket ([`S3Blobs`]), behind one [`Blobs`] API.
//!
//! ```no_run
//! # async fn demo() -> Result<(), lunghub_store::StoreError> {
//! use lunghub_store::{Catalog, LocalBlobs};
//! let dir = std::path::Path::new("lunghub-data");
//! let catalog = Catalog::open(&Catalog::sqlite_url(dir)).await?;
//! let blobs = LocalBlobs::new(dir.join("blobs"))?;
//! let id = blobs.put(b"de-identified bytes")?;
//! assert!(blobs.contains(&id));
//! println!("{} items", catalog.summary().await?.items);
//! # Ok(()) }
//! ```
//!
//! Crash safety comes from the order of writes: a blob is written and renamed into place
//! (or PUT, atomically, into its bucket), [`Blobs::sync`] makes it durable, and only then is
//! the catalog row that names it committed; every insert is idempotent (keys are content
//! hashes). A crash can leave at most a blob without a row, which the next
//! run of the same input completes.

mod blobs;
mod catalog;
pub mod challenges;
pub mod consent;
pub mod mail;
pub mod moderation;
pub mod news;
pub mod platform;
mod releases;
mod review;
mod s3;

use std::path::Path;

pub use blobs::LocalBlobs;
pub use catalog::{
    Admission, Catalog, HashedItem, InsertOutcome, ItemDetail, LabelRow, NewItem, Summary, now_ns,
    site_slug,
};
pub use platform::Platform;
pub use releases::{ReleaseCandidate, ReleaseItem, ReleaseRecord};
pub use review::{QueueItem, QueueReason, ReadRow, Site, Upload, UploadFile};
pub use s3::S3Blobs;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("catalog database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("catalog migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("blob store I/O error at {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("blob {0} is not in the store")]
    MissingBlob(String),
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error(
        "unsupported blob store URL {0:?}: use s3://BUCKET or s3://BUCKET/PREFIX, or none for the data directory"
    )]
    UnsupportedBlobUrl(String),
    #[error("S3 blob store error: {0}")]
    ObjectStore(#[from] object_store::Error),
    #[error("cannot start the S3 blob store's I/O runtime: {0}")]
    Runtime(std::io::Error),
    #[error("{0}")]
    Conflict(String),
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("the system's random number source failed: {0}")]
    Random(String),
}

/// The blob store a deployment uses: a local directory or an S3-compatible bucket, chosen
/// once at start-up and used the same way everywhere after.
#[derive(Debug)]
pub enum Blobs {
    Local(LocalBlobs),
    S3(S3Blobs),
}

impl Blobs {
    /// `DATA_DIR/blobs` without a URL, or the bucket an `s3://BUCKET[/PREFIX]` URL names.
    pub fn open(data_dir: &Path, blob_url: Option<&str>) -> Result<Blobs, StoreError> {
        match blob_url {
            None => Ok(Blobs::Local(LocalBlobs::new(data_dir.join("blobs"))?)),
            Some(url) if url.starts_with("s3://") => Ok(Blobs::S3(S3Blobs::from_url(url)?)),
            Some(url) => Err(StoreError::UnsupportedBlobUrl(url.to_owned())),
        }
    }

    /// Stores `bytes` and returns their id (their sha256). Storing the same bytes twice is a no-op.
    pub fn put(&self, bytes: &[u8]) -> Result<String, StoreError> {
        match self {
            Blobs::Local(b) => b.put(bytes),
            Blobs::S3(b) => b.put(bytes),
        }
    }

    /// Makes every blob put so far durable; call it before committing catalog rows that
    /// name them. (An S3 PUT is durable when it returns.)
    pub fn sync(&self) -> Result<(), StoreError> {
        match self {
            Blobs::Local(b) => b.sync(),
            Blobs::S3(_) => Ok(()),
        }
    }

    pub fn get(&self, id: &str) -> Result<Vec<u8>, StoreError> {
        match self {
            Blobs::Local(b) => b.get(id),
            Blobs::S3(b) => b.get(id),
        }
    }

    /// Deletes a blob (one that held identity, say); deleting a missing one is no error.
    pub fn remove(&self, id: &str) -> Result<(), StoreError> {
        match self {
            Blobs::Local(b) => b.remove(id),
            Blobs::S3(b) => b.remove(id),
        }
    }

    pub fn contains(&self, id: &str) -> bool {
        match self {
            Blobs::Local(b) => b.contains(id),
            Blobs::S3(b) => b.contains(id),
        }
    }

    /// Removes leftovers of interrupted writes and returns how many there were.
    pub fn clean_partial_writes(&self) -> Result<usize, StoreError> {
        match self {
            Blobs::Local(b) => b.clean_partial_writes(),
            Blobs::S3(b) => b.clean_partial_writes(),
        }
    }

    /// Every blob id in the store, sorted.
    pub fn ids(&self) -> Result<Vec<String>, StoreError> {
        match self {
            Blobs::Local(b) => b.ids(),
            Blobs::S3(b) => b.ids(),
        }
    }
}

/// Support for tests that need a database of their own.
pub mod testing {
    use sqlx::Connection;

    use crate::StoreError;

    /// Creates an empty PostgreSQL database next to the one `admin_url` names and returns
    /// its URL. Each test gets its own, so tests can run in parallel.
    pub async fn fresh_postgres_database(admin_url: &str) -> Result<String, StoreError> {
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(admin_url).await?;
        let name = format!(
            "lunghub_test_{}_{}",
            std::process::id(),
            crate::catalog_nanos()
        );
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        let base = admin_url
            .rsplit_once('/')
            .map(|(b, _)| b)
            .unwrap_or(admin_url);
        Ok(format!("{base}/{name}"))
    }
}

fn catalog_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_without_url_is_the_local_store_in_the_data_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs = Blobs::open(dir.path(), None).expect("open");
        assert!(matches!(blobs, Blobs::Local(_)));
        assert_eq!(
            blobs.ids().expect("ids of an empty store"),
            Vec::<String>::new()
        );
        let mut put: Vec<String> = [&b"one"[..], b"two", b"three", b"one"]
            .iter()
            .map(|bytes| blobs.put(bytes).expect("put"))
            .collect();
        put.sort_unstable();
        put.dedup();
        assert!(
            dir.path()
                .join("blobs")
                .join(&put[0][0..2])
                .join(&put[0])
                .is_file()
        );
        // Leftovers and strangers are not blobs.
        let half = format!(".partial-{}.1.0", put[0]);
        std::fs::write(
            dir.path().join("blobs").join(&put[0][0..2]).join(half),
            b"half",
        )
        .expect("leftover");
        std::fs::write(dir.path().join("blobs").join("notes.txt"), b"x").expect("stranger");
        std::fs::write(
            dir.path().join("blobs").join(&put[1][0..2]).join(&put[0]),
            b"one",
        )
        .expect("misplaced");
        assert_eq!(blobs.ids().expect("ids"), put);
        assert!(blobs.contains(&put[1]));
        let two = blobs::blob_id(b"two");
        assert!(put.contains(&two));
        assert_eq!(blobs.get(&two).expect("get"), b"two");
        assert_eq!(blobs.clean_partial_writes().expect("clean"), 1);
        assert_eq!(blobs.ids().expect("ids after cleaning"), put);
    }

    #[test]
    fn open_refuses_urls_it_does_not_know() {
        let dir = tempfile::tempdir().expect("tempdir");
        for url in [
            "gs://bucket",
            "/srv/blobs",
            "s3://",
            "s3:///prefix",
            "S3://bucket",
        ] {
            match Blobs::open(dir.path(), Some(url)) {
                Err(StoreError::UnsupportedBlobUrl(u)) => assert_eq!(u, url),
                other => panic!("{url}: expected UnsupportedBlobUrl, got {other:?}"),
            }
        }
    }
}
