//! The protocol comparison: the same network and data scored two ways.
//!
//! - **2020** (defeatcovid19-net's protocol): 5-fold cross-validation over *images*, so one
//!   patient's images land in training and validation folds alike, and the ROC AUC of
//!   each fold computed on its *last validation batch only*, then averaged over folds.
//! - **Honest**: 5-fold cross-validation over *patients* (no patient in two folds), the
//!   out-of-fold probabilities of every image pooled into one ROC AUC, with a 95%
//!   bootstrap interval that resamples patients.
//!
//! Both train every fold the same way for a fixed number of epochs (no early stopping on
//! the held-out fold, which would leak it into model selection). The report also pools the
//! 2020 folds' out-of-fold probabilities, which separates the two faults: the patient leak
//! (pooled image-level against pooled patient-level) and the last-batch estimate (last
//! batch against pooled, within image-level folds).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;

use crate::LearnError;
use crate::data::Case;
use crate::metrics::{SplitMix, bootstrap_interval, roc_auc};
use crate::model::Shape;
use crate::train::{Example, Settings, predict, train};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fold {
    pub fold: usize,
    pub images: usize,
    /// Held-out images whose patient also has images in the fold's training set.
    pub leaked_images: usize,
    /// ROC AUC on the fold's last validation batch (None: one class only).
    pub last_batch_auc: Option<f64>,
    pub last_batch_images: usize,
    pub fold_auc: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Protocol {
    pub name: String,
    pub folds: Vec<Fold>,
    /// The mean of the folds' last-batch AUCs (the 2020 figure), over folds that have one.
    pub mean_last_batch_auc: Option<f64>,
    pub last_batch_range: Option<(f64, f64)>,
    /// ROC AUC of all out-of-fold probabilities pooled, and its interval over patients.
    pub pooled_auc: Option<f64>,
    pub pooled_interval: Option<(f64, f64)>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub images: usize,
    pub patients: usize,
    pub folds: usize,
    pub batch: usize,
    pub epochs: usize,
    pub side: usize,
    pub image_level: Protocol,
    pub patient_level: Protocol,
}

/// Fold of each case: by image (ignoring patients) or by patient (stratified by the
/// patient's majority label), shuffled by `seed`.
fn assign(cases: &[Case], folds: usize, seed: u64, by_patient: bool) -> Vec<usize> {
    let mut rng = SplitMix::new(seed);
    if !by_patient {
        let mut order: Vec<usize> = (0..cases.len()).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        let mut fold = vec![0; cases.len()];
        for (k, &i) in order.iter().enumerate() {
            fold[i] = k % folds;
        }
        return fold;
    }
    let mut labels: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for c in cases {
        let e = labels.entry(c.patient.as_str()).or_default();
        e.0 += 1;
        e.1 += usize::from(c.example.label == 1);
    }
    let mut patients: Vec<(&str, bool)> = labels
        .iter()
        .map(|(p, (n, pos))| (*p, 2 * pos >= *n))
        .collect();
    for i in (1..patients.len()).rev() {
        patients.swap(i, rng.below(i + 1));
    }
    // Positives and negatives dealt round-robin separately, so each fold gets its share.
    patients.sort_by_key(|(_, positive)| *positive);
    let fold_of: BTreeMap<&str, usize> = patients
        .iter()
        .enumerate()
        .map(|(k, (p, _))| (*p, k % folds))
        .collect();
    cases.iter().map(|c| fold_of[c.patient.as_str()]).collect()
}

fn run_protocol(
    name: &str,
    cases: &[Case],
    fold_of: &[usize],
    folds: usize,
    shape: &Shape,
    settings: &Settings,
    progress: &mut impl FnMut(&str),
) -> Result<Protocol, LearnError> {
    let mut pooled = vec![f64::NAN; cases.len()];
    let mut out = Vec::new();
    for fold in 0..folds {
        let (held, kept): (Vec<usize>, Vec<usize>) =
            (0..cases.len()).partition(|&i| fold_of[i] == fold);
        let train_set: Vec<Example> = kept.iter().map(|&i| cases[i].example.clone()).collect();
        let held_set: Vec<Example> = held.iter().map(|&i| cases[i].example.clone()).collect();
        let train_patients: BTreeSet<&str> =
            kept.iter().map(|&i| cases[i].patient.as_str()).collect();
        progress(&format!(
            "{name}: fold {}/{folds}, training on {} images",
            fold + 1,
            train_set.len()
        ));
        let (net, _) = train(shape, &train_set, &[], settings, |_| {})?;
        let p: Vec<f64> = predict(&net, &held_set, shape.input, settings.batch)?
            .iter()
            .map(|p| f64::from(p[1]))
            .collect();
        let labels: Vec<bool> = held_set.iter().map(|e| e.label == 1).collect();
        for (k, &i) in held.iter().enumerate() {
            pooled[i] = p[k];
        }
        // The validation loader's batches, in order: the last one is what 2020 scored.
        let last = match held.len() % settings.batch {
            0 => settings.batch.min(held.len()),
            r => r,
        };
        let from = held.len() - last;
        out.push(Fold {
            fold: fold + 1,
            images: held.len(),
            leaked_images: held
                .iter()
                .filter(|&&i| train_patients.contains(cases[i].patient.as_str()))
                .count(),
            last_batch_auc: roc_auc(&p[from..], &labels[from..]),
            last_batch_images: last,
            fold_auc: roc_auc(&p, &labels),
        });
    }
    let last: Vec<f64> = out.iter().filter_map(|f| f.last_batch_auc).collect();
    let labels: Vec<bool> = cases.iter().map(|c| c.example.label == 1).collect();
    let patients: Vec<&str> = cases.iter().map(|c| c.patient.as_str()).collect();
    Ok(Protocol {
        name: name.into(),
        mean_last_batch_auc: (!last.is_empty())
            .then(|| last.iter().sum::<f64>() / last.len() as f64),
        last_batch_range: (!last.is_empty()).then(|| {
            (
                last.iter().copied().fold(f64::INFINITY, f64::min),
                last.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            )
        }),
        pooled_auc: roc_auc(&pooled, &labels),
        pooled_interval: bootstrap_interval(
            &pooled,
            &labels,
            &patients,
            1000,
            settings.seed,
            roc_auc,
        ),
        folds: out,
    })
}

/// Runs both protocols on `cases` (labelled images with patients; binary labels).
pub fn compare(
    cases: &[Case],
    folds: usize,
    shape: &Shape,
    settings: &Settings,
    mut progress: impl FnMut(&str),
) -> Result<Comparison, LearnError> {
    if folds < 2 || cases.len() < folds * 2 {
        return Err(LearnError::Input(format!(
            "{} images cannot be split into {folds} folds",
            cases.len()
        )));
    }
    // Every fold trains for all its epochs: without a validation set, early stopping
    // has nothing to stop on.
    let settings = Settings {
        patience: settings.epochs + 1,
        ..settings.clone()
    };
    let image_folds = assign(cases, folds, settings.seed, false);
    let patient_folds = assign(cases, folds, settings.seed, true);
    let image_level = run_protocol(
        "2020: image-level folds, last-batch AUC",
        cases,
        &image_folds,
        folds,
        shape,
        &settings,
        &mut progress,
    )?;
    let patient_level = run_protocol(
        "honest: patient-level folds, pooled AUC",
        cases,
        &patient_folds,
        folds,
        shape,
        &settings,
        &mut progress,
    )?;
    Ok(Comparison {
        images: cases.len(),
        patients: cases
            .iter()
            .map(|c| c.patient.as_str())
            .collect::<BTreeSet<_>>()
            .len(),
        folds,
        batch: settings.batch,
        epochs: settings.epochs,
        side: shape.input,
        image_level,
        patient_level,
    })
}

fn num(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.3}"))
}

impl Comparison {
    /// The comparison in Markdown, with the explanation.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let (a, b) = (&self.image_level, &self.patient_level);
        let _ = writeln!(
            s,
            "# Protocol comparison\n\n{} images of {} patients, {}-fold cross-validation, \
             the same network ({} px), {} epochs per fold, batch {}.\n",
            self.images, self.patients, self.folds, self.side, self.epochs, self.batch
        );
        s.push_str("| protocol | reported AUC | last-batch AUC range | pooled out-of-fold AUC (95% interval over patients) | held-out images whose patient was in training |\n|---|---|---|---|---|\n");
        for p in [a, b] {
            let leaked: usize = p.folds.iter().map(|f| f.leaked_images).sum();
            let reported = if std::ptr::eq(p, a) {
                num(p.mean_last_batch_auc)
            } else {
                num(p.pooled_auc)
            };
            let _ = writeln!(
                s,
                "| {} | {reported} | {} | {} ({}) | {leaked} of {} |",
                p.name,
                p.last_batch_range
                    .map_or("n/a".into(), |(lo, hi)| format!("{lo:.3}–{hi:.3}")),
                num(p.pooled_auc),
                p.pooled_interval
                    .map_or("n/a".into(), |(lo, hi)| format!("{lo:.3}–{hi:.3}")),
                self.images
            );
        }
        s.push_str("\n| fold | 2020: last batch (images) | 2020: whole fold | honest: whole fold |\n|---|---|---|---|\n");
        for (fa, fb) in a.folds.iter().zip(&b.folds) {
            let _ = writeln!(
                s,
                "| {} | {} ({}) | {} | {} |",
                fa.fold,
                num(fa.last_batch_auc),
                fa.last_batch_images,
                num(fa.fold_auc),
                num(fb.fold_auc)
            );
        }
        let leaked: usize = a.folds.iter().map(|f| f.leaked_images).sum();
        let last_images: Vec<usize> = a.folds.iter().map(|f| f.last_batch_images).collect();
        let _ = writeln!(
            s,
            "\n## Why they differ\n\n\
             - **The last batch is a handful of images.** With {} held-out images per fold \
             and batch {}, the last batch held {:?} images: an AUC from so few is mostly \
             noise (it ranged {} over the folds) and is undefined when the batch has one \
             class. Averaging five such numbers does not make it an estimate of the model.\n\
             - **Image-level folds leak patients.** {leaked} of {} held-out images had a \
             patient whose other images were in training, so the model is partly scored on \
             people it has seen. Pooled over the same image-level folds the AUC is {}; \
             with patients kept apart it is {}.\n\
             {}\n\
             - **The honest figure** pools every image's out-of-fold probability into one \
             ROC AUC ({}), with an interval that resamples patients ({}). It is the one to \
             quote; defeatcovid19-net's README quoted \"~0.77 ROC AUC\" from the 2020 \
             protocol.\n\
             - Neither protocol fixes the source/label tangle of the public collections: \
             see the shortcut check in the evaluation report.",
            self.images / self.folds.max(1),
            self.batch,
            last_images,
            a.last_batch_range
                .map_or("n/a".into(), |(lo, hi)| format!("{lo:.3}–{hi:.3}")),
            self.images,
            num(a.pooled_auc),
            num(b.pooled_auc),
            match (a.pooled_auc, b.pooled_auc) {
                (Some(x), Some(y)) if (x - y).abs() < 0.02 => format!(
                    "- Here the leak moved the pooled AUC little: most patients have one \
                     image ({} images of {} patients), so few held-out images had a twin \
                     in training.",
                    self.images, self.patients
                ),
                (Some(x), Some(y)) if x > y => {
                    format!("- Here the leak inflated the pooled AUC by {:.3}.", x - y)
                }
                _ => "- Here the leak did not inflate the pooled AUC.".to_owned(),
            },
            num(b.pooled_auc),
            b.pooled_interval
                .map_or("n/a".into(), |(lo, hi)| format!("{lo:.3}–{hi:.3}")),
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(patient: &str, label: usize) -> Case {
        Case {
            file: format!("{patient}-{label}.png"),
            patient: patient.into(),
            source: "s".into(),
            site: "s".into(),
            split: "train".into(),
            example: Example {
                pixels: vec![0.0; 4],
                label,
            },
        }
    }

    #[test]
    fn patient_folds_never_split_a_patient_and_image_folds_do() {
        let cases: Vec<Case> = (0..40)
            .flat_map(|p| (0..3).map(move |_| case(&format!("p{p}"), p % 2)))
            .collect();
        let by_patient = assign(&cases, 5, 7, true);
        let mut fold_of: BTreeMap<&str, BTreeSet<usize>> = BTreeMap::new();
        for (c, f) in cases.iter().zip(&by_patient) {
            fold_of.entry(&c.patient).or_default().insert(*f);
        }
        assert!(fold_of.values().all(|f| f.len() == 1));
        // Each fold gets both classes, and the folds are balanced.
        for f in 0..5 {
            let members: Vec<&Case> = cases
                .iter()
                .zip(&by_patient)
                .filter(|(_, k)| **k == f)
                .map(|(c, _)| c)
                .collect();
            assert_eq!(members.len(), 24);
            assert!(members.iter().any(|c| c.example.label == 1));
            assert!(members.iter().any(|c| c.example.label == 0));
        }
        let by_image = assign(&cases, 5, 7, false);
        let mut split = 0;
        let mut fold_of: BTreeMap<&str, BTreeSet<usize>> = BTreeMap::new();
        for (c, f) in cases.iter().zip(&by_image) {
            fold_of.entry(&c.patient).or_default().insert(*f);
        }
        split += fold_of.values().filter(|f| f.len() > 1).count();
        assert!(split > 10, "image-level folds split only {split} patients");
    }
}
