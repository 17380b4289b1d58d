//! De-identification for lunghub: DICOM to PS3.15, and metadata stripping for PNG and JPEG.
//!
//! Nothing reaches lunghub's storage, or leaves a hospital, without passing through
//! [`Deidentifier::deidentify`]. It takes the bytes of one file and returns either the
//! de-identified file, safe to publish, or the reason it was quarantined; a file it cannot
//! read is an error with a clear message.
//!
//! ```
//! use lunghub_deid::{Deidentifier, Outcome, Profile, SiteKey};
//!
//! let deid = Deidentifier::new(Profile::lunghub_default(), SiteKey::from_bytes([1; 32]))?;
//! let png = b"\x89PNG\r\n\x1a\n\0\0\0\0IEND\0\0\0\0";
//! match deid.deidentify(png)? {
//!     Outcome::Written(file) => assert!(file.file_name.ends_with(".png")),
//!     Outcome::Quarantined(reason) => panic!("quarantined: {reason}"),
//! }
//! # Ok::<(), lunghub_deid::DeidError>(())
//! ```
//!
//! What it guarantees, each backed by a test:
//! - Table E.1-1 of PS3.15 (embedded, all 621 rows) decides every attribute at every
//!   depth; options are switches in a [`Profile`].
//! - UIDs, patient IDs and dates become keyed values under the [`SiteKey`]: stable across
//!   runs, irreversible without the key, and never applied twice to lunghub's own output.
//! - Pixel data is copied byte for byte unless a profile rule cleans it on purpose.
//! - Files that may show identity in their pixels are quarantined.
//! - Hostile input is refused by a bounded pre-scan ([`scan`]) before the parser sees it.

mod dataset;
pub mod dates;
pub mod iod;
pub mod key;
pub mod profile;
pub mod raster;
pub mod refusal;
pub mod scan;
mod sites;
pub mod table;

use dicom_core::header::Header;
use dicom_core::value::{DataSetSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, Length, Tag, VR};
use dicom_encoding::text::SpecificCharacterSet;
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_object::meta::FileMetaTableBuilder;
use dicom_transfer_syntax_registry::{TransferSyntaxRegistry, entries};

pub use key::{KeyError, ServerSecret, SiteKey};
pub use profile::{Profile, ProfileError};
pub use refusal::{Cause, Refusal};
pub use scan::{Limits, ScanError};
pub use sites::SiteDeidentifiers;

use crate::dataset::{Instance, Walk};
use crate::table::ConfidentialityTable;

/// lunghub's Implementation Class UID, written into every file meta group.
pub const IMPLEMENTATION_CLASS_UID: &str = "2.25.80546738069237697370232872833506264161";
/// lunghub's Implementation Version Name (at most 16 characters).
pub const IMPLEMENTATION_VERSION_NAME: &str = concat!("LUNGHUB_", env!("CARGO_PKG_VERSION"));

/// Why a file could not be read. Each is specific to one input; none stops a batch.
#[derive(Debug, thiserror::Error)]
pub enum DeidError {
    #[error(transparent)]
    Scan(#[from] ScanError),
    #[error(transparent)]
    Raster(#[from] raster::RasterError),
    #[error("unsupported transfer syntax {0}")]
    UnsupportedTransferSyntax(String),
    #[error("cannot parse the DICOM data set: {0}")]
    Parse(String),
    #[error("cannot write the de-identified file: {0}")]
    Write(String),
    #[error("the embedded Table E.1-1 is broken: {0}")]
    Table(String),
}

/// What kind of file was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Kind {
    Dicom,
    Png,
    Jpeg,
}

/// A de-identified file, ready to be written anywhere public.
#[derive(Debug)]
pub struct DeidentifiedFile {
    /// A name derived from the key and the content, never from the input's name or path;
    /// empty where naming was turned off ([`Deidentifier::set_file_names`]).
    pub file_name: String,
    pub bytes: Vec<u8>,
    pub kind: Kind,
    /// SOP Instance UID after de-identification (DICOM only).
    pub sop_instance_uid: Option<String>,
    /// Whether pixels were blanked by a profile rule.
    pub pixels_cleaned: bool,
    /// What the catalog needs to know about a DICOM instance, read from the de-identified
    /// data set (so it holds pseudonyms and new UIDs only).
    pub dicom: Option<DicomSummary>,
    /// The labels the site's gateway carried in the instance ([`LABELS_CREATOR`]), taken out
    /// before the instance was checked; only from a gateway this de-identifier trusts.
    pub labels: Option<String>,
}

/// The private creator of the block in which a site's gateway carries the hospital's labels
/// inside the de-identified instance (group 0011). They travel with the instance through the
/// outbox and over any STOW-RS server. The central server takes the block out (into
/// [`DeidentifiedFile::labels`]) before it checks the instance; from a sender that is not
/// the site's registered gateway it is a private block like any other, which the profile
/// removes.
pub const LABELS_CREATOR: &str = "LUNGHUB LABELS 1";
const LABELS_GROUP: u16 = 0x0011;

/// What a hospital states about a DICOM file beside its header: the gateway reads it from
/// a metadata CSV or class folders.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stated<'a> {
    /// The patient's local record number. It is pseudonymised into PatientID (and keys the
    /// date offset) exactly as the same number in the header's PatientID would be, with the
    /// header's issuer if it has one: the CSV and the PACS agree on every patient.
    pub patient_id: Option<&'a str>,
    /// Labels to carry in the instance (JSON; see `lunghub_sources::HospitalLabels`). The
    /// caller answers for what they say: nothing in them is de-identified.
    pub labels: Option<&'a str>,
}

/// Catalog fields of a de-identified DICOM instance. Empty strings where the data set has
/// no value.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DicomSummary {
    pub patient_id: String,
    pub study_uid: String,
    pub series_uid: String,
    pub modality: String,
    pub view_position: String,
    pub sex: String,
    /// Patient's Age (AS, such as `045Y`) in years.
    pub age_years: Option<f64>,
}

/// Reads a DICOM age string (`045Y`, `018M`, `003W`, `010D`) in years.
fn age_in_years(age: &str) -> Option<f64> {
    let (n, unit) = age.trim().split_at_checked(3)?;
    let n: f64 = n.parse().ok()?;
    Some(match unit {
        "Y" => n,
        "M" => n / 12.0,
        "W" => n * 7.0 / 365.25,
        "D" => n / 365.25,
        _ => return None,
    })
}

/// The result for one input that could be read.
#[derive(Debug)]
pub enum Outcome {
    Written(DeidentifiedFile),
    /// Not written: the reason says why (for example, burned-in annotation).
    Quarantined(Refusal),
}

/// Applies one profile under one site key. Cheap to share between threads.
pub struct Deidentifier {
    profile: Profile,
    key: SiteKey,
    limits: Limits,
    table: &'static ConfidentialityTable,
    file_names: bool,
    /// The fingerprint of the site's gateway key, whose output is checked but not keyed again.
    gateway: Option<String>,
}

const PIXEL_DATA: Tag = Tag(0x7FE0, 0x0010);

impl Deidentifier {
    pub fn new(profile: Profile, key: SiteKey) -> Result<Self, DeidError> {
        let table =
            ConfidentialityTable::embedded().map_err(|e| DeidError::Table(e.to_string()))?;
        Ok(Deidentifier {
            profile,
            key,
            limits: Limits::default(),
            table,
            file_names: true,
            gateway: None,
        })
    }

    /// Whether written files get a [`DeidentifiedFile::file_name`]. Naming reads every
    /// byte of the input through the keyed hash; intake, which names items by the sha256
    /// of their de-identified bytes, turns it off.
    pub fn set_file_names(&mut self, on: bool) {
        self.file_names = on;
    }

    /// The same profile, limits and naming under another key: the server's de-identifier
    /// for one site (see [`ServerSecret::site_key`]).
    pub fn with_key(&self, key: SiteKey) -> Self {
        Deidentifier {
            profile: self.profile.clone(),
            key,
            limits: self.limits,
            table: self.table,
            file_names: self.file_names,
            gateway: self.gateway.clone(),
        }
    }

    /// The same de-identifier, recognising the output of the site's own gateway (its key's
    /// fingerprint, registered with the site). Such a file keeps the gateway's pseudonyms,
    /// UIDs and date offset, so the hospital can map them back with its key and the server
    /// cannot; and it is still walked through the profile: if the walk would change
    /// anything, the gateway let identity through, and the file is quarantined.
    pub fn trusting_gateway(&self, fingerprint: Option<&str>) -> Self {
        let mut d = self.with_key(self.key.clone());
        d.gateway = fingerprint.map(str::to_owned);
        d
    }

    /// The fingerprint of the key this de-identifier writes into every file it marks.
    pub fn key_fingerprint(&self) -> String {
        self.key.fingerprint()
    }

    pub fn key(&self) -> &SiteKey {
        &self.key
    }

    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn output_name(&self, input: &[u8], ext: &str) -> String {
        if !self.file_names {
            return String::new();
        }
        format!("{}.{ext}", hex(&self.key.mac("output-name", input)[..16]))
    }

    /// De-identifies the bytes of one file.
    pub fn deidentify(&self, input: &[u8]) -> Result<Outcome, DeidError> {
        self.deidentify_stated(input, Stated::default())
    }

    /// De-identifies the bytes of one file with what the hospital states about it (used by
    /// DICOM only: a PNG or JPEG has no header to carry it).
    pub fn deidentify_stated(
        &self,
        input: &[u8],
        stated: Stated<'_>,
    ) -> Result<Outcome, DeidError> {
        match scan::sniff(input, &self.limits)? {
            scan::Sniffed::Png => self.raster(input, raster::strip_png(input)?, Kind::Png, "png"),
            scan::Sniffed::Jpeg => {
                self.raster(input, raster::strip_jpeg(input)?, Kind::Jpeg, "jpg")
            }
            scan::Sniffed::Dicom(_) => self.dicom(scan::bound(input, &self.limits)?, stated),
        }
    }

    fn raster(
        &self,
        input: &[u8],
        s: raster::Stripped,
        kind: Kind,
        ext: &str,
    ) -> Result<Outcome, DeidError> {
        Ok(Outcome::Written(DeidentifiedFile {
            file_name: self.output_name(input, ext),
            bytes: s.bytes,
            kind,
            sop_instance_uid: None,
            pixels_cleaned: false,
            dicom: None,
            labels: None,
        }))
    }

    fn dicom(&self, bounded: scan::Bounded, stated: Stated<'_>) -> Result<Outcome, DeidError> {
        let (input, layout, structure) = (bounded.input(), &bounded.layout, &bounded.structure);
        let ts_uid = layout.transfer_syntax.as_str();
        let ts = TransferSyntaxRegistry
            .get(ts_uid)
            .ok_or_else(|| DeidError::UnsupportedTransferSyntax(ts_uid.to_owned()))?;
        let parse_ts = if bounded.is_deflated() {
            TransferSyntaxRegistry
                .get(entries::EXPLICIT_VR_LITTLE_ENDIAN.uid())
                .ok_or_else(|| DeidError::UnsupportedTransferSyntax(ts_uid.to_owned()))?
        } else {
            ts
        };
        let data = bounded.data();
        // Pixel data is neither parsed nor re-encoded: its original bytes go to the output
        // verbatim, which keeps them identical and saves most of the work. (Not for the
        // deflated syntax, whose output is compressed as a whole.)
        let mut splice = structure.pixel_data.clone().filter(|_| {
            ts_uid != scan::DEFLATED_EXPLICIT_LE && structure.unparsable_private.is_empty()
        });
        let header = match &splice {
            Some(px) => [&data[..px.start], &data[px.end..]].concat(),
            None => scan::cut(data, &structure.unparsable_private),
        };
        let mut obj = InMemDicomObject::read_dataset_with_ts(&header[..], parse_ts)
            .map_err(|e| DeidError::Parse(error_chain(&e)))?;
        if obj.get(Tag(0x0004, 0x1220)).is_some() {
            return Ok(Outcome::Quarantined(Refusal::new(
                Cause::DicomDir,
                "DICOMDIR media directory: it indexes original file paths, which \
                 de-identified output does not keep",
            )));
        }
        // The meta group needs SOP UIDs even where the data set lacks them: take the meta
        // group's, else (for the instance) one derived from the content. A missing SOP
        // Instance UID is added to the data set too; a missing SOP Class UID is not, since
        // guessing an IOD is not de-identification's job.
        let mut sop_class = text(&obj, Tag(0x0008, 0x0016));
        if sop_class.is_empty() {
            match &layout.media_sop_class {
                Some(class) => sop_class = class.clone(),
                None => {
                    return Ok(Outcome::Quarantined(Refusal::new(
                        Cause::NotAnImage,
                        "no SOP Class UID in the data set or the meta group: not a storable DICOM instance",
                    )));
                }
            }
        }
        let fallback_instance = match &layout.media_sop_instance {
            Some(uid) => self.key.uid(uid),
            None => self
                .key
                .uid(&format!("content:{}", hex(&self.key.mac("content", input)))),
        };
        let mut pixels_cleaned = false;
        if let Some(reason) = self.burned_in_risk(&obj, &sop_class, splice.is_some()) {
            match self.pixel_rule(&obj) {
                Some(rule) => {
                    if splice.take().is_some() {
                        // Cleaning needs the pixels in memory after all.
                        obj = InMemDicomObject::read_dataset_with_ts(
                            &scan::cut(data, &structure.unparsable_private)[..],
                            parse_ts,
                        )
                        .map_err(|e| DeidError::Parse(error_chain(&e)))?;
                    }
                    if let Err(why) = clean_pixels(&mut obj, rule, ts) {
                        return Ok(Outcome::Quarantined(Refusal::new(
                            Cause::CleaningFailed,
                            format!("{reason}; pixel cleaning failed: {why}"),
                        )));
                    }
                    pixels_cleaned = true;
                }
                None => {
                    return Ok(Outcome::Quarantined(Refusal::new(
                        Cause::BurnedInText,
                        reason,
                    )));
                }
            }
        }

        let instance = self.instance(&obj, sop_class.clone(), stated.patient_id);
        if let Some(patient) = stated.patient_id {
            // Present even where the header had none, for the walk to pseudonymise.
            obj.put(DataElement::new(
                Tag(0x0010, 0x0020),
                VR::LO,
                PrimitiveValue::from(patient),
            ));
        }
        let walk = Walk {
            table: self.table,
            profile: &self.profile,
            key: &self.key,
            instance: &instance,
        };
        let from_gateway = instance
            .keyed_by
            .clone()
            .filter(|k| *k != self.key.fingerprint());
        let labels = from_gateway.as_ref().and_then(|_| take_labels(&mut obj));
        let before = from_gateway.as_ref().map(|_| obj.clone());
        let mut out = walk.dataset(obj, dataset::TextPolicy::Keep);
        if let (Some(gateway), Some(before)) = (&from_gateway, &before) {
            let left = dataset::differences(before, &out);
            let mut why: Vec<String> = left.iter().take(8).map(|t| format!("{t}")).collect();
            why.extend(dataset::unkeyed_identifiers(before));
            if !why.is_empty() {
                return Ok(Outcome::Quarantined(Refusal::new(
                    Cause::GatewayLeak,
                    format!(
                        "marked as de-identified by the site's gateway (key {gateway}), but the \
                         profile would still change {}: the gateway let identity through",
                        why.join(", ")
                    ),
                )));
            }
        }
        self.mark(
            &mut out,
            pixels_cleaned,
            from_gateway.as_deref().unwrap_or(&self.key.fingerprint()),
        );
        if let Some(json) = stated.labels
            && !put_labels(&mut out, json)
        {
            return Ok(Outcome::Quarantined(Refusal::new(
                Cause::BadLabels,
                "every private block of group 0011 is taken: the labels have no room",
            )));
        }

        let mut new_sop_instance = text(&out, Tag(0x0008, 0x0018));
        if new_sop_instance.is_empty() {
            // SOP Common makes it Type 1, and the meta group must repeat it.
            new_sop_instance = fallback_instance;
            out.put(DataElement::new(
                Tag(0x0008, 0x0018),
                VR::UI,
                PrimitiveValue::from(new_sop_instance.as_str()),
            ));
        }
        let meta = FileMetaTableBuilder::new()
            .media_storage_sop_class_uid(sop_class.as_str())
            .media_storage_sop_instance_uid(new_sop_instance.as_str())
            .transfer_syntax(ts_uid)
            .implementation_class_uid(IMPLEMENTATION_CLASS_UID)
            .implementation_version_name(IMPLEMENTATION_VERSION_NAME)
            .build()
            .map_err(|e| DeidError::Write(error_chain(&e)))?;
        let summary = DicomSummary {
            patient_id: text(&out, Tag(0x0010, 0x0020)),
            study_uid: text(&out, Tag(0x0020, 0x000D)),
            series_uid: text(&out, Tag(0x0020, 0x000E)),
            modality: text(&out, Tag(0x0008, 0x0060)),
            view_position: text(&out, Tag(0x0018, 0x5101)),
            sex: text(&out, Tag(0x0010, 0x0040)),
            age_years: age_in_years(&text(&out, Tag(0x0010, 0x1010))),
        };
        let mut bytes = Vec::with_capacity(input.len() + 1024);
        let write_err = |e: &dyn std::error::Error| DeidError::Write(error_chain(e));
        match splice {
            None => out
                .with_exact_meta(meta)
                .write_all(&mut bytes)
                .map_err(|e| write_err(&e))?,
            Some(px) => {
                // Elements sort by tag: those before Pixel Data, its original bytes, the rest.
                let charset = SpecificCharacterSet::from_code(&text(&out, Tag(0x0008, 0x0005)))
                    .unwrap_or_default();
                let (before, after): (Vec<_>, Vec<_>) =
                    out.into_iter().partition(|e| e.tag() < PIXEL_DATA);
                let before = InMemDicomObject::from_element_iter(before).with_exact_meta(meta);
                before.write_all(&mut bytes).map_err(|e| write_err(&e))?;
                bytes.extend_from_slice(&data[px]);
                if !after.is_empty() {
                    InMemDicomObject::from_element_iter(after)
                        .write_dataset_with_ts_cs(&mut bytes, ts, charset)
                        .map_err(|e| write_err(&e))?;
                }
            }
        }
        Ok(Outcome::Written(DeidentifiedFile {
            file_name: self.output_name(input, "dcm"),
            bytes,
            kind: Kind::Dicom,
            sop_instance_uid: Some(new_sop_instance),
            pixels_cleaned,
            dicom: Some(summary),
            labels,
        }))
    }

    /// Blanks rectangles (`[x, y, width, height]` in pixels, every frame) of an instance
    /// this de-identifier already wrote, by the same pixel-cleaning path a profile rule
    /// takes: a reviewer found text the profile did not know about. The data set is not
    /// de-identified again (that would shift its dates twice); it gains the Clean Pixel
    /// Data code in its de-identification method.
    pub fn blank_rectangles(
        &self,
        deidentified: &[u8],
        rectangles: &[[u16; 4]],
    ) -> Result<DeidentifiedFile, DeidError> {
        let bounded = scan::bound(deidentified, &self.limits)?;
        let body = bounded
            .part10()
            .filter(|_| deidentified.get(128..132) == Some(b"DICM"))
            .ok_or_else(|| DeidError::Parse("not a DICOM file with a preamble".into()))?;
        let file = dicom_object::OpenFileOptions::new()
            .read_preamble(dicom_object::file::ReadPreamble::Never)
            .from_reader(&body[4..])
            .or_else(|_| {
                dicom_object::OpenFileOptions::new()
                    .read_preamble(dicom_object::file::ReadPreamble::Never)
                    .from_reader(body)
            })
            .map_err(|e| DeidError::Parse(error_chain(&e)))?;
        let meta = file.meta().clone();
        let ts = TransferSyntaxRegistry
            .get(meta.transfer_syntax())
            .ok_or_else(|| {
                DeidError::UnsupportedTransferSyntax(meta.transfer_syntax().to_owned())
            })?;
        let mut obj = file.into_inner();
        let rule = profile::PixelCleaning {
            manufacturer: String::new(),
            model: String::new(),
            rows: number(&obj, Tag(0x0028, 0x0010)).unwrap_or(0) as u16,
            columns: number(&obj, Tag(0x0028, 0x0011)).unwrap_or(0) as u16,
            rectangles: rectangles.to_vec(),
        };
        for r in rectangles {
            if u32::from(r[0]) + u32::from(r[2]) > u32::from(rule.columns)
                || u32::from(r[1]) + u32::from(r[3]) > u32::from(rule.rows)
            {
                return Err(DeidError::Write(format!(
                    "the rectangle {r:?} lies outside the {}x{} image",
                    rule.columns, rule.rows
                )));
            }
        }
        clean_pixels(&mut obj, &rule, ts).map_err(DeidError::Write)?;
        // The pseudonyms stay those of the key that made them (the site's, or its gateway's).
        let method = text(&obj, Tag(0x0012, 0x0063));
        let keyed_with = method
            .split_once(" key ")
            .and_then(|(_, rest)| rest.split(['\\', ' ']).next())
            .filter(|f| f.len() == 8)
            .map(str::to_owned)
            .unwrap_or_else(|| self.key.fingerprint());
        self.mark(&mut obj, true, &keyed_with);
        let summary = DicomSummary {
            patient_id: text(&obj, Tag(0x0010, 0x0020)),
            study_uid: text(&obj, Tag(0x0020, 0x000D)),
            series_uid: text(&obj, Tag(0x0020, 0x000E)),
            modality: text(&obj, Tag(0x0008, 0x0060)),
            view_position: text(&obj, Tag(0x0018, 0x5101)),
            sex: text(&obj, Tag(0x0010, 0x0040)),
            age_years: age_in_years(&text(&obj, Tag(0x0010, 0x1010))),
        };
        let sop_instance = text(&obj, Tag(0x0008, 0x0018));
        let mut bytes = Vec::with_capacity(deidentified.len());
        obj.with_exact_meta(meta)
            .write_all(&mut bytes)
            .map_err(|e| DeidError::Write(error_chain(&e)))?;
        Ok(DeidentifiedFile {
            file_name: self.output_name(&bytes, "dcm"),
            bytes,
            kind: Kind::Dicom,
            sop_instance_uid: Some(sop_instance),
            pixels_cleaned: true,
            dicom: Some(summary),
            labels: None,
        })
    }

    /// Why this instance may show identity in its pixels, if it may.
    fn burned_in_risk(
        &self,
        obj: &InMemDicomObject,
        sop_class: &str,
        pixels_aside: bool,
    ) -> Option<String> {
        let has_pixels = pixels_aside
            || [PIXEL_DATA, Tag(0x7FE0, 0x0008), Tag(0x7FE0, 0x0009)]
                .iter()
                .any(|t| obj.get(*t).is_some());
        if !has_pixels {
            return None;
        }
        let burned = text(obj, Tag(0x0028, 0x0301)).to_ascii_uppercase();
        if burned == "YES" {
            return Some(
                "BurnedInAnnotation is YES: identity may be burned into the pixels".into(),
            );
        }
        if burned == "NO" {
            return None;
        }
        let modality = text(obj, Tag(0x0008, 0x0060)).to_ascii_uppercase();
        let suspect_modality = self
            .profile
            .burned_in
            .suspect_modalities
            .iter()
            .any(|m| *m == modality);
        let suspect_class = self
            .profile
            .burned_in
            .suspect_sop_classes
            .iter()
            .any(|prefix| sop_class.starts_with(prefix.as_str()));
        if suspect_modality {
            Some(format!(
                "BurnedInAnnotation is missing on a {modality} image, a modality that often \
                 carries on-screen text"
            ))
        } else if suspect_class {
            Some(format!(
                "BurnedInAnnotation is missing on an instance of SOP class {sop_class}, which \
                 often carries on-screen text"
            ))
        } else {
            None
        }
    }

    fn pixel_rule(&self, obj: &InMemDicomObject) -> Option<&profile::PixelCleaning> {
        let manufacturer = text(obj, Tag(0x0008, 0x0070));
        let model = text(obj, Tag(0x0008, 0x1090));
        let rows = number(obj, Tag(0x0028, 0x0010));
        let columns = number(obj, Tag(0x0028, 0x0011));
        self.profile.pixel_cleaning.iter().find(|r| {
            r.manufacturer == manufacturer
                && r.model == model
                && Some(u32::from(r.rows)) == rows
                && Some(u32::from(r.columns)) == columns
        })
    }

    fn instance(
        &self,
        obj: &InMemDicomObject,
        sop_class: String,
        stated_patient: Option<&str>,
    ) -> Instance {
        let header_patient = text(obj, Tag(0x0010, 0x0020));
        let patient_id = stated_patient
            .map(|p| p.trim().to_owned())
            .unwrap_or_else(|| header_patient.clone());
        let issuer = text(obj, Tag(0x0010, 0x0021));
        let name = text(obj, Tag(0x0010, 0x0010));
        let birth = text(obj, Tag(0x0010, 0x0030));
        // The patient behind pseudonyms and the date offset: the ID within its issuer;
        // failing that the name and birth date; failing that the study, so that two
        // anonymous patients never merge into one.
        let patient_key = if !patient_id.is_empty() {
            format!("id:{patient_id}|{issuer}")
        } else if !name.is_empty() || !birth.is_empty() {
            format!("name:{name}|{birth}")
        } else {
            format!("study:{}", text(obj, Tag(0x0020, 0x000D)))
        };
        let method = text(obj, Tag(0x0012, 0x0063));
        let identity_removed = text(obj, Tag(0x0012, 0x0062)).eq_ignore_ascii_case("YES");
        let marks = |fingerprint: &str| method.contains(&format!("key {fingerprint}"));
        let keyed_by = [Some(self.key.fingerprint()), self.gateway.clone()]
            .into_iter()
            .flatten()
            .find(|f| identity_removed && marks(f));
        let already_keyed = keyed_by.is_some();
        let dates_modified = text(obj, Tag(0x0028, 0x0303)).eq_ignore_ascii_case("MODIFIED")
            || method_codes(obj).iter().any(|c| c == "113107");
        let shift_days = (!dates_modified && !already_keyed).then(|| {
            self.key
                .date_shift_days(&patient_key, self.profile.dates.max_shift_days)
        });
        let mut tokens: Vec<String> = name
            .split(['^', '=', ' ', ','])
            .filter(|p| p.chars().count() >= 2)
            .map(str::to_owned)
            .collect();
        for t in [
            Tag(0x0010, 0x0020),
            Tag(0x0010, 0x1000),
            Tag(0x0008, 0x0050),
            Tag(0x0010, 0x0030),
        ] {
            tokens.extend(
                text(obj, t)
                    .split('\\')
                    .filter(|v| v.len() >= 2)
                    .map(str::to_owned),
            );
        }
        tokens.extend(stated_patient.filter(|p| p.len() >= 2).map(str::to_owned));
        tokens.sort_by_key(|t| std::cmp::Reverse(t.len()));
        tokens.dedup();
        Instance {
            sop_class,
            shift_days,
            already_keyed,
            keyed_by,
            patient_key,
            identity_tokens: tokens,
        }
    }

    /// Records what was done, as PS3.15 E.1.1 asks.
    fn mark(&self, out: &mut InMemDicomObject, pixels_cleaned: bool, keyed_with: &str) {
        let options = &self.profile.options;
        out.put(DataElement::new(
            Tag(0x0012, 0x0062),
            VR::CS,
            PrimitiveValue::from("YES"),
        ));
        let codes = options.method_codes(pixels_cleaned);
        let mut method: Vec<String> = vec![format!(
            "lunghub {} key {keyed_with}",
            env!("CARGO_PKG_VERSION"),
        )];
        method.extend(codes.iter().map(|(_, m)| (*m).to_owned()));
        out.put(DataElement::new(
            Tag(0x0012, 0x0063),
            VR::LO,
            PrimitiveValue::Strs(method.into()),
        ));
        // Keep codes an earlier de-identification recorded, then add ours.
        let mut items: Vec<InMemDicomObject> = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        if let Some(Value::Sequence(seq)) = out.get(Tag(0x0012, 0x0064)).map(|e| e.value()) {
            for item in seq.items() {
                let code = text(item, Tag(0x0008, 0x0100));
                if !seen.contains(&code) {
                    seen.push(code);
                    items.push(item.clone());
                }
            }
        }
        for (code, meaning) in codes {
            if seen.iter().any(|s| s == code) {
                continue;
            }
            items.push(InMemDicomObject::from_element_iter([
                DataElement::new(Tag(0x0008, 0x0100), VR::SH, PrimitiveValue::from(code)),
                DataElement::new(Tag(0x0008, 0x0102), VR::SH, PrimitiveValue::from("DCM")),
                DataElement::new(Tag(0x0008, 0x0104), VR::LO, PrimitiveValue::from(meaning)),
            ]));
        }
        out.put(DataElement::new(
            Tag(0x0012, 0x0064),
            VR::SQ,
            Value::Sequence(DataSetSequence::new(items, Length::UNDEFINED)),
        ));
        let temporal = if options.retain_modified_dates {
            "MODIFIED"
        } else if options.retain_full_dates {
            "UNMODIFIED"
        } else {
            "REMOVED"
        };
        out.put(DataElement::new(
            Tag(0x0028, 0x0303),
            VR::CS,
            PrimitiveValue::from(temporal),
        ));
        if pixels_cleaned {
            out.put(DataElement::new(
                Tag(0x0028, 0x0301),
                VR::CS,
                PrimitiveValue::from("NO"),
            ));
        }
    }
}

/// An attribute's value as text; values stored as UN (raw bytes) are read as text too.
fn text(obj: &InMemDicomObject, tag: Tag) -> String {
    obj.get(tag)
        .and_then(|e| match e.value() {
            Value::Primitive(PrimitiveValue::U8(bytes)) => Some(
                String::from_utf8_lossy(bytes)
                    .trim_matches([' ', '\0'])
                    .to_owned(),
            ),
            Value::Primitive(p) => Some(p.to_str().trim_matches([' ', '\0']).to_owned()),
            _ => None,
        })
        .unwrap_or_default()
}

/// The private block reserved by [`LABELS_CREATOR`], if the data set has one: the creator's
/// tag and the tag of the labels.
fn labels_block(obj: &InMemDicomObject) -> Option<(Tag, Tag)> {
    (0x10..=0xFFu16).find_map(|slot| {
        let creator = Tag(LABELS_GROUP, slot);
        (text(obj, creator) == LABELS_CREATOR)
            .then_some((creator, Tag(LABELS_GROUP, slot << 8 | 1)))
    })
}

/// Takes the gateway's labels block out of a data set, returning the labels.
fn take_labels(obj: &mut InMemDicomObject) -> Option<String> {
    let (creator, labels) = labels_block(obj)?;
    let value = text(obj, labels);
    for slot in 0x00..=0xFFu16 {
        obj.remove_element(Tag(LABELS_GROUP, (creator.element() << 8) | slot));
    }
    obj.remove_element(creator);
    (!value.is_empty()).then_some(value)
}

/// Writes labels in a block of group 0011 reserved by [`LABELS_CREATOR`] (the first free
/// one, so that a private block the profile kept is never overwritten).
fn put_labels(obj: &mut InMemDicomObject, json: &str) -> bool {
    let Some(slot) = (0x10..=0xFFu16).find(|slot| {
        let t = text(obj, Tag(LABELS_GROUP, *slot));
        t.is_empty() || t == LABELS_CREATOR
    }) else {
        return false;
    };
    obj.put(DataElement::new(
        Tag(LABELS_GROUP, slot),
        VR::LO,
        PrimitiveValue::from(LABELS_CREATOR),
    ));
    obj.put(DataElement::new(
        Tag(LABELS_GROUP, slot << 8 | 1),
        VR::UT,
        PrimitiveValue::from(json),
    ));
    true
}

fn number(obj: &InMemDicomObject, tag: Tag) -> Option<u32> {
    obj.get(tag).and_then(|e| e.to_int::<u32>().ok())
}

fn method_codes(obj: &InMemDicomObject) -> Vec<String> {
    match obj.get(Tag(0x0012, 0x0064)).map(|e| e.value()) {
        Some(Value::Sequence(seq)) => seq
            .items()
            .iter()
            .map(|i| text(i, Tag(0x0008, 0x0100)))
            .collect(),
        _ => Vec::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An error with its causes, ": "-separated: dicom-rs puts the useful part in the source.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

/// Blanks the profile's rectangles in every frame of native pixel data.
fn clean_pixels(
    obj: &mut InMemDicomObject,
    rule: &profile::PixelCleaning,
    ts: &dicom_encoding::TransferSyntax,
) -> Result<(), String> {
    if !ts.is_codec_free() || ts.endianness() == dicom_encoding::transfer_syntax::Endianness::Big {
        return Err("only native little-endian pixel data can be cleaned".into());
    }
    let bits = number(obj, Tag(0x0028, 0x0100)).ok_or("no BitsAllocated")?;
    if bits != 8 && bits != 16 {
        return Err(format!("BitsAllocated {bits} is not 8 or 16"));
    }
    let bps = (bits / 8) as usize;
    let samples = number(obj, Tag(0x0028, 0x0002)).unwrap_or(1) as usize;
    let planar = number(obj, Tag(0x0028, 0x0006)).unwrap_or(0);
    let frames = obj
        .get(Tag(0x0028, 0x0008))
        .and_then(|e| e.to_int::<u32>().ok())
        .unwrap_or(1)
        .max(1) as usize;
    let (rows, cols) = (usize::from(rule.rows), usize::from(rule.columns));
    let elem = obj.get(PIXEL_DATA).ok_or("no PixelData")?;
    let vr = elem.vr();
    let was_u16 = matches!(elem.value(), Value::Primitive(PrimitiveValue::U16(_)));
    let mut bytes = elem.to_bytes().map_err(|e| e.to_string())?.into_owned();
    let frame_len = rows * cols * bps;
    let frame_len = frame_len
        .checked_mul(samples)
        .ok_or("SamplesPerPixel is absurd")?;
    let needed = frame_len
        .checked_mul(frames)
        .ok_or("NumberOfFrames is absurd")?;
    if bytes.len() < needed {
        return Err(format!(
            "PixelData holds {} bytes, fewer than {frames} frames need",
            bytes.len()
        ));
    }
    for f in 0..frames {
        for r in &rule.rectangles {
            let (x0, y0, w, h) = (
                usize::from(r[0]),
                usize::from(r[1]),
                usize::from(r[2]),
                usize::from(r[3]),
            );
            for y in y0..y0 + h {
                for x in x0..x0 + w {
                    for s in 0..samples {
                        let px = if planar == 0 {
                            (y * cols + x) * samples + s
                        } else {
                            s * rows * cols + y * cols + x
                        };
                        let at = f * frame_len + px * bps;
                        bytes[at..at + bps].fill(0);
                    }
                }
            }
        }
    }
    let value = if was_u16 {
        PrimitiveValue::U16(
            bytes
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect(),
        )
    } else {
        PrimitiveValue::U8(bytes.into())
    };
    obj.put(DataElement::new(PIXEL_DATA, vr, value));
    Ok(())
}
