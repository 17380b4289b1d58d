//! The model card: what a model is for, what it saw, how well it did with intervals, and
//! where it must not be trusted. Written from the checkpoint's record and an evaluation
//! report only, so every number in it traces to a run; no timings, so that a retrained
//! model gives the same card byte for byte.

use std::fmt::Write as _;

use burn::prelude::*;

use crate::checkpoint::Meta;
use crate::metrics::OperatingPoint;
use crate::report::{Report, Summary};

fn num(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.3}"))
}

fn interval(v: Option<(f64, f64)>) -> String {
    v.map_or("n/a".into(), |(a, b)| format!("{a:.3}–{b:.3}"))
}

fn point_row(name: &str, p: &OperatingPoint) -> String {
    format!("| {name} | {} |", p.cells().join(" | "))
}

fn summary_row(name: &str, s: &Summary) -> String {
    format!(
        "| {name} | {} | {} | {} | {} | {} | {} | {} | {} |",
        s.images,
        s.patients,
        s.positives,
        num(s.roc_auc),
        interval(s.roc_auc_interval),
        num(s.pr_auc),
        num(s.at_threshold.sensitivity),
        num(s.at_threshold.specificity),
    )
}

/// The card in Markdown. `release` names the release the report was computed on.
pub fn model_card(meta: &Meta, report: &Report, release: &str) -> String {
    let mut s = String::new();
    let classes = meta.classes.join(", ");
    let params = crate::model::Net::new(&meta.shape, &Device::flex()).num_params();
    let best = meta
        .history
        .iter()
        .filter(|e| e.validation_auc.is_some())
        .max_by(|a, b| {
            (
                a.validation_auc,
                -a.validation_loss.unwrap_or(f64::INFINITY),
            )
                .partial_cmp(&(
                    b.validation_auc,
                    -b.validation_loss.unwrap_or(f64::INFINITY),
                ))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
    let o = &report.overall;
    let _ = writeln!(
        s,
        "# Model card: lunghub {} ({classes})\n",
        meta.task.name()
    );
    s.push_str(
        "## Intended use\n\n\
         - **Research and decision support only. This is not a diagnostic device.** It has not \
         been validated prospectively, on any hospital's own images, or by any regulator.\n\
         - For data scientists comparing methods on lunghub's releases, and for clinicians \
         exploring what such a model attends to. A clinician's reading of the whole study \
         decides; a probability from this model never does.\n\
         - Input: one frontal chest radiograph (DICOM, PNG or JPEG), adult. Not for \
         children, lateral views, CT or ultrasound.\n\n",
    );
    let _ = writeln!(s, "## Model\n");
    let _ = writeln!(
        s,
        "- A small ResNet (four residual stages of widths {:?}, {params} parameters), \
         {side}×{side} grayscale input, {} outputs ({classes}), softmax.",
        meta.shape.widths,
        meta.shape.classes,
        side = meta.shape.input
    );
    let _ = writeln!(
        s,
        "- Decision: {} when its probability reaches **{:.3}**, the threshold that minimised \
         expected cost at FN:FP = 1:1 on validation.",
        meta.classes.last().map_or("", String::as_str),
        meta.threshold
    );
    let _ = writeln!(
        s,
        "- Weights: `model.safetensors` (tensor names in `lunghub-learn`'s `checkpoint` \
         module); the run's record: `model.json`.\n"
    );
    let _ = writeln!(s, "## Data\n");
    let _ = writeln!(
        s,
        "- Release `{release}`, id `{}` (the sha256 of its SHA256SUMS); data hash `{}`.",
        meta.release_id, meta.data_hash
    );
    let _ = writeln!(
        s,
        "- {} training and {} validation images; splits by patient, from the release.",
        meta.train_images, meta.validation_images
    );
    let settings = &meta.settings;
    let _ = writeln!(
        s,
        "- Training: AdamW (learning rate {}, weight decay {}), cosine schedule, batch {}, \
         up to {} epochs with early stopping on validation ROC AUC (patience {}), class \
         weights, {}, seed {}.",
        settings.learning_rate,
        settings.weight_decay,
        settings.batch,
        settings.epochs,
        settings.patience,
        if settings.augment {
            "small shifts and intensity jitter"
        } else {
            "no augmentation"
        },
        settings.seed
    );
    if let Some(best) = best {
        let _ = writeln!(
            s,
            "- Kept epoch {} of {}: validation ROC AUC {}.",
            best.epoch,
            meta.history.len(),
            num(best.validation_auc)
        );
    }
    let _ = writeln!(
        s,
        "\n## Results on the {} split\n\n\
         Intervals are 95% bootstrap intervals resampling patients.\n",
        report.split
    );
    s.push_str(
        "| | images | patients | positives | ROC AUC | 95% interval | PR AUC | sensitivity | specificity |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    let _ = writeln!(s, "{}", summary_row("all", o));
    for (source, summary) in &report.by_source {
        let _ = writeln!(s, "{}", summary_row(source, summary));
    }
    s.push_str(
        "\n| operating point | threshold | sensitivity | specificity | PPV | NPV | F1 | TP | FP | TN | FN |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for (name, p) in &report.operating_points {
        let _ = writeln!(s, "{}", point_row(name, p));
    }
    let _ = writeln!(
        s,
        "\nCalibration: expected calibration error {:.3}{}.",
        report.ece,
        match (report.temperature, report.ece_scaled) {
            (Some(t), Some(e)) =>
                format!("; {e:.3} after temperature scaling (T = {t:.2}, fitted on validation)"),
            _ => String::new(),
        }
    );
    let sc = &report.shortcut;
    let _ = writeln!(s, "\n## Shortcut check\n");
    let _ = writeln!(
        s,
        "- Disease ROC AUC within one source: {}; pairs from the same source: {}; pairs \
         from different sources: {}.",
        num(sc.within_source_auc),
        num(sc.same_source_pairs_auc),
        num(sc.cross_source_pairs_auc)
    );
    if let Some(p) = &sc.source_probe {
        let _ = writeln!(
            s,
            "- A linear probe on the model's features tells {} from {} with ROC AUC {:.3}.",
            p.sources.0, p.sources.1, p.auc
        );
    }
    match &sc.warning {
        Some(w) => {
            let _ = writeln!(s, "- **Warning:** {w}");
        }
        None => {
            let _ = writeln!(
                s,
                "- No warning: the model does not tell sources apart better than the disease."
            );
        }
    }
    let _ = writeln!(s, "\n## Limitations\n");
    let tangled: Vec<String> = sc
        .prevalence_by_source
        .iter()
        .filter(|(_, p)| **p <= 0.05 || **p >= 0.95)
        .map(|(source, p)| format!("{source} ({:.0}% positive)", p * 100.0))
        .collect();
    if !tangled.is_empty() {
        let _ = writeln!(
            s,
            "- Label and source are tangled: {}. Within such a source the model cannot be \
             checked on both classes, and the pooled AUC partly rewards recognising the \
             source. Trust the within-source rows above more than the pooled one.",
            tangled.join(", ")
        );
    }
    let small: Vec<&str> = report
        .by_source
        .iter()
        .filter(|(_, v)| v.images < 50)
        .map(|(k, _)| k.as_str())
        .collect();
    if !small.is_empty() {
        let _ = writeln!(
            s,
            "- Few test images from {}: their rows have wide intervals.",
            small.join(", ")
        );
    }
    s.push_str(
        "- The public collections behind the release were gathered in 2020 from teaching \
         files, papers and challenge sets, not from consecutive patients: prevalence, \
         severity and image quality differ from any clinic's. PPV and NPV above hold only \
         at the test split's prevalence.\n\
         - Labels are the collections' own (often from reports or RT-PCR, not adjudicated \
         by lunghub's readers); some NIH images labelled pneumonia carry other findings.\n\
         - Images are squeezed to a small square: fine detail is lost, and burned-in \
         markers or text, which differ by hospital, remain visible to the model.\n",
    );
    s
}
