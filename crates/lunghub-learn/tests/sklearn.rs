//! lunghub's metrics against scikit-learn's on the same fixed inputs (with ties, with
//! imbalance). The Python is $LUNGHUB_PYTHON (the virtual environment `.ci/run` keeps);
//! without scikit-learn the test fails, it never skips.

use std::process::Command;

use lunghub_learn::metrics::{
    SplitMix, at_threshold, average_precision, calibration, roc_auc, roc_curve,
};

const SCRIPT: &str = r#"
import json, sys
import numpy as np
from sklearn.metrics import (roc_auc_score, average_precision_score, roc_curve,
                             f1_score, precision_score, recall_score, confusion_matrix)
cases = json.load(open(sys.argv[1]))
out = []
for c in cases:
    y, s, t = np.array(c["labels"], dtype=int), np.array(c["scores"]), c["threshold"]
    pred = (s >= t).astype(int)
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    tn, fp, fn, tp = confusion_matrix(y, pred, labels=[0, 1]).ravel()
    # ECE with ten equal-width bins, written out as the report defines it.
    bins = np.minimum((np.clip(s, 0, 1) * 10).astype(int), 9)
    ece = sum(abs(y[bins == b].mean() - s[bins == b].mean()) * (bins == b).sum() / len(s)
              for b in range(10) if (bins == b).any())
    out.append({
        "auc": roc_auc_score(y, s),
        "ap": average_precision_score(y, s),
        "f1": f1_score(y, pred, zero_division=0),
        "ppv": precision_score(y, pred, zero_division=0),
        "sensitivity": recall_score(y, pred),
        "counts": [int(tp), int(fp), int(tn), int(fn)],
        "roc": [[float(a), float(b)] for a, b in zip(fpr, tpr)],
        "ece": float(ece),
    })
print(json.dumps(out))
"#;

fn python() -> String {
    std::env::var("LUNGHUB_PYTHON").unwrap_or_else(|_| "python3".into())
}

#[test]
fn metrics_match_scikit_learn() {
    let mut rng = SplitMix::new(2020);
    let mut cases = Vec::new();
    for (n, positive_share, resolution) in [
        (50, 0.5, 1000),
        (400, 0.1, 20),
        (1000, 0.3, 7),
        (7, 0.4, 1000),
    ] {
        let mut scores = Vec::new();
        let mut labels = Vec::new();
        for _ in 0..n {
            let positive = (rng.below(1000) as f64) < positive_share * 1000.0;
            // Coarse resolutions make many ties; positives lean high.
            let base = rng.below(resolution) as f64 / resolution as f64;
            let s: f64 = if positive {
                (base * 0.8 + 0.2).min(1.0)
            } else {
                base * 0.9
            };
            scores.push((s * resolution as f64).round() / resolution as f64);
            labels.push(positive);
        }
        if !labels.contains(&true) {
            labels[0] = true;
        }
        if !labels.contains(&false) {
            labels[1] = false;
        }
        cases.push((scores, labels, 0.5));
    }
    let input: Vec<serde_json::Value> = cases
        .iter()
        .map(|(s, l, t)| serde_json::json!({"scores": s, "labels": l, "threshold": t}))
        .collect();
    let dir = std::env::temp_dir().join(format!("lunghub-sklearn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tempdir");
    let path = dir.join("cases.json");
    std::fs::write(&path, serde_json::to_vec(&input).expect("json")).expect("write");
    let out = Command::new(python())
        .args(["-c", SCRIPT])
        .arg(&path)
        .output()
        .expect("python runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "scikit-learn is needed (run through `bash .ci/run`):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("json");
    let close = |a: f64, b: &serde_json::Value, what: &str| {
        let b = b.as_f64().unwrap_or(f64::NAN);
        assert!(
            (a - b).abs() < 1e-9,
            "{what}: lunghub {a}, scikit-learn {b}"
        );
    };
    for ((scores, labels, t), want) in cases.iter().zip(&expected) {
        close(
            roc_auc(scores, labels).expect("auc"),
            &want["auc"],
            "ROC AUC",
        );
        close(
            average_precision(scores, labels).expect("ap"),
            &want["ap"],
            "average precision",
        );
        let p = at_threshold(scores, labels, *t);
        close(p.f1.unwrap_or(0.0), &want["f1"], "F1");
        close(p.ppv.unwrap_or(0.0), &want["ppv"], "PPV");
        close(
            p.sensitivity.unwrap_or(0.0),
            &want["sensitivity"],
            "sensitivity",
        );
        assert_eq!(
            serde_json::json!([p.tp, p.fp, p.tn, p.fn_]),
            want["counts"],
            "confusion counts"
        );
        let roc = roc_curve(scores, labels).expect("roc");
        let theirs = want["roc"].as_array().expect("roc");
        assert_eq!(roc.len(), theirs.len(), "ROC points");
        for ((fpr, tpr, _), point) in roc.iter().zip(theirs) {
            close(*fpr, &point[0], "FPR");
            close(*tpr, &point[1], "TPR");
        }
        close(calibration(scores, labels, 10).0, &want["ece"], "ECE");
    }
}
