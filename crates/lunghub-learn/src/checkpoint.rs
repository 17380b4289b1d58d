//! A trained model on disk: `model.safetensors` (the weights, usable outside lunghub) and
//! `model.json` (the shape, the task, the training settings, the release and data it saw,
//! and its training history), so that any number in a report can be traced to its run.
//!
//! Tensor names in `model.safetensors` follow the module tree: `stem.weight`,
//! `stem_bn.gamma`/`beta`/`running_mean`/`running_var`, `blocks.N.conv1.weight`,
//! `blocks.N.bn1.*`, `blocks.N.conv2.weight`, `blocks.N.bn2.*`, `blocks.N.project.weight`
//! and `blocks.N.project_bn.*` where a block changes shape, `head.weight` (stored
//! `[in, out]`) and `head.bias`. Convolution weights are `[out, in, kh, kw]`.

use std::path::Path;

use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use serde::{Deserialize, Serialize};

use crate::LearnError;
use crate::data::Task;
use crate::model::{Net, Shape};
use crate::train::{Epoch, Settings};

pub const WEIGHTS: &str = "model.safetensors";
pub const META: &str = "model.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    pub task: Task,
    pub classes: Vec<String>,
    pub shape: Shape,
    pub settings: Settings,
    /// sha256 of the release's SHA256SUMS.
    pub release_id: String,
    pub data_hash: String,
    pub train_images: usize,
    pub validation_images: usize,
    pub history: Vec<Epoch>,
    /// The decision threshold on the positive class's probability.
    pub threshold: f64,
    pub lunghub_version: String,
}

pub fn save(dir: &Path, net: &Net, meta: &Meta) -> Result<(), LearnError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| LearnError::Input(format!("{}: {e}", dir.display())))?;
    let mut store = SafetensorsStore::from_file(dir.join(WEIGHTS))
        .metadata("task", meta.task.name())
        .metadata("release_id", meta.release_id.clone());
    net.save_into(&mut store)
        .map_err(|e| LearnError::Backend(format!("cannot save the weights: {e:?}")))?;
    let json = serde_json::to_string_pretty(meta).map_err(|e| LearnError::Input(e.to_string()))?;
    std::fs::write(dir.join(META), json + "\n")
        .map_err(|e| LearnError::Input(format!("{}: {e}", dir.join(META).display())))
}

pub fn load(dir: &Path) -> Result<(Net, Meta), LearnError> {
    let meta_path = dir.join(META);
    let text = std::fs::read_to_string(&meta_path)
        .map_err(|e| LearnError::Input(format!("{}: {e}", meta_path.display())))?;
    let meta: Meta = serde_json::from_str(&text)
        .map_err(|e| LearnError::Input(format!("{}: {e}", meta_path.display())))?;
    let mut net = Net::new(&meta.shape, &Device::flex());
    let mut store = SafetensorsStore::from_file(dir.join(WEIGHTS));
    let applied = net
        .load_from(&mut store)
        .map_err(|e| LearnError::Input(format!("{}: {e:?}", dir.join(WEIGHTS).display())))?;
    if !applied.missing.is_empty() || !applied.errors.is_empty() {
        return Err(LearnError::Input(format!(
            "{} does not fit the model in {META}: missing {:?}, errors {:?}",
            dir.join(WEIGHTS).display(),
            applied.missing,
            applied.errors
        )));
    }
    Ok((net.valid(), meta))
}
