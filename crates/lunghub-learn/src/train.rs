//! Training: AdamW with a cosine schedule, class weighting, augmentation chosen for
//! radiographs (a small shift and an intensity jitter: no flips, since the heart's side
//! matters, and no large rotations), early stopping on validation ROC AUC, and fixed seeds.

use std::time::Instant;

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::{Int, TensorData};
use serde::{Deserialize, Serialize};

use crate::LearnError;
use crate::inference::FrozenNet;
use crate::metrics::{SplitMix, roc_auc};
use crate::model::{Net, Shape};

/// One image, ready for the network: `side × side` values, normalised, and its class.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub pixels: Vec<f32>,
    pub label: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub epochs: usize,
    pub batch: usize,
    pub learning_rate: f64,
    pub weight_decay: f32,
    pub seed: u64,
    /// Epochs without a better validation AUC before stopping.
    pub patience: usize,
    /// Shift images by up to this share of their side, and jitter contrast and brightness.
    pub augment: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            epochs: 12,
            batch: 32,
            learning_rate: 2e-3,
            weight_decay: 1e-4,
            seed: 2020,
            patience: 4,
            augment: true,
        }
    }
}

/// Everything that decides a training run but the data: what `lunghub train --config`
/// reads, and what the reference model's `train.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    pub task: crate::data::Task,
    /// Side of the square input, in pixels.
    pub side: usize,
    pub settings: Settings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Epoch {
    pub epoch: usize,
    pub loss: f64,
    /// ROC AUC of the positive class (the last one) on validation.
    pub validation_auc: Option<f64>,
    /// Mean cross-entropy on validation, unweighted.
    pub validation_loss: Option<f64>,
    pub seconds: f64,
}

/// The batch as a tensor, augmented when asked.
fn batch_tensor(
    examples: &[&Example],
    side: usize,
    augment: Option<&mut SplitMix>,
    device: &Device,
) -> Tensor<4> {
    let mut data = Vec::with_capacity(examples.len() * side * side);
    match augment {
        None => {
            for e in examples {
                data.extend_from_slice(&e.pixels);
            }
        }
        Some(rng) => {
            let max_shift = (side / 16) as i64;
            for e in examples {
                let dx = rng.below((2 * max_shift + 1) as usize) as i64 - max_shift;
                let dy = rng.below((2 * max_shift + 1) as usize) as i64 - max_shift;
                let gain = 0.9 + rng.below(201) as f32 / 1000.0;
                let bias = (rng.below(201) as f32 - 100.0) / 1000.0;
                for y in 0..side as i64 {
                    for x in 0..side as i64 {
                        let (sx, sy) = (
                            (x - dx).clamp(0, side as i64 - 1),
                            (y - dy).clamp(0, side as i64 - 1),
                        );
                        let v = e.pixels[(sy as usize) * side + sx as usize];
                        data.push(v * gain + bias);
                    }
                }
            }
        }
    }
    Tensor::from_data(
        TensorData::new(data, [examples.len(), 1, side, side]),
        device,
    )
}

/// Class probabilities for every example, in order, from a model in validation mode,
/// scored `batch` images at a time by the network frozen for inference
/// ([`crate::inference`]).
pub fn predict(
    net: &Net,
    examples: &[Example],
    side: usize,
    batch: usize,
) -> Result<Vec<Vec<f32>>, LearnError> {
    FrozenNet::new(net, side)?.probabilities_of_examples(examples, batch)
}

/// The pooled features of every example, in order (see [`Net::embed`]).
pub fn embed(
    net: &Net,
    examples: &[Example],
    side: usize,
    batch: usize,
) -> Result<Vec<Vec<f32>>, LearnError> {
    rows_of(examples, side, batch, |x| net.embed(x))
}

/// Runs `f` over batches and returns its `[batch, n]` output as one row per example.
fn rows_of(
    examples: &[Example],
    side: usize,
    batch: usize,
    f: impl Fn(Tensor<4>) -> Tensor<2>,
) -> Result<Vec<Vec<f32>>, LearnError> {
    let device = Device::flex();
    let mut out = Vec::with_capacity(examples.len());
    for chunk in examples.chunks(batch.max(1)) {
        let refs: Vec<&Example> = chunk.iter().collect();
        let rows = f(batch_tensor(&refs, side, None, &device));
        let width = rows.dims()[1];
        let data = rows.into_data();
        let values = data
            .as_slice::<f32>()
            .map_err(|e| LearnError::Backend(format!("{e:?}")))?;
        out.extend(values.chunks(width).map(<[f32]>::to_vec));
    }
    Ok(out)
}

/// Trains a network of `shape` on `train`, keeping the epoch with the best validation AUC
/// (ties broken by validation loss). `report` is told after every epoch.
pub fn train(
    shape: &Shape,
    train: &[Example],
    validation: &[Example],
    settings: &Settings,
    mut report: impl FnMut(&Epoch),
) -> Result<(Net, Vec<Epoch>), LearnError> {
    if train.is_empty() {
        return Err(LearnError::Input("no training images".into()));
    }
    let side = shape.input;
    if let Some(bad) = train
        .iter()
        .chain(validation)
        .find(|e| e.pixels.len() != side * side || e.label >= shape.classes)
    {
        return Err(LearnError::Input(format!(
            "an example has {} pixels and label {}, not {} pixels and a label below {}",
            bad.pixels.len(),
            bad.label,
            side * side,
            shape.classes
        )));
    }
    crate::allocator::tune_for_training();
    let device = Device::flex();
    device.seed(settings.seed);
    let autodiff = device.clone().autodiff();
    let mut net = Net::new(shape, &autodiff);
    // Classes weighted by inverse frequency, so a rare class counts as much as a common one.
    let mut counts = vec![0usize; shape.classes];
    for e in train {
        counts[e.label] += 1;
    }
    let weights: Vec<f32> = counts
        .iter()
        .map(|&n| train.len() as f32 / (shape.classes as f32 * n.max(1) as f32))
        .collect();
    let loss_fn = CrossEntropyLossConfig::new()
        .with_weights(Some(weights))
        .init(&autodiff);
    let mut optimizer = AdamWConfig::new()
        .with_weight_decay(settings.weight_decay)
        .init();
    let mut rng = SplitMix::new(settings.seed);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut history = Vec::new();
    let mut best: Option<((f64, f64), Net)> = None;
    let mut since_best = 0;
    for epoch in 0..settings.epochs {
        let started = Instant::now();
        // Fisher–Yates with the run's own generator: the same seed, the same batches.
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        let progress = epoch as f64 / settings.epochs.max(1) as f64;
        let lr = settings.learning_rate * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
        let (mut loss_sum, mut batches) = (0.0, 0usize);
        for chunk in order.chunks(settings.batch.max(1)) {
            let examples: Vec<&Example> = chunk.iter().map(|&i| &train[i]).collect();
            let x = batch_tensor(
                &examples,
                side,
                settings.augment.then_some(&mut rng),
                &autodiff,
            );
            let targets = Tensor::<1, Int>::from_data(
                TensorData::new(
                    examples.iter().map(|e| e.label as i64).collect::<Vec<_>>(),
                    [examples.len()],
                ),
                &autodiff,
            );
            let loss = loss_fn.forward(net.forward(x), targets);
            loss_sum += f64::from(loss.clone().into_scalar::<f32>());
            batches += 1;
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = optimizer.step(lr, net, grads);
        }
        let (auc, validation_loss) = if validation.is_empty() {
            (None, None)
        } else {
            let probabilities = predict(&net.valid(), validation, side, settings.batch)?;
            let positive = shape.classes - 1;
            let scores: Vec<f64> = probabilities
                .iter()
                .map(|p| f64::from(p[positive]))
                .collect();
            let labels: Vec<bool> = validation.iter().map(|e| e.label == positive).collect();
            let loss = probabilities
                .iter()
                .zip(validation)
                .map(|(p, e)| -f64::from(p[e.label]).max(1e-12).ln())
                .sum::<f64>()
                / validation.len() as f64;
            (roc_auc(&scores, &labels), Some(loss))
        };
        let done = Epoch {
            epoch: epoch + 1,
            loss: loss_sum / batches.max(1) as f64,
            validation_auc: auc,
            validation_loss,
            seconds: started.elapsed().as_secs_f64(),
        };
        report(&done);
        history.push(done);
        // Higher AUC wins; at equal AUC (it saturates on easy data), lower validation loss.
        let score = (
            auc.unwrap_or(f64::NEG_INFINITY),
            -validation_loss.unwrap_or(f64::INFINITY),
        );
        // Without validation images there is nothing to choose by: the last epoch stays.
        if validation.is_empty() || best.as_ref().is_none_or(|(b, _)| score > *b) {
            best = Some((score, net.clone()));
            since_best = 0;
        } else {
            since_best += 1;
            if since_best >= settings.patience {
                break;
            }
        }
    }
    let net = best.map(|(_, n)| n).unwrap_or(net);
    Ok((net.valid(), history))
}
