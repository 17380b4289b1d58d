//! The reviewer's windows on real chest radiographs: NIH ChestX-ray14 images from
//! `../shared/data`, stored as 12-bit DX files the way a hospital's DR system sends them.

use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_object::InMemDicomObject;
use dicom_object::meta::FileMetaTableBuilder;
use image::GrayImage;

fn nih_images(count: usize) -> Vec<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/cxr-nih-dev/images");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (the shared test data)", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    files.sort();
    files.truncate(count);
    assert_eq!(
        files.len(),
        count,
        "too few NIH images in {}",
        dir.display()
    );
    files
}

/// The radiograph as a 12-bit DX file; MONOCHROME1 stores it inverted, as many CR plates do.
fn as_dx(gray: &GrayImage, monochrome1: bool) -> Vec<u8> {
    let el =
        |g: u16, e: u16, vr: VR, v: &str| DataElement::new(Tag(g, e), vr, PrimitiveValue::from(v));
    let mut obj = InMemDicomObject::from_element_iter([
        el(0x0008, 0x0016, VR::UI, "1.2.840.10008.5.1.4.1.1.1.1"),
        el(0x0008, 0x0018, VR::UI, "1.2.826.0.1.3680043.8.498.5"),
        el(0x0008, 0x0060, VR::CS, "DX"),
        el(
            0x0028,
            0x0004,
            VR::CS,
            if monochrome1 {
                "MONOCHROME1"
            } else {
                "MONOCHROME2"
            },
        ),
    ]);
    for (element, v) in [
        (0x0002u16, 1u16),
        (0x0010, gray.height() as u16),
        (0x0011, gray.width() as u16),
        (0x0100, 16),
        (0x0101, 12),
        (0x0102, 11),
        (0x0103, 0),
    ] {
        obj.put(DataElement::new(
            Tag(0x0028, element),
            VR::US,
            PrimitiveValue::from(v),
        ));
    }
    let pixels: Vec<u16> = gray
        .pixels()
        .map(|p| {
            let v = u16::from(p[0]) * 16 + 8;
            if monochrome1 { 4095 - v } else { v }
        })
        .collect();
    obj.put(DataElement::new(
        Tag(0x7FE0, 0x0010),
        VR::OW,
        PrimitiveValue::U16(pixels.into()),
    ));
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax("1.2.840.10008.1.2.1")
                .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.1.1")
                .media_storage_sop_instance_uid("1.2.826.0.1.3680043.8.498.5"),
        )
        .expect("meta");
    let mut bytes = Vec::new();
    file.write_all(&mut bytes).expect("encode");
    bytes
}

fn rendered(bytes: &[u8], window: Option<(f64, f64)>) -> Vec<u8> {
    lunghub_imaging::display(bytes, 0, window)
        .expect("display")
        .image
        .to_luma8()
        .into_raw()
}

fn mean(px: &[u8]) -> f64 {
    px.iter().map(|v| f64::from(*v)).sum::<f64>() / px.len() as f64
}

fn std_dev(px: &[u8]) -> f64 {
    let m = mean(px);
    (px.iter().map(|v| (f64::from(*v) - m).powi(2)).sum::<f64>() / px.len() as f64).sqrt()
}

fn share(px: &[u8], level: u8) -> f64 {
    px.iter().filter(|v| **v == level).count() as f64 / px.len() as f64
}

#[test]
fn the_lung_window_of_a_radiograph_shows_the_lungs_and_the_ct_window_does_not() {
    for path in nih_images(5) {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let gray = image::open(&path).expect("png").to_luma8();
        let plain = as_dx(&gray, false);
        let windows = lunghub_imaging::windows(&plain, 0)
            .expect("windows")
            .expect("a grayscale DICOM has windows");
        assert_eq!(windows.file, None, "{name}: the file sets no window");
        let (c, w) = windows.full.expect("full range");
        let stored = |v: Option<&u8>| f64::from(v.copied().unwrap_or(0)) * 16.0 + 8.0;
        let (lo, hi) = (stored(gray.iter().min()), stored(gray.iter().max()));
        assert_eq!((c, w), ((lo + hi) / 2.0, hi - lo + 1.0), "{name}");
        let lung = windows.lung.expect("a lung window");
        let shown = rendered(&plain, Some(lung));
        let full = rendered(&plain, Some((c, w)));
        // Neither black nor white, and more contrast than the full range gives.
        assert!(
            (40.0..200.0).contains(&mean(&shown)),
            "{name}: mean {}",
            mean(&shown)
        );
        assert!(
            share(&shown, 0) < 0.35 && share(&shown, 255) < 0.45,
            "{name}"
        );
        assert!(std_dev(&shown) > std_dev(&full) * 1.2, "{name}");

        // What the old CT preset did: a radiograph's values are far above CT's lung window,
        // so all but the background saturates.
        let ct_lung = rendered(&plain, Some((-600.0, 1500.0)));
        let crushed = share(&ct_lung, 0) + share(&ct_lung, 255);
        assert!(crushed > 0.8, "{name}: {crushed}");

        // MONOCHROME1 stores the scale inverted: its lung window shows the same picture.
        let inverted = as_dx(&gray, true);
        let lung1 = lunghub_imaging::windows(&inverted, 0)
            .expect("windows")
            .and_then(|w| w.lung)
            .expect("a lung window");
        let shown1 = rendered(&inverted, Some(lung1));
        let diff = shown
            .iter()
            .zip(&shown1)
            .map(|(a, b)| (f64::from(*a) - f64::from(*b)).abs())
            .sum::<f64>()
            / shown.len() as f64;
        assert!(
            diff < 3.0,
            "{name}: MONOCHROME1 differs by {diff} gray levels on average"
        );
        // ... and the CT window is the solid black the reviewers saw.
        let ct_lung1 = rendered(&inverted, Some((-600.0, 1500.0)));
        assert!(share(&ct_lung1, 0) > 0.5, "{name}");
    }
}

#[test]
fn a_file_that_is_not_dicom_has_no_windows() {
    let path = &nih_images(1)[0];
    let png = std::fs::read(path).expect("png");
    assert_eq!(lunghub_imaging::windows(&png, 0).expect("windows"), None);
}
