//! Decoding DICOM, PNG and JPEG into one normalized frame type, plus thumbnails and the
//! fingerprints intake uses to find duplicates.
//!
//! ```
//! let png = {
//!     let img = image::GrayImage::from_fn(64, 48, |x, y| image::Luma([(x * 4 + y) as u8]));
//!     let mut out = std::io::Cursor::new(Vec::new());
//!     img.write_to(&mut out, image::ImageFormat::Png)?;
//!     out.into_inner()
//! };
//! let decoded = lunghub_imaging::decode(&png)?;
//! assert_eq!((decoded.width, decoded.height), (64, 48));
//! let thumb = lunghub_imaging::thumbnail_png(&decoded)?;
//! assert!(thumb.starts_with(b"\x89PNG"));
//! # Ok::<(), lunghub_imaging::ImagingError>(())
//! ```
//!
//! Fingerprints:
//! - `pixel_hash`: sha256 of the decoded samples with the image's geometry, so the same
//!   pixels stored in another container or compression compare equal;
//! - `perceptual_hash`: a 256-bit DCT hash of the first frame's display rendering. On the
//!   chest X-rays of `../shared/data`, a re-exported, resized or re-compressed copy stays
//!   within 22 bits of its original, while 99% of distinct images are more than 50 bits
//!   from their nearest neighbour. (A 64-bit difference hash could not tell chest X-rays
//!   apart: they all share one layout.)

pub mod jpegls;
mod render;
mod samples;

use std::io::Cursor;

use image::imageops::FilterType;
use image::{DynamicImage, GrayImage};
use sha2::{Digest, Sha256};

pub use samples::{SampleData, Samples, decode_samples};

#[derive(Debug, thiserror::Error)]
pub enum ImagingError {
    #[error("not a DICOM, PNG or JPEG image")]
    UnknownFormat,
    #[error("cannot decode the image: {0}")]
    Image(#[from] image::ImageError),
    #[error("cannot read the DICOM file: {0}")]
    Dicom(String),
    #[error("cannot decode the DICOM pixel data: {0}")]
    Pixels(String),
    #[error("the file has no pixel data")]
    NoPixels,
    /// Refused by the bounded pre-scan, before any parsing.
    #[error(transparent)]
    Bounds(#[from] lunghub_deid::ScanError),
}

/// A decoded image, normalized for display and fingerprinting.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub width: u32,
    pub height: u32,
    pub frames: u32,
    /// DICOM's photometric interpretation, or MONOCHROME2/RGB for PNG and JPEG.
    pub photometric: String,
    /// Bits per sample as stored.
    pub bits: u16,
    /// The first frame, rendered for display (VOI LUT or window applied, MONOCHROME1
    /// inverted), as 8-bit RGB or gray.
    pub display: DynamicImage,
    pub pixel_hash: String,
}

impl Decoded {
    pub fn perceptual_hash(&self) -> PerceptualHash {
        perceptual_hash(&self.preview().to_luma8())
    }
}

/// A 256-bit perceptual hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PerceptualHash(pub [u64; 4]);

impl PerceptualHash {
    /// Bits that differ (0..=256).
    pub fn distance(&self, other: &PerceptualHash) -> u32 {
        self.0
            .iter()
            .zip(other.0)
            .map(|(a, b)| (a ^ b).count_ones())
            .sum()
    }

    pub fn to_hex(&self) -> String {
        self.0.iter().map(|w| format!("{w:016x}")).collect()
    }

    pub fn from_hex(hex: &str) -> Option<Self> {
        if hex.len() != 64 {
            return None;
        }
        let mut words = [0u64; 4];
        for (i, w) in words.iter_mut().enumerate() {
            *w = u64::from_str_radix(hex.get(16 * i..16 * i + 16)?, 16).ok()?;
        }
        Some(PerceptualHash(words))
    }
}

/// Decodes a DICOM (with preamble and meta group), PNG or JPEG file.
pub fn decode(bytes: &[u8]) -> Result<Decoded, ImagingError> {
    if bytes.len() > 132 && &bytes[128..132] == b"DICM" {
        return decode_dicom(&bytes[128..]);
    }
    let format = image::guess_format(bytes).map_err(|_| ImagingError::UnknownFormat)?;
    if !matches!(format, image::ImageFormat::Png | image::ImageFormat::Jpeg) {
        return Err(ImagingError::UnknownFormat);
    }
    let img = read_raster(bytes, format)?;
    let color = img.color();
    let photometric = if color.has_color() {
        "RGB"
    } else {
        "MONOCHROME2"
    };
    let mut hasher = Sha256::new();
    hasher.update(format!("{}x{}x1:{:?}:", img.width(), img.height(), color).as_bytes());
    hasher.update(img.as_bytes());
    Ok(Decoded {
        width: img.width(),
        height: img.height(),
        frames: 1,
        photometric: photometric.into(),
        bits: (color.bits_per_pixel() / u16::from(color.channel_count())).max(1),
        pixel_hash: hex(&hasher.finalize()),
        display: img,
    })
}

/// The most memory a PNG or JPEG may take decoded: a 16-bit 8192×8192 radiograph is 128
/// MiB. image's own default (512 MiB) let one upload cost half a gigabyte.
const MAX_RASTER_BYTES: u64 = 256 << 20;

/// Decodes a PNG or JPEG within [`MAX_RASTER_BYTES`].
pub fn read_raster(bytes: &[u8], format: image::ImageFormat) -> Result<DynamicImage, ImagingError> {
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_RASTER_BYTES);
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits);
    Ok(reader.decode()?)
}

fn decode_dicom(from_magic: &[u8]) -> Result<Decoded, ImagingError> {
    let (obj, samples) = samples::read(from_magic)?;
    let display = render::render(&obj, &samples, 0, None)?;
    let mut hasher = Sha256::new();
    hasher.update(
        format!(
            "{}x{}x{}:{}:{}:",
            samples.columns,
            samples.rows,
            samples.frames,
            samples.samples_per_pixel,
            samples.data.dtype()
        )
        .as_bytes(),
    );
    hasher.update(samples.data.to_le_bytes());
    Ok(Decoded {
        width: samples.columns,
        height: samples.rows,
        frames: samples.frames,
        photometric: samples.photometric.clone(),
        bits: samples_bits(&samples.data),
        pixel_hash: hex(&hasher.finalize()),
        display,
    })
}

/// One frame of an image as a reviewer sees it, with what the controls need.
#[derive(Debug, Clone)]
pub struct Displayed {
    pub image: DynamicImage,
    pub frames: u32,
    pub bits: u16,
    /// The windows a reviewer can pick, for grayscale DICOM.
    pub windows: Option<Windows>,
}

/// Windows (centre, width) over one grayscale frame's values after the Modality LUT.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Windows {
    /// The first window the file suggests, if any.
    pub file: Option<(f64, f64)>,
    /// From the lowest to the highest value.
    pub full: Option<(f64, f64)>,
    /// The lung fields of a chest radiograph, from the histogram (see `render::lung_window`).
    pub lung: Option<(f64, f64)>,
}

/// Renders `frame` of a DICOM, PNG or JPEG file, with `window` (centre, width) applied to
/// grayscale DICOM in place of the file's own.
pub fn display(
    bytes: &[u8],
    frame: u32,
    window: Option<(f64, f64)>,
) -> Result<Displayed, ImagingError> {
    if bytes.len() > 132 && &bytes[128..132] == b"DICM" {
        let (obj, samples) = samples::read(&bytes[128..])?;
        if frame >= samples.frames.max(1) {
            return Err(ImagingError::Pixels(format!(
                "frame {frame} asked of {} frames",
                samples.frames
            )));
        }
        let image = render::render(&obj, &samples, frame, window)?;
        return Ok(Displayed {
            image,
            frames: samples.frames,
            bits: samples_bits(&samples.data),
            windows: render::windows(&obj, &samples, frame),
        });
    }
    let d = decode(bytes)?;
    Ok(Displayed {
        frames: 1,
        bits: d.bits,
        windows: None,
        image: d.display,
    })
}

/// The windows a reviewer can pick for `frame` of a grayscale DICOM file, without rendering
/// it; `None` for colour and for files that are not DICOM (they carry 8-bit display values).
pub fn windows(bytes: &[u8], frame: u32) -> Result<Option<Windows>, ImagingError> {
    if bytes.len() > 132 && &bytes[128..132] == b"DICM" {
        let (obj, samples) = samples::read(&bytes[128..])?;
        return Ok(render::windows(&obj, &samples, frame));
    }
    Ok(None)
}

fn samples_bits(data: &SampleData) -> u16 {
    match data {
        SampleData::U8(_) | SampleData::I8(_) => 8,
        SampleData::U16(_) | SampleData::I16(_) => 16,
        SampleData::U32(_) | SampleData::I32(_) | SampleData::F32(_) => 32,
        SampleData::F64(_) => 64,
    }
}

/// The first frame shrunk (never enlarged) so that its longest side is at most `side`,
/// by area averaging over integer-bounded boxes: every source pixel counts once, so there
/// is none of the aliasing that point sampling adds, and integer sums make it several times
/// faster than a filtered resize, which mattered: the preview was a quarter of intake's CPU.
fn shrink(img: &DynamicImage, side: u32) -> DynamicImage {
    let (w, h) = (img.width(), img.height());
    if w.max(h) <= side {
        return img.clone();
    }
    let scale = f64::from(side) / f64::from(w.max(h));
    let (tw, th) = (
        ((f64::from(w) * scale).round() as u32).clamp(1, w),
        ((f64::from(h) * scale).round() as u32).clamp(1, h),
    );
    match img {
        DynamicImage::ImageLuma8(g) => DynamicImage::ImageLuma8(box_shrink(g, tw, th)),
        DynamicImage::ImageRgb8(c) => DynamicImage::ImageRgb8(box_shrink(c, tw, th)),
        other if other.color().has_color() => {
            DynamicImage::ImageRgb8(box_shrink(&other.to_rgb8(), tw, th))
        }
        other => DynamicImage::ImageLuma8(box_shrink(&other.to_luma8(), tw, th)),
    }
}

/// Averages the source over a `tw` x `th` grid of boxes whose edges fall on whole pixels.
/// Needs `tw <= width` and `th <= height`, so that no box is empty.
fn box_shrink<P>(
    src: &image::ImageBuffer<P, Vec<u8>>,
    tw: u32,
    th: u32,
) -> image::ImageBuffer<P, Vec<u8>>
where
    P: image::Pixel<Subpixel = u8>,
{
    let channels = usize::from(P::CHANNEL_COUNT);
    let (w, h) = (src.width() as usize, src.height() as usize);
    let (tw, th) = (tw as usize, th as usize);
    let edges = |n: usize, t: usize| (0..=t).map(|i| i * n / t).collect::<Vec<usize>>();
    let (xs, ys) = (edges(w, tw), edges(h, th));
    let raw = src.as_raw();
    let mut out = Vec::with_capacity(tw * th * channels);
    // u32 sums: a box is about (longest side / 256)^2 pixels, far from 2^32 / 255 for any
    // image that fits in memory.
    let mut columns = vec![0u32; w * channels];
    for y in ys.windows(2) {
        columns.iter_mut().for_each(|c| *c = 0);
        for row in raw.chunks_exact(w * channels).take(y[1]).skip(y[0]) {
            for (c, v) in columns.iter_mut().zip(row) {
                *c += u32::from(*v);
            }
        }
        for x in xs.windows(2) {
            let count = ((x[1] - x[0]) * (y[1] - y[0])) as u32;
            for ch in 0..channels {
                let sum: u32 = columns[x[0] * channels..x[1] * channels]
                    .iter()
                    .skip(ch)
                    .step_by(channels)
                    .sum();
                out.push(((sum + count / 2) / count) as u8);
            }
        }
    }
    image::ImageBuffer::from_raw(tw as u32, th as u32, out)
        .expect("the buffer holds tw * th pixels")
}

impl Decoded {
    /// The 256-pixel preview that thumbnails and perceptual hashes are made from.
    pub fn preview(&self) -> DynamicImage {
        shrink(&self.display, 256)
    }
}

/// A PNG thumbnail whose longest side is 256 pixels (never enlarged).
pub fn thumbnail_png(decoded: &Decoded) -> Result<Vec<u8>, ImagingError> {
    encode_png(&decoded.preview())
}

/// Encodes an image as PNG, gray or RGB.
pub fn encode_png(img: &DynamicImage) -> Result<Vec<u8>, ImagingError> {
    let img = if img.color().has_color() {
        DynamicImage::ImageRgb8(img.to_rgb8())
    } else {
        DynamicImage::ImageLuma8(img.to_luma8())
    };
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)?;
    Ok(out.into_inner())
}

/// The DCT hash: shrink to 64x64, take the 16x16 lowest frequencies of the 2-D DCT-II,
/// and set one bit per coefficient above their median (the DC term left out of the median).
pub fn perceptual_hash(gray: &GrayImage) -> PerceptualHash {
    const N: usize = 64;
    const K: usize = 16;
    // A triangle filter, not box_shrink: whole-pixel boxes alias on fractional ratios and
    // put the resized copy of the test below 26 bits from its original, over the threshold.
    let small = image::imageops::resize(gray, N as u32, N as u32, FilterType::Triangle);
    let pixels: Vec<f64> = small.pixels().map(|p| f64::from(p[0])).collect();
    // cos[k][n] of the DCT-II basis, for the K lowest frequencies.
    let basis: Vec<f64> = (0..K)
        .flat_map(|k| {
            (0..N)
                .map(move |n| (std::f64::consts::PI / N as f64 * (n as f64 + 0.5) * k as f64).cos())
        })
        .collect();
    // Rows first (N x K), then columns (K x K).
    let mut rows = vec![0.0; N * K];
    for y in 0..N {
        for k in 0..K {
            rows[y * K + k] = (0..N).map(|x| pixels[y * N + x] * basis[k * N + x]).sum();
        }
    }
    let mut coefficients = [0.0f64; K * K];
    for ky in 0..K {
        for kx in 0..K {
            coefficients[ky * K + kx] = (0..N).map(|y| rows[y * K + kx] * basis[ky * N + y]).sum();
        }
    }
    let mut sorted: Vec<f64> = coefficients[1..].to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let mut words = [0u64; 4];
    for (i, c) in coefficients.iter().enumerate() {
        if *c > median {
            words[i / 64] |= 1 << (63 - i % 64);
        }
    }
    PerceptualHash(words)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32) -> GrayImage {
        GrayImage::from_fn(w, h, |x, y| {
            image::Luma([((x * 255 / w) as u8).wrapping_add((y * 97 / h) as u8)])
        })
    }

    #[test]
    fn shrinking_averages_whole_boxes_and_keeps_the_aspect_ratio() {
        // 4x4 blocks of a 2-level checkerboard average to their mean exactly.
        let img = GrayImage::from_fn(1024, 512, |x, y| {
            image::Luma([if (x + y) % 2 == 0 { 200 } else { 100 }])
        });
        let small = shrink(&DynamicImage::ImageLuma8(img), 256);
        assert_eq!((small.width(), small.height()), (256, 128));
        assert!(small.to_luma8().pixels().all(|p| p[0] == 150));
        // A step edge stays a step where the boxes line up with it.
        let step = GrayImage::from_fn(512, 512, |x, _| {
            image::Luma([if x < 256 { 0 } else { 255 }])
        });
        let small = shrink(&DynamicImage::ImageLuma8(step), 256).to_luma8();
        assert_eq!(
            (small.get_pixel(127, 9)[0], small.get_pixel(128, 9)[0]),
            (0, 255)
        );
        // RGB keeps its channels; small images are not enlarged.
        let rgb = image::RgbImage::from_fn(600, 300, |_, _| image::Rgb([10, 20, 30]));
        let small = shrink(&DynamicImage::ImageRgb8(rgb), 256).to_rgb8();
        assert_eq!(*small.get_pixel(0, 0), image::Rgb([10, 20, 30]));
        assert_eq!(
            shrink(&DynamicImage::ImageLuma8(GrayImage::new(100, 40)), 256).width(),
            100
        );
    }

    #[test]
    fn a_resized_recompressed_copy_is_near_and_another_image_is_not() {
        let a = gradient(512, 512);
        let mut jpeg = Cursor::new(Vec::new());
        DynamicImage::ImageLuma8(image::imageops::resize(&a, 300, 300, FilterType::Lanczos3))
            .write_to(&mut jpeg, image::ImageFormat::Jpeg)
            .expect("encode");
        let copy = image::load_from_memory(jpeg.get_ref())
            .expect("decode")
            .to_luma8();
        let other = GrayImage::from_fn(512, 512, |x, y| {
            image::Luma([if (x / 64 + y / 64) % 2 == 0 { 250 } else { 5 }])
        });
        let h = perceptual_hash(&a);
        assert!(
            h.distance(&perceptual_hash(&copy)) <= 24,
            "{}",
            h.distance(&perceptual_hash(&copy))
        );
        assert!(h.distance(&perceptual_hash(&other)) > 60);
        assert_eq!(PerceptualHash::from_hex(&h.to_hex()), Some(h));
    }
}
