//! Unpacking ZIP archives before intake, with the limits an upload from the internet needs.
//!
//! Archives are extracted into a scratch folder inside the data directory (they hold
//! originals, with identity, so nothing else may read them) and that folder is removed when
//! intake is done, or at the start of the next run after a crash. The extracted folder is
//! then read like any other input, so a zipped dataset keeps its metadata CSV.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Bounds on what one archive may unpack to.
#[derive(Debug, Clone, Copy)]
pub struct ArchiveLimits {
    pub max_entries: usize,
    /// Bytes written for one archive, the archives inside it included.
    pub max_total_bytes: u64,
    /// Uncompressed size over compressed size beyond which an entry counts as a bomb.
    pub max_ratio: u64,
    /// Archives inside archives, this deep at most.
    pub max_depth: u32,
}

impl ArchiveLimits {
    /// What a web upload may unpack to: one upload is at most 512 MiB, and writes at most
    /// 4 GiB (the folder ingest of a whole dataset, run by an operator, keeps the default).
    pub fn for_upload() -> ArchiveLimits {
        ArchiveLimits {
            max_total_bytes: 4 << 30,
            ..ArchiveLimits::default()
        }
    }
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        ArchiveLimits {
            max_entries: 100_000,
            max_total_bytes: 16 << 30,
            max_ratio: 200,
            max_depth: 3,
        }
    }
}

/// An entry or an archive that was not unpacked, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveIssue {
    pub archive: String,
    pub entry: Option<String>,
    pub reason: String,
}

/// Where an archive's content ended up.
#[derive(Debug, Clone)]
pub struct Unpacked {
    /// The folder holding the extracted entries.
    pub root: PathBuf,
    /// How to name a file under `root` in reports: `archive.zip!` followed by the entry.
    pub label: String,
}

pub fn is_zip(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"PK\x03\x04"
}

/// Unpacks `archive` (and archives inside it) under `scratch`. Problems with single entries
/// are reported and skipped; an archive that breaks a limit as a whole is abandoned. What is
/// written, nested archives included, counts against one `limits.max_total_bytes`.
pub fn unpack(
    archive: &Path,
    label: &str,
    scratch: &Path,
    limits: &ArchiveLimits,
    depth: u32,
    issues: &mut Vec<ArchiveIssue>,
) -> Vec<Unpacked> {
    let mut written = 0;
    unpack_counting(archive, label, scratch, limits, depth, issues, &mut written)
}

/// Whether every entry's local header and data lie after the previous entry's, in the
/// central directory's order, and apart from them. A central directory that points many
/// entries at one local entry (or entries into each other) has its data written many times
/// over, while each entry on its own passes the ratio check: 30 entries on one 10 MB entry
/// made an 85 KB zip write 301 MB.
fn entries_apart<R: Read + io::Seek>(zip: &mut zip::ZipArchive<R>) -> Result<(), String> {
    let mut end = 0u64;
    for i in 0..zip.len() {
        let entry = zip
            .by_index_raw(i)
            .map_err(|e| format!("entry {i} is unreadable: {e}"))?;
        let start = entry.header_start();
        if start < end {
            return Err(format!(
                "entry {i} overlaps the entry before it or comes before it: entries that \
                 share data are refused"
            ));
        }
        end = entry
            .data_start()
            .unwrap_or(start)
            .saturating_add(entry.compressed_size())
            .max(start + 1);
    }
    Ok(())
}

fn unpack_counting(
    archive: &Path,
    label: &str,
    scratch: &Path,
    limits: &ArchiveLimits,
    depth: u32,
    issues: &mut Vec<ArchiveIssue>,
    total: &mut u64,
) -> Vec<Unpacked> {
    let issue = |entry: Option<String>, reason: String| ArchiveIssue {
        archive: label.to_owned(),
        entry,
        reason,
    };
    if depth > limits.max_depth {
        issues.push(issue(
            None,
            format!("archives nested deeper than {} levels", limits.max_depth),
        ));
        return Vec::new();
    }
    let mut zip = match fs::File::open(archive)
        .map_err(|e| e.to_string())
        .and_then(|f| zip::ZipArchive::new(f).map_err(|e| e.to_string()))
    {
        Ok(z) => z,
        Err(e) => {
            issues.push(issue(None, format!("not a readable ZIP archive: {e}")));
            return Vec::new();
        }
    };
    if zip.len() > limits.max_entries {
        issues.push(issue(
            None,
            format!(
                "{} entries, more than the limit of {}",
                zip.len(),
                limits.max_entries
            ),
        ));
        return Vec::new();
    }
    if let Err(why) = entries_apart(&mut zip) {
        issues.push(issue(None, why));
        return Vec::new();
    }
    // `scratch/N/<archive name>/…`: the folder keeps the archive's name, which becomes the
    // source dataset's name.
    let root = scratch
        .join(unique_number().to_string())
        .join(archive_stem(archive));
    if let Err(e) = fs::create_dir_all(&root) {
        issues.push(issue(None, format!("cannot unpack: {e}")));
        return Vec::new();
    }
    let mut out = vec![Unpacked {
        root: root.clone(),
        label: format!("{label}!"),
    }];
    let mut nested = Vec::new();
    for i in 0..zip.len() {
        let mut entry = match zip.by_index(i) {
            Ok(e) => e,
            Err(e) => {
                issues.push(issue(None, format!("entry {i} is unreadable: {e}")));
                continue;
            }
        };
        let name = entry
            .name()
            .map(|n| n.into_owned())
            .unwrap_or_else(|_| format!("entry {i} (undecodable name)"));
        if entry.is_dir() {
            continue;
        }
        // An entry may not leave the folder: absolute names and `..` are refused (zip's
        // enclosed_name() would quietly turn an absolute name into a relative one).
        let absolute =
            name.starts_with('/') || name.starts_with('\\') || name.get(1..2) == Some(":");
        let Some(relative) = entry.enclosed_name().filter(|_| !absolute) else {
            issues.push(issue(
                Some(name),
                "path leaves the archive (absolute or ..): refused".into(),
            ));
            continue;
        };
        if entry.is_symlink() {
            issues.push(issue(Some(name), "symbolic link: refused".into()));
            continue;
        }
        let declared = entry.size();
        let compressed = entry.compressed_size().max(1);
        if declared > 1 << 20 && declared / compressed > limits.max_ratio {
            issues.push(issue(
                Some(name),
                format!(
                    "compression ratio {}:1 is over the limit of {}:1: refused",
                    declared / compressed,
                    limits.max_ratio
                ),
            ));
            continue;
        }
        let budget = limits.max_total_bytes.saturating_sub(*total);
        let target = root.join(&relative);
        let written = target
            .parent()
            .map(fs::create_dir_all)
            .unwrap_or(Ok(()))
            .and_then(|_| fs::File::create(&target))
            // Never trust the declared size: stop reading at the budget whatever it says.
            .and_then(|mut f| {
                io::copy(
                    &mut (&mut entry).take(budget.min(declared.saturating_add(1)) + 1),
                    &mut f,
                )
            });
        match written {
            Ok(n) if n > budget => {
                *total = total.saturating_add(n);
                let _ = fs::remove_file(&target);
                issues.push(issue(
                    Some(name),
                    format!(
                        "the archive unpacks to more than {} bytes: stopped",
                        limits.max_total_bytes
                    ),
                ));
                break;
            }
            Ok(n) if n > declared => {
                *total = total.saturating_add(n);
                let _ = fs::remove_file(&target);
                issues.push(issue(
                    Some(name),
                    "entry is larger than its header says: refused".into(),
                ));
            }
            Ok(n) => {
                *total += n;
                if is_zip(&target) {
                    nested.push((target, format!("{label}!{}", relative.display())));
                }
            }
            Err(e) => {
                let _ = fs::remove_file(&target);
                issues.push(issue(Some(name), format!("cannot unpack: {e}")));
            }
        }
    }
    for (inner, inner_label) in nested {
        out.extend(unpack_counting(
            &inner,
            &inner_label,
            scratch,
            limits,
            depth + 1,
            issues,
            total,
        ));
        let _ = fs::remove_file(&inner);
    }
    out
}

fn unique_number() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

fn archive_stem(path: &Path) -> String {
    let stem: String = path
        .file_stem()
        .map(|s| {
            s.to_string_lossy()
                .chars()
                .filter(|c| c.is_alphanumeric() || "-_.".contains(*c))
                .collect()
        })
        .unwrap_or_default();
    if stem.is_empty() {
        "archive".into()
    } else {
        stem
    }
}

/// The folder to read an unpacked archive from: a single top-level folder (the usual way
/// datasets are zipped) stands for the whole archive.
pub fn content_root(root: &Path) -> PathBuf {
    let entries: Vec<PathBuf> = fs::read_dir(root)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    match entries.as_slice() {
        [only] if only.is_dir() => content_root(only),
        _ => root.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    fn archive(dir: &Path, name: &str, entries: &[(&str, &[u8])]) -> PathBuf {
        let path = dir.join(name);
        let mut w = zip::ZipWriter::new(fs::File::create(&path).expect("create"));
        for (n, data) in entries {
            w.start_file(
                *n,
                SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated),
            )
            .expect("start");
            w.write_all(data).expect("write");
        }
        w.finish().expect("finish");
        path
    }

    #[test]
    fn traversal_bombs_and_nesting_are_refused_and_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let inner = archive(dir.path(), "inner.zip", &[("deep/x.png", b"inner file")]);
        let inner_bytes = fs::read(&inner).expect("read");
        let zeros = vec![0u8; 8 << 20];
        let outer = archive(
            dir.path(),
            "outer.zip",
            &[
                ("ok/a.dcm", b"fine"),
                ("../../etc/evil", b"x"),
                ("/abs/evil", b"x"),
                ("bomb.bin", &zeros),
                ("inner.zip", &inner_bytes),
            ],
        );
        let scratch = dir.path().join("scratch");
        let mut issues = Vec::new();
        let out = unpack(
            &outer,
            "outer.zip",
            &scratch,
            &ArchiveLimits::default(),
            0,
            &mut issues,
        );
        assert_eq!(out.len(), 2, "outer and inner roots");
        assert!(out[0].root.join("ok/a.dcm").is_file());
        assert!(out[1].root.join("deep/x.png").is_file());
        assert_eq!(out[1].label, "outer.zip!inner.zip!");
        let reasons: Vec<_> = issues
            .iter()
            .map(|i| (i.entry.clone().unwrap_or_default(), i.reason.clone()))
            .collect();
        assert_eq!(
            reasons
                .iter()
                .filter(|(_, r)| r.contains("leaves the archive"))
                .count(),
            2,
            "{reasons:?}"
        );
        assert!(
            reasons
                .iter()
                .any(|(e, r)| e == "bomb.bin" && r.contains("compression ratio")),
            "{reasons:?}"
        );
        assert!(!dir.path().join("etc/evil").exists() && !Path::new("/abs/evil").exists());

        let mut issues = Vec::new();
        let shallow = ArchiveLimits {
            max_depth: 0,
            ..ArchiveLimits::default()
        };
        unpack(
            &outer,
            "outer.zip",
            &dir.path().join("s2"),
            &shallow,
            0,
            &mut issues,
        );
        assert!(
            issues.iter().any(|i| i.reason.contains("nested deeper")),
            "{issues:?}"
        );

        let mut issues = Vec::new();
        let few = ArchiveLimits {
            max_entries: 2,
            ..ArchiveLimits::default()
        };
        assert!(
            unpack(
                &outer,
                "outer.zip",
                &dir.path().join("s3"),
                &few,
                0,
                &mut issues
            )
            .is_empty()
        );
        assert!(issues[0].reason.contains("more than the limit"));
    }

    /// A zip whose central directory names `copies` entries that all point at one stored
    /// local entry of `data`.
    fn overlapping(path: &Path, data: &[u8], copies: u16) {
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let (crc, size) = (crc.sum(), data.len() as u32);
        let mut zip = Vec::new();
        let name = b"x.bin";
        zip.extend(0x0403_4b50u32.to_le_bytes());
        zip.extend([10, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // version, flags, stored, time, date
        zip.extend(crc.to_le_bytes());
        zip.extend(size.to_le_bytes());
        zip.extend(size.to_le_bytes());
        zip.extend((name.len() as u16).to_le_bytes());
        zip.extend(0u16.to_le_bytes());
        zip.extend(name);
        zip.extend(data);
        let directory_start = zip.len() as u32;
        for i in 0..copies {
            let name = format!("copy{i:03}.bin");
            zip.extend(0x0201_4b50u32.to_le_bytes());
            zip.extend([20, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            zip.extend(crc.to_le_bytes());
            zip.extend(size.to_le_bytes());
            zip.extend(size.to_le_bytes());
            zip.extend((name.len() as u16).to_le_bytes());
            zip.extend([0u8; 12]); // extra, comment, disk, internal and external attributes
            zip.extend(0u32.to_le_bytes()); // every copy points at the one local entry
            zip.extend(name.as_bytes());
        }
        let directory_len = zip.len() as u32 - directory_start;
        zip.extend(0x0605_4b50u32.to_le_bytes());
        zip.extend([0u8; 4]);
        zip.extend(copies.to_le_bytes());
        zip.extend(copies.to_le_bytes());
        zip.extend(directory_len.to_le_bytes());
        zip.extend(directory_start.to_le_bytes());
        zip.extend(0u16.to_le_bytes());
        fs::write(path, zip).expect("write");
    }

    /// `unpack` with the default limits: what came out, and the issues.
    fn unpack_default(
        path: &Path,
        label: &str,
        scratch: &Path,
    ) -> (Vec<Unpacked>, Vec<ArchiveIssue>) {
        let mut issues = Vec::new();
        let out = unpack(
            path,
            label,
            scratch,
            &ArchiveLimits::default(),
            0,
            &mut issues,
        );
        (out, issues)
    }

    fn written_under(dir: &Path) -> u64 {
        walkdir::WalkDir::new(dir)
            .into_iter()
            .flatten()
            .filter(|e| e.file_type().is_file())
            .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
            .sum()
    }

    #[test]
    fn entries_that_share_data_are_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data: Vec<u8> = (0..3u32 << 19)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let path = dir.path().join("overlap.zip");
        overlapping(&path, &data, 30);
        // zip itself reads all 30 entries: the refusal is lunghub's.
        let mut zip = zip::ZipArchive::new(fs::File::open(&path).expect("open")).expect("zip");
        assert_eq!(zip.len(), 30);
        let mut first = Vec::new();
        zip.by_index(29)
            .expect("entry")
            .read_to_end(&mut first)
            .expect("read");
        assert_eq!(first, data);

        let scratch = dir.path().join("scratch");
        let (out, issues) = unpack_default(&path, "overlap.zip", &scratch);
        assert!(out.is_empty());
        assert_eq!(written_under(&scratch), 0);
        assert!(
            issues.iter().any(|i| i.reason.contains("share data")),
            "{issues:?}"
        );

        // One honest entry unpacks.
        overlapping(&path, &data, 1);
        let (out, issues) = unpack_default(&path, "one.zip", &scratch);
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(
            fs::read(out[0].root.join("copy000.bin")).expect("entry"),
            data
        );
    }

    #[test]
    fn nested_archives_share_one_budget() {
        let dir = tempfile::tempdir().expect("tempdir");
        let block: Vec<u8> = (0..300_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
            .collect();
        let inner = archive(
            dir.path(),
            "inner.zip",
            &[("a.bin", &block), ("b.bin", &block)],
        );
        let inner_bytes = fs::read(&inner).expect("read");
        let outer = archive(
            dir.path(),
            "outer.zip",
            &[
                ("one.zip", &inner_bytes),
                ("two.zip", &inner_bytes),
                ("three.zip", &inner_bytes),
            ],
        );
        let limits = ArchiveLimits {
            max_total_bytes: 1_500_000,
            ..ArchiveLimits::default()
        };
        let mut issues = Vec::new();
        unpack(
            &outer,
            "outer.zip",
            &dir.path().join("s"),
            &limits,
            0,
            &mut issues,
        );
        // Each nested archive alone fits (600 KB of entries); all of them together do not.
        assert!(
            issues
                .iter()
                .any(|i| i.reason.contains("unpacks to more than 1500000 bytes")),
            "{issues:?}"
        );
        assert!(written_under(&dir.path().join("s")) <= 1_500_000);
    }
}
