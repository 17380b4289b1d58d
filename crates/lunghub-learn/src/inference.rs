//! The network frozen for inference: every batch norm folded into the convolution before
//! it, and the forward pass run in plain Rust over slices, one image at a time, with the
//! `gemm` crate for the products.
//!
//! Why not burn's own forward pass: at inference, burn-flex spent about a third of the
//! time converting layouts (NCHW to NHWC and back) around each convolution, a fifth in a
//! max pool that also records argmax indices for a backward pass that never comes, and
//! applied each batch norm as separate element-wise passes. Frozen, the same network
//! answered one radiograph in 2.1 ms instead of 2.95 and scored batches of 32 at 1,536
//! images/s instead of 327 (`lunghub bench learn`, two cores); with one image cut into
//! bands of output rows over the threads, 0.8 ms. Training runs through burn's autodiff
//! (with the kernels of [`crate::kernels`]); this module only reads trained weights, so its
//! probabilities equal burn's to float rounding (checked in the tests).

use rayon::prelude::*;

use crate::LearnError;
use crate::kernels::{Matrix, im2col_rows, max_pool_plane, pooled, product};
use crate::model::Net;
use crate::train::Example;

/// Feature maps of one image: `[channels, height, width]`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Maps {
    pub values: Vec<f32>,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

/// A convolution (no bias of its own in this network) with the batch norm after it folded
/// in: `bn(conv(x)) = conv'(x) + b'`, where each output channel's weights are scaled by
/// `γ / √(σ² + ε)` and `b' = β − μ · γ / √(σ² + ε)`.
#[derive(Debug, Clone)]
struct FoldedConv {
    inputs: usize,
    outputs: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
    /// `[outputs, inputs·kernel·kernel]`, row-major.
    weight: Vec<f32>,
    bias: Vec<f32>,
}

#[derive(Debug, Clone)]
struct FoldedBlock {
    conv1: FoldedConv,
    conv2: FoldedConv,
    project: Option<FoldedConv>,
}

/// A trained [`Net`], frozen for scoring.
#[derive(Debug, Clone)]
pub struct FrozenNet {
    side: usize,
    stem: FoldedConv,
    blocks: Vec<FoldedBlock>,
    /// `[features, classes]`, as burn's linear layer stores it.
    head_weight: Vec<f32>,
    head_bias: Vec<f32>,
    classes: usize,
}

fn values<const D: usize>(t: burn::Tensor<D>) -> Result<Vec<f32>, LearnError> {
    t.into_data()
        .try_into_vec::<f32>()
        .map_err(|e| LearnError::Backend(format!("{e:?}")))
}

fn fold(conv: &burn::nn::conv::Conv2d, bn: &burn::nn::BatchNorm) -> Result<FoldedConv, LearnError> {
    let weight = conv.weight.val();
    let [outputs, inputs, kernel, kernel_w] = weight.dims();
    if kernel != kernel_w || conv.stride[0] != conv.stride[1] {
        return Err(LearnError::Input(
            "only square kernels and strides can be frozen".into(),
        ));
    }
    let mut weight = values(weight)?;
    let gamma = values(bn.gamma.val())?;
    let beta = values(bn.beta.val())?;
    let mean = values(bn.running_mean.value())?;
    let var = values(bn.running_var.value())?;
    let conv_bias = match &conv.bias {
        Some(b) => values(b.val())?,
        None => vec![0.0; outputs],
    };
    if [
        gamma.len(),
        beta.len(),
        mean.len(),
        var.len(),
        conv_bias.len(),
    ] != [outputs; 5]
    {
        return Err(LearnError::Input(
            "a batch norm does not fit its convolution".into(),
        ));
    }
    let row = inputs * kernel * kernel;
    let mut bias = Vec::with_capacity(outputs);
    for o in 0..outputs {
        // In f64, so folding adds no rounding of its own beyond the final cast.
        let scale = f64::from(gamma[o]) / (f64::from(var[o]) + bn.epsilon).sqrt();
        for w in &mut weight[o * row..][..row] {
            *w = (f64::from(*w) * scale) as f32;
        }
        bias.push(
            ((f64::from(conv_bias[o]) - f64::from(mean[o])) * scale + f64::from(beta[o])) as f32,
        );
    }
    Ok(FoldedConv {
        inputs,
        outputs,
        kernel,
        stride: conv.stride[0],
        pad: kernel / 2,
        weight,
        bias,
    })
}

impl FrozenNet {
    /// `side`: the side of the square images the network was trained on.
    pub fn new(net: &Net, side: usize) -> Result<FrozenNet, LearnError> {
        let blocks = net
            .blocks
            .iter()
            .map(|b| {
                Ok(FoldedBlock {
                    conv1: fold(&b.conv1, &b.bn1)?,
                    conv2: fold(&b.conv2, &b.bn2)?,
                    project: match (&b.project, &b.project_bn) {
                        (Some(p), Some(bn)) => Some(fold(p, bn)?),
                        _ => None,
                    },
                })
            })
            .collect::<Result<Vec<_>, LearnError>>()?;
        let head = net.head.weight.val();
        let [features, classes] = head.dims();
        let head_bias = match &net.head.bias {
            Some(b) => values(b.val())?,
            None => vec![0.0; classes],
        };
        let frozen = FrozenNet {
            side,
            stem: fold(&net.stem, &net.stem_bn)?,
            blocks,
            head_weight: values(head)?,
            head_bias,
            classes,
        };
        if frozen.blocks.last().map(|b| b.conv2.outputs) != Some(features) {
            return Err(LearnError::Input(
                "the head does not fit the last block".into(),
            ));
        }
        Ok(frozen)
    }

    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The last feature maps of one `side × side` image: what Grad-CAM weighs.
    pub fn features(&self, pixels: &[f32]) -> Result<Maps, LearnError> {
        self.features_with(pixels, Threads::All)
    }

    fn features_with(&self, pixels: &[f32], threads: Threads) -> Result<Maps, LearnError> {
        if pixels.len() != self.side * self.side {
            return Err(LearnError::Input(format!(
                "an image of {} values, not {}×{}",
                pixels.len(),
                self.side,
                self.side
            )));
        }
        let image = Maps {
            values: pixels.to_vec(),
            channels: 1,
            height: self.side,
            width: self.side,
        };
        let mut scratch = Vec::new();
        let mut x = max_pool_3x3_stride_2(
            &self.stem.forward(&image, true, threads, &mut scratch),
            threads,
        );
        for block in &self.blocks {
            let shortcut = match &block.project {
                Some(p) => p.forward(&x, false, threads, &mut scratch),
                None => x.clone(),
            };
            let y = block.conv1.forward(&x, true, threads, &mut scratch);
            let mut y = block.conv2.forward(&y, false, threads, &mut scratch);
            for (v, s) in y.values.iter_mut().zip(&shortcut.values) {
                *v = (*v + s).max(0.0);
            }
            x = y;
        }
        Ok(x)
    }

    /// The head's weight of each feature channel for `class` (Grad-CAM's channel weights).
    pub fn class_weights(&self, class: usize) -> Result<Vec<f32>, LearnError> {
        if class >= self.classes {
            return Err(LearnError::Input(format!("no class {class}")));
        }
        Ok(self
            .head_weight
            .chunks(self.classes)
            .map(|row| row[class])
            .collect())
    }

    fn probabilities_with(&self, pixels: &[f32], threads: Threads) -> Result<Vec<f32>, LearnError> {
        let maps = self.features_with(pixels, threads)?;
        let area = (maps.height * maps.width) as f32;
        let pooled: Vec<f32> = maps
            .values
            .chunks(maps.height * maps.width)
            .map(|plane| plane.iter().sum::<f32>() / area)
            .collect();
        let mut logits = self.head_bias.clone();
        for (feature, row) in pooled.iter().zip(self.head_weight.chunks(self.classes)) {
            for (l, w) in logits.iter_mut().zip(row) {
                *l += feature * w;
            }
        }
        let top = logits.iter().fold(f32::NEG_INFINITY, |a, b| a.max(*b));
        let exp: Vec<f32> = logits.iter().map(|l| (l - top).exp()).collect();
        let total: f32 = exp.iter().sum();
        Ok(exp.into_iter().map(|e| e / total).collect())
    }

    /// Class probabilities of one image.
    pub fn probabilities(&self, pixels: &[f32]) -> Result<Vec<f32>, LearnError> {
        self.probabilities_with(pixels, Threads::All)
    }

    /// Class probabilities of many images, in order. One image uses every thread inside
    /// its products; several are spread over the threads, one image each, which keeps the
    /// products single-threaded and the threads busy.
    pub fn probabilities_of(&self, images: &[&[f32]]) -> Result<Vec<Vec<f32>>, LearnError> {
        match images {
            [one] => Ok(vec![self.probabilities(one)?]),
            _ => images
                .par_iter()
                .map(|p| self.probabilities_with(p, Threads::One))
                .collect(),
        }
    }

    /// [`FrozenNet::probabilities_of`] over examples, `batch` at a time.
    pub fn probabilities_of_examples(
        &self,
        examples: &[Example],
        batch: usize,
    ) -> Result<Vec<Vec<f32>>, LearnError> {
        let mut out = Vec::with_capacity(examples.len());
        for chunk in examples.chunks(batch.max(1)) {
            let images: Vec<&[f32]> = chunk.iter().map(|e| e.pixels.as_slice()).collect();
            out.extend(self.probabilities_of(&images)?);
        }
        Ok(out)
    }
}

#[derive(Debug, Clone, Copy)]
enum Threads {
    One,
    All,
}

impl FoldedConv {
    fn forward(&self, x: &Maps, relu: bool, threads: Threads, scratch: &mut Vec<f32>) -> Maps {
        debug_assert_eq!(x.channels, self.inputs);
        let (k, stride, pad) = (self.kernel, self.stride, self.pad);
        let height = (x.height + 2 * pad - k) / stride + 1;
        let width = (x.width + 2 * pad - k) / stride + 1;
        let (rows, positions) = (self.inputs * k * k, height * width);
        // One image on every thread: bands of output rows, each cut and multiplied on its
        // own thread (the patches too, which a threaded product alone would leave on one).
        // Small products gain nothing from a second thread.
        let bands = match threads {
            Threads::All if self.outputs * rows * positions > 1 << 20 => {
                rayon::current_num_threads().clamp(1, height)
            }
            _ => 1,
        };
        let values = if bands == 1 {
            self.band(x, 0..height, relu, scratch)
        } else {
            let per = height.div_ceil(bands);
            let parts: Vec<(std::ops::Range<usize>, Vec<f32>)> = (0..bands)
                .into_par_iter()
                .map(|b| {
                    let band = b * per..((b + 1) * per).min(height);
                    (band.clone(), self.band(x, band, relu, &mut Vec::new()))
                })
                .collect();
            let mut out = vec![0.0f32; self.outputs * positions];
            for (band, part) in parts {
                let len = band.len() * width;
                for (o, channel) in out.chunks_exact_mut(positions).enumerate() {
                    channel[band.start * width..][..len].copy_from_slice(&part[o * len..][..len]);
                }
            }
            out
        };
        Maps {
            values,
            channels: self.outputs,
            height,
            width,
        }
    }

    /// The output rows `band` of this convolution of `x`, `[outputs, band.len()·width]`.
    fn band(
        &self,
        x: &Maps,
        band: std::ops::Range<usize>,
        relu: bool,
        scratch: &mut Vec<f32>,
    ) -> Vec<f32> {
        let (k, stride, pad) = (self.kernel, self.stride, self.pad);
        let width = (x.width + 2 * pad - k) / stride + 1;
        let (rows, positions) = (self.inputs * k * k, band.len() * width);
        scratch.clear();
        scratch.resize(rows * positions, 0.0);
        im2col_rows(
            &x.values,
            [x.channels, x.height, x.width],
            k,
            stride,
            pad,
            band,
            scratch,
        );
        let mut out = Vec::with_capacity(self.outputs * positions);
        for b in &self.bias {
            out.extend(std::iter::repeat_n(*b, positions));
        }
        product(
            &mut out,
            Matrix::new(&self.weight, self.outputs, rows),
            Matrix::new(scratch, rows, positions),
            true,
            false,
        );
        if relu {
            for v in &mut out {
                *v = v.max(0.0);
            }
        }
        out
    }
}

/// Max pooling, 3×3 window, stride 2, padding 1.
fn max_pool_3x3_stride_2(x: &Maps, threads: Threads) -> Maps {
    let (height, width) = pooled([x.height, x.width]);
    let mut values = vec![0.0f32; x.channels * height * width];
    let pool = |(plane, out): (&[f32], &mut [f32])| {
        max_pool_plane(plane, [x.height, x.width], out, None);
    };
    let (plane, pooled) = (x.height * x.width, height * width);
    match threads {
        Threads::All => x
            .values
            .par_chunks(plane)
            .zip(values.par_chunks_mut(pooled))
            .for_each(pool),
        Threads::One => x
            .values
            .chunks(plane)
            .zip(values.chunks_mut(pooled))
            .for_each(pool),
    }
    Maps {
        values,
        channels: x.channels,
        height,
        width,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Shape;
    use crate::train::{Settings, train};
    use burn::prelude::*;

    fn images(n: usize, side: usize) -> Vec<Example> {
        (0..n)
            .map(|i| Example {
                pixels: (0..side * side)
                    .map(|j| (((i * 31 + j * 7) % 97) as f32 / 48.0) - 1.0)
                    .collect(),
                label: i % 2,
            })
            .collect()
    }

    /// Trained a little, so the batch norms' running statistics are no longer 0 and 1 and
    /// folding them is really exercised.
    #[test]
    fn the_frozen_network_scores_as_burn_does() {
        let shape = Shape {
            input: 48,
            ..Shape::default()
        };
        let data = images(12, 48);
        let settings = Settings {
            epochs: 2,
            batch: 4,
            augment: false,
            ..Settings::default()
        };
        let (net, _) = train(&shape, &data, &[], &settings, |_| {}).expect("trains");
        let frozen = FrozenNet::new(&net, shape.input).expect("freezes");
        let device = Device::flex();
        for example in &data[..3] {
            let x = Tensor::<4>::from_data(
                burn::tensor::TensorData::new(example.pixels.clone(), [1, 1, 48, 48]),
                &device,
            );
            let expected =
                values(burn::tensor::activation::softmax(net.forward(x.clone()), 1)).expect("f32");
            let got = frozen.probabilities(&example.pixels).expect("scores");
            for (e, g) in expected.iter().zip(&got) {
                assert!((e - g).abs() < 1e-5, "{expected:?} vs {got:?}");
            }
            let maps = frozen.features(&example.pixels).expect("features");
            let burn_maps = values(net.features(x)).expect("f32");
            assert_eq!(maps.values.len(), burn_maps.len());
            let worst = maps
                .values
                .iter()
                .zip(&burn_maps)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(worst < 1e-3, "{worst}");
        }
        let refs: Vec<&[f32]> = data.iter().map(|e| e.pixels.as_slice()).collect();
        let batch = frozen.probabilities_of(&refs).expect("scores");
        for (one, example) in batch.iter().zip(&data) {
            assert_eq!(one, &frozen.probabilities(&example.pixels).expect("scores"));
        }
        assert!(frozen.probabilities(&[0.0; 10]).is_err());
    }

    #[test]
    fn max_pooling_matches_burn_and_ignores_the_padding() {
        use burn::nn::PaddingConfig2d;
        use burn::nn::pool::MaxPool2dConfig;
        // All negative, so a zero padding would win if it were counted.
        let values: Vec<f32> = (0..2 * 7 * 6)
            .map(|i| -1.0 - ((i * 37) % 23) as f32)
            .collect();
        let x = Maps {
            values: values.clone(),
            channels: 2,
            height: 7,
            width: 6,
        };
        let ours = max_pool_3x3_stride_2(&x, Threads::All);
        assert_eq!(ours.values, max_pool_3x3_stride_2(&x, Threads::One).values);
        let pool = MaxPool2dConfig::new([3, 3])
            .with_strides([2, 2])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init();
        let device = Device::flex();
        let input =
            Tensor::<4>::from_data(burn::tensor::TensorData::new(values, [1, 2, 7, 6]), &device);
        let theirs = pool.forward(input);
        assert_eq!(theirs.dims(), [1, 2, ours.height, ours.width]);
        assert_eq!(ours.values, super::values(theirs).expect("f32"));
        assert!(ours.values.iter().all(|v| *v < 0.0));
    }
}
