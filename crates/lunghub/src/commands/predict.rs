//! `lunghub predict`: a trained model's probabilities for DICOM, PNG or JPEG files (the
//! built-in reference model unless --model names another), with a Grad-CAM heatmap per file
//! on request.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use lunghub_learn::data::Task;
use lunghub_learn::predictor::Predictor;

/// Frames sampled from a clip for an ultrasound model; its probabilities are their mean.
const CLIP_FRAMES: usize = 16;

#[derive(Args)]
#[command(after_help = "\
Each file is decoded by lunghub-imaging (DICOM with its window and photometric
interpretation, PNG, JPEG) and scaled to the model's input. A lung ultrasound model (from
`lunghub train-ultrasound`) also reads clips (MP4, QuickTime, AVI, MPEG, GIF): 16 evenly
spaced frames, decoded by lunghub-clips, and the mean of their probabilities. With --json, one line per file:
{\"file\": …, \"probabilities\": {\"rest\": …, \"COVID-19\": …}, \"decision\": …, \"threshold\": …}.
For a binary model the decision is the positive class when its probability reaches the
model's threshold (chosen on validation); for more classes it is the most probable one.
A file that cannot be read is reported and the others go on; the exit status is then 1,
or 2 when no file could be scored.

Research and decision support only: not a diagnostic device.")]
pub struct PredictArgs {
    /// Files to score
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The model's folder (model.safetensors and model.json); default: the reference
    /// model built into lunghub (models/cxr-covid-vs-rest in its repository)
    #[arg(long)]
    model: Option<PathBuf>,
    /// One JSON object per line instead of text
    #[arg(long)]
    json: bool,
    /// Write a Grad-CAM overlay per file (NAME.cam.png) into this folder
    #[arg(long)]
    heatmaps: Option<PathBuf>,
}

pub fn run(args: PredictArgs) -> Result<ExitCode> {
    let predictor = match &args.model {
        Some(dir) => Predictor::load(dir)
            .with_context(|| format!("cannot load the model in {}", dir.display()))?,
        None => Predictor::reference().context("cannot load the built-in reference model")?,
    };
    if let Some(dir) = &args.heatmaps {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut failed = 0;
    for file in &args.files {
        let scored = std::fs::read(file)
            .map_err(anyhow::Error::from)
            .and_then(|bytes| {
                if lunghub_clips::sniff(&bytes).is_some() {
                    if predictor.meta().task != Task::LungUltrasound {
                        bail!(
                            "a video clip: this model reads single chest radiographs (DICOM, \
                             PNG or JPEG), not ultrasound clips"
                        );
                    }
                    let limits = lunghub_clips::ClipLimits {
                        samples: CLIP_FRAMES,
                        ..lunghub_clips::ClipLimits::default()
                    };
                    let clip = lunghub_clips::read_clip(&bytes, &limits)?;
                    let frames: Vec<image::DynamicImage> = clip
                        .samples
                        .into_iter()
                        .map(image::DynamicImage::ImageRgb8)
                        .collect();
                    return Ok(predictor.predict_frames(&frames)?);
                }
                let decoded = lunghub_imaging::decode(&bytes)?;
                Ok(predictor.predict(&decoded.display, args.heatmaps.is_some())?)
            });
        let p = match scored {
            Ok(p) => p,
            Err(e) => {
                failed += 1;
                if args.json {
                    println!(
                        "{}",
                        serde_json::json!({"file": file.display().to_string(), "error": format!("{e:#}")})
                    );
                } else {
                    eprintln!("{}: cannot score it: {e:#}", file.display());
                }
                continue;
            }
        };
        if let (Some(dir), Some(heatmap)) = (&args.heatmaps, &p.heatmap) {
            let stem = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "image".into());
            let out = dir.join(format!("{stem}.cam.png"));
            heatmap
                .save(&out)
                .with_context(|| format!("cannot write {}", out.display()))?;
        }
        let probabilities: BTreeMap<&str, f64> = p
            .probabilities
            .iter()
            .map(|(c, v)| (c.as_str(), *v))
            .collect();
        if args.json {
            println!(
                "{}",
                serde_json::json!({
                    "file": file.display().to_string(),
                    "probabilities": probabilities,
                    "decision": p.decision,
                    "threshold": p.threshold,
                })
            );
        } else {
            let shown: Vec<String> = p
                .probabilities
                .iter()
                .map(|(c, v)| format!("{c} {:.1}%", v * 100.0))
                .collect();
            println!("{}: {} ({})", file.display(), p.decision, shown.join(", "));
        }
    }
    if failed == args.files.len() {
        bail!("no file could be scored");
    }
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
