//! DICOM files built in code, with planted fake identity, for the route tests.

use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_object::InMemDicomObject;
use dicom_object::meta::FileMetaTableBuilder;

pub const DX_PRESENTATION: &str = "1.2.840.10008.5.1.4.1.1.1.1";
pub const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";

/// Planted identity: none of these may reach a stored blob.
pub const PLANTED: [&str; 4] = ["DOE^JANE", "PHI-123456", "Saint Elsewhere", "19500101"];

fn el(tag: (u16, u16), vr: VR, value: &str) -> DataElement<InMemDicomObject> {
    DataElement::new(Tag(tag.0, tag.1), vr, PrimitiveValue::from(value))
}

/// A 16-bit (12 stored) DX chest radiograph of "DOE^JANE", `size`×`size` pixels with a
/// pattern that depends on `seed`, in one study.
pub fn chest_dx(study_uid: &str, sop_uid: &str, seed: u16, size: u16) -> Vec<u8> {
    let mut obj = InMemDicomObject::from_element_iter([
        el((0x0008, 0x0005), VR::CS, "ISO_IR 100"),
        el((0x0008, 0x0016), VR::UI, DX_PRESENTATION),
        el((0x0008, 0x0018), VR::UI, sop_uid),
        el((0x0008, 0x0020), VR::DA, "20200312"),
        el((0x0008, 0x0060), VR::CS, "DX"),
        el((0x0008, 0x0068), VR::CS, "FOR PRESENTATION"),
        el((0x0008, 0x0080), VR::LO, "Saint Elsewhere Hospital"),
        el((0x0010, 0x0010), VR::PN, "DOE^JANE"),
        el((0x0010, 0x0020), VR::LO, "PHI-123456"),
        el((0x0010, 0x0030), VR::DA, "19500101"),
        el((0x0010, 0x0040), VR::CS, "F"),
        el((0x0018, 0x5101), VR::CS, "PA"),
        el((0x0020, 0x000D), VR::UI, study_uid),
        el((0x0020, 0x000E), VR::UI, &format!("{study_uid}.1")),
        el((0x0028, 0x0004), VR::CS, "MONOCHROME2"),
        el((0x0028, 0x0301), VR::CS, "NO"),
        el((0x0028, 0x1050), VR::DS, "2048"),
        el((0x0028, 0x1051), VR::DS, "4096"),
    ]);
    for (element, v) in [
        (0x0002u16, 1u16),
        (0x0010, size),
        (0x0011, size),
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
    let n = usize::from(size) * usize::from(size);
    let pixels: Vec<u16> = (0..n)
        .map(|i| {
            let (x, y) = (
                (i % usize::from(size)) as u32,
                (i / usize::from(size)) as u32,
            );
            ((x * 37 + y * 11 + u32::from(seed) * 101) % 4096) as u16
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
                .transfer_syntax(EXPLICIT_LE)
                .implementation_class_uid("1.2.3.999")
                .source_application_entity_title("HOSPITAL_PACS"),
        )
        .expect("meta");
    let mut bytes = Vec::new();
    file.write_all(&mut bytes).expect("encode");
    bytes
}

/// Whether any planted identity appears in any file under `dir`.
pub fn planted_in(dir: &std::path::Path) -> Vec<String> {
    found_in(dir, &PLANTED)
}

/// Which of `needles` the files under `dir` hold, and where.
pub fn found_in(dir: &std::path::Path, needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for entry in walk(dir) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        for p in needles {
            if bytes.windows(p.len()).any(|w| w == p.as_bytes()) {
                found.push(format!("{p} in {}", entry.display()));
            }
        }
    }
    found
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// A valid 64×64 DX whose Pixel Data length field is rewritten to declare 0xFFFFFFF0 bytes:
/// 9 KB that asked dicom-rs for 4 GB before the bounded pre-scan stood in front of it.
pub fn declaring_4_gb() -> Vec<u8> {
    let mut bytes = chest_dx(
        "1.2.826.0.1.3680043.8.498.71",
        "1.2.826.0.1.3680043.8.498.72",
        3,
        64,
    );
    let header = [0xE0, 0x7F, 0x10, 0x00, b'O', b'W', 0, 0];
    let at = bytes
        .windows(8)
        .rposition(|w| w == header)
        .expect("the Pixel Data header");
    bytes[at + 8..at + 12].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    assert!(bytes.len() < 10_000, "{} bytes", bytes.len());
    bytes
}
