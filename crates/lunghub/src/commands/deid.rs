//! `lunghub deid`: de-identify files and folders into a directory that is safe to publish.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::ProgressBar;
use lunghub_deid::{Deidentifier, Outcome, Profile, ServerSecret, SiteKey};
use rayon::prelude::*;
use serde::Serialize;

#[derive(Args)]
#[command(after_help = "\
The report lists every input with its outcome: `written` (the new file name), `quarantined`
(why) or `unreadable` (the error). Input names can carry a patient's name, so the report
goes to --report or to standard error, never into DIR. A report path ending in .json gives a
JSON array; anything else gives CSV with the columns input,outcome,output,detail.

The site key is the secret behind every pseudonym, UID and date shift. Without --site-key,
lunghub uses (and on first use creates) site.key in its configuration directory:
$LUNGHUB_CONFIG_DIR, else $XDG_CONFIG_HOME/lunghub, else ~/.config/lunghub. Back it up:
without it, new files of a patient no longer link to the old ones.

Exit status: 0 when every input was processed (even if some were quarantined or
unreadable), 2 on usage or I/O errors.")]
pub struct DeidArgs {
    /// Files and folders to de-identify (folders are read recursively)
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Directory for the de-identified files (created if missing)
    #[arg(long, short)]
    pub out: PathBuf,
    /// De-identification profile (TOML); default: Basic + Modified Dates + Patient Characteristics
    #[arg(long)]
    pub profile: Option<PathBuf>,
    /// Site key file (64 hex characters); default: site.key in the configuration directory
    #[arg(long)]
    pub site_key: Option<PathBuf>,
    /// Where to write the report (.json or .csv); default: standard error
    #[arg(long)]
    pub report: Option<PathBuf>,
}

/// One line of the report.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ReportRow {
    pub input: String,
    pub outcome: &'static str,
    pub output: String,
    pub detail: String,
}

pub fn config_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("LUNGHUB_CONFIG_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(xdg) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(xdg).join("lunghub"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config").join("lunghub"))
}

/// Loads the key named on the command line, or the configured one (creating it once).
pub fn site_key(explicit: Option<&Path>) -> Result<SiteKey> {
    key_file(
        explicit,
        "site.key",
        "site key",
        "later files of the same patients get different pseudonyms",
    )
}

/// The central server's secret, from which each site's own key is derived: the file named
/// on the command line, or server.key in the configuration directory (created once).
pub fn server_secret(explicit: Option<&Path>) -> Result<ServerSecret> {
    let key = key_file(
        explicit,
        "server.key",
        "server secret (each site's key is derived from it)",
        "later files of the same patients get different pseudonyms at every site",
    )?;
    Ok(ServerSecret::new(key))
}

fn key_file(explicit: Option<&Path>, name: &str, what: &str, loss: &str) -> Result<SiteKey> {
    if let Some(path) = explicit {
        return Ok(SiteKey::load(path)?);
    }
    let dir = config_dir().context("no configuration directory: set LUNGHUB_CONFIG_DIR or HOME")?;
    let path = dir.join(name);
    let (key, created) = SiteKey::load_or_create(&path)?;
    if created {
        eprintln!(
            "lunghub: created a new {what} at {} (fingerprint {}). Back it up: without it, {loss}.",
            path.display(),
            key.fingerprint()
        );
    }
    Ok(key)
}

pub fn load_profile(path: Option<&Path>) -> Result<Profile> {
    match path {
        None => Ok(Profile::lunghub_default()),
        Some(p) => {
            let text = fs::read_to_string(p)
                .with_context(|| format!("cannot read profile {}", p.display()))?;
            Profile::from_toml(&text).with_context(|| format!("profile {}", p.display()))
        }
    }
}

/// Every file under the inputs, in a stable order.
pub fn collect_inputs(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        let meta =
            fs::metadata(input).with_context(|| format!("cannot read {}", input.display()))?;
        if meta.is_dir() {
            let mut found: Vec<PathBuf> = Vec::new();
            for entry in walkdir::WalkDir::new(input).follow_links(false) {
                let entry = entry.with_context(|| format!("cannot list {}", input.display()))?;
                if entry.file_type().is_file() {
                    found.push(entry.into_path());
                }
            }
            found.sort();
            files.extend(found);
        } else {
            files.push(input.clone());
        }
    }
    Ok(files)
}

/// De-identifies `files` into `out` on all cores. Per-file problems become report rows;
/// only a failure to write into `out` is an error.
pub fn deidentify_all(
    deid: &Deidentifier,
    files: &[PathBuf],
    out: &Path,
    progress: &ProgressBar,
) -> Result<Vec<ReportRow>> {
    let temp_counter = AtomicU64::new(0);
    let rows: Vec<Result<ReportRow>> = files
        .par_iter()
        .map(|path| {
            let row = process_one(deid, path, out, &temp_counter);
            progress.inc(1);
            row
        })
        .collect();
    rows.into_iter().collect()
}

fn process_one(
    deid: &Deidentifier,
    path: &Path,
    out: &Path,
    counter: &AtomicU64,
) -> Result<ReportRow> {
    let input = path.display().to_string();
    let row = |outcome, output: String, detail: String| ReportRow {
        input: input.clone(),
        outcome,
        output,
        detail,
    };
    let too_big = fs::metadata(path)
        .map(|m| m.len() > deid.limits().max_bytes)
        .unwrap_or(false);
    if too_big {
        return Ok(row(
            "unreadable",
            String::new(),
            format!(
                "file is larger than the {}-byte limit",
                deid.limits().max_bytes
            ),
        ));
    }
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            return Ok(row(
                "unreadable",
                String::new(),
                format!("cannot read: {e}"),
            ));
        }
    };
    match deid.deidentify(&bytes) {
        Ok(Outcome::Written(file)) => {
            // Write beside the target and rename, so DIR never holds a half-written file
            // under a final name.
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let tmp = out.join(format!(".partial-{}-{n}", std::process::id()));
            let target = out.join(&file.file_name);
            fs::write(&tmp, &file.bytes)
                .with_context(|| format!("cannot write {}", tmp.display()))?;
            fs::rename(&tmp, &target)
                .with_context(|| format!("cannot write {}", target.display()))?;
            let detail = if file.pixels_cleaned {
                "pixels cleaned by profile rule".into()
            } else {
                String::new()
            };
            Ok(row("written", file.file_name, detail))
        }
        Ok(Outcome::Quarantined(reason)) => Ok(row("quarantined", String::new(), reason.detail)),
        Err(e) => Ok(row("unreadable", String::new(), e.to_string())),
    }
}

pub fn write_report(rows: &[ReportRow], to: Option<&Path>) -> Result<()> {
    let json = to.is_some_and(|p| {
        p.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    });
    let mut sink: Box<dyn Write> = match to {
        Some(p) => Box::new(io::BufWriter::new(
            fs::File::create(p).with_context(|| format!("cannot create report {}", p.display()))?,
        )),
        None => Box::new(io::stderr().lock()),
    };
    if json {
        serde_json::to_writer_pretty(&mut sink, rows)?;
        writeln!(sink)?;
    } else {
        let mut w = csv::Writer::from_writer(&mut sink);
        for r in rows {
            w.serialize(r)?;
        }
        w.flush()?;
    }
    sink.flush()?;
    Ok(())
}

pub fn run(args: DeidArgs) -> Result<ExitCode> {
    let profile = load_profile(args.profile.as_deref())?;
    let key = site_key(args.site_key.as_deref())?;
    fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    if let Some(report) = &args.report {
        let out = fs::canonicalize(&args.out)?;
        let parent = report
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let report_dir = fs::canonicalize(parent)
            .with_context(|| format!("cannot write report into {}", parent.display()))?;
        if report_dir.starts_with(&out) {
            bail!(
                "the report names input files, so it must not go inside the output directory {}",
                args.out.display()
            );
        }
    }
    let deid = Deidentifier::new(profile, key)?;
    let files = collect_inputs(&args.inputs)?;
    let progress = super::file_progress(files.len() as u64);
    let rows = deidentify_all(&deid, &files, &args.out, &progress)?;
    progress.finish_and_clear();
    write_report(&rows, args.report.as_deref())?;
    let count = |o: &str| rows.iter().filter(|r| r.outcome == o).count();
    println!(
        "{} inputs: {} written, {} quarantined, {} unreadable -> {}",
        rows.len(),
        count("written"),
        count("quarantined"),
        count("unreadable"),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
