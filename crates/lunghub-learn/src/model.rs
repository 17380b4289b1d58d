//! The network: a small ResNet for one-channel radiographs. The same code runs on every burn
//! backend; the device picks it (`Device::flex()` on CPU, `Device::cuda(0)` with the `cuda`
//! feature).
//!
//! Shape (input 128×128, widths 16-32-64-128): a 7×7 stride-2 stem and a 3×3 stride-2 max
//! pool, four stages of one basic block each (two 3×3 convolutions with batch norm and a
//! projected shortcut where the shape changes), global average pooling and one linear layer.
//! About 0.3 M parameters: an epoch over the 937 training images of the shared chest X-ray
//! release takes about 3 s on two cores (with the kernels of [`crate::kernels`]), so a full
//! run finishes here in under a minute and the ten trainings of the protocol comparison in
//! a few. Chest X-ray findings are coarse (opacities, consolidation), and the
//! public models that scored higher at 224 px mostly learned the source (see the report's
//! shortcut check), so resolution is not what limits an honest model on this data.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d, Relu};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::kernels;

/// What fixes a network's shape; saved with every checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    /// Side of the square input, in pixels.
    pub input: usize,
    /// Channels of the stem and of the four stages.
    pub widths: [usize; 4],
    /// Output classes (logits).
    pub classes: usize,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            input: 128,
            widths: [16, 32, 64, 128],
            classes: 2,
        }
    }
}

fn conv(channels: [usize; 2], kernel: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new(channels, [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(
            kernel / 2,
            kernel / 2,
            kernel / 2,
            kernel / 2,
        ))
        .with_bias(false)
        .init(device)
}

/// Two 3×3 convolutions and a shortcut.
#[derive(Module, Debug)]
pub struct Block {
    pub(crate) conv1: Conv2d,
    pub(crate) bn1: BatchNorm,
    pub(crate) conv2: Conv2d,
    pub(crate) bn2: BatchNorm,
    pub(crate) project: Option<Conv2d>,
    pub(crate) project_bn: Option<BatchNorm>,
    relu: Relu,
}

impl Block {
    fn new(from: usize, to: usize, stride: usize, device: &Device) -> Block {
        let projected = from != to || stride != 1;
        Block {
            conv1: conv([from, to], 3, stride, device),
            bn1: BatchNormConfig::new(to).init(device),
            conv2: conv([to, to], 3, 1, device),
            bn2: BatchNormConfig::new(to).init(device),
            project: projected.then(|| conv([from, to], 1, stride, device)),
            project_bn: projected.then(|| BatchNormConfig::new(to).init(device)),
            relu: Relu::new(),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let shortcut = match (&self.project, &self.project_bn) {
            (Some(p), Some(bn)) => kernels::batch_norm(bn, convolve(p, x.clone())),
            _ => x.clone(),
        };
        let y = self
            .relu
            .forward(kernels::batch_norm(&self.bn1, convolve(&self.conv1, x)));
        let y = kernels::batch_norm(&self.bn2, convolve(&self.conv2, y));
        self.relu.forward(y + shortcut)
    }
}

#[derive(Module, Debug)]
pub struct Net {
    pub(crate) stem: Conv2d,
    pub(crate) stem_bn: BatchNorm,
    pool: MaxPool2d,
    pub(crate) blocks: Vec<Block>,
    head_pool: AdaptiveAvgPool2d,
    pub(crate) head: Linear,
    relu: Relu,
}

impl Net {
    pub fn new(shape: &Shape, device: &Device) -> Net {
        let w = shape.widths;
        Net {
            stem: conv([1, w[0]], 7, 2, device),
            stem_bn: BatchNormConfig::new(w[0]).init(device),
            pool: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            blocks: vec![
                Block::new(w[0], w[0], 1, device),
                Block::new(w[0], w[1], 2, device),
                Block::new(w[1], w[2], 2, device),
                Block::new(w[2], w[3], 2, device),
            ],
            head_pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            head: LinearConfig::new(w[3], shape.classes).init(device),
            relu: Relu::new(),
        }
    }

    /// The last feature maps, before pooling.
    pub fn features(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self
            .relu
            .forward(kernels::batch_norm(&self.stem_bn, convolve(&self.stem, x)));
        let mut x = kernels::max_pool(&self.pool, x);
        for block in &self.blocks {
            x = block.forward(x);
        }
        x
    }

    /// Logits for a batch of `[batch, 1, input, input]` images.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.classify(self.features(x))
    }

    /// Logits from feature maps.
    pub fn classify(&self, features: Tensor<4>) -> Tensor<2> {
        self.head.forward(self.pool_features(features))
    }

    /// The pooled features the head reads, `[batch, widths[3]]`: what the shortcut probe
    /// asks about the image's source.
    pub fn embed(&self, x: Tensor<4>) -> Tensor<2> {
        self.pool_features(self.features(x))
    }

    fn pool_features(&self, features: Tensor<4>) -> Tensor<2> {
        self.head_pool.forward(features).flatten(1, 3)
    }
}

/// One of the network's convolutions (square kernel, padding half the kernel, no bias)
/// through [`kernels::conv2d`]: lunghub's own kernels when training on the CPU.
fn convolve(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let kernel = conv.kernel_size[0];
    kernels::conv2d(x, conv.weight.val(), conv.stride[0], kernel / 2)
}
