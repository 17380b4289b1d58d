//! `lunghub train-ultrasound`: the lung ultrasound frame classifier, cross-validated per clip
//! by group, then trained on every clip and saved like any lunghub model.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use lunghub_learn::checkpoint::{self, Meta};
use lunghub_learn::data::{Task, pixels_of};
use lunghub_learn::model::Shape;
use lunghub_learn::train::Settings;
use lunghub_learn::ultrasound::{Clip, cross_validate, train_final};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

#[derive(Args)]
#[command(after_help = "\
FOLDER holds clips (MP4, QuickTime, AVI, MPEG, GIF) and still images named as the POCUS
collection names them: the prefix gives the label (Cov: COVID-19; Pneu, Vir: pneumonia;
Reg: healthy), read by lunghub-intake's POCUS label reader. Files under a folder named
label_uncertain, and files without a known prefix, are left out.

Each clip gives --frames evenly spaced frames, decoded by lunghub-clips (ffmpeg); a clip's
probabilities are the mean of its frames'. Clips are grouped by case: the file name without
its trailing numbered parts (every Pneu_northumbria_0409_setN_vidM is one group), so no case
is in two folds. OUT receives model.safetensors, model.json, ultrasound-report.json
and ultrasound-report.md (per-class precision, recall and F1, the confusion matrix, the
COVID-19-vs-rest ROC AUC with its interval, thresholds by FN:FP cost).")]
pub struct UltrasoundArgs {
    /// Folder of clips and images (for example ../shared/data/lus-pocus-dev)
    folder: PathBuf,
    /// Folder for the model and the report
    #[arg(long)]
    out: PathBuf,
    /// Frames sampled from each clip
    #[arg(long, default_value_t = 8)]
    frames: usize,
    #[arg(long, default_value_t = 5)]
    folds: usize,
    /// Side of the square input in pixels
    #[arg(long, default_value_t = 128)]
    side: usize,
    #[arg(long, default_value_t = 12)]
    epochs: usize,
    #[arg(long, default_value_t = 2020)]
    seed: u64,
}

/// The case a POCUS file belongs to: its stem without its trailing parts that carry a
/// number (`_vid3`, `_set2`, `_0409`, `+(44)`), so numbered clips of one case, or of one
/// collector's series, stay together. Coarser than a patient where a collector numbered
/// different patients: that only keeps more clips together, never splits one patient.
pub fn case_of(stem: &str) -> String {
    let cut = stem.rfind(['_', '-', '+', ' ']);
    match cut {
        Some(i) if stem[i + 1..].chars().any(|c| c.is_ascii_digit()) && i > 0 => {
            case_of(&stem[..i])
        }
        _ => stem.to_owned(),
    }
}

/// A file, its class, and its frames (or why it could not be read).
type Decoded = (PathBuf, usize, Result<Vec<Vec<f32>>>);

fn decode(path: &Path, frames: usize, side: usize) -> Result<Vec<Vec<f32>>> {
    let bytes = std::fs::read(path)?;
    if lunghub_clips::sniff(&bytes).is_some() {
        let limits = lunghub_clips::ClipLimits {
            samples: frames,
            ..lunghub_clips::ClipLimits::default()
        };
        let clip = lunghub_clips::read_clip(&bytes, &limits)?;
        return Ok(clip
            .samples
            .into_iter()
            .map(|f| pixels_of(&image::DynamicImage::ImageRgb8(f), side))
            .collect());
    }
    let decoded = lunghub_imaging::decode(&bytes)?;
    Ok(vec![pixels_of(&decoded.display, side)])
}

pub fn run(args: UltrasoundArgs) -> Result<ExitCode> {
    let task = Task::LungUltrasound;
    let mut files: Vec<(PathBuf, usize)> = Vec::new();
    let mut left_out = 0;
    for entry in walkdir::WalkDir::new(&args.folder)
        .follow_links(true)
        .sort_by_file_name()
    {
        let entry = entry.with_context(|| format!("cannot read {}", args.folder.display()))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let path = entry.path();
        let name = entry.file_name().to_string_lossy();
        let uncertain = path
            .components()
            .any(|c| c.as_os_str() == "label_uncertain");
        match lunghub_intake::sources::pocus_finding(&name).and_then(|f| task.class_of(f)) {
            Some(label) if !uncertain => files.push((path.to_path_buf(), label)),
            _ => left_out += usize::from(name != "dataset_metadata.csv"),
        }
    }
    if files.is_empty() {
        bail!(
            "no labelled clips or images under {}",
            args.folder.display()
        );
    }
    eprintln!(
        "decoding {} files ({} left out: unlabelled or label_uncertain)",
        files.len(),
        left_out
    );
    let decoded: Vec<Decoded> = files
        .into_par_iter()
        .map(|(path, label)| {
            let frames = decode(&path, args.frames, args.side);
            (path, label, frames)
        })
        .collect();
    let mut clips = Vec::new();
    let mut hasher = Sha256::new();
    hasher.update(format!("{}\n{}\n{}\n", task.name(), args.side, args.frames));
    for (path, label, frames) in decoded {
        let frames = match frames {
            Ok(f) if !f.is_empty() => f,
            Ok(_) => {
                eprintln!("{}: no frames, left out", path.display());
                continue;
            }
            Err(e) => {
                eprintln!("{}: cannot read it, left out: {e:#}", path.display());
                continue;
            }
        };
        let name = path
            .strip_prefix(&args.folder)
            .unwrap_or(&path)
            .display()
            .to_string();
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        hasher.update(format!("{name} {label} {}\n", frames.len()));
        clips.push(Clip {
            name,
            group: case_of(&stem),
            label,
            frames,
        });
    }
    let data_hash: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let shape = Shape {
        input: args.side,
        classes: task.classes().len(),
        ..Shape::default()
    };
    let settings = Settings {
        epochs: args.epochs,
        seed: args.seed,
        ..Settings::default()
    };
    let started = std::time::Instant::now();
    let report = cross_validate(&clips, task.classes(), args.folds, &shape, &settings, |m| {
        eprintln!("[{:>5.0} s] {m}", started.elapsed().as_secs_f64());
    })?;
    eprintln!(
        "[{:>5.0} s] the final model, on every clip",
        started.elapsed().as_secs_f64()
    );
    let (net, history) = train_final(&clips, &shape, &settings, |e| {
        eprintln!("epoch {}/{}: loss {:.4}", e.epoch, settings.epochs, e.loss);
    })?;
    let frames: usize = clips.iter().map(|c| c.frames.len()).sum();
    let meta = Meta {
        task,
        classes: task.classes().iter().map(|c| c.to_string()).collect(),
        shape,
        settings,
        release_id: format!("folder:{}", args.folder.display()),
        data_hash,
        train_images: frames,
        validation_images: 0,
        history,
        // The record of the COVID-19 threshold at FN:FP 1:1 (decisions take the most probable
        // class); "never" (infinite) is kept as 1.0, which JSON can hold.
        threshold: report.costs.first().map_or(0.5, |c| {
            if c.threshold.is_finite() {
                c.threshold
            } else {
                1.0
            }
        }),
        lunghub_version: env!("CARGO_PKG_VERSION").into(),
    };
    checkpoint::save(&args.out, &net, &meta)?;
    super::write_report(&args.out, "ultrasound-report", &report, &report.markdown())?;
    println!(
        "{} clips in {} groups; model and report in {}",
        report.clips,
        report.groups,
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::case_of;

    #[test]
    fn numbered_clips_of_one_case_share_a_group() {
        assert_eq!(
            case_of("Pneu_northumbria_0409_set2_vid1"),
            "Pneu_northumbria"
        );
        assert_eq!(
            case_of("Pneu_northumbria_0409_set6_vid4"),
            "Pneu_northumbria"
        );
        assert_eq!(case_of("Cov-Atlas+(44)"), "Cov-Atlas");
        assert_eq!(case_of("Cov-Atlas-Day+3"), "Cov-Atlas-Day");
        assert_eq!(case_of("Pneu_liftl_pneu_case3_clip5"), "Pneu_liftl_pneu");
        assert_eq!(case_of("Reg-NormalLungs"), "Reg-NormalLungs");
    }
}
