//! Where the model looked: Grad-CAM heatmaps. The network ends in global average pooling and
//! one linear layer, so the gradient of a class's logit with respect to the last feature maps
//! is that class's head weight spread evenly over the map: Grad-CAM reduces to the class
//! activation map, ReLU(Σ_k w_k · A_k), computed without a backward pass.

use image::{DynamicImage, Rgb, RgbImage};

use crate::LearnError;
use crate::inference::FrozenNet;

/// The heatmap of `class` for one image (`side × side` normalised pixels), scaled to 0..1,
/// at the feature maps' resolution: (values, height, width).
pub fn class_activation(
    net: &FrozenNet,
    pixels: &[f32],
    class: usize,
) -> Result<(Vec<f32>, usize, usize), LearnError> {
    let maps = net.features(pixels)?;
    let (channels, h, w) = (maps.channels, maps.height, maps.width);
    let values = &maps.values;
    let weights = net.class_weights(class)?;
    if weights.len() != channels {
        return Err(LearnError::Input(
            "the head does not fit the feature maps".into(),
        ));
    }
    let mut cam = vec![0.0f32; h * w];
    for (k, wk) in weights.iter().enumerate() {
        for (i, c) in cam.iter_mut().enumerate() {
            *c += wk * values[k * h * w + i];
        }
    }
    let top = cam.iter().fold(0.0f32, |a, b| a.max(*b));
    for c in &mut cam {
        *c = if top > 0.0 { c.max(0.0) / top } else { 0.0 };
    }
    Ok((cam, h, w))
}

/// The image with the heatmap laid over it in red, bilinearly upsampled to its size.
pub fn overlay(image: &DynamicImage, cam: &[f32], h: usize, w: usize) -> RgbImage {
    let gray = image.to_luma8();
    let (width, height) = gray.dimensions();
    let at = |y: f32, x: f32| -> f32 {
        // Sample the map at a pixel centre, clamped to its edge.
        let fy = ((y + 0.5) * h as f32 / height as f32 - 0.5).clamp(0.0, (h - 1) as f32);
        let fx = ((x + 0.5) * w as f32 / width as f32 - 0.5).clamp(0.0, (w - 1) as f32);
        let (y0, x0) = (fy.floor() as usize, fx.floor() as usize);
        let (y1, x1) = ((y0 + 1).min(h - 1), (x0 + 1).min(w - 1));
        let (dy, dx) = (fy - y0 as f32, fx - x0 as f32);
        let v = |yy: usize, xx: usize| cam[yy * w + xx];
        (v(y0, x0) * (1.0 - dx) + v(y0, x1) * dx) * (1.0 - dy)
            + (v(y1, x0) * (1.0 - dx) + v(y1, x1) * dx) * dy
    };
    RgbImage::from_fn(width, height, |x, y| {
        let g = f32::from(gray.get_pixel(x, y).0[0]);
        let heat = if h == 0 || w == 0 {
            0.0
        } else {
            at(y as f32, x as f32)
        };
        let alpha = 0.55 * heat;
        let mix = |base: f32, tint: f32| (base * (1.0 - alpha) + tint * alpha).round() as u8;
        Rgb([mix(g, 255.0), mix(g, 40.0), mix(g, 0.0)])
    })
}
