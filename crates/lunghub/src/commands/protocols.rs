//! `lunghub compare-protocols`: defeatcovid19-net's 2020 evaluation protocol next to the
//! honest one, on the same release, network and training.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use lunghub_learn::data::{Task, read_release};
use lunghub_learn::model::Shape;
use lunghub_learn::protocol::compare;
use lunghub_learn::train::Settings;

#[derive(Args)]
#[command(after_help = "\
Both protocols cross-validate the release's labelled images (train and validation splits;
the test split stays sequestered) for COVID-19 vs rest.
  2020:   folds over images, ROC AUC of each fold's last validation batch, averaged;
  honest: folds over patients, out-of-fold probabilities pooled into one ROC AUC with a
          95% interval that resamples patients.
OUT receives protocols.json and protocols.md (the tables and why the figures differ).")]
pub struct ProtocolsArgs {
    /// The release's folder
    release: PathBuf,
    /// Folder for the comparison
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 5)]
    folds: usize,
    /// Epochs per fold (each of the 2 × folds trainings runs them all)
    #[arg(long, default_value_t = 12)]
    epochs: usize,
    /// Side of the square input in pixels
    #[arg(long, default_value_t = 128)]
    side: usize,
    #[arg(long, default_value_t = 2020)]
    seed: u64,
}

pub fn run(args: ProtocolsArgs) -> Result<ExitCode> {
    if !(16..=1024).contains(&args.side) {
        anyhow::bail!("--side must be between 16 and 1024 pixels");
    }
    let data = read_release(&args.release, Task::CovidVsRest, args.side, None)
        .with_context(|| format!("cannot read the release in {}", args.release.display()))?;
    let cases: Vec<_> = data
        .cases
        .iter()
        .filter(|c| c.split == "train" || c.split == "validation")
        .cloned()
        .collect();
    let shape = Shape {
        input: args.side,
        ..Shape::default()
    };
    let settings = Settings {
        epochs: args.epochs,
        seed: args.seed,
        ..Settings::default()
    };
    let started = std::time::Instant::now();
    let comparison = compare(&cases, args.folds, &shape, &settings, |what| {
        eprintln!("[{:>5.0} s] {what}", started.elapsed().as_secs_f64());
    })?;
    super::write_report(&args.out, "protocols", &comparison, &comparison.markdown())?;
    Ok(ExitCode::SUCCESS)
}
