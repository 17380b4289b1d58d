//! The source probe of the shortcut check: can the model's own features tell two sources
//! apart? A logistic regression is fitted on the training split's pooled features of the
//! two largest sources and scored (ROC AUC) on the evaluated split. Features are
//! standardised with the training split's statistics; plain gradient descent with a little
//! L2 makes it deterministic.

use crate::metrics::roc_auc;

/// Sources need this many images on each side to be probed.
const MIN_IMAGES: usize = 10;

/// What the probe found: the two sources and the AUC of telling them apart.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SourceProbe {
    pub sources: (String, String),
    pub auc: f64,
}

/// `train` and `test` are (features, source) pairs.
pub fn source_probe(
    train: &[(Vec<f32>, String)],
    test: &[(Vec<f32>, String)],
) -> Option<SourceProbe> {
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for (_, s) in train {
        *counts.entry(s).or_default() += 1;
    }
    let mut largest: Vec<(&str, usize)> = counts.into_iter().collect();
    largest.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let [(a, na), (b, nb)] = largest.get(..2)? else {
        return None;
    };
    if *na < MIN_IMAGES || *nb < MIN_IMAGES {
        return None;
    }
    fn pick<'s>(set: &'s [(Vec<f32>, String)], a: &str, b: &str) -> (Vec<&'s [f32]>, Vec<bool>) {
        set.iter()
            .filter(|(_, s)| s == a || s == b)
            .map(|(f, s)| (f.as_slice(), s == a))
            .unzip()
    }
    let (xs, ys) = pick(train, a, b);
    let (tx, ty) = pick(test, a, b);
    if ty.iter().filter(|y| **y).count() < MIN_IMAGES / 2
        || ty.iter().filter(|y| !**y).count() < MIN_IMAGES / 2
    {
        return None;
    }
    let dims = xs.first()?.len();
    let n = xs.len() as f64;
    let mut mean = vec![0.0f64; dims];
    let mut spread = vec![0.0f64; dims];
    for x in &xs {
        for (m, v) in mean.iter_mut().zip(x.iter()) {
            *m += f64::from(*v) / n;
        }
    }
    for x in &xs {
        for ((s, m), v) in spread.iter_mut().zip(&mean).zip(x.iter()) {
            *s += (f64::from(*v) - m).powi(2) / n;
        }
    }
    let scale: Vec<f64> = spread.iter().map(|s| 1.0 / s.sqrt().max(1e-6)).collect();
    let standard = |x: &[f32]| -> Vec<f64> {
        x.iter()
            .zip(&mean)
            .zip(&scale)
            .map(|((v, m), s)| (f64::from(*v) - m) * s)
            .collect()
    };
    let train_x: Vec<Vec<f64>> = xs.iter().map(|x| standard(x)).collect();
    let (mut w, mut bias) = (vec![0.0f64; dims], 0.0f64);
    for _ in 0..300 {
        let mut grad = vec![0.0f64; dims];
        let mut grad_bias = 0.0;
        for (x, y) in train_x.iter().zip(&ys) {
            let z: f64 = bias + x.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>();
            let error = 1.0 / (1.0 + (-z).exp()) - f64::from(u8::from(*y));
            for (g, v) in grad.iter_mut().zip(x) {
                *g += error * v / n;
            }
            grad_bias += error / n;
        }
        for (wi, g) in w.iter_mut().zip(&grad) {
            *wi -= 0.5 * (g + 1e-3 * *wi);
        }
        bias -= 0.5 * grad_bias;
    }
    let scores: Vec<f64> = tx
        .iter()
        .map(|x| bias + standard(x).iter().zip(&w).map(|(a, b)| a * b).sum::<f64>())
        .collect();
    Some(SourceProbe {
        sources: (a.to_string(), b.to_string()),
        auc: roc_auc(&scores, &ty)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separable_sources_are_found_and_mixed_ones_are_not() {
        let mut rng = crate::metrics::SplitMix::new(4);
        let mut noise = || rng.below(1000) as f32 / 1000.0;
        let make = |offset: f32,
                    source: &str,
                    noise: &mut dyn FnMut() -> f32|
         -> Vec<(Vec<f32>, String)> {
            (0..40)
                .map(|_| (vec![offset + noise(), noise(), noise()], source.to_string()))
                .collect()
        };
        let mut train = make(0.0, "a", &mut noise);
        train.extend(make(3.0, "b", &mut noise));
        let mut test = make(0.0, "a", &mut noise);
        test.extend(make(3.0, "b", &mut noise));
        let found = source_probe(&train, &test).expect("probe");
        assert!(found.auc > 0.99, "{found:?}");
        let mut same = make(0.0, "a", &mut noise);
        same.extend(make(0.0, "b", &mut noise));
        let mut same_test = make(0.0, "a", &mut noise);
        same_test.extend(make(0.0, "b", &mut noise));
        let mixed = source_probe(&same, &same_test).expect("probe");
        assert!(mixed.auc < 0.75, "{mixed:?}");
        assert!(source_probe(&train[..5], &test).is_none());
    }
}
