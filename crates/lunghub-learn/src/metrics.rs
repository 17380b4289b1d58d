//! Metrics of a binary classifier's scores against labels, as the evaluation report and the
//! leaderboard state them: ROC and PR curves and their areas, operating points, the
//! threshold that minimises expected cost, calibration, and intervals by resampling
//! patients. The definitions follow scikit-learn's (`roc_auc_score`,
//! `average_precision_score`, `roc_curve`, `precision_recall_curve`), and the tests check
//! them against it on fixed inputs.
//!
//! Scores must be finite; a label is `true` for the positive class. Functions that need
//! both classes return `None` when one is missing, rather than a number that means nothing.

use serde::Serialize;

/// Area under the ROC curve: the probability that a random positive scores above a random
/// negative, ties counting one half (the Mann–Whitney U with average ranks).
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let positives = labels.iter().filter(|l| **l).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 || scores.len() != labels.len() {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        // Ranks i+1 ..= j+1 share their average.
        let average = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += order[i..=j].iter().filter(|&&k| labels[k]).count() as f64 * average;
        i = j + 1;
    }
    let p = positives as f64;
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * negatives as f64))
}

/// One threshold of a curve: predictions are positive when `score >= threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    pub threshold: f64,
    pub tp: usize,
    pub fp: usize,
}

/// The counts at every distinct score, from the highest down (scikit-learn's
/// `_binary_clf_curve`).
fn curve(scores: &[f64], labels: &[bool]) -> Vec<Point> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut points = Vec::new();
    let (mut tp, mut fp) = (0, 0);
    for (n, &k) in order.iter().enumerate() {
        if labels[k] {
            tp += 1;
        } else {
            fp += 1;
        }
        let last_of_tie = order
            .get(n + 1)
            .is_none_or(|&next| scores[next] != scores[k]);
        if last_of_tie {
            points.push(Point {
                threshold: scores[k],
                tp,
                fp,
            });
        }
    }
    points
}

/// ROC curve as (false positive rate, true positive rate, threshold), starting at (0, 0)
/// with an infinite threshold, every distinct score kept.
pub fn roc_curve(scores: &[f64], labels: &[bool]) -> Option<Vec<(f64, f64, f64)>> {
    let positives = labels.iter().filter(|l| **l).count() as f64;
    let negatives = labels.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 || scores.len() != labels.len() {
        return None;
    }
    let mut out = vec![(0.0, 0.0, f64::INFINITY)];
    out.extend(curve(scores, labels).iter().map(|p| {
        (
            p.fp as f64 / negatives,
            p.tp as f64 / positives,
            p.threshold,
        )
    }));
    Some(out)
}

/// Precision–recall curve as (recall, precision, threshold), from the highest threshold
/// down, ending with recall 1.
pub fn pr_curve(scores: &[f64], labels: &[bool]) -> Option<Vec<(f64, f64, f64)>> {
    let positives = labels.iter().filter(|l| **l).count() as f64;
    if positives == 0.0 || scores.len() != labels.len() {
        return None;
    }
    Some(
        curve(scores, labels)
            .iter()
            .map(|p| {
                (
                    p.tp as f64 / positives,
                    p.tp as f64 / (p.tp + p.fp) as f64,
                    p.threshold,
                )
            })
            .collect(),
    )
}

/// Average precision, the area under the PR curve as a step function (scikit-learn's
/// `average_precision_score`): the sum of precision × the rise in recall at each threshold.
pub fn average_precision(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let points = pr_curve(scores, labels)?;
    let mut previous_recall = 0.0;
    let mut ap = 0.0;
    for (recall, precision, _) in points {
        ap += (recall - previous_recall) * precision;
        previous_recall = recall;
    }
    Some(ap)
}

/// What a threshold does: counts and the rates derived from them. A rate whose denominator
/// is zero is `None`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OperatingPoint {
    pub threshold: f64,
    pub tp: usize,
    pub fp: usize,
    pub tn: usize,
    pub fn_: usize,
    pub sensitivity: Option<f64>,
    pub specificity: Option<f64>,
    pub ppv: Option<f64>,
    pub npv: Option<f64>,
    pub f1: Option<f64>,
}

impl OperatingPoint {
    /// The point as table cells, in this order: threshold, sensitivity, specificity, PPV,
    /// NPV, F1, TP, FP, TN, FN (rates to three decimals, "n/a" where undefined).
    pub fn cells(&self) -> [String; 10] {
        let rate = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.3}"));
        [
            format!("{:.3}", self.threshold),
            rate(self.sensitivity),
            rate(self.specificity),
            rate(self.ppv),
            rate(self.npv),
            rate(self.f1),
            self.tp.to_string(),
            self.fp.to_string(),
            self.tn.to_string(),
            self.fn_.to_string(),
        ]
    }
}

fn ratio(a: usize, b: usize) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// Predictions positive when `score >= threshold`.
pub fn at_threshold(scores: &[f64], labels: &[bool], threshold: f64) -> OperatingPoint {
    let (mut tp, mut fp, mut tn, mut fn_) = (0, 0, 0, 0);
    for (&s, &l) in scores.iter().zip(labels) {
        match (s >= threshold, l) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, false) => tn += 1,
            (false, true) => fn_ += 1,
        }
    }
    OperatingPoint {
        threshold,
        tp,
        fp,
        tn,
        fn_,
        sensitivity: ratio(tp, tp + fn_),
        specificity: ratio(tn, tn + fp),
        ppv: ratio(tp, tp + fp),
        npv: ratio(tn, tn + fn_),
        f1: ratio(2 * tp, 2 * tp + fp + fn_),
    }
}

/// The highest threshold whose specificity is at least `target` (the operating point for
/// "sensitivity at 95% specificity"), and what it does.
pub fn at_specificity(scores: &[f64], labels: &[bool], target: f64) -> Option<OperatingPoint> {
    let roc = roc_curve(scores, labels)?;
    roc.iter()
        .filter(|(fpr, _, _)| 1.0 - fpr >= target - 1e-12)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|&(_, _, t)| at_threshold(scores, labels, t))
}

/// The lowest-sensitivity threshold whose sensitivity is at least `target`, and what it does.
pub fn at_sensitivity(scores: &[f64], labels: &[bool], target: f64) -> Option<OperatingPoint> {
    let roc = roc_curve(scores, labels)?;
    roc.iter()
        .find(|(_, tpr, _)| *tpr >= target - 1e-12)
        .map(|&(_, _, t)| at_threshold(scores, labels, t))
}

/// For a cost ratio (one false negative costs `ratio` false positives): the threshold that
/// minimises the expected cost over these cases, and that cost per case.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CostChoice {
    pub ratio: f64,
    pub threshold: f64,
    pub cost_per_case: f64,
    pub point: OperatingPoint,
}

pub fn cheapest_threshold(scores: &[f64], labels: &[bool], ratio: f64) -> Option<CostChoice> {
    let roc = roc_curve(scores, labels)?;
    let positives = labels.iter().filter(|l| **l).count() as f64;
    let negatives = labels.len() as f64 - positives;
    let n = labels.len() as f64;
    roc.iter()
        .map(|&(fpr, tpr, t)| {
            let cost = ((1.0 - tpr) * positives * ratio + fpr * negatives) / n;
            (cost, t)
        })
        // Ties go to the higher threshold: fewer people sent for follow-up at equal cost.
        .min_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)))
        .map(|(cost, t)| CostChoice {
            ratio,
            threshold: t,
            cost_per_case: cost,
            point: at_threshold(scores, labels, t),
        })
}

/// Expected calibration error over `bins` equal-width bins of predicted probability: the
/// mean, weighted by bin size, of |observed positive rate − mean probability|. Also returns
/// each non-empty bin as (mean probability, observed rate, count) for the reliability
/// diagram.
pub fn calibration(
    probabilities: &[f64],
    labels: &[bool],
    bins: usize,
) -> (f64, Vec<(f64, f64, usize)>) {
    let bins = bins.max(1);
    let mut sums = vec![(0.0f64, 0usize, 0usize); bins];
    for (&p, &l) in probabilities.iter().zip(labels) {
        let b = ((p.clamp(0.0, 1.0) * bins as f64) as usize).min(bins - 1);
        sums[b].0 += p;
        sums[b].1 += usize::from(l);
        sums[b].2 += 1;
    }
    let n = probabilities.len().max(1) as f64;
    let mut ece = 0.0;
    let mut diagram = Vec::new();
    for (sum, positives, count) in sums {
        if count == 0 {
            continue;
        }
        let confidence = sum / count as f64;
        let observed = positives as f64 / count as f64;
        ece += (observed - confidence).abs() * count as f64 / n;
        diagram.push((confidence, observed, count));
    }
    (ece, diagram)
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Mean negative log-likelihood of `labels` under sigmoid(logit / temperature).
fn nll(logits: &[f64], labels: &[bool], temperature: f64) -> f64 {
    let n = logits.len().max(1) as f64;
    logits
        .iter()
        .zip(labels)
        .map(|(&z, &y)| {
            let p = sigmoid(z / temperature).clamp(1e-12, 1.0 - 1e-12);
            if y { -p.ln() } else { -(1.0 - p).ln() }
        })
        .sum::<f64>()
        / n
}

/// Temperature scaling: the temperature T in [0.05, 20] that minimises the negative
/// log-likelihood of sigmoid(logit / T), found by golden-section search on log T (the NLL is
/// unimodal in it). Fit on validation, applied to test.
pub fn fit_temperature(logits: &[f64], labels: &[bool]) -> f64 {
    let (mut lo, mut hi) = (0.05f64.ln(), 20f64.ln());
    let golden = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..100 {
        let a = hi - golden * (hi - lo);
        let b = lo + golden * (hi - lo);
        if nll(logits, labels, a.exp()) <= nll(logits, labels, b.exp()) {
            hi = b;
        } else {
            lo = a;
        }
    }
    ((lo + hi) / 2.0).exp()
}

/// A small, seedable generator for resampling (SplitMix64): reproducible intervals without
/// a dependency.
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> SplitMix {
        SplitMix(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) * n as f64) as usize
    }
}

/// A 95% interval of a statistic by the bootstrap over *groups* (patients): each replicate
/// draws as many groups as there are, with replacement, and takes all their cases, so that
/// cases of one patient are never treated as independent. Replicates where the statistic is
/// undefined (one class missing) are skipped; `None` if fewer than half are defined.
pub fn bootstrap_interval(
    scores: &[f64],
    labels: &[bool],
    groups: &[&str],
    replicates: usize,
    seed: u64,
    statistic: impl Fn(&[f64], &[bool]) -> Option<f64>,
) -> Option<(f64, f64)> {
    let mut by_group: std::collections::BTreeMap<&str, Vec<usize>> = Default::default();
    for (i, g) in groups.iter().enumerate() {
        by_group.entry(g).or_default().push(i);
    }
    let members: Vec<&Vec<usize>> = by_group.values().collect();
    if members.is_empty() {
        return None;
    }
    let mut rng = SplitMix::new(seed);
    let mut values = Vec::with_capacity(replicates);
    let (mut s, mut l) = (Vec::new(), Vec::new());
    for _ in 0..replicates {
        s.clear();
        l.clear();
        for _ in 0..members.len() {
            for &i in members[rng.below(members.len())] {
                s.push(scores[i]);
                l.push(labels[i]);
            }
        }
        if let Some(v) = statistic(&s, &l) {
            values.push(v);
        }
    }
    if values.len() * 2 < replicates.max(1) {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    Some((at(0.025), at(0.975)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_counts_ties_as_half() {
        assert_eq!(roc_auc(&[0.1, 0.9], &[false, true]), Some(1.0));
        assert_eq!(roc_auc(&[0.9, 0.1], &[false, true]), Some(0.0));
        assert_eq!(roc_auc(&[0.5, 0.5], &[false, true]), Some(0.5));
        assert_eq!(roc_auc(&[0.5, 0.6], &[true, true]), None);
    }

    #[test]
    fn operating_points_count_what_they_say() {
        let s = [0.1, 0.4, 0.35, 0.8];
        let l = [false, false, true, true];
        let p = at_threshold(&s, &l, 0.35);
        assert_eq!((p.tp, p.fp, p.tn, p.fn_), (2, 1, 1, 0));
        assert_eq!(p.sensitivity, Some(1.0));
        assert_eq!(p.ppv, Some(2.0 / 3.0));
        let strict = at_specificity(&s, &l, 1.0).unwrap();
        assert_eq!(strict.fp, 0);
        assert_eq!(strict.tp, 1);
        let sensitive = at_sensitivity(&s, &l, 1.0).unwrap();
        assert_eq!(sensitive.fn_, 0);
        assert_eq!(sensitive.threshold, 0.35);
    }

    #[test]
    fn a_dear_false_negative_lowers_the_threshold() {
        let s = [0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9];
        let l = [false, false, true, false, true, false, true, true];
        let even = cheapest_threshold(&s, &l, 1.0).unwrap();
        let dear = cheapest_threshold(&s, &l, 20.0).unwrap();
        assert!(dear.threshold <= even.threshold);
        assert_eq!(dear.point.fn_, 0);
    }

    #[test]
    fn temperature_scaling_undoes_overconfidence() {
        // Labels drawn so that the true probability is sigmoid(z / 3): a model reporting
        // sigmoid(z) is overconfident, and the fitted temperature should come out near 3.
        let mut rng = SplitMix::new(1);
        let (mut z, mut y) = (Vec::new(), Vec::new());
        for _ in 0..20_000 {
            let logit = (rng.below(2001) as f64 - 1000.0) / 100.0;
            let p = sigmoid(logit / 3.0);
            z.push(logit);
            y.push((rng.below(1_000_000) as f64) < p * 1_000_000.0);
        }
        let t = fit_temperature(&z, &y);
        assert!((t - 3.0).abs() < 0.3, "temperature {t}");
        let raw: Vec<f64> = z.iter().map(|v| sigmoid(*v)).collect();
        let scaled: Vec<f64> = z.iter().map(|v| sigmoid(v / t)).collect();
        assert!(calibration(&scaled, &y, 10).0 < calibration(&raw, &y, 10).0 / 2.0);
    }

    #[test]
    fn the_bootstrap_resamples_patients_and_brackets_the_estimate() {
        let mut rng = SplitMix::new(9);
        let (mut s, mut l, mut g) = (Vec::new(), Vec::new(), Vec::new());
        let names: Vec<String> = (0..200).map(|p| format!("p{p}")).collect();
        for (p, name) in names.iter().enumerate() {
            let positive = p % 2 == 0;
            for _ in 0..3 {
                let noise = rng.below(1000) as f64 / 1000.0;
                s.push(if positive { 0.3 + noise } else { noise });
                l.push(positive);
                g.push(name.as_str());
            }
        }
        let auc = roc_auc(&s, &l).unwrap();
        let (lo, hi) = bootstrap_interval(&s, &l, &g, 500, 3, roc_auc).unwrap();
        assert!(lo < auc && auc < hi && hi - lo < 0.2, "{lo} {auc} {hi}");
        // The same seed gives the same interval.
        assert_eq!(
            bootstrap_interval(&s, &l, &g, 500, 3, roc_auc),
            Some((lo, hi))
        );
    }
}
