//! Display rendering checked against pydicom's LUT functions on the corpus files that need
//! them: PALETTE COLOR (ultrasound's usual colour) and the Modality LUT Sequence.

mod common;

use std::path::Path;

fn pydicom_render(mode: &str, file: &Path) -> Vec<u8> {
    common::peer("compare_display.py", &[mode.as_ref(), file.as_os_str()])
}

fn corpus(rel: &str) -> std::path::PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/dicom-conformance")
        .join(rel);
    assert!(
        p.is_file(),
        "{} is missing: ../shared must sit beside the repository",
        p.display()
    );
    p
}

#[test]
fn palette_color_matches_pydicom() {
    for rel in [
        "pydicom-data/OT-PAL-8-face.dcm",
        "pydicom-test-files/examples_palette.dcm",
        "pydicom-data/gdcm-US-ALOKA-16.dcm",
    ] {
        let file = corpus(rel);
        // In lunghub, imaging sees de-identified files, which always have a meta group
        // (OT-PAL-8-face.dcm has none): run it through deid first, trusting its pixels.
        let mut profile = lunghub_deid::Profile::lunghub_default();
        profile.burned_in.suspect_modalities.clear();
        profile.burned_in.suspect_sop_classes.clear();
        let deid =
            lunghub_deid::Deidentifier::new(profile, lunghub_deid::SiteKey::from_bytes([3; 32]))
                .expect("deid");
        let bytes = match deid
            .deidentify(&std::fs::read(&file).expect("read"))
            .expect("readable")
        {
            lunghub_deid::Outcome::Written(f) => f.bytes,
            lunghub_deid::Outcome::Quarantined(why) => panic!("{rel}: {why}"),
        };
        let ours = lunghub_imaging::decode(&bytes).expect("decodes");
        assert!(
            ours.display.color().has_color(),
            "{rel}: palette colour rendered as gray"
        );
        // pydicom reads the same de-identified file (its pixels are the original's, byte for byte).
        let tmp = tempfile::tempdir().expect("tempdir");
        let copy = tmp.path().join("palette.dcm");
        std::fs::write(&copy, &bytes).expect("write");
        assert_eq!(
            ours.display.to_rgb8().into_raw(),
            pydicom_render("palette", &copy),
            "{rel}"
        );
    }
}

#[test]
fn the_modality_lut_sequence_matches_pydicom() {
    let file = corpus("pydicom-data/mlut_18.dcm");
    let ours = lunghub_imaging::decode(&std::fs::read(&file).expect("read"))
        .expect("decodes")
        .display
        .to_luma8()
        .into_raw();
    let theirs = pydicom_render("modality", &file);
    assert_eq!(ours.len(), theirs.len());
    let worst = ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap_or(0);
    assert!(worst <= 1, "differs by up to {worst} grey levels");
    // Without the LUT the image would be nearly black; with it, it spans the range.
    assert!(ours.iter().any(|v| *v > 200));
}
