//! The `lunghub` command: argument parsing and wiring. Every subcommand is a call into a
//! library crate; nothing here decides what is identifying or how a file is encoded.

mod commands;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "lunghub",
    version,
    about = "Open platform for COVID-19 lung imaging: de-identify, ingest, publish, learn"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web platform: public site, sign-up, hospital onboarding, accounts, datasets,
    /// "Try the model", challenges and their leaderboards, JSON API
    Serve(commands::serve::ServeArgs),
    /// Receive images from a PACS or modality over DICOM (C-STORE, C-ECHO) into intake
    Scp(commands::scp::ScpArgs),
    /// At the hospital: de-identify under the site's own key (from the PACS, a watched
    /// folder, or files given), queue durably, and send over STOW-RS to lunghub
    Gateway(commands::gateway::GatewayArgs),
    /// De-identify DICOM, PNG and JPEG files to DICOM PS3.15 (Basic Profile plus options)
    Deid(commands::deid::DeidArgs),
    /// Take images and labels in: de-identify, decode, dedupe, store and catalog them
    Ingest(commands::ingest::IngestArgs),
    /// Inspect the catalog (summary counts, one item); approve a curated collection's labels
    Catalog(commands::catalog::CatalogArgs),
    /// Versioned open datasets: create a release; list, export, download and verify them
    Release(commands::release::ReleaseArgs),
    /// Train a diagnostic model on a release (chest X-ray: COVID-19 vs rest, or three classes)
    Train(commands::train::TrainArgs),
    /// Train the lung ultrasound frame classifier on a folder of clips, cross-validated per
    /// clip by case
    TrainUltrasound(commands::ultrasound::UltrasoundArgs),
    /// Evaluate a trained model on a release's validation or test split: JSON and HTML report,
    /// plots, model card
    Evaluate(commands::evaluate::EvaluateArgs),
    /// Cross-validate the 2020 way (image-level folds, last-batch AUC) and the honest way
    /// (patient-level folds, pooled AUC) on one release, and explain the difference
    CompareProtocols(commands::protocols::ProtocolsArgs),
    /// Score DICOM, PNG or JPEG files (or clips, with an ultrasound model) with the built-in
    /// reference model or a trained one, with Grad-CAM heatmaps on request
    Predict(commands::predict::PredictArgs),
    /// Open challenges on a release's sequestered test split (with the house baseline); list them
    Challenge(commands::challenge::ChallengeArgs),
    /// Send predictions (CSV) to a challenge with a personal API token; prints the public score
    Submit(commands::challenge::SubmitArgs),
    /// Measure throughput against peer tools on the same corpus
    Bench(commands::bench::BenchArgs),
}

fn main() -> std::process::ExitCode {
    // Errors reach people as messages, never as backtraces, but with RUST_BACKTRACE=1 the
    // libraries would capture one for every error they build, including the ones dicom-rs
    // builds and drops on every instance it parses (that halved the DICOM route's pace).
    // Panics still print theirs; RUST_LIB_BACKTRACE=1 turns the rest back on.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: the first thing the program does, before any thread exists.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
    // The one TLS crypto provider, for every HTTPS client in the process (reqwest's and
    // object_store's are built without one of their own). Installing fails only when one
    // is installed already, which is as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => commands::serve::run(args),
        Command::Scp(args) => commands::scp::run(args),
        Command::Gateway(args) => commands::gateway::run(args),
        Command::Deid(args) => commands::deid::run(args),
        Command::Ingest(args) => commands::ingest::run(args),
        Command::Catalog(args) => commands::catalog::run(args),
        Command::Release(args) => commands::release::run(args),
        Command::Train(args) => commands::train::run(args),
        Command::TrainUltrasound(args) => commands::ultrasound::run(args),
        Command::Evaluate(args) => commands::evaluate::run(args),
        Command::CompareProtocols(args) => commands::protocols::run(args),
        Command::Predict(args) => commands::predict::run(args),
        Command::Challenge(args) => commands::challenge::run(args),
        Command::Submit(args) => commands::challenge::submit_command(args),
        Command::Bench(args) => commands::bench::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
