//! A release as one .tar.gz or .zip, written as a stream: one file at a time goes from its
//! source (a folder, or the blob store for a published release) to the writer, so a release
//! of any size costs one file's worth of memory, and the writer can be an HTTP response. The
//! archive is the same bytes every time: files in path order, times fixed, owners and modes
//! fixed.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::write::{hex, io};
use crate::{MANIFEST, Manifest, ReleaseError};

/// Where an archive's files come from.
pub trait Source {
    /// Every file, as a path relative to the release's root with `/`, in path order.
    fn names(&self) -> Result<Vec<String>, ReleaseError>;
    fn read(&self, name: &str) -> Result<Vec<u8>, ReleaseError>;
}

/// A release's files in a folder on disk.
pub struct Folder(pub PathBuf);

impl Source for Folder {
    fn names(&self) -> Result<Vec<String>, ReleaseError> {
        Ok(files_of(&self.0)?
            .into_iter()
            .map(|(name, _)| name)
            .collect())
    }

    fn read(&self, name: &str) -> Result<Vec<u8>, ReleaseError> {
        let path = self.0.join(name);
        std::fs::read(&path).map_err(|e| io(&path, e))
    }
}

/// A published release: its manifest, and the blob store that holds each file under its
/// sha256. Every file read is checked against the manifest.
pub struct Published<'a> {
    pub manifest: Manifest,
    /// The text of SHA256SUMS, itself a blob named by its sha256.
    pub manifest_text: Vec<u8>,
    pub blobs: &'a lunghub_store::Blobs,
}

impl<'a> Published<'a> {
    /// Opens the release whose SHA256SUMS has this sha256.
    pub fn open(
        blobs: &'a lunghub_store::Blobs,
        manifest_sha256: &str,
    ) -> Result<Self, ReleaseError> {
        let manifest_text = blobs.get(manifest_sha256)?;
        let text = std::str::from_utf8(&manifest_text).map_err(|_| {
            ReleaseError::Input(format!("{MANIFEST} {manifest_sha256} is not UTF-8"))
        })?;
        Ok(Published {
            manifest: Manifest::parse(text)?,
            manifest_text,
            blobs,
        })
    }

    /// Writes every file under `dir` (which must not hold the release already).
    pub fn export(&self, dir: &Path) -> Result<usize, ReleaseError> {
        let names = self.names()?;
        for name in &names {
            let path = dir.join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
            }
            std::fs::write(&path, self.read(name)?).map_err(|e| io(&path, e))?;
        }
        Ok(names.len())
    }
}

impl Source for Published<'_> {
    fn names(&self) -> Result<Vec<String>, ReleaseError> {
        let mut names: Vec<String> = self.manifest.files.keys().cloned().collect();
        names.push(MANIFEST.to_owned());
        names.sort();
        Ok(names)
    }

    fn read(&self, name: &str) -> Result<Vec<u8>, ReleaseError> {
        if name == MANIFEST {
            return Ok(self.manifest_text.clone());
        }
        let sha = self
            .manifest
            .files
            .get(name)
            .ok_or_else(|| ReleaseError::Input(format!("{name} is not in this release")))?;
        let bytes = self.blobs.get(sha)?;
        if hex(&Sha256::digest(&bytes)) != *sha {
            return Err(ReleaseError::Input(format!(
                "the blob of {name} does not match its sha256 {sha}"
            )));
        }
        Ok(bytes)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    TarGz,
    Zip,
}

impl Format {
    pub fn parse(ext: &str) -> Option<Format> {
        match ext {
            "tar.gz" | "tgz" => Some(Format::TarGz),
            "zip" => Some(Format::Zip),
            _ => None,
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::TarGz => "tar.gz",
            Format::Zip => "zip",
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            Format::TarGz => "application/gzip",
            Format::Zip => "application/zip",
        }
    }
}

/// The files of a folder, as (path relative to it with `/`, full path), in path order.
pub fn files_of(dir: &Path) -> Result<Vec<(String, PathBuf)>, ReleaseError> {
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.map_err(|e| ReleaseError::Input(e.to_string()))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(dir)
            .map_err(|e| ReleaseError::Input(e.to_string()))?;
        let name = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        files.push((name, entry.path().to_path_buf()));
    }
    files.sort();
    Ok(files)
}

/// Writes the files of `source` into `out` as an archive whose paths start with `prefix/`.
pub fn write<W: Write>(
    source: &dyn Source,
    prefix: &str,
    format: Format,
    out: W,
) -> Result<(), ReleaseError> {
    let names = source.names()?;
    let pipe = |e: io::Error| io(Path::new("(archive output)"), e);
    match format {
        Format::TarGz => {
            let gz = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
            let mut tar = tar::Builder::new(gz);
            tar.mode(tar::HeaderMode::Deterministic);
            for name in &names {
                let bytes = source.read(name)?;
                let mut header = tar::Header::new_gnu();
                header.set_size(bytes.len() as u64);
                header.set_mode(0o644);
                header.set_mtime(0);
                header.set_uid(0);
                header.set_gid(0);
                header.set_entry_type(tar::EntryType::Regular);
                tar.append_data(&mut header, format!("{prefix}/{name}"), bytes.as_slice())
                    .map_err(pipe)?;
            }
            tar.into_inner()
                .map_err(pipe)?
                .finish()
                .map_err(pipe)?
                .flush()
                .map_err(pipe)?;
        }
        Format::Zip => {
            use zip::write::SimpleFileOptions;
            let mut zip = zip::ZipWriter::new_stream(out);
            for name in &names {
                let bytes = source.read(name)?;
                let len = bytes.len() as u64;
                // PNGs and DICOM pixel data are compressed already: storing them saves
                // the CPU for nothing lost.
                let method = if name.ends_with(".png") || name.contains("/DICOM/") {
                    zip::CompressionMethod::Stored
                } else {
                    zip::CompressionMethod::Deflated
                };
                let options = SimpleFileOptions::default()
                    .compression_method(method)
                    .last_modified_time(zip::DateTime::default())
                    .unix_permissions(0o644)
                    .large_file(len >= u64::from(u32::MAX));
                zip.start_file(format!("{prefix}/{name}"), options)
                    .map_err(|e| ReleaseError::Input(format!("cannot write the zip: {e}")))?;
                zip.write_all(&bytes).map_err(pipe)?;
            }
            zip.finish()
                .map_err(|e| ReleaseError::Input(format!("cannot write the zip: {e}")))?;
        }
    }
    Ok(())
}
