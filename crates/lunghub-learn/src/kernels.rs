//! The training kernels on the CPU: convolution, batch norm and max pooling as a burn
//! backend extension over burn-flex, each with its own forward and backward pass.
//!
//! Why not burn-flex's own: perf profiles of a training epoch here put over half of it in
//! and around burn-flex's `conv2d` and its default backward pass, and most of that ran on
//! one of the two cores. Its forward pass copies every input to NHWC on one thread; the
//! weight gradient is a convolution of the input by the output gradient, with the batch as
//! channels, after two strided transposes; the input gradient is a transposed convolution.
//! Batch norm in training was a chain of separate passes with a transpose for its
//! statistics, and the max pool another eighth of the time. Here:
//! - a convolution is, per image, the patches (`im2col`, NCHW) times the weights (`gemm`);
//!   its backward pass is, per image, the weights' transpose times the output gradient,
//!   folded back onto the image (`col2im`), and the output gradient times the patches,
//!   summed over the batch;
//! - batch norm takes its statistics per channel in one pass each, and its backward pass is
//!   the closed form;
//! - the 3×3 stride-2 max pool is separable and branch-free, and keeps where each maximum
//!   was for its backward pass.
//!
//! Images, channels or planes are spread over the threads. Results do not depend on the
//! number of threads or on scheduling: the batch is cut into fixed groups of [`GROUP`] images
//! whose weight gradients are summed in order, and every other sum runs in a fixed order, so
//! a training run reproduces byte for byte (tested).
//!
//! The ops run on burn-flex (and autodiff over it) in f32 only; on any other device, such as
//! the `cuda` feature's, the wrappers below ([`conv2d`], [`batch_norm`], [`max_pool`]) call
//! burn's own ops.

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{
    Autodiff, AutodiffBackend, Backend, Dispatch, DispatchDevice, DispatchTensor, Flex,
};
use burn::module::RunningState;
use burn::nn::BatchNorm;
use burn::nn::pool::MaxPool2d;
use burn::prelude::*;
use burn::tensor::module::conv2d as burn_conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, TensorData};
use rayon::prelude::*;

/// Images whose weight gradients one task sums before the fixed-order sum over groups.
const GROUP: usize = 4;

/// A square convolution without bias or dilation, one group, symmetric zero padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub channels_in: usize,
    pub height: usize,
    pub width: usize,
    pub channels_out: usize,
    pub kernel: usize,
    pub stride: usize,
    pub pad: usize,
}

impl Geometry {
    pub fn out_height(&self) -> usize {
        (self.height + 2 * self.pad - self.kernel) / self.stride + 1
    }
    pub fn out_width(&self) -> usize {
        (self.width + 2 * self.pad - self.kernel) / self.stride + 1
    }
    /// Rows of the patch matrix: one per input channel and kernel tap.
    fn rows(&self) -> usize {
        self.channels_in * self.kernel * self.kernel
    }
    fn positions(&self) -> usize {
        self.out_height() * self.out_width()
    }
    fn image_len(&self) -> usize {
        self.channels_in * self.height * self.width
    }
    fn output_len(&self) -> usize {
        self.channels_out * self.positions()
    }
    /// A 1×1 stride-1 convolution reads the image itself as its patch matrix.
    fn is_pointwise(&self) -> bool {
        self.kernel == 1 && self.stride == 1 && self.pad == 0
    }
}

/// A row-major matrix, or the transpose of one, borrowed for [`product`].
#[derive(Clone, Copy)]
pub(crate) struct Matrix<'a> {
    values: &'a [f32],
    rows: usize,
    cols: usize,
    transposed: bool,
}

impl<'a> Matrix<'a> {
    /// `values` as a row-major `rows × cols` matrix.
    pub fn new(values: &'a [f32], rows: usize, cols: usize) -> Matrix<'a> {
        assert_eq!(values.len(), rows * cols, "matrix of {rows}×{cols}");
        Matrix {
            values,
            rows,
            cols,
            transposed: false,
        }
    }

    /// The transpose, without moving a value.
    pub fn t(self) -> Matrix<'a> {
        Matrix {
            rows: self.cols,
            cols: self.rows,
            transposed: !self.transposed,
            ..self
        }
    }

    /// (column stride, row stride) of the matrix as read.
    fn strides(&self) -> (isize, isize) {
        if self.transposed {
            // Entry (i, j) is stored at j·rows + i: the stored matrix has `rows` columns.
            (self.rows as isize, 1)
        } else {
            (1, self.cols as isize)
        }
    }
}

/// The longest run of the inner dimension that one gemm call sums.
const INNER_BLOCK: usize = 512;

/// The runs `(start, length)` of the inner dimension `k` of an `m×k · k×n` product that
/// [`product`] sums one gemm call each, in order.
///
/// gemm cuts a long inner dimension into blocks whose length it derives from the L1 cache
/// it reads from sysfs: 1024 on a 48 KiB 12-way L1, 512 on a 32 KiB 8-way one, other values
/// where hyperthreads share the L1. Float sums then round differently from machine to
/// machine, and a training run did not reproduce on another CPU. gemm never cuts a run of
/// 512 or fewer, so cutting here first makes the sums the same on every machine. The cuts
/// are the ones gemm itself makes on a 32 KiB 8-way L1 (fixed runs of 512 when both `m` and
/// `n` are at most 64, otherwise `k` shared out evenly in runs of at most 512), so that
/// results computed there before this existed still reproduce.
pub(crate) fn inner_blocks(m: usize, k: usize, n: usize) -> impl Iterator<Item = (usize, usize)> {
    let run = if m <= 64 && n <= 64 {
        INNER_BLOCK
    } else {
        k.div_ceil(k.div_ceil(INNER_BLOCK).max(1)).max(1)
    };
    (0..k)
        .step_by(run)
        .map(move |start| (start, run.min(k - start)))
}

/// `out = a · b`, or `out += a · b` with `accumulate`; `out` is row-major.
pub(crate) fn product(out: &mut [f32], a: Matrix, b: Matrix, accumulate: bool, parallel: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert!(
        b.rows == k && out.len() == m * n,
        "product of {m}×{k} by {}×{n}",
        b.rows
    );
    let (a_cs, a_rs) = a.strides();
    let (b_cs, b_rs) = b.strides();
    if k == 0 {
        if !accumulate {
            out.fill(0.0);
        }
        return;
    }
    // The same arithmetic on every x86-64 CPU with AVX2 and FMA: fixed runs of the inner
    // dimension (see `inner_blocks`), each one fused multiply-add after another per output
    // in gemm's AVX2 kernels, which it runs on AVX-512 CPUs too (its `x86-v4` feature is
    // off). The `products_are_sequential_fused_sums` test holds gemm to that on whatever
    // machine runs it.
    for (block, (start, depth)) in inner_blocks(m, k, n).enumerate() {
        // SAFETY: `Matrix::new` checked that each input slice holds exactly its matrix, and
        // `strides` describes that layout (or its transpose), so gemm reads only inside
        // them: columns `start..start + depth` of `a` begin `start` column strides in, and
        // the same rows of `b` `start` row strides in. The assert above sizes `out`, which
        // is borrowed mutably and so aliases neither input.
        unsafe {
            gemm::gemm(
                m,
                n,
                depth,
                out.as_mut_ptr(),
                1,
                n as isize,
                accumulate || block > 0,
                a.values.as_ptr().offset(start as isize * a_cs),
                a_cs,
                a_rs,
                b.values.as_ptr().offset(start as isize * b_rs),
                b_cs,
                b_rs,
                1.0,
                1.0,
                false,
                false,
                false,
                if parallel {
                    gemm::Parallelism::Rayon(0)
                } else {
                    gemm::Parallelism::None
                },
            );
        }
    }
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
    im2col_rows(image, [channels, height, width], k, stride, pad, 0..oh, out);
}

/// [`im2col`] for the output rows `rows` only: a `[channels·k·k, rows.len()·ow]` matrix.
#[inline]
pub(crate) fn im2col_rows(
    image: &[f32],
    [channels, height, width]: [usize; 3],
    k: usize,
    stride: usize,
    pad: usize,
    rows: std::ops::Range<usize>,
    out: &mut [f32],
) {
    each_run(
        [channels, height, width],
        k,
        stride,
        pad,
        rows,
        |to, from, count| {
            let dst = &mut out[to..][..count];
            let src = &image[from..][..(count - 1) * stride + 1];
            if stride == 1 {
                dst.copy_from_slice(src);
            } else {
                // Chunks rather than `step_by`, whose per-element `nth` took most of the time.
                for (d, s) in dst.iter_mut().zip(src.chunks(stride)) {
                    *d = s[0];
                }
            }
        },
    );
}

/// The inverse of [`im2col`]: adds each entry of the patch matrix onto the image position
/// it was read from.
fn col2im(
    columns: &[f32],
    [channels, height, width]: [usize; 3],
    k: usize,
    stride: usize,
    pad: usize,
    image: &mut [f32],
) {
    let oh = (height + 2 * pad - k) / stride + 1;
    each_run(
        [channels, height, width],
        k,
        stride,
        pad,
        0..oh,
        |to, from, count| {
            let src = &columns[to..][..count];
            let dst = &mut image[from..][..(count - 1) * stride + 1];
            if stride == 1 {
                for (d, s) in dst.iter_mut().zip(src) {
                    *d += s;
                }
            } else {
                for (d, s) in dst.chunks_mut(stride).zip(src) {
                    d[0] += s;
                }
            }
        },
    );
}

/// The runs of the patch matrix (of output rows `out_rows`) that read the image: for each
/// kernel tap and output row inside the image, `visit(to, from, count)` says that patch
/// entries `to..to + count` read image positions `from, from + stride, …` (the output
/// columns whose input lies inside the image; the others read the zero padding).
#[inline(always)]
fn each_run(
    [channels, height, width]: [usize; 3],
    k: usize,
    stride: usize,
    pad: usize,
    out_rows: std::ops::Range<usize>,
    mut visit: impl FnMut(usize, usize, usize),
) {
    let ow = (width + 2 * pad - k) / stride + 1;
    let positions = out_rows.len() * ow;
    for c in 0..channels {
        for ky in 0..k {
            for kx in 0..k {
                let row = (c * k + ky) * k + kx;
                let first = pad.saturating_sub(kx).div_ceil(stride);
                let last = (width + pad - kx).div_ceil(stride).min(ow);
                if first >= last {
                    continue;
                }
                for oy in out_rows.clone() {
                    let Some(iy) = (oy * stride + ky).checked_sub(pad) else {
                        continue;
                    };
                    if iy >= height {
                        continue;
                    }
                    visit(
                        row * positions + (oy - out_rows.start) * ow + first,
                        (c * height + iy) * width + first * stride + kx - pad,
                        last - first,
                    );
                }
            }
        }
    }
}

/// The convolution of a batch: `x` is `[batch, channels_in, height, width]`, `weight`
/// `[channels_out, channels_in, k, k]`; returns `[batch, channels_out, oh, ow]`.
pub(crate) fn conv_forward(x: &[f32], weight: &[f32], geometry: Geometry) -> Vec<f32> {
    let g = geometry;
    let batch = x.len() / g.image_len();
    let weights = Matrix::new(weight, g.channels_out, g.rows());
    let mut out = vec![0.0f32; batch * g.output_len()];
    out.par_chunks_mut(g.output_len())
        .zip(x.par_chunks(g.image_len()))
        .for_each_init(Vec::new, |scratch, (y, image)| {
            let patches = patches(image, g, scratch);
            product(
                y,
                weights,
                Matrix::new(patches, g.rows(), g.positions()),
                false,
                false,
            );
        });
    out
}

/// The patch matrix of one image, in `scratch` unless the image is its own.
fn patches<'a>(image: &'a [f32], g: Geometry, scratch: &'a mut Vec<f32>) -> &'a [f32] {
    if g.is_pointwise() {
        return image;
    }
    scratch.clear();
    scratch.resize(g.rows() * g.positions(), 0.0);
    im2col(
        image,
        [g.channels_in, g.height, g.width],
        g.kernel,
        g.stride,
        g.pad,
        scratch,
    );
    scratch
}

/// The gradients of [`conv_forward`] with respect to its input (when `want_input`) and its
/// weight (when `want_weight`), given the gradient of its output.
pub(crate) fn conv_backward(
    x: &[f32],
    weight: &[f32],
    output_grad: &[f32],
    geometry: Geometry,
    want_input: bool,
    want_weight: bool,
) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
    let g = geometry;
    let batch = x.len() / g.image_len();
    let weights = Matrix::new(weight, g.channels_out, g.rows());
    let mut input_grad = want_input.then(|| vec![0.0f32; batch * g.image_len()]);
    let slots: Vec<Option<&mut [f32]>> = match input_grad.as_mut() {
        Some(grad) => grad.chunks_mut(GROUP * g.image_len()).map(Some).collect(),
        None => (0..batch.div_ceil(GROUP)).map(|_| None).collect(),
    };
    let partials: Vec<Option<Vec<f32>>> = slots
        .into_par_iter()
        .zip(x.par_chunks(GROUP * g.image_len()))
        .zip(output_grad.par_chunks(GROUP * g.output_len()))
        .map(|((mut slot, images), grads)| {
            let mut weight_grad = want_weight.then(|| vec![0.0f32; g.channels_out * g.rows()]);
            let mut scratch = Vec::new();
            let columns_len = if want_input {
                g.rows() * g.positions()
            } else {
                0
            };
            let mut columns = vec![0.0f32; columns_len];
            for (i, (image, grad)) in images
                .chunks(g.image_len())
                .zip(grads.chunks(g.output_len()))
                .enumerate()
            {
                let grad = Matrix::new(grad, g.channels_out, g.positions());
                if let Some(acc) = weight_grad.as_mut() {
                    let patches = patches(image, g, &mut scratch);
                    product(
                        acc,
                        grad,
                        Matrix::new(patches, g.rows(), g.positions()).t(),
                        true,
                        false,
                    );
                }
                if let Some(slot) = slot.as_deref_mut() {
                    let image_grad = &mut slot[i * g.image_len()..][..g.image_len()];
                    if g.is_pointwise() {
                        product(image_grad, weights.t(), grad, false, false);
                    } else {
                        product(&mut columns, weights.t(), grad, false, false);
                        col2im(
                            &columns,
                            [g.channels_in, g.height, g.width],
                            g.kernel,
                            g.stride,
                            g.pad,
                            image_grad,
                        );
                    }
                }
            }
            weight_grad
        })
        .collect();
    let weight_grad = want_weight.then(|| {
        let mut sum = vec![0.0f32; g.channels_out * g.rows()];
        for partial in partials.into_iter().flatten() {
            for (s, p) in sum.iter_mut().zip(partial) {
                *s += p;
            }
        }
        sum
    });
    (input_grad, weight_grad)
}

/// The max of each 3×3 window, stride 2, padding 1 (the padding never wins, as in burn and
/// PyTorch), of one `height × width` plane into `out`; with `argmax`, the index in the
/// plane each maximum came from (the first, in reading order, on ties).
pub(crate) fn max_pool_plane(
    plane: &[f32],
    [height, width]: [usize; 2],
    out: &mut [f32],
    mut argmax: Option<&mut [u32]>,
) {
    let (oh, ow) = pooled([height, width]);
    // Separable: the max over three columns of each row, then over three rows of those.
    let mut across = vec![0.0f32; height * ow];
    let mut column = vec![0u32; height * ow];
    for ((row, tops), cols) in plane
        .chunks_exact(width)
        .zip(across.chunks_exact_mut(ow))
        .zip(column.chunks_exact_mut(ow))
    {
        for (ox, (top, col)) in tops.iter_mut().zip(cols.iter_mut()).enumerate() {
            let start = (2 * ox).saturating_sub(1);
            let (value, at) = first_max(&row[start..(2 * ox + 2).min(width)]);
            *top = value;
            *col = (start + at) as u32;
        }
    }
    let mut row_of = vec![0u32; ow];
    for (oy, tops) in out.chunks_exact_mut(ow).take(oh).enumerate() {
        let start = (2 * oy).saturating_sub(1);
        tops.copy_from_slice(&across[start * ow..][..ow]);
        row_of.fill(start as u32);
        for y in start + 1..(2 * oy + 2).min(height) {
            for ((top, at), v) in tops
                .iter_mut()
                .zip(&mut row_of)
                .zip(&across[y * ow..][..ow])
            {
                let take = beats(*v, *top);
                *top = if take { *v } else { *top };
                *at = if take { y as u32 } else { *at };
            }
        }
        if let Some(argmax) = argmax.as_deref_mut() {
            for (ox, (index, y)) in argmax[oy * ow..][..ow].iter_mut().zip(&row_of).enumerate() {
                let y = *y as usize;
                *index = (y * width) as u32 + column[y * ow + ox];
            }
        }
    }
}

/// Whether `v` replaces `top` as a window's maximum: the strict `>` keeps the first
/// maximum, and a NaN replaces anything, so that it propagates (PyTorch's rule). The
/// non-short-circuit `|`, and selects rather than branches where it is used: the outcome is
/// data, and mispredicted branches took most of the pooling's time.
#[inline(always)]
#[allow(clippy::nonminimal_bool)]
fn beats(v: f32, top: f32) -> bool {
    (v > top) | v.is_nan()
}

/// The first maximum of a short window, and where it is.
#[inline(always)]
fn first_max(window: &[f32]) -> (f32, usize) {
    // The full window, as an array the compiler unrolls.
    if let Ok([a, b, c]) = <[f32; 3]>::try_from(window) {
        let (top, at) = if beats(b, a) { (b, 1) } else { (a, 0) };
        return if beats(c, top) { (c, 2) } else { (top, at) };
    }
    let (mut top, mut at) = (window[0], 0);
    for (i, v) in window.iter().enumerate().skip(1) {
        let take = beats(*v, top);
        top = if take { *v } else { top };
        at = if take { i } else { at };
    }
    (top, at)
}

/// The side of a plane after [`max_pool_plane`].
pub(crate) fn pooled([height, width]: [usize; 2]) -> (usize, usize) {
    ((height + 2 - 3) / 2 + 1, (width + 2 - 3) / 2 + 1)
}

/// Max pooling of `[planes, height, width]`: the pooled planes and where each maximum was.
fn max_pool_forward(x: &[f32], [height, width]: [usize; 2]) -> (Vec<f32>, Vec<u32>) {
    let (oh, ow) = pooled([height, width]);
    let planes = x.len() / (height * width);
    let mut out = vec![0.0f32; planes * oh * ow];
    let mut argmax = vec![0u32; planes * oh * ow];
    out.par_chunks_mut(oh * ow)
        .zip(argmax.par_chunks_mut(oh * ow))
        .zip(x.par_chunks(height * width))
        .for_each(|((out, argmax), plane)| {
            max_pool_plane(plane, [height, width], out, Some(argmax));
        });
    (out, argmax)
}

/// The gradient of max pooling: each output's gradient goes to where its maximum was.
fn max_pool_backward(output_grad: &[f32], argmax: &[u32], [height, width]: [usize; 2]) -> Vec<f32> {
    let (oh, ow) = pooled([height, width]);
    let planes = output_grad.len() / (oh * ow);
    let mut input_grad = vec![0.0f32; planes * height * width];
    input_grad
        .par_chunks_mut(height * width)
        .zip(output_grad.par_chunks(oh * ow))
        .zip(argmax.par_chunks(oh * ow))
        .for_each(|((dx, dy), at)| {
            for (g, i) in dy.iter().zip(at) {
                dx[*i as usize] += g;
            }
        });
    input_grad
}

/// Per-channel batch statistics of `[batch, channels, positions]`: the mean and the biased
/// variance (as burn's and PyTorch's batch norm take them). Each plane is summed in f32
/// lanes and the planes in f64, in a fixed order.
fn channel_statistics(x: &[f32], channels: usize, positions: usize) -> (Vec<f32>, Vec<f32>) {
    let batch = x.len() / (channels * positions);
    let n = (batch * positions) as f64;
    (0..channels)
        .into_par_iter()
        .map(|c| {
            let planes =
                || (0..batch).map(move |b| &x[(b * channels + c) * positions..][..positions]);
            let mean = planes().map(|p| lane_sum(p, |v| v)).sum::<f64>() / n;
            let centre = mean as f32;
            let squares: f64 = planes()
                .map(|p| lane_sum(p, |v| (v - centre) * (v - centre)))
                .sum();
            (centre, (squares / n) as f32)
        })
        .unzip()
}

/// Σ f(v) over `values`, in eight f32 lanes (which the compiler vectorises), then in f64.
fn lane_sum(values: &[f32], f: impl Fn(f32) -> f32) -> f64 {
    let mut lanes = [0.0f32; 8];
    let chunks = values.chunks_exact(8);
    let rest: f64 = chunks.remainder().iter().map(|v| f64::from(f(*v))).sum();
    for chunk in chunks {
        for (lane, v) in lanes.iter_mut().zip(chunk) {
            *lane += f(*v);
        }
    }
    lanes.iter().map(|l| f64::from(*l)).sum::<f64>() + rest
}

/// Batch norm in training: normalises each channel of `[batch, channels, positions]` by its
/// batch statistics, then scales by `gamma` and shifts by `beta`. Returns the output, the
/// means and the variances.
fn batch_norm_forward(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    positions: usize,
    epsilon: f64,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let channels = gamma.len();
    let (mean, variance) = channel_statistics(x, channels, positions);
    let (scale, shift): (Vec<f32>, Vec<f32>) = (0..channels)
        .map(|c| {
            let scale = gamma[c] / (f64::from(variance[c]) + epsilon).sqrt() as f32;
            (scale, beta[c] - mean[c] * scale)
        })
        .unzip();
    let mut out = vec![0.0f32; x.len()];
    out.par_chunks_mut(positions)
        .zip(x.par_chunks(positions))
        .enumerate()
        .for_each(|(i, (out, x))| {
            let c = i % channels;
            for (o, v) in out.iter_mut().zip(x) {
                *o = v * scale[c] + shift[c];
            }
        });
    (out, mean, variance)
}

/// Σ a·(b − centre), in eight f32 lanes, then in f64.
fn lane_dot(a: &[f32], b: &[f32], centre: f32) -> f64 {
    let mut lanes = [0.0f32; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let rest: f64 = ac
        .remainder()
        .iter()
        .zip(bc.remainder())
        .map(|(a, b)| f64::from(a * (b - centre)))
        .sum();
    for (a, b) in ac.zip(bc) {
        for ((lane, a), b) in lanes.iter_mut().zip(a).zip(b) {
            *lane += a * (b - centre);
        }
    }
    lanes.iter().map(|l| f64::from(*l)).sum::<f64>() + rest
}

/// The gradients of [`batch_norm_forward`] with respect to the input, `gamma` and `beta`.
fn batch_norm_backward(
    x: &[f32],
    gamma: &[f32],
    mean: &[f32],
    variance: &[f32],
    output_grad: &[f32],
    positions: usize,
    epsilon: f64,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let channels = gamma.len();
    let batch = x.len() / (channels * positions);
    let n = (batch * positions) as f64;
    let inv_std: Vec<f64> = variance
        .iter()
        .map(|v| 1.0 / (f64::from(*v) + epsilon).sqrt())
        .collect();
    // Σ dy and Σ dy·x̂ per channel: the gradients of beta and gamma.
    let (beta_grad, gamma_grad): (Vec<f32>, Vec<f32>) = (0..channels)
        .into_par_iter()
        .map(|c| {
            let (mut dy_sum, mut dy_centred) = (0.0f64, 0.0f64);
            for b in 0..batch {
                let at = (b * channels + c) * positions;
                let (dy, x) = (&output_grad[at..][..positions], &x[at..][..positions]);
                dy_sum += lane_sum(dy, |g| g);
                dy_centred += lane_dot(dy, x, mean[c]);
            }
            (dy_sum as f32, (dy_centred * inv_std[c]) as f32)
        })
        .unzip();
    // dx = γ/σ · (dy − mean(dy) − x̂ · mean(dy·x̂))
    let mut input_grad = vec![0.0f32; x.len()];
    input_grad
        .par_chunks_mut(positions)
        .zip(x.par_chunks(positions))
        .zip(output_grad.par_chunks(positions))
        .enumerate()
        .for_each(|(i, ((dx, x), dy))| {
            let c = i % channels;
            let scale = (f64::from(gamma[c]) * inv_std[c]) as f32;
            let dy_mean = (f64::from(beta_grad[c]) / n) as f32;
            let dy_xhat_mean = (f64::from(gamma_grad[c]) / n) as f32;
            let (m, s) = (mean[c], inv_std[c] as f32);
            for ((d, v), g) in dx.iter_mut().zip(x).zip(dy) {
                let xhat = (v - m) * s;
                *d = scale * (g - dy_mean - xhat * dy_xhat_mean);
            }
        });
    (input_grad, gamma_grad, beta_grad)
}

/// What a burn backend needs to run lunghub's training kernels.
#[burn::backend::backend_extension(Flex, Autodiff)]
pub trait TrainingKernels: Backend {
    /// [`conv_forward`] on the backend's tensors.
    fn lunghub_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
        pad: usize,
    ) -> FloatTensor<Self>;

    /// [`batch_norm_forward`]: the output, and the batch means and variances (untracked).
    fn lunghub_batch_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// Max pooling, 3×3 window, stride 2, padding 1.
    fn lunghub_max_pool(x: FloatTensor<Self>) -> FloatTensor<Self>;
}

fn geometry_of(x: &FlexTensor, weight: &FlexTensor, stride: usize, pad: usize) -> Geometry {
    let x = x.layout().shape();
    let w = weight.layout().shape();
    Geometry {
        channels_in: x[1],
        height: x[2],
        width: x[3],
        channels_out: w[0],
        kernel: w[2],
        stride,
        pad,
    }
}

fn flex_of(values: Vec<f32>, shape: [usize; 4]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

fn dims4(x: &FlexTensor) -> [usize; 4] {
    let shape = x.layout().shape();
    [shape[0], shape[1], shape[2], shape[3]]
}

fn vector_of(values: Vec<f32>) -> FlexTensor {
    let len = values.len();
    FlexTensor::from_data(TensorData::new(values, [len]))
}

/// Max pooling of a burn-flex tensor, and where each maximum was.
fn flex_max_pool(x: FlexTensor) -> (FlexTensor, Vec<u32>, [usize; 4]) {
    let x = x.to_contiguous();
    let [batch, channels, height, width] = dims4(&x);
    let (out, argmax) = max_pool_forward(x.storage::<f32>(), [height, width]);
    let (oh, ow) = pooled([height, width]);
    (
        flex_of(out, [batch, channels, oh, ow]),
        argmax,
        [batch, channels, height, width],
    )
}

impl TrainingKernels for Flex {
    fn lunghub_conv2d(x: FlexTensor, weight: FlexTensor, stride: usize, pad: usize) -> FlexTensor {
        let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
        let g = geometry_of(&x, &weight, stride, pad);
        let batch = x.layout().shape()[0];
        let out = conv_forward(x.storage::<f32>(), weight.storage::<f32>(), g);
        flex_of(out, [batch, g.channels_out, g.out_height(), g.out_width()])
    }

    fn lunghub_batch_norm(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f64,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let x = x.to_contiguous();
        let shape = dims4(&x);
        let (out, mean, variance) = batch_norm_forward(
            x.storage::<f32>(),
            gamma.to_contiguous().storage::<f32>(),
            beta.to_contiguous().storage::<f32>(),
            shape[2] * shape[3],
            epsilon,
        );
        (flex_of(out, shape), vector_of(mean), vector_of(variance))
    }

    fn lunghub_max_pool(x: FlexTensor) -> FlexTensor {
        flex_max_pool(x).0
    }
}

#[derive(Debug)]
struct ConvBackward;

impl Backward<Flex, 2> for ConvBackward {
    /// The input's and the weight's nodes, stride, padding.
    type State = (NodeId, NodeId, usize, usize);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node).to_contiguous();
        let (x_state, weight_state, stride, pad) = ops.state;
        let x = checkpointer
            .retrieve_node_output::<FlexTensor>(x_state)
            .to_contiguous();
        let weight = checkpointer
            .retrieve_node_output::<FlexTensor>(weight_state)
            .to_contiguous();
        let g = geometry_of(&x, &weight, stride, pad);
        let (input_grad, weight_grad) = conv_backward(
            x.storage::<f32>(),
            weight.storage::<f32>(),
            grad.storage::<f32>(),
            g,
            node_x.is_some(),
            node_weight.is_some(),
        );
        let x_shape = x.layout().shape();
        let w_shape = weight.layout().shape();
        if let (Some(node), Some(values)) = (node_x, input_grad) {
            let shape = [x_shape[0], x_shape[1], x_shape[2], x_shape[3]];
            grads.register::<Flex>(node.id, flex_of(values, shape));
        }
        if let (Some(node), Some(values)) = (node_weight, weight_grad) {
            let shape = [w_shape[0], w_shape[1], w_shape[2], w_shape[3]];
            grads.register::<Flex>(node.id, flex_of(values, shape));
        }
    }
}

impl<C: CheckpointStrategy> TrainingKernels for Autodiff<Flex, C> {
    fn lunghub_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
        pad: usize,
    ) -> FloatTensor<Self> {
        match ConvBackward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let weight_state = prep.checkpoint(&weight);
                prep.finish(
                    (x_state, weight_state, stride, pad),
                    Flex::lunghub_conv2d(x.into_primitive(), weight.into_primitive(), stride, pad),
                )
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::lunghub_conv2d(
                x.into_primitive(),
                weight.into_primitive(),
                stride,
                pad,
            )),
        }
    }

    fn lunghub_batch_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let gamma_values = gamma.primitive().to_contiguous().storage::<f32>().to_vec();
        let untracked = |t: FlexTensor| <Self as AutodiffBackend>::from_inner(t);
        match BatchNormBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let (out, mean, variance) = Flex::lunghub_batch_norm(
                    x.into_primitive(),
                    gamma.into_primitive(),
                    beta.into_primitive(),
                    epsilon,
                );
                let state = (
                    x_state,
                    gamma_values,
                    mean.storage::<f32>().to_vec(),
                    variance.storage::<f32>().to_vec(),
                    epsilon,
                );
                (
                    prep.finish(state, out),
                    untracked(mean),
                    untracked(variance),
                )
            }
            OpsKind::UnTracked(prep) => {
                let (out, mean, variance) = Flex::lunghub_batch_norm(
                    x.into_primitive(),
                    gamma.into_primitive(),
                    beta.into_primitive(),
                    epsilon,
                );
                (prep.finish(out), untracked(mean), untracked(variance))
            }
        }
    }

    fn lunghub_max_pool(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match MaxPoolBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (out, argmax, shape) = flex_max_pool(x.into_primitive());
                prep.finish((argmax, shape), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::lunghub_max_pool(x.into_primitive())),
        }
    }
}

#[derive(Debug)]
struct BatchNormBackward;

impl Backward<Flex, 3> for BatchNormBackward {
    /// The input's node; gamma, the batch means and variances as the forward pass used
    /// them; epsilon.
    type State = (NodeId, Vec<f32>, Vec<f32>, Vec<f32>, f64);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node).to_contiguous();
        let (x_state, gamma, mean, variance, epsilon) = ops.state;
        let x = checkpointer
            .retrieve_node_output::<FlexTensor>(x_state)
            .to_contiguous();
        let shape = dims4(&x);
        let (input_grad, gamma_grad, beta_grad) = batch_norm_backward(
            x.storage::<f32>(),
            &gamma,
            &mean,
            &variance,
            grad.storage::<f32>(),
            shape[2] * shape[3],
            epsilon,
        );
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, flex_of(input_grad, shape));
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, vector_of(gamma_grad));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, vector_of(beta_grad));
        }
    }
}

#[derive(Debug)]
struct MaxPoolBackward;

impl Backward<Flex, 1> for MaxPoolBackward {
    /// Where each maximum was, and the input's shape.
    type State = (Vec<u32>, [usize; 4]);

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node).to_contiguous();
        let (argmax, shape) = ops.state;
        if let Some(node) = node_x {
            let input_grad =
                max_pool_backward(grad.storage::<f32>(), &argmax, [shape[2], shape[3]]);
            grads.register::<Flex>(node.id, flex_of(input_grad, shape));
        }
    }
}

/// Whether lunghub's kernels take tensors like `x`: f32 on burn-flex.
fn runs_here(x: &Tensor<4>) -> bool {
    let on_flex = matches!(
        x.device().without_autodiff().as_dispatch(),
        DispatchDevice::Flex(_)
    );
    on_flex && x.dtype() == DType::F32
}

/// A batch norm layer: in training on burn-flex, lunghub's kernels, with the running
/// statistics updated as burn's `BatchNorm::forward_train` does; otherwise the layer's own
/// forward pass.
pub(crate) fn batch_norm(bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    let training = x.device().is_autodiff() && bn.training.is_enabled();
    if !training || !runs_here(&x) || bn.gamma.val().dtype() != DType::F32 {
        return bn.forward(x);
    }
    let device = x.device();
    let (out, mean, variance) = Dispatch::lunghub_batch_norm(
        x.into_dispatch(),
        bn.gamma.val().into_dispatch(),
        bn.beta.val().into_dispatch(),
        bn.epsilon,
    );
    let running = |state: &RunningState<Tensor<1>>, batch: DispatchTensor| {
        let batch = Tensor::<1>::from_dispatch(batch).detach();
        let value = state
            .value_sync()
            .to_device(&device)
            .mul_scalar(1.0 - bn.momentum)
            .add(batch.mul_scalar(bn.momentum));
        state.update(value.detach());
    };
    running(&bn.running_mean, mean);
    running(&bn.running_var, variance);
    Tensor::from_dispatch(out)
}

/// Max pooling, 3×3 window, stride 2, padding 1: lunghub's kernels on burn-flex, `burns`
/// (which must be that same pooling) anywhere else.
pub(crate) fn max_pool(burns: &MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    if runs_here(&x) {
        Tensor::from_dispatch(Dispatch::lunghub_max_pool(x.into_dispatch()))
    } else {
        burns.forward(x)
    }
}

/// A convolution without bias (square kernel, `stride`, zero padding `pad` on every side):
/// lunghub's kernels on burn-flex in f32, burn's convolution anywhere else.
pub(crate) fn conv2d(x: Tensor<4>, weight: Tensor<4>, stride: usize, pad: usize) -> Tensor<4> {
    if runs_here(&x) && weight.dtype() == DType::F32 {
        Tensor::from_dispatch(Dispatch::lunghub_conv2d(
            x.into_dispatch(),
            weight.into_dispatch(),
            stride,
            pad,
        ))
    } else {
        burn_conv2d(
            x,
            weight,
            None,
            ConvOptions::new([stride, stride], [pad, pad], [1, 1], 1),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (((i + seed) * 7919) % 251) as f32 / 125.0 - 1.0)
            .collect()
    }

    /// `a · b` as one chain of fused multiply-adds per output and per run of the inner
    /// dimension ([`inner_blocks`]), the runs added in order: the arithmetic [`product`] promises,
    /// written without SIMD, so that it gives the same bits on every CPU.
    fn sequential(out: &mut [f32], a: Matrix, b: Matrix, accumulate: bool) {
        let at = |x: &Matrix, i: usize, j: usize| {
            let (cs, rs) = x.strides();
            x.values[i * rs as usize + j * cs as usize]
        };
        let (m, k, n) = (a.rows, a.cols, b.cols);
        for i in 0..m {
            for j in 0..n {
                let mut total = accumulate.then(|| out[i * n + j]);
                for (start, depth) in inner_blocks(m, k, n) {
                    let mut sum = 0.0f32;
                    for d in start..start + depth {
                        sum = at(&a, i, d).mul_add(at(&b, d, j), sum);
                    }
                    total = Some(total.map_or(sum, |t| t + sum));
                }
                out[i * n + j] = total.unwrap_or(0.0);
            }
        }
    }

    /// Every layout and size class the network's products use (the stem's and the last
    /// stage's convolutions, forward and both gradients, inner dimensions below, at and
    /// past the block), against [`sequential`], bit for bit. This is what makes training
    /// reproducible across CPUs: if gemm summed in another order on some CPU (other SIMD
    /// kernels, or another blocking), this test fails there.
    #[test]
    fn products_are_sequential_fused_sums() {
        // (m, k, n, a transposed, b transposed)
        let shapes = [
            (16, 49, 4096, false, false),
            (16, 4096, 49, false, true),
            (49, 16, 4096, true, false),
            (128, 1152, 16, false, false),
            (128, 16, 1152, false, true),
            (1152, 128, 16, true, false),
            (64, 576, 64, false, false),
            (64, 64, 576, false, true),
            (32, 512, 33, false, false),
            (33, 513, 31, true, true),
            (2, 1100, 70, false, false),
        ];
        for (m, k, n, a_t, b_t) in shapes {
            let a_values = values(m * k, 11);
            let b_values = values(k * n, 13);
            let a = if a_t {
                Matrix::new(&a_values, k, m).t()
            } else {
                Matrix::new(&a_values, m, k)
            };
            let b = if b_t {
                Matrix::new(&b_values, n, k).t()
            } else {
                Matrix::new(&b_values, k, n)
            };
            let start = values(m * n, 17);
            for (accumulate, parallel) in [(false, false), (true, false), (false, true)] {
                let mut got = start.clone();
                product(&mut got, a, b, accumulate, parallel);
                let mut want = start.clone();
                sequential(&mut want, a, b, accumulate);
                let differing = got
                    .iter()
                    .zip(&want)
                    .filter(|(g, w)| g.to_bits() != w.to_bits())
                    .count();
                assert_eq!(
                    differing,
                    0,
                    "{m}×{k}·{k}×{n} (transposed {a_t}, {b_t}), accumulate {accumulate}, \
                     parallel {parallel}: {differing} of {} outputs differ",
                    got.len()
                );
            }
        }
    }

    /// Output, input gradient and weight gradient of burn's convolution and of lunghub's,
    /// on the autodiff device, for a loss that weighs every output differently.
    fn both(g: Geometry, batch: usize) -> [(Vec<f32>, Vec<f32>); 3] {
        let device = Device::flex().autodiff();
        let x_shape = [batch, g.channels_in, g.height, g.width];
        let w_shape = [g.channels_out, g.channels_in, g.kernel, g.kernel];
        let x_values = values(x_shape.iter().product(), 1);
        let w_values = values(w_shape.iter().product(), 2);
        let run = |ours: bool| {
            let x = Tensor::<4>::from_data(TensorData::new(x_values.clone(), x_shape), &device)
                .require_grad();
            let w = Tensor::<4>::from_data(TensorData::new(w_values.clone(), w_shape), &device)
                .require_grad();
            let y = if ours {
                assert!(runs_here(&x), "lunghub's kernels are not taken");
                conv2d(x.clone(), w.clone(), g.stride, g.pad)
            } else {
                burn_conv2d(
                    x.clone(),
                    w.clone(),
                    None,
                    ConvOptions::new([g.stride; 2], [g.pad; 2], [1, 1], 1),
                )
            };
            let dims = y.dims();
            let mix = Tensor::<4>::from_data(
                TensorData::new(values(dims.iter().product(), 3), dims),
                &device,
            );
            let grads = (y.clone() * mix).sum().backward();
            let flat = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().unwrap_or_default();
            let dx = x.grad(&grads).map(flat).unwrap_or_default();
            let dw = w.grad(&grads).map(flat).unwrap_or_default();
            (flat(y), dx, dw)
        };
        let (y0, dx0, dw0) = run(false);
        let (y1, dx1, dw1) = run(true);
        [(y0, y1), (dx0, dx1), (dw0, dw1)]
    }

    fn assert_close(name: &str, (expected, got): &(Vec<f32>, Vec<f32>)) {
        assert_eq!(expected.len(), got.len(), "{name}: lengths");
        assert!(!expected.is_empty(), "{name}: nothing computed");
        let scale = expected.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        for (i, (e, g)) in expected.iter().zip(got).enumerate() {
            assert!((e - g).abs() <= 1e-4 * scale, "{name}[{i}]: {e} vs {g}");
        }
    }

    #[test]
    fn the_kernels_match_burns_convolution_and_its_gradients() {
        let geometry = |channels_in, height, width, channels_out, kernel, stride, pad| Geometry {
            channels_in,
            height,
            width,
            channels_out,
            kernel,
            stride,
            pad,
        };
        for g in [
            // The stem, on an odd-sized image.
            geometry(1, 23, 18, 4, 7, 2, 3),
            geometry(3, 9, 11, 5, 3, 1, 1),
            geometry(3, 9, 11, 5, 3, 2, 1),
            // Projected shortcuts.
            geometry(4, 8, 7, 6, 1, 2, 0),
            geometry(4, 8, 7, 6, 1, 1, 0),
        ] {
            // 6 images: one full group of GROUP and a partial one.
            let [y, dx, dw] = both(g, 6);
            assert_close(&format!("{g:?} output"), &y);
            assert_close(&format!("{g:?} input gradient"), &dx);
            assert_close(&format!("{g:?} weight gradient"), &dw);
        }
    }

    #[test]
    fn batch_norm_matches_burns_in_training() {
        use burn::module::Param;
        use burn::nn::BatchNormConfig;
        let device = Device::flex().autodiff();
        let shape = [5, 3, 6, 7];
        let x_values = values(shape.iter().product(), 7);
        let mix_values = values(shape.iter().product(), 8);
        let run = |ours: bool| {
            let mut bn = BatchNormConfig::new(3).init(&device);
            // Gamma and beta away from 1 and 0, so that their roles show in the gradients.
            bn.gamma = Param::from_tensor(Tensor::from_floats([1.5, 0.75, -0.5], &device));
            bn.beta = Param::from_tensor(Tensor::from_floats([-0.5, 0.25, 2.0], &device));
            let x = Tensor::<4>::from_data(TensorData::new(x_values.clone(), shape), &device)
                .require_grad();
            let mix = Tensor::<4>::from_data(TensorData::new(mix_values.clone(), shape), &device);
            let y = if ours {
                assert!(runs_here(&x));
                batch_norm(&bn, x.clone())
            } else {
                bn.forward(x.clone())
            };
            let grads = (y.clone() * mix).sum().backward();
            let flat4 = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().unwrap_or_default();
            let flat1 = |t: Tensor<1>| t.into_data().try_to_vec::<f32>().unwrap_or_default();
            [
                flat4(y),
                x.grad(&grads).map(flat4).unwrap_or_default(),
                bn.gamma.grad(&grads).map(flat1).unwrap_or_default(),
                bn.beta.grad(&grads).map(flat1).unwrap_or_default(),
                flat1(bn.running_mean.value()),
                flat1(bn.running_var.value()),
            ]
        };
        let (theirs, ours) = (run(false), run(true));
        for (i, name) in [
            "output",
            "input gradient",
            "gamma gradient",
            "beta gradient",
            "running mean",
            "running variance",
        ]
        .iter()
        .enumerate()
        {
            assert_close(name, &(theirs[i].clone(), ours[i].clone()));
        }
    }

    #[test]
    fn max_pooling_matches_burns_and_routes_gradients_to_the_maxima() {
        use burn::nn::PaddingConfig2d;
        use burn::nn::pool::MaxPool2dConfig;
        let device = Device::flex().autodiff();
        let pool = MaxPool2dConfig::new([3, 3])
            .with_strides([2, 2])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init();
        let shape = [2, 3, 9, 8];
        let len: usize = shape.iter().product();
        // Distinct values (7919 is prime to 433), so no window has a tie.
        let x_values: Vec<f32> = (0..len).map(|i| ((i * 7919) % 433) as f32).collect();
        let run = |ours: bool| {
            let x = Tensor::<4>::from_data(TensorData::new(x_values.clone(), shape), &device)
                .require_grad();
            let y = if ours {
                max_pool(&pool, x.clone())
            } else {
                pool.forward(x.clone())
            };
            let dims = y.dims();
            let mix = Tensor::<4>::from_data(
                TensorData::new(values(dims.iter().product(), 9), dims),
                &device,
            );
            let grads = (y.clone() * mix).sum().backward();
            let flat = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().unwrap_or_default();
            (flat(y), x.grad(&grads).map(flat).unwrap_or_default())
        };
        let ((y0, dx0), (y1, dx1)) = (run(false), run(true));
        assert_close("output", &(y0, y1));
        assert_close("input gradient", &(dx0, dx1));
    }

    #[test]
    fn a_nan_in_a_window_propagates_and_takes_the_gradient() {
        let mut plane: Vec<f32> = (0..36).map(|i| i as f32).collect();
        plane[7] = f32::NAN; // row 1, column 1: in the windows of outputs (0,0), (0,1), (1,0), (1,1)
        let mut out = vec![0.0f32; 9];
        let mut argmax = vec![0u32; 9];
        max_pool_plane(&plane, [6, 6], &mut out, Some(&mut argmax));
        for o in [0, 1, 3, 4] {
            assert!(out[o].is_nan(), "output {o}: {}", out[o]);
            assert_eq!(argmax[o], 7, "output {o}");
        }
        // Elsewhere the window's largest value, which is its bottom-right corner here.
        assert_eq!((out[8], argmax[8]), (35.0, 35));
        assert_eq!((out[2], argmax[2]), (11.0, 11));
    }

    #[test]
    fn gradients_do_not_depend_on_the_number_of_threads() {
        let g = Geometry {
            channels_in: 8,
            height: 16,
            width: 16,
            channels_out: 8,
            kernel: 3,
            stride: 1,
            pad: 1,
        };
        let batch = 11;
        let x = values(batch * g.image_len(), 4);
        let w = values(g.channels_out * g.rows(), 5);
        let dy = values(batch * g.output_len(), 6);
        let with_threads = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .map(|pool| pool.install(|| conv_backward(&x, &w, &dy, g, true, true)))
                .ok()
        };
        let one = with_threads(1);
        assert!(
            one.as_ref()
                .is_some_and(|(dx, dw)| dx.is_some() && dw.is_some())
        );
        for threads in [2, 3, 8] {
            assert!(one == with_threads(threads), "{threads} threads");
        }
    }
}
