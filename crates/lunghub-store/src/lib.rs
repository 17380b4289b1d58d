//! lunghub's storage: the catalog (the single source of truth about every image) and the
//! content-addressed blob store that holds the de-identified bytes.
//!
//! The catalog runs on SQLite in the data directory by default, or on PostgreSQL when given
//! a `postgres://` URL: one schema (`migrations/`, embedded and run at start-up) and one code
//! path serve both, through sqlx's `Any` driver.
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
//! Crash safety comes from the order of writes: a blob is written, synced and renamed into
//! place before the catalog row that names it is committed, and every insert is idempotent
//! (keys are content hashes). A crash can leave at most a blob without a row, which the next
//! run of the same input completes.

mod blobs;
mod catalog;

pub use blobs::LocalBlobs;
pub use catalog::{Backend, Catalog, InsertOutcome, ItemDetail, LabelRow, NewItem, Summary};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("catalog database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("catalog migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("blob store I/O error at {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("blob {0} is not in the store")]
    MissingBlob(String),
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
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
        let name = format!("lunghub_test_{}_{}", std::process::id(), crate::catalog_nanos());
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await?;
        conn.close().await?;
        let base = admin_url.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin_url);
        Ok(format!("{base}/{name}"))
    }
}

fn catalog_nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}
