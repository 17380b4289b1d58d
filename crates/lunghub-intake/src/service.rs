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
            if known.in_flight.contains(&item.id) || self.intake.catalog.contains_item(&item.id).await?
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
