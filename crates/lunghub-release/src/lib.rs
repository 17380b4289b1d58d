//! Versioned open datasets: a release freezes a selection of approved items, split by
//! patient, into a folder that real tools load as it is.
//!
//! - [`selection`]: which approved items a release takes.
//! - [`plan`]: which items, under which names, in which split (`lunghub_domain::split`).
//! - [`write`]: the folder: images, the torchxrayvision, ImageFolder, COVIDx, Croissant and
//!   DICOM exports, the card ([`card`]), the changelog and the manifest ([`manifest`]).
//! - [`archive`]: a release streamed as .tar.gz or .zip, from a folder or from the blob
//!   store ([`archive::Published`]).
//! - [`create`]: all of it against the catalog: staged, published into the blob store
//!   under sha256 names, and frozen in the catalog.

pub mod archive;
pub mod card;
mod create;
pub mod croissant;
pub mod dicomdir;
pub mod manifest;
pub mod plan;
pub mod selection;
pub mod write;

pub use create::{Progress, Request, Staging, create, parse_licences, parse_shares};
pub use plan::Plan;
pub use selection::Selection;

pub use dicomdir::{DICOMDIR, DicomdirError, Instance};
pub use manifest::{MANIFEST, Manifest, ManifestError, Verified};

/// The sha256 of a release's SHA256SUMS: the name of the release in the blob store and in
/// its record.
pub fn manifest_sha256(manifest_text: &[u8]) -> String {
    use sha2::Digest;
    write::hex(&sha2::Sha256::digest(manifest_text))
}

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// Something the person asked for cannot be done as asked.
    #[error("{0}")]
    Input(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] lunghub_store::StoreError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("item {item}: cannot render it as PNG: {reason}")]
    Image { item: String, reason: String },
}
