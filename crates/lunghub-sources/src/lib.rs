//! Finding the files to take in, and the labels and clinical fields that come with them,
//! in the layouts public COVID-19 datasets actually use.
//!
//! | format | recognised by | labels from |
//! | --- | --- | --- |
//! | `csv` | a metadata CSV (`--metadata`, or `metadata.csv` in the folder) | its columns: ieee8023's `filename`/`finding`/`Patientid`/`view`/`modality`/…, Actualmed's `imagename`, the NIH subset's `patientid`, the Radiography Database's `filename,finding` |
//! | `folders` | one sub-folder per class (`COVID/`, `NORMAL/`, …) | the folder's name |
//! | `pocus` | POCUS file names (`Cov_…`, `Pneu-…`, `Reg_…`, `Vir_…`) | the prefix |
//! | `plain` | anything else (DICOM from a PACS, say) | the files themselves |
//!
//! Its own crate because two places read these layouts: the central intake
//! (`lunghub ingest`, uploads) and the hospital gateway, which must not depend on the
//! catalog or the blob store.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

pub mod labels;
pub mod unpack;

pub use labels::{HospitalLabels, LabelError};

pub use crate::unpack::{ArchiveIssue, ArchiveLimits};

/// Labels and clinical fields for one file, as its dataset states them.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Metadata {
    /// The finding string verbatim (mapping to the hierarchy happens in intake).
    pub finding: Option<String>,
    /// The dataset's own patient identifier; intake turns it into a keyed pseudonym.
    pub patient: Option<String>,
    pub view: Option<String>,
    pub modality: Option<String>,
    pub sex: Option<String>,
    pub age_years: Option<f64>,
    pub offset_days: Option<i64>,
    pub outcome: Option<String>,
    pub comorbidities: Option<String>,
    pub therapy: Option<String>,
    pub source_dataset: Option<String>,
}

/// One file to take in.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub path: PathBuf,
    /// How reports name the file: its path, or `archive.zip!entry` for unpacked files.
    pub label: String,
    pub metadata: Metadata,
}

impl Source {
    fn new(path: PathBuf, metadata: Metadata) -> Self {
        Source {
            label: path.display().to_string(),
            path,
            metadata,
        }
    }
}

/// Which layout to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Auto,
    Csv,
    Folders,
    Pocus,
    Plain,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "auto" => Format::Auto,
            "csv" | "ieee8023" | "actualmed" | "nih" | "radiographydb" => Format::Csv,
            "folders" => Format::Folders,
            "pocus" => Format::Pocus,
            "plain" => Format::Plain,
            other => {
                return Err(format!(
                    "unknown format {other:?}: use auto, csv, folders, pocus or plain"
                ));
            }
        })
    }
}

/// Problems with the input that are not about one file's content, reported beside the files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputIssue {
    /// An archive, or an entry of one, that was not unpacked.
    Archive(ArchiveIssue),
    /// A row names a file that is not there.
    MissingFile { row: usize, file: String },
    /// A row the CSV reader could not read.
    BadRow { row: usize, error: String },
}

impl std::fmt::Display for InputIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InputIssue::MissingFile { row, file } => {
                write!(f, "metadata row {row}: file {file:?} is not there")
            }
            InputIssue::BadRow { row, error } => write!(f, "metadata row {row}: {error}"),
            InputIssue::Archive(a) => match &a.entry {
                Some(entry) => write!(f, "archive {}: entry {entry:?}: {}", a.archive, a.reason),
                None => write!(f, "archive {}: {}", a.archive, a.reason),
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot read metadata {path}: {error}")]
    Csv { path: String, error: String },
    #[error("metadata {path} has no file-name column (filename or imagename)")]
    NoFileColumn { path: String },
}

/// The files and metadata found under `roots`.
#[derive(Debug, Default)]
pub struct Found {
    pub sources: Vec<Source>,
    pub issues: Vec<InputIssue>,
}

const IMAGE_FOLDERS: &[&str] = &["images", "pocus_images"];

/// Reads `roots` in the given format; `metadata` overrides the CSV found beside them.
/// ZIP archives, given as roots or found among the files, are unpacked under `scratch`
/// (see [`unpack`]) and read like folders.
pub fn discover(
    roots: &[PathBuf],
    metadata: Option<&Path>,
    format: Format,
    scratch: &Path,
    limits: &ArchiveLimits,
) -> Result<Found, SourceError> {
    let mut found = Found::default();
    let mut pending: Vec<(PathBuf, Option<String>, Format)> =
        roots.iter().map(|r| (r.clone(), None, format)).collect();
    while let Some((root, label, format)) = pending.pop() {
        if root.is_file() && unpack::is_zip(&root) {
            let archive_label = label.clone().unwrap_or_else(|| root.display().to_string());
            let mut issues = Vec::new();
            let depth = archive_label.matches('!').count() as u32;
            for u in unpack::unpack(&root, &archive_label, scratch, limits, depth, &mut issues) {
                let content = unpack::content_root(&u.root);
                let inner = content
                    .strip_prefix(&u.root)
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                let label = if inner.is_empty() {
                    u.label
                } else {
                    format!("{}{inner}/", u.label)
                };
                pending.push((content, Some(label), Format::Auto));
            }
            found
                .issues
                .extend(issues.into_iter().map(InputIssue::Archive));
            continue;
        }
        let part = discover_root(&root, metadata.filter(|_| label.is_none()), format)?;
        for mut s in part.sources {
            if let Some(prefix) = &label {
                let inner = s.path.strip_prefix(&root).unwrap_or(&s.path);
                s.label = format!("{prefix}{}", inner.display());
            }
            if unpack::is_zip(&s.path) {
                pending.push((s.path.clone(), Some(s.label.clone()), Format::Auto));
            } else {
                found.sources.push(s);
            }
        }
        found.issues.extend(part.issues);
    }
    Ok(found)
}

fn discover_root(
    root: &Path,
    metadata: Option<&Path>,
    format: Format,
) -> Result<Found, SourceError> {
    let csv_path = metadata.map(Path::to_path_buf).or_else(|| {
        let candidate = root.join("metadata.csv");
        candidate.is_file().then_some(candidate)
    });
    let format = match format {
        Format::Auto if csv_path.is_some() && root.is_dir() => Format::Csv,
        Format::Auto if root.is_dir() && looks_like_pocus(root)? => Format::Pocus,
        Format::Auto => Format::Plain,
        f => f,
    };
    let dataset = root.file_name().map(|n| n.to_string_lossy().into_owned());
    let mut part = match (format, csv_path) {
        (Format::Csv, Some(csv)) => from_csv(root, &csv)?,
        (Format::Csv, None) => {
            return Err(SourceError::Csv {
                path: root.display().to_string(),
                error: "no metadata CSV".into(),
            });
        }
        (Format::Folders, _) => from_class_folders(root)?,
        (Format::Pocus, _) => from_pocus(root)?,
        _ => Found {
            sources: files_under(root)?
                .into_iter()
                .map(|path| Source::new(path, Metadata::default()))
                .collect(),
            issues: Vec::new(),
        },
    };
    for s in &mut part.sources {
        if s.metadata.source_dataset.is_none() {
            s.metadata.source_dataset = dataset.clone();
        }
    }
    Ok(part)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SourceError + '_ {
    move |source| SourceError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Every regular file under `root`, sorted, skipping metadata files.
pub fn files_under(root: &Path) -> Result<Vec<PathBuf>, SourceError> {
    if root.is_file() {
        return Ok(vec![root.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| SourceError::Io {
            path: root.display().to_string(),
            source: e
                .into_io_error()
                .unwrap_or_else(|| std::io::Error::other("loop in the folder tree")),
        })?;
        let is_metadata = entry
            .path()
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        if entry.file_type().is_file() && !is_metadata {
            files.push(entry.into_path());
        }
    }
    Ok(files)
}

fn column(headers: &BTreeMap<String, usize>, names: &[&str]) -> Option<usize> {
    names.iter().find_map(|n| headers.get(*n).copied())
}

fn non_empty(v: Option<&str>) -> Option<String> {
    v.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// ieee8023-style metadata: one row per image; the images in `images/` beside the CSV
/// (or beside it directly).
/// One row of a metadata CSV: the file it names (a bare name, never a path) and its fields.
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataRow {
    /// 1-based line of the row, after the header.
    pub row: usize,
    pub file: String,
    pub metadata: Metadata,
}

/// Reads a metadata CSV in any of the supported schemas (see the module table): the rows,
/// and the rows it could not read. `label` names the CSV in errors.
pub fn read_metadata_csv<R: std::io::Read>(
    input: R,
    label: &str,
) -> Result<(Vec<MetadataRow>, Vec<InputIssue>), SourceError> {
    let csv_err = |error: String| SourceError::Csv {
        path: label.to_owned(),
        error,
    };
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    let headers: BTreeMap<String, usize> = reader
        .headers()
        .map_err(|e| csv_err(e.to_string()))?
        .iter()
        .enumerate()
        .map(|(i, h)| (h.trim().to_ascii_lowercase(), i))
        .collect();
    let file_col =
        column(&headers, &["filename", "imagename", "file", "image"]).ok_or_else(|| {
            SourceError::NoFileColumn {
                path: label.to_owned(),
            }
        })?;
    let col = |names: &[&str]| column(&headers, names);
    let (finding, patient, view, modality, sex, age, offset, survival, comorbid, therapy, source) = (
        col(&["finding", "label", "class"]),
        col(&["patientid", "patient id", "patient_id"]),
        col(&["view"]),
        col(&["modality"]),
        col(&["sex", "gender"]),
        col(&["age"]),
        col(&["offset"]),
        col(&["survival", "outcome"]),
        col(&["comorbidities"]),
        col(&["therapy", "treatment"]),
        col(&["source"]),
    );
    let mut rows = Vec::new();
    let mut issues = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let row = i + 2; // 1-based, after the header
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                issues.push(InputIssue::BadRow {
                    row,
                    error: e.to_string(),
                });
                continue;
            }
        };
        let get = |c: Option<usize>| non_empty(c.and_then(|c| record.get(c)));
        let Some(file) = get(Some(file_col)) else {
            issues.push(InputIssue::BadRow {
                row,
                error: "empty file name".into(),
            });
            continue;
        };
        // A file name is a name, never a path out of the dataset.
        let file = Path::new(&file)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or(file);
        rows.push(MetadataRow {
            row,
            file,
            metadata: Metadata {
                finding: get(finding),
                patient: get(patient),
                view: get(view),
                modality: get(modality),
                sex: get(sex),
                age_years: get(age).and_then(|a| a.parse().ok()),
                offset_days: get(offset)
                    .and_then(|o| o.parse::<f64>().ok())
                    .map(|o| o.round() as i64),
                outcome: get(survival),
                comorbidities: get(comorbid),
                therapy: get(therapy),
                source_dataset: get(source),
            },
        });
    }
    Ok((rows, issues))
}

fn from_csv(root: &Path, csv_path: &Path) -> Result<Found, SourceError> {
    let file = fs::File::open(csv_path).map_err(io(csv_path))?;
    let (rows, issues) = read_metadata_csv(file, &csv_path.display().to_string())?;
    let base = csv_path.parent().unwrap_or(root);
    let image_dir = IMAGE_FOLDERS
        .iter()
        .map(|d| base.join(d))
        .find(|d| d.is_dir())
        .unwrap_or_else(|| base.to_path_buf());
    let mut found = Found {
        issues,
        ..Found::default()
    };
    let mut listed = HashSet::new();
    for MetadataRow {
        row,
        file,
        metadata,
    } in rows
    {
        let path = image_dir.join(&file);
        if !path.is_file() {
            found.issues.push(InputIssue::MissingFile { row, file });
            continue;
        }
        listed.insert(path.clone());
        found.sources.push(Source::new(path, metadata));
    }
    // Files the CSV does not mention are still taken in, without labels.
    for path in files_under(&image_dir)? {
        if !listed.contains(&path) {
            found.sources.push(Source::new(path, Metadata::default()));
        }
    }
    Ok(found)
}

fn from_class_folders(root: &Path) -> Result<Found, SourceError> {
    let mut found = Found::default();
    let mut classes: Vec<PathBuf> = fs::read_dir(root)
        .map_err(io(root))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    classes.sort();
    for class in classes {
        let name = class
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for path in files_under(&class)? {
            found.sources.push(Source::new(
                path,
                Metadata {
                    finding: Some(name.clone()),
                    ..Metadata::default()
                },
            ));
        }
    }
    Ok(found)
}

/// The POCUS collection's file-name convention: the prefix before the first `_` or `-`.
pub fn pocus_finding(file_name: &str) -> Option<&'static str> {
    let prefix = file_name.split(['_', '-', ' ']).next().unwrap_or_default();
    match prefix.to_ascii_lowercase().as_str() {
        "cov" => Some("COVID-19"),
        "pneu" => Some("Bacterial pneumonia"),
        "vir" => Some("Viral pneumonia"),
        "reg" => Some("No Finding"),
        _ => None,
    }
}

fn looks_like_pocus(root: &Path) -> Result<bool, SourceError> {
    let files = files_under(root)?;
    let named = files
        .iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(pocus_finding)
                .is_some()
        })
        .count();
    Ok(!files.is_empty() && named * 2 > files.len())
}

fn from_pocus(root: &Path) -> Result<Found, SourceError> {
    let clinical = pocus_metadata(root)?;
    let mut found = Found::default();
    for path in files_under(root)? {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let stem = path
            .file_stem()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let row = clinical.get(stem);
        // The collection's own label where its metadata names the file, else the prefix.
        let finding = row
            .and_then(|r| r.finding.clone())
            .or_else(|| pocus_finding(name).map(str::to_owned));
        found.sources.push(Source::new(
            path.clone(),
            Metadata {
                finding,
                modality: Some("US".into()),
                sex: row.and_then(|r| r.sex.clone()),
                age_years: row.and_then(|r| r.age_years),
                ..Metadata::default()
            },
        ));
    }
    Ok(found)
}

/// The POCUS collection's `dataset_metadata.csv` (beside the folder given, or one level
/// up), by the file name it lists without extension: its label, and sex and age where they
/// are known (`m`/`w`; `nd` and `n/A` mean not known). Its "Patient ID / Name" column
/// numbers patients within each source, not across the collection, so it is not used: it
/// would merge different patients.
fn pocus_metadata(root: &Path) -> Result<BTreeMap<String, Metadata>, SourceError> {
    let Some(csv_path) = [root.join("dataset_metadata.csv")]
        .into_iter()
        .chain(root.parent().map(|p| p.join("dataset_metadata.csv")))
        .find(|p| p.is_file())
    else {
        return Ok(BTreeMap::new());
    };
    let csv_err = |error: String| SourceError::Csv {
        path: csv_path.display().to_string(),
        error,
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(&csv_path)
        .map_err(|e| csv_err(e.to_string()))?;
    let headers: BTreeMap<String, usize> = reader
        .byte_headers()
        .map_err(|e| csv_err(e.to_string()))?
        .iter()
        .enumerate()
        .map(|(i, h)| (String::from_utf8_lossy(h).trim().to_ascii_lowercase(), i))
        .collect();
    let (Some(file), label, gender, age) = (
        column(&headers, &["filename"]),
        column(&headers, &["label"]),
        column(&headers, &["gender"]),
        column(&headers, &["age"]),
    ) else {
        return Err(SourceError::NoFileColumn {
            path: csv_path.display().to_string(),
        });
    };
    let mut rows = BTreeMap::new();
    for record in reader.byte_records() {
        // A row the reader cannot read only loses its clinical fields: the prefix still labels.
        let Ok(record) = record else { continue };
        let get = |c: Option<usize>| {
            non_empty(
                c.and_then(|c| record.get(c))
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .as_deref(),
            )
        };
        let Some(name) = get(Some(file)) else {
            continue;
        };
        let sex = match get(gender).map(|g| g.to_ascii_lowercase()).as_deref() {
            Some("m") => Some("M".to_owned()),
            Some("w" | "f") => Some("F".to_owned()),
            _ => None,
        };
        let age_years = get(age)
            .and_then(|a| a.parse::<f64>().ok())
            .filter(|a| *a > 0.0 && *a < 120.0);
        rows.insert(
            name,
            Metadata {
                finding: get(label),
                sex,
                age_years,
                ..Metadata::default()
            },
        );
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pocus_prefixes() {
        assert_eq!(
            pocus_finding("Cov_Oliviera_2020_Fig15A.jpg"),
            Some("COVID-19")
        );
        assert_eq!(
            pocus_finding("pneu-effusion.png"),
            Some("Bacterial pneumonia")
        );
        assert_eq!(pocus_finding("Reg_normal.png"), Some("No Finding"));
        assert_eq!(pocus_finding("lus_something.png"), None);
    }
}
