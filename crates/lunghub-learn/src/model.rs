//! The network: a small ResNet for one-channel radiographs. The same code runs on every burn
//! backend; the device picks it (`Device::flex()` on CPU, `Device::cuda(0)` with the `cuda`
//! feature).
//!
//! Shape (input 128×128, widths 16-32-64-128): a 7×7 stride-2 stem and a 3×3 stride-2 max
//! pool, four stages of one basic block each (two 3×3 convolutions with batch norm and a
//! projected shortcut where the shape changes), global average pooling and one linear layer.
//! About 0.3 M parameters: an epoch over the 937 training images of the shared chest X-ray
//! release takes about 10 s on two cores, so a full run finishes here in minutes and the
//! ten trainings of the protocol comparison in about a quarter of an hour. Chest X-ray
//! findings are coarse (opacities, consolidation), and the
//! public models that scored higher at 224 px mostly learned the source (see the report's
//! shortcut check), so resolution is not what limits an honest model on this data.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d, Relu};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

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
            (Some(p), Some(bn)) => bn.forward(p.forward(x.clone())),
            _ => x.clone(),
        };
        let y = self.relu.forward(self.bn1.forward(self.conv1.forward(x)));
        let y = self.bn2.forward(self.conv2.forward(y));
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
            .forward(self.stem_bn.forward(self.stem_forward(x)));
        let mut x = self.pool.forward(x);
        for block in &self.blocks {
            x = block.forward(x);
        }
        x
    }

    /// The stem convolution (7×7, stride 2, padding 3, no bias) as patches times weights.
    /// burn-flex sends a convolution from ≤ 4 to ≤ 16 channels down a direct path that
    /// took a quarter of each training epoch here, and its generic im2col (which its
    /// `unfold4d` also uses) was slower still; the patches of a one-channel image are cut
    /// here instead, in plain Rust, and the stem becomes one matrix product, whose weight
    /// gradient is another. The input is data, never a parameter, so no gradient is lost
    /// by building the patches outside the graph. Same weights, same tensor names, same
    /// result as `self.stem.forward(x)` (checked in the tests).
    fn stem_forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [batch, _, height, width] = x.dims();
        let weight = self.stem.weight.val();
        let [out, cin, kh, kw] = weight.dims();
        let (stride, pad) = (2, kh / 2);
        let oh = (height + 2 * pad - kh) / stride + 1;
        let ow = (width + 2 * pad - kw) / stride + 1;
        let Some(patches) = patches_of(x.clone(), kh, stride, pad) else {
            return self.stem.forward(x);
        };
        weight
            .reshape([1, out, cin * kh * kw])
            .expand([batch, out, cin * kh * kw])
            .matmul(patches)
            .reshape([batch, out, oh, ow])
    }

    /// The stem as an ordinary convolution: what [`Net::stem_forward`] must equal.
    #[cfg(test)]
    fn stem_conv(&self, x: Tensor<4>) -> Tensor<4> {
        self.stem.forward(x)
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

/// im2col of a batch: `[batch, channels·k·k, positions]`, zero outside the image. None
/// when the tensor's data is not f32 (it always is here).
fn patches_of(x: Tensor<4>, k: usize, stride: usize, pad: usize) -> Option<Tensor<3>> {
    use rayon::prelude::*;
    let device = x.device();
    let [batch, channels, height, width] = x.dims();
    let data = x.into_data();
    let v = data.as_slice::<f32>().ok()?;
    let oh = (height + 2 * pad - k) / stride + 1;
    let ow = (width + 2 * pad - k) / stride + 1;
    let (rows, positions) = (channels * k * k, oh * ow);
    let mut out = vec![0.0f32; batch * rows * positions];
    out.par_chunks_mut(rows * positions)
        .enumerate()
        .for_each(|(b, chunk)| {
            let image = &v[b * channels * height * width..][..channels * height * width];
            im2col(image, [channels, height, width], k, stride, pad, chunk);
        });
    Some(Tensor::from_data(
        burn::tensor::TensorData::new(out, [batch, rows, positions]),
        &device,
    ))
}

/// The patches of one `[channels, height, width]` image as a `[channels·k·k, oh·ow]`
/// matrix (row-major). `out` must hold zeros where a patch leaves the image: only
/// positions inside it are written.
pub(crate) fn im2col(
    image: &[f32],
    [channels, height, width]: [usize; 3],
    k: usize,
    stride: usize,
    pad: usize,
    out: &mut [f32],
) {
    let oh = (height + 2 * pad - k) / stride + 1;
    let ow = (width + 2 * pad - k) / stride + 1;
    let positions = oh * ow;
    for c in 0..channels {
        let plane = &image[c * height * width..][..height * width];
        for ky in 0..k {
            for kx in 0..k {
                let row = (c * k + ky) * k + kx;
                let dst = &mut out[row * positions..][..positions];
                // The output columns whose input column lies inside the image.
                let first = pad.saturating_sub(kx).div_ceil(stride);
                let last = ((width + pad - kx).div_ceil(stride)).min(ow);
                if first >= last {
                    continue;
                }
                for oy in 0..oh {
                    let Some(iy) = (oy * stride + ky).checked_sub(pad) else {
                        continue;
                    };
                    if iy >= height {
                        continue;
                    }
                    let line = &plane[iy * width..][..width];
                    let target = &mut dst[oy * ow..][..ow];
                    if stride == 1 {
                        let from = first + kx - pad;
                        target[first..last].copy_from_slice(&line[from..from + last - first]);
                    } else {
                        for ox in first..last {
                            target[ox] = line[ox * stride + kx - pad];
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    #[test]
    fn the_unfolded_stem_equals_the_convolution() {
        let device = Device::flex();
        device.seed(5);
        let net = Net::new(&Shape::default(), &device);
        let values: Vec<f32> = (0..2 * 40 * 36)
            .map(|i| ((i * 7919) % 251) as f32 / 125.0 - 1.0)
            .collect();
        let x = Tensor::<4>::from_data(TensorData::new(values, [2, 1, 40, 36]), &device);
        let a = net.stem_forward(x.clone());
        let b = net.stem_conv(x);
        assert_eq!(a.dims(), b.dims());
        let diff: f32 = (a - b).abs().max().into_scalar();
        assert!(diff < 1e-4, "{diff}");
    }
}
