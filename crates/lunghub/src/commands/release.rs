//! `lunghub release`: published datasets. So far only `verify`, the check of a download.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use lunghub_release::{MANIFEST, Manifest};

#[derive(Args)]
pub struct ReleaseArgs {
    #[command(subcommand)]
    command: ReleaseCommand,
}

#[derive(Subcommand)]
enum ReleaseCommand {
    /// Check a downloaded release against its SHA256SUMS: every file listed is there with
    /// the listed bytes, and nothing else is. Exits 0 when intact, 1 when not
    #[command(after_help = "\
The manifest is in GNU coreutils' format, so `sha256sum --check SHA256SUMS` in the
release's folder checks the listed files too, where lunghub is not installed.")]
    Verify {
        /// The release's folder, with SHA256SUMS at its root
        dir: PathBuf,
    },
}

pub fn run(args: ReleaseArgs) -> Result<ExitCode> {
    match args.command {
        ReleaseCommand::Verify { dir } => verify(&dir),
    }
}

fn verify(dir: &std::path::Path) -> Result<ExitCode> {
    let manifest = Manifest::read(dir)
        .with_context(|| format!("cannot read {MANIFEST} in {}", dir.display()))?;
    let bar = super::file_progress(manifest.files.len() as u64);
    let found = manifest
        .verify(dir, |_| bar.inc(1))
        .with_context(|| format!("cannot check {}", dir.display()))?;
    bar.finish_and_clear();
    for (what, names) in [
        ("changed", &found.changed),
        ("missing", &found.missing),
        ("not in the manifest", &found.unexpected),
    ] {
        for name in names {
            println!("{what}: {name}");
        }
    }
    println!(
        "{}: {} of {} files intact, {} changed, {} missing, {} not in the manifest",
        if found.is_intact() {
            "intact"
        } else {
            "NOT intact"
        },
        found.good,
        manifest.files.len(),
        found.changed.len(),
        found.missing.len(),
        found.unexpected.len()
    );
    Ok(if found.is_intact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
