//! Planted-PHI tests: each fixture is a DICOM file built in code with fake identity in
//! the places PS3.15 worries about, and each test checks one promise of the
//! de-identifier, usually by searching the output's raw bytes for the planted values.

use dicom_core::header::Header;
use dicom_core::value::{DataSetSequence, PixelFragmentSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, Length, Tag, VR};
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::{DefaultDicomObject, InMemDicomObject, OpenFileOptions};
use lunghub_deid::profile::{PixelCleaning, SafePrivate};
use lunghub_deid::{Cause, Deidentifier, LABELS_CREATOR, Outcome, Profile, SiteKey, Stated};

const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
const EXPLICIT_BE: &str = "1.2.840.10008.1.2.2";
const DEFLATED: &str = "1.2.840.10008.1.2.1.99";
const JPEG_BASELINE: &str = "1.2.840.10008.1.2.4.50";
const CR_IMAGE: &str = "1.2.840.10008.5.1.4.1.1.1";
const US_IMAGE: &str = "1.2.840.10008.5.1.4.1.1.6.1";

fn el(group: u16, element: u16, vr: VR, value: &str) -> DataElement<InMemDicomObject> {
    DataElement::new(Tag(group, element), vr, PrimitiveValue::from(value))
}

fn seq(group: u16, element: u16, items: Vec<InMemDicomObject>) -> DataElement<InMemDicomObject> {
    DataElement::new(
        Tag(group, element),
        VR::SQ,
        Value::Sequence(DataSetSequence::new(items, Length::UNDEFINED)),
    )
}

/// A CR image of "DOE^JOHN" with PHI in all the usual places and 4x4 native pixels.
fn chest_xray(patient_id: &str, study_date: &str, sop_instance: &str) -> InMemDicomObject {
    let mut obj = InMemDicomObject::from_element_iter([
        el(0x0008, 0x0005, VR::CS, "ISO_IR 100"),
        el(0x0008, 0x0016, VR::UI, CR_IMAGE),
        el(0x0008, 0x0018, VR::UI, sop_instance),
        el(0x0008, 0x0020, VR::DA, study_date),
        el(0x0008, 0x0030, VR::TM, "083015.123"),
        el(0x0008, 0x002A, VR::DT, "20200312083015.123456+0100"),
        el(0x0008, 0x0050, VR::SH, "ACC-778899"),
        el(0x0008, 0x0060, VR::CS, "CR"),
        el(0x0008, 0x0070, VR::LO, "ACME"),
        el(0x0008, 0x0080, VR::LO, "Saint Elsewhere Hospital"),
        el(0x0008, 0x0090, VR::PN, "HOUSE^GREGORY"),
        el(0x0008, 0x0201, VR::SH, "+0100"),
        el(0x0008, 0x1010, VR::SH, "XRAYROOM7"),
        el(0x0008, 0x1030, VR::LO, "Chest of John Doe"),
        el(0x0008, 0x1090, VR::LO, "Rad 9000"),
        el(0x0010, 0x0010, VR::PN, "DOE^JOHN"),
        el(0x0010, 0x0020, VR::LO, patient_id),
        el(0x0010, 0x0030, VR::DA, "19500101"),
        el(0x0010, 0x0040, VR::CS, "M"),
        el(0x0010, 0x1010, VR::AS, "070Y"),
        el(0x0010, 0x1040, VR::LO, "1 Main Street, Springfield"),
        el(0x0010, 0x2154, VR::SH, "555-0199"),
        el(0x0020, 0x000D, VR::UI, "1.2.3.4.5.100"),
        el(0x0020, 0x000E, VR::UI, "1.2.3.4.5.200"),
        el(0x0020, 0x0010, VR::SH, "STUDY42"),
        el(0x0028, 0x0004, VR::CS, "MONOCHROME2"),
    ]);
    for (tag, v) in [
        (0x0010u16, 4u16),
        (0x0011, 4),
        (0x0100, 16),
        (0x0101, 12),
        (0x0102, 11),
        (0x0103, 0),
    ] {
        obj.put(DataElement::new(
            Tag(0x0028, tag),
            VR::US,
            PrimitiveValue::from(v),
        ));
    }
    obj.put(DataElement::new(
        Tag(0x0028, 0x0002),
        VR::US,
        PrimitiveValue::from(1u16),
    ));
    obj.put(DataElement::new(
        Tag(0x0028, 0x0301),
        VR::CS,
        PrimitiveValue::from("NO"),
    ));
    let pixels: Vec<u16> = (0..16).map(|i| i * 100).collect();
    obj.put(DataElement::new(
        Tag(0x7FE0, 0x0010),
        VR::OW,
        PrimitiveValue::U16(pixels.into()),
    ));
    obj
}

fn encode(obj: InMemDicomObject, ts: &str) -> Vec<u8> {
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(ts)
                .implementation_class_uid("1.2.3.999")
                .source_application_entity_title("HOSPITAL_PACS"),
        )
        .expect("meta");
    let mut bytes = Vec::new();
    file.write_all(&mut bytes).expect("encode");
    bytes
}

fn key() -> SiteKey {
    SiteKey::from_bytes([42; 32])
}

fn deid_with(profile: Profile, input: &[u8]) -> Outcome {
    Deidentifier::new(profile, key())
        .expect("deidentifier")
        .deidentify(input)
        .expect("readable")
}

fn written(outcome: Outcome) -> lunghub_deid::DeidentifiedFile {
    match outcome {
        Outcome::Written(f) => f,
        Outcome::Quarantined(why) => panic!("unexpectedly quarantined: {why}"),
    }
}

fn deid(input: &[u8]) -> lunghub_deid::DeidentifiedFile {
    written(deid_with(Profile::lunghub_default(), input))
}

fn parse(bytes: &[u8]) -> DefaultDicomObject {
    OpenFileOptions::new()
        .from_reader(&bytes[128..])
        .expect("output parses")
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

fn text(obj: &InMemDicomObject, tag: Tag) -> String {
    obj.get(tag)
        .map(|e| {
            e.value()
                .to_str()
                .map(|s| s.trim_end_matches(['\0', ' ']).to_owned())
                .unwrap_or_default()
        })
        .unwrap_or_default()
}

const PLANTED: &[&str] = &[
    "DOE",
    "JOHN",
    "HOUSE",
    "GREGORY",
    "Elsewhere",
    "Springfield",
    "555-0199",
    "ACC-778899",
    "STUDY42",
    "XRAYROOM7",
    "HOSPITAL_PACS",
    "19500101",
    "1.2.3.4.5.100",
    "1.2.3.4.5.200",
    "+0100",
];

fn assert_no_planted(bytes: &[u8]) {
    for p in PLANTED {
        assert!(!contains(bytes, p), "planted value {p:?} survived");
    }
}

#[test]
fn planted_identity_is_gone_and_the_output_says_how() {
    let input = encode(
        chest_xray("MRN-12345", "20200312", "1.2.3.4.5.300"),
        EXPLICIT_LE,
    );
    let out = deid(&input);
    assert_no_planted(&out.bytes);
    assert!(!contains(&out.bytes, "MRN-12345"));
    let obj = parse(&out.bytes);
    assert_eq!(text(&obj, Tag(0x0012, 0x0062)), "YES");
    assert!(text(&obj, Tag(0x0012, 0x0063)).contains("Basic Application Confidentiality Profile"));
    let codes: Vec<String> = match obj.get(Tag(0x0012, 0x0064)).map(|e| e.value()) {
        Some(Value::Sequence(s)) => s
            .items()
            .iter()
            .map(|i| text(i, Tag(0x0008, 0x0100)))
            .collect(),
        _ => panic!("no DeidentificationMethodCodeSequence"),
    };
    assert_eq!(codes, ["113100", "113107", "113108"]);
    assert_eq!(text(&obj, Tag(0x0028, 0x0303)), "MODIFIED");
    // Patient characteristics are kept by the default profile.
    assert_eq!(text(&obj, Tag(0x0010, 0x0040)), "M");
    assert_eq!(text(&obj, Tag(0x0010, 0x1010)), "070Y");
    // Manufacturer is not identifying and stays.
    assert_eq!(text(&obj, Tag(0x0008, 0x0070)), "ACME");
}

#[test]
fn the_same_rules_apply_at_any_depth_of_nested_sequences() {
    let mut obj = chest_xray("MRN-1", "20200312", "1.2.3.4.5.300");
    // Five levels of Referenced Series Sequence, the innermost full of identity.
    let mut inner = InMemDicomObject::from_element_iter([
        el(0x0008, 0x0020, VR::DA, "20200312"),
        el(0x0008, 0x0080, VR::LO, "Saint Elsewhere Hospital"),
        el(0x0008, 0x1070, VR::PN, "HOUSE^GREGORY"),
        el(0x0008, 0x1155, VR::UI, "1.2.3.4.5.100"),
        el(0x0010, 0x0010, VR::PN, "DOE^JOHN"),
        el(0x0010, 0x2154, VR::SH, "555-0199"),
    ]);
    for _ in 0..5 {
        inner = InMemDicomObject::from_element_iter([seq(0x0008, 0x1115, vec![inner])]);
    }
    for e in inner {
        obj.put(e);
    }
    let out = deid(&encode(obj, EXPLICIT_LE));
    assert_no_planted(&out.bytes);
    let parsed = parse(&out.bytes);
    let mut item: &InMemDicomObject = &parsed;
    for _ in 0..5 {
        item = match item.get(Tag(0x0008, 0x1115)).map(|e| e.value()) {
            Some(Value::Sequence(s)) => &s.items()[0],
            other => panic!("sequence lost: {other:?}"),
        };
    }
    // The referenced UID maps exactly like the Study Instance UID it names.
    assert_eq!(
        text(item, Tag(0x0008, 0x1155)),
        text(&parsed, Tag(0x0020, 0x000D))
    );
    // The date moved by the same per-patient offset as the top-level Study Date.
    assert_eq!(
        text(item, Tag(0x0008, 0x0020)),
        text(&parsed, Tag(0x0008, 0x0020))
    );
    assert_ne!(text(item, Tag(0x0008, 0x0020)), "20200312");
}

#[test]
fn uids_map_consistently_across_files_and_runs_and_standard_uids_stay() {
    let a = encode(
        chest_xray("MRN-1", "20200312", "1.2.3.4.5.300"),
        EXPLICIT_LE,
    );
    let mut b_obj = chest_xray("MRN-1", "20200313", "1.2.3.4.5.301");
    b_obj.put(seq(
        0x0008,
        0x1140,
        vec![InMemDicomObject::from_element_iter([
            el(0x0008, 0x1150, VR::UI, CR_IMAGE),
            el(0x0008, 0x1155, VR::UI, "1.2.3.4.5.300"),
        ])],
    ));
    let b = encode(b_obj, EXPLICIT_LE);
    let (a1, b1) = (parse(&deid(&a).bytes), parse(&deid(&b).bytes));
    let a2 = parse(&deid(&a).bytes); // a second run: a new Deidentifier
    let sop_a = text(&a1, Tag(0x0008, 0x0018));
    assert!(sop_a.starts_with("2.25.") && sop_a.len() <= 64, "{sop_a}");
    assert_eq!(sop_a, text(&a2, Tag(0x0008, 0x0018)));
    assert_eq!(
        text(&a1, Tag(0x0020, 0x000D)),
        text(&b1, Tag(0x0020, 0x000D))
    );
    assert_eq!(text(&a1, Tag(0x0008, 0x0016)), CR_IMAGE);
    assert_eq!(a1.meta().transfer_syntax(), EXPLICIT_LE);
    assert_eq!(a1.meta().media_storage_sop_instance_uid(), sop_a);
    // The CR's Referenced Image Sequence is optional, so X/Z/U* removes it...
    assert!(b1.get(Tag(0x0008, 0x1140)).is_none());
    // ...but with Retain UIDs nothing is replaced at all.
    let mut profile = Profile::lunghub_default();
    profile.options.retain_uids = true;
    let kept = parse(&written(deid_with(profile, &b)).bytes);
    assert_eq!(text(&kept, Tag(0x0008, 0x0018)), "1.2.3.4.5.301");
}

#[test]
fn a_patient_keeps_one_pseudonym_and_one_date_offset() {
    let first = parse(
        &deid(&encode(
            chest_xray("MRN-1", "20200110", "1.2.3.1"),
            EXPLICIT_LE,
        ))
        .bytes,
    );
    let again = parse(
        &deid(&encode(
            chest_xray("MRN-1", "20200402", "1.2.3.2"),
            EXPLICIT_LE,
        ))
        .bytes,
    );
    let other = parse(
        &deid(&encode(
            chest_xray("MRN-2", "20200110", "1.2.3.3"),
            EXPLICIT_LE,
        ))
        .bytes,
    );
    let pid = text(&first, Tag(0x0010, 0x0020));
    assert!(pid.starts_with("LH-"), "{pid}");
    assert_eq!(pid, text(&again, Tag(0x0010, 0x0020)));
    assert_ne!(pid, text(&other, Tag(0x0010, 0x0020)));
    assert_eq!(
        text(&first, Tag(0x0010, 0x0010)),
        pid,
        "the name becomes the pseudonym"
    );
    let days = |s: String| {
        let (y, m, d): (i32, u32, u32) = (
            s[0..4].parse().expect("y"),
            s[4..6].parse().expect("m"),
            s[6..8].parse().expect("d"),
        );
        // Days from civil, enough for the interval check.
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * ((m + 9) % 12) as i32 + 2) / 5 + d as i32 - 1;
        era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy
    };
    let interval =
        days(text(&again, Tag(0x0008, 0x0020))) - days(text(&first, Tag(0x0008, 0x0020)));
    assert_eq!(interval, 83, "2020-01-10 to 2020-04-02 is 83 days");
}

#[test]
fn times_keep_their_format_and_timezones_go() {
    let out = parse(
        &deid(&encode(
            chest_xray("MRN-1", "20200312", "1.2.3.1"),
            EXPLICIT_LE,
        ))
        .bytes,
    );
    // Modified Dates cleans times by keeping them: a day offset leaves the time of day.
    assert_eq!(text(&out, Tag(0x0008, 0x0030)), "083015.123");
    let dt = text(&out, Tag(0x0008, 0x002A));
    assert!(
        dt.is_empty() || (dt.len() == 21 && !dt.contains('+')),
        "{dt}"
    );
    assert!(
        out.get(Tag(0x0008, 0x0201)).is_none(),
        "TimezoneOffsetFromUTC survived"
    );
}

#[test]
fn private_attributes_go_unless_allowlisted_and_un_sequences_do_not_crash() {
    let mut obj = chest_xray("MRN-1", "20200312", "1.2.3.1");
    obj.put(el(0x0009, 0x0010, VR::LO, "ACME 1.0"));
    obj.put(el(0x0009, 0x1001, VR::LO, "dose 12 mGy"));
    obj.put(el(0x0009, 0x1002, VR::LO, "operator SMITHERS"));
    obj.put(el(0x0011, 0x0010, VR::LO, "OTHER VENDOR"));
    obj.put(el(0x0011, 0x1001, VR::LO, "JOHN DOE again"));
    let input = encode(obj, EXPLICIT_LE);

    let out = deid(&input);
    assert!(
        !contains(&out.bytes, "SMITHERS")
            && !contains(&out.bytes, "dose 12")
            && !contains(&out.bytes, "ACME 1.0")
    );

    let mut profile = Profile::lunghub_default();
    profile.options.retain_safe_private = true;
    profile.safe_private.push(SafePrivate {
        creator: "ACME 1.0".into(),
        element: 0x01,
    });
    let kept = written(deid_with(profile, &input));
    assert!(
        contains(&kept.bytes, "dose 12 mGy"),
        "the allowlisted private attribute was lost"
    );
    assert!(
        contains(&kept.bytes, "ACME 1.0"),
        "its private creator was lost"
    );
    assert!(!contains(&kept.bytes, "SMITHERS") && !contains(&kept.bytes, "OTHER VENDOR"));
    assert!(parse(&kept.bytes).get(Tag(0x0009, 0x1001)).is_some());

    // A private sequence encoded as UN with undefined length (implicit VR inside).
    let head = encode(
        InMemDicomObject::from_element_iter([
            el(0x0008, 0x0016, VR::UI, CR_IMAGE),
            el(0x0008, 0x0018, VR::UI, "1.2.3.9"),
            el(0x0010, 0x0010, VR::PN, "DOE^JOHN"),
        ]),
        EXPLICIT_LE,
    );
    let mut bytes = head;
    bytes.extend([0x19, 0x00, 0x10, 0x00, b'L', b'O', 4, 0]);
    bytes.extend(b"ACME");
    bytes.extend([
        0x19, 0x00, 0x01, 0x10, b'U', b'N', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
    ]);
    bytes.extend([0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]); // item, undefined length
    bytes.extend([0x10, 0x00, 0x10, 0x00, 12, 0, 0, 0]); // (0010,0010), implicit VR
    bytes.extend(b"SECRET^NAME ");
    bytes.extend([
        0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0, 0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0,
    ]);
    bytes.extend([0x20, 0x00, 0x0D, 0x00, b'U', b'I', 6, 0]);
    bytes.extend(b"1.2.3\0");
    let out = deid(&bytes);
    assert!(!contains(&out.bytes, "SECRET") && !contains(&out.bytes, "ACME"));
    assert!(
        parse(&out.bytes).get(Tag(0x0020, 0x000D)).is_some(),
        "elements after the UN sequence were lost"
    );
}

#[test]
fn curves_overlays_and_icons_are_removed() {
    let mut obj = chest_xray("MRN-1", "20200312", "1.2.3.1");
    obj.put(DataElement::new(
        Tag(0x5000, 0x3000),
        VR::OW,
        PrimitiveValue::U16(vec![1, 2, 3, 4].into()),
    ));
    obj.put(DataElement::new(
        Tag(0x6000, 0x0010),
        VR::US,
        PrimitiveValue::from(4u16),
    ));
    obj.put(DataElement::new(
        Tag(0x6000, 0x0011),
        VR::US,
        PrimitiveValue::from(4u16),
    ));
    obj.put(el(0x6000, 0x0040, VR::CS, "G"));
    obj.put(DataElement::new(
        Tag(0x6000, 0x3000),
        VR::OW,
        PrimitiveValue::U16(vec![0xFFFF].into()),
    ));
    obj.put(el(0x6002, 0x4000, VR::LT, "overlay drawn for DOE JOHN"));
    obj.put(seq(
        0x0088,
        0x0200,
        vec![InMemDicomObject::from_element_iter([
            el(0x0010, 0x0010, VR::PN, "ICON^DOE"),
            DataElement::new(
                Tag(0x7FE0, 0x0010),
                VR::OB,
                PrimitiveValue::U8(vec![7u8; 16].into()),
            ),
        ])],
    ));
    let out = parse(&deid(&encode(obj, EXPLICIT_LE)).bytes);
    let bad: Vec<Tag> = out
        .iter()
        .map(|e| e.tag())
        .filter(|t| (0x5000..=0x60FF).contains(&t.0) || *t == Tag(0x0088, 0x0200))
        .collect();
    assert!(bad.is_empty(), "survived: {bad:?}");
}

#[test]
fn every_transfer_syntax_is_cleaned_and_keeps_its_pixels() {
    for ts in [EXPLICIT_LE, IMPLICIT_LE, EXPLICIT_BE, DEFLATED] {
        let input = encode(chest_xray("MRN-1", "20200312", "1.2.3.1"), ts);
        let out = deid(&input);
        let parsed = parse(&out.bytes);
        assert_eq!(parsed.meta().transfer_syntax(), ts);
        // For the deflated syntax the PHI sits inside the compressed stream: inflate it.
        let plain = if ts == DEFLATED {
            let meta_end = 132 + 12 + parsed.meta().information_group_length as usize;
            let mut inflated = Vec::new();
            std::io::Read::read_to_end(
                &mut flate2::read::DeflateDecoder::new(&out.bytes[meta_end..]),
                &mut inflated,
            )
            .expect("inflate");
            assert!(
                contains(&inflated, "LH-"),
                "the inflated data set lacks the pseudonym"
            );
            inflated
        } else {
            out.bytes.clone()
        };
        assert_no_planted(&plain);
        let pixels = parsed
            .get(Tag(0x7FE0, 0x0010))
            .expect("pixels")
            .to_bytes()
            .expect("bytes")
            .into_owned();
        let expected: Vec<u8> = (0..16u16).flat_map(|i| (i * 100).to_le_bytes()).collect();
        assert_eq!(pixels, expected, "pixels changed in {ts}");
    }
}

#[test]
fn encapsulated_pixel_data_is_copied_byte_for_byte() {
    let mut obj = chest_xray("MRN-1", "20200312", "1.2.3.1");
    let fragment: Vec<u8> = vec![0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x04, 0x42, 0x42, 0xFF, 0xD9];
    obj.put(DataElement::new(
        Tag(0x7FE0, 0x0010),
        VR::OB,
        Value::PixelSequence(PixelFragmentSequence::new(
            vec![0u32],
            vec![fragment.clone()],
        )),
    ));
    let out = parse(&deid(&encode(obj, JPEG_BASELINE)).bytes);
    assert_eq!(out.meta().transfer_syntax(), JPEG_BASELINE);
    match out.get(Tag(0x7FE0, 0x0010)).map(|e| e.value()) {
        Some(Value::PixelSequence(seq)) => assert_eq!(seq.fragments(), &[fragment]),
        other => panic!("pixel data lost: {other:?}"),
    }
}

#[test]
fn the_meta_group_is_rebuilt_and_the_preamble_zeroed() {
    let mut input = encode(chest_xray("MRN-1", "20200312", "1.2.3.1"), EXPLICIT_LE);
    input[..12].copy_from_slice(b"DOE^JOHN MRN");
    let out = deid(&input);
    assert_eq!(&out.bytes[..128], &[0u8; 128][..]);
    let parsed = parse(&out.bytes);
    assert_eq!(parsed.meta().source_application_entity_title(), None);
    assert_eq!(
        parsed.meta().implementation_class_uid(),
        lunghub_deid::IMPLEMENTATION_CLASS_UID
    );
    assert_eq!(
        parsed.meta().media_storage_sop_instance_uid(),
        text(&parsed, Tag(0x0008, 0x0018))
    );
}

#[test]
fn burned_in_annotation_quarantines_unless_a_rule_cleans_the_pixels() {
    let mut yes = chest_xray("MRN-1", "20200312", "1.2.3.1");
    yes.put(el(0x0028, 0x0301, VR::CS, "YES"));
    match deid_with(
        Profile::lunghub_default(),
        &encode(yes.clone(), EXPLICIT_LE),
    ) {
        Outcome::Quarantined(why) => {
            assert_eq!(why.cause, Cause::BurnedInText);
            assert!(why.detail.contains("BurnedInAnnotation is YES"), "{why}");
        }
        Outcome::Written(_) => panic!("a YES file was written"),
    }
    let mut us = chest_xray("MRN-1", "20200312", "1.2.3.1");
    us.put(el(0x0008, 0x0016, VR::UI, US_IMAGE));
    us.put(el(0x0008, 0x0060, VR::CS, "US"));
    us.remove_element(Tag(0x0028, 0x0301));
    match deid_with(Profile::lunghub_default(), &encode(us, EXPLICIT_LE)) {
        Outcome::Quarantined(why) => {
            assert_eq!(why.cause, Cause::BurnedInText);
            assert!(why.detail.contains("missing on a US image"), "{why}");
        }
        Outcome::Written(_) => panic!("an ultrasound without BurnedInAnnotation was written"),
    }
    let mut profile = Profile::lunghub_default();
    profile.pixel_cleaning.push(PixelCleaning {
        manufacturer: "ACME".into(),
        model: "Rad 9000".into(),
        rows: 4,
        columns: 4,
        rectangles: vec![[0, 0, 4, 1]],
    });
    let cleaned = written(deid_with(profile, &encode(yes, EXPLICIT_LE)));
    assert!(cleaned.pixels_cleaned);
    let parsed = parse(&cleaned.bytes);
    assert_eq!(text(&parsed, Tag(0x0028, 0x0301)), "NO");
    let pixels = parsed
        .get(Tag(0x7FE0, 0x0010))
        .expect("pixels")
        .to_bytes()
        .expect("bytes")
        .into_owned();
    let expected: Vec<u8> = (0..16u16)
        .flat_map(|i| (if i < 4 { 0 } else { i * 100 }).to_le_bytes())
        .collect();
    assert_eq!(pixels, expected, "only the first row should be blanked");
    assert!(text(&parsed, Tag(0x0012, 0x0063)).contains("Clean Pixel Data Option"));
}

#[test]
fn png_and_jpeg_lose_their_metadata_but_not_their_pixels() {
    let png_path = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/cxr-radiographydb-dev/images"
    ))
    .expect("../shared/data is beside the repository")
    .map(|e| e.expect("entry").path())
    .find(|p| p.extension().is_some_and(|e| e == "png"))
    .expect("a PNG in the radiography database");
    let original = std::fs::read(&png_path).expect("read png");
    // Plant a text chunk after IHDR (8-byte signature + 25-byte IHDR chunk).
    let mut planted = original[..33].to_vec();
    let text = b"Author\0John Doe, MRN 12345";
    planted.extend((text.len() as u32).to_be_bytes());
    planted.extend(b"tEXt");
    planted.extend(text);
    planted.extend([0, 0, 0, 0]);
    planted.extend(&original[33..]);
    let out = deid(&planted);
    assert!(out.file_name.ends_with(".png"));
    assert!(!contains(&out.bytes, "John Doe"));
    let idat = |b: &[u8]| -> Vec<u8> {
        let mut pos = 8;
        let mut data = Vec::new();
        while pos + 8 <= b.len() {
            let len = u32::from_be_bytes([b[pos], b[pos + 1], b[pos + 2], b[pos + 3]]) as usize;
            if &b[pos + 4..pos + 8] == b"IDAT" {
                data.extend(&b[pos + 8..pos + 8 + len]);
            }
            pos += 12 + len;
        }
        data
    };
    assert_eq!(idat(&out.bytes), idat(&original));

    let exif = b"Exif\0\0Jane Roe 1977";
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE1, 0x00, exif.len() as u8 + 2];
    jpeg.extend(exif);
    jpeg.extend([
        0xFF, 0xDA, 0x00, 0x08, 1, 1, 0, 0, 63, 0, 0x12, 0x34, 0xFF, 0xD9,
    ]);
    let out = deid(&jpeg);
    assert!(out.file_name.ends_with(".jpg"));
    assert!(!contains(&out.bytes, "Jane"));
    assert!(out.bytes.ends_with(&[0x12, 0x34, 0xFF, 0xD9]));
}

#[test]
fn hostile_inputs_give_errors_not_panics() {
    let deid = Deidentifier::new(Profile::lunghub_default(), key()).expect("deidentifier");
    let valid = encode(chest_xray("MRN-1", "20200312", "1.2.3.1"), EXPLICIT_LE);
    // Truncations at every length.
    for n in (0..valid.len()).step_by(7) {
        let _ = deid.deidentify(&valid[..n]);
    }
    // A declared length of ~4 GB in a 200-byte file is refused before allocation.
    let mut huge = valid[..200].to_vec();
    huge.extend([
        0x10, 0x00, 0x10, 0x00, b'U', b'T', 0, 0, 0xF0, 0xFF, 0xFF, 0xFF, b'x', b'y',
    ]);
    let mut file = valid[..132].to_vec();
    file.extend(&huge[132..]);
    assert!(deid.deidentify(&file).is_err());
    // Deterministic byte flips: any outcome is fine except a panic.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..3000 {
        let mut mutated = valid.clone();
        for _ in 0..4 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let at = 132 + (state as usize) % (mutated.len() - 132);
            mutated[at] = (state >> 32) as u8;
        }
        let _ = deid.deidentify(&mutated);
    }
}

#[test]
fn names_in_every_character_set_are_replaced() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/dicom-conformance/pydicom-charset-files"
    );
    let mut profile = Profile::lunghub_default();
    // These test files are OT images without BurnedInAnnotation; trust them here.
    profile.burned_in.suspect_modalities.clear();
    profile.burned_in.suspect_sop_classes.clear();
    let deid = Deidentifier::new(profile, key()).expect("deidentifier");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).expect("charset files are in ../shared/data") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "dcm") {
            continue;
        }
        let bytes = std::fs::read(&path).expect("read");
        let original = OpenFileOptions::new()
            .open_file(&path)
            .expect("dicom-rs reads the original");
        let name = text(&original, Tag(0x0010, 0x0010));
        let Ok(Outcome::Written(out)) = deid.deidentify(&bytes) else {
            continue;
        };
        let parsed = parse(&out.bytes);
        let new_name = text(&parsed, Tag(0x0010, 0x0010));
        assert!(
            new_name.is_empty() || new_name.starts_with("LH-"),
            "{}: {new_name}",
            path.display()
        );
        for part in name
            .split(['^', '=', ' '])
            .filter(|p| p.chars().count() >= 2)
        {
            let all = format!("{:?}", parsed);
            assert!(!all.contains(part), "{}: {part:?} survived", path.display());
        }
        checked += 1;
    }
    assert!(
        checked >= 14,
        "only {checked} character-set files were written"
    );
}

#[test]
fn clean_descriptors_keeps_text_without_the_patients_identity() {
    let mut profile = Profile::lunghub_default();
    profile.options.clean_descriptors = true;
    let out = written(deid_with(
        profile,
        &encode(chest_xray("MRN-12345", "20200312", "1.2.3.1"), EXPLICIT_LE),
    ));
    let parsed = parse(&out.bytes);
    // "Chest of John Doe": the description survives, the name does not.
    assert_eq!(text(&parsed, Tag(0x0008, 0x1030)), "Chest of *** ***");
    assert!(text(&parsed, Tag(0x0012, 0x0063)).contains("Clean Descriptors Option"));
}

#[test]
fn dates_that_another_tool_already_modified_are_not_shifted_again() {
    let mut obj = chest_xray("MRN-1", "20200312", "1.2.3.1");
    obj.put(el(0x0028, 0x0303, VR::CS, "MODIFIED"));
    let out = parse(&deid(&encode(obj, EXPLICIT_LE)).bytes);
    assert_eq!(text(&out, Tag(0x0008, 0x0020)), "20200312");
    // Identity is still removed.
    assert!(text(&out, Tag(0x0010, 0x0020)).starts_with("LH-"));
}

/// The server recognises its site's gateway: a file the gateway de-identified keeps the
/// gateway's pseudonyms (the hospital can map them back, the server cannot), a file it
/// left identity in is quarantined, and the same mark by an unregistered key is keyed again.
#[test]
fn a_registered_gateway_output_is_checked_not_keyed_again() {
    let gateway = Deidentifier::new(Profile::lunghub_default(), SiteKey::from_bytes([41; 32]))
        .expect("deidentifier");
    let input = encode(chest_xray("MRN-77", "20200312", "1.2.3.77"), EXPLICIT_LE);
    let at_hospital = written(gateway.deidentify(&input).expect("reads"));
    let patient = text(&parse(&at_hospital.bytes), Tag(0x0010, 0x0020));
    let study = text(&parse(&at_hospital.bytes), Tag(0x0020, 0x000D));

    let server = Deidentifier::new(Profile::lunghub_default(), SiteKey::from_bytes([42; 32]))
        .expect("deidentifier");
    let fingerprint = gateway.key_fingerprint();
    let trusting = server.trusting_gateway(Some(&fingerprint));
    let checked = parse(&written(trusting.deidentify(&at_hospital.bytes).expect("reads")).bytes);
    assert_eq!(text(&checked, Tag(0x0010, 0x0020)), patient);
    assert_eq!(text(&checked, Tag(0x0020, 0x000D)), study);
    assert!(text(&checked, Tag(0x0012, 0x0063)).contains(&format!("key {fingerprint}")));

    let rekeyed = parse(&written(server.deidentify(&at_hospital.bytes).expect("reads")).bytes);
    assert_ne!(
        text(&rekeyed, Tag(0x0010, 0x0020)),
        patient,
        "an unregistered mark is keyed again"
    );

    // The gateway's mark on a file that still carries an address and the real record number.
    let mut leaky = parse(&at_hospital.bytes).into_inner();
    leaky.put(el(0x0010, 0x1040, VR::LO, "1 Via Roma, Milano"));
    leaky.put(el(0x0010, 0x0020, VR::LO, "MRN-77"));
    match trusting
        .deidentify(&encode(leaky, EXPLICIT_LE))
        .expect("reads")
    {
        Outcome::Quarantined(why) => {
            assert_eq!(why.cause, Cause::GatewayLeak);
            assert!(
                why.detail.contains("(0010,1040)") && why.detail.contains("Patient ID"),
                "{why}"
            );
        }
        Outcome::Written(_) => panic!("a gateway file with identity left in was taken"),
    }
}

/// The hospital's labels travel inside the gateway's output and come out on the server; its
/// CSV's record number becomes the same pseudonym as the header's PatientID would; labels
/// in a file from anyone but the registered gateway are removed like any private block.
#[test]
fn a_gateway_carries_labels_and_a_stated_patient_keyed_like_the_header() {
    let gateway = Deidentifier::new(Profile::lunghub_default(), SiteKey::from_bytes([41; 32]))
        .expect("deidentifier");
    let labels = r#"{"finding":"Pneumonia/Viral/COVID-19","view":"AP"}"#;
    let from_pacs = written(
        gateway
            .deidentify(&encode(
                chest_xray("MRN-1001", "20200312", "1.2.3.80"),
                EXPLICIT_LE,
            ))
            .expect("reads"),
    );
    let mut anonymous = chest_xray("", "20200312", "1.2.3.81");
    anonymous.remove_element(Tag(0x0010, 0x0020));
    let stated = Stated {
        patient_id: Some("MRN-1001"),
        labels: Some(labels),
    };
    let from_csv = written(
        gateway
            .deidentify_stated(&encode(anonymous, EXPLICIT_LE), stated)
            .expect("reads"),
    );
    let pseudonym = text(&parse(&from_pacs.bytes), Tag(0x0010, 0x0020));
    assert!(pseudonym.starts_with("LH-"));
    assert_eq!(
        text(&parse(&from_csv.bytes), Tag(0x0010, 0x0020)),
        pseudonym,
        "the CSV's MRN-1001 and the header's are one patient"
    );
    assert!(contains(&from_csv.bytes, LABELS_CREATOR));
    assert!(!contains(&from_csv.bytes, "MRN-1001"));
    assert_eq!(
        from_csv.labels, None,
        "the gateway writes labels, it does not read them"
    );

    let server = Deidentifier::new(Profile::lunghub_default(), SiteKey::from_bytes([42; 32]))
        .expect("deidentifier");
    let trusting = server.trusting_gateway(Some(&gateway.key_fingerprint()));
    let checked = written(trusting.deidentify(&from_csv.bytes).expect("reads"));
    assert_eq!(checked.labels.as_deref(), Some(labels));
    assert!(
        !contains(&checked.bytes, LABELS_CREATOR),
        "the block is taken out"
    );
    assert_eq!(
        text(&parse(&checked.bytes), Tag(0x0010, 0x0020)),
        pseudonym,
        "not keyed again"
    );

    let stranger = written(server.deidentify(&from_csv.bytes).expect("reads"));
    assert_eq!(stranger.labels, None);
    assert!(!contains(&stranger.bytes, LABELS_CREATOR));
    assert!(!contains(&stranger.bytes, "COVID"));
}
