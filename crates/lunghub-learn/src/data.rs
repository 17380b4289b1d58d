//! Reading a release's folder (as `lunghub release export` or a download leaves it) into
//! examples for a task. The splits are the release's, by patient; the test split has no
//! findings here (they are sequestered on the server), so training sees train and
//! validation only.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::LearnError;
use crate::train::Example;

/// What a model learns to tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Task {
    /// Chest X-ray, COVID-19 against everything else: the study plan's binary model.
    CovidVsRest,
    /// Chest X-ray, healthy / pneumonia (not COVID-19) / COVID-19.
    ThreeClass,
    /// Lung ultrasound frames, healthy / pneumonia / COVID-19, aggregated per clip.
    LungUltrasound,
}

impl Task {
    pub fn parse(s: &str) -> Option<Task> {
        match s {
            "covid-vs-rest" => Some(Task::CovidVsRest),
            "three-class" => Some(Task::ThreeClass),
            "lung-ultrasound" => Some(Task::LungUltrasound),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Task::CovidVsRest => "covid-vs-rest",
            Task::ThreeClass => "three-class",
            Task::LungUltrasound => "lung-ultrasound",
        }
    }

    /// Class names, in output order; the positive class of a binary task is last.
    pub fn classes(self) -> &'static [&'static str] {
        match self {
            Task::CovidVsRest => &["rest", "COVID-19"],
            Task::ThreeClass | Task::LungUltrasound => &["healthy", "pneumonia", "COVID-19"],
        }
    }

    /// The class of a finding, or `None` when the task leaves it out (ARDS in three-class).
    pub fn class_of(self, finding: &str) -> Option<usize> {
        let covid = finding == "Pneumonia/Viral/COVID-19";
        match self {
            Task::CovidVsRest => Some(usize::from(covid)),
            Task::ThreeClass if covid => Some(2),
            Task::ThreeClass if finding == "No Finding" => Some(0),
            Task::ThreeClass if finding == "Pneumonia" || finding.starts_with("Pneumonia/") => {
                Some(1)
            }
            Task::ThreeClass => None,
            // The POCUS names, as lunghub-intake's label reader gives them.
            Task::LungUltrasound => match finding {
                "COVID-19" => Some(2),
                "No Finding" => Some(0),
                f if f.to_ascii_lowercase().contains("pneumonia") => Some(1),
                _ => None,
            },
        }
    }
}

/// One image of a release, with what evaluation breaks results down by.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub file: String,
    pub patient: String,
    pub source: String,
    pub site: String,
    pub split: String,
    pub example: Example,
}

/// A release folder read for a task.
#[derive(Debug, Clone)]
pub struct ReleaseData {
    /// sha256 of the release's SHA256SUMS: the release's identity.
    pub release_id: String,
    /// sha256 over the task, the side, and every case's file, class and split: what the
    /// model saw, so a report can be traced to its data.
    pub data_hash: String,
    pub cases: Vec<Case>,
    /// Images the task leaves out (their finding is in no class).
    pub left_out: usize,
}

impl ReleaseData {
    pub fn split(&self, split: &str) -> Vec<&Case> {
        self.cases.iter().filter(|c| c.split == split).collect()
    }

    /// The examples of one split, in the release's order.
    pub fn examples(&self, split: &str) -> Vec<Example> {
        self.split(split)
            .iter()
            .map(|c| c.example.clone())
            .collect()
    }
}

/// Normalised pixels: the 8-bit image squeezed to `side × side` (radiographs are close to
/// square; squeezing keeps the whole chest), then scaled to roughly zero mean, unit spread.
pub fn pixels_of(image: &image::DynamicImage, side: usize) -> Vec<f32> {
    let gray = image::imageops::resize(
        &image.to_luma8(),
        side as u32,
        side as u32,
        image::imageops::FilterType::Triangle,
    );
    gray.pixels()
        .map(|p| (f32::from(p.0[0]) / 255.0 - 0.5) / 0.25)
        .collect()
}

/// Reads the train and validation images of a release folder (`metadata.csv`), and its test
/// images (`test.csv`) when their findings are given by file name: they are sequestered, so
/// only the server's catalog has them.
pub fn read_release(
    dir: &Path,
    task: Task,
    side: usize,
    test_findings: Option<&std::collections::BTreeMap<String, String>>,
) -> Result<ReleaseData, LearnError> {
    let io = |path: &Path, e: std::io::Error| LearnError::Input(format!("{}: {e}", path.display()));
    let sums = dir.join("SHA256SUMS");
    let release_id = hex(&Sha256::digest(
        std::fs::read(&sums).map_err(|e| io(&sums, e))?,
    ));
    let mut rows: Vec<(String, String, String, String, String, usize)> = Vec::new();
    let mut left_out = 0;
    let mut tables = vec![("metadata.csv", None)];
    if let Some(findings) = test_findings {
        tables.push(("test.csv", Some(findings)));
    }
    for (table, findings_by_file) in tables {
        let csv_path = dir.join(table);
        let mut reader = csv::Reader::from_path(&csv_path)
            .map_err(|e| LearnError::Input(format!("{}: {e}", csv_path.display())))?;
        let head = reader
            .headers()
            .map_err(|e| LearnError::Input(format!("{}: {e}", csv_path.display())))?
            .clone();
        let column = |name: &str| {
            head.iter().position(|h| h == name).ok_or_else(|| {
                LearnError::Input(format!("{} has no {name} column", csv_path.display()))
            })
        };
        let [file, finding, patient, split, source, site] = [
            "filename",
            "finding",
            "patientid",
            "split",
            "source",
            "site",
        ]
        .map(column);
        let (file, finding, patient, split, source, site) =
            (file?, finding?, patient?, split?, source?, site?);
        for (n, record) in reader.records().enumerate() {
            let r = record.map_err(|e| {
                LearnError::Input(format!("{} row {}: {e}", csv_path.display(), n + 2))
            })?;
            let get = |i: usize| r.get(i).unwrap_or("").to_owned();
            let truth = match findings_by_file {
                None => get(finding),
                Some(map) => map.get(&get(file)).cloned().ok_or_else(|| {
                    LearnError::Input(format!("no finding for test image {}", get(file)))
                })?,
            };
            match task.class_of(&truth) {
                Some(class) => rows.push((
                    get(file),
                    get(patient),
                    get(split),
                    get(source),
                    get(site),
                    class,
                )),
                None => left_out += 1,
            }
        }
    }
    let images: PathBuf = dir.join("images");
    let cases = rows
        .into_par_iter()
        .map(|(file, patient, split, source, site, label)| {
            let path = images.join(&file);
            let image = image::open(&path)
                .map_err(|e| LearnError::Input(format!("{}: {e}", path.display())))?;
            Ok(Case {
                example: Example {
                    pixels: pixels_of(&image, side),
                    label,
                },
                file,
                patient,
                source,
                site,
                split,
            })
        })
        .collect::<Result<Vec<_>, LearnError>>()?;
    let mut hasher = Sha256::new();
    hasher.update(format!("{}\n{side}\n", task.name()));
    for c in &cases {
        hasher.update(format!("{} {} {}\n", c.file, c.example.label, c.split));
    }
    Ok(ReleaseData {
        release_id,
        data_hash: hex(&hasher.finalize()),
        cases,
        left_out,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_sort_findings_into_classes() {
        assert_eq!(
            Task::CovidVsRest.class_of("Pneumonia/Viral/COVID-19"),
            Some(1)
        );
        assert_eq!(Task::CovidVsRest.class_of("ARDS"), Some(0));
        assert_eq!(
            Task::ThreeClass.class_of("Pneumonia/Bacterial/Streptococcus"),
            Some(1)
        );
        assert_eq!(Task::ThreeClass.class_of("No Finding"), Some(0));
        assert_eq!(Task::ThreeClass.class_of("ARDS"), None);
        assert_eq!(Task::parse("three-class"), Some(Task::ThreeClass));
    }
}
