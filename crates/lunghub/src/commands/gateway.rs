//! `lunghub gateway`: the hospital's side. De-identifies under the site's own key, queues
//! durably, forwards over STOW-RS (see `lunghub_gateway`).

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use lunghub_dimse::{Scp, ScpConfig};
use lunghub_gateway::status::Status;
use lunghub_gateway::{Gateway, GatewayConfig, GatewaySink, Taken, config::SITE, folder};
use lunghub_sources::{ArchiveLimits, Format, Found, discover};

#[derive(Args)]
#[command(after_help = "\
The gateway runs inside the hospital. Every file it takes is de-identified here,
under the site's own key (created on first start in state_dir/site.key, never sent:
back it up, and give its fingerprint to the lunghub coordinator, who registers it
for the site). Only de-identified instances leave, over STOW-RS to stow_url.

The configuration (TOML) names the STOW-RS address, the site token file, the state
folder, and the inputs: a C-STORE SCP ([dicom]), a watched folder ([folder]) and a
status page ([status]). See `lunghub_gateway::config` or the README for an example.")]
pub struct GatewayArgs {
    /// The gateway's configuration file
    #[arg(
        long,
        short,
        env = "LUNGHUB_GATEWAY_CONFIG",
        default_value = "gateway.toml"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: GatewayCommand,
}

#[derive(Subcommand)]
enum GatewayCommand {
    /// Run the configured inputs (C-STORE SCP, watched folder, status page) and send what
    /// they take, until stopped; the outbox is kept across stops and crashes
    Run,
    /// De-identify and send these files, folders or ZIP archives once, with progress, then
    /// wait until the server has stored every one. Labels are read in the layouts `lunghub
    /// ingest` reads (see its --help); only the finding, view, sex, age (90 and over as 90)
    /// and days since onset leave, inside each instance, and a CSV's patient ids are
    /// pseudonymised with the site key into PatientID. Free-text columns stay here.
    Send {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// A metadata CSV with the files' labels (default: metadata.csv in a folder)
        #[arg(long)]
        metadata: Option<PathBuf>,
        /// Layout of the labels: auto, csv, folders (one sub-folder per finding), pocus, plain
        #[arg(long, default_value = "auto")]
        format: Format,
    },
    /// What was received, queued, sent, quarantined and rejected, per day; the last error
    Status,
    /// Print the site key's fingerprint (creating the key if there is none)
    Fingerprint,
}

pub fn run(args: GatewayArgs) -> Result<ExitCode> {
    let config = GatewayConfig::load(&args.config)?;
    let gateway = Arc::new(Gateway::open(config)?);
    if gateway.key_created() {
        eprintln!(
            "lunghub gateway: created the site key {} (fingerprint {}).\n  Back it up now: \
             without it the hospital cannot map pseudonyms back to its patients, and a new \
             key makes every patient new.\n  Give the fingerprint to the lunghub coordinator, \
             who registers it for this site.",
            gateway.config().key_file.display(),
            gateway.fingerprint()
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match args.command {
        GatewayCommand::Fingerprint => {
            println!("{}", gateway.fingerprint());
            Ok(ExitCode::SUCCESS)
        }
        GatewayCommand::Status => {
            print!("{}", Status::of(&gateway)?.text());
            Ok(ExitCode::SUCCESS)
        }
        GatewayCommand::Send {
            paths,
            metadata,
            format,
        } => {
            // Unpacked archives hold originals with identity: they stay in the gateway's
            // state folder, and go when the files are queued (or on the next send).
            let scratch = gateway.config().state_dir.join("unpacking");
            let clear = || -> Result<()> {
                if scratch.exists() {
                    std::fs::remove_dir_all(&scratch)
                        .with_context(|| format!("cannot clear {}", scratch.display()))?;
                }
                Ok(())
            };
            clear()?;
            let found = discover(
                &paths,
                metadata.as_deref(),
                format,
                &scratch,
                &ArchiveLimits::default(),
            )
            .context("cannot read the input");
            let sent = found.and_then(|found| runtime.block_on(send(gateway, found, &clear)));
            clear()?;
            sent
        }
        GatewayCommand::Run => runtime.block_on(serve(gateway)),
    }
}

async fn send(
    gateway: Arc<Gateway>,
    found: Found,
    queued_all: &dyn Fn() -> Result<()>,
) -> Result<ExitCode> {
    for issue in &found.issues {
        eprintln!("{issue}");
    }
    let files = found.sources;
    let bar = |len: usize, what: &str| {
        let b = ProgressBar::new(len as u64);
        b.set_style(
            ProgressStyle::with_template(&format!(
                "{{elapsed_precise}} [{{bar:30}}] {{pos}}/{{len}} {what} {{msg}}"
            ))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    };
    let queued = bar(files.len(), "de-identified");
    let mut refused = 0usize;
    for source in &files {
        let bytes =
            std::fs::read(&source.path).with_context(|| format!("cannot read {}", source.label))?;
        let (g, metadata) = (gateway.clone(), source.metadata.clone());
        let taken = tokio::task::spawn_blocking(move || g.take_labelled(&bytes, &metadata)).await?;
        match taken {
            Taken::Queued { .. } => {}
            Taken::Quarantined(why) | Taken::Unreadable(why) => {
                refused += 1;
                queued.suspend(|| eprintln!("not sent: {}: {}", source.label, why.explained()));
            }
            Taken::Failed(e) => bail!("cannot queue {}: {e}", source.label),
        }
        queued.inc(1);
    }
    queued.finish();
    queued_all()?;
    let waiting = gateway.outbox().waiting()?;
    let sending = bar(waiting.len(), "stored by the server");
    let sent = AtomicU64::new(0);
    let client = gateway.client()?;
    gateway
        .drain(&client, true, &|_| {
            sent.fetch_add(1, Ordering::Relaxed);
            sending.inc(1);
        })
        .await?;
    sending.finish();
    let rejected = gateway.outbox().rejected_count();
    println!(
        "{} files: {} stored by the server, {refused} refused here (see above); {rejected} \
         rejected by the server in all (state_dir/rejected)",
        files.len(),
        sent.load(Ordering::Relaxed)
    );
    Ok(if refused == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn serve(gateway: Arc<Gateway>) -> Result<ExitCode> {
    let config = gateway.config().clone();
    println!(
        "lunghub gateway: site key fingerprint {}, sending to {}",
        gateway.fingerprint(),
        config.stow_url
    );
    if config.dicom.is_none() && config.folder.is_none() {
        println!("  no [dicom] or [folder] input: sending what the outbox holds");
    }
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(d) = &config.dicom {
        let mut scp_config = ScpConfig::new(&d.ae_title, d.peers.clone())?;
        scp_config.log = true;
        let sites: HashMap<String, String> = d
            .peers
            .iter()
            .map(|p| (p.ae_title.clone(), SITE.to_owned()))
            .collect();
        let limit = gateway.largest_instance();
        let scp = Scp::with_sink(
            scp_config,
            Arc::new(GatewaySink(gateway.clone())),
            sites,
            limit,
        )?;
        let listener = tokio::net::TcpListener::bind(d.listen)
            .await
            .with_context(|| format!("cannot listen on {}", d.listen))?;
        println!(
            "  DICOM listening on {} as AE {}, for {}",
            listener.local_addr()?,
            d.ae_title,
            d.peers
                .iter()
                .map(|p| p.ae_title.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        tasks.spawn(async move {
            scp.serve(listener).await;
            Ok::<_, anyhow::Error>(())
        });
    }
    if let Some(f) = config.folder.clone() {
        std::fs::create_dir_all(&f.watch)
            .with_context(|| format!("cannot create the watched folder {}", f.watch.display()))?;
        println!(
            "  watching {} every {} s",
            f.watch.display(),
            f.poll.as_secs()
        );
        let g = gateway.clone();
        tasks.spawn(async move {
            loop {
                let (g2, watch) = (g.clone(), f.watch.clone());
                let scan = tokio::task::spawn_blocking(move || folder::scan(&g2, &watch)).await?;
                if scan.queued + scan.quarantined > 0 {
                    println!(
                        "gateway: folder: {} queued, {} quarantined",
                        scan.queued, scan.quarantined
                    );
                }
                tokio::time::sleep(f.poll).await;
            }
        });
    }
    if let Some(listen) = config.status_listen {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        println!("  status page on http://{}/", listener.local_addr()?);
        let g = gateway.clone();
        tasks.spawn(async move {
            lunghub_gateway::status::serve(g, listener).await?;
            Ok(())
        });
    }
    {
        let g = gateway.clone();
        tasks.spawn(async move {
            loop {
                let g2 = g.clone();
                tokio::task::spawn_blocking(move || g2.purge()).await?;
                tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
            }
        });
    }
    std::io::stdout().flush()?;
    let client = gateway.client()?;
    // The sender outlives its own errors (a full disk, an unreadable entry): the inputs
    // keep answering, and sending starts again.
    let sending = async {
        loop {
            if let Err(e) = gateway.drain(&client, false, &|_| {}).await {
                eprintln!("gateway: sending stopped: {e:#}; starting again in 30 s");
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            }
        }
    };
    tokio::select! {
        () = sending => Ok(ExitCode::SUCCESS),
        Some(ended) = tasks.join_next() => {
            ended??;
            bail!("an input of the gateway stopped")
        }
        _ = tokio::signal::ctrl_c() => {
            println!("lunghub gateway: stopping; the outbox is kept for the next start");
            Ok(ExitCode::SUCCESS)
        }
    }
}
