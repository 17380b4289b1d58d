//! `lunghub bench gateway`: storescu → `lunghub gateway` → `lunghub serve` on one machine,
//! next to storescu → DCMTK's `storescp` and storescu → `lunghub scp` alone, the same corpus
//! and storescu command lines in the same run.
//!
//! Two figures for the gateway: when the PACS (storescu) had its last answer, which is
//! when the last instance was de-identified and in the outbox, against storescp's pace
//! (target ≥ 0.8×); and when the server had catalogued the last one (the outbox empty: a
//! STOW-RS answer comes once the instance is committed), against `lunghub scp` alone
//! (target ≤ 2×).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use lunghub_dimse::{Scp, ScpConfig};
use lunghub_gateway::{Gateway, GatewayConfig, GatewaySink, config::SITE};
use lunghub_store::Catalog;
use lunghub_store::platform::InstituteFields;

use super::scp::{
    Storescp, TARGET_SHARE, build_corpus, send_corpus, start_lunghub, storescu_config,
};

/// The gateway's whole path may take at most this many times `lunghub scp` alone.
const TARGET_SLOWDOWN: f64 = 2.0;

#[derive(Args)]
pub struct GatewayBench {
    /// Folder whose DICOM files of the SOP classes and transfer syntaxes lunghub accepts
    /// are repeated into the corpus
    #[arg(long, default_value = "../shared/data/dicom-conformance")]
    source: PathBuf,
    /// Number of files in the corpus
    #[arg(long, default_value_t = 2000)]
    files: usize,
}

/// A profile like the default but trusting every file's pixels (as the other benches do),
/// so that the gateway, the server and storescp all keep every readable file.
fn trusting_profile(dir: &Path) -> Result<PathBuf> {
    let mut text = String::new();
    let mut skipping = false;
    for line in lunghub_deid::profile::DEFAULT_PROFILE_TOML.lines() {
        if line.starts_with("suspect_modalities") || line.starts_with("suspect_sop_classes") {
            let key = line.split('=').next().unwrap_or_default().trim();
            text.push_str(&format!("{key} = []\n"));
            skipping = !line.contains(']');
            continue;
        }
        if skipping {
            skipping = !line.contains(']');
            continue;
        }
        text.push_str(line);
        text.push('\n');
    }
    let path = dir.join("trusting.toml");
    fs::write(&path, text)?;
    Ok(path)
}

/// `lunghub serve` as its own process on `data`, with one hospital past ethics, its token
/// and its gateway's fingerprint registered as a coordinator would on the pages.
async fn start_server(
    data: &Path,
    profile: &Path,
    fingerprint: &str,
) -> Result<(Child, String, String)> {
    let catalog = Catalog::open(&Catalog::sqlite_url(data)).await?;
    let platform = catalog.platform();
    let institute = platform
        .create_institute(
            &InstituteFields {
                name: "Bench Hospital".into(),
                location: "Bench".into(),
                requested_data: vec!["xray-covid".into()],
                contacts: String::new(),
                notes: String::new(),
                ethics_required: false,
            },
            lunghub_domain::onboarding::Stage::WaitingForData.key(),
            "bench",
        )
        .await?;
    let site = catalog
        .site_of_institute(&institute.id)
        .await?
        .context("the institute has no site")?;
    let token = lunghub_web::auth::new_token().map_err(|e| anyhow::anyhow!("{e}"))?;
    platform
        .create_site_token(
            &lunghub_web::auth::token_hash(&token),
            &site.id,
            "bench",
            "bench",
        )
        .await?;
    catalog
        .set_gateway_fingerprint(&site.id, Some(fingerprint))
        .await?;
    drop(catalog);
    // A fixed secret, as the other benches use.
    fs::write(data.join("server.key"), format!("{}\n", "07".repeat(32)))?;
    let mut child = Command::new(std::env::current_exe()?)
        .args(["serve", "--listen", "127.0.0.1:0", "--server-key"])
        .arg(data.join("server.key"))
        .arg("--profile")
        .arg(profile)
        .arg("--data-dir")
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start lunghub serve")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let line = lines
            .next()
            .transpose()?
            .context("lunghub serve stopped before it listened")?;
        if let Some(rest) = line.strip_prefix("lunghub serving on ") {
            let bound = rest
                .split_once("(listening on ")
                .and_then(|(_, b)| b.strip_suffix(')'))
                .map(|b| format!("http://{b}"))
                .unwrap_or_else(|| {
                    rest.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned()
                });
            break bound;
        }
    };
    // The rest of its output is drained so that it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
    Ok((child, base, token))
}

pub fn gateway_bench(b: GatewayBench) -> Result<ExitCode> {
    if b.files == 0 {
        bail!("--files must be at least 1");
    }
    let work = tempfile::tempdir()?;
    let corpus = work.path().join("corpus");
    fs::create_dir(&corpus)?;
    let (files, bytes, pairs) = build_corpus(&b.source, b.files, &corpus)?;
    let config = work.path().join("storescu.cfg");
    fs::write(&config, storescu_config(&pairs))?;
    let profile = trusting_profile(work.path())?;
    println!(
        "corpus: {} files, {:.1} MB from {}; one storescu, a new SOP Instance UID per file (+II), TCP_NODELAY=1",
        files.len(),
        bytes as f64 / 1e6,
        b.source.display()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;

    let dcmtk = {
        let out = work.path().join("storescp");
        fs::create_dir(&out)?;
        let receiver = Storescp::start(&out)?;
        send_corpus(&config, &files, "STORESCP", receiver.port)?
    };

    // `lunghub scp` alone: from the first send to the last row committed.
    let alone_took = {
        let data = work.path().join("scp-alone");
        let (port, guard, service) = runtime.block_on(start_lunghub(&data))?;
        let start = Instant::now();
        send_corpus(&config, &files, "LUNGHUB", port)?;
        while service.backlog() > 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        let took = start.elapsed();
        drop(guard);
        drop(service);
        took
    };

    // The gateway, in this process; the server, its own process.
    let state = work.path().join("gateway");
    fs::create_dir(&state)?;
    let gw_config_path = state.join("gateway.toml");
    let write_config = |stow: &str| -> Result<()> {
        fs::write(
            &gw_config_path,
            format!(
                "stow_url = \"{stow}\"\ntoken_file = \"site.token\"\nstate_dir = \"state\"\nprofile = \"{}\"\n",
                profile.display()
            ),
        )?;
        Ok(())
    };
    fs::write(state.join("site.token"), "placeholder\n")?;
    write_config("http://127.0.0.1:9/dicomweb/studies")?;
    let fingerprint = Gateway::open(GatewayConfig::load(&gw_config_path)?)?.fingerprint();
    let data = work.path().join("server");
    let (mut server, base, token) =
        runtime.block_on(start_server(&data, &profile, &fingerprint))?;
    fs::write(state.join("site.token"), format!("{token}\n"))?;
    write_config(&format!("{base}/dicomweb/studies"))?;
    let gateway = Arc::new(Gateway::open(GatewayConfig::load(&gw_config_path)?)?);
    let (port, serving) = runtime.block_on(async {
        let mut scp_config = ScpConfig::new(
            "LUNGHUB",
            vec![lunghub_dimse::Peer {
                ae_title: "STORESCU".into(),
                site: SITE.into(),
                addresses: Vec::new(),
            }],
        )?;
        scp_config.log = false;
        let sites = HashMap::from([("STORESCU".to_owned(), SITE.to_owned())]);
        let scp = Scp::with_sink(
            scp_config,
            Arc::new(GatewaySink(gateway.clone())),
            sites,
            gateway.largest_instance(),
        )?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        Ok::<_, anyhow::Error>((port, tokio::spawn(async move { scp.serve(listener).await })))
    })?;
    let sender = {
        let g = gateway.clone();
        runtime.spawn(async move {
            let client = g.client()?;
            g.drain(&client, false, &|_| {}).await?;
            Ok::<_, anyhow::Error>(())
        })
    };
    let start = Instant::now();
    let (answered, note) = send_corpus(&config, &files, "LUNGHUB", port)?;
    let deadline = Instant::now() + Duration::from_secs(1800);
    while gateway.outbox().waiting()?.len() > 0 {
        if Instant::now() > deadline {
            bail!("the gateway's outbox did not empty within 30 minutes");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let catalogued = start.elapsed();
    serving.abort();
    sender.abort();
    let _ = server.kill();
    let _ = server.wait();
    let items = runtime.block_on(async {
        Catalog::open(&Catalog::sqlite_url(&data))
            .await?
            .item_ids()
            .await
    })?;
    runtime.shutdown_background();

    let mb = bytes as f64 / 1e6;
    let mut table = String::new();
    writeln!(
        table,
        "\n| path | seconds | files/s | MB/s | compared with | outcome |"
    )?;
    writeln!(table, "|---|---:|---:|---:|---:|---|")?;
    let row =
        |table: &mut String, name: &str, took: Duration, vs: String, note: &str| -> Result<()> {
            let s = took.as_secs_f64();
            writeln!(
                table,
                "| {name} | {s:.2} | {:.0} | {:.1} | {vs} | {note} |",
                files.len() as f64 / s,
                mb / s
            )?;
            Ok(())
        };
    row(
        &mut table,
        "storescu → storescp (DCMTK)",
        dcmtk.0,
        "-".into(),
        &dcmtk.1,
    )?;
    row(
        &mut table,
        "storescu → lunghub scp, last row catalogued",
        alone_took,
        "-".into(),
        "",
    )?;
    let pace = dcmtk.0.as_secs_f64() / answered.as_secs_f64();
    row(
        &mut table,
        "storescu → gateway, last answer (de-identified, in the outbox)",
        answered,
        format!("{pace:.2}x storescp's pace"),
        &note,
    )?;
    let slowdown = catalogued.as_secs_f64() / alone_took.as_secs_f64();
    row(
        &mut table,
        "storescu → gateway → serve, last instance catalogued",
        catalogued,
        format!("{slowdown:.2}x lunghub scp's time"),
        &format!("{} items catalogued", items.len()),
    )?;
    print!("{table}");
    println!(
        "\nTargets: the PACS answered at ≥ {TARGET_SHARE}x storescp's pace ({}), the last file \
         catalogued within {TARGET_SLOWDOWN}x the time of lunghub scp alone ({}).",
        if pace >= TARGET_SHARE {
            "met"
        } else {
            "NOT met"
        },
        if slowdown <= TARGET_SLOWDOWN {
            "met"
        } else {
            "NOT met"
        }
    );
    Ok(ExitCode::SUCCESS)
}
