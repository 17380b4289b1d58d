//! `lunghub evaluate`: a trained model on a release's validation or test split, as a JSON
//! and HTML report with SVG plots.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use lunghub_learn::card::model_card;
use lunghub_learn::checkpoint;
use lunghub_learn::data::read_release;
use lunghub_learn::probe::source_probe;
use lunghub_learn::report::{self, Scored};
use lunghub_learn::train::{Example, embed, predict};

use super::storage::StorageArgs;

#[derive(Args)]
#[command(after_help = "\
The validation split's findings are in the release folder. The test split's are sequestered:
with --split test, lunghub reads them from the catalog (--data-dir or --database-url) of
the server that made the release, matched by the release's SHA256SUMS.

OUT receives report.json, report.html (plots inline), roc, pr and calibration plots as SVG
and PNG, and MODEL_CARD.md (intended use, data, results with intervals, limitations).
The report warns when the model tells sources apart better than it tells the disease
apart within one source: then its pooled AUC mostly measures source recognition.")]
pub struct EvaluateArgs {
    /// The model's folder (model.safetensors and model.json)
    model: PathBuf,
    /// The release's folder
    release: PathBuf,
    /// validation or test
    #[arg(long, default_value = "validation")]
    split: String,
    /// The class scored one against the rest (default: the model's last class, COVID-19)
    #[arg(long)]
    class: Option<String>,
    /// Folder for the report
    #[arg(long)]
    out: PathBuf,
    /// Seed of the bootstrap
    #[arg(long, default_value_t = 2020)]
    seed: u64,
    #[command(flatten)]
    storage: StorageArgs,
}

pub fn run(args: EvaluateArgs) -> Result<ExitCode> {
    if args.split != "validation" && args.split != "test" {
        bail!("--split must be validation or test");
    }
    let (net, meta) = checkpoint::load(&args.model)
        .with_context(|| format!("cannot load the model in {}", args.model.display()))?;
    let test_findings = if args.split == "test" {
        Some(sequestered_findings(&args.storage, &args.release)?)
    } else {
        None
    };
    let data = read_release(
        &args.release,
        meta.task,
        meta.shape.input,
        test_findings.as_ref(),
    )
    .with_context(|| format!("cannot read the release in {}", args.release.display()))?;
    if data.release_id != meta.release_id {
        eprintln!(
            "note: the model was trained on release {}, this is {}",
            meta.release_id, data.release_id
        );
    }
    let positive = match &args.class {
        None => meta.shape.classes - 1,
        Some(name) => meta
            .classes
            .iter()
            .position(|c| c == name)
            .with_context(|| {
                format!(
                    "the model has no class {name:?}; its classes: {}",
                    meta.classes.join(", ")
                )
            })?,
    };
    let scored = |split: &str| -> Result<Vec<Scored>> {
        let cases = data.split(split);
        let examples: Vec<Example> = cases.iter().map(|c| c.example.clone()).collect();
        let probabilities = predict(&net, &examples, meta.shape.input, 32)?;
        Ok(cases
            .iter()
            .zip(probabilities)
            .map(|(c, p)| Scored {
                probability: f64::from(p[positive]),
                positive: c.example.label == positive,
                patient: c.patient.clone(),
                source: c.source.clone(),
                site: c.site.clone(),
            })
            .collect())
    };
    let cases = scored(&args.split)?;
    // The source probe: fitted on the training split's features, scored on this split's.
    let features = |split: &str| -> Result<Vec<(Vec<f32>, String)>> {
        let cases = data.split(split);
        let examples: Vec<Example> = cases.iter().map(|c| c.example.clone()).collect();
        Ok(embed(&net, &examples, meta.shape.input, 32)?
            .into_iter()
            .zip(cases.iter().map(|c| c.source.clone()))
            .collect())
    };
    let probe = source_probe(&features("train")?, &features(&args.split)?);
    if cases.is_empty() {
        bail!("the {} split has no images for this task", args.split);
    }
    let validation: Vec<(f64, bool)> = scored("validation")?
        .iter()
        .map(|c| (c.probability, c.positive))
        .collect();
    let title = format!(
        "{} on {} ({} split)",
        meta.task.name(),
        args.release
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        args.split
    );
    let positive_class = meta.classes.get(positive).cloned().unwrap_or_default();
    let r = report::build(
        &title,
        &args.split,
        &positive_class,
        &cases,
        Some(&validation),
        probe,
        meta.threshold,
        args.seed,
    );
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let write = |name: &str, text: String| {
        std::fs::write(args.out.join(name), text)
            .with_context(|| format!("cannot write {}", args.out.join(name).display()))
    };
    write("report.json", serde_json::to_string_pretty(&r)? + "\n")?;
    write("report.html", r.html())?;
    for plot in r.plots() {
        write(&format!("{}.svg", plot.name), plot.svg())?;
        let png = args.out.join(format!("{}.png", plot.name));
        plot.png()
            .save(&png)
            .with_context(|| format!("cannot write {}", png.display()))?;
    }
    let release_name = args
        .release
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    write("MODEL_CARD.md", model_card(&meta, &r, &release_name))?;
    let o = &r.overall;
    println!(
        "{}: {} images, ROC AUC {} (95% interval over patients {}), PR AUC {}",
        args.split,
        o.images,
        o.roc_auc.map_or("n/a".into(), |a| format!("{a:.3}")),
        o.roc_auc_interval
            .map_or("n/a".into(), |(a, b)| format!("{a:.3} to {b:.3}")),
        o.pr_auc.map_or("n/a".into(), |a| format!("{a:.3}")),
    );
    if let Some(w) = &r.shortcut.warning {
        println!("SHORTCUT WARNING: {w}");
    }
    println!("report: {}", args.out.join("report.html").display());
    Ok(ExitCode::SUCCESS)
}

/// The test findings of the release in `dir`, by file name, from the catalog.
pub(crate) fn sequestered_findings(
    storage: &StorageArgs,
    dir: &std::path::Path,
) -> Result<BTreeMap<String, String>> {
    let sums = dir.join("SHA256SUMS");
    let bytes = std::fs::read(&sums).with_context(|| format!("cannot read {}", sums.display()))?;
    let id = lunghub_release::manifest_sha256(&bytes);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let catalog = storage.catalog().await?;
        let Some(record) = catalog
            .releases()
            .await?
            .into_iter()
            .find(|r| r.manifest_sha256 == id)
        else {
            bail!("this catalog holds no release whose SHA256SUMS has sha256 {id}");
        };
        Ok(catalog
            .release_items(&record.name, record.version)
            .await?
            .into_iter()
            .filter(|i| i.split == "test")
            .map(|i| (i.file, i.finding))
            .collect())
    })
}
