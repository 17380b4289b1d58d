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
//! - `perceptual_hash`: a 64-bit difference hash of the first frame's display rendering,
//!   which stays within a few bits when an image is re-exported, resized or re-compressed.

use std::io::Cursor;

use dicom_object::OpenFileOptions;
use dicom_pixeldata::{ConvertOptions, PixelDecoder, VoiLutOption};
use image::imageops::FilterType;
use image::{DynamicImage, GrayImage};
use sha2::{Digest, Sha256};

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
    pub fn perceptual_hash(&self) -> u64 {
        difference_hash(&self.display.to_luma8())
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
    let img = image::load_from_memory_with_format(bytes, format)?;
    let color = img.color();
    let photometric = if color.has_color() { "RGB" } else { "MONOCHROME2" };
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

fn decode_dicom(from_magic: &[u8]) -> Result<Decoded, ImagingError> {
    let obj = OpenFileOptions::new()
        .read_preamble(dicom_object::file::ReadPreamble::Never)
        .from_reader(Cursor::new(from_magic))
        .map_err(|e| ImagingError::Dicom(e.to_string()))?;
    if obj.get(dicom_object::Tag(0x7FE0, 0x0010)).is_none() {
        return Err(ImagingError::NoPixels);
    }
    let pixels = obj.decode_pixel_data().map_err(|e| ImagingError::Pixels(e.to_string()))?;
    let options = ConvertOptions::new().with_voi_lut(VoiLutOption::Default);
    let display = pixels
        .to_dynamic_image_with_options(0, &options)
        .map_err(|e| ImagingError::Pixels(e.to_string()))?;
    let mut hasher = Sha256::new();
    hasher.update(
        format!(
            "{}x{}x{}:{}:{}:",
            pixels.columns(),
            pixels.rows(),
            pixels.number_of_frames(),
            pixels.samples_per_pixel(),
            pixels.bits_allocated()
        )
        .as_bytes(),
    );
    hasher.update(pixels.data());
    Ok(Decoded {
        width: pixels.columns(),
        height: pixels.rows(),
        frames: pixels.number_of_frames(),
        photometric: pixels.photometric_interpretation().as_str().to_owned(),
        bits: pixels.bits_allocated(),
        pixel_hash: hex(&hasher.finalize()),
        display,
    })
}

/// A PNG thumbnail whose longest side is 256 pixels (never enlarged).
pub fn thumbnail_png(decoded: &Decoded) -> Result<Vec<u8>, ImagingError> {
    let (w, h) = (decoded.display.width(), decoded.display.height());
    let scale = 256.0 / f64::from(w.max(h).max(1));
    let img = if scale < 1.0 {
        let (tw, th) = (((f64::from(w) * scale).round() as u32).max(1), ((f64::from(h) * scale).round() as u32).max(1));
        decoded.display.resize_exact(tw, th, FilterType::Triangle)
    } else {
        decoded.display.clone()
    };
    let img = if img.color().has_color() { DynamicImage::ImageRgb8(img.to_rgb8()) } else { DynamicImage::ImageLuma8(img.to_luma8()) };
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)?;
    Ok(out.into_inner())
}

/// The 64-bit difference hash: shrink to 9x8, then one bit per pair of neighbours.
pub fn difference_hash(gray: &GrayImage) -> u64 {
    let small = image::imageops::resize(gray, 9, 8, FilterType::Triangle);
    let mut hash = 0u64;
    for y in 0..8 {
        for x in 0..8 {
            let left = small.get_pixel(x, y)[0];
            let right = small.get_pixel(x + 1, y)[0];
            hash = (hash << 1) | u64::from(left < right);
        }
    }
    hash
}

/// Bits that differ between two perceptual hashes.
pub fn hash_distance(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32) -> GrayImage {
        GrayImage::from_fn(w, h, |x, y| image::Luma([((x * 255 / w) as u8).wrapping_add((y * 97 / h) as u8)]))
    }

    #[test]
    fn a_resized_copy_is_a_near_duplicate_and_another_image_is_not() {
        let a = gradient(512, 512);
        let resized = image::imageops::resize(&a, 300, 300, FilterType::Lanczos3);
        let other = GrayImage::from_fn(512, 512, |x, y| image::Luma([if (x / 64 + y / 64) % 2 == 0 { 250 } else { 5 }]));
        assert!(hash_distance(difference_hash(&a), difference_hash(&resized)) <= 4);
        assert!(hash_distance(difference_hash(&a), difference_hash(&other)) > 16);
    }
}
