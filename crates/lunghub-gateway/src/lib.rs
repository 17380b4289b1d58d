//! `lunghub gateway`: runs inside the hospital, so that no patient identity leaves it.
//!
//! Every file the gateway takes (from the PACS over C-STORE, from a watched folder, from
//! `lunghub gateway send`) goes through [`lunghub_deid::Deidentifier`] under the site's own
//! key, which is generated here on first start and never sent. What comes out is queued in
//! a durable [`outbox`] and forwarded over STOW-RS ([`stow`]) to the central server, or to
//! any conformant STOW-RS server, with retries and exponential backoff while it or the
//! network is down. Nothing identified is written except the originals in the hospital's
//! own quarantine and `done/` folders, which are purged after `keep_days`.
//!
//! ```text
//!  PACS ─C-STORE─► lunghub_dimse::Scp ─┐
//!  watched folder ─► folder::scan ─────┼─► Gateway::take: deid (site key) ─► outbox ─► drain: STOW-RS
//!  gateway send PATH... ───────────────┘        └─► quarantine (originals, purged)    └─► ledger ─► status
//! ```

pub mod config;
pub mod folder;
pub mod ledger;
pub mod outbox;
pub mod status;
pub mod stow;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lunghub_deid::{Cause, Deidentifier, Kind, Outcome, Profile, Refusal, SiteKey, Stated};
use lunghub_dimse::{Sink, Verdict};
use lunghub_sources::{HospitalLabels, Metadata};
use tokio::sync::Notify;

pub use config::{ConfigError, GatewayConfig};
use ledger::{Event, Ledger};
use outbox::Outbox;
use stow::{Answer, StowClient, StowError};

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Key(#[from] lunghub_deid::KeyError),
    #[error("de-identification profile {path}: {message}")]
    Profile { path: PathBuf, message: String },
    #[error(transparent)]
    Deid(#[from] lunghub_deid::DeidError),
    #[error(transparent)]
    Outbox(#[from] outbox::OutboxError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Stow(#[from] StowError),
}

/// What [`Gateway::take`] did with one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// De-identified and waiting in the outbox (`fresh`: not already waiting).
    Queued {
        uid: String,
        fresh: bool,
    },
    /// Refused by de-identification, or not something STOW-RS carries.
    Quarantined(Refusal),
    Unreadable(Refusal),
    /// The outbox could not take it (disk full): worth trying again.
    Failed(String),
}

pub struct Gateway {
    config: GatewayConfig,
    deid: Deidentifier,
    outbox: Outbox,
    ledger: Ledger,
    /// Originals that C-STORE delivered and de-identification refused, for the hospital to
    /// look at; purged after `keep_days`.
    quarantine: PathBuf,
    key_created: bool,
    wake: Notify,
    /// When the last file was taken, in milliseconds since `started`.
    last_take: AtomicU64,
    started: Instant,
}

/// While files arrive this recently, the sender waits: on a gateway machine sending (and a
/// server on the same network decoding) competes with answering the PACS, which waits on
/// each answer. Sending resumes in the first lull, or once this many wait.
const BUSY_MS: u64 = 200;
const SEND_ANYWAY: usize = 2_000;

impl Gateway {
    /// Opens the gateway's state (creating the site key on first start).
    pub fn open(config: GatewayConfig) -> Result<Gateway, GatewayError> {
        let (key, key_created) = SiteKey::load_or_create(&config.key_file)?;
        let profile = match &config.profile {
            None => Profile::lunghub_default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| GatewayError::Io {
                    path: path.clone(),
                    source,
                })?;
                Profile::from_toml(&text).map_err(|e| GatewayError::Profile {
                    path: path.clone(),
                    message: e.to_string(),
                })?
            }
        };
        let mut deid = Deidentifier::new(profile, key)?;
        // The outbox names entries by their de-identified UID; keyed names are not needed.
        deid.set_file_names(false);
        let outbox = Outbox::open(&config.state_dir)?;
        let ledger = Ledger::open(&config.state_dir).map_err(|source| GatewayError::Io {
            path: config.state_dir.join("ledger"),
            source,
        })?;
        let quarantine = config.state_dir.join("quarantine");
        std::fs::create_dir_all(&quarantine).map_err(|source| GatewayError::Io {
            path: quarantine.clone(),
            source,
        })?;
        Ok(Gateway {
            config,
            deid,
            outbox,
            ledger,
            quarantine,
            key_created,
            wake: Notify::new(),
            last_take: AtomicU64::new(0),
            started: Instant::now(),
        })
    }

    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    /// The site key's public fingerprint, which the central server registers for the site.
    pub fn fingerprint(&self) -> String {
        self.deid.key_fingerprint()
    }

    /// Whether this start created the site key.
    pub fn key_created(&self) -> bool {
        self.key_created
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    pub fn largest_instance(&self) -> u64 {
        self.deid.limits().max_bytes
    }

    /// De-identifies one file under the site key and queues it. Blocking (de-identifying
    /// and writing); callers on an async runtime use `spawn_blocking` for large files.
    pub fn take(&self, bytes: &[u8]) -> Taken {
        self.take_labelled(bytes, &Metadata::default())
    }

    /// [`Gateway::take`] for a file the hospital labelled (a metadata CSV row, a class
    /// folder). Its record number is pseudonymised with the site key into PatientID; of the
    /// rest only [`HospitalLabels`] leave, inside the instance. A label lunghub does not
    /// know quarantines the file, with the reason, rather than send it unlabelled.
    pub fn take_labelled(&self, bytes: &[u8], metadata: &Metadata) -> Taken {
        self.last_take
            .store(self.elapsed_ms().max(1), Ordering::Release);
        self.ledger
            .record(Event::Received, 1, bytes.len() as u64, None);
        let labels =
            HospitalLabels::from_metadata(metadata).map(|l| (!l.is_empty()).then(|| l.to_json()));
        let deidentified = match &labels {
            Ok(json) => self.deid.deidentify_stated(
                bytes,
                Stated {
                    patient_id: metadata.patient.as_deref(),
                    labels: json.as_deref(),
                },
            ),
            Err(e) => Ok(Outcome::Quarantined(Refusal::new(
                Cause::BadLabels,
                format!("its labels: {e}"),
            ))),
        };
        let taken = match deidentified {
            Ok(Outcome::Written(file)) if file.kind != Kind::Dicom => {
                Taken::Quarantined(Refusal::new(
                    Cause::NeedsWebUpload,
                    "a PNG or JPEG image: STOW-RS carries DICOM only; send it by the web upload",
                ))
            }
            Ok(Outcome::Written(file)) => match file.sop_instance_uid.as_deref() {
                None => Taken::Unreadable(Refusal::new(Cause::NotAnImage, "no SOP Instance UID")),
                Some(uid) => match self.outbox.put(uid, &file.bytes) {
                    Ok(fresh) => {
                        self.ledger
                            .record(Event::Queued, 1, file.bytes.len() as u64, None);
                        self.wake.notify_one();
                        Taken::Queued {
                            uid: uid.to_owned(),
                            fresh,
                        }
                    }
                    Err(e) => Taken::Failed(e.to_string()),
                },
            },
            Ok(Outcome::Quarantined(why)) => Taken::Quarantined(why),
            Err(e) => Taken::Unreadable(e.refusal()),
        };
        match &taken {
            Taken::Quarantined(why) => {
                self.ledger.record(
                    Event::Quarantined,
                    1,
                    bytes.len() as u64,
                    Some(&why.explained()),
                );
            }
            Taken::Unreadable(why) => {
                let why = format!("unreadable: {}", why.explained());
                self.ledger
                    .record(Event::Quarantined, 1, bytes.len() as u64, Some(&why));
            }
            Taken::Queued { .. } | Taken::Failed(_) => {}
        }
        taken
    }

    fn elapsed_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Whether files are arriving right now (see [`BUSY_MS`]).
    fn busy(&self) -> bool {
        let last = self.last_take.load(Ordering::Acquire);
        last > 0 && self.elapsed_ms().saturating_sub(last) < BUSY_MS
    }

    /// Keeps an original that de-identification refused, under today's folder of the
    /// gateway's quarantine, named by a keyed tag of `label` (never the label itself).
    fn keep_quarantined(&self, label: &str, bytes: &[u8], why: &str) {
        let day = self.quarantine.join(ledger::day_of(ledger::now_ms()));
        let name = self.deid.key().name_tag(label);
        let kept = std::fs::create_dir_all(&day)
            .and_then(|()| std::fs::write(day.join(format!("{name}.dcm")), bytes))
            .and_then(|()| std::fs::write(day.join(format!("{name}.why.txt")), format!("{why}\n")));
        if let Err(e) = kept {
            eprintln!(
                "gateway: cannot keep a quarantined file in {}: {e}",
                day.display()
            );
        }
    }

    /// Removes the originals kept in `done/` and quarantine folders longer than
    /// `keep_days` (whole day folders, by their name).
    pub fn purge(&self) {
        let mut roots = vec![self.quarantine.clone()];
        if let Some(f) = &self.config.folder {
            roots.push(f.watch.join(folder::DONE));
            roots.push(f.watch.join(folder::QUARANTINE));
        }
        let keep_ms = u64::from(self.config.keep_days) * 86_400_000;
        let oldest_kept = ledger::day_of(ledger::now_ms().saturating_sub(keep_ms));
        for root in roots {
            purge_days(&root, &oldest_kept);
        }
    }

    /// Sends what waits in the outbox. With `until_empty`, returns once it is empty (a
    /// one-off `send`), or at the first refusal of the gateway itself, which retrying will
    /// not mend; otherwise runs for ever, waking when something is queued. `on_sent` hears
    /// of every instance the server stored (its bytes).
    pub async fn drain(
        &self,
        client: &StowClient,
        until_empty: bool,
        on_sent: &(dyn Fn(u64) + Sync),
    ) -> Result<(), GatewayError> {
        const FIRST_RETRY: Duration = Duration::from_secs(1);
        let mut backoff = FIRST_RETRY;
        let mut batch_files = self.config.batch_files;
        loop {
            let waiting = match self.outbox.waiting() {
                Ok(w) => w,
                Err(e) if until_empty => return Err(e.into()),
                Err(e) => {
                    eprintln!("gateway: {e}");
                    tokio::time::sleep(self.config.retry_max).await;
                    continue;
                }
            };
            if waiting.is_empty() {
                if until_empty {
                    return Ok(());
                }
                let _ = tokio::time::timeout(Duration::from_secs(5), self.wake.notified()).await;
                continue;
            }
            if !until_empty && self.busy() && waiting.len() < SEND_ANYWAY {
                tokio::time::sleep(Duration::from_millis(BUSY_MS / 2)).await;
                continue;
            }
            let mut batch = Vec::new();
            let mut bytes = 0u64;
            for entry in waiting {
                if !batch.is_empty()
                    && (batch.len() >= batch_files || bytes + entry.bytes > self.config.batch_bytes)
                {
                    break;
                }
                match self.outbox.read(&entry) {
                    Ok(b) => {
                        bytes += entry.bytes;
                        batch.push((entry, b));
                    }
                    // Sent and removed by another gateway process since the listing.
                    Err(_) if !entry.path(&self.outbox).exists() => {}
                    Err(e) => return Err(e.into()),
                }
            }
            if batch.is_empty() {
                continue;
            }
            let instances: Vec<(String, Vec<u8>)> = batch
                .iter()
                .map(|(e, b)| (e.uid.clone(), b.clone()))
                .collect();
            let failure = match client.store(&instances).await {
                Ok(answers) => {
                    let mut retry = None;
                    for ((entry, _), answer) in batch.iter().zip(answers) {
                        match answer {
                            Answer::Stored => {
                                self.outbox.sent(entry)?;
                                self.ledger.record(Event::Sent, 1, entry.bytes, None);
                                on_sent(entry.bytes);
                            }
                            Answer::Refused(why) => {
                                self.outbox.reject(entry, &why)?;
                                self.ledger
                                    .record(Event::Rejected, 1, entry.bytes, Some(&why));
                                eprintln!("gateway: instance {}: {why}", entry.uid);
                            }
                            Answer::Retry(why) => retry = Some(why),
                        }
                    }
                    batch_files = (batch_files * 2).min(self.config.batch_files);
                    retry
                }
                Err(StowError::TooLarge(why)) if batch.len() > 1 => {
                    batch_files = (batch.len() / 2).max(1);
                    eprintln!("gateway: {why}; sending {batch_files} at a time");
                    continue;
                }
                Err(StowError::TooLarge(why)) => {
                    let (entry, _) = &batch[0];
                    self.outbox.reject(entry, &why)?;
                    self.ledger
                        .record(Event::Rejected, 1, entry.bytes, Some(&why));
                    continue;
                }
                Err(StowError::Refused(why)) if until_empty => {
                    self.ledger.record(Event::SendFailed, 0, 0, Some(&why));
                    return Err(StowError::Refused(why).into());
                }
                Err(StowError::Setup(why)) => return Err(StowError::Setup(why).into()),
                Err(StowError::Transient(why) | StowError::Refused(why)) => Some(why),
            };
            match failure {
                None => backoff = FIRST_RETRY,
                Some(why) => {
                    self.ledger.record(Event::SendFailed, 0, 0, Some(&why));
                    eprintln!("gateway: {why}; trying again in {} s", backoff.as_secs());
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.config.retry_max);
                }
            }
        }
    }

    /// A client for the configured server.
    pub fn client(&self) -> Result<StowClient, GatewayError> {
        let ca = match &self.config.extra_ca {
            None => None,
            Some(p) => Some(std::fs::read(p).map_err(|source| GatewayError::Io {
                path: p.clone(),
                source,
            })?),
        };
        Ok(StowClient::new(
            self.config.stow_url.clone(),
            self.config.token.clone(),
            ca.as_deref(),
        )?)
    }
}

/// Removes the `YYYY-MM-DD` folders under `root` older than `oldest_kept`.
fn purge_days(root: &Path, oldest_kept: &str) {
    let Ok(days) = std::fs::read_dir(root) else {
        return;
    };
    for day in days.filter_map(Result::ok) {
        let name = day.file_name().to_string_lossy().into_owned();
        let dated = name.len() == 10 && name.as_bytes()[4] == b'-' && name.as_bytes()[7] == b'-';
        if dated && name.as_str() < oldest_kept {
            if let Err(e) = std::fs::remove_dir_all(day.path()) {
                eprintln!("gateway: cannot purge {}: {e}", day.path().display());
            }
        }
    }
}

/// Files up to this size are taken on the async worker that received them.
const INLINE_BYTES: usize = 16 << 20;

/// The gateway as the SCP's destination: the C-STORE is answered once the de-identified
/// instance is in the outbox.
pub struct GatewaySink(pub Arc<Gateway>);

impl Sink for GatewaySink {
    fn store<'a>(
        &'a self,
        _site_id: &'a str,
        sop_instance: &'a str,
        file: Vec<u8>,
    ) -> lunghub_dimse::Pending<'a> {
        Box::pin(async move {
            let gateway = self.0.clone();
            let label = sop_instance.to_owned();
            let size = file.len();
            let work = move || {
                let taken = gateway.take(&file);
                if let Taken::Quarantined(why) | Taken::Unreadable(why) = &taken {
                    gateway.keep_quarantined(&label, &file, &why.explained());
                }
                taken
            };
            // De-identifying and writing a radiograph takes about a millisecond, less than a
            // trip to the blocking pool and back costs a PACS waiting on each answer; only
            // large files leave the async worker.
            let taken = if size <= INLINE_BYTES {
                work()
            } else {
                match tokio::task::spawn_blocking(work).await {
                    Ok(t) => t,
                    Err(e) => return Verdict::Failed(e.to_string()),
                }
            };
            match taken {
                Taken::Queued { .. } => Verdict::Taken,
                Taken::Quarantined(why) => Verdict::Quarantined(why.detail),
                Taken::Unreadable(why) => Verdict::Unreadable(why.detail),
                Taken::Failed(why) => Verdict::Failed(why),
            }
        })
    }

    fn backlog_note(&self) -> String {
        let n = self.0.outbox.waiting().map(|w| w.len()).unwrap_or(0);
        format!("{n} files waiting to be sent")
    }

    /// The gateway takes whatever its peers send; the server's ethics gate answers for the
    /// site when the gateway sends (and the gateway keeps the files until it may).
    fn admission<'a>(
        &'a self,
        _site_id: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<String>> + Send + 'a>> {
        Box::pin(async { None })
    }
}
