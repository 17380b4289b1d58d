//! `lunghub serve`: the web platform on the catalog's database and blob store.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use lunghub_web::{App, Config, StowLimits};

use lunghub_dimse::{Peer, ScpConfig};

use super::storage::{PipelineArgs, StorageArgs};

#[derive(Args)]
pub struct ServeArgs {
    /// Address and port to listen on (port 0: any free port, printed at start)
    #[arg(long, env = "LUNGHUB_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// The address people reach the site at, for links in emails; default http://LISTEN.
    /// An https:// address makes cookies Secure.
    #[arg(long, env = "LUNGHUB_PUBLIC_URL")]
    public_url: Option<String>,
    /// SMTP server for outgoing email: smtps://USER:PASSWORD@HOST[:PORT] (TLS),
    /// smtp://USER:PASSWORD@HOST[:PORT]?tls=required (STARTTLS), or smtp://HOST[:PORT]
    /// (unencrypted: a relay on this machine only); default: none, email goes to
    /// DATA_DIR/outbox for the admin
    #[arg(long, env = "LUNGHUB_SMTP_URL", hide_env_values = true)]
    smtp_url: Option<String>,
    /// Sender of outgoing email
    #[arg(
        long,
        env = "LUNGHUB_MAIL_FROM",
        default_value = "lunghub <noreply@localhost>"
    )]
    mail_from: String,
    /// Seconds before mail the SMTP server did not take (down, or busy: a 4xx answer) is
    /// tried again; the wait doubles after each try, up to 6 hours, and after 10 tries the
    /// mail goes to the outbox for the admin. A permanent refusal (5xx) goes there at once
    #[arg(
        long,
        env = "LUNGHUB_MAIL_RETRY_AFTER",
        default_value_t = 60,
        value_name = "SECONDS"
    )]
    mail_retry_after: u64,
    /// Email of the admin account created on first start
    #[arg(long, env = "LUNGHUB_ADMIN_EMAIL", default_value = "admin@localhost")]
    admin_email: String,
    /// The header a reverse proxy in front of lunghub writes the client's address into
    /// (X-Forwarded-For, X-Real-IP): sign-in throttles and form quotas count by its last
    /// address. Only behind a proxy that sets it; without one, any client could fake it
    #[arg(long, env = "LUNGHUB_CLIENT_ADDRESS_HEADER", value_name = "HEADER")]
    client_address_header: Option<String>,
    /// Largest instance a DICOMweb STOW-RS request may carry, in bytes
    #[arg(long, env = "LUNGHUB_STOW_MAX_INSTANCE_BYTES", default_value_t = StowLimits::default().max_instance_bytes)]
    stow_max_instance_bytes: u64,
    /// Largest DICOMweb STOW-RS request body, in bytes
    #[arg(long, env = "LUNGHUB_STOW_MAX_REQUEST_BYTES", default_value_t = StowLimits::default().max_request_bytes)]
    stow_max_request_bytes: u64,
    /// Also run the DICOM network route (C-STORE, C-ECHO) on this address and port, feeding
    /// the same intake pipeline as web uploads (see `lunghub scp --help`)
    #[arg(long, env = "LUNGHUB_DICOM_LISTEN", value_name = "ADDR")]
    dicom_listen: Option<String>,
    /// The AE title the DICOM route answers to
    #[arg(long, default_value = ScpConfig::DEFAULT_AE_TITLE, requires = "dicom_listen")]
    dicom_ae_title: String,
    /// A sender allowed to store over DICOM (repeat for each sender)
    #[arg(
        long = "dicom-peer",
        value_name = "CALLING_AE=SITE[@IP[,IP...]]",
        requires = "dicom_listen"
    )]
    dicom_peers: Vec<Peer>,
    /// The model behind "Try the model" and /api/predict (a folder from `lunghub train`);
    /// default: the reference model built into lunghub
    #[arg(long, env = "LUNGHUB_MODEL", value_name = "DIR")]
    model: Option<std::path::PathBuf>,
    #[command(flatten)]
    pipeline: PipelineArgs,
    #[command(flatten)]
    storage: StorageArgs,
}

pub fn run(args: ServeArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let intake = args.pipeline.service(&args.storage).await?;
        let listener = tokio::net::TcpListener::bind(&args.listen).await.with_context(|| format!("cannot listen on {}", args.listen))?;
        let bound = listener.local_addr()?;
        let public_url = args.public_url.clone().unwrap_or_else(|| format!("http://{bound}"));
        let config = Config {
            data_dir: args.storage.data_dir.clone(),
            public_url: public_url.clone(),
            smtp_url: args.smtp_url.clone(),
            mail_from: args.mail_from.clone(),
            mail_retry: lunghub_web::mail::RetryPolicy {
                first_wait: std::time::Duration::from_secs(args.mail_retry_after.max(1)),
                ..Default::default()
            },
            stow: StowLimits {
                max_instance_bytes: args.stow_max_instance_bytes,
                max_request_bytes: args.stow_max_request_bytes,
            },
            model_dir: args.model.clone(),
            client_address_header: args.client_address_header.clone(),
        };
        let dicom = match &args.dicom_listen {
            Some(listen) => {
                let config = ScpConfig::new(&args.dicom_ae_title, args.dicom_peers.clone())?;
                Some(super::scp::start(listen, config, intake.clone()).await?.1)
            }
            None => None,
        };
        let app = App::new(intake, config).await.context("cannot start the platform")?;
        println!("lunghub serving on {public_url} (listening on {bound})");
        if let Some(link) = app.first_start(&args.admin_email).await.context("cannot create the first admin")? {
            println!("First start: an admin account {} was created. Sign in once with this link (valid 24 hours), then set a password:", args.admin_email);
            println!("  {link}");
        }
        if app.mailer.uses_smtp() {
            println!("Email goes out by SMTP in the background; what SMTP refuses for good lands in {}", app.mailer.outbox_dir().display());
        } else {
            println!("Email goes to the outbox: {} (read it at {public_url}/admin/outbox)", app.mailer.outbox_dir().display());
        }
        std::io::stdout().flush()?;
        let web = lunghub_web::serve(listener, app);
        match dicom {
            Some(dicom) => tokio::select! {
                served = web => served.context("the server stopped")?,
                stopped = dicom => stopped.context("the DICOM listener stopped")?,
            },
            None => web.await.context("the server stopped")?,
        }
        Ok(ExitCode::SUCCESS)
    })
}
