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
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use lunghub_deid::{DeidentifiedFile, Kind};
use lunghub_imaging::PerceptualHash;
use lunghub_store::{InsertOutcome, NewItem};
use tokio::runtime::Handle;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::spool::{Slot, Spool, SpoolError};
use crate::{FileOutcome, Intake, IntakeError, KnownHash, Metadata, Origin, Prepared, Screened};

/// Most rows committed in one transaction.
const MAX_GROUP: usize = 256;

/// Most files accepted and not yet catalogued; past this, senders are asked to try later
/// rather than fill the disk.
const MAX_BACKLOG: usize = 20_000;

/// Files up to this size are de-identified and spooled on the async worker that received
/// them; larger ones on the blocking pool.
const INLINE_BYTES: usize = 1 << 20;

/// The cataloguer waits while files arrived this recently, so that senders waiting on
/// answers have the cores; past [`CATALOGUE_ANYWAY`] files waiting it catalogues regardless.
const QUIET: Duration = Duration::from_millis(25);
const CATALOGUE_ANYWAY: usize = 5_000;

/// How long the cataloguer waits before trying an entry again after the catalog or the
/// blob store failed.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// One file as it arrived, in memory.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub origin: Origin,
    /// How reports name it: the uploaded file's path, or the SOP Instance UID it was sent as.
    pub label: String,
    pub bytes: Vec<u8>,
    pub metadata: Metadata,
}

/// What [`IntakeService::accept`] did with a file.
#[derive(Debug, Clone, PartialEq)]
pub enum Acceptance {
    /// De-identified and in the spool; it is catalogued in the background.
    Spooled,
    /// Settled at once: refused (quarantined, unreadable), or a clip, which is read whole.
    Done(FileOutcome),
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
    spool: Arc<Spool>,
    /// Spool entries for the cataloguer thread, oldest first.
    spooled: mpsc::UnboundedSender<Slot>,
    backlog: AtomicUsize,
    /// When the last file was accepted, in milliseconds since `started`.
    last_arrival: AtomicU64,
    started: Instant,
}

impl IntakeService {
    /// Starts the committer task on the current tokio runtime, and the cataloguer thread,
    /// which first catalogues whatever an earlier run left in `spool_dir`.
    pub async fn start(mut intake: Intake, spool_dir: &Path) -> Result<Arc<Self>, IntakeError> {
        intake.deid.set_file_names(false);
        let hashes = crate::known_hashes(&intake.catalog).await?;
        let (spool, left) = Spool::open(spool_dir)?;
        let intake = Arc::new(intake);
        let (commits, queue) = mpsc::channel(MAX_GROUP * 4);
        tokio::spawn(committer(intake.clone(), queue));
        let (spooled, waiting) = mpsc::unbounded_channel();
        let service = Arc::new(IntakeService {
            intake,
            known: Mutex::new(Known {
                hashes,
                in_flight: HashSet::new(),
            }),
            commits,
            spool: Arc::new(spool),
            spooled,
            backlog: AtomicUsize::new(left.len()),
            last_arrival: AtomicU64::new(0),
            started: Instant::now(),
        });
        for slot in left {
            // The receiver is alive: it is moved into the thread below.
            let _ = service.spooled.send(slot);
        }
        let weak = Arc::downgrade(&service);
        let runtime = Handle::current();
        std::thread::Builder::new()
            .name("lunghub-cataloguer".into())
            .spawn(move || cataloguer(weak, runtime, waiting))
            .map_err(|e| IntakeError::Task(format!("cannot start the cataloguer: {e}")))?;
        Ok(service)
    }

    pub fn intake(&self) -> &Intake {
        &self.intake
    }

    /// Files accepted by [`IntakeService::accept`] and not yet catalogued.
    pub fn backlog(&self) -> usize {
        self.backlog.load(Ordering::Acquire)
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether senders are being answered right now, and the backlog is not so long that
    /// cataloguing must go on anyway.
    fn answering(&self) -> bool {
        let since = self
            .elapsed_ms()
            .saturating_sub(self.last_arrival.load(Ordering::Acquire));
        since < QUIET.as_millis() as u64 && self.backlog() < CATALOGUE_ANYWAY
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
        match prepared {
            Prepared::Done(outcome) => Ok(outcome),
            Prepared::Stored(item, phash) => self.settle(*item, phash).await,
        }
    }

    /// Takes one file in as far as deciding whether it is taken: the size limit and
    /// de-identification, as in [`IntakeService::receive`]. A file taken is written,
    /// de-identified, to the spool and catalogued in the background by the same steps as
    /// `receive` (decode, fingerprints, twins, the catalog row), so it ends as the same
    /// record. For senders that wait on each answer and need to hear only "taken" or
    /// "refused": the DICOM route. [`IntakeService::backlog`] tells how far behind the
    /// catalog is.
    pub async fn accept(&self, arrival: Arrival) -> Result<Acceptance, IntakeError> {
        let waiting = self.backlog();
        if waiting >= MAX_BACKLOG {
            return Err(IntakeError::Backlog(waiting));
        }
        self.last_arrival
            .store(self.elapsed_ms(), Ordering::Release);
        let intake = self.intake.clone();
        let spool = self.spool.clone();
        let Arrival {
            origin,
            label,
            bytes,
            metadata,
        } = arrival;
        // The spool is on disk: it keeps the name's keyed tag, never the name.
        let label = intake.deid.secret().name_tag(&label);
        let size = bytes.len();
        enum Screen {
            Spooled(Slot),
            Refused(FileOutcome),
            Clip(Arrival),
        }
        let work = move || match intake.screen(&origin, &bytes) {
            Screened::Refused(outcome) => Ok(Screen::Refused(outcome)),
            Screened::File(file) => spool
                .put(
                    &origin,
                    &label,
                    &crate::with_carried_labels(&metadata, &file),
                    &file,
                )
                .map(Screen::Spooled),
            Screened::Clip => Ok(Screen::Clip(Arrival {
                origin,
                label,
                bytes,
                metadata,
            })),
        };
        // De-identifying a typical radiograph takes well under a millisecond, less than
        // handing it to the blocking pool and back costs a sender waiting on each answer;
        // only large files leave the async worker.
        let screened = if size <= INLINE_BYTES {
            work()?
        } else {
            tokio::task::spawn_blocking(work)
                .await
                .map_err(|e| IntakeError::Task(e.to_string()))??
        };
        match screened {
            Screen::Refused(outcome) => Ok(Acceptance::Done(outcome)),
            Screen::Clip(arrival) => Ok(Acceptance::Done(self.receive(arrival).await?)),
            Screen::Spooled(slot) => {
                self.backlog.fetch_add(1, Ordering::AcqRel);
                if self.spooled.send(slot).is_err() {
                    // Only when the cataloguer thread has died; the entry stays for the
                    // next start, and the sender hears that something is wrong.
                    return Err(IntakeError::Task("the cataloguer stopped".into()));
                }
                Ok(Acceptance::Spooled)
            }
        }
    }

    /// Catalogues one spool entry, as `receive` would have, and marks it done. An error
    /// leaves the entry for another try.
    fn catalogue(&self, slot: Slot, runtime: &Handle) -> Result<(), IntakeError> {
        let entry = match self.spool.read(slot) {
            Ok(entry) => entry,
            Err(e @ SpoolError::Damaged { .. }) => {
                eprintln!("intake: skipping a spool entry: {e}");
                self.spool.done(slot)?;
                return Ok(());
            }
            Err(SpoolError::Io { path, source })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                eprintln!(
                    "intake: spool segment {} is gone; its entries are lost",
                    path.display()
                );
                self.spool.done(slot)?;
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let outcome = match self
            .intake
            .store(&entry.origin, &entry.file, &entry.metadata)?
        {
            Prepared::Stored(item, phash) => runtime.block_on(self.settle(*item, phash))?,
            Prepared::Done(outcome) => outcome,
        };
        if let FileOutcome::Quarantined(why) | FileOutcome::Unreadable(why) = &outcome {
            eprintln!(
                "intake: {} ({}, {}) accepted but not catalogued: {why}",
                entry.label, entry.origin.route, entry.origin.site_id
            );
        }
        self.spool.done(slot)?;
        Ok(())
    }

    /// The steps after preparing, the same for every route: one copy of an item however
    /// many arrive together, the link to a near-duplicate twin, then the group commit.
    async fn settle(
        &self,
        mut item: NewItem,
        phash: Option<PerceptualHash>,
    ) -> Result<FileOutcome, IntakeError> {
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
        let sent = self.commits.send(Commit { item, reply }).await;
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

/// The background half of [`IntakeService::accept`]: catalogues spool entries one at a
/// time, in the lulls between arrivals and at the lowest CPU priority, until the service is
/// dropped. Cataloguing is the slower half (decoding is most of it), so during a burst the
/// backlog grows and the catalog catches up afterwards.
fn cataloguer(
    service: Weak<IntakeService>,
    runtime: Handle,
    mut waiting: mpsc::UnboundedReceiver<Slot>,
) {
    lower_priority();
    while let Some(slot) = waiting.blocking_recv() {
        loop {
            let Some(service) = service.upgrade() else {
                return;
            };
            if service.answering() {
                drop(service);
                std::thread::sleep(QUIET);
                continue;
            }
            match service.catalogue(slot, &runtime) {
                Ok(()) => {
                    service.backlog.fetch_sub(1, Ordering::AcqRel);
                    break;
                }
                Err(e) => {
                    eprintln!(
                        "intake: cannot catalogue a spooled file yet ({e}); trying again in {} s",
                        RETRY_AFTER.as_secs()
                    );
                    drop(service);
                    std::thread::sleep(RETRY_AFTER);
                }
            }
        }
    }
}

/// Lets the threads that answer senders go first when the cores are busy.
#[cfg(target_os = "linux")]
fn lower_priority() {
    // SAFETY: setpriority only reads its arguments. On Linux the nice value belongs to the
    // thread, and `who = 0` names the calling one. Failing leaves the priority as it was,
    // which is harmless.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 19);
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

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
                    .for_site(&task_origin.site_id)
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
        labels: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lunghub_deid::{Outcome, Profile, ServerSecret, SiteDeidentifiers, SiteKey};
    use lunghub_store::{Blobs, Catalog};

    async fn intake(dir: &Path) -> Intake {
        let secret = ServerSecret::new(SiteKey::from_bytes([3; 32]));
        Intake {
            deid: SiteDeidentifiers::new(Profile::lunghub_default(), secret).expect("deid"),
            catalog: Catalog::open(&Catalog::sqlite_url(dir))
                .await
                .expect("catalog"),
            blobs: Blobs::open(dir, None).expect("blobs"),
            profile_name: "test".into(),
            near_duplicate_bits: 24,
        }
    }

    /// A small grey PNG whose pixels depend on `seed`.
    fn png(seed: u8) -> Vec<u8> {
        let img = image::GrayImage::from_fn(64, 64, |x, y| {
            image::Luma([((x * 3 + y * 5) as u8).wrapping_mul(seed) ^ seed])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png)
            .expect("png");
        out.into_inner()
    }

    async fn settled(service: &IntakeService) {
        for _ in 0..600 {
            if service.backlog() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{} files still waiting after 30 s", service.backlog());
    }

    fn segments(dir: &Path) -> usize {
        std::fs::read_dir(dir)
            .expect("spool")
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "spool"))
            .count()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn what_was_answered_for_is_catalogued_even_after_a_crash() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool_dir = dir.path().join("spool");
        let intake = intake(dir.path()).await;
        let origin = Origin {
            site_id: intake
                .catalog
                .ensure_site("Test Hospital")
                .await
                .expect("site"),
            route: "c-store".into(),
        };

        // A run answered for a file and stopped before cataloguing it.
        let Ok(Outcome::Written(left)) = intake.deid.for_site(&origin.site_id).deidentify(&png(7))
        else {
            panic!("the PNG de-identifies");
        };
        {
            let (spool, _) = Spool::open(&spool_dir).expect("spool");
            spool
                .put(&origin, "left over", &Metadata::default(), &left)
                .expect("put");
        }

        // The next start catalogues it; then a new arrival goes the same way, and a file
        // de-identification refuses is answered at once and spooled not at all.
        let service = IntakeService::start(intake, &spool_dir)
            .await
            .expect("start");
        settled(&service).await;
        let ids = service.intake().catalog.item_ids().await.expect("ids");
        assert_eq!(ids.len(), 1);
        assert_eq!(segments(&spool_dir), 0);

        let arrival = |bytes: Vec<u8>| Arrival {
            origin: origin.clone(),
            label: "new".into(),
            bytes,
            metadata: Metadata::default(),
        };
        let accepted = service.accept(arrival(png(11))).await.expect("accept");
        assert_eq!(accepted, Acceptance::Spooled);
        let refused = service
            .accept(arrival(b"neither DICOM nor an image".to_vec()))
            .await
            .expect("accept");
        assert!(
            matches!(
                &refused,
                Acceptance::Done(FileOutcome::Unreadable(r))
                    if r.cause == lunghub_deid::Cause::UnknownFormat
            ),
            "{refused:?}"
        );
        settled(&service).await;
        let ids = service.intake().catalog.item_ids().await.expect("ids");
        assert_eq!(ids.len(), 2);
        assert_eq!(segments(&spool_dir), 0);

        // The same file sent again is taken, and found a duplicate, as by any other route.
        assert_eq!(
            service.accept(arrival(png(11))).await.expect("accept"),
            Acceptance::Spooled
        );
        settled(&service).await;
        assert_eq!(service.intake().catalog.item_ids().await.expect("ids"), ids);
    }
}
