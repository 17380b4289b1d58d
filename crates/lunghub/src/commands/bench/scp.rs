//! `lunghub bench scp`: the DICOM network route next to DCMTK's `storescp`, both fed the
//! same corpus by the same `storescu` command lines in the same run.
//!
//! `storescp` only writes what it receives into a folder. lunghub de-identifies every
//! instance and spools it before it answers, then decodes, fingerprints, stores and
//! catalogs it on a fresh data directory in the background. Both figures are reported: when
//! the last sender had its last answer, and when the last row was committed.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use lunghub_deid::scan::{Limits, Sniffed, sniff};
use lunghub_deid::{Profile, ServerSecret, SiteDeidentifiers, SiteKey};
use lunghub_dimse::{Scp, ScpConfig, syntax};
use lunghub_intake::{ArchiveLimits, Format, Intake, IntakeService, Origin, discover};
use lunghub_store::{Blobs, Catalog};

use super::super::deid::collect_inputs;

/// The throughput lunghub must reach, as a share of storescp's.
pub(super) const TARGET_SHARE: f64 = 0.8;

#[derive(Args)]
pub struct ScpBench {
    /// Folder whose DICOM files of the SOP classes and transfer syntaxes lunghub accepts
    /// are repeated into the corpus
    #[arg(long, default_value = "../shared/data/dicom-conformance")]
    source: PathBuf,
    /// Number of files in the corpus
    #[arg(long, default_value_t = 2000)]
    files: usize,
    /// How many storescu processes send at once (the corpus is split between them); each
    /// number is one round
    #[arg(long, num_args = 1.., default_values_t = [1, 4])]
    parallel: Vec<usize>,
    /// Timed runs per receiver and round, alternating; the best is reported
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Send the files with the UIDs they have, so that lunghub sees the repeats as
    /// duplicates; by default storescu invents a new SOP Instance UID for every file
    /// (+II), as a PACS sends distinct instances, and lunghub commits every one
    #[arg(long)]
    keep_uids: bool,
}

pub fn scp_bench(b: ScpBench) -> Result<ExitCode> {
    if b.files == 0 || b.runs == 0 || b.parallel.contains(&0) {
        bail!("--files, --runs and --parallel must all be at least 1");
    }
    for tool in ["storescu", "storescp", "echoscu"] {
        find_tool(tool)?;
    }
    let work = tempfile::tempdir()?;
    let corpus = work.path().join("corpus");
    fs::create_dir(&corpus)?;
    let (files, bytes, pairs) = build_corpus(&b.source, b.files, &corpus)?;
    let config = work.path().join("storescu.cfg");
    fs::write(&config, storescu_config(&pairs))?;
    println!(
        "corpus: {} files, {:.1} MB, repeated from the {} CR/DX/US/SC files of {} in {} \
         transfer syntaxes; {}; best of {} runs; storescu with TCP_NODELAY=1 (DCMTK keeps \
         Nagle's algorithm on otherwise, and waits 40 ms on every message)",
        files.len(),
        bytes as f64 / 1e6,
        pairs.iter().map(|p| &p.2).collect::<BTreeSet<_>>().len(),
        b.source.display(),
        pairs.iter().map(|p| &p.1).collect::<BTreeSet<_>>().len(),
        if b.keep_uids {
            "UIDs as stored"
        } else {
            "a new SOP Instance UID per file (+II)"
        },
        b.runs
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut rows = Vec::new();
    for &parallel in &b.parallel {
        let mut best = [
            (Duration::MAX, String::new()),
            (Duration::MAX, String::new()),
            (Duration::MAX, String::new()),
        ];
        for run in 0..b.runs {
            let round = work.path().join(format!("p{parallel}-r{run}"));
            fs::create_dir_all(&round)?;
            // storescp first, then lunghub, alternating.
            let dcmtk = {
                let out = round.join("storescp");
                fs::create_dir(&out)?;
                let receiver = Storescp::start(&out)?;
                send(
                    b.keep_uids,
                    &config,
                    &files,
                    parallel,
                    "STORESCP",
                    receiver.port,
                )?
            };
            let data = round.join("lunghub");
            let (port, guard, service) = runtime.block_on(start_lunghub(&data))?;
            let (answered, note) = send(b.keep_uids, &config, &files, parallel, "LUNGHUB", port)?;
            let draining = Instant::now();
            while service.backlog() > 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
            let catalogued = answered + draining.elapsed();
            drop(guard);
            drop(service);
            let items = runtime.block_on(async {
                Catalog::open(&Catalog::sqlite_url(&data))
                    .await?
                    .item_ids()
                    .await
            })?;
            let lunghub = [
                (
                    answered,
                    format!("{note}; answered once de-identified and spooled"),
                ),
                (catalogued, format!("{} items catalogued", items.len())),
            ];
            for (slot, (took, note)) in best.iter_mut().zip([dcmtk].into_iter().chain(lunghub)) {
                if took < slot.0 {
                    *slot = (took, note);
                }
            }
        }
        rows.push((parallel, best));
    }
    let reference = folder_ingest(&runtime, &corpus, &work.path().join("ingest"))?;
    runtime.shutdown_background();

    let mb = bytes as f64 / 1e6;
    let mut table = String::new();
    writeln!(
        table,
        "\n| receiver | storescu processes | seconds | files/s | MB/s | vs storescp | outcome |"
    )?;
    writeln!(table, "|---|---:|---:|---:|---:|---:|---|")?;
    for (parallel, [dcmtk, answered, catalogued]) in &rows {
        let base = dcmtk.0.as_secs_f64();
        for (name, (took, note)) in [
            ("storescp (DCMTK)", dcmtk),
            ("lunghub scp, last answer", answered),
            ("lunghub scp, last row catalogued", catalogued),
        ] {
            let s = took.as_secs_f64();
            writeln!(
                table,
                "| {name} | {parallel} | {s:.2} | {:.0} | {:.1} | {:.2}x | {note} |",
                files.len() as f64 / s,
                mb / s,
                base / s,
            )?;
        }
    }
    let s = reference.0.as_secs_f64();
    writeln!(
        table,
        "| lunghub ingest of the corpus folder (reference: the pipeline without the network) \
         | - | {s:.2} | {:.0} | {:.1} | - | {} |",
        files.len() as f64 / s,
        mb / s,
        reference.1
    )?;
    print!("{table}");
    println!(
        "\n(vs storescp: lunghub's throughput as a share of storescp's in the same round; the \
         target is {TARGET_SHARE}x. The folder ingest sees the corpus's repeats as duplicates, \
         which it still de-identifies and decodes but does not commit.)"
    );
    Ok(ExitCode::SUCCESS)
}

/// (SOP class, transfer syntax, file) of each distinct file the corpus repeats.
type Sources = Vec<(String, String, PathBuf)>;

/// Copies the source's files whose SOP class and transfer syntax lunghub accepts,
/// round-robin, until `count` exist. DCMTK 3.6 cannot send HTJ2K, so that is left out for
/// both receivers. Returns the files, their bytes, and the (SOP class, transfer syntax,
/// source) of each distinct source.
pub(super) fn build_corpus(
    source: &Path,
    count: usize,
    dir: &Path,
) -> Result<(Vec<PathBuf>, u64, Sources)> {
    let mut sources = Vec::new();
    for path in collect_inputs(&[source.to_path_buf()])? {
        let Ok(head) = fs::read(&path) else { continue };
        let Ok(Sniffed::Dicom(layout)) = sniff(&head, &Limits::default()) else {
            continue;
        };
        let Some(class) = layout.media_sop_class else {
            continue;
        };
        let ts = layout.transfer_syntax;
        if syntax::is_storage_class(&class)
            && syntax::TRANSFER_SYNTAXES.contains(&ts.as_str())
            && !ts.starts_with("1.2.840.10008.1.2.4.20")
        {
            sources.push((class, ts, path));
        }
    }
    if sources.is_empty() {
        bail!("no CR, DX, US or SC files under {}", source.display());
    }
    let mut files = Vec::with_capacity(count);
    let mut bytes = 0;
    for i in 0..count {
        let src = &sources[i % sources.len()].2;
        let dst = dir.join(format!("{i:05}.dcm"));
        bytes += fs::copy(src, &dst).with_context(|| format!("copy {}", src.display()))?;
        files.push(dst);
    }
    Ok((files, bytes, sources))
}

/// A storescu association profile with one presentation context per (SOP class, transfer
/// syntax) of the corpus, so every file travels as it is stored, and one with the
/// uncompressed syntaxes per SOP class.
pub(super) fn storescu_config(pairs: &Sources) -> String {
    let distinct: BTreeSet<(&str, &str)> = pairs
        .iter()
        .map(|(c, t, _)| (c.as_str(), t.as_str()))
        .collect();
    let syntaxes: Vec<&str> = distinct
        .iter()
        .map(|p| p.1)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let classes: BTreeSet<&str> = distinct.iter().map(|p| p.0).collect();
    let mut cfg = String::from(
        "[[TransferSyntaxes]]\n[Uncompressed]\nTransferSyntax1 = 1.2.840.10008.1.2.1\n\
         TransferSyntax2 = 1.2.840.10008.1.2\n",
    );
    for (i, ts) in syntaxes.iter().enumerate() {
        cfg += &format!("[TS{i}]\nTransferSyntax1 = {ts}\n");
    }
    cfg += "[[PresentationContexts]]\n[Corpus]\n";
    let mut n = 0;
    for (class, ts) in &distinct {
        n += 1;
        let i = syntaxes.iter().position(|t| t == ts).unwrap_or_default();
        cfg += &format!("PresentationContext{n} = {class}\\TS{i}\n");
    }
    for class in classes {
        n += 1;
        cfg += &format!("PresentationContext{n} = {class}\\Uncompressed\n");
    }
    cfg += "[[Profiles]]\n[Corpus]\nPresentationContexts = Corpus\n";
    cfg
}

/// Sends `files` split round-robin over `parallel` storescu processes started together,
/// and returns the time until the last one finished, with the responses counted.
/// One storescu sending the corpus with a new SOP Instance UID per file, as `bench scp`
/// does by default.
pub(super) fn send_corpus(
    config: &Path,
    files: &[PathBuf],
    called: &str,
    port: u16,
) -> Result<(Duration, String)> {
    send(false, config, files, 1, called, port)
}

fn send(
    keep_uids: bool,
    config: &Path,
    files: &[PathBuf],
    parallel: usize,
    called: &str,
    port: u16,
) -> Result<(Duration, String)> {
    let _ = Command::new("sync").status();
    let start = Instant::now();
    let children: Vec<Child> = (0..parallel)
        .map(|k| {
            let mut cmd = Command::new("storescu");
            cmd.env("TCP_NODELAY", "1")
                .args(["-v", "-nh", "-xf"])
                .arg(config)
                .args(["Corpus", "-aet", "STORESCU", "-aec", called]);
            if !keep_uids {
                cmd.arg("+II");
            }
            cmd.arg("127.0.0.1")
                .arg(port.to_string())
                .args(files.iter().skip(k).step_by(parallel))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .context("cannot run storescu")
        })
        .collect::<Result<_>>()?;
    let (mut ok, mut refused) = (0, 0);
    for child in children {
        let out = child.wait_with_output()?;
        for line in String::from_utf8_lossy(&out.stdout)
            .lines()
            .chain(String::from_utf8_lossy(&out.stderr).lines())
        {
            if line.contains("Received Store Response (Success") {
                ok += 1;
            } else if line.contains("Received Store Response") {
                refused += 1;
            }
        }
    }
    let took = start.elapsed();
    Ok((
        took,
        format!(
            "{ok} stored, {refused} refused, {} that storescu could not send",
            files.len() - ok - refused
        ),
    ))
}

/// lunghub's SCP in this process, on a fresh SQLite catalog and blob folder, trusting
/// pixels (as `bench deid` does) so that it stores every readable file like storescp.
pub(super) async fn start_lunghub(data: &Path) -> Result<(u16, Serving, Arc<IntakeService>)> {
    let service: Arc<IntakeService> =
        IntakeService::start(trusting_intake(data).await?, &data.join("spool")).await?;
    let mut config = ScpConfig::new("LUNGHUB", vec!["STORESCU=bench".parse()?])?;
    config.log = false;
    let scp = Scp::new(config, service.clone()).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let serving = tokio::spawn(async move { scp.serve(listener).await });
    Ok((port, Serving(serving), service))
}

/// The intake pipeline on a fresh SQLite catalog and blob folder in `data`, trusting
/// pixels (as `bench deid` does) so that it stores every readable file like storescp.
async fn trusting_intake(data: &Path) -> Result<Intake> {
    let secret = ServerSecret::new(SiteKey::from_bytes([7; 32]));
    let mut profile = Profile::lunghub_default();
    profile.burned_in.suspect_modalities.clear();
    profile.burned_in.suspect_sop_classes.clear();
    Ok(Intake {
        deid: SiteDeidentifiers::new(profile, secret)?,
        catalog: Catalog::open(&Catalog::sqlite_url(data)).await?,
        blobs: Blobs::open(data, None)?,
        profile_name: "lunghub-default-trusting".into(),
        near_duplicate_bits: 24,
    })
}

/// `lunghub ingest` of the corpus folder (all cores, a transaction per 128 files): what
/// the pipeline costs without the network.
fn folder_ingest(
    runtime: &tokio::runtime::Runtime,
    corpus: &Path,
    data: &Path,
) -> Result<(Duration, String)> {
    let found = discover(
        &[corpus.to_path_buf()],
        None,
        Format::Plain,
        &data.join("unpacking"),
        &ArchiveLimits::default(),
    )?;
    let _ = Command::new("sync").status();
    runtime.block_on(async {
        let intake = trusting_intake(data).await?;
        let origin = Origin {
            site_id: intake.catalog.ensure_site("bench").await?,
            route: "folder".into(),
        };
        let start = Instant::now();
        let report = intake.take_in(&origin, found, &|| {}).await?;
        let took = start.elapsed();
        Ok((
            took,
            format!(
                "{} new, {} duplicate, {} near-duplicate, {} not stored",
                report.count("new"),
                report.count("duplicate"),
                report.count("near-duplicate"),
                report.count("quarantined") + report.count("unreadable")
            ),
        ))
    })
}

/// The SCP's accept loop, stopped when dropped.
pub(super) struct Serving(tokio::task::JoinHandle<()>);

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// DCMTK's storescp writing into a folder, one process per association (`--fork`),
/// accepting every transfer syntax it knows (`+xa`), stopped when dropped.
pub(super) struct Storescp {
    child: Child,
    pub(super) port: u16,
}

impl Storescp {
    pub(super) fn start(out: &Path) -> Result<Storescp> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new("storescp")
            .env("TCP_NODELAY", "1")
            .args(["--fork", "+xa", "-pdu", "131072", "-aet", "STORESCP", "-od"])
            .arg(out)
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot run storescp")?;
        let receiver = Storescp { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let echoed = Command::new("echoscu")
                .args(["-aec", "STORESCP", "127.0.0.1", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if echoed {
                return Ok(receiver);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("storescp did not answer C-ECHO within 20 s")
    }
}

impl Drop for Storescp {
    fn drop(&mut self) {
        // SIGTERM reaches the listening parent only; forked children finish on their own
        // once their association ends, which happened before this is dropped.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_tool(name: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .with_context(|| {
            format!(
                "`{name}` is not installed; the DICOM benchmark needs DCMTK: apt-get install dcmtk"
            )
        })
}
