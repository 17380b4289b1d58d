//! Versioned open datasets (issue 6). What exists so far: the manifest of a release and the
//! check of a download against it ([`manifest`]); the splits are `lunghub_domain::split`.
//! Freezing a release from the catalog, the dataset card and the
//! exports are still to come.

pub mod manifest;

pub use manifest::{MANIFEST, Manifest, ManifestError, Verified};
