//! Challenge scores against scikit-learn's on the same fixed submissions (with ties, class
//! imbalance, several sources and several images per patient), each submission going the
//! whole way: written as CSV, parsed, scored. The Python is $LUNGHUB_PYTHON (the virtual
//! environment `.ci/run` keeps); without scikit-learn the test fails, it never skips.

use std::process::Command;

use lunghub_challenge::{Case, Columns, parse, score};
use lunghub_learn::metrics::SplitMix;

const SCRIPT: &str = r#"
import json, sys
import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve, f1_score
sets = json.load(open(sys.argv[1]))
out = []
for c in sets:
    y, s, t = np.array(c["labels"], dtype=int), np.array(c["scores"]), c["threshold"]
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    sources = {}
    for name in sorted(set(c["sources"])):
        m = np.array([x == name for x in c["sources"]])
        sources[name] = float(roc_auc_score(y[m], s[m])) if len(set(y[m])) == 2 else None
    out.append({
        "auc": float(roc_auc_score(y, s)),
        "f1": float(f1_score(y, (s >= t).astype(int), zero_division=0)),
        "sensitivity_at_95_specificity":
            float(max(b for a, b in zip(fpr, tpr) if a <= 0.05 + 1e-12)),
        "specificity_at_95_sensitivity":
            float(max(1 - a for a, b in zip(fpr, tpr) if b >= 0.95 - 1e-12)),
        "sources": sources,
    })
print(json.dumps(out))
"#;

fn python() -> String {
    std::env::var("LUNGHUB_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// One submission: the hidden truth, the CSV as submitted, and the challenge's columns.
struct Submission {
    truth: Vec<Case>,
    csv: String,
    columns: Columns,
    threshold: f64,
}

/// Patients with one to four images each, a class per patient, a source per patient
/// (the last one all negative when `one_class_source`), scores at a coarse `resolution`
/// so that many tie.
fn submission(
    rng: &mut SplitMix,
    patients: usize,
    positive_share: f64,
    resolution: usize,
    classes: &[&str],
    positive: usize,
    one_class_source: bool,
) -> Submission {
    let columns =
        Columns::new(classes.iter().map(|c| (*c).to_owned()).collect(), positive).expect("columns");
    let binary = classes.len() == 2;
    let mut truth = Vec::new();
    let mut csv = if binary {
        "id,probability\n".to_owned()
    } else {
        format!("id,{}\r\n", classes.join(","))
    };
    let sources = ["site-a", "site-b", "site-c"];
    for p in 0..patients {
        let is_positive = (rng.below(1000) as f64) < positive_share * 1000.0;
        let source = sources[rng.below(sources.len())];
        let (class, source) = if one_class_source && p % 7 == 0 {
            ((positive + 1) % classes.len(), "all-negative")
        } else if is_positive {
            (positive, source)
        } else {
            let other = 1 + rng.below(classes.len() - 1);
            ((positive + other) % classes.len(), source)
        };
        for image in 0..1 + rng.below(4) {
            let id = format!("p{p}-{image}.png");
            let base = rng.below(resolution) as f64 / resolution as f64;
            let s = if class == positive {
                (base * 0.8 + 0.2).min(1.0)
            } else {
                base * 0.9
            };
            let s = (s * resolution as f64).round() / resolution as f64;
            if binary {
                csv.push_str(&format!("{id},{s}\n"));
            } else {
                // The rest of the mass split between the other classes, however it falls.
                let cells: Vec<String> = (0..classes.len())
                    .map(|k| {
                        if k == positive {
                            s.to_string()
                        } else {
                            ((1.0 - s) / (classes.len() - 1) as f64).to_string()
                        }
                    })
                    .collect();
                csv.push_str(&format!(" {id} , {}\r\n", cells.join(",")));
            }
            truth.push(Case {
                id,
                patient: format!("p{p}"),
                source: source.to_owned(),
                class,
            });
        }
    }
    Submission {
        truth,
        csv,
        columns,
        threshold: 0.5,
    }
}

/// Four images, AUC 3/4 by hand (see the unit test of the same case in `score`).
fn tiny() -> Submission {
    let case = |id: &str, class| Case {
        id: id.into(),
        patient: id.into(),
        source: "only".into(),
        class,
    };
    Submission {
        truth: vec![case("a", 1), case("b", 0), case("c", 1), case("d", 0)],
        csv: "id,probability\na,0.4\nb,0.1\nc,0.8\nd,0.6\n".into(),
        columns: Columns::new(vec!["normal".into(), "covid".into()], 1).expect("columns"),
        threshold: 0.5,
    }
}

#[test]
fn scores_match_scikit_learn() {
    let mut rng = SplitMix::new(2020);
    let submissions = [
        tiny(),
        submission(&mut rng, 40, 0.5, 1000, &["normal", "covid"], 1, false),
        submission(&mut rng, 300, 0.1, 20, &["normal", "covid"], 1, true),
        submission(&mut rng, 500, 0.3, 7, &["covid", "normal"], 0, false),
        submission(
            &mut rng,
            200,
            0.25,
            50,
            &["normal", "covid", "pneumonia"],
            2,
            true,
        ),
    ];
    let mut scored = Vec::new();
    let mut input = Vec::new();
    for sub in &submissions {
        let ids: Vec<&str> = sub.truth.iter().map(|c| c.id.as_str()).collect();
        let predictions = parse(sub.csv.as_bytes(), &sub.columns, &ids).expect("valid CSV");
        let positive = sub.columns.positive();
        let s = score(
            &sub.truth,
            positive,
            sub.threshold,
            |id| predictions.probability(id),
            11,
        )
        .expect("scored");
        let scores: Vec<f64> = ids
            .iter()
            .map(|id| predictions.probability(id).expect("predicted"))
            .collect();
        input.push(serde_json::json!({
            "scores": scores,
            "labels": sub.truth.iter().map(|c| c.class == positive).collect::<Vec<_>>(),
            "sources": sub.truth.iter().map(|c| c.source.as_str()).collect::<Vec<_>>(),
            "threshold": sub.threshold,
        }));
        scored.push(s);
    }

    let dir =
        std::env::temp_dir().join(format!("lunghub-challenge-sklearn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tempdir");
    let path = dir.join("submissions.json");
    std::fs::write(&path, serde_json::to_vec(&input).expect("json")).expect("write");
    let out = Command::new(python())
        .args(["-c", SCRIPT])
        .arg(&path)
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let out = out.unwrap_or_else(|e| {
        panic!(
            "Python ({}) is needed to check the scores against scikit-learn (run through `bash .ci/run`): {e}",
            python()
        )
    });
    assert!(
        out.status.success(),
        "scikit-learn is needed (run through `bash .ci/run`):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(expected.len(), scored.len());

    let close = |a: Option<f64>, b: &serde_json::Value, what: &str| {
        let a = a.unwrap_or_else(|| panic!("{what}: lunghub has none, scikit-learn {b}"));
        let b = b.as_f64().unwrap_or(f64::NAN);
        assert!(
            (a - b).abs() < 1e-9,
            "{what}: lunghub {a}, scikit-learn {b}"
        );
    };
    for (s, want) in scored.iter().zip(&expected) {
        close(s.auc, &want["auc"], "ROC AUC");
        close(s.f1, &want["f1"], "F1");
        close(
            s.sensitivity_at_95_specificity,
            &want["sensitivity_at_95_specificity"],
            "sensitivity at 95% specificity",
        );
        close(
            s.specificity_at_95_sensitivity,
            &want["specificity_at_95_sensitivity"],
            "specificity at 95% sensitivity",
        );
        let (lo, hi) = s.auc_interval.expect("interval");
        assert!(lo <= s.auc.expect("auc") && s.auc.expect("auc") <= hi);
        let theirs = want["sources"].as_object().expect("sources");
        assert_eq!(s.sources.len(), theirs.len(), "sources");
        for source in &s.sources {
            let t = &theirs[&source.source];
            if t.is_null() {
                assert_eq!(source.auc, None, "{}", source.source);
            } else {
                close(source.auc, t, &format!("AUC of {}", source.source));
            }
        }
    }
    // The hand-worked case, stated outright.
    assert_eq!(scored[0].auc, Some(0.75));
    // The sets exercise what they are meant to: a source with one class, patients with
    // several images, imbalance.
    assert!(
        scored
            .iter()
            .any(|s| s.sources.iter().any(|x| x.auc.is_none()))
    );
    assert!(scored.iter().any(|s| s.patients < s.cases));
    assert!(scored.iter().any(|s| s.positives * 5 < s.cases));
}
