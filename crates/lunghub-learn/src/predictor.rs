//! A trained model ready to score images: the one place where probabilities become a
//! decision, shared by `lunghub predict`, the "Try the model" page and the JSON API.
//!
//! The shipped reference model (`models/cxr-covid-vs-rest` in the repository) is compiled
//! into the program, so a fresh machine can predict without any file beside the binary.

use std::path::Path;

use image::{DynamicImage, RgbImage};

use crate::LearnError;
use crate::checkpoint::{self, Meta};
use crate::data::pixels_of;
use crate::explain::{class_activation, overlay};
use crate::inference::FrozenNet;

/// The reference model's weights and record, as committed.
const REFERENCE_WEIGHTS: &[u8] =
    include_bytes!("../../../models/cxr-covid-vs-rest/model.safetensors");
const REFERENCE_META: &str = include_str!("../../../models/cxr-covid-vs-rest/model.json");
/// Its model card, for pages that show it.
pub const REFERENCE_CARD: &str = include_str!("../../../models/cxr-covid-vs-rest/MODEL_CARD.md");

/// What a model says of one image.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Every class with its probability, in the model's class order.
    pub probabilities: Vec<(String, f64)>,
    pub decision: String,
    /// The positive class's threshold (binary models); more classes take the most probable.
    pub threshold: f64,
    /// The Grad-CAM overlay of the decided class, at the image's size, when asked for.
    pub heatmap: Option<RgbImage>,
}

pub struct Predictor {
    net: FrozenNet,
    meta: Meta,
}

impl Predictor {
    /// A model saved by `lunghub train` (model.safetensors and model.json in `dir`).
    pub fn load(dir: &Path) -> Result<Predictor, LearnError> {
        let (net, meta) = checkpoint::load(dir)?;
        let net = FrozenNet::new(&net, meta.shape.input)?;
        Ok(Predictor { net, meta })
    }

    /// The reference model compiled into this program.
    pub fn reference() -> Result<Predictor, LearnError> {
        let (net, meta) = checkpoint::from_bytes(REFERENCE_WEIGHTS.to_vec(), REFERENCE_META)?;
        let net = FrozenNet::new(&net, meta.shape.input)?;
        Ok(Predictor { net, meta })
    }

    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Scores one decoded image (its display rendering, as lunghub-imaging gives it).
    pub fn predict(
        &self,
        image: &DynamicImage,
        with_heatmap: bool,
    ) -> Result<Prediction, LearnError> {
        let side = self.meta.shape.input;
        let pixels = pixels_of(image, side);
        let p = self.net.probabilities(&pixels)?;
        let decided = self.decide(&p);
        let heatmap = if with_heatmap {
            let (cam, h, w) = class_activation(&self.net, &pixels, decided)?;
            Some(overlay(image, &cam, h, w))
        } else {
            None
        };
        Ok(Prediction {
            probabilities: self
                .meta
                .classes
                .iter()
                .cloned()
                .zip(p.iter().map(|v| f64::from(*v)))
                .collect(),
            decision: self.meta.classes.get(decided).cloned().unwrap_or_default(),
            threshold: self.meta.threshold,
            heatmap,
        })
    }

    /// Scores a clip from its sampled frames: the mean of the frames' probabilities (no
    /// heatmap: a clip has no one image to lay it over).
    pub fn predict_frames(&self, frames: &[DynamicImage]) -> Result<Prediction, LearnError> {
        if frames.is_empty() {
            return Err(LearnError::Input("the clip gave no frames".into()));
        }
        let side = self.meta.shape.input;
        let pixels: Vec<Vec<f32>> = frames.iter().map(|f| pixels_of(f, side)).collect();
        let mean = crate::ultrasound::clip_probabilities(&self.net, &pixels)?;
        let as_f32: Vec<f32> = mean.iter().map(|v| *v as f32).collect();
        let decided = self.decide(&as_f32);
        Ok(Prediction {
            probabilities: self.meta.classes.iter().cloned().zip(mean).collect(),
            decision: self.meta.classes.get(decided).cloned().unwrap_or_default(),
            threshold: self.meta.threshold,
            heatmap: None,
        })
    }

    /// A binary model decides positive when the positive class reaches the threshold chosen
    /// on validation; with more classes, the most probable class wins.
    fn decide(&self, p: &[f32]) -> usize {
        let positive = self.meta.shape.classes - 1;
        if self.meta.shape.classes == 2 {
            usize::from(f64::from(p[positive]) >= self.meta.threshold)
        } else {
            (0..p.len())
                .max_by(|&a, &b| p[a].total_cmp(&p[b]))
                .unwrap_or(0)
        }
    }

    /// The operating point in words, for people: what the threshold means on validation.
    pub fn operating_point(&self) -> String {
        if self.meta.shape.classes != 2 {
            return "the most probable class is the decision".into();
        }
        let positive = self.meta.classes.last().cloned().unwrap_or_default();
        format!(
            "{positive} is called when its probability reaches {:.0}%: the threshold that \
             weighed a missed case and a false alarm equally on the validation images",
            self.meta.threshold * 100.0
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_model_loads_and_scores_an_image() {
        let predictor = Predictor::reference().expect("the compiled-in model loads");
        let meta = predictor.meta();
        assert_eq!(meta.classes, ["rest", "COVID-19"]);
        let image = DynamicImage::ImageLuma8(image::GrayImage::from_fn(200, 180, |x, y| {
            image::Luma([((x * 3 + y) % 256) as u8])
        }));
        let p = predictor.predict(&image, true).expect("predicts");
        let total: f64 = p.probabilities.iter().map(|(_, v)| v).sum();
        assert!((total - 1.0).abs() < 1e-4, "{total}");
        let heatmap = p.heatmap.expect("heatmap asked for");
        assert_eq!(heatmap.dimensions(), (200, 180));
        assert!(meta.classes.contains(&p.decision));
    }
}
