//! Stored sample values of DICOM pixel data, as pydicom's `pixel_array` gives them: one
//! array of frames × rows × columns × samples, interleaved, in the type the pixel module
//! describes, before any LUT.
//!
//! Native and RLE data are decoded here (every bit depth, either byte order, planar or
//! interleaved), because dicom-pixeldata fails on 32-bit data; JPEG-LS by lunghub's own
//! decoder (`jpegls.rs`), 12-bit JPEG by libjpeg-turbo-rs and 8-bit JPEG by jpeg-decoder.
//! Other encapsulated data (JPEG lossless, JPEG 2000) goes through dicom-pixeldata's codecs.

use std::io::Cursor;

use dicom_core::value::{PixelFragmentSequence, PrimitiveValue, Value};
use dicom_object::mem::InMemElement;
use dicom_object::{DefaultDicomObject, InMemDicomObject, OpenFileOptions, Tag};
use dicom_pixeldata::PixelDecoder;

use crate::ImagingError;

/// The sample values, in the type their bits call for.
#[derive(Debug, Clone, PartialEq)]
pub enum SampleData {
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

impl SampleData {
    pub fn len(&self) -> usize {
        match self {
            SampleData::U8(v) => v.len(),
            SampleData::I8(v) => v.len(),
            SampleData::U16(v) => v.len(),
            SampleData::I16(v) => v.len(),
            SampleData::U32(v) => v.len(),
            SampleData::I32(v) => v.len(),
            SampleData::F32(v) => v.len(),
            SampleData::F64(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// NumPy's name for the type (`uint16`, `int32`, …).
    pub fn dtype(&self) -> &'static str {
        match self {
            SampleData::U8(_) => "uint8",
            SampleData::I8(_) => "int8",
            SampleData::U16(_) => "uint16",
            SampleData::I16(_) => "int16",
            SampleData::U32(_) => "uint32",
            SampleData::I32(_) => "int32",
            SampleData::F32(_) => "float32",
            SampleData::F64(_) => "float64",
        }
    }

    /// The values as little-endian bytes.
    pub fn to_le_bytes(&self) -> Vec<u8> {
        match self {
            SampleData::U8(v) => v.clone(),
            SampleData::I8(v) => v.iter().map(|x| *x as u8).collect(),
            SampleData::U16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            SampleData::I16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            SampleData::U32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            SampleData::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            SampleData::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            SampleData::F64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }
}

/// Decoded samples with their geometry.
#[derive(Debug, Clone, PartialEq)]
pub struct Samples {
    pub rows: u32,
    pub columns: u32,
    pub frames: u32,
    pub samples_per_pixel: u16,
    /// The photometric interpretation of the values (RGB after a JPEG decoder converted
    /// YBR, for instance).
    pub photometric: String,
    pub data: SampleData,
}

const NATIVE: &[&str] = &[
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.1.99",
    "1.2.840.10008.1.2.2",
];
const RLE: &str = "1.2.840.10008.1.2.5";
const EXPLICIT_BE: &str = "1.2.840.10008.1.2.2";
const JPEG_LOSSY: &[&str] = &["1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"];
const JPEG_EXTENDED: &str = "1.2.840.10008.1.2.4.51";
const JPEG_LS: &[&str] = &["1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"];

fn int(obj: &InMemDicomObject, tag: Tag) -> Option<u32> {
    obj.get(tag).and_then(|e| e.to_int::<u32>().ok())
}

fn text(obj: &InMemDicomObject, tag: Tag) -> String {
    obj.get(tag)
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// The element's value bytes in the order the file had them, except that 8-bit samples in
/// OW words of a big-endian file come back in sample order (PS3.5 8.1.1: the words were
/// byte-swapped on writing, so reading them as words restores the samples).
fn raw_bytes(elem: &InMemElement, big_endian: bool, bits: u32) -> Option<Vec<u8>> {
    let big_endian = big_endian && bits != 8;
    Some(match elem.value() {
        Value::Primitive(PrimitiveValue::U8(v)) => v.to_vec(),
        Value::Primitive(PrimitiveValue::U16(v)) if big_endian => {
            v.iter().flat_map(|x| x.to_be_bytes()).collect()
        }
        Value::Primitive(PrimitiveValue::U16(v)) => {
            v.iter().flat_map(|x| x.to_le_bytes()).collect()
        }
        Value::Primitive(PrimitiveValue::U32(v)) if big_endian => {
            v.iter().flat_map(|x| x.to_be_bytes()).collect()
        }
        Value::Primitive(PrimitiveValue::U32(v)) => {
            v.iter().flat_map(|x| x.to_le_bytes()).collect()
        }
        Value::Primitive(PrimitiveValue::F32(v)) => {
            v.iter().flat_map(|x| x.to_le_bytes()).collect()
        }
        Value::Primitive(PrimitiveValue::F64(v)) => {
            v.iter().flat_map(|x| x.to_le_bytes()).collect()
        }
        _ => return None,
    })
}

/// The most memory one file's decoded samples may take. The pre-scan bounds what a file
/// declares to what it holds, but compressed pixel data is allowed to declare far more
/// than its size: this caps that. A 4096×4096 16-bit radiograph takes 32 MiB, a 300-frame
/// 800×600 colour ultrasound cine 432 MiB.
const MAX_DECODED_BYTES: usize = 1 << 30;

/// Decodes the samples of a DICOM file (preamble, or `DICM` first).
pub fn decode_samples(bytes: &[u8]) -> Result<Samples, ImagingError> {
    read(bytes).map(|(_, s)| s)
}

/// Parses a DICOM file and decodes its samples; the object serves the display LUTs.
pub(crate) fn read(bytes: &[u8]) -> Result<(DefaultDicomObject, Samples), ImagingError> {
    let bounded = lunghub_deid::scan::bound(bytes, &lunghub_deid::Limits::default())?;
    let from = bounded
        .part10()
        .ok_or_else(|| ImagingError::Dicom("no \"DICM\" prefix".into()))?;
    let obj: DefaultDicomObject = OpenFileOptions::new()
        .read_preamble(dicom_object::file::ReadPreamble::Never)
        .from_reader(Cursor::new(from))
        .map_err(|e| ImagingError::Dicom(e.to_string()))?;
    let samples = samples_of(&obj)?;
    Ok((obj, samples))
}

fn samples_of(obj: &DefaultDicomObject) -> Result<Samples, ImagingError> {
    let ts = obj.meta().transfer_syntax().to_owned();
    let rows = int(&obj, Tag(0x0028, 0x0010)).ok_or(ImagingError::NoPixels)?;
    let columns = int(&obj, Tag(0x0028, 0x0011)).ok_or(ImagingError::NoPixels)?;
    let frames = obj
        .get(Tag(0x0028, 0x0008))
        .and_then(|e| e.to_str().ok())
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(1)
        .max(1);
    let spp = int(&obj, Tag(0x0028, 0x0002)).unwrap_or(1) as u16;
    let photometric = text(&obj, Tag(0x0028, 0x0004));
    let geometry = Geometry {
        rows,
        columns,
        frames,
        spp,
    };
    let pixels_needed = geometry
        .values()
        .ok_or_else(|| ImagingError::Pixels("absurd image size".into()))?;

    for (tag, float64) in [(Tag(0x7FE0, 0x0008), false), (Tag(0x7FE0, 0x0009), true)] {
        if let Some(elem) = obj.get(tag) {
            let raw = raw_bytes(elem, false, 32)
                .ok_or_else(|| ImagingError::Pixels("float pixel data has no values".into()))?;
            let data = if float64 {
                SampleData::F64(
                    raw.chunks_exact(8)
                        .map(|c| {
                            f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])
                        })
                        .collect(),
                )
            } else {
                SampleData::F32(
                    raw.chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect(),
                )
            };
            return geometry.check(
                Samples {
                    rows,
                    columns,
                    frames,
                    samples_per_pixel: spp,
                    photometric,
                    data,
                },
                pixels_needed,
            );
        }
    }
    let elem = obj.get(Tag(0x7FE0, 0x0010)).ok_or(ImagingError::NoPixels)?;
    let bits = int(&obj, Tag(0x0028, 0x0100))
        .ok_or_else(|| ImagingError::Pixels("no BitsAllocated".into()))?;
    let decoded_bytes = pixels_needed.saturating_mul(bits.div_ceil(8).max(1) as usize);
    if decoded_bytes > MAX_DECODED_BYTES {
        return Err(ImagingError::Pixels(format!(
            "{rows}×{columns} pixels, {frames} frames would take {} MiB decoded, over the {} MiB limit",
            decoded_bytes >> 20,
            MAX_DECODED_BYTES >> 20
        )));
    }
    let signed = int(&obj, Tag(0x0028, 0x0103)) == Some(1);
    let planar = int(&obj, Tag(0x0028, 0x0006)) == Some(1) && spp > 1;

    let (values, photometric) = if NATIVE.contains(&ts.as_str()) {
        let raw = raw_bytes(elem, ts == EXPLICIT_BE, bits)
            .ok_or_else(|| ImagingError::Pixels("pixel data has no values".into()))?;
        if photometric == "YBR_FULL_422" && bits == 8 {
            (SampleData::U8(expand_422(&raw, &geometry)?), photometric)
        } else {
            (
                from_bytes(&raw, bits, signed, ts == EXPLICIT_BE, pixels_needed)?,
                photometric,
            )
        }
    } else if ts == RLE {
        let fragments = encapsulated(elem, "RLE")?.fragments();
        (rle_frames(fragments, &geometry, bits, signed)?, photometric)
    } else if ts == JPEG_EXTENDED && bits == 16 {
        // 12-bit JPEG, common in CR and DX: jpeg-decoder has no 12-bit path, so this goes
        // to libjpeg-turbo-rs, a pure-Rust port of libjpeg-turbo's 12-bit decoder.
        let fragments = encapsulated(elem, "JPEG")?;
        let mut out = Vec::with_capacity(pixels_needed);
        for stream in frame_streams(
            fragments.fragments(),
            fragments.offset_table(),
            frames as usize,
        )? {
            let image = libjpeg_turbo_rs::api::precision::decompress_12bit(&stream)
                .map_err(|e| ImagingError::Pixels(format!("12-bit JPEG: {e}")))?;
            out.extend(image.data.iter().map(|v| *v as u16));
        }
        let data = if signed {
            SampleData::I16(out.into_iter().map(|v| v as i16).collect())
        } else {
            SampleData::U16(out)
        };
        (data, photometric)
    } else if JPEG_LS.contains(&ts.as_str()) {
        let fragments = encapsulated(elem, "JPEG-LS")?;
        (
            jpeg_ls_frames(
                fragments.fragments(),
                fragments.offset_table(),
                &geometry,
                bits,
                signed,
            )?,
            photometric,
        )
    } else if JPEG_LOSSY.contains(&ts.as_str()) && bits == 8 {
        let fragments = encapsulated(elem, "JPEG")?;
        jpeg_frames(
            fragments.fragments(),
            fragments.offset_table(),
            &geometry,
            &photometric,
        )?
    } else {
        let decoded = obj
            .decode_pixel_data()
            .map_err(|e| ImagingError::Pixels(e.to_string()))?;
        let out_bits = decoded.bits_allocated();
        let out_photometric = decoded.photometric_interpretation().as_str().to_owned();
        (
            from_bytes(
                decoded.data(),
                u32::from(out_bits),
                signed,
                false,
                pixels_needed,
            )?,
            out_photometric,
        )
    };
    // RLE and JPEG-LS frames come out of their decoders interleaved whatever the data set's
    // planar configuration says.
    let values = if planar && ts != RLE && !JPEG_LS.contains(&ts.as_str()) {
        interleave(values, &geometry)
    } else {
        values
    };
    let stored = int(&obj, Tag(0x0028, 0x0101)).unwrap_or(bits);
    let values = keep_stored_bits(values, stored);
    // Like pydicom, colour comes out as RGB: YBR_FULL (and 4:2:2, expanded above) is
    // converted with the full-range ITU-R BT.601 matrix of PS3.3 C.7.6.3.1.2.
    let (values, photometric) = match (values, photometric.as_str()) {
        (SampleData::U8(v), "YBR_FULL" | "YBR_FULL_422") if spp == 3 => {
            (SampleData::U8(ybr_to_rgb(v)), "RGB".to_owned())
        }
        (v, _) => (v, photometric),
    };
    geometry.check(
        Samples {
            rows,
            columns,
            frames,
            samples_per_pixel: spp,
            photometric,
            data: values,
        },
        pixels_needed,
    )
}

/// Clears the bits above BitsStored, and sign-extends signed values from it, as the pixel
/// module says the unused high bits carry nothing (they may hold overlays or garbage).
fn keep_stored_bits(data: SampleData, stored: u32) -> SampleData {
    match data {
        SampleData::U16(v) if stored < 16 && stored > 0 => {
            SampleData::U16(v.into_iter().map(|x| x & ((1u16 << stored) - 1)).collect())
        }
        SampleData::I16(v) if stored < 16 && stored > 0 => {
            let shift = 16 - stored;
            SampleData::I16(v.into_iter().map(|x| (x << shift) >> shift).collect())
        }
        SampleData::U32(v) if stored < 32 && stored > 0 => {
            SampleData::U32(v.into_iter().map(|x| x & ((1u32 << stored) - 1)).collect())
        }
        SampleData::I32(v) if stored < 32 && stored > 0 => {
            let shift = 32 - stored;
            SampleData::I32(v.into_iter().map(|x| (x << shift) >> shift).collect())
        }
        SampleData::U8(v) if stored < 8 && stored > 0 => {
            SampleData::U8(v.into_iter().map(|x| x & ((1u8 << stored) - 1)).collect())
        }
        other => other,
    }
}

fn ybr_to_rgb(mut v: Vec<u8>) -> Vec<u8> {
    for px in v.chunks_exact_mut(3) {
        let (y, cb, cr) = (
            f64::from(px[0]),
            f64::from(px[1]) - 128.0,
            f64::from(px[2]) - 128.0,
        );
        let clamp = |x: f64| x.round().clamp(0.0, 255.0) as u8;
        px[0] = clamp(y + 1.402 * cr);
        px[1] = clamp(y - 0.344136 * cb - 0.714136 * cr);
        px[2] = clamp(y + 1.772 * cb);
    }
    v
}

struct Geometry {
    rows: u32,
    columns: u32,
    frames: u32,
    spp: u16,
}

impl Geometry {
    fn values(&self) -> Option<usize> {
        (self.rows as usize)
            .checked_mul(self.columns as usize)?
            .checked_mul(self.frames as usize)?
            .checked_mul(usize::from(self.spp))
    }

    fn frame_values(&self) -> usize {
        self.rows as usize * self.columns as usize * usize::from(self.spp)
    }

    fn check(&self, mut s: Samples, needed: usize) -> Result<Samples, ImagingError> {
        // Pixel data may carry padding past the last frame; fewer values than the
        // geometry needs is an error.
        let have = s.data.len();
        if have < needed {
            return Err(ImagingError::Pixels(format!(
                "{have} samples where the image needs {needed}"
            )));
        }
        truncate(&mut s.data, needed);
        Ok(s)
    }
}

fn truncate(data: &mut SampleData, n: usize) {
    match data {
        SampleData::U8(v) => v.truncate(n),
        SampleData::I8(v) => v.truncate(n),
        SampleData::U16(v) => v.truncate(n),
        SampleData::I16(v) => v.truncate(n),
        SampleData::U32(v) => v.truncate(n),
        SampleData::I32(v) => v.truncate(n),
        SampleData::F32(v) => v.truncate(n),
        SampleData::F64(v) => v.truncate(n),
    }
}

/// Interprets stored bytes as samples of `bits` bits.
fn from_bytes(
    raw: &[u8],
    bits: u32,
    signed: bool,
    big_endian: bool,
    needed: usize,
) -> Result<SampleData, ImagingError> {
    let u16s = |c: &[u8]| {
        if big_endian {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_le_bytes([c[0], c[1]])
        }
    };
    let u32s = |c: &[u8]| {
        if big_endian {
            u32::from_be_bytes([c[0], c[1], c[2], c[3]])
        } else {
            u32::from_le_bytes([c[0], c[1], c[2], c[3]])
        }
    };
    Ok(match (bits, signed) {
        (1, _) => SampleData::U8(
            raw.iter()
                .flat_map(|b| (0..8).map(move |i| (b >> i) & 1))
                .take(needed)
                .collect(),
        ),
        (8, false) => SampleData::U8(raw.to_vec()),
        (8, true) => SampleData::I8(raw.iter().map(|b| *b as i8).collect()),
        (16, false) => SampleData::U16(raw.chunks_exact(2).map(u16s).collect()),
        (16, true) => SampleData::I16(raw.chunks_exact(2).map(|c| u16s(c) as i16).collect()),
        (32, false) => SampleData::U32(raw.chunks_exact(4).map(u32s).collect()),
        (32, true) => SampleData::I32(raw.chunks_exact(4).map(|c| u32s(c) as i32).collect()),
        (b, _) => {
            return Err(ImagingError::Pixels(format!(
                "BitsAllocated {b} is not supported"
            )));
        }
    })
}

/// Planar (all of sample 0, then all of sample 1…) to interleaved, frame by frame.
fn interleave(data: SampleData, g: &Geometry) -> SampleData {
    fn go<T: Copy>(v: Vec<T>, g: &Geometry) -> Vec<T> {
        let plane = g.rows as usize * g.columns as usize;
        let spp = usize::from(g.spp);
        let frame = plane * spp;
        let mut out = Vec::with_capacity(v.len());
        for f in v.chunks(frame) {
            if f.len() < frame {
                out.extend_from_slice(f);
                continue;
            }
            for p in 0..plane {
                for s in 0..spp {
                    out.push(f[s * plane + p]);
                }
            }
        }
        out
    }
    match data {
        SampleData::U8(v) => SampleData::U8(go(v, g)),
        SampleData::I8(v) => SampleData::I8(go(v, g)),
        SampleData::U16(v) => SampleData::U16(go(v, g)),
        SampleData::I16(v) => SampleData::I16(go(v, g)),
        SampleData::U32(v) => SampleData::U32(go(v, g)),
        SampleData::I32(v) => SampleData::I32(go(v, g)),
        other => other,
    }
}

/// YBR_FULL_422 stores `Y1 Y2 Cb Cr` for each pair of pixels; the samples are that
/// expanded to `Y Cb Cr` per pixel (the colour stays YBR_FULL).
fn expand_422(raw: &[u8], g: &Geometry) -> Result<Vec<u8>, ImagingError> {
    let pixels = g.rows as usize * g.columns as usize * g.frames as usize;
    if raw.len() < pixels * 2 {
        return Err(ImagingError::Pixels(
            "YBR_FULL_422 data is too short".into(),
        ));
    }
    let mut out = Vec::with_capacity(pixels * 3);
    for quad in raw[..pixels * 2].chunks_exact(4) {
        out.extend_from_slice(&[quad[0], quad[2], quad[3], quad[1], quad[2], quad[3]]);
    }
    Ok(out)
}

/// The JPEG stream of each frame: one fragment per frame, or the fragments the Basic Offset
/// Table groups, or all fragments for a single frame.
fn frame_streams(
    fragments: &[Vec<u8>],
    offsets: &[u32],
    frames: usize,
) -> Result<Vec<Vec<u8>>, ImagingError> {
    if frames == 1 {
        return Ok(vec![fragments.concat()]);
    }
    if fragments.len() == frames {
        return Ok(fragments.to_vec());
    }
    if offsets.len() == frames {
        // Offsets count bytes from the first fragment's item tag; each item adds 8.
        let mut starts = Vec::with_capacity(fragments.len());
        let mut at = 0u64;
        for f in fragments {
            starts.push(at);
            at += 8 + f.len() as u64;
        }
        let mut out = vec![Vec::new(); frames];
        for (f, start) in fragments.iter().zip(starts) {
            let frame = offsets
                .iter()
                .rposition(|o| u64::from(*o) <= start)
                .unwrap_or(0);
            out[frame].extend_from_slice(f);
        }
        return Ok(out);
    }
    Err(ImagingError::Pixels(format!(
        "{} fragments for {frames} frames and no offset table",
        fragments.len()
    )))
}

/// Lossy 8-bit JPEG, one stream per frame. The colour transform is jpeg-decoder's choice
/// from the stream's own markers (JFIF, Adobe APP14), as libjpeg and DCMTK do; DICOM's
/// photometric interpretation would mislead on some encoders' files.
fn jpeg_frames(
    fragments: &[Vec<u8>],
    offsets: &[u32],
    g: &Geometry,
    photometric: &str,
) -> Result<(SampleData, String), ImagingError> {
    let mut out = Vec::with_capacity(g.frame_values() * g.frames as usize);
    for stream in frame_streams(fragments, offsets, g.frames as usize)? {
        let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(stream));
        let pixels = decoder
            .decode()
            .map_err(|e| ImagingError::Pixels(format!("JPEG: {e}")))?;
        out.extend_from_slice(&pixels);
    }
    let photometric = if g.spp == 3 { "RGB" } else { photometric };
    Ok((SampleData::U8(out), photometric.to_owned()))
}

/// The fragments of encapsulated pixel data; `codec` names the encoding in the error.
fn encapsulated<'a>(
    elem: &'a InMemElement,
    codec: &str,
) -> Result<&'a PixelFragmentSequence<Vec<u8>>, ImagingError> {
    match elem.value() {
        Value::PixelSequence(seq) => Ok(seq),
        _ => Err(ImagingError::Pixels(format!(
            "{codec} pixel data is not encapsulated"
        ))),
    }
}

/// JPEG-LS, one stream per frame, in the type BitsAllocated calls for.
fn jpeg_ls_frames(
    fragments: &[Vec<u8>],
    offsets: &[u32],
    g: &Geometry,
    bits: u32,
    signed: bool,
) -> Result<SampleData, ImagingError> {
    let expected = crate::jpegls::Expected {
        width: g.columns,
        height: g.rows,
        components: u8::try_from(g.spp)
            .map_err(|_| ImagingError::Pixels("too many samples per pixel".into()))?,
    };
    let mut out = Vec::with_capacity(g.frame_values() * g.frames as usize);
    for stream in frame_streams(fragments, offsets, g.frames as usize)? {
        let frame = crate::jpegls::decode(&stream, expected)
            .map_err(|e| ImagingError::Pixels(e.to_string()))?;
        if u32::from(frame.precision) > bits {
            return Err(ImagingError::Pixels(format!(
                "JPEG-LS samples of {} bits in a BitsAllocated of {bits}",
                frame.precision
            )));
        }
        out.extend_from_slice(&frame.samples);
    }
    Ok(match (bits, signed) {
        (8, false) => SampleData::U8(out.into_iter().map(|v| v as u8).collect()),
        (8, true) => SampleData::I8(out.into_iter().map(|v| v as u8 as i8).collect()),
        (16, false) => SampleData::U16(out),
        (16, true) => SampleData::I16(out.into_iter().map(|v| v as i16).collect()),
        (b, _) => {
            return Err(ImagingError::Pixels(format!(
                "JPEG-LS in BitsAllocated {b} is not supported"
            )));
        }
    })
}

/// DICOM RLE (PS3.5 Annex G): one fragment per frame, one PackBits segment per byte of
/// each sample, most significant byte first.
fn rle_frames(
    fragments: &[Vec<u8>],
    g: &Geometry,
    bits: u32,
    signed: bool,
) -> Result<SampleData, ImagingError> {
    let err = |m: &str| ImagingError::Pixels(format!("RLE: {m}"));
    let bytes_per_sample = (bits / 8).max(1) as usize;
    let plane = g.rows as usize * g.columns as usize;
    let spp = usize::from(g.spp);
    if fragments.len() < g.frames as usize {
        return Err(err("fewer fragments than frames"));
    }
    let mut raw = Vec::with_capacity(g.frame_values() * g.frames as usize * bytes_per_sample);
    for frame in fragments.iter().take(g.frames as usize) {
        if frame.len() < 64 {
            return Err(err("frame shorter than its header"));
        }
        let header: Vec<usize> = frame[..64]
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize)
            .collect();
        let segments = header[0];
        if segments != spp * bytes_per_sample || segments > 15 {
            return Err(err(&format!(
                "{segments} segments where {} are needed",
                spp * bytes_per_sample
            )));
        }
        let mut planes = Vec::with_capacity(segments);
        for s in 0..segments {
            let start = header[1 + s];
            let end = if s + 1 < segments {
                header[2 + s]
            } else {
                frame.len()
            };
            let segment = frame
                .get(start..end.max(start))
                .ok_or_else(|| err("segment offset past the fragment"))?;
            planes.push(unpack_bits(segment, plane));
        }
        // Each pixel: for each sample, its bytes from most to least significant, stored as
        // a big-endian sample so `from_bytes` can read it.
        for p in 0..plane {
            for s in 0..spp {
                for b in 0..bytes_per_sample {
                    raw.push(planes[s * bytes_per_sample + b][p]);
                }
            }
        }
    }
    from_bytes(
        &raw,
        bits,
        signed,
        true,
        g.frame_values() * g.frames as usize,
    )
}

/// PackBits, padded or cut to exactly `len` bytes.
fn unpack_bits(input: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut i = 0;
    while i < input.len() && out.len() < len {
        let n = input[i] as i8;
        i += 1;
        if n >= 0 {
            let count = n as usize + 1;
            let end = (i + count).min(input.len());
            out.extend_from_slice(&input[i..end]);
            i = end;
        } else if n != -128 {
            if let Some(&b) = input.get(i) {
                out.extend(std::iter::repeat_n(b, (1 - isize::from(n)) as usize));
            }
            i += 1;
        }
    }
    out.resize(len, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packbits_runs_and_literals() {
        assert_eq!(
            unpack_bits(&[2, 1, 2, 3, 0xFE, 9], 6),
            vec![1, 2, 3, 9, 9, 9]
        );
        assert_eq!(unpack_bits(&[0x80, 0, 7], 2), vec![7, 0]);
    }
}
