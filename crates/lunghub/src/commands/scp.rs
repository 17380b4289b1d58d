//! `lunghub scp`: the DICOM network route on its own (also started by `lunghub serve
//! --dicom-listen`).

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use lunghub_dimse::{Peer, Scp, ScpConfig};
use lunghub_intake::IntakeService;

use super::storage::{PipelineArgs, StorageArgs};

#[derive(Args)]
#[command(after_help = "\
Every instance received goes through the same intake pipeline as `lunghub ingest`:
de-identified first, then decoded, fingerprinted, stored and catalogued under the
peer's site. The C-STORE response is sent once the instance is de-identified and
in the spool (DATA_DIR/spool), from which it is catalogued in the background; the
spool survives a stop or a crash and is catalogued at the next start:
  0000  taken (new, or a copy of something already catalogued)
  C001  quarantined by de-identification (identity may be burned into the pixels);
        the reason is in Error Comment
  C000  unreadable; the reason is in Error Comment
  A700  too large, too many files waiting to be catalogued, or lunghub could not
        store it now (worth retrying later)
Accepted: Verification; CR, DX (for presentation and processing), US and US
multi-frame (and their retired classes), secondary capture (all five); uncompressed,
deflated, JPEG baseline, extended and lossless, JPEG-LS, JPEG 2000, HTJ2K and RLE
transfer syntaxes. Other SOP classes and syntaxes are refused at negotiation.

Example:
  lunghub scp --listen 0.0.0.0:11112 --peer PACS1=\"St Mary's\"@10.1.2.3 --peer US7=Clinic")]
pub struct ScpArgs {
    /// Address and port to listen on (port 0: any free port, printed at start)
    #[arg(long, env = "LUNGHUB_DICOM_LISTEN", default_value = "0.0.0.0:11112")]
    listen: String,
    #[command(flatten)]
    dicom: DicomArgs,
    #[command(flatten)]
    pipeline: PipelineArgs,
    #[command(flatten)]
    storage: StorageArgs,
}

/// Who may send and the limits they send under: the same for `scp` and `serve`.
#[derive(Args, Clone)]
pub struct DicomArgs {
    /// The AE title lunghub answers to; calls to any other are rejected
    #[arg(long, default_value = ScpConfig::DEFAULT_AE_TITLE)]
    ae_title: String,
    /// A sender allowed to store: its calling AE title, the site its images belong to, and
    /// optionally the only addresses it may connect from (repeat for each sender)
    #[arg(
        long = "peer",
        value_name = "CALLING_AE=SITE[@IP[,IP...]]",
        required = true
    )]
    peers: Vec<Peer>,
    /// Associations served at once; more are rejected (transient) until one ends
    #[arg(long, default_value_t = ScpConfig::DEFAULT_MAX_ASSOCIATIONS)]
    max_associations: usize,
    /// Largest PDU accepted, in bytes
    #[arg(long, default_value_t = ScpConfig::DEFAULT_MAX_PDU)]
    max_pdu: u32,
    /// Seconds an association may stay silent before it is dropped
    #[arg(long, default_value_t = ScpConfig::DEFAULT_IDLE_TIMEOUT.as_secs())]
    idle_timeout: u64,
    /// Connections open at once from one address, waiting or associated
    #[arg(long, default_value_t = ScpConfig::DEFAULT_MAX_PER_ADDRESS)]
    max_per_address: usize,
    /// Seconds a new connection has to send its A-ASSOCIATE-RQ before it is closed (it
    /// holds no association slot while it waits)
    #[arg(long, default_value_t = ScpConfig::DEFAULT_GREETING_TIMEOUT.as_secs())]
    greeting_timeout: u64,
    /// Largest instance accepted, in bytes; larger ones get status A700
    #[arg(long, default_value_t = ScpConfig::DEFAULT_MAX_INSTANCE_BYTES)]
    max_instance_bytes: u64,
}

impl DicomArgs {
    pub fn config(&self) -> Result<ScpConfig> {
        let config = ScpConfig {
            max_associations: self.max_associations,
            max_pdu: self.max_pdu,
            idle_timeout: Duration::from_secs(self.idle_timeout),
            max_per_address: self.max_per_address,
            greeting_timeout: Duration::from_secs(self.greeting_timeout),
            max_instance_bytes: self.max_instance_bytes,
            ..ScpConfig::new(&self.ae_title, self.peers.clone())?
        };
        config.check()?;
        Ok(config)
    }
}

pub fn run(args: ScpArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let intake = args.pipeline.service(&args.storage).await?;
        let config = args.dicom.config()?;
        let (_, serving) = start(&args.listen, config, intake).await?;
        serving.await.context("the DICOM listener stopped")?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Binds `listen`, prints where lunghub listens and for whom, and serves associations in
/// a task of its own, feeding `intake`.
pub async fn start(
    listen: &str,
    config: ScpConfig,
    intake: Arc<IntakeService>,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let scp = Scp::new(config, intake)
        .await
        .context("cannot start the DICOM listener")?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let bound = listener.local_addr()?;
    println!(
        "lunghub DICOM listening on {bound} as AE {}",
        scp.config().ae_title
    );
    for peer in &scp.config().peers {
        let from = if peer.addresses.is_empty() {
            "any address".to_owned()
        } else {
            peer.addresses
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "  peer {} -> site {:?}, from {from}",
            peer.ae_title, peer.site
        );
    }
    std::io::stdout().flush()?;
    let serving = tokio::spawn(async move { scp.serve(listener).await });
    Ok((bound, serving))
}
