//! Every DICOM file of ../shared/data/dicom-conformance decoded by lunghub-imaging and by
//! pydicom (the peer), sample for sample. A file that lunghub cannot decode must be on the
//! list below, with the reason; a file that pydicom decodes differently fails the test.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Files lunghub-imaging cannot decode, and why. The malformed ones never reach it in
/// lunghub: intake decodes de-identified output, and deid refuses or repairs them first.
const KNOWN_GAPS: &[(&str, &str)] = &[
    (
        "pydicom-data/emri_small_jpeg_2k_lossless_too_short.dcm",
        "malformed: its Pixel Data declares more bytes than the file holds, which the bounded \
         pre-scan refuses on every path (intake's de-identifier always did)",
    ),
    (
        "pydicom-data/liver_j2k.dcm",
        "1-bit segmentation frames in JPEG 2000, which dicom-pixeldata does not decode",
    ),
    (
        "pydicom-data/liver_nonbyte_aligned_j2k.dcm",
        "1-bit segmentation frames in JPEG 2000, which dicom-pixeldata does not decode",
    ),
    (
        "pydicom-test-files/JPEG2000-embedded-sequence-delimiter.dcm",
        "a sequence delimiter inside the fragment",
    ),
    (
        "pydicom-test-files/MR_truncated.dcm",
        "malformed: truncated",
    ),
    (
        "pydicom-test-files/rtplan_truncated.dcm",
        "malformed: truncated",
    ),
    (
        "pydicom-test-files/SC_rgb_jpeg.dcm",
        "malformed: invalid VR in the data set",
    ),
    (
        "pydicom-test-files/UN_sequence.dcm",
        "private UN sequence dicom-rs cannot parse (deid cuts it out)",
    ),
    (
        "pydicom-test-files/dicomdirtests/DICOMDIR-nooffset",
        "malformed DICOMDIR",
    ),
    (
        "pydicom-test-files/meta_missing_tsyntax.dcm",
        "meta group without transfer syntax (deid rebuilds it)",
    ),
    (
        "pydicom-test-files/no_meta_group_length.dcm",
        "meta group without group length (deid rebuilds it)",
    ),
];

/// Files where lunghub and pydicom legitimately disagree.
const EXPECTED_DISAGREEMENTS: &[(&str, &str)] = &[(
    "pydicom-test-files/SC_jpeg_no_color_transform.dcm",
    "a 3-component JPEG with neither JFIF nor Adobe marker and components numbered 0, 1, 2: \
     libjpeg (behind pydicom) guesses YCbCr and converts; jpeg-decoder keeps the RGB that \
     the data set's PhotometricInterpretation states",
)];

/// Codecs whose decoders may legitimately differ by a few levels. JPEG-LS near-lossless
/// (1.2.840.10008.1.2.4.81) is not one: its decoding is exact arithmetic, so lunghub's
/// decoder must give libjpeg's samples to the bit.
const LOSSY: &[&str] = &[
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.51",
    "1.2.840.10008.1.2.4.91",
    "1.2.840.10008.1.2.4.203",
];

fn corpus() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/dicom-conformance");
    assert!(
        p.is_dir(),
        "{} is missing: ../shared must sit beside the repository",
        p.display()
    );
    p
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, out);
        } else if std::fs::read(&p).is_ok_and(|b| b.len() > 132 && &b[128..132] == b"DICM") {
            out.push(p);
        }
    }
}

fn transfer_syntax(bytes: &[u8]) -> String {
    // Enough for the lossy check: the UID sits in the meta group, which is ASCII.
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]).into_owned();
    LOSSY
        .iter()
        .find(|ts| head.contains(*ts))
        .map(|s| (*s).to_owned())
        .unwrap_or_default()
}

#[test]
fn decoded_samples_match_pydicom_for_the_whole_corpus() {
    let root = corpus();
    let mut all = Vec::new();
    files(&root, &mut all);
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut list = Vec::new();
    let mut ours_failed = BTreeSet::new();
    for (i, path) in all.iter().enumerate() {
        let bytes = std::fs::read(path).expect("read");
        let rel = path
            .strip_prefix(&root)
            .expect("inside")
            .display()
            .to_string();
        match lunghub_imaging::decode_samples(&bytes) {
            Ok(s) => {
                let raw = tmp.path().join(format!("{i}.raw"));
                std::fs::write(&raw, s.data.to_le_bytes()).expect("write");
                list.push(serde_json::json!({
                    "input": path, "raw": raw, "dtype": s.data.dtype(), "frames": s.frames, "rows": s.rows,
                    "columns": s.columns, "samples": s.samples_per_pixel, "lossy": !transfer_syntax(&bytes).is_empty(),
                }));
            }
            Err(lunghub_imaging::ImagingError::NoPixels) => {}
            Err(e) => {
                ours_failed.insert(format!("{rel}: {e}"));
            }
        }
    }
    let result = common::compare("compare_samples.py", tmp.path(), &list.into());
    let differ = result["differ"].as_array().expect("differ");
    let equal = result["equal"].as_array().expect("equal").len();
    let close = result["close"].as_array().expect("close").len();
    eprintln!(
        "equal {equal}, close {close}, pydicom failed {}, lunghub failed {}",
        result["pydicom_failed"].as_array().map_or(0, |a| a.len()),
        ours_failed.len()
    );
    for f in &ours_failed {
        eprintln!("lunghub failed: {f}");
    }
    eprintln!("pydicom failed: {}", result["pydicom_failed"]);
    let expected: BTreeSet<String> = EXPECTED_DISAGREEMENTS
        .iter()
        .map(|(f, _)| (*f).to_owned())
        .collect();
    let unexpected: Vec<&serde_json::Value> = differ
        .iter()
        .filter(|d| {
            let path = d[0].as_str().unwrap_or_default();
            !expected.iter().any(|e| path.ends_with(e.as_str()))
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "lunghub and pydicom disagree:\n{}",
        serde_json::to_string_pretty(&unexpected).unwrap_or_default()
    );
    assert_eq!(
        differ.len(),
        expected.len(),
        "an expected disagreement went away; update the list"
    );
    let failed_names: BTreeSet<String> = ours_failed
        .iter()
        .map(|f| f.split(':').next().unwrap_or_default().to_owned())
        .collect();
    let known: BTreeSet<String> = KNOWN_GAPS.iter().map(|(f, _)| (*f).to_owned()).collect();
    assert_eq!(
        failed_names, known,
        "the files lunghub cannot decode changed"
    );
    assert!(equal + close >= 150, "only {} files agreed", equal + close);
}
