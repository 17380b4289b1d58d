//! Diagnostic models for lunghub (issue 7).
//!
//! - [`metrics`]: the evaluation of a binary classifier's scores (ROC and PR areas,
//!   operating points, cost-minimising thresholds, calibration and temperature scaling,
//!   intervals by resampling patients), checked against scikit-learn.
//! - [`model`]: a small ResNet for radiographs, on any burn backend (flex on CPU; CUDA with
//!   the `cuda` feature).
//! - [`train`]: AdamW, cosine schedule, class weights, augmentation for radiographs, early
//!   stopping on validation AUC, fixed seeds; [`allocator`] sets glibc's malloc up for it.
//!
//! - [`data`]: a release folder read for a task (covid-vs-rest, three-class).
//! - [`checkpoint`]: weights as safetensors, with the run's settings, data and history.
//!
//! - [`report`]: the evaluation report (JSON, HTML, SVG), per source and site, with the
//!   shortcut check.
//!
//! - [`inference`]: the trained network frozen for scoring (batch norms folded, plain Rust
//!   over slices); what every prediction and evaluation runs.
//! - [`explain`]: Grad-CAM heatmaps (the class activation map of this architecture).
//!
//! - [`protocol`]: the 2020 protocol (image-level folds, last-batch AUC) against the honest
//!   one (patient-level folds, pooled out-of-fold AUC) on the same data.
//! - [`ultrasound`]: the lung ultrasound frame classifier, aggregated and evaluated per clip.
//! - [`card`]: the model card, from a checkpoint's record and its evaluation report.
//! - [`predictor`]: probabilities, decision and heatmap for one image; the shipped
//!   reference model, compiled in.

pub mod allocator;
pub mod card;
pub mod checkpoint;
pub mod data;
pub mod explain;
pub mod inference;
mod kernels;
pub mod metrics;
pub mod model;
pub mod predictor;
pub mod probe;
pub mod protocol;
pub mod report;
pub mod train;
pub mod ultrasound;

#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    #[error("{0}")]
    Input(String),
    #[error("the tensor backend failed: {0}")]
    Backend(String),
}
