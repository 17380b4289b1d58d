//! Lung ultrasound: a frame classifier (healthy / pneumonia / COVID-19) whose frame
//! probabilities are averaged per clip. Every split is by *group* (a clip, or the clips and
//! images of one case, as the caller groups them), never by frame: frames of one clip are
//! near-copies, and a model scored on frames of clips it trained on scores itself.
//!
//! Evaluation is grouped k-fold cross-validation over the clips, per clip: precision,
//! recall and F1 per class, the confusion matrix, COVID-19-vs-rest ROC AUC with a 95%
//! interval over groups, and the threshold for each FN:FP cost ratio (the study plan's
//! "thresholds evaluation in function of the importance of false negatives/false
//! positives"). A final model is then trained on every clip.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;

use crate::LearnError;
use crate::inference::FrozenNet;
use crate::metrics::{
    CostChoice, SplitMix, average_precision, bootstrap_interval, cheapest_threshold, roc_auc,
};
use crate::model::{Net, Shape};
use crate::train::{Epoch, Example, Settings, train};

/// One clip (or still image): its frames, already scaled by [`crate::data::pixels_of`].
#[derive(Debug, Clone)]
pub struct Clip {
    pub name: String,
    /// Clips of one group always share a fold.
    pub group: String,
    pub label: usize,
    pub frames: Vec<Vec<f32>>,
}

/// Mean class probabilities of a clip's frames.
pub fn clip_probabilities(net: &FrozenNet, frames: &[Vec<f32>]) -> Result<Vec<f64>, LearnError> {
    let images: Vec<&[f32]> = frames.iter().map(Vec::as_slice).collect();
    let rows = net.probabilities_of(&images)?;
    let classes = rows.first().map_or(0, Vec::len);
    let mut mean = vec![0.0; classes];
    for r in &rows {
        for (m, v) in mean.iter_mut().zip(r) {
            *m += f64::from(*v) / rows.len() as f64;
        }
    }
    Ok(mean)
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassScores {
    pub class: String,
    pub clips: usize,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClipResult {
    pub name: String,
    pub group: String,
    pub fold: usize,
    pub truth: String,
    pub probabilities: Vec<f64>,
    pub predicted: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UltrasoundReport {
    pub classes: Vec<String>,
    pub clips: usize,
    pub groups: usize,
    pub frames: usize,
    pub folds: usize,
    /// Rows: truth; columns: the most probable class.
    pub confusion: Vec<Vec<usize>>,
    pub per_class: Vec<ClassScores>,
    pub accuracy: f64,
    /// COVID-19 against the rest, per clip.
    pub covid_auc: Option<f64>,
    pub covid_auc_interval: Option<(f64, f64)>,
    pub covid_pr_auc: Option<f64>,
    pub costs: Vec<CostChoice>,
    pub results: Vec<ClipResult>,
}

/// Groups dealt to folds: shuffled by `seed`, then round-robin within each majority class,
/// so each fold gets its share of every class.
fn folds_of(clips: &[Clip], folds: usize, seed: u64) -> BTreeMap<String, usize> {
    let mut label_of: BTreeMap<&str, BTreeMap<usize, usize>> = BTreeMap::new();
    for c in clips {
        *label_of
            .entry(c.group.as_str())
            .or_default()
            .entry(c.label)
            .or_default() += 1;
    }
    let mut groups: Vec<(&str, usize)> = label_of
        .iter()
        .map(|(g, counts)| {
            let top = counts
                .iter()
                .max_by_key(|(l, n)| (**n, std::cmp::Reverse(**l)))
                .map_or(0, |(l, _)| *l);
            (*g, top)
        })
        .collect();
    let mut rng = SplitMix::new(seed);
    for i in (1..groups.len()).rev() {
        groups.swap(i, rng.below(i + 1));
    }
    groups.sort_by_key(|(_, label)| *label);
    groups
        .iter()
        .enumerate()
        .map(|(k, (g, _))| ((*g).to_owned(), k % folds))
        .collect()
}

fn frames_of<'a>(clips: impl Iterator<Item = &'a Clip>) -> Vec<Example> {
    clips
        .flat_map(|c| {
            c.frames.iter().map(|p| Example {
                pixels: p.clone(),
                label: c.label,
            })
        })
        .collect()
}

/// Grouped cross-validation, per clip. `progress` hears of each fold.
pub fn cross_validate(
    clips: &[Clip],
    classes: &[&str],
    folds: usize,
    shape: &Shape,
    settings: &Settings,
    mut progress: impl FnMut(&str),
) -> Result<UltrasoundReport, LearnError> {
    let groups: BTreeSet<&str> = clips.iter().map(|c| c.group.as_str()).collect();
    if folds < 2 || groups.len() < folds {
        return Err(LearnError::Input(format!(
            "{} groups of clips cannot be split into {folds} folds",
            groups.len()
        )));
    }
    // No validation set inside a fold: every fold trains its epochs through.
    let settings = Settings {
        patience: settings.epochs + 1,
        ..settings.clone()
    };
    let fold_of = folds_of(clips, folds, settings.seed);
    let mut results = Vec::new();
    for fold in 0..folds {
        let in_fold = |c: &&Clip| fold_of.get(&c.group) == Some(&fold);
        let train_frames = frames_of(clips.iter().filter(|c| !in_fold(c)));
        progress(&format!(
            "fold {}/{folds}: training on {} frames",
            fold + 1,
            train_frames.len()
        ));
        let (net, _) = train(shape, &train_frames, &[], &settings, |_| {})?;
        let net = FrozenNet::new(&net, shape.input)?;
        for clip in clips.iter().filter(in_fold) {
            let p = clip_probabilities(&net, &clip.frames)?;
            let top = (0..p.len())
                .max_by(|&a, &b| p[a].total_cmp(&p[b]))
                .unwrap_or(0);
            results.push(ClipResult {
                name: clip.name.clone(),
                group: clip.group.clone(),
                fold: fold + 1,
                truth: classes[clip.label].to_owned(),
                predicted: classes[top].to_owned(),
                probabilities: p,
            });
        }
    }
    results.sort_by(|a, b| a.name.cmp(&b.name));
    let index = |name: &str| classes.iter().position(|c| *c == name).unwrap_or(0);
    let mut confusion = vec![vec![0usize; classes.len()]; classes.len()];
    for r in &results {
        confusion[index(&r.truth)][index(&r.predicted)] += 1;
    }
    let ratio = |a: usize, b: usize| (b > 0).then(|| a as f64 / b as f64);
    let per_class = (0..classes.len())
        .map(|k| {
            let tp = confusion[k][k];
            let truth: usize = confusion[k].iter().sum();
            let called: usize = confusion.iter().map(|row| row[k]).sum();
            let (precision, recall) = (ratio(tp, called), ratio(tp, truth));
            ClassScores {
                class: classes[k].to_owned(),
                clips: truth,
                precision,
                recall,
                f1: match (precision, recall) {
                    (Some(p), Some(r)) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
                    (Some(_), Some(_)) => Some(0.0),
                    _ => None,
                },
            }
        })
        .collect();
    let covid = classes.len() - 1;
    let scores: Vec<f64> = results.iter().map(|r| r.probabilities[covid]).collect();
    let labels: Vec<bool> = results.iter().map(|r| index(&r.truth) == covid).collect();
    let group_names: Vec<&str> = results.iter().map(|r| r.group.as_str()).collect();
    let correct: usize = (0..classes.len()).map(|k| confusion[k][k]).sum();
    Ok(UltrasoundReport {
        classes: classes.iter().map(|c| c.to_string()).collect(),
        clips: clips.len(),
        groups: groups.len(),
        frames: clips.iter().map(|c| c.frames.len()).sum(),
        folds,
        accuracy: correct as f64 / results.len().max(1) as f64,
        covid_auc: roc_auc(&scores, &labels),
        covid_auc_interval: bootstrap_interval(
            &scores,
            &labels,
            &group_names,
            1000,
            settings.seed,
            roc_auc,
        ),
        covid_pr_auc: average_precision(&scores, &labels),
        costs: [1.0, 2.0, 5.0, 10.0, 20.0]
            .iter()
            .filter_map(|r| cheapest_threshold(&scores, &labels, *r))
            .collect(),
        confusion,
        per_class,
        results,
    })
}

/// The final model: every clip's frames, all epochs.
pub fn train_final(
    clips: &[Clip],
    shape: &Shape,
    settings: &Settings,
    report: impl FnMut(&Epoch),
) -> Result<(Net, Vec<Epoch>), LearnError> {
    let settings = Settings {
        patience: settings.epochs + 1,
        ..settings.clone()
    };
    train(shape, &frames_of(clips.iter()), &[], &settings, report)
}

fn num(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.3}"))
}

impl UltrasoundReport {
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# Lung ultrasound: per-clip cross-validation\n\n{} clips and images in {} groups \
             ({} frames), {}-fold cross-validation by group: no clip, and no case's clips, in \
             two folds. A clip's probabilities are the mean of its frames'.\n",
            self.clips, self.groups, self.frames, self.folds
        );
        s.push_str("| class | clips | precision | recall | F1 |\n|---|---|---|---|---|\n");
        for c in &self.per_class {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                c.class,
                c.clips,
                num(c.precision),
                num(c.recall),
                num(c.f1)
            );
        }
        let _ = writeln!(s, "\nAccuracy {:.3}.\n", self.accuracy);
        let _ = write!(s, "| truth \\ called |");
        for c in &self.classes {
            let _ = write!(s, " {c} |");
        }
        let _ = writeln!(s, "\n|---|{}", "---|".repeat(self.classes.len()));
        for (row, c) in self.confusion.iter().zip(&self.classes) {
            let cells: Vec<String> = row.iter().map(usize::to_string).collect();
            let _ = writeln!(s, "| {c} | {} |", cells.join(" | "));
        }
        let _ = writeln!(
            s,
            "\nCOVID-19 against the rest, per clip: ROC AUC {} (95% interval over groups {}), \
             PR AUC {}.\n",
            num(self.covid_auc),
            self.covid_auc_interval
                .map_or("n/a".into(), |(a, b)| format!("{a:.3}–{b:.3}")),
            num(self.covid_pr_auc)
        );
        s.push_str("| FN:FP cost | threshold | sensitivity | specificity | PPV | NPV | F1 |\n|---|---|---|---|---|---|---|\n");
        for c in &self.costs {
            let p = &c.point;
            let _ = writeln!(
                s,
                "| {}:1 | {:.3} | {} | {} | {} | {} | {} |",
                c.ratio,
                c.threshold,
                num(p.sensitivity),
                num(p.specificity),
                num(p.ppv),
                num(p.npv),
                num(p.f1)
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_never_spans_two_folds_and_every_fold_gets_each_class() {
        let clips: Vec<Clip> = (0..30)
            .map(|i| Clip {
                name: format!("c{i}"),
                group: format!("g{}", i / 2),
                label: (i / 2) % 3,
                frames: vec![],
            })
            .collect();
        let folds = folds_of(&clips, 5, 3);
        assert_eq!(folds.len(), 15);
        for f in 0..5 {
            let labels: BTreeSet<usize> = clips
                .iter()
                .filter(|c| folds[&c.group] == f)
                .map(|c| c.label)
                .collect();
            assert_eq!(labels.len(), 3, "fold {f}: {labels:?}");
        }
    }
}
