//! The DICOMDIR checked by the readers people will open a release with: pydicom's FileSet,
//! DCMTK's dcmdump, and dicom3tools' dciodvfy. A missing peer fails the test: a DICOMDIR that
//! nobody but lunghub has read is not checked.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use dicom_object::meta::FileMetaTableBuilder;
use lunghub_release::dicomdir::{self, DICOMDIR, Instance};

const DX_FOR_PRESENTATION: &str = "1.2.840.10008.5.1.4.1.1.1.1";
const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
const IMPLICIT_LE: &str = "1.2.840.10008.1.2";

/// One test file's keys; `None` leaves the attribute out of the file.
struct Spec {
    patient: &'static str,
    name: &'static str,
    charset: Option<&'static str>,
    study: &'static str,
    date: &'static str,
    time: &'static str,
    description: Option<&'static str>,
    study_id: Option<&'static str>,
    accession: Option<&'static str>,
    series: &'static str,
    modality: &'static str,
    series_number: Option<&'static str>,
    sop: &'static str,
    number: Option<&'static str>,
    transfer_syntax: &'static str,
}

/// 2 patients, 3 studies, 4 series, 8 images; one patient's name needs UTF-8, one series and
/// one image have no number, one study has no Study ID, description or accession number, and
/// one file is Implicit VR.
fn specs() -> Vec<Spec> {
    let jane = |study, date, time, series, modality, series_number, sop, number| Spec {
        patient: "LH-JANE0000000000",
        name: "Doe^Jane",
        charset: None,
        study,
        date,
        time,
        description: Some("CHEST PA"),
        study_id: Some("S1"),
        accession: Some("ACC1"),
        series,
        modality,
        series_number,
        sop,
        number,
        transfer_syntax: EXPLICIT_LE,
    };
    let mut all = vec![
        jane(
            "2.25.10",
            "20200101",
            "101010",
            "2.25.100",
            "DX",
            Some("1"),
            "2.25.1001",
            Some("1"),
        ),
        jane(
            "2.25.10",
            "20200101",
            "101010",
            "2.25.100",
            "DX",
            Some("1"),
            "2.25.1002",
            Some("2"),
        ),
        jane(
            "2.25.10",
            "20200101",
            "101010",
            "2.25.101",
            "DX",
            None,
            "2.25.1011",
            None,
        ),
        jane(
            "2.25.11",
            "20210202",
            "090000",
            "2.25.110",
            "CR",
            Some("3"),
            "2.25.1101",
            Some("1"),
        ),
        jane(
            "2.25.11",
            "20210202",
            "090000",
            "2.25.110",
            "CR",
            Some("3"),
            "2.25.1102",
            Some("2"),
        ),
    ];
    for s in &mut all[3..] {
        s.description = None;
        s.study_id = None;
        s.accession = None;
    }
    all[4].transfer_syntax = IMPLICIT_LE;
    for (sop, number) in [("2.25.2001", "3"), ("2.25.2002", "1"), ("2.25.2003", "2")] {
        all.push(Spec {
            patient: "LH-MULL0000000000",
            name: "Müller^Jürgen",
            charset: Some("ISO_IR 192"),
            study: "2.25.20",
            date: "20190303",
            time: "235959",
            description: Some("THORAX ÜBERSICHT"),
            study_id: Some("S7"),
            accession: Some("ACC7"),
            series: "2.25.200",
            modality: "DX",
            series_number: Some("5"),
            sop,
            number: Some(number),
            transfer_syntax: EXPLICIT_LE,
        });
    }
    all
}

fn part10(spec: &Spec) -> Vec<u8> {
    let mut obj = InMemDicomObject::new_empty();
    let mut put = |tag: Tag, vr: VR, value: PrimitiveValue| {
        obj.put(DataElement::new(tag, vr, value));
    };
    let text = |s: &str| PrimitiveValue::from(s);
    if let Some(charset) = spec.charset {
        put(tags::SPECIFIC_CHARACTER_SET, VR::CS, text(charset));
    }
    put(tags::SOP_CLASS_UID, VR::UI, text(DX_FOR_PRESENTATION));
    put(tags::SOP_INSTANCE_UID, VR::UI, text(spec.sop));
    put(tags::STUDY_DATE, VR::DA, text(spec.date));
    put(tags::STUDY_TIME, VR::TM, text(spec.time));
    put(tags::MODALITY, VR::CS, text(spec.modality));
    put(tags::PATIENT_NAME, VR::PN, text(spec.name));
    put(tags::PATIENT_ID, VR::LO, text(spec.patient));
    put(tags::STUDY_INSTANCE_UID, VR::UI, text(spec.study));
    put(tags::SERIES_INSTANCE_UID, VR::UI, text(spec.series));
    for (tag, vr, value) in [
        (tags::ACCESSION_NUMBER, VR::SH, spec.accession),
        (tags::STUDY_DESCRIPTION, VR::LO, spec.description),
        (tags::STUDY_ID, VR::SH, spec.study_id),
        (tags::SERIES_NUMBER, VR::IS, spec.series_number),
        (tags::INSTANCE_NUMBER, VR::IS, spec.number),
    ] {
        if let Some(value) = value {
            put(tag, vr, text(value));
        }
    }
    put(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16));
    put(
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        text("MONOCHROME2"),
    );
    for tag in [tags::ROWS, tags::COLUMNS] {
        put(tag, VR::US, PrimitiveValue::from(2u16));
    }
    for (tag, value) in [
        (tags::BITS_ALLOCATED, 8u16),
        (tags::BITS_STORED, 8),
        (tags::HIGH_BIT, 7),
        (tags::PIXEL_REPRESENTATION, 0),
    ] {
        put(tag, VR::US, PrimitiveValue::from(value));
    }
    put(
        tags::PIXEL_DATA,
        VR::OB,
        PrimitiveValue::from(vec![0u8, 64, 128, 255]),
    );
    let file = obj
        .with_meta(FileMetaTableBuilder::new().transfer_syntax(spec.transfer_syntax))
        .expect("meta");
    let mut bytes = Vec::new();
    file.write_all(&mut bytes).expect("write");
    bytes
}

/// Writes the files under their laid-out File IDs and the DICOMDIR at `root`.
fn release(root: &Path) -> (Vec<Instance>, Vec<u8>) {
    let files: Vec<Vec<u8>> = specs().iter().map(part10).collect();
    let mut instances: Vec<Instance> = files
        .iter()
        .map(|bytes| Instance::read(Vec::new(), bytes).expect("read"))
        .collect();
    dicomdir::lay_out(&mut instances).expect("lay out");
    for (instance, bytes) in instances.iter().zip(&files) {
        let path = root.join(instance.relative_path());
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, bytes).expect("write");
    }
    let dir = dicomdir::dicomdir("LUNGHUB_TEST", &instances).expect("dicomdir");
    std::fs::write(root.join(DICOMDIR), &dir).expect("write");
    (instances, dir)
}

#[test]
fn the_layout_follows_the_tree_and_the_bytes_do_not_depend_on_input_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (instances, bytes) = release(dir.path());
    let path_of = |sop: &str| {
        instances
            .iter()
            .find(|i| i.sop_instance_uid == sop)
            .expect("instance")
            .relative_path()
    };
    // Patients by ID, studies by date, series and images by number, unnumbered ones last.
    assert_eq!(
        path_of("2.25.1001"),
        "DICOM/PT000001/ST000001/SE000001/IM000001"
    );
    assert_eq!(
        path_of("2.25.1011"),
        "DICOM/PT000001/ST000001/SE000002/IM000001"
    );
    assert_eq!(
        path_of("2.25.1102"),
        "DICOM/PT000001/ST000002/SE000001/IM000002"
    );
    assert_eq!(
        path_of("2.25.2002"),
        "DICOM/PT000002/ST000001/SE000001/IM000001"
    );
    assert_eq!(
        path_of("2.25.2001"),
        "DICOM/PT000002/ST000001/SE000001/IM000003"
    );

    assert_eq!(
        dicomdir::dicomdir("LUNGHUB_TEST", &instances).expect("again"),
        bytes
    );
    let mut shuffled = instances.clone();
    shuffled.reverse();
    shuffled.swap(1, 5);
    assert_eq!(
        dicomdir::dicomdir("LUNGHUB_TEST", &shuffled).expect("shuffled"),
        bytes
    );
    assert_ne!(
        dicomdir::dicomdir("LUNGHUB_OTHER", &instances).expect("other"),
        bytes
    );
}

/// pydicom's FileSet: every instance listed and found by patient, each file loads as the
/// instance its record names, the records form the PATIENT → STUDY → SERIES → IMAGE tree, and
/// no record hangs outside it. Any pydicom warning fails it.
const PYDICOM_CHECK: &str = r#"
import sys, warnings
from collections import Counter
from pathlib import Path
warnings.simplefilter("error")
# FileSet keeps a staging folder that Python cleans up at exit: not the DICOMDIR's doing.
warnings.simplefilter("ignore", ResourceWarning)
import pydicom
from pydicom.fileset import FileSet

root = Path(sys.argv[1])
counts = dict(zip(["PATIENT", "STUDY", "SERIES", "IMAGE"], map(int, sys.argv[2].split(","))))
want = {}
for arg in sys.argv[3:]:
    patient, sop, path = arg.split("|")
    want[sop] = (patient, path)

fs = FileSet(pydicom.dcmread(root / "DICOMDIR"))
assert fs.ID == "LUNGHUB_TEST", fs.ID
got = {i.SOPInstanceUID: i for i in fs}
assert len(fs) == len(want) and set(got) == set(want), (len(fs), sorted(got), sorted(want))
for patient in sorted({p for p, _ in want.values()}):
    found = {i.SOPInstanceUID for i in fs.find(PatientID=patient)}
    expected = {s for s, (p, _) in want.items() if p == patient}
    assert found == expected, (patient, found, expected)
for sop, inst in got.items():
    patient, path = want[sop]
    assert Path(inst.path) == root / path, (inst.path, path)
    ds = inst.load()
    assert ds.SOPInstanceUID == sop, (ds.SOPInstanceUID, sop)
    assert ds.PatientID == inst.PatientID == patient, (ds.PatientID, inst.PatientID, patient)
    assert inst.PatientName == ds.PatientName, (inst.PatientName, ds.PatientName)
    for keyword in ["StudyInstanceUID", "StudyDate", "StudyTime", "SeriesInstanceUID", "Modality"]:
        assert getattr(inst, keyword) == ds[keyword].value, (keyword, getattr(inst, keyword))
    for keyword in ["StudyDescription", "AccessionNumber", "StudyID", "SeriesNumber", "InstanceNumber"]:
        if keyword in ds:
            assert getattr(inst, keyword) == ds[keyword].value, (keyword, getattr(inst, keyword))
    assert inst.SOPClassUID == ds.SOPClassUID
    assert inst.TransferSyntaxUID == ds.file_meta.TransferSyntaxUID
    chain = [n.record_type for n in [inst.node] + inst.node.ancestors]
    assert chain == ["IMAGE", "SERIES", "STUDY", "PATIENT"], chain

seen = Counter(n.record_type for n in next(iter(got.values())).node.root)
assert seen == counts, (seen, counts)
strict = FileSet()
strict.load(root / "DICOMDIR", raise_orphans=True)
assert len(strict) == len(want)
print("pydicom read", len(fs), "instances")
"#;

#[test]
fn pydicom_lists_finds_and_loads_every_instance() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let (instances, _) = release(root);
    let python = std::env::var("LUNGHUB_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut args = vec![
        "-c".to_owned(),
        PYDICOM_CHECK.to_owned(),
        root.display().to_string(),
    ];
    args.push("2,3,4,8".into());
    for i in &instances {
        args.push(format!(
            "{}|{}|{}",
            i.patient_id,
            i.sop_instance_uid,
            i.relative_path()
        ));
    }
    let out = Command::new(&python)
        .args(&args)
        .output()
        .expect("python with pydicom runs (LUNGHUB_PYTHON)");
    assert!(
        out.status.success(),
        "pydicom rejected the DICOMDIR:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn dcmdump_reads_it_without_a_complaint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let (instances, _) = release(root);
    let out = Command::new("dcmdump")
        .arg(root.join(DICOMDIR))
        .output()
        .expect("dcmdump (DCMTK) must be installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "dcmdump:\n{stderr}\n{stdout}"
    );
    let mut types = BTreeMap::new();
    for line in stdout.lines() {
        if let Some(rest) = line.trim_start().strip_prefix("(0004,1430) CS [") {
            let record_type = rest.split(']').next().unwrap_or_default().to_owned();
            *types.entry(record_type).or_insert(0) += 1;
        }
    }
    let want: BTreeMap<String, usize> = [("PATIENT", 2), ("STUDY", 3), ("SERIES", 4), ("IMAGE", 8)]
        .map(|(t, n)| (t.to_owned(), n))
        .into();
    assert_eq!(types, want, "{stdout}");
    for i in &instances {
        let file_id = format!("(0004,1500) CS [{}]", i.file_id.join("\\"));
        assert!(stdout.contains(&file_id), "{file_id} not in:\n{stdout}");
    }
    assert!(stdout.contains("MediaStorageDirectoryStorage"), "{stdout}");
    assert!(stdout.contains("Müller^Jürgen"), "{stdout}");
}

#[test]
fn dciodvfy_finds_no_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    release(root);
    let out = Command::new("dciodvfy")
        .arg(root.join(DICOMDIR))
        .output()
        .expect("dciodvfy (dicom3tools) must be installed");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("dciodvfy:\n{report}");
    let errors: Vec<&str> = report.lines().filter(|l| l.starts_with("Error")).collect();
    assert!(errors.is_empty(), "dciodvfy:\n{report}");
    assert!(
        report.contains("BasicDirectory"),
        "dciodvfy did not take it for a DICOMDIR:\n{report}"
    );
}
