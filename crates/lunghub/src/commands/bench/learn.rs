//! `lunghub bench learn`: lunghub-learn (burn's flex CPU backend for training, its frozen
//! inference path for scoring) against a PyTorch CPU
//! reference (PyPI torch) with the same network, data, preprocessing, augmentation,
//! optimiser, schedule, epochs, batch and threads, in one run on one machine.
//!
//! Figures: seconds per epoch (training plus the validation pass, as both report it),
//! latency of one image at batch 1 (median), throughput at batch 32, peak resident memory
//! of each process, and test ROC AUC with its 95% interval over patients, computed by the
//! same lunghub code from both contenders' test probabilities.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use lunghub_learn::data::{Task, read_release};
use lunghub_learn::inference::FrozenNet;
use lunghub_learn::metrics::{bootstrap_interval, roc_auc};
use lunghub_learn::model::Shape;
use lunghub_learn::train::{Settings, train};
use serde_json::json;

use super::default_python;
use crate::commands::evaluate::sequestered_findings;
use crate::commands::storage::StorageArgs;

const TORCH_REFERENCE_PY: &str = include_str!("torch_reference.py");

#[derive(Args)]
pub struct LearnBench {
    /// The release's folder (as `lunghub release export` writes it); its test findings are
    /// read from this server's catalog
    release: PathBuf,
    #[arg(long, default_value_t = 12)]
    epochs: usize,
    /// Threads for both contenders (burn's rayon pool; torch.set_num_threads)
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Python with torch and scikit-learn (default: $LUNGHUB_PYTHON, then the venv that
    /// .ci/run keeps beside the target folder, then python3)
    #[arg(long)]
    python: Option<PathBuf>,
    #[command(flatten)]
    storage: StorageArgs,
}

/// What one contender measured.
struct Figures {
    name: String,
    epoch_seconds: f64,
    epochs: usize,
    latency_ms: f64,
    throughput: f64,
    peak_rss_mb: f64,
    auc: Option<f64>,
    interval: Option<(f64, f64)>,
}

const LATENCY_RUNS: usize = 50;
const THROUGHPUT_BATCHES: usize = 10;

/// Peak resident memory of this process so far (VmHWM), in MiB.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        })
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

pub fn learn_bench(args: LearnBench) -> Result<ExitCode> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build_global()
        .context("cannot size the thread pool")?;
    let findings = sequestered_findings(&args.storage, &args.release)?;
    let settings = Settings {
        epochs: args.epochs,
        ..Settings::default()
    };
    let shape = Shape::default();
    let side = shape.input;
    let data = read_release(&args.release, Task::CovidVsRest, side, Some(&findings))
        .with_context(|| format!("cannot read the release in {}", args.release.display()))?;
    let (train_set, validation, test) = (
        data.examples("train"),
        data.examples("validation"),
        data.examples("test"),
    );
    if test.len() < 32 {
        bail!(
            "the release's test split has {} images; the benchmark needs 32",
            test.len()
        );
    }
    let test_cases = data.split("test");
    let labels: Vec<bool> = test.iter().map(|e| e.label == 1).collect();
    let patients: Vec<&str> = test_cases.iter().map(|c| c.patient.as_str()).collect();
    let score = |p: &[f64]| {
        (
            roc_auc(p, &labels),
            bootstrap_interval(p, &labels, &patients, 1000, 2020, roc_auc),
        )
    };

    // The PyTorch reference first, in its own process.
    eprintln!(
        "PyTorch CPU reference: {} train, {} validation, {} test images, {} epochs, {} threads",
        train_set.len(),
        validation.len(),
        test.len(),
        args.epochs,
        args.threads
    );
    let scratch = tempfile::tempdir()?;
    let script = scratch.path().join("torch_reference.py");
    std::fs::write(&script, TORCH_REFERENCE_PY)?;
    let settings_path = scratch.path().join("settings.json");
    let out_path = scratch.path().join("out.json");
    std::fs::write(
        &settings_path,
        serde_json::to_vec(&json!({
            "release": args.release,
            "test_findings": findings,
            "side": side,
            "epochs": settings.epochs,
            "batch": settings.batch,
            "learning_rate": settings.learning_rate,
            "weight_decay": settings.weight_decay,
            "seed": settings.seed,
            "patience": settings.patience,
            "threads": args.threads,
            "latency_runs": LATENCY_RUNS,
            "throughput_batches": THROUGHPUT_BATCHES,
        }))?,
    )?;
    let python = args.python.clone().unwrap_or_else(default_python);
    let status = Command::new(&python)
        .arg(&script)
        .arg(&settings_path)
        .arg(&out_path)
        .env("OMP_NUM_THREADS", args.threads.to_string())
        .status()
        .with_context(|| format!("cannot run {}", python.display()))?;
    if !status.success() {
        bail!("the PyTorch reference failed ({status}): it needs torch, pillow and scikit-learn");
    }
    let out: serde_json::Value = serde_json::from_slice(&std::fs::read(&out_path)?)?;
    let torch_test: BTreeMap<String, f64> = serde_json::from_value(out["test"].clone())?;
    let torch_p: Vec<f64> = test_cases
        .iter()
        .map(|c| torch_test.get(&c.file).copied().unwrap_or(f64::NAN))
        .collect();
    let history = out["history"].as_array().cloned().unwrap_or_default();
    let (auc, interval) = score(&torch_p);
    let reference = Figures {
        name: format!("PyTorch {} CPU", out["torch"].as_str().unwrap_or("?")),
        epoch_seconds: history
            .iter()
            .filter_map(|e| e["seconds"].as_f64())
            .sum::<f64>()
            / history.len().max(1) as f64,
        epochs: history.len(),
        latency_ms: out["latency_ms"].as_f64().unwrap_or(f64::NAN),
        throughput: out["throughput"].as_f64().unwrap_or(f64::NAN),
        peak_rss_mb: out["peak_rss_mb"].as_f64().unwrap_or(f64::NAN),
        auc,
        interval,
    };

    eprintln!("lunghub-learn (burn flex):");
    let (net, history) = train(&shape, &train_set, &validation, &settings, |e| {
        eprintln!(
            "lunghub epoch {}/{}: loss {:.4}, validation AUC {}, {:.0} s",
            e.epoch,
            settings.epochs,
            e.loss,
            e.validation_auc.map_or("n/a".into(), |a| format!("{a:.3}")),
            e.seconds
        );
    })?;
    // Frozen once, as `lunghub predict` and the server do when they load a model; PyTorch
    // likewise builds its network once and then times `eval()` calls.
    let frozen = FrozenNet::new(&net, side)?;
    let ours_p: Vec<f64> = frozen
        .probabilities_of_examples(&test, 32)?
        .iter()
        .map(|p| f64::from(p[1]))
        .collect();
    let one = &test[..1];
    for _ in 0..5 {
        frozen.probabilities_of_examples(one, 1)?;
    }
    let mut latencies = Vec::with_capacity(LATENCY_RUNS);
    for _ in 0..LATENCY_RUNS {
        let t = Instant::now();
        frozen.probabilities_of_examples(one, 1)?;
        latencies.push(t.elapsed().as_secs_f64());
    }
    let chunk = &test[..32];
    frozen.probabilities_of_examples(chunk, 32)?;
    let t = Instant::now();
    for _ in 0..THROUGHPUT_BATCHES {
        frozen.probabilities_of_examples(chunk, 32)?;
    }
    let throughput = (THROUGHPUT_BATCHES * chunk.len()) as f64 / t.elapsed().as_secs_f64();
    let (auc, interval) = score(&ours_p);
    let ours = Figures {
        name: "lunghub-learn (burn 0.22 flex; frozen inference)".into(),
        epoch_seconds: history.iter().map(|e| e.seconds).sum::<f64>() / history.len().max(1) as f64,
        epochs: history.len(),
        latency_ms: median(latencies) * 1000.0,
        throughput,
        peak_rss_mb: peak_rss_mb(),
        auc,
        interval,
    };

    println!(
        "\nlearn benchmark: covid-vs-rest, {side} px, batch {}, {} threads, {} test images",
        settings.batch,
        args.threads,
        test.len()
    );
    println!(
        "{:<48} {:>9} {:>7} {:>11} {:>13} {:>9} {:>22}",
        "contender",
        "s/epoch",
        "epochs",
        "latency ms",
        "images/s @32",
        "peak MiB",
        "test AUC (95% CI)"
    );
    for f in [&reference, &ours] {
        println!(
            "{:<48} {:>9.1} {:>7} {:>11.2} {:>13.0} {:>9.0} {:>22}",
            f.name,
            f.epoch_seconds,
            f.epochs,
            f.latency_ms,
            f.throughput,
            f.peak_rss_mb,
            match (f.auc, f.interval) {
                (Some(a), Some((lo, hi))) => format!("{a:.3} ({lo:.3}–{hi:.3})"),
                (Some(a), None) => format!("{a:.3}"),
                _ => "n/a".into(),
            }
        );
    }
    let ratio = ours.epoch_seconds / reference.epoch_seconds;
    println!(
        "\ntraining time: {ratio:.2}× PyTorch's (target ≤ 1.5×: {})",
        if ratio <= 1.5 { "met" } else { "missed" }
    );
    println!(
        "latency at batch 1: {:.2}× PyTorch's (target ≤ 1×: {})",
        ours.latency_ms / reference.latency_ms,
        if ours.latency_ms <= reference.latency_ms {
            "met"
        } else {
            "missed"
        }
    );
    if let (Some(a), Some((lo, _))) = (ours.auc, reference.interval) {
        println!(
            "test AUC {a:.3} against PyTorch's interval from {lo:.3} (target: within or above: {})",
            if a >= lo { "met" } else { "missed" }
        );
    }
    Ok(ExitCode::SUCCESS)
}
