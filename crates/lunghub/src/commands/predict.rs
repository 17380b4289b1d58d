//! `lunghub predict`: a trained model's probabilities for DICOM, PNG or JPEG files, with a
//! Grad-CAM heatmap per file on request.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use lunghub_learn::checkpoint;
use lunghub_learn::data::pixels_of;
use lunghub_learn::explain::{class_activation, overlay};
use lunghub_learn::train::{Example, predict};

#[derive(Args)]
#[command(after_help = "\
Each file is decoded by lunghub-imaging (DICOM with its window and photometric
interpretation, PNG, JPEG) and scaled to the model's input. With --json, one line per file:
{\"file\": …, \"probabilities\": {\"rest\": …, \"COVID-19\": …}, \"decision\": …, \"threshold\": …}.
For a binary model the decision is the positive class when its probability reaches the
model's threshold (chosen on validation); for more classes it is the most probable one.
A file that cannot be read is reported and the others go on; the exit status is then 1.

Research and decision support only: not a diagnostic device.")]
pub struct PredictArgs {
    /// Files to score
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The model's folder (model.safetensors and model.json)
    #[arg(long)]
    model: PathBuf,
    /// One JSON object per line instead of text
    #[arg(long)]
    json: bool,
    /// Write a Grad-CAM overlay per file (NAME.cam.png) into this folder
    #[arg(long)]
    heatmaps: Option<PathBuf>,
}

pub fn run(args: PredictArgs) -> Result<ExitCode> {
    let (net, meta) = checkpoint::load(&args.model)
        .with_context(|| format!("cannot load the model in {}", args.model.display()))?;
    if let Some(dir) = &args.heatmaps {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let side = meta.shape.input;
    let positive = meta.shape.classes - 1;
    let mut failed = 0;
    for file in &args.files {
        let decoded = std::fs::read(file)
            .map_err(anyhow::Error::from)
            .and_then(|bytes| Ok(lunghub_imaging::decode(&bytes)?));
        let decoded = match decoded {
            Ok(d) => d,
            Err(e) => {
                failed += 1;
                if args.json {
                    println!(
                        "{}",
                        serde_json::json!({"file": file.display().to_string(), "error": e.to_string()})
                    );
                } else {
                    eprintln!("{}: cannot read it: {e}", file.display());
                }
                continue;
            }
        };
        let example = Example {
            pixels: pixels_of(&decoded.display, side),
            label: 0,
        };
        let p = predict(&net, std::slice::from_ref(&example), side, 1)?
            .into_iter()
            .next()
            .context("the model returned nothing")?;
        let decision = if meta.shape.classes == 2 {
            if f64::from(p[positive]) >= meta.threshold {
                positive
            } else {
                0
            }
        } else {
            (0..p.len())
                .max_by(|&a, &b| p[a].total_cmp(&p[b]))
                .unwrap_or(0)
        };
        let probabilities: BTreeMap<&str, f64> = meta
            .classes
            .iter()
            .map(String::as_str)
            .zip(p.iter().map(|v| f64::from(*v)))
            .collect();
        if let Some(dir) = &args.heatmaps {
            let (cam, h, w) = class_activation(&net, &example.pixels, side, decision)?;
            let stem = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "image".into());
            let out = dir.join(format!("{stem}.cam.png"));
            overlay(&decoded.display, &cam, h, w)
                .save(&out)
                .with_context(|| format!("cannot write {}", out.display()))?;
        }
        let decision = meta.classes.get(decision).cloned().unwrap_or_default();
        if args.json {
            println!(
                "{}",
                serde_json::json!({
                    "file": file.display().to_string(),
                    "probabilities": probabilities,
                    "decision": decision,
                    "threshold": meta.threshold,
                })
            );
        } else {
            let shown: Vec<String> = probabilities
                .iter()
                .map(|(c, v)| format!("{c} {:.1}%", v * 100.0))
                .collect();
            println!("{}: {decision} ({})", file.display(), shown.join(", "));
        }
    }
    if failed == args.files.len() {
        bail!("no file could be read");
    }
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
