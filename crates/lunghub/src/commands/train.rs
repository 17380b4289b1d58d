//! `lunghub train`: train a diagnostic model on a release's train split, keep the epoch with
//! the best validation AUC, and save it with everything needed to trace it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lunghub_learn::checkpoint::{self, Meta};
use lunghub_learn::data::{Task, read_release};
use lunghub_learn::metrics::{bootstrap_interval, cheapest_threshold, roc_auc};
use lunghub_learn::model::Shape;
use lunghub_learn::train::{Recipe, Settings, predict, train};

#[derive(Args)]
#[command(after_help = "\
RELEASE is a release's folder, as `lunghub release export` or `lunghub release download`
leaves it. Training uses its train split; validation picks the epoch (early stopping on ROC
AUC) and the decision threshold. The test split's findings are sequestered on the server:
`lunghub evaluate` scores against them.

OUT receives model.safetensors (the weights) and model.json (task, classes, shape, settings,
the release's id and a hash of the data seen, the history of every epoch, the threshold).")]
pub struct TrainArgs {
    /// The release's folder
    release: PathBuf,
    /// A recipe (JSON: task, side and settings, as models/cxr-covid-vs-rest/train.json) in
    /// place of the options below
    #[arg(long, conflicts_with_all = ["task", "side", "epochs", "batch", "learning_rate", "seed", "patience", "no_augment"])]
    config: Option<PathBuf>,
    /// covid-vs-rest (binary, the study plan's model) or three-class (healthy, pneumonia,
    /// COVID-19)
    #[arg(long, default_value = "covid-vs-rest")]
    task: String,
    /// Folder for the trained model
    #[arg(long)]
    out: PathBuf,
    /// Side of the square input in pixels
    #[arg(long, default_value_t = 128)]
    side: usize,
    #[arg(long, default_value_t = 12)]
    epochs: usize,
    #[arg(long, default_value_t = 32)]
    batch: usize,
    #[arg(long, default_value_t = 2e-3)]
    learning_rate: f64,
    #[arg(long, default_value_t = 2020)]
    seed: u64,
    /// Epochs without a better validation AUC before stopping
    #[arg(long, default_value_t = 4)]
    patience: usize,
    /// Train without the shift and intensity jitter
    #[arg(long)]
    no_augment: bool,
}

pub fn run(args: TrainArgs) -> Result<ExitCode> {
    let recipe = recipe(&args)?;
    let task = recipe.task;
    if task == Task::LungUltrasound {
        bail!("lung-ultrasound trains from a folder of clips: use `lunghub train-ultrasound`");
    }
    if !(16..=1024).contains(&recipe.side) {
        bail!("the side must be between 16 and 1024 pixels");
    }
    eprintln!("reading {} for {}", args.release.display(), task.name());
    let data = read_release(&args.release, task, recipe.side, None)
        .with_context(|| format!("cannot read the release in {}", args.release.display()))?;
    let (train_set, validation) = (data.examples("train"), data.examples("validation"));
    if validation.is_empty() {
        bail!("the release has no validation images for this task");
    }
    let shape = Shape {
        input: recipe.side,
        classes: task.classes().len(),
        ..Shape::default()
    };
    let settings = recipe.settings;
    let bar = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        ProgressBar::with_draw_target(Some(settings.epochs as u64), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} epoch {pos}/{len} {msg} (eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    eprintln!(
        "training on {} images, validating on {} ({} left out by the task)",
        train_set.len(),
        validation.len(),
        data.left_out
    );
    let (net, history) = train(&shape, &train_set, &validation, &settings, |e| {
        let auc = e
            .validation_auc
            .map(|a| format!("{a:.3}"))
            .unwrap_or_else(|| "n/a".into());
        bar.set_position(e.epoch as u64);
        bar.set_message(format!("loss {:.3}, validation AUC {auc}", e.loss));
        if bar.is_hidden() {
            eprintln!(
                "epoch {}/{}: loss {:.4}, validation AUC {auc}, {:.0} s",
                e.epoch, settings.epochs, e.loss, e.seconds
            );
        }
    })?;
    bar.finish_and_clear();

    let positive = shape.classes - 1;
    let probabilities = predict(&net, &validation, shape.input, settings.batch)?;
    let scores: Vec<f64> = probabilities
        .iter()
        .map(|p| f64::from(p[positive]))
        .collect();
    let labels: Vec<bool> = validation.iter().map(|e| e.label == positive).collect();
    let patients: Vec<&str> = data
        .split("validation")
        .iter()
        .map(|c| c.patient.as_str())
        .collect();
    let auc = roc_auc(&scores, &labels);
    let interval = bootstrap_interval(&scores, &labels, &patients, 1000, settings.seed, roc_auc);
    let threshold = cheapest_threshold(&scores, &labels, 1.0).map_or(0.5, |c| c.threshold);
    let meta = Meta {
        task,
        classes: task.classes().iter().map(|c| c.to_string()).collect(),
        shape,
        settings,
        release_id: data.release_id.clone(),
        data_hash: data.data_hash.clone(),
        train_images: train_set.len(),
        validation_images: validation.len(),
        history,
        threshold,
        lunghub_version: env!("CARGO_PKG_VERSION").into(),
    };
    checkpoint::save(&args.out, &net, &meta)?;
    let best = meta
        .history
        .iter()
        .max_by(|a, b| {
            a.validation_auc
                .unwrap_or(f64::NEG_INFINITY)
                .total_cmp(&b.validation_auc.unwrap_or(f64::NEG_INFINITY))
        })
        .map_or(0, |e| e.epoch);
    println!(
        "best epoch {best} of {}: validation ROC AUC {} (95% interval over patients {}), threshold {threshold:.3}",
        meta.history.len(),
        auc.map_or("n/a".into(), |a| format!("{a:.3}")),
        interval.map_or("n/a".into(), |(lo, hi)| format!("{lo:.3} to {hi:.3}")),
    );
    println!("saved to {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}

/// The run's recipe: the --config file's, or the options'.
fn recipe(args: &TrainArgs) -> Result<Recipe> {
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        return serde_json::from_str(&text)
            .with_context(|| format!("{} is not a training recipe", path.display()));
    }
    let Some(task) = Task::parse(&args.task) else {
        bail!(
            "unknown task {:?}: use covid-vs-rest or three-class",
            args.task
        );
    };
    Ok(Recipe {
        task,
        side: args.side,
        settings: Settings {
            epochs: args.epochs,
            batch: args.batch,
            learning_rate: args.learning_rate,
            seed: args.seed,
            patience: args.patience,
            augment: !args.no_augment,
            ..Settings::default()
        },
    })
}
