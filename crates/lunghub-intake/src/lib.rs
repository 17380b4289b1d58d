//! The one intake pipeline. Every route by which images arrive hands files to
//! [`Intake::take_in`] (a folder) or to [`IntakeService`] (web upload and DICOMweb through
//! `receive`, DICOM C-STORE through `accept` and the spool), which run the same steps:
//!
//! sniff → de-identify → decode → fingerprint → dedupe → store → catalog → review state
//!
//! - De-identification comes first and happens in memory: bytes with identity never reach
//!   the blob store.
//! - Files are processed on all cores in chunks, so memory stays bounded however many files
//!   come; the catalog is written by one task, a chunk per transaction, while the cores
//!   prepare the next chunk.
//! - Re-ingesting the same files adds nothing: an item's id is the sha256 of its
//!   de-identified bytes, which de-identification makes deterministic.
//! - A file whose decoded pixels equal, or whose perceptual hash nearly equals, an item
//!   already catalogued is stored but linked to that twin and flagged for review.
//! - Crash-safe: a chunk's blobs are made durable (one sync) before the catalog rows that
//!   name them are committed, and every write is idempotent, so after `kill -9` a second run completes
//!   the work with nothing lost and nothing doubled.

pub mod service;
mod spool;

/// The input layouts, shared with the hospital gateway.
pub use lunghub_sources::{self as sources, unpack};

use std::collections::{BTreeMap, HashSet};
use std::fs;

use lunghub_deid::{
    Cause, DeidentifiedFile, Kind, Outcome as DeidOutcome, Refusal, SiteDeidentifiers,
};
use lunghub_domain::{Finding, Modality, ReviewState, View};
use lunghub_imaging::{Decoded, PerceptualHash};
use lunghub_store::{Blobs, Catalog, InsertOutcome, NewItem, StoreError};
use rayon::prelude::*;

pub use service::{Acceptance, Arrival, IntakeService};
pub use sources::{
    Format, Found, InputIssue, Metadata, MetadataRow, Source, discover, read_metadata_csv,
};
pub use spool::SpoolError;
pub use unpack::{ArchiveIssue, ArchiveLimits};

/// Files per chunk: the unit of parallel work and of one catalog transaction.
const CHUNK: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sources(#[from] sources::SourceError),
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error("{0} files are waiting to be catalogued; try again later")]
    Backlog(usize),
    #[error("intake task failed: {0}")]
    Task(String),
    #[error("cannot commit to the catalog: {0}")]
    Commit(String),
    /// Blanking burned-in text was refused or failed; the reason is for the reviewer.
    #[error("{0}")]
    Blank(String),
}

fn cannot_store(e: &StoreError) -> FileOutcome {
    FileOutcome::Unreadable(Refusal::new(
        Cause::ServerSide,
        format!("cannot store: {e}"),
    ))
}

/// What a sender is told about a clip the server could not re-encode.
fn clip_refusal(e: &lunghub_clips::ClipError) -> Refusal {
    use lunghub_clips::ClipError as E;
    let cause = match e {
        E::TooLarge { .. }
        | E::TooLong { .. }
        | E::Dimensions { .. }
        | E::OutputTooLarge { .. } => Cause::TooLarge,
        E::NotAClip(_) | E::Ffmpeg { .. } | E::Timeout => Cause::Damaged,
        E::MissingTool { .. } | E::Io(_) => Cause::ServerSide,
    };
    Refusal::new(cause, e.to_string())
}

/// The perceptual hashes of everything catalogued, for near-duplicate search.
async fn known_hashes(catalog: &Catalog) -> Result<Vec<KnownHash>, IntakeError> {
    Ok(catalog
        .perceptual_hashes()
        .await?
        .into_iter()
        .filter_map(|h| {
            Some(KnownHash {
                hash: PerceptualHash::from_hex(&h.perceptual_hash)?,
                id: h.id,
                original: h.original,
            })
        })
        .collect())
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOutcome {
    New {
        item: String,
    },
    /// These exact de-identified bytes are already catalogued.
    Duplicate {
        item: String,
    },
    /// Stored, but the same or nearly the same image is already catalogued.
    NearDuplicate {
        item: String,
        twin: String,
    },
    /// Read, but not taken: identity may be in it, or it is not something to catalog.
    Quarantined(Refusal),
    /// Not read at all.
    Unreadable(Refusal),
}

impl FileOutcome {
    pub fn label(&self) -> &'static str {
        match self {
            FileOutcome::New { .. } => "new",
            FileOutcome::Duplicate { .. } => "duplicate",
            FileOutcome::NearDuplicate { .. } => "near-duplicate",
            FileOutcome::Quarantined(_) => "quarantined",
            FileOutcome::Unreadable(_) => "unreadable",
        }
    }
}

#[derive(Debug, Default)]
pub struct Report {
    /// Each file by its label (path, or `archive.zip!entry`), with what happened to it.
    pub files: Vec<(String, FileOutcome)>,
    pub input_issues: Vec<InputIssue>,
    /// Finding strings no rule recognised, kept verbatim, with how many files carry them.
    pub unknown_findings: BTreeMap<String, usize>,
}

impl Report {
    fn record(&mut self, outcomes: Vec<(usize, FileOutcome)>) {
        for (slot, outcome) in outcomes {
            self.files[slot].1 = outcome;
        }
    }

    pub fn count(&self, label: &str) -> usize {
        self.files
            .iter()
            .filter(|(_, o)| o.label() == label)
            .count()
    }
}

/// Where files come from: the site that sent them and the route they took.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Origin {
    pub site_id: String,
    /// `folder`, `upload`, `stow-rs` or `c-store`.
    pub route: String,
}

/// The pipeline's shared parts, the same for every route.
pub struct Intake {
    /// One profile; each site's files under that site's own key.
    pub deid: SiteDeidentifiers,
    pub catalog: Catalog,
    pub blobs: Blobs,
    /// The profile's name, recorded as provenance.
    pub profile_name: String,
    /// Perceptual hashes (256 bits) this many bits apart or closer make a near-duplicate.
    pub near_duplicate_bits: u32,
}

/// The CPU-bound part of one file's journey, done in parallel.
/// A catalogued (or about to be) item's perceptual hash.
struct KnownHash {
    id: String,
    hash: PerceptualHash,
    /// What a near-duplicate of this item is linked to: its own original, or itself.
    original: String,
}

/// A chunk's new items, waiting to be committed, and where each one's outcome goes in the
/// report.
struct Pending {
    slots: Vec<usize>,
    batch: Vec<NewItem>,
}

enum Prepared {
    Done(FileOutcome),
    Stored(Box<NewItem>, Option<PerceptualHash>),
}

enum Screened {
    Clip,
    File(DeidentifiedFile),
    Refused(FileOutcome),
}

impl Intake {
    /// Takes in every source, calling `progress` once per file.
    pub async fn take_in(
        &self,
        origin: &Origin,
        found: Found,
        progress: &(dyn Fn() + Sync),
    ) -> Result<Report, IntakeError> {
        let mut report = Report {
            input_issues: found.issues,
            ..Report::default()
        };
        let mut known_hashes = known_hashes(&self.catalog).await?;
        let mut seen_this_run: HashSet<String> = HashSet::new();
        // The previous chunk's rows, committed while this chunk is prepared, so that the
        // cores decode while the disk syncs and the database writes.
        let mut pending: Option<Pending> = None;
        let runtime = tokio::runtime::Handle::current();
        for chunk in found.sources.chunks(CHUNK) {
            let (prepared, committed) = tokio::task::block_in_place(|| {
                std::thread::scope(|scope| {
                    let worker = scope.spawn(|| {
                        chunk
                            .par_iter()
                            .map(|s| {
                                let p = self.prepare(origin, s);
                                progress();
                                p
                            })
                            .collect::<Vec<Prepared>>()
                    });
                    let committed = pending.take().map(|p| runtime.block_on(self.commit(p)));
                    (
                        worker
                            .join()
                            .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                        committed,
                    )
                })
            });
            if let Some(outcomes) = committed {
                report.record(outcomes?);
            }
            let mut batch = Vec::new();
            let mut slots = Vec::new();
            for (i, p) in prepared.into_iter().enumerate() {
                match p {
                    Prepared::Done(outcome) => report.files.push((chunk[i].label.clone(), outcome)),
                    Prepared::Stored(mut item, phash) => {
                        for (finding, known, ..) in &item.labels {
                            if !known {
                                *report.unknown_findings.entry(finding.clone()).or_default() += 1;
                            }
                        }
                        if !seen_this_run.insert(item.id.clone())
                            || self.catalog.contains_item(&item.id).await?
                        {
                            report.files.push((
                                chunk[i].label.clone(),
                                FileOutcome::Duplicate {
                                    item: item.id.clone(),
                                },
                            ));
                            continue;
                        }
                        self.link_twin(&mut item, phash, &known_hashes).await?;
                        if let Some(hash) = phash {
                            let original = item
                                .near_duplicate_of
                                .clone()
                                .unwrap_or_else(|| item.id.clone());
                            known_hashes.push(KnownHash {
                                id: item.id.clone(),
                                hash,
                                original,
                            });
                        }
                        slots.push(report.files.len());
                        report.files.push((
                            chunk[i].label.clone(),
                            FileOutcome::New {
                                item: item.id.clone(),
                            },
                        ));
                        batch.push(*item);
                    }
                }
            }
            if !batch.is_empty() {
                pending = Some(Pending { slots, batch });
            }
        }
        if let Some(p) = pending {
            let outcomes = tokio::task::block_in_place(|| runtime.block_on(self.commit(p)))?;
            report.record(outcomes);
        }
        Ok(report)
    }

    /// Makes a chunk's blobs durable, then commits the rows that name them, in that order.
    async fn commit(&self, pending: Pending) -> Result<Vec<(usize, FileOutcome)>, IntakeError> {
        self.blobs.sync()?;
        let outcomes = self.catalog.insert_batch(&pending.batch).await?;
        Ok(pending
            .slots
            .into_iter()
            .zip(&pending.batch)
            .zip(outcomes)
            .map(|((slot, item), outcome)| {
                let outcome = match (outcome, &item.near_duplicate_of) {
                    (InsertOutcome::Existing, _) => FileOutcome::Duplicate {
                        item: item.id.clone(),
                    },
                    (InsertOutcome::New, Some(twin)) => FileOutcome::NearDuplicate {
                        item: item.id.clone(),
                        twin: twin.clone(),
                    },
                    (InsertOutcome::New, None) => FileOutcome::New {
                        item: item.id.clone(),
                    },
                };
                (slot, outcome)
            })
            .collect())
    }

    /// Finds an item with the same decoded pixels, or failing that the nearest perceptual
    /// hash within the threshold, and flags the new item as a near-duplicate of that twin's
    /// original: a cluster of copies hangs off one item, never off a chain of copies.
    async fn link_twin(
        &self,
        item: &mut NewItem,
        phash: Option<PerceptualHash>,
        known: &[KnownHash],
    ) -> Result<(), IntakeError> {
        let same_pixels = match &item.pixel_hash {
            Some(h) => self.catalog.original_with_pixels(h).await?,
            None => None,
        };
        let twin = same_pixels
            .map(|t| (t, "the same decoded pixels".to_owned()))
            .or_else(|| {
                let h = phash?;
                let (d, nearest) = known
                    .iter()
                    .map(|k| (h.distance(&k.hash), k))
                    .filter(|(d, _)| *d <= self.near_duplicate_bits)
                    .min_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)))?;
                let why = if nearest.original == nearest.id {
                    format!("a perceptual hash {d} bits away")
                } else {
                    format!(
                        "a perceptual hash {d} bits from its near-duplicate {}",
                        nearest.id
                    )
                };
                Some((nearest.original.clone(), why))
            });
        if let Some((twin, why)) = twin {
            item.notes.push(format!("near-duplicate of {twin}: {why}"));
            item.near_duplicate_of = Some(twin);
            item.review_state = ReviewState::NeedsAttention.as_str().into();
        }
        Ok(())
    }

    fn prepare(&self, origin: &Origin, source: &Source) -> Prepared {
        let limit = self.deid.limits().max_bytes;
        if fs::metadata(&source.path)
            .map(|m| m.len() > limit)
            .unwrap_or(false)
        {
            return Prepared::Done(FileOutcome::Unreadable(Refusal::new(
                Cause::TooLarge,
                format!("file is larger than the {limit}-byte limit"),
            )));
        }
        match fs::read(&source.path) {
            Ok(bytes) => self.prepare_bytes(origin, bytes, &source.metadata),
            Err(e) => Prepared::Done(FileOutcome::Unreadable(Refusal::new(
                Cause::ServerSide,
                format!("cannot read: {e}"),
            ))),
        }
    }

    /// De-identifies, decodes, fingerprints and stores one file's bytes: everything but
    /// the catalog, which the caller commits in batches.
    fn prepare_bytes(&self, origin: &Origin, bytes: Vec<u8>, metadata: &Metadata) -> Prepared {
        match self.screen(origin, &bytes) {
            Screened::Clip => self.prepare_clip(origin, &bytes, metadata),
            Screened::Refused(outcome) => Prepared::Done(outcome),
            Screened::File(file) => {
                drop(bytes);
                self.store_file(origin, &file, &with_carried_labels(metadata, &file))
            }
        }
    }

    /// The first step, the one that decides whether a file is taken at all: the size limit,
    /// then de-identification (clips are read whole, by [`Intake::prepare_clip`]).
    fn screen(&self, origin: &Origin, bytes: &[u8]) -> Screened {
        let limit = self.deid.limits().max_bytes;
        if bytes.len() as u64 > limit {
            return Screened::Refused(FileOutcome::Unreadable(Refusal::new(
                Cause::TooLarge,
                format!("file is larger than the {limit}-byte limit"),
            )));
        }
        if lunghub_clips::sniff(bytes).is_some() {
            return Screened::Clip;
        }
        match self.deid.for_site(&origin.site_id).deidentify(bytes) {
            Ok(DeidOutcome::Written(f)) => Screened::File(f),
            Ok(DeidOutcome::Quarantined(why)) => Screened::Refused(FileOutcome::Quarantined(why)),
            Err(e) => Screened::Refused(FileOutcome::Unreadable(e.refusal())),
        }
    }

    fn store_file(
        &self,
        origin: &Origin,
        file: &DeidentifiedFile,
        metadata: &Metadata,
    ) -> Prepared {
        match self.store(origin, file, metadata) {
            Ok(p) => p,
            Err(e) => Prepared::Done(cannot_store(&e)),
        }
    }

    /// The pseudonymous patient, study and series an item belongs to: from the de-identified
    /// DICOM where it has them, else keyed from the metadata (the same patient of the same
    /// dataset gets the same pseudonym), else from the item itself.
    fn identity(
        &self,
        origin: &Origin,
        meta: &Metadata,
        dicom: &lunghub_deid::DicomSummary,
        id: &str,
    ) -> (String, String, String) {
        let dataset = meta.source_dataset.clone().unwrap_or_default();
        let key = self.deid.site_key(&origin.site_id);
        let patient_id = match (&meta.patient, dicom.patient_id.is_empty()) {
            (Some(p), _) => key.pseudonym("patient", &format!("{dataset}:{p}")),
            (None, false) => dicom.patient_id.clone(),
            (None, true) => key.pseudonym("patient", &format!("item:{id}")),
        };
        let study_id = if !dicom.study_uid.is_empty() {
            dicom.study_uid.clone()
        } else {
            let visit = meta
                .offset_days
                .map(|o| o.to_string())
                .unwrap_or_else(|| id.to_owned());
            key.uid(&format!("study:{patient_id}:{visit}"))
        };
        let series_id = if !dicom.series_uid.is_empty() {
            dicom.series_uid.clone()
        } else {
            key.uid(&format!("series:{study_id}:{id}"))
        };
        (patient_id, study_id, series_id)
    }

    /// A video clip: re-encoded without metadata by `lunghub-clips`, with frames sampled for
    /// review, and flagged when on-screen text is suspected.
    fn prepare_clip(&self, origin: &Origin, bytes: &[u8], meta: &Metadata) -> Prepared {
        let clip = match lunghub_clips::read_clip(bytes, &lunghub_clips::ClipLimits::default()) {
            Ok(c) => c,
            Err(e) => return Prepared::Done(FileOutcome::Unreadable(clip_refusal(&e))),
        };
        match self.store_clip(origin, clip, meta) {
            Ok(p) => p,
            Err(e) => Prepared::Done(cannot_store(&e)),
        }
    }

    fn store_clip(
        &self,
        origin: &Origin,
        clip: lunghub_clips::Clip,
        meta: &Metadata,
    ) -> Result<Prepared, StoreError> {
        let mut notes = Vec::new();
        if let Some(band) = &clip.text_band {
            notes.push(format!(
                "suspected on-screen text in rows {}-{}: {}",
                band.top, band.bottom, band.why
            ));
        }
        if let Some(damage) = &clip.decode_errors {
            notes.push(format!("the clip decodes with errors: {damage}"));
        }
        let n = clip.samples.len();
        let mut sampled_frames = Vec::with_capacity(n);
        let mut pixels = <sha2::Sha256 as sha2::Digest>::new();
        for (i, frame) in clip.samples.iter().enumerate() {
            sha2::Digest::update(&mut pixels, frame.as_raw());
            let png = lunghub_imaging::encode_png(&image::DynamicImage::ImageRgb8(frame.clone()))
                .map_err(|e| StoreError::Conflict(format!("cannot encode a frame: {e}")))?;
            let at = if n > 1 {
                (i as u64 * clip.frames.saturating_sub(1) / (n as u64 - 1)) as i64
            } else {
                0
            };
            sampled_frames.push((at, self.blobs.put(&png)?));
        }
        // The middle sample stands for the clip in thumbnails and near-duplicate search.
        let middle = clip
            .samples
            .get(n / 2)
            .map(|f| image::DynamicImage::ImageRgb8(f.clone()));
        let thumbnail = match middle
            .as_ref()
            .map(|m| lunghub_imaging::encode_png(&m.thumbnail(256, 256)))
        {
            Some(Ok(png)) => Some(self.blobs.put(&png)?),
            _ => None,
        };
        let phash = middle
            .as_ref()
            .map(|m| lunghub_imaging::perceptual_hash(&m.thumbnail(256, 256).to_luma8()));
        let id = self.blobs.put(&clip.video)?;
        let pixel_hash = format!("{:x}", sha2::Digest::finalize(pixels));
        let base = self.item_base(
            origin,
            meta,
            &lunghub_deid::DicomSummary::default(),
            id,
            notes,
        );
        let item = NewItem {
            kind: "clip".into(),
            modality: meta
                .modality
                .as_deref()
                .map(|m| Modality::parse(m).code().to_owned())
                .unwrap_or_else(|| "US".into()),
            photometric: Some("RGB".into()),
            bits: Some(8),
            width: Some(i64::from(clip.width)),
            height: Some(i64::from(clip.height)),
            frames: Some(clip.frames as i64),
            bytes: clip.video.len() as i64,
            pixel_hash: Some(pixel_hash),
            perceptual_hash: phash.map(|h| h.to_hex()),
            thumbnail,
            sampled_frames,
            ..base
        };
        Ok(Prepared::Stored(Box::new(item), phash))
    }

    /// What every item takes from where it came from and what its metadata (or its
    /// de-identified DICOM header) says: identity, view, clinical fields, labels,
    /// provenance, and "needs attention" when anything was noted.
    fn item_base(
        &self,
        origin: &Origin,
        meta: &Metadata,
        dicom: &lunghub_deid::DicomSummary,
        id: String,
        mut notes: Vec<String>,
    ) -> NewItem {
        let (patient_id, study_id, series_id) = self.identity(origin, meta, dicom, &id);
        let labels = labels_of(meta, &mut notes);
        let review_state = if notes.is_empty() {
            ReviewState::Pending
        } else {
            ReviewState::NeedsAttention
        };
        NewItem {
            id,
            site_id: origin.site_id.clone(),
            patient_id,
            study_id,
            series_id,
            view: meta
                .view
                .as_deref()
                .or((!dicom.view_position.is_empty()).then_some(dicom.view_position.as_str()))
                .and_then(View::parse)
                .map(|v| v.label().to_owned()),
            age_years: meta.age_years.or(dicom.age_years),
            sex: meta
                .sex
                .clone()
                .or((!dicom.sex.is_empty()).then(|| dicom.sex.clone())),
            comorbidities: meta.comorbidities.clone(),
            therapy: meta.therapy.clone(),
            outcome: meta.outcome.clone(),
            offset_days: meta.offset_days,
            route: origin.route.clone(),
            source_dataset: meta.source_dataset.clone(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            deid_profile: self.profile_name.clone(),
            review_state: review_state.as_str().into(),
            labels,
            notes,
            ..NewItem::default()
        }
    }

    fn store(
        &self,
        origin: &Origin,
        file: &DeidentifiedFile,
        meta: &Metadata,
    ) -> Result<Prepared, StoreError> {
        let mut notes = Vec::new();
        let decoded: Option<Decoded> = match lunghub_imaging::decode(&file.bytes) {
            Ok(d) => Some(d),
            // Structured reports, plans and waveforms have no image to decode.
            Err(lunghub_imaging::ImagingError::NoPixels) => None,
            Err(e) => {
                notes.push(format!("pixels could not be decoded: {e}"));
                None
            }
        };
        // One shrunken preview serves the thumbnail and the perceptual hash.
        let preview = decoded.as_ref().map(Decoded::preview);
        let thumbnail = match preview.as_ref().map(lunghub_imaging::encode_png) {
            Some(Ok(png)) => Some(self.blobs.put(&png)?),
            _ => None,
        };
        // The item's bytes are synced into the store before anything names them.
        let id = self.blobs.put(&file.bytes)?;
        let dicom = file.dicom.clone().unwrap_or_default();
        let modality = meta
            .modality
            .as_deref()
            .map(|m| Modality::parse(m).code().to_owned())
            .or_else(|| {
                (!dicom.modality.is_empty())
                    .then(|| Modality::parse(&dicom.modality).code().to_owned())
            })
            .unwrap_or_else(|| "OT".into());
        let phash = preview
            .as_ref()
            .map(|p| lunghub_imaging::perceptual_hash(&p.to_luma8()));
        let base = self.item_base(origin, meta, &dicom, id, notes);
        let item = NewItem {
            kind: match file.kind {
                Kind::Dicom => "dicom",
                Kind::Png => "png",
                Kind::Jpeg => "jpeg",
            }
            .into(),
            modality,
            photometric: decoded.as_ref().map(|d| d.photometric.clone()),
            bits: decoded.as_ref().map(|d| i64::from(d.bits)),
            width: decoded.as_ref().map(|d| i64::from(d.width)),
            height: decoded.as_ref().map(|d| i64::from(d.height)),
            frames: decoded.as_ref().map(|d| i64::from(d.frames)),
            bytes: file.bytes.len() as i64,
            pixel_hash: decoded.as_ref().map(|d| d.pixel_hash.clone()),
            perceptual_hash: phash.map(|h| h.to_hex()),
            thumbnail,
            ..base
        };
        Ok(Prepared::Stored(Box::new(item), phash))
    }
}

/// The route's metadata, completed by the labels the site's gateway carried inside the
/// instance (which the de-identifier took out and this re-checks: only known findings,
/// views and sexes, and numbers, are taken).
pub(crate) fn with_carried_labels(metadata: &Metadata, file: &DeidentifiedFile) -> Metadata {
    let mut metadata = metadata.clone();
    if let Some(json) = &file.labels {
        lunghub_sources::HospitalLabels::from_json(json).fill(&mut metadata);
    }
    metadata
}

/// The finding the metadata gives, mapped to the hierarchy; an unknown one is kept
/// verbatim and noted for review.
fn labels_of(meta: &Metadata, notes: &mut Vec<String>) -> Vec<(String, bool, String, String)> {
    let dataset = meta.source_dataset.clone().unwrap_or_default();
    let labels: Vec<(String, bool, String, String)> = meta
        .finding
        .iter()
        .map(|raw| {
            let f = Finding::parse(raw);
            (
                f.as_str().to_owned(),
                f.is_known(),
                "metadata".to_owned(),
                format!("import:{dataset}"),
            )
        })
        .collect();
    if let Some((unknown, ..)) = labels.iter().find(|l| !l.1) {
        notes.push(format!("unknown finding {unknown:?} kept verbatim"));
    }
    labels
}
