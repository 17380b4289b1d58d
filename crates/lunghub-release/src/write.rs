//! Writing a planned release to a folder: the images and every export, the card, the
//! changelog and the manifest. Nothing written depends on the time or on the order threads
//! finish in, so the same plan and blobs always give the same bytes.
//!
//! ```text
//! README.md, card.html      the dataset card
//! CHANGELOG.md              changes since the version before
//! images/<id16>.png         every image, 8-bit PNG, one flat folder
//! metadata.csv              train and validation, torchxrayvision's COVID19_Dataset columns
//! test.csv                  the test images, same columns, findings left empty
//! covidx/train.txt, val.txt COVIDx label files
//! imagefolder/…             Hugging Face ImageFolder: split/label/file.png, metadata.csv per split
//! croissant.json            Croissant 1.0
//! dicom/DICOMDIR, dicom/DICOM/…  the de-identified DICOM originals, when there are any
//! SHA256SUMS                sha256 of every other file
//! ```

use std::path::Path;

use image::DynamicImage;
use lunghub_domain::Modality;
use lunghub_domain::split::Split;
use lunghub_store::Blobs;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::card::{self, CardFacts};
use crate::plan::{Entry, Plan, published_age, published_sex};
use crate::{MANIFEST, Manifest, ReleaseError, croissant, dicomdir};

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub files: usize,
    pub bytes: u64,
    /// sha256 of SHA256SUMS: one hash that names the whole release.
    pub manifest_sha256: String,
    pub dicom_files: usize,
}

/// Writes the release into `dir`, which must be empty or not exist. `progress` is told
/// each time an image is done.
pub fn write(
    plan: &Plan,
    blobs: &Blobs,
    dir: &Path,
    progress: &(dyn Fn() + Sync),
) -> Result<Written, ReleaseError> {
    if dir.exists()
        && std::fs::read_dir(dir)
            .map_err(|e| io(dir, e))?
            .next()
            .is_some()
    {
        return Err(ReleaseError::Input(format!(
            "{} is not empty: a release is written into a new folder",
            dir.display()
        )));
    }
    for sub in ["images", "covidx", "imagefolder"] {
        mkdir(&dir.join(sub))?;
    }
    plan.entries
        .par_iter()
        .try_for_each(|e| -> Result<(), ReleaseError> {
            let bytes = blobs.get(&e.item.id)?;
            let png = png_of(e, &bytes)?;
            put(&dir.join("images").join(&e.file), &png)?;
            let folder = match e.split {
                Split::Test => dir.join("imagefolder").join("test"),
                split => dir
                    .join("imagefolder")
                    .join(split.as_str())
                    .join(label_folder(&e.finding)),
            };
            mkdir(&folder)?;
            put(&folder.join(&e.file), &png)?;
            progress();
            Ok(())
        })?;

    let labelled: Vec<&Entry> = plan
        .entries
        .iter()
        .filter(|e| e.split != Split::Test)
        .collect();
    let test: Vec<&Entry> = plan.in_split(Split::Test).collect();
    put(
        &dir.join("metadata.csv"),
        &torchxrayvision_csv(&labelled, true)?,
    )?;
    put(&dir.join("test.csv"), &torchxrayvision_csv(&test, false)?)?;
    for (split, name) in [(Split::Train, "train.txt"), (Split::Validation, "val.txt")] {
        put(
            &dir.join("covidx").join(name),
            covidx(plan.in_split(split)).as_bytes(),
        )?;
    }
    for split in Split::ALL {
        let entries: Vec<&Entry> = plan.in_split(split).collect();
        if entries.is_empty() {
            continue;
        }
        let folder = dir.join("imagefolder").join(split.as_str());
        mkdir(&folder)?;
        put(&folder.join("metadata.csv"), &imagefolder_csv(&entries)?)?;
    }
    let dicom_files = write_dicom(plan, blobs, &dir.join("dicom"))?;

    let facts = CardFacts { dicom_files };
    let md = card::markdown(plan, &facts);
    let title = format!("{} v{}", plan.settings.name, plan.settings.version);
    put(&dir.join("README.md"), md.as_bytes())?;
    put(&dir.join("card.html"), card::html(&title, &md).as_bytes())?;
    put(&dir.join("CHANGELOG.md"), card::changelog(plan).as_bytes())?;
    let sums = |name: &str| -> Result<String, ReleaseError> {
        let bytes = std::fs::read(dir.join(name)).map_err(|e| io(&dir.join(name), e))?;
        Ok(hex(&Sha256::digest(&bytes)))
    };
    let json = croissant::jsonld(plan, &sums("metadata.csv")?, &sums("test.csv")?);
    put(&dir.join("croissant.json"), json.as_bytes())?;

    let manifest = Manifest::of_dir(dir)?;
    manifest.write(dir)?;
    let files = manifest.files.len();
    let bytes = walk_bytes(dir)?;
    Ok(Written {
        files: files + 1,
        bytes,
        manifest_sha256: sums(MANIFEST)?,
        dicom_files,
    })
}

/// An 8-bit PNG of the image: gray for radiographs, gray or RGB as stored otherwise.
fn png_of(e: &Entry, bytes: &[u8]) -> Result<Vec<u8>, ReleaseError> {
    let decoded = lunghub_imaging::decode(bytes).map_err(|err| ReleaseError::Image {
        item: e.item.id.clone(),
        reason: err.to_string(),
    })?;
    let img = match Modality::parse(&e.item.modality) {
        Modality::Xray(_) => DynamicImage::ImageLuma8(decoded.display.to_luma8()),
        _ => decoded.display,
    };
    lunghub_imaging::encode_png(&img).map_err(|err| ReleaseError::Image {
        item: e.item.id.clone(),
        reason: err.to_string(),
    })
}

/// The ImageFolder label folder: the finding with `/` as `_` (`Pneumonia_Viral_COVID-19`).
pub fn label_folder(finding: &str) -> String {
    finding.replace('/', "_")
}

/// torchxrayvision's modality words.
fn modality_word(code: &str) -> String {
    match Modality::parse(code) {
        Modality::Xray(_) => "X-ray".into(),
        Modality::Ct => "CT".into(),
        Modality::Ultrasound => "US".into(),
        Modality::Other(s) => s,
    }
}

fn torchxrayvision_csv(entries: &[&Entry], with_findings: bool) -> Result<Vec<u8>, ReleaseError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "patientid",
        "offset",
        "sex",
        "age",
        "finding",
        "view",
        "modality",
        "filename",
        "split",
        "site",
        "source",
        "item_id",
    ])
    .map_err(csv_error)?;
    for e in entries {
        let i = &e.item;
        w.write_record([
            i.patient_id.as_str(),
            &i.offset_days.map(|d| d.to_string()).unwrap_or_default(),
            published_sex(i.sex.as_deref()),
            &published_age(i.age_years)
                .map(|a| a.to_string())
                .unwrap_or_default(),
            if with_findings { &e.finding } else { "" },
            i.view.as_deref().unwrap_or(""),
            &modality_word(&i.modality),
            &e.file,
            e.split.as_str(),
            &i.site_name,
            e.source(),
            &i.id,
        ])
        .map_err(csv_error)?;
    }
    w.into_inner()
        .map_err(|e| ReleaseError::Input(e.to_string()))
}

fn imagefolder_csv(entries: &[&Entry]) -> Result<Vec<u8>, ReleaseError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "file_name",
        "finding",
        "patient_id",
        "sex",
        "age",
        "view",
        "modality",
        "site",
        "source",
    ])
    .map_err(csv_error)?;
    for e in entries {
        let i = &e.item;
        // An empty column would be read as numbers, and ImageFolder refuses splits whose
        // columns differ in type: the test split says "sequestered" instead.
        let (file, finding) = match e.split {
            Split::Test => (e.file.clone(), SEQUESTERED),
            _ => (
                format!("{}/{}", label_folder(&e.finding), e.file),
                e.finding.as_str(),
            ),
        };
        w.write_record([
            file.as_str(),
            finding,
            &i.patient_id,
            published_sex(i.sex.as_deref()),
            &published_age(i.age_years)
                .map(|a| a.to_string())
                .unwrap_or_default(),
            i.view.as_deref().unwrap_or(""),
            &modality_word(&i.modality),
            &i.site_name,
            e.source(),
        ])
        .map_err(csv_error)?;
    }
    w.into_inner()
        .map_err(|e| ReleaseError::Input(e.to_string()))
}

/// What the ImageFolder's test split has for a finding.
pub const SEQUESTERED: &str = "sequestered";

/// COVID-Net's three classes; `None` for findings outside them (ARDS, for one).
pub fn covidx_label(finding: &str) -> Option<&'static str> {
    if finding == "No Finding" {
        Some("normal")
    } else if finding == "Pneumonia/Viral/COVID-19" {
        Some("COVID-19")
    } else if finding == "Pneumonia" || finding.starts_with("Pneumonia/") {
        Some("pneumonia")
    } else {
        None
    }
}

fn covidx<'a>(entries: impl Iterator<Item = &'a Entry>) -> String {
    let mut out = String::new();
    for e in entries {
        if let Some(label) = covidx_label(&e.finding) {
            let word = |s: &str| s.split_whitespace().collect::<Vec<_>>().join("_");
            out.push_str(&format!(
                "{} {} {} {}\n",
                word(&e.item.patient_id),
                e.file,
                label,
                word(e.source())
            ));
        }
    }
    out
}

/// The de-identified DICOM originals under `DICOM/PTnnnnnn/STnnnnnn/SEnnnnnn/IMnnnnnn`
/// (PS3.10 file IDs, in the DICOMDIR's order) and their DICOMDIR. Returns how many were
/// written. Each original is read twice, once for its keys and once to copy it, so that no
/// more than one is held in memory.
fn write_dicom(plan: &Plan, blobs: &Blobs, dir: &Path) -> Result<usize, ReleaseError> {
    let dicoms: Vec<&Entry> = plan
        .entries
        .iter()
        .filter(|e| e.item.kind == "dicom")
        .collect();
    if dicoms.is_empty() {
        return Ok(0);
    }
    let unreadable = |e: &Entry, err: dicomdir::DicomdirError| ReleaseError::Image {
        item: e.item.id.clone(),
        reason: err.to_string(),
    };
    let mut instances = Vec::with_capacity(dicoms.len());
    for e in &dicoms {
        let bytes = blobs.get(&e.item.id)?;
        instances
            .push(dicomdir::Instance::read(Vec::new(), &bytes).map_err(|err| unreadable(e, err))?);
    }
    dicomdir::lay_out(&mut instances)
        .map_err(|err| ReleaseError::Input(format!("cannot lay out the DICOM files: {err}")))?;
    for (e, instance) in dicoms.iter().zip(&instances) {
        let path = instance
            .file_id
            .iter()
            .fold(dir.to_path_buf(), |p, c| p.join(c));
        if let Some(parent) = path.parent() {
            mkdir(parent)?;
        }
        put(&path, &blobs.get(&e.item.id)?)?;
    }
    let set_id: String = plan
        .settings
        .name
        .to_ascii_uppercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(16)
        .collect();
    let bytes = dicomdir::dicomdir(&set_id, &instances)
        .map_err(|err| ReleaseError::Input(format!("cannot write the DICOMDIR: {err}")))?;
    put(&dir.join(dicomdir::DICOMDIR), &bytes)?;
    Ok(dicoms.len())
}

fn walk_bytes(dir: &Path) -> Result<u64, ReleaseError> {
    let mut total = 0;
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry.map_err(|e| ReleaseError::Input(e.to_string()))?;
        if entry.file_type().is_file() {
            total += entry
                .metadata()
                .map_err(|e| ReleaseError::Input(e.to_string()))?
                .len();
        }
    }
    Ok(total)
}

fn mkdir(path: &Path) -> Result<(), ReleaseError> {
    std::fs::create_dir_all(path).map_err(|e| io(path, e))
}

fn put(path: &Path, bytes: &[u8]) -> Result<(), ReleaseError> {
    std::fs::write(path, bytes).map_err(|e| io(path, e))
}

pub(crate) fn io(path: &Path, source: std::io::Error) -> ReleaseError {
    ReleaseError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn csv_error(e: csv::Error) -> ReleaseError {
    ReleaseError::Input(format!("cannot write a CSV: {e}"))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covidx_has_three_classes() {
        assert_eq!(covidx_label("No Finding"), Some("normal"));
        assert_eq!(covidx_label("Pneumonia/Viral/COVID-19"), Some("COVID-19"));
        assert_eq!(
            covidx_label("Pneumonia/Bacterial/Streptococcus"),
            Some("pneumonia")
        );
        assert_eq!(covidx_label("Pneumonia/Viral/SARS"), Some("pneumonia"));
        assert_eq!(covidx_label("ARDS"), None);
        assert_eq!(
            label_folder("Pneumonia/Viral/COVID-19"),
            "Pneumonia_Viral_COVID-19"
        );
    }
}
