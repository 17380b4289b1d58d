//! A tiny training run must be able to learn a small batch by heart: if it cannot, the
//! model, the loss or the optimiser step is broken.

use lunghub_learn::metrics::SplitMix;
use lunghub_learn::model::Shape;
use lunghub_learn::train::{Example, Settings, predict, train};

fn examples(side: usize, n: usize, seed: u64) -> Vec<Example> {
    let mut rng = SplitMix::new(seed);
    (0..n)
        .map(|i| {
            let label = i % 2;
            let pixels = (0..side * side)
                .map(|k| {
                    let right = k % side >= side / 2;
                    let lit = if label == 1 { right } else { !right };
                    let noise = rng.below(1000) as f32 / 1000.0 - 0.5;
                    if lit {
                        1.0 + 0.3 * noise
                    } else {
                        -1.0 + 0.3 * noise
                    }
                })
                .collect();
            Example { pixels, label }
        })
        .collect()
}

#[test]
fn a_tiny_run_learns_a_small_batch_by_heart() {
    let shape = Shape {
        input: 32,
        widths: [8, 8, 16, 16],
        classes: 2,
    };
    let data = examples(32, 16, 1);
    let settings = Settings {
        epochs: 25,
        batch: 16,
        learning_rate: 1e-2,
        augment: false,
        patience: 25,
        ..Settings::default()
    };
    let mut seen = Vec::new();
    let (net, history) =
        train(&shape, &data, &data, &settings, |e| seen.push(e.loss)).expect("train");
    assert_eq!(seen.len(), history.len());
    let first = history[0].loss;
    let last = history.last().expect("epochs").loss;
    assert!(last < first / 4.0, "loss went from {first} to {last}");
    let probabilities = predict(&net, &data, 32, 16).expect("predict");
    let right = probabilities
        .iter()
        .zip(&data)
        .filter(|(p, e)| (p[1] > p[0]) == (e.label == 1))
        .count();
    assert_eq!(right, data.len(), "{probabilities:?}");
    assert_eq!(
        history
            .iter()
            .filter_map(|e| e.validation_auc)
            .fold(0.0, f64::max),
        1.0
    );
}

#[test]
fn bad_examples_are_refused() {
    let shape = Shape {
        input: 32,
        widths: [8, 8, 16, 16],
        classes: 2,
    };
    let mut data = examples(32, 4, 2);
    data[1].label = 5;
    assert!(train(&shape, &data, &[], &Settings::default(), |_| {}).is_err());
    assert!(train(&shape, &[], &[], &Settings::default(), |_| {}).is_err());
}

#[test]
fn a_saved_model_loads_back_and_predicts_the_same() {
    use lunghub_learn::checkpoint::{self, Meta};
    use lunghub_learn::data::Task;
    let shape = Shape {
        input: 32,
        widths: [8, 8, 16, 16],
        classes: 2,
    };
    let data = examples(32, 8, 3);
    let settings = Settings {
        epochs: 2,
        batch: 8,
        augment: false,
        ..Settings::default()
    };
    let (net, history) = train(&shape, &data, &data, &settings, |_| {}).expect("train");
    let dir = std::env::temp_dir().join(format!("lunghub-checkpoint-{}", std::process::id()));
    let meta = Meta {
        task: Task::CovidVsRest,
        classes: vec!["rest".into(), "COVID-19".into()],
        shape: shape.clone(),
        settings,
        release_id: "r".into(),
        data_hash: "d".into(),
        train_images: 8,
        validation_images: 8,
        history,
        threshold: 0.5,
        lunghub_version: "test".into(),
    };
    checkpoint::save(&dir, &net, &meta).expect("save");
    let (loaded, meta_back) = checkpoint::load(&dir).expect("load");
    // serde_json may round the last bit of an f64, so the history is compared to 1e-12.
    let mut back = meta_back.clone();
    assert_eq!(back.history.len(), meta.history.len());
    for (b, m) in back.history.iter_mut().zip(&meta.history) {
        assert!((b.loss - m.loss).abs() < 1e-12 && (b.seconds - m.seconds).abs() < 1e-12);
        let close = |x: Option<f64>, y: Option<f64>| match (x, y) {
            (Some(x), Some(y)) => (x - y).abs() < 1e-12,
            (x, y) => x == y,
        };
        assert!(
            close(b.validation_auc, m.validation_auc)
                && close(b.validation_loss, m.validation_loss)
        );
        *b = m.clone();
    }
    assert_eq!(back, meta);
    let before = predict(&net, &data, 32, 8).expect("predict");
    let after = predict(&loaded, &data, 32, 8).expect("predict");
    for (a, b) in before.iter().flatten().zip(after.iter().flatten()) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
    // Weights for another shape are refused, not half-loaded.
    let mut wrong = meta.clone();
    wrong.shape.widths = [8, 16, 16, 32];
    std::fs::write(
        dir.join(checkpoint::META),
        serde_json::to_string(&wrong).expect("json"),
    )
    .expect("write");
    assert!(checkpoint::load(&dir).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_protocol_comparison_runs_both_protocols_and_only_the_2020_one_leaks_patients() {
    use lunghub_learn::data::Case;
    let shape = Shape {
        input: 16,
        widths: [4, 4, 8, 8],
        classes: 2,
    };
    // 30 patients with 4 images each, an easy pattern: learnable in a few epochs.
    let data = examples(16, 120, 3);
    let cases: Vec<Case> = data
        .into_iter()
        .enumerate()
        .map(|(i, mut example)| {
            let patient = i / 4;
            example.label = patient % 2;
            let flipped = examples(16, 2, i as u64)[example.label].pixels.clone();
            example.pixels = flipped;
            Case {
                file: format!("{i}.png"),
                patient: format!("p{patient}"),
                source: "synthetic".into(),
                site: "synthetic".into(),
                split: "train".into(),
                example,
            }
        })
        .collect();
    let settings = Settings {
        epochs: 3,
        batch: 16,
        learning_rate: 1e-2,
        augment: false,
        ..Settings::default()
    };
    let mut told = Vec::new();
    let comparison =
        lunghub_learn::protocol::compare(&cases, 5, &shape, &settings, |m| told.push(m.to_owned()))
            .expect("compare");
    assert_eq!(told.len(), 10, "{told:?}");
    let leaked = |p: &lunghub_learn::protocol::Protocol| -> usize {
        p.folds.iter().map(|f| f.leaked_images).sum()
    };
    assert!(leaked(&comparison.image_level) > 60);
    assert_eq!(leaked(&comparison.patient_level), 0);
    // 24 held-out images per fold, batch 16: the 2020 protocol scored 8 of them.
    assert!(
        comparison
            .image_level
            .folds
            .iter()
            .all(|f| f.last_batch_images == 8)
    );
    assert!(comparison.patient_level.pooled_auc.is_some_and(|a| a > 0.8));
    let text = comparison.markdown();
    assert!(text.contains("## Why they differ"), "{text}");
    assert!(text.contains("[8, 8, 8, 8, 8]"), "{text}");
}
