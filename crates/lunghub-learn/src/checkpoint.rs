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
    /// sha256 of the release's SHA256SUMS; for a model trained on a folder of clips
    /// (`lunghub train-ultrasound`), `folder:` and the folder's path, with `data_hash`
    /// naming what was read from it.
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
    let path = dir.join(WEIGHTS);
    let written =
        std::fs::read(&path).map_err(|e| LearnError::Input(format!("{}: {e}", path.display())))?;
    std::fs::write(&path, canonical_header(&written)?)
        .map_err(|e| LearnError::Input(format!("{}: {e}", path.display())))?;
    let json = serde_json::to_string_pretty(meta).map_err(|e| LearnError::Input(e.to_string()))?;
    std::fs::write(dir.join(META), json + "\n")
        .map_err(|e| LearnError::Input(format!("{}: {e}", dir.join(META).display())))
}

/// The safetensors file with its JSON header's keys sorted. burn writes the metadata from a
/// hash map, in a different order each run; sorted, the same weights give the same bytes,
/// so a retrained model can be compared with the committed one by its file alone.
fn canonical_header(file: &[u8]) -> Result<Vec<u8>, LearnError> {
    let bad = || LearnError::Backend("burn wrote a malformed safetensors header".into());
    let size = file.get(..8).ok_or_else(bad)?;
    let size = u64::from_le_bytes(size.try_into().map_err(|_| bad())?) as usize;
    let header = file.get(8..8 + size).ok_or_else(bad)?;
    // serde_json's maps are ordered by key (no preserve_order feature here).
    let value: serde_json::Value = serde_json::from_slice(header).map_err(|_| bad())?;
    let mut text = serde_json::to_string(&value).map_err(|_| bad())?;
    // The data that follows starts on an 8-byte boundary, padded with spaces.
    while text.len() % 8 != 0 {
        text.push(' ');
    }
    let mut out = Vec::with_capacity(file.len());
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&file[8 + size..]);
    Ok(out)
}

pub fn load(dir: &Path) -> Result<(Net, Meta), LearnError> {
    let meta_path = dir.join(META);
    let text = std::fs::read_to_string(&meta_path)
        .map_err(|e| LearnError::Input(format!("{}: {e}", meta_path.display())))?;
    let meta = parse_meta(&text, &meta_path.display().to_string())?;
    let store = SafetensorsStore::from_file(dir.join(WEIGHTS));
    let net = apply(
        meta.shape.clone(),
        store,
        &dir.join(WEIGHTS).display().to_string(),
    )?;
    Ok((net, meta))
}

/// A model from its weights' bytes and its model.json text (the compiled-in reference).
pub fn from_bytes(weights: Vec<u8>, meta_json: &str) -> Result<(Net, Meta), LearnError> {
    let meta = parse_meta(meta_json, META)?;
    let store = SafetensorsStore::from_bytes(Some(weights));
    let net = apply(meta.shape.clone(), store, WEIGHTS)?;
    Ok((net, meta))
}

fn parse_meta(text: &str, name: &str) -> Result<Meta, LearnError> {
    serde_json::from_str(text).map_err(|e| LearnError::Input(format!("{name}: {e}")))
}

fn apply(shape: Shape, mut store: SafetensorsStore, name: &str) -> Result<Net, LearnError> {
    let mut net = Net::new(&shape, &Device::flex());
    let applied = net
        .load_from(&mut store)
        .map_err(|e| LearnError::Input(format!("{name}: {e:?}")))?;
    if !applied.missing.is_empty() || !applied.errors.is_empty() {
        return Err(LearnError::Input(format!(
            "{name} does not fit the model in {META}: missing {:?}, errors {:?}",
            applied.missing, applied.errors
        )));
    }
    Ok(net.valid())
}
