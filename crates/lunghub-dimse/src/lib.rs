//! The DICOM network route into lunghub: a Storage SCP and Verification SCP (C-STORE and
//! C-ECHO) over the DICOM upper layer, with `dicom-ul`.
//!
//! ```no_run
//! # async fn run(intake: std::sync::Arc<lunghub_intake::IntakeService>) -> Result<(), Box<dyn std::error::Error>> {
//! use lunghub_dimse::{Peer, Scp, ScpConfig};
//!
//! let peers: Vec<Peer> = vec!["PACS=St Mary's Hospital@10.1.2.3".parse()?];
//! let scp = Scp::new(ScpConfig::new("LUNGHUB", peers)?, intake).await?;
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:11112").await?;
//! scp.serve(listener).await; // runs until the task is dropped
//! # Ok(())
//! # }
//! ```
//!
//! - **Who may send.** Each peer is a calling AE title, the site its images belong to, and
//!   optionally the addresses it may connect from. Anyone else is refused with
//!   A-ASSOCIATE-RJ (permanent, calling AE title not recognized), and so is a call to any AE
//!   title but lunghub's own (called AE title not recognized).
//! - **What they may send.** Verification, and the storage SOP classes and transfer
//!   syntaxes of [`syntax`]: chest radiography (CR, DX), ultrasound (single and
//!   multi-frame, and their retired classes) and secondary capture; uncompressed,
//!   deflated, JPEG, JPEG-LS, JPEG 2000, HTJ2K and RLE. Other presentation contexts are
//!   refused at negotiation. Compressed data sets are kept as they arrive; intake decodes
//!   them.
//! - **One pipeline.** Each data set gets a File Meta Information group (the negotiated
//!   transfer syntax, the SOP class and instance of the request) and goes to
//!   [`IntakeService::accept`](lunghub_intake::IntakeService::accept): the same size
//!   limit and de-identification as every other route, then the spool, from which the same
//!   steps as every other route catalogue it in the background. The C-STORE response is
//!   sent once the file is de-identified and spooled (or refused): a PACS sends instance
//!   after instance, each waiting on the last answer, and waiting for decoding and a disk
//!   sync as well cut throughput twelvefold. The spool survives lunghub stopping or
//!   crashing; like `storescp`, it is not synced per file, so a power cut may lose the last
//!   seconds of what was answered.
//! - **Statuses.** Stored (new, duplicate or near-duplicate): 0000. Quarantined by
//!   de-identification: C001, with the reason in Error Comment. Unreadable: C000, with
//!   the reason. Too large, or intake failed: A700 (out of resources, worth retrying
//!   later). See [`dimse::status`].
//! - **Limits.** Associations at once (more are rejected as transient, local limit
//!   exceeded), PDU size, an idle timeout, and bytes per instance; a data set is held in
//!   memory only up to the limit, whatever its sender declares. A connection that breaks
//!   mid-transfer loses only its unfinished instance, which never reaches intake; the other
//!   associations carry on.

mod association;
pub mod config;
pub mod dimse;
mod sink;
pub mod syntax;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use busy::refuse_busy;
use dicom_ul::association::server::{AcceptAny, DefaultNegotiation, ServerAssociationOptions};
use lunghub_intake::IntakeService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub use config::{ConfigError, Peer, ScpConfig};
pub use sink::{Pending, Sink, Verdict};

#[derive(Debug, thiserror::Error)]
pub enum ScpError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot register site {site:?} in the catalog: {source}")]
    Site {
        site: String,
        source: lunghub_store::StoreError,
    },
}

/// Associations over the cap that are answered with a rejection (rather than a bare close)
/// at the same time; beyond that, connections are closed at once.
const MAX_REFUSING: usize = 64;

/// What every association task shares.
pub(crate) struct Shared {
    config: ScpConfig,
    options: ServerAssociationOptions<'static, AcceptAny, DefaultNegotiation>,
    sink: Arc<dyn Sink>,
    /// Calling AE title → catalog site id.
    sites: HashMap<String, String>,
    /// The smaller of the configured limit and the one de-identification enforces.
    max_instance_bytes: u64,
}

/// A DICOM Storage SCP feeding one intake service.
pub struct Scp {
    shared: Arc<Shared>,
}

impl Scp {
    /// Registers every peer's site in the catalog and prepares the negotiation.
    pub async fn new(config: ScpConfig, intake: Arc<IntakeService>) -> Result<Scp, ScpError> {
        config.check()?;
        let mut sites = HashMap::new();
        for peer in &config.peers {
            let id = intake
                .intake()
                .catalog
                .ensure_site(&peer.site)
                .await
                .map_err(|source| ScpError::Site {
                    site: peer.site.clone(),
                    source,
                })?;
            sites.insert(peer.ae_title.clone(), id);
        }
        let limit = intake.intake().deid.limits().max_bytes;
        Scp::with_sink(config, intake, sites, limit)
    }

    /// An SCP that hands every data set to `sink` (the hospital gateway's outbox, rather
    /// than the server's intake), each peer's under the site `sites` maps its calling AE
    /// title to. `sink_limit` is the largest instance the sink takes.
    pub fn with_sink(
        config: ScpConfig,
        sink: Arc<dyn Sink>,
        sites: HashMap<String, String>,
        sink_limit: u64,
    ) -> Result<Scp, ScpError> {
        config.check()?;
        let mut options = ServerAssociationOptions::new()
            .ae_title(config.ae_title.clone())
            .max_pdu_length(config.max_pdu)
            .read_timeout(config.idle_timeout)
            .write_timeout(config.idle_timeout)
            .with_abstract_syntax(syntax::VERIFICATION);
        for class in syntax::STORAGE_CLASSES {
            options = options.with_abstract_syntax(*class);
        }
        for ts in syntax::TRANSFER_SYNTAXES {
            options = options.with_transfer_syntax(*ts);
        }
        let max_instance_bytes = config.max_instance_bytes.min(sink_limit);
        Ok(Scp {
            shared: Arc::new(Shared {
                config,
                options,
                sink,
                sites,
                max_instance_bytes,
            }),
        })
    }

    pub fn config(&self) -> &ScpConfig {
        &self.shared.config
    }

    /// Accepts associations on `listener`, each in its own task, until this future is
    /// dropped.
    pub async fn serve(&self, listener: TcpListener) {
        let slots = Arc::new(Semaphore::new(self.shared.config.max_associations));
        let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
        let greeting = Arc::new(Semaphore::new(MAX_GREETING));
        let addresses = Addresses::default();
        loop {
            let (socket, from) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    // Usually out of file descriptors: wait for some to close.
                    eprintln!("dicom: cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = socket.set_nodelay(true);
            let config = &self.shared.config;
            let Some(counted) = addresses.admit(from.ip(), config.max_per_address) else {
                if config.log {
                    eprintln!(
                        "dicom: connection from {from} closed: {} already open from that address",
                        config.max_per_address
                    );
                }
                continue;
            };
            let Ok(greeting) = greeting.clone().try_acquire_owned() else {
                // So many connections are waiting to speak that this one is dropped unheard.
                continue;
            };
            let (shared, slots, refusing) = (self.shared.clone(), slots.clone(), refusing.clone());
            tokio::spawn(async move {
                let config = &shared.config;
                let spoke = first_pdu_arrived(&socket, config.greeting_timeout).await;
                drop(greeting);
                if !spoke {
                    if config.log {
                        eprintln!(
                            "dicom: connection from {from} closed: no A-ASSOCIATE-RQ within {} s",
                            config.greeting_timeout.as_secs_f64()
                        );
                    }
                    return;
                }
                if let Ok(slot) = slots.try_acquire_owned() {
                    association::serve(shared.clone(), socket, from).await;
                    drop(slot);
                } else if let Ok(permit) = refusing.try_acquire_owned() {
                    if config.log {
                        eprintln!(
                            "dicom: association from {from} refused: {} associations already open",
                            config.max_associations
                        );
                    }
                    refuse_busy(socket, config.max_pdu).await;
                    drop(permit);
                }
                drop(counted);
            });
        }
    }
}

/// Connections waiting for their first PDU at once; more are closed unheard.
const MAX_GREETING: usize = 256;

/// Whether a whole first PDU (its 6-byte header and the length it declares, up to 64 KiB)
/// has arrived on `socket` within `timeout`. Only peeks: the association reads it again.
async fn first_pdu_arrived(socket: &tokio::net::TcpStream, timeout: Duration) -> bool {
    const LOOK: usize = 64 << 10;
    let wait = async {
        let mut buf = vec![0u8; LOOK + 6];
        loop {
            let n = match socket.peek(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => n,
            };
            if n >= 6 {
                let declared = u32::from_be_bytes([buf[2], buf[3], buf[4], buf[5]]) as usize;
                if n >= 6 + declared.min(LOOK) {
                    return true;
                }
            }
            // Part of it is here: peek returns at once while any byte is waiting, so wait a
            // little for the rest.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(timeout, wait).await.unwrap_or(false)
}

/// Connections open per address, each counted while its [`Counted`] lives.
#[derive(Default, Clone)]
struct Addresses(Arc<std::sync::Mutex<HashMap<std::net::IpAddr, usize>>>);

struct Counted {
    addresses: Addresses,
    ip: std::net::IpAddr,
}

impl Addresses {
    fn admit(&self, ip: std::net::IpAddr, max: usize) -> Option<Counted> {
        let ip = ip.to_canonical();
        let mut open = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = open.entry(ip).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Counted {
            addresses: self.clone(),
            ip,
        })
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut open = self
            .addresses
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

mod busy {
    //! Turning an association away before it starts.

    use std::time::Duration;

    use dicom_ul::pdu::{
        AssociationRJ, AssociationRJResult, AssociationRJServiceProviderPresentationReason,
        AssociationRJSource, Pdu,
    };
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;

    /// Reads the A-ASSOCIATE-RQ (so that the peer hears the answer rather than a reset) and
    /// answers A-ASSOCIATE-RJ: transient, local limit exceeded.
    pub(crate) async fn refuse_busy(mut socket: TcpStream, max_pdu: u32) {
        let mut buffer = bytes::BytesMut::new();
        let read = dicom_ul::association::read_pdu_from_wire_async(
            &mut socket,
            &mut buffer,
            max_pdu,
            true,
        );
        if !matches!(
            tokio::time::timeout(Duration::from_secs(10), read).await,
            Ok(Ok(Pdu::AssociationRQ(_)))
        ) {
            return;
        }
        let mut out = Vec::new();
        let rj = Pdu::AssociationRJ(AssociationRJ {
            result: AssociationRJResult::Transient,
            source: AssociationRJSource::ServiceProviderPresentation(
                AssociationRJServiceProviderPresentationReason::LocalLimitExceeded,
            ),
        });
        if dicom_ul::write_pdu(&mut out, &rj).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(10), socket.write_all(&out)).await;
            let _ = socket.shutdown().await;
        }
    }
}
