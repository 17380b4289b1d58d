//! A release folder as one .tar.gz or .zip, written as a stream: one file at a time goes
//! from disk to the writer, so a release of any size costs a buffer's worth of memory, and
//! the writer can be an HTTP response. The archive is the same bytes every time: files in
//! path order, times fixed, owners and modes fixed.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::ReleaseError;
use crate::write::io;

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

/// Writes `dir` into `out` as an archive whose paths start with `prefix/`.
pub fn write<W: Write>(
    dir: &Path,
    prefix: &str,
    format: Format,
    out: W,
) -> Result<(), ReleaseError> {
    let files = files_of(dir)?;
    let pipe = |e: io::Error| io(Path::new("(archive output)"), e);
    match format {
        Format::TarGz => {
            let gz = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
            let mut tar = tar::Builder::new(gz);
            tar.mode(tar::HeaderMode::Deterministic);
            for (name, path) in &files {
                let mut file = File::open(path).map_err(|e| io(path, e))?;
                let len = file.metadata().map_err(|e| io(path, e))?.len();
                let mut header = tar::Header::new_gnu();
                header.set_size(len);
                header.set_mode(0o644);
                header.set_mtime(0);
                header.set_uid(0);
                header.set_gid(0);
                header.set_entry_type(tar::EntryType::Regular);
                tar.append_data(&mut header, format!("{prefix}/{name}"), &mut file)
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
            for (name, path) in &files {
                let mut file = File::open(path).map_err(|e| io(path, e))?;
                let len = file.metadata().map_err(|e| io(path, e))?.len();
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
                io::copy(&mut file, &mut zip).map_err(pipe)?;
            }
            zip.finish()
                .map_err(|e| ReleaseError::Input(format!("cannot write the zip: {e}")))?;
        }
    }
    Ok(())
}
