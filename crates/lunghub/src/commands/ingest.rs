//! `lunghub ingest`: take images and their labels in through the intake pipeline.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use lunghub_intake::{ArchiveLimits, FileOutcome, Format, Origin, discover};

use super::storage::{PipelineArgs, StorageArgs};

#[derive(Args)]
#[command(after_help = "\
Formats (--format, default auto):
  csv      a metadata CSV beside the images (metadata.csv, or --metadata): the ieee8023
           covid-chestxray-dataset schema, Actualmed's imagename variant, the NIH subset,
           the COVID-19 Radiography Database
  folders  one sub-folder per class, named after the finding
  pocus    POCUS file-name prefixes (Cov, Pneu, Vir, Reg)
  plain    files only (DICOM from a PACS, say): labels come later, from review
auto picks csv when a metadata CSV is there, pocus when most names carry its prefixes,
and plain otherwise.

Every file is de-identified before anything is stored. Findings are mapped to a
torchxrayvision-compatible hierarchy; a finding no rule knows is kept verbatim, flagged
for review and listed at the end. Running the same ingest again adds nothing.")]
pub struct IngestArgs {
    /// Folders or files to take in
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The hospital or collection the files come from
    #[arg(long)]
    pub site: String,
    /// Metadata CSV with labels and clinical fields
    #[arg(long)]
    pub metadata: Option<PathBuf>,
    /// Layout of the input: auto, csv (ieee8023, actualmed, nih, radiographydb), folders, pocus, plain
    #[arg(long, default_value = "auto")]
    pub format: Format,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    #[command(flatten)]
    pub storage: StorageArgs,
}

pub fn run(args: IngestArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(ingest(args))
}

async fn ingest(args: IngestArgs) -> Result<ExitCode> {
    let intake = args.pipeline.intake(&args.storage).await?;
    let site_id = intake.catalog.ensure_site(&args.site).await?;
    if let lunghub_store::Admission::Closed(why) = intake.catalog.admission(&site_id).await? {
        anyhow::bail!("not ingesting: {why}");
    }
    // Unpacked archives hold originals with identity: they live in the data directory,
    // and go when intake is done (or at the start of the next run, after a crash).
    let scratch = args.storage.data_dir.join("unpacking");
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)
            .with_context(|| format!("cannot clear {}", scratch.display()))?;
    }
    let found = discover(
        &args.paths,
        args.metadata.as_deref(),
        args.format,
        &scratch,
        &ArchiveLimits::default(),
    )
    .context("cannot read the input")?;
    let total = found.sources.len() as u64;
    let origin = Origin {
        site_id,
        route: "folder".into(),
    };
    let bar = super::file_progress(total);
    let report = intake.take_in(&origin, found, &|| bar.inc(1)).await;
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)
            .with_context(|| format!("cannot clear {}", scratch.display()))?;
    }
    let report = report?;
    bar.finish_and_clear();

    for (label, outcome) in &report.files {
        match outcome {
            FileOutcome::Quarantined(why) | FileOutcome::Unreadable(why) => eprintln!(
                "{}: {label}: {} {}\n    detail: {}",
                outcome.label(),
                why.cause.plain(),
                why.cause.next_step(),
                why.detail
            ),
            _ => {}
        }
    }
    for issue in &report.input_issues {
        eprintln!("{issue}");
    }
    for (finding, n) in &report.unknown_findings {
        eprintln!("unknown finding {finding:?} on {n} files: kept verbatim and flagged for review");
    }
    println!(
        "{} files: {} new, {} duplicate, {} near-duplicate, {} quarantined, {} unreadable",
        report.files.len(),
        report.count("new"),
        report.count("duplicate"),
        report.count("near-duplicate"),
        report.count("quarantined"),
        report.count("unreadable"),
    );
    Ok(ExitCode::SUCCESS)
}
