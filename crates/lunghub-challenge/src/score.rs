//! Scoring a submission against the hidden labels of one part of the test set.
//!
//! Every metric is fixed when the challenge is declared (the positive class, the threshold
//! for F1, the 95% operating points) so that nobody picks the flattering one afterwards.
//! The ranking metric is the ROC AUC of the positive class against the rest: it needs no
//! threshold and does not reward calibrating to the test set's prevalence. Its interval
//! resamples patients, not images, since images of one patient are not independent.

use std::collections::{BTreeMap, BTreeSet};

use lunghub_learn::metrics::{
    at_sensitivity, at_specificity, at_threshold, bootstrap_interval, roc_auc,
};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Bootstrap replicates for the AUC's interval.
pub const REPLICATES: usize = 1000;

/// The operating points reported: sensitivity where specificity is at least this, and the
/// other way round.
pub const OPERATING_TARGET: f64 = 0.95;

/// One test image's hidden truth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    pub id: String,
    pub patient: String,
    /// The contributing site or data set, reported separately because a model can do well
    /// overall by recognising sources rather than disease.
    pub source: String,
    /// Index into the challenge's declared classes.
    pub class: usize,
}

/// The results of one submission on one part of the test set. Metrics that are undefined on
/// these cases (one class missing) are `None`, never a number that means nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub cases: usize,
    pub positives: usize,
    pub patients: usize,
    pub auc: Option<f64>,
    /// 95% interval of the AUC by the bootstrap over patients.
    pub auc_interval: Option<(f64, f64)>,
    pub sensitivity_at_95_specificity: Option<f64>,
    pub specificity_at_95_sensitivity: Option<f64>,
    /// The declared threshold F1 is taken at (positive when probability >= threshold).
    pub threshold: f64,
    pub f1: Option<f64>,
    /// Per source, in the order of their names.
    pub sources: Vec<SourceScores>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceScores {
    pub source: String,
    pub cases: usize,
    pub positives: usize,
    pub auc: Option<f64>,
}

impl Scores {
    /// The number leaderboards rank by.
    pub fn headline(&self) -> Option<f64> {
        self.auc
    }
}

/// Why a submission cannot be scored. A parsed [`crate::Predictions`] for the same test set
/// never gives these; they guard callers that assemble probabilities some other way.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ScoreError {
    #[error("no prediction for test image '{0}'")]
    NoPrediction(String),
    #[error("the prediction for test image '{id}' is {value}, not a probability")]
    NotAProbability { id: String, value: f64 },
}

/// Scores the probabilities of class `positive` on `truth` (one part of the test set).
/// `seed` fixes the bootstrap so that a score never changes when recomputed.
pub fn score(
    truth: &[Case],
    positive: usize,
    threshold: f64,
    probability_of: impl Fn(&str) -> Option<f64>,
    seed: u64,
) -> Result<Scores, ScoreError> {
    let mut scores = Vec::with_capacity(truth.len());
    for case in truth {
        let p =
            probability_of(&case.id).ok_or_else(|| ScoreError::NoPrediction(case.id.clone()))?;
        if !(0.0..=1.0).contains(&p) {
            return Err(ScoreError::NotAProbability {
                id: case.id.clone(),
                value: p,
            });
        }
        scores.push(p);
    }
    let labels: Vec<bool> = truth.iter().map(|c| c.class == positive).collect();
    let patients: Vec<&str> = truth.iter().map(|c| c.patient.as_str()).collect();

    let mut by_source: BTreeMap<&str, (Vec<f64>, Vec<bool>)> = BTreeMap::new();
    for ((case, &s), &l) in truth.iter().zip(&scores).zip(&labels) {
        let entry = by_source.entry(case.source.as_str()).or_default();
        entry.0.push(s);
        entry.1.push(l);
    }
    let sources = by_source
        .into_iter()
        .map(|(source, (s, l))| SourceScores {
            source: source.to_owned(),
            cases: s.len(),
            positives: l.iter().filter(|&&l| l).count(),
            auc: roc_auc(&s, &l),
        })
        .collect();

    Ok(Scores {
        cases: truth.len(),
        positives: labels.iter().filter(|&&l| l).count(),
        patients: patients.iter().collect::<BTreeSet<_>>().len(),
        auc: roc_auc(&scores, &labels),
        auc_interval: bootstrap_interval(&scores, &labels, &patients, REPLICATES, seed, roc_auc),
        sensitivity_at_95_specificity: at_specificity(&scores, &labels, OPERATING_TARGET)
            .and_then(|p| p.sensitivity),
        specificity_at_95_sensitivity: at_sensitivity(&scores, &labels, OPERATING_TARGET)
            .and_then(|p| p.specificity),
        threshold,
        f1: at_threshold(&scores, &labels, threshold).f1,
        sources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(id: &str, patient: &str, source: &str, class: usize) -> Case {
        Case {
            id: id.into(),
            patient: patient.into(),
            source: source.into(),
            class,
        }
    }

    #[test]
    fn a_tiny_case_worked_by_hand() {
        // Positives 0.4 and 0.8, negatives 0.1 and 0.6: three of the four positive-negative
        // pairs are ordered right, so the AUC is 3/4.
        let truth = [
            case("a", "p1", "x", 1),
            case("b", "p2", "x", 0),
            case("c", "p3", "y", 1),
            case("d", "p4", "y", 0),
        ];
        let p = |id: &str| match id {
            "a" => Some(0.4),
            "b" => Some(0.1),
            "c" => Some(0.8),
            "d" => Some(0.6),
            _ => None,
        };
        let s = score(&truth, 1, 0.5, p, 7).expect("scored");
        assert_eq!((s.cases, s.positives, s.patients), (4, 2, 4));
        assert_eq!(s.auc, Some(0.75));
        assert_eq!(s.headline(), Some(0.75));
        // At 0.5: c is a true positive, d a false positive, a a false negative: F1 = 2/4.
        assert_eq!(s.f1, Some(0.5));
        // Specificity 1 only above 0.6: c alone, sensitivity 1/2.
        assert_eq!(s.sensitivity_at_95_specificity, Some(0.5));
        // Sensitivity 1 needs 0.4, which lets d through: specificity 1/2.
        assert_eq!(s.specificity_at_95_sensitivity, Some(0.5));
        assert_eq!(s.sources[0].source, "x");
        assert_eq!(s.sources[0].auc, Some(1.0));
        assert_eq!(s.sources[1].auc, Some(1.0));
        // The same seed, the same interval.
        assert_eq!(score(&truth, 1, 0.5, p, 7).expect("scored"), s);
    }

    #[test]
    fn undefined_metrics_are_none_and_missing_predictions_refused() {
        let truth = [case("a", "p1", "x", 0), case("b", "p2", "x", 0)];
        let s = score(&truth, 1, 0.5, |_| Some(0.3), 1).expect("scored");
        assert_eq!(s.auc, None);
        assert_eq!(s.auc_interval, None);
        assert_eq!(s.sensitivity_at_95_specificity, None);
        assert_eq!(s.sources[0].auc, None);
        assert_eq!(
            score(&truth, 1, 0.5, |id| (id == "a").then_some(0.3), 1),
            Err(ScoreError::NoPrediction("b".into()))
        );
        assert!(score(&truth, 1, 0.5, |_| Some(f64::NAN), 1).is_err());
    }

    #[test]
    fn scores_round_trip_through_json() {
        let truth = [case("a", "p1", "x", 1), case("b", "p1", "x", 0)];
        let s = score(
            &truth,
            1,
            0.5,
            |id| Some(if id == "a" { 0.9 } else { 0.2 }),
            3,
        )
        .expect("scored");
        let json = serde_json::to_string(&s).expect("json");
        assert_eq!(serde_json::from_str::<Scores>(&json).expect("back"), s);
    }
}
