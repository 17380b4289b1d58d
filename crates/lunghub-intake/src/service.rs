//! The intake pipeline as a long-lived service, for the routes by which files arrive one at
//! a time over the network: web upload, DICOMweb STOW-RS and DICOM C-STORE.
//!
//! Each arrival runs the same steps as a folder ingest ([`Intake::prepare_bytes`], then the
//! same duplicate and near-duplicate rules), so a file sent by any route becomes the same
//! catalog record. What differs is the batching: arrivals from every route and every
//! connection meet in one committer task, which makes the blobs durable and commits the
//! rows of whatever has arrived meanwhile in one transaction (group commit). A caller hears
//! the outcome only once its row is committed, so a sender told "stored" can delete its copy.

use std::collections::HashSet;
use std::sync::Arc;

use lunghub_deid::{DeidentifiedFile, Kind};
use lunghub_imaging::PerceptualHash;
use lunghub_store::{InsertOutcome, NewItem};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::{FileOutcome, Intake, IntakeError, KnownHash, Metadata, Origin, Prepared};

/// Most rows committed in one transaction.
const MAX_GROUP: usize = 256;

/// One file as it arrived, in memory.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub origin: Origin,
    /// How reports name it: the uploaded file's path, or the SOP Instance UID it was sent as.
    pub label: String,
    pub bytes: Vec<u8>,
    pub metadata: Metadata,
}

struct Commit {
    item: NewItem,
    reply: oneshot::Sender<Result<InsertOutcome, String>>,
}

/// What the service remembers between arrivals.
struct Known {
    hashes: Vec<KnownHash>,
    /// Items prepared but not yet committed, so that two copies arriving together are
    /// told apart.
    in_flight: HashSet<String>,
}

/// The intake pipeline, shared by every network route of a running server.
pub struct IntakeService {
    intake: Arc<Intake>,
    known: Mutex<Known>,
    commits: mpsc::Sender<Commit>,
}

impl IntakeService {
    /// Starts the committer task on the current tokio runtime.
    pub async fn start(intake: Intake) -> Result<Arc<Self>, IntakeError> {
        let hashes = crate::known_hashes(&intake.catalog).await?;
        let intake = Arc::new(intake);
        let (commits, queue) = mpsc::channel(MAX_GROUP * 4);
        tokio::spawn(committer(intake.clone(), queue));
        Ok(Arc::new(IntakeService {
            intake,
            known: Mutex::new(Known {
                hashes,
                in_flight: HashSet::new(),
            }),
            commits,
        }))
    }

    pub fn intake(&self) -> &Intake {
        &self.intake
    }

    /// Takes one file in and returns what happened to it, once that is durable.
    pub async fn receive(&self, arrival: Arrival) -> Result<FileOutcome, IntakeError> {
        let intake = self.intake.clone();
        let Arrival {
            origin,
            bytes,
            metadata,
            ..
        } = arrival;
        let prepared =
            tokio::task::spawn_blocking(move || intake.prepare_bytes(&origin, bytes, &metadata))
                .await
                .map_err(|e| IntakeError::Task(e.to_string()))?;
        let (mut item, phash) = match prepared {
            Prepared::Done(outcome) => return Ok(outcome),
            Prepared::Stored(item, phash) => (item, phash),
        };
        {
            let mut known = self.known.lock().await;
            if known.in_flight.contains(&item.id)
                || self.intake.catalog.contains_item(&item.id).await?
            {
                return Ok(FileOutcome::Duplicate { item: item.id });
            }
            self.intake
                .link_twin(&mut item, phash, &known.hashes)
                .await?;
            remember(&mut known.hashes, &item, phash);
            known.in_flight.insert(item.id.clone());
        }
        let id = item.id.clone();
        let twin = item.near_duplicate_of.clone();
        let (reply, outcome) = oneshot::channel();
        let sent = self.commits.send(Commit { item: *item, reply }).await;
        let committed = match sent {
            Ok(()) => outcome
                .await
                .map_err(|_| IntakeError::Task("the catalog committer stopped".into()))
                .and_then(|r| r.map_err(IntakeError::Commit)),
            Err(_) => Err(IntakeError::Task("the catalog committer stopped".into())),
        };
        self.known.lock().await.in_flight.remove(&id);
        Ok(match (committed?, twin) {
            (InsertOutcome::Existing, _) => FileOutcome::Duplicate { item: id },
            (InsertOutcome::New, Some(twin)) => FileOutcome::NearDuplicate { item: id, twin },
            (InsertOutcome::New, None) => FileOutcome::New { item: id },
        })
    }
}

fn remember(hashes: &mut Vec<KnownHash>, item: &NewItem, phash: Option<PerceptualHash>) {
    if let Some(hash) = phash {
        hashes.push(KnownHash {
            id: item.id.clone(),
            hash,
            original: item
                .near_duplicate_of
                .clone()
                .unwrap_or_else(|| item.id.clone()),
        });
    }
}

/// Commits whatever has queued up, a group at a time: one blob sync and one transaction
/// for all the arrivals of the last few milliseconds, from every connection.
async fn committer(intake: Arc<Intake>, mut queue: mpsc::Receiver<Commit>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while queue.recv_many(&mut group, MAX_GROUP).await > 0 {
        let items: Vec<NewItem> = group.iter().map(|c| c.item.clone()).collect();
        let blobs_intake = intake.clone();
        let synced = tokio::task::spawn_blocking(move || blobs_intake.blobs.sync())
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
        let result = match synced {
            Ok(()) => intake
                .catalog
                .insert_batch(&items)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(format!("cannot make the blobs durable: {e}")),
        };
        match result {
            Ok(outcomes) => {
                for (commit, outcome) in group.drain(..).zip(outcomes) {
                    let _ = commit.reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                for commit in group.drain(..) {
                    let _ = commit.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

impl IntakeService {
    /// Blanks rectangles (`[x, y, width, height]`) of burned-in text in an item, through
    /// the de-identifier's pixel cleaning for DICOM (or by painting the pixels of a PNG or
    /// JPEG, written out as PNG). The blanked copy becomes a new item of the same patient,
    /// study and series, with the old item's labels, waiting for review; the old item is
    /// marked replaced and the blobs that showed the text are deleted. Returns the new id.
    pub async fn blank(
        &self,
        item_id: &str,
        rectangles: &[[u32; 4]],
        by: &str,
    ) -> Result<String, IntakeError> {
        let catalog = &self.intake.catalog;
        let old = catalog
            .item(item_id)
            .await?
            .ok_or_else(|| IntakeError::Blank("there is no such item".into()))?;
        let text = |name: &str| {
            old.fields
                .get(name)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        if text("review_state").as_deref() == Some("replaced") {
            return Err(IntakeError::Blank(
                "this item was replaced already; blank its replacement".into(),
            ));
        }
        let kind = text("kind").unwrap_or_default();
        if !matches!(kind.as_str(), "dicom" | "png" | "jpeg") {
            return Err(IntakeError::Blank(format!(
                "blanking works on images; this item is a {kind}: reject it instead"
            )));
        }
        let origin = Origin {
            site_id: catalog.site_of_item(item_id).await?,
            route: text("route").unwrap_or_else(|| "folder".into()),
        };
        let rects16: Vec<[u16; 4]> = rectangles
            .iter()
            .map(|r| r.map(|v| u16::try_from(v).unwrap_or(u16::MAX)))
            .collect();
        let intake = self.intake.clone();
        let id = item_id.to_owned();
        let task_origin = origin.clone();
        let prepared = tokio::task::spawn_blocking(move || -> Result<Prepared, IntakeError> {
            let bytes = intake.blobs.get(&id)?;
            let file = if kind == "dicom" {
                intake
                    .deid
                    .blank_rectangles(&bytes, &rects16)
                    .map_err(|e| IntakeError::Blank(e.to_string()))?
            } else {
                blank_raster(&bytes, &rects16)?
            };
            intake
                .store(&task_origin, &file, &Metadata::default())
                .map_err(IntakeError::Store)
        })
        .await
        .map_err(|e| IntakeError::Task(e.to_string()))??;
        let (mut item, phash) = match prepared {
            Prepared::Stored(item, phash) => (item, phash),
            Prepared::Done(outcome) => {
                return Err(IntakeError::Blank(format!(
                    "the blanked copy could not be stored: {}",
                    outcome.label()
                )));
            }
        };
        // Same patient, study and series, and the clinical fields as they were.
        let number = |name: &str| old.fields.get(name).and_then(|v| v.as_i64());
        for (slot, name) in [
            (&mut item.patient_id, "patient_id"),
            (&mut item.study_id, "study_id"),
            (&mut item.series_id, "series_id"),
            (&mut item.modality, "modality"),
        ] {
            if let Some(v) = text(name) {
                *slot = v;
            }
        }
        item.view = text("view");
        item.sex = text("sex");
        item.comorbidities = text("comorbidities");
        item.therapy = text("therapy");
        item.outcome = text("outcome");
        item.source_dataset = text("source_dataset");
        item.offset_days = number("offset_days");
        item.age_years = old.fields.get("age_years").and_then(|v| v.as_f64());
        item.labels.clear();
        let rect_words: Vec<String> = rectangles
            .iter()
            .map(|r| format!("{}x{} at {},{}", r[2], r[3], r[0], r[1]))
            .collect();
        let detail = format!("{by} blanked {}", rect_words.join(", "));
        item.notes = vec![format!(
            "text blanked by a reviewer: {}",
            rect_words.join(", ")
        )];
        item.review_state = lunghub_domain::ReviewState::NeedsAttention.as_str().into();
        item.near_duplicate_of = None;
        let new_id = item.id.clone();
        if new_id == item_id {
            return Err(IntakeError::Blank(
                "the rectangle changed nothing: it covers pixels that are blank already".into(),
            ));
        }
        {
            let mut known = self.known.lock().await;
            remember(&mut known.hashes, &item, phash);
        }
        let (reply, outcome) = oneshot::channel();
        self.commits
            .send(Commit { item: *item, reply })
            .await
            .map_err(|_| IntakeError::Task("the catalog committer stopped".into()))?;
        outcome
            .await
            .map_err(|_| IntakeError::Task("the catalog committer stopped".into()))?
            .map_err(IntakeError::Commit)?;
        let stale = catalog.mark_replaced(item_id, &new_id, &detail).await?;
        let intake = self.intake.clone();
        tokio::task::spawn_blocking(move || {
            for blob in stale {
                intake.blobs.remove(&blob)?;
            }
            Ok::<_, IntakeError>(())
        })
        .await
        .map_err(|e| IntakeError::Task(e.to_string()))??;
        Ok(new_id)
    }
}

/// Paints rectangles black in a PNG or JPEG and writes it as PNG (no second lossy pass).
fn blank_raster(bytes: &[u8], rectangles: &[[u16; 4]]) -> Result<DeidentifiedFile, IntakeError> {
    let img = image::load_from_memory(bytes)
        .map_err(|e| IntakeError::Blank(format!("cannot decode the image: {e}")))?;
    let (w, h) = (img.width(), img.height());
    let mut rgb = img.to_rgb8();
    for r in rectangles {
        let [x, y, rw, rh] = r.map(u32::from);
        if x + rw > w || y + rh > h {
            return Err(IntakeError::Blank(format!(
                "the rectangle {r:?} lies outside the {w}x{h} image"
            )));
        }
        for yy in y..y + rh {
            for xx in x..x + rw {
                rgb.put_pixel(xx, yy, image::Rgb([0, 0, 0]));
            }
        }
    }
    let out = if img.color().has_color() {
        image::DynamicImage::ImageRgb8(rgb)
    } else {
        image::DynamicImage::ImageLuma8(image::DynamicImage::ImageRgb8(rgb).to_luma8())
    };
    let png = lunghub_imaging::encode_png(&out)
        .map_err(|e| IntakeError::Blank(format!("cannot encode the image: {e}")))?;
    Ok(DeidentifiedFile {
        file_name: "blanked.png".into(),
        bytes: png,
        kind: Kind::Png,
        sop_instance_uid: None,
        pixels_cleaned: true,
        dicom: None,
    })
}
