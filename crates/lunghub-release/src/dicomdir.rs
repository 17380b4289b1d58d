//! The DICOMDIR of a release's DICOM files (PS3.10 file-set, PS3.3 Annex F Basic Directory),
//! so that viewers and media readers that only trust a DICOMDIR can open a download.
//!
//! The files lie under `DICOM/PTnnnnnn/STnnnnnn/SEnnnnnn/IMnnnnnn` (see [`lay_out`]) and the
//! `DICOMDIR` next to the `DICOM` folder; the directory holds one PATIENT → STUDY → SERIES →
//! IMAGE tree. It is written by hand, not through dicom-object: the record offsets count bytes
//! from the start of the file, which is only practical when every length is explicit and
//! known before anything is written.

use std::collections::{BTreeMap, HashMap, HashSet};

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::file::ReadPreamble;
use dicom_object::{InMemDicomObject, OpenFileOptions};
use sha2::{Digest, Sha256};

/// The directory's file name, at the root of a release next to the `DICOM` folder.
pub const DICOMDIR: &str = "DICOMDIR";

/// Media Storage Directory Storage.
const MEDIA_STORAGE_DIRECTORY: &str = "1.2.840.10008.1.3.10";
/// PS3.10 requires Explicit VR Little Endian for a DICOMDIR.
const EXPLICIT_VR_LITTLE_ENDIAN: &str = "1.2.840.10008.1.2.1";
/// PS3.10 8.5: at most 8 components in a File ID.
const MAX_COMPONENTS: usize = 8;
/// (FFFE,E000), which the dictionary does not name.
const ITEM: Tag = Tag(0xFFFE, 0xE000);
/// `PT`, `ST`, `SE` and `IM` take two of a component's 8 characters.
const MAX_PER_LEVEL: usize = 999_999;

#[derive(Debug, thiserror::Error)]
pub enum DicomdirError {
    #[error("{file}: not a readable DICOM Part 10 file: {why}")]
    Read { file: String, why: String },
    #[error("{file}: no {attribute}, which the DICOMDIR needs")]
    Missing {
        file: String,
        attribute: &'static str,
    },
    #[error("{file}: {why}")]
    Inconsistent { file: String, why: String },
    #[error("{0:?} is not a File ID: 1 to 8 components of 1 to 8 characters, each A-Z, 0-9 or _")]
    FileId(String),
    #[error("File-set ID {0:?}: at most 16 characters, each A-Z, 0-9, _ or space")]
    FileSetId(String),
    #[error("{file}: {attribute} is too long to encode ({len} bytes)")]
    TooLong {
        file: String,
        attribute: &'static str,
        len: usize,
    },
    #[error(
        "more than {MAX_PER_LEVEL} {what} under one parent: the file layout has no name for more"
    )]
    TooMany { what: &'static str },
    #[error("the DICOMDIR would pass 4 GiB, beyond what its 32-bit offsets can address")]
    TooLarge,
}

/// What the DICOMDIR needs of one instance, read from its bytes.
///
/// Text is kept as read, trimmed of padding; values the file lacks are empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// The file's place under the release's root, one path component each, e.g. `["DICOM",
    /// "PT000001", "ST000001", "SE000001", "IM000001"]`. May be left empty for [`lay_out`] to
    /// fill in.
    pub file_id: Vec<String>,
    pub patient_id: String,
    pub patients_name: String,
    pub study_instance_uid: String,
    pub study_date: String,
    pub study_time: String,
    pub study_description: String,
    pub study_id: String,
    pub accession_number: String,
    pub series_instance_uid: String,
    pub modality: String,
    /// `None` where the file has none (or none that parses): the DICOMDIR numbers by order.
    pub series_number: Option<i32>,
    /// `None` where the file has none (or none that parses): the DICOMDIR numbers by order.
    pub instance_number: Option<i32>,
    pub sop_class_uid: String,
    pub sop_instance_uid: String,
    pub transfer_syntax_uid: String,
}

impl Instance {
    /// Reads the keys from a DICOM Part 10 file's bytes (with or without the 128-byte
    /// preamble). Pixel data is not parsed.
    pub fn read(file_id: Vec<String>, part10: &[u8]) -> Result<Instance, DicomdirError> {
        let file = display(&file_id);
        let read_error = |why: String| DicomdirError::Read {
            file: file.clone(),
            why,
        };
        let bounded = lunghub_deid::scan::bound(part10, &lunghub_deid::Limits::default())
            .map_err(|e| read_error(e.to_string()))?;
        let from_magic = bounded
            .part10()
            .ok_or_else(|| read_error("no \"DICM\" prefix".into()))?;
        let obj = OpenFileOptions::new()
            .read_preamble(ReadPreamble::Never)
            .read_until(tags::PIXEL_DATA)
            .from_reader(from_magic)
            .map_err(|e| read_error(lunghub_deid::error_chain(&e)))?;
        let meta = obj.meta();
        let instance = Instance {
            file_id,
            patient_id: text(&obj, tags::PATIENT_ID),
            patients_name: text(&obj, tags::PATIENT_NAME),
            study_instance_uid: text(&obj, tags::STUDY_INSTANCE_UID),
            study_date: text(&obj, tags::STUDY_DATE),
            study_time: text(&obj, tags::STUDY_TIME),
            study_description: text(&obj, tags::STUDY_DESCRIPTION),
            study_id: text(&obj, tags::STUDY_ID),
            accession_number: text(&obj, tags::ACCESSION_NUMBER),
            series_instance_uid: text(&obj, tags::SERIES_INSTANCE_UID),
            modality: text(&obj, tags::MODALITY),
            series_number: integer(&obj, tags::SERIES_NUMBER),
            instance_number: integer(&obj, tags::INSTANCE_NUMBER),
            sop_class_uid: meta.media_storage_sop_class_uid().to_owned(),
            sop_instance_uid: meta.media_storage_sop_instance_uid().to_owned(),
            transfer_syntax_uid: meta.transfer_syntax().to_owned(),
        };
        // A reader finds the file by the meta group's UIDs and shows the data set's: a file
        // where the two disagree would be listed as something it is not.
        for (tag, in_meta, name) in [
            (
                tags::SOP_CLASS_UID,
                &instance.sop_class_uid,
                "SOP Class UID",
            ),
            (
                tags::SOP_INSTANCE_UID,
                &instance.sop_instance_uid,
                "SOP Instance UID",
            ),
        ] {
            let in_dataset = text(&obj, tag);
            if !in_dataset.is_empty() && &in_dataset != in_meta {
                return Err(DicomdirError::Inconsistent {
                    file,
                    why: format!(
                        "the {name} is {in_dataset} in the data set and {in_meta} in the meta group"
                    ),
                });
            }
        }
        instance.check()?;
        Ok(instance)
    }

    /// The file's path relative to the release's root, `/`-separated.
    pub fn relative_path(&self) -> String {
        self.file_id.join("/")
    }

    /// The keys without which there is no record to write or no tree to place it in.
    fn check(&self) -> Result<(), DicomdirError> {
        for (value, attribute) in [
            (&self.patient_id, "Patient ID"),
            (&self.study_instance_uid, "Study Instance UID"),
            (&self.series_instance_uid, "Series Instance UID"),
            (&self.modality, "Modality"),
            (&self.sop_class_uid, "SOP Class UID"),
            (&self.sop_instance_uid, "SOP Instance UID"),
            (&self.transfer_syntax_uid, "Transfer Syntax UID"),
        ] {
            if value.is_empty() {
                return Err(DicomdirError::Missing {
                    file: display(&self.file_id),
                    attribute,
                });
            }
        }
        Ok(())
    }
}

/// Gives every instance the File ID `DICOM/PTnnnnnn/STnnnnnn/SEnnnnnn/IMnnnnnn` of its place
/// in the tree, numbered from 1 under each parent in the order [`dicomdir`] writes records,
/// so that a folder listing and the directory agree. Any earlier File ID is replaced.
pub fn lay_out(instances: &mut [Instance]) -> Result<(), DicomdirError> {
    let patients = tree(instances)?;
    let mut ids = Vec::with_capacity(instances.len());
    let name = |prefix: &str, i: usize, what| {
        if i >= MAX_PER_LEVEL {
            return Err(DicomdirError::TooMany { what });
        }
        Ok(format!("{prefix}{:06}", i + 1))
    };
    for (p, patient) in patients.iter().enumerate() {
        let pt = name("PT", p, "patients")?;
        for (s, study) in patient.studies.iter().enumerate() {
            let st = name("ST", s, "studies")?;
            for (e, series) in study.series.iter().enumerate() {
                let se = name("SE", e, "series")?;
                for (i, image) in series.images.iter().enumerate() {
                    let im = name("IM", i, "images")?;
                    let file_id = ["DICOM", &pt, &st, &se, &im].map(str::to_owned).to_vec();
                    ids.push((image.index, file_id));
                }
            }
        }
    }
    for (index, file_id) in ids {
        instances[index].file_id = file_id;
    }
    Ok(())
}

/// The bytes of a DICOMDIR (Media Storage Directory Storage, Explicit VR Little Endian) for
/// `instances`: one PATIENT per Patient ID, under it one STUDY per Study Instance UID, one
/// SERIES per Series Instance UID, and one IMAGE per instance.
///
/// Deterministic, and blind to the order of `instances`: patients go by Patient ID, studies by
/// date, time and UID, series and images by number and UID. A study's, patient's or series'
/// keys are taken from its instance with the lowest UIDs. A missing Series Number, Instance
/// Number or Study ID, Type 1 in a directory record, is the record's position under its
/// parent. A missing Study Date or Study Time is written empty: nothing in the file gives a
/// true one, and a made-up date would be read as real; such a DICOMDIR breaks Type 1 there,
/// which validators flag and readers (pydicom, DCMTK) accept.
pub fn dicomdir(file_set_id: &str, instances: &[Instance]) -> Result<Vec<u8>, DicomdirError> {
    let file_set_ok = file_set_id.len() <= 16
        && file_set_id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b' ');
    if !file_set_ok {
        return Err(DicomdirError::FileSetId(file_set_id.to_owned()));
    }
    let mut seen = HashSet::new();
    for instance in instances {
        check_file_id(&instance.file_id)?;
        if !seen.insert(&instance.file_id) {
            return Err(DicomdirError::Inconsistent {
                file: display(&instance.file_id),
                why: "two instances have this File ID".into(),
            });
        }
    }
    let patients = tree(instances)?;
    let records = records(instances, &patients)?;

    // The UID names this directory's content: the same release gives the same UID.
    let mut hasher = Sha256::new();
    hasher.update(file_set_id.as_bytes());
    for record in &records {
        hasher.update((record.body.len() as u64).to_le_bytes());
        hasher.update(&record.body);
    }
    let digest = hasher.finalize();
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    let sop_instance_uid = format!("2.25.{}", u128::from_be_bytes(first));

    let mut out = vec![0u8; 128];
    out.extend_from_slice(b"DICM");
    out.extend_from_slice(&meta_group(&sop_instance_uid)?);

    let mut head = Vec::new();
    put(
        &mut head,
        tags::FILE_SET_ID,
        b"CS",
        file_set_id.as_bytes(),
        b' ',
    )?;
    // The two root offsets are patched below, once the records' places are known.
    let root_first_at = out.len() + head.len() + 8;
    put(
        &mut head,
        tags::OFFSET_OF_THE_FIRST_DIRECTORY_RECORD_OF_THE_ROOT_DIRECTORY_ENTITY,
        b"UL",
        &[0; 4],
        0,
    )?;
    let root_last_at = out.len() + head.len() + 8;
    put(
        &mut head,
        tags::OFFSET_OF_THE_LAST_DIRECTORY_RECORD_OF_THE_ROOT_DIRECTORY_ENTITY,
        b"UL",
        &[0; 4],
        0,
    )?;
    put(
        &mut head,
        tags::FILE_SET_CONSISTENCY_FLAG,
        b"US",
        &0u16.to_le_bytes(),
        0,
    )?;
    let items: usize = records.iter().map(|r| 8 + r.body.len()).sum();
    tag_bytes(&mut head, tags::DIRECTORY_RECORD_SEQUENCE);
    head.extend_from_slice(b"SQ\0\0");
    head.extend_from_slice(&u32_of(items)?.to_le_bytes());
    out.extend_from_slice(&head);

    // First pass: where each record's item starts, counted from the preamble's first byte.
    let mut at = Vec::with_capacity(records.len());
    let mut position = out.len();
    for record in &records {
        at.push(u32_of(position)?);
        position += 8 + record.body.len();
    }
    u32_of(position)?;
    let offset = |i: Option<usize>| i.map_or(0, |i| at[i]);
    let roots: Vec<usize> = (0..records.len()).filter(|&i| records[i].root).collect();
    let first_root = offset(roots.first().copied());
    let last_root = offset(roots.last().copied());
    out[root_first_at..root_first_at + 4].copy_from_slice(&first_root.to_le_bytes());
    out[root_last_at..root_last_at + 4].copy_from_slice(&last_root.to_le_bytes());

    // Second pass: the records, with their offsets filled in.
    for record in &records {
        let mut body = record.body.clone();
        body[NEXT_AT..NEXT_AT + 4].copy_from_slice(&offset(record.next).to_le_bytes());
        body[LOWER_AT..LOWER_AT + 4].copy_from_slice(&offset(record.lower).to_le_bytes());
        tag_bytes(&mut out, ITEM);
        out.extend_from_slice(&u32_of(body.len())?.to_le_bytes());
        out.extend_from_slice(&body);
    }
    Ok(out)
}

struct PatientNode {
    first: usize,
    studies: Vec<StudyNode>,
}

struct StudyNode {
    first: usize,
    study_id: String,
    series: Vec<SeriesNode>,
}

struct SeriesNode {
    first: usize,
    number: i32,
    images: Vec<ImageNode>,
}

struct ImageNode {
    index: usize,
    number: i32,
}

/// The patient → study → series → image tree, in the order of the records, with the numbers
/// and IDs that order stands in for.
fn tree(instances: &[Instance]) -> Result<Vec<PatientNode>, DicomdirError> {
    type Grouped<'a> = BTreeMap<&'a str, BTreeMap<&'a str, BTreeMap<&'a str, Vec<usize>>>>;
    let mut grouped: Grouped = BTreeMap::new();
    let mut sop_instances = HashSet::new();
    let mut study_of_series: HashMap<&str, &str> = HashMap::new();
    let mut patient_of_study: HashMap<&str, &str> = HashMap::new();
    for (index, instance) in instances.iter().enumerate() {
        instance.check()?;
        let inconsistent = |why: String| DicomdirError::Inconsistent {
            file: display(&instance.file_id),
            why,
        };
        if !sop_instances.insert(instance.sop_instance_uid.as_str()) {
            return Err(inconsistent(format!(
                "SOP Instance {} is in the release twice",
                instance.sop_instance_uid
            )));
        }
        let study = instance.study_instance_uid.as_str();
        let series = instance.series_instance_uid.as_str();
        // A study or series under two parents would be listed twice as two different ones.
        let patient = *patient_of_study
            .entry(study)
            .or_insert(&instance.patient_id);
        if patient != instance.patient_id {
            return Err(inconsistent(format!(
                "study {study} belongs to patients {patient} and {}",
                instance.patient_id
            )));
        }
        let parent = *study_of_series.entry(series).or_insert(study);
        if parent != study {
            return Err(inconsistent(format!(
                "series {series} belongs to studies {parent} and {study}"
            )));
        }
        grouped
            .entry(&instance.patient_id)
            .or_default()
            .entry(study)
            .or_default()
            .entry(series)
            .or_default()
            .push(index);
    }

    let mut patients = Vec::with_capacity(grouped.len());
    for studies in grouped.into_values() {
        let mut study_nodes = Vec::with_capacity(studies.len());
        for series in studies.into_values() {
            let mut series_nodes = Vec::with_capacity(series.len());
            for mut images in series.into_values() {
                images.sort_by(|&a, &b| {
                    instances[a]
                        .sop_instance_uid
                        .cmp(&instances[b].sop_instance_uid)
                });
                let first = images[0];
                images.sort_by(|&a, &b| {
                    let key = |i: usize| {
                        let n = instances[i].instance_number;
                        (n.is_none(), n, &instances[i].sop_instance_uid)
                    };
                    key(a).cmp(&key(b))
                });
                let images = images
                    .into_iter()
                    .enumerate()
                    .map(|(position, index)| ImageNode {
                        index,
                        number: instances[index]
                            .instance_number
                            .unwrap_or_else(|| ordinal(position)),
                    })
                    .collect();
                series_nodes.push(SeriesNode {
                    first,
                    number: 0,
                    images,
                });
            }
            let first = series_nodes[0].first;
            series_nodes.sort_by(|a, b| {
                let key = |s: &SeriesNode| {
                    let i = &instances[s.first];
                    (
                        i.series_number.is_none(),
                        i.series_number,
                        &i.series_instance_uid,
                    )
                };
                key(a).cmp(&key(b))
            });
            for (position, series) in series_nodes.iter_mut().enumerate() {
                series.number = instances[series.first]
                    .series_number
                    .unwrap_or_else(|| ordinal(position));
            }
            study_nodes.push(StudyNode {
                first,
                study_id: String::new(),
                series: series_nodes,
            });
        }
        let first = study_nodes[0].first;
        study_nodes.sort_by(|a, b| {
            let key = |s: &StudyNode| {
                let i = &instances[s.first];
                (&i.study_date, &i.study_time, &i.study_instance_uid)
            };
            key(a).cmp(&key(b))
        });
        for (position, study) in study_nodes.iter_mut().enumerate() {
            let given = &instances[study.first].study_id;
            study.study_id = if given.is_empty() {
                ordinal(position).to_string()
            } else {
                given.clone()
            };
        }
        patients.push(PatientNode {
            first,
            studies: study_nodes,
        });
    }
    Ok(patients)
}

/// 1 for the first, saturating where an `i32` runs out (never, for a real release).
fn ordinal(position: usize) -> i32 {
    i32::try_from(position + 1).unwrap_or(i32::MAX)
}

/// One directory record's item body, its three offsets still zero.
struct Record {
    body: Vec<u8>,
    /// Whether it belongs to the root directory entity.
    root: bool,
    next: Option<usize>,
    lower: Option<usize>,
}

/// Every record body starts with (0004,1400) UL, (0004,1410) US and (0004,1420) UL: these are
/// where the two offsets' values sit in it.
const NEXT_AT: usize = 8;
const LOWER_AT: usize = 12 + 10 + 8;

/// The records in the order they are written: each one followed by everything below it.
fn records(instances: &[Instance], patients: &[PatientNode]) -> Result<Vec<Record>, DicomdirError> {
    fn add(
        records: &mut Vec<Record>,
        record_type: &str,
        keys: Vec<Key>,
        root: bool,
    ) -> Result<usize, DicomdirError> {
        let body = record_body(record_type, &keys)?;
        records.push(Record {
            body,
            root,
            next: None,
            lower: None,
        });
        Ok(records.len() - 1)
    }
    let mut records = Vec::new();
    let mut patient_indices = Vec::new();
    for patient in patients {
        let i = &instances[patient.first];
        let keys = vec![
            Key::text(tags::PATIENT_NAME, b"PN", &i.patients_name, i),
            Key::text(tags::PATIENT_ID, b"LO", &i.patient_id, i),
        ];
        let p = add(&mut records, "PATIENT", keys, true)?;
        patient_indices.push(p);
        let mut study_indices = Vec::new();
        for study in &patient.studies {
            let i = &instances[study.first];
            let keys = vec![
                Key::text(tags::STUDY_DATE, b"DA", &i.study_date, i),
                Key::text(tags::STUDY_TIME, b"TM", &i.study_time, i),
                Key::text(tags::ACCESSION_NUMBER, b"SH", &i.accession_number, i),
                Key::text(tags::STUDY_DESCRIPTION, b"LO", &i.study_description, i),
                Key::uid(tags::STUDY_INSTANCE_UID, &i.study_instance_uid, i),
                Key::text(tags::STUDY_ID, b"SH", &study.study_id, i),
            ];
            let s = add(&mut records, "STUDY", keys, false)?;
            study_indices.push(s);
            let mut series_indices = Vec::new();
            for series in &study.series {
                let i = &instances[series.first];
                let keys = vec![
                    Key::text(tags::MODALITY, b"CS", &i.modality, i),
                    Key::uid(tags::SERIES_INSTANCE_UID, &i.series_instance_uid, i),
                    Key::text(tags::SERIES_NUMBER, b"IS", &series.number.to_string(), i),
                ];
                let e = add(&mut records, "SERIES", keys, false)?;
                series_indices.push(e);
                let mut image_indices = Vec::new();
                for image in &series.images {
                    let i = &instances[image.index];
                    let keys = vec![
                        Key::text(tags::REFERENCED_FILE_ID, b"CS", &i.file_id.join("\\"), i),
                        Key::uid(tags::REFERENCED_SOP_CLASS_UID_IN_FILE, &i.sop_class_uid, i),
                        Key::uid(
                            tags::REFERENCED_SOP_INSTANCE_UID_IN_FILE,
                            &i.sop_instance_uid,
                            i,
                        ),
                        Key::uid(
                            tags::REFERENCED_TRANSFER_SYNTAX_UID_IN_FILE,
                            &i.transfer_syntax_uid,
                            i,
                        ),
                        Key::text(tags::INSTANCE_NUMBER, b"IS", &image.number.to_string(), i),
                    ];
                    image_indices.push(add(&mut records, "IMAGE", keys, false)?);
                }
                link(&mut records, e, &image_indices);
            }
            link(&mut records, s, &series_indices);
        }
        link(&mut records, p, &study_indices);
    }
    chain(&mut records, &patient_indices);
    Ok(records)
}

/// Points `parent` at the first of `children`, and chains the children.
fn link(records: &mut [Record], parent: usize, children: &[usize]) {
    records[parent].lower = children.first().copied();
    chain(records, children);
}

fn chain(records: &mut [Record], siblings: &[usize]) {
    for pair in siblings.windows(2) {
        records[pair[0]].next = Some(pair[1]);
    }
}

/// A key attribute of a record, ready to encode.
struct Key {
    tag: Tag,
    vr: &'static [u8; 2],
    value: Vec<u8>,
    pad: u8,
    /// For errors: the file it came from.
    file: String,
}

impl Key {
    fn text(tag: Tag, vr: &'static [u8; 2], value: &str, from: &Instance) -> Key {
        Key {
            tag,
            vr,
            value: value.as_bytes().to_vec(),
            pad: b' ',
            file: display(&from.file_id),
        }
    }

    fn uid(tag: Tag, value: &str, from: &Instance) -> Key {
        Key {
            tag,
            vr: b"UI",
            value: value.as_bytes().to_vec(),
            pad: 0,
            file: display(&from.file_id),
        }
    }
}

fn record_body(record_type: &str, keys: &[Key]) -> Result<Vec<u8>, DicomdirError> {
    let mut body = Vec::new();
    put(
        &mut body,
        tags::OFFSET_OF_THE_NEXT_DIRECTORY_RECORD,
        b"UL",
        &[0; 4],
        0,
    )?;
    put(
        &mut body,
        tags::RECORD_IN_USE_FLAG,
        b"US",
        &0xFFFFu16.to_le_bytes(),
        0,
    )?;
    put(
        &mut body,
        tags::OFFSET_OF_REFERENCED_LOWER_LEVEL_DIRECTORY_ENTITY,
        b"UL",
        &[0; 4],
        0,
    )?;
    put(
        &mut body,
        tags::DIRECTORY_RECORD_TYPE,
        b"CS",
        record_type.as_bytes(),
        b' ',
    )?;
    let mut keys: Vec<&Key> = keys.iter().collect();
    keys.sort_by_key(|k| k.tag);
    // Text decoded from any character set is held as UTF-8: say so where it is not ASCII.
    let utf8 = keys.iter().any(|k| !k.value.is_ascii());
    let mut written_charset = !utf8;
    for key in keys {
        if !written_charset && key.tag > tags::SPECIFIC_CHARACTER_SET {
            put(
                &mut body,
                tags::SPECIFIC_CHARACTER_SET,
                b"CS",
                b"ISO_IR 192",
                b' ',
            )?;
            written_charset = true;
        }
        put(&mut body, key.tag, key.vr, &key.value, key.pad).map_err(|_| {
            DicomdirError::TooLong {
                file: key.file.clone(),
                attribute: name_of(key.tag),
                len: key.value.len(),
            }
        })?;
    }
    if !written_charset {
        put(
            &mut body,
            tags::SPECIFIC_CHARACTER_SET,
            b"CS",
            b"ISO_IR 192",
            b' ',
        )?;
    }
    Ok(body)
}

fn name_of(tag: Tag) -> &'static str {
    match tag {
        tags::PATIENT_NAME => "Patient's Name",
        tags::PATIENT_ID => "Patient ID",
        tags::STUDY_DATE => "Study Date",
        tags::STUDY_TIME => "Study Time",
        tags::ACCESSION_NUMBER => "Accession Number",
        tags::STUDY_DESCRIPTION => "Study Description",
        tags::STUDY_INSTANCE_UID => "Study Instance UID",
        tags::STUDY_ID => "Study ID",
        tags::MODALITY => "Modality",
        tags::SERIES_INSTANCE_UID => "Series Instance UID",
        _ => "a key attribute",
    }
}

/// The File Meta Information after the `DICM` prefix, group length first.
fn meta_group(sop_instance_uid: &str) -> Result<Vec<u8>, DicomdirError> {
    let mut rest = Vec::new();
    tag_bytes(&mut rest, tags::FILE_META_INFORMATION_VERSION);
    rest.extend_from_slice(b"OB\0\0");
    rest.extend_from_slice(&2u32.to_le_bytes());
    rest.extend_from_slice(&[0, 1]);
    for (tag, vr, value, pad) in [
        (
            tags::MEDIA_STORAGE_SOP_CLASS_UID,
            b"UI",
            MEDIA_STORAGE_DIRECTORY,
            0,
        ),
        (
            tags::MEDIA_STORAGE_SOP_INSTANCE_UID,
            b"UI",
            sop_instance_uid,
            0,
        ),
        (
            tags::TRANSFER_SYNTAX_UID,
            b"UI",
            EXPLICIT_VR_LITTLE_ENDIAN,
            0,
        ),
        (
            tags::IMPLEMENTATION_CLASS_UID,
            b"UI",
            lunghub_deid::IMPLEMENTATION_CLASS_UID,
            0,
        ),
        (
            tags::IMPLEMENTATION_VERSION_NAME,
            b"SH",
            lunghub_deid::IMPLEMENTATION_VERSION_NAME,
            b' ',
        ),
    ] {
        put(&mut rest, tag, vr, value.as_bytes(), pad)?;
    }
    let mut meta = Vec::with_capacity(12 + rest.len());
    put(
        &mut meta,
        tags::FILE_META_INFORMATION_GROUP_LENGTH,
        b"UL",
        &u32_of(rest.len())?.to_le_bytes(),
        0,
    )?;
    meta.extend_from_slice(&rest);
    Ok(meta)
}

/// Appends an Explicit VR Little Endian element of a VR with a 16-bit length, its value padded
/// to even length with `pad`.
fn put(
    out: &mut Vec<u8>,
    tag: Tag,
    vr: &[u8; 2],
    value: &[u8],
    pad: u8,
) -> Result<(), DicomdirError> {
    let padded = value.len() + value.len() % 2;
    let len = u16::try_from(padded).map_err(|_| DicomdirError::TooLarge)?;
    tag_bytes(out, tag);
    out.extend_from_slice(vr);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(value);
    if value.len() % 2 == 1 {
        out.push(pad);
    }
    Ok(())
}

fn tag_bytes(out: &mut Vec<u8>, tag: Tag) {
    out.extend_from_slice(&tag.group().to_le_bytes());
    out.extend_from_slice(&tag.element().to_le_bytes());
}

fn u32_of(n: usize) -> Result<u32, DicomdirError> {
    u32::try_from(n).map_err(|_| DicomdirError::TooLarge)
}

/// PS3.10 8.5: up to 8 components, each 1 to 8 of A-Z, 0-9 and `_`.
fn check_file_id(file_id: &[String]) -> Result<(), DicomdirError> {
    let ok = !file_id.is_empty()
        && file_id.len() <= MAX_COMPONENTS
        && file_id.iter().all(|c| {
            (1..=8).contains(&c.len())
                && c.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        });
    if ok {
        Ok(())
    } else {
        Err(DicomdirError::FileId(file_id.join("/")))
    }
}

fn display(file_id: &[String]) -> String {
    if file_id.is_empty() {
        "(an instance without a File ID yet)".to_owned()
    } else {
        file_id.join("/")
    }
}

fn text(obj: &InMemDicomObject, tag: Tag) -> String {
    obj.get(tag)
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_matches([' ', '\0']).to_owned())
        .unwrap_or_default()
}

fn integer(obj: &InMemDicomObject, tag: Tag) -> Option<i32> {
    text(obj, tag).parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::header::Header;
    use dicom_core::value::Value;

    fn instance(patient: &str, study: &str, series: &str, sop: &str) -> Instance {
        Instance {
            file_id: Vec::new(),
            patient_id: patient.into(),
            patients_name: String::new(),
            study_instance_uid: study.into(),
            study_date: "20240101".into(),
            study_time: "120000".into(),
            study_description: String::new(),
            study_id: String::new(),
            accession_number: String::new(),
            series_instance_uid: series.into(),
            modality: "DX".into(),
            series_number: None,
            instance_number: None,
            sop_class_uid: "1.2.840.10008.5.1.4.1.1.1.1".into(),
            sop_instance_uid: sop.into(),
            transfer_syntax_uid: EXPLICIT_VR_LITTLE_ENDIAN.into(),
        }
    }

    fn file_id(path: &str) -> Vec<String> {
        path.split('/').map(str::to_owned).collect()
    }

    /// The records as dicom-object reads them back: (record type, keyword → value).
    fn read_back(bytes: &[u8]) -> Vec<(String, BTreeMap<Tag, String>)> {
        let obj = OpenFileOptions::new()
            .from_reader(&bytes[128..])
            .expect("dicom-object reads the DICOMDIR");
        assert_eq!(
            obj.meta().media_storage_sop_class_uid(),
            MEDIA_STORAGE_DIRECTORY
        );
        let seq = obj.get(tags::DIRECTORY_RECORD_SEQUENCE).expect("records");
        let Value::Sequence(seq) = seq.value() else {
            panic!("not a sequence")
        };
        seq.items()
            .iter()
            .map(|item| {
                let fields = item
                    .iter()
                    .map(|e| {
                        (
                            e.tag(),
                            e.to_str().map(|s| s.into_owned()).unwrap_or_default(),
                        )
                    })
                    .collect();
                (text(item, tags::DIRECTORY_RECORD_TYPE), fields)
            })
            .collect()
    }

    #[test]
    fn missing_numbers_and_study_ids_are_positions_and_given_ones_are_kept() {
        let mut instances = vec![
            instance("P", "1.1", "1.1.1", "1.1.1.2"),
            instance("P", "1.1", "1.1.1", "1.1.1.1"),
            instance("P", "1.1", "1.1.2", "1.1.2.1"),
            instance("P", "1.2", "1.2.1", "1.2.1.1"),
        ];
        instances[0].instance_number = Some(7);
        instances[2].series_number = Some(4);
        instances[3].study_date = "20250101".into();
        instances[3].study_id = "GIVEN".into();
        lay_out(&mut instances).expect("lay out");
        let records = read_back(&dicomdir("", &instances).expect("dicomdir"));
        let types: Vec<&str> = records.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            types,
            [
                "PATIENT", "STUDY", "SERIES", "IMAGE", "SERIES", "IMAGE", "IMAGE", "STUDY",
                "SERIES", "IMAGE"
            ]
        );
        let value = |i: usize, tag: Tag| records[i].1.get(&tag).cloned().unwrap_or_default();
        let sop = |i: usize| value(i, tags::REFERENCED_SOP_INSTANCE_UID_IN_FILE);
        assert_eq!(value(1, tags::STUDY_ID), "1");
        assert_eq!(value(7, tags::STUDY_ID), "GIVEN");
        // The numbered series first, then the unnumbered one, numbered by its position.
        assert_eq!(value(2, tags::SERIES_INSTANCE_UID), "1.1.2");
        assert_eq!(value(2, tags::SERIES_NUMBER), "4");
        assert_eq!(
            (sop(3), value(3, tags::INSTANCE_NUMBER)),
            ("1.1.2.1".into(), "1".into())
        );
        assert_eq!(value(4, tags::SERIES_INSTANCE_UID), "1.1.1");
        assert_eq!(value(4, tags::SERIES_NUMBER), "2");
        // Image 7 keeps its number and comes first; the other one is numbered by position.
        assert_eq!(
            (sop(5), value(5, tags::INSTANCE_NUMBER)),
            ("1.1.1.2".into(), "7".into())
        );
        assert_eq!(
            (sop(6), value(6, tags::INSTANCE_NUMBER)),
            ("1.1.1.1".into(), "2".into())
        );
        assert_eq!(
            value(6, tags::REFERENCED_FILE_ID),
            "DICOM\\PT000001\\ST000001\\SE000002\\IM000002"
        );
        assert!(
            records
                .iter()
                .all(|(_, r)| !r.contains_key(&tags::SPECIFIC_CHARACTER_SET))
        );
    }

    #[test]
    fn an_empty_release_has_an_empty_directory() {
        let bytes = dicomdir("EMPTY", &[]).expect("dicomdir");
        assert!(read_back(&bytes).is_empty());
    }

    #[test]
    fn bad_file_ids_and_file_set_ids_are_refused() {
        for bad in [
            "dicom/A",
            "DICOM/ABCDEFGHI",
            "DICOM//A",
            "A/B/C/D/E/F/G/H/I",
            "DICOM/A-B",
        ] {
            let mut one = instance("P", "1", "1.1", "1.1.1");
            one.file_id = file_id(bad);
            assert!(
                matches!(dicomdir("", &[one]), Err(DicomdirError::FileId(_))),
                "{bad}"
            );
        }
        let mut unnamed = instance("P", "1", "1.1", "1.1.1");
        assert!(matches!(
            dicomdir("", std::slice::from_ref(&unnamed)),
            Err(DicomdirError::FileId(_))
        ));
        unnamed.file_id = file_id("A/B/C/D/E/F/G/H");
        assert!(dicomdir("ABCDEFGHIJKLMNOP", &[unnamed.clone()]).is_ok());
        for bad in ["ABCDEFGHIJKLMNOPQ", "lower", "A/B"] {
            assert!(
                matches!(
                    dicomdir(bad, &[unnamed.clone()]),
                    Err(DicomdirError::FileSetId(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_release_that_contradicts_itself_is_refused() {
        let named = |mut i: Instance, path: &str| {
            i.file_id = file_id(path);
            i
        };
        let cases = [
            // The same instance twice.
            vec![
                named(instance("P", "1", "1.1", "1.1.1"), "A/1"),
                named(instance("P", "1", "1.1", "1.1.1"), "A/2"),
            ],
            // Two instances in one file.
            vec![
                named(instance("P", "1", "1.1", "1.1.1"), "A/1"),
                named(instance("P", "1", "1.1", "1.1.2"), "A/1"),
            ],
            // A study under two patients.
            vec![
                named(instance("P", "1", "1.1", "1.1.1"), "A/1"),
                named(instance("Q", "1", "1.2", "1.2.1"), "A/2"),
            ],
            // A series under two studies.
            vec![
                named(instance("P", "1", "1.1", "1.1.1"), "A/1"),
                named(instance("P", "2", "1.1", "1.1.2"), "A/2"),
            ],
        ];
        for case in cases {
            assert!(
                matches!(dicomdir("", &case), Err(DicomdirError::Inconsistent { .. })),
                "{case:?}"
            );
        }
        let mut anonymous = named(instance("", "1", "1.1", "1.1.1"), "A/1");
        assert!(matches!(
            dicomdir("", std::slice::from_ref(&anonymous)),
            Err(DicomdirError::Missing {
                attribute: "Patient ID",
                ..
            })
        ));
        anonymous.patient_id = "P".into();
        anonymous.modality.clear();
        assert!(matches!(
            lay_out(&mut [anonymous]),
            Err(DicomdirError::Missing {
                attribute: "Modality",
                ..
            })
        ));
    }

    fn part10(sop_in_dataset: &str, preamble: bool) -> Vec<u8> {
        use dicom_core::{DataElement, PrimitiveValue, VR};
        use dicom_object::meta::FileMetaTableBuilder;
        let mut obj = InMemDicomObject::new_empty();
        for (tag, vr, value) in [
            (tags::SOP_CLASS_UID, VR::UI, "1.2.840.10008.5.1.4.1.1.7"),
            (tags::SOP_INSTANCE_UID, VR::UI, sop_in_dataset),
            (tags::PATIENT_ID, VR::LO, "P "),
            (tags::STUDY_INSTANCE_UID, VR::UI, "1.2"),
            (tags::SERIES_INSTANCE_UID, VR::UI, "1.2.3"),
            (tags::MODALITY, VR::CS, "OT"),
            (tags::SERIES_NUMBER, VR::IS, " 12 "),
            (tags::INSTANCE_NUMBER, VR::IS, "not a number"),
        ] {
            obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
        }
        let meta = FileMetaTableBuilder::new()
            .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.7")
            .media_storage_sop_instance_uid("1.2.3.4")
            .transfer_syntax(EXPLICIT_VR_LITTLE_ENDIAN);
        let file = obj.with_exact_meta(meta.build().expect("meta"));
        let mut bytes = Vec::new();
        file.write_all(&mut bytes).expect("write");
        if preamble {
            bytes
        } else {
            bytes.split_off(128)
        }
    }

    #[test]
    fn read_takes_files_with_or_without_preamble_and_checks_the_meta_group() {
        for preamble in [true, false] {
            let i = Instance::read(file_id("A/B"), &part10("1.2.3.4", preamble)).expect("read");
            assert_eq!(
                (
                    i.patient_id.as_str(),
                    i.sop_instance_uid.as_str(),
                    i.modality.as_str()
                ),
                ("P", "1.2.3.4", "OT")
            );
            assert_eq!((i.series_number, i.instance_number), (Some(12), None));
            assert_eq!(i.relative_path(), "A/B");
        }
        assert!(matches!(
            Instance::read(file_id("A/B"), &part10("1.2.3.5", true)),
            Err(DicomdirError::Inconsistent { .. })
        ));
        for garbage in [&b""[..], b"DICM", &[0u8; 200]] {
            assert!(matches!(
                Instance::read(Vec::new(), garbage),
                Err(DicomdirError::Read { .. })
            ));
        }
    }
}
