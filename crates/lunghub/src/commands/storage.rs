//! Where lunghub keeps its catalog and blobs: shared by every command that touches them.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use lunghub_deid::SiteDeidentifiers;
use lunghub_intake::{Intake, IntakeService};
use lunghub_store::{Blobs, Catalog};

use super::deid::{load_profile, server_secret};

#[derive(Args, Clone)]
pub struct StorageArgs {
    /// Directory for the SQLite catalog, the blobs (released datasets' files among them),
    /// and the DICOM route's spool of files accepted and not yet catalogued
    #[arg(
        long,
        env = "LUNGHUB_DATA_DIR",
        default_value = "./lunghub-data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// Catalog database (postgres://… or sqlite://…); default: SQLite in the data directory
    #[arg(
        long,
        env = "LUNGHUB_DATABASE_URL",
        hide_env_values = true,
        global = true
    )]
    pub database_url: Option<String>,
    /// Blob store: s3://BUCKET[/PREFIX] (endpoint and credentials from the AWS_* environment
    /// variables); default: DATA_DIR/blobs
    #[arg(long, env = "LUNGHUB_BLOB_URL", global = true)]
    pub blob_url: Option<String>,
}

impl StorageArgs {
    pub async fn catalog(&self) -> Result<Catalog> {
        let url = self
            .database_url
            .clone()
            .unwrap_or_else(|| Catalog::sqlite_url(&self.data_dir));
        Catalog::open(&url)
            .await
            .with_context(|| format!("cannot open the catalog at {}", redact(&url)))
    }

    /// Where the DICOM route keeps files it has answered for until they are catalogued.
    pub fn spool_dir(&self) -> PathBuf {
        self.data_dir.join("spool")
    }

    /// Where releases are written before their files go into the blob store.
    pub fn release_staging(&self) -> lunghub_release::Staging {
        lunghub_release::Staging::new(self.data_dir.join("release-staging"))
    }

    pub fn blobs(&self) -> Result<Blobs> {
        Blobs::open(&self.data_dir, self.blob_url.as_deref()).context("cannot open the blob store")
    }
}

/// How files are de-identified and compared on the way in: shared by every command that
/// runs the intake pipeline.
#[derive(Args, Clone)]
pub struct PipelineArgs {
    /// De-identification profile (TOML); default: lunghub's
    #[arg(long)]
    pub profile: Option<PathBuf>,
    /// The server's secret (64 hex characters), from which each site's own key is derived;
    /// default: server.key in the configuration directory
    #[arg(long, alias = "site-key")]
    pub server_key: Option<PathBuf>,
    /// Perceptual-hash distance (bits of 256) at or under which two images are near-duplicates
    #[arg(long, default_value_t = 24)]
    pub near_duplicate_bits: u32,
}

impl PipelineArgs {
    /// The intake pipeline as a service for the network routes, with a word about files an
    /// earlier run accepted and had not catalogued.
    pub async fn service(&self, storage: &StorageArgs) -> Result<Arc<IntakeService>> {
        let intake = self.intake(storage).await?;
        let spool = storage.spool_dir();
        let service = IntakeService::start(intake, &spool)
            .await
            .context("cannot start the intake pipeline")?;
        let left = service.backlog();
        if left > 0 {
            println!(
                "cataloguing {left} files accepted by an earlier run (in {})",
                spool.display()
            );
        }
        Ok(service)
    }

    pub async fn intake(&self, storage: &StorageArgs) -> Result<Intake> {
        let profile_name = self
            .profile
            .as_ref()
            .map(|p| {
                p.file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .unwrap_or_else(|| "lunghub-default".into());
        let profile = load_profile(self.profile.as_deref())?;
        let secret = server_secret(self.server_key.as_deref())?;
        let catalog = storage.catalog().await?;
        let blobs = storage.blobs()?;
        blobs.clean_partial_writes()?;
        let deid = SiteDeidentifiers::new(profile, secret)?;
        for site in catalog.sites().await? {
            if let Some(f) = &site.gateway_fingerprint {
                deid.set_gateway(&site.id, Some(f));
            }
        }
        Ok(Intake {
            deid,
            catalog,
            blobs,
            profile_name,
            near_duplicate_bits: self.near_duplicate_bits,
        })
    }
}

/// A database URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..s + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}
