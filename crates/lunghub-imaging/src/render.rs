//! The display rendering of a DICOM frame, as a viewer shows it (PS3.3 C.11): Modality LUT
//! (rescale, or the Modality LUT Sequence), then VOI (window, or the VOI LUT Sequence, or
//! the frame's own range), MONOCHROME1 inverted; PALETTE COLOR through its lookup tables.

use dicom_core::value::Value;
use dicom_object::{InMemDicomObject, Tag};
use image::{DynamicImage, GrayImage, RgbImage};

use crate::ImagingError;
use crate::samples::{SampleData, Samples};

fn float(obj: &InMemDicomObject, tag: Tag) -> Option<f64> {
    obj.get(tag)
        .and_then(|e| e.to_multi_float64().ok())
        .and_then(|v| v.first().copied())
}

fn u16s(obj: &InMemDicomObject, tag: Tag) -> Option<Vec<u16>> {
    let e = obj.get(tag)?;
    e.to_multi_int::<u16>().ok().or_else(|| {
        e.to_bytes().ok().map(|b| {
            b.chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect()
        })
    })
}

/// A lookup table: descriptor (entries, first mapped value, bits) and data.
struct Lut {
    first: i64,
    bits: u16,
    data: Vec<u16>,
}

impl Lut {
    fn from_item(item: &InMemDicomObject, descriptor: Tag, data: Tag) -> Option<Lut> {
        let d = item.get(descriptor)?;
        let desc: Vec<i64> = d.to_multi_int::<i64>().ok()?;
        let (entries, first, bits) = (*desc.first()?, *desc.get(1)?, *desc.get(2)? as u16);
        let entries = if entries == 0 {
            65536
        } else {
            entries as usize
        };
        let mut data = u16s(item, data)?;
        data.truncate(entries);
        if data.is_empty() {
            return None;
        }
        Some(Lut { first, bits, data })
    }

    /// A segmented palette LUT (PS3.3 C.7.9.2): discrete, linear and indirect segments
    /// expanded into a plain table.
    fn segmented(item: &InMemDicomObject, descriptor: Tag, data: Tag) -> Option<Lut> {
        let desc: Vec<i64> = item.get(descriptor)?.to_multi_int::<i64>().ok()?;
        let (first, bits) = (*desc.get(1)?, *desc.get(2)? as u16);
        let words = u16s(item, data)?;
        let mut out: Vec<u16> = Vec::new();
        // Where each segment starts, in words: indirect segments point at them.
        let mut starts: Vec<usize> = Vec::new();
        let mut i = 0;
        while i + 1 < words.len() && out.len() <= 65536 {
            starts.push(i);
            if words[i] == 2 {
                // Repeat `count` earlier segments from a word offset (least significant first).
                let count = usize::from(words[i + 1]);
                let offset =
                    usize::from(*words.get(i + 2)?) | (usize::from(*words.get(i + 3)?) << 16);
                let mut j = *starts.iter().find(|s| **s == offset)?;
                for _ in 0..count {
                    j = expand_segment(&words, j, &mut out)?;
                }
                i += 4;
            } else {
                i = expand_segment(&words, i, &mut out)?;
            }
        }
        (!out.is_empty()).then_some(Lut {
            first,
            bits,
            data: out,
        })
    }

    fn apply(&self, v: f64) -> f64 {
        let i = (v.round() as i64 - self.first).clamp(0, self.data.len() as i64 - 1) as usize;
        f64::from(self.data[i])
    }

    fn max(&self) -> f64 {
        f64::from((1u32 << self.bits.clamp(1, 16)) - 1)
    }
}

/// Appends one discrete (0) or linear (1) segment starting at word `at`; returns where the
/// next segment starts.
fn expand_segment(words: &[u16], at: usize, out: &mut Vec<u16>) -> Option<usize> {
    let len = usize::from(*words.get(at + 1)?);
    match words[at] {
        0 => {
            out.extend(words.get(at + 2..at + 2 + len)?);
            Some(at + 2 + len)
        }
        1 => {
            let start = f64::from(*out.last()?);
            let end = f64::from(*words.get(at + 2)?);
            out.extend(
                (1..=len).map(|k| (start + (end - start) * k as f64 / len as f64).round() as u16),
            );
            Some(at + 3)
        }
        _ => None,
    }
}

fn first_item(obj: &InMemDicomObject, tag: Tag) -> Option<&InMemDicomObject> {
    match obj.get(tag).map(|e| e.value()) {
        Some(Value::Sequence(seq)) => seq.items().first(),
        _ => None,
    }
}

fn value(data: &SampleData, i: usize) -> f64 {
    match data {
        SampleData::U8(v) => f64::from(v[i]),
        SampleData::I8(v) => f64::from(v[i]),
        SampleData::U16(v) => f64::from(v[i]),
        SampleData::I16(v) => f64::from(v[i]),
        SampleData::U32(v) => f64::from(v[i]),
        SampleData::I32(v) => f64::from(v[i]),
        SampleData::F32(v) => f64::from(v[i]),
        SampleData::F64(v) => v[i],
    }
}

/// The `n` values from sample `offset` on, through the Modality LUT: the sequence wins over
/// rescale slope and intercept.
fn modality_values(obj: &InMemDicomObject, s: &Samples, offset: usize, n: usize) -> Vec<f64> {
    let modality_lut = first_item(obj, Tag(0x0028, 0x3000))
        .and_then(|i| Lut::from_item(i, Tag(0x0028, 0x3002), Tag(0x0028, 0x3006)));
    let slope = float(obj, Tag(0x0028, 0x1053)).unwrap_or(1.0);
    let intercept = float(obj, Tag(0x0028, 0x1052)).unwrap_or(0.0);
    (offset..(offset + n).min(s.data.len()))
        .map(|i| {
            let v = value(&s.data, i);
            match &modality_lut {
                Some(lut) => lut.apply(v),
                None => v * slope + intercept,
            }
        })
        .collect()
}

/// A frame for display, 8 bits, gray or RGB; `window` (centre, width) overrides the file's
/// VOI for grayscale images.
pub fn render(
    obj: &InMemDicomObject,
    s: &Samples,
    frame: u32,
    window: Option<(f64, f64)>,
) -> Result<DynamicImage, ImagingError> {
    let (w, h) = (s.columns, s.rows);
    let n = w as usize * h as usize;
    let spp = usize::from(s.samples_per_pixel);
    let bad = || ImagingError::Pixels("too few samples for the frame".into());
    let offset = (frame as usize).checked_mul(n * spp).ok_or_else(bad)?;
    if s.data.len() < offset + n * spp {
        return Err(bad());
    }
    let value = |data: &SampleData, i: usize| value(data, offset + i);
    let photometric = s.photometric.as_str();
    if photometric == "PALETTE COLOR" {
        let luts: Vec<Lut> = [
            (0x1101, 0x1201, 0x1221),
            (0x1102, 0x1202, 0x1222),
            (0x1103, 0x1203, 0x1223),
        ]
        .iter()
        .filter_map(|(d, v, seg)| {
            Lut::from_item(obj, Tag(0x0028, *d), Tag(0x0028, *v))
                .or_else(|| Lut::segmented(obj, Tag(0x0028, *d), Tag(0x0028, *seg)))
        })
        .collect();
        if luts.len() != 3 {
            return Err(ImagingError::Pixels(
                "PALETTE COLOR without three usable lookup tables".into(),
            ));
        }
        let mut rgb = Vec::with_capacity(n * 3);
        for i in 0..n {
            let index = value(&s.data, i);
            for lut in &luts {
                let out = lut.apply(index);
                // 16-bit entries keep their high byte; 8-bit ones are already in range.
                rgb.push(if lut.bits > 8 {
                    (out as u32 >> 8) as u8
                } else {
                    out as u8
                });
            }
        }
        return RgbImage::from_raw(w, h, rgb)
            .map(DynamicImage::ImageRgb8)
            .ok_or_else(bad);
    }
    if spp == 3 {
        let max = (0..n * 3).map(|i| value(&s.data, i)).fold(0.0f64, f64::max);
        let shift = if max > 255.0 { 255.0 / max } else { 1.0 };
        let rgb: Vec<u8> = (0..n * 3)
            .map(|i| (value(&s.data, i) * shift).round().clamp(0.0, 255.0) as u8)
            .collect();
        return RgbImage::from_raw(w, h, rgb)
            .map(DynamicImage::ImageRgb8)
            .ok_or_else(bad);
    }
    let values = modality_values(obj, s, offset, n);
    // VOI: the VOI LUT Sequence, else the first window, else the frame's own range.
    let voi_lut = first_item(obj, Tag(0x0028, 0x3010))
        .and_then(|i| Lut::from_item(i, Tag(0x0028, 0x3002), Tag(0x0028, 0x3006)));
    let file_window = float(obj, Tag(0x0028, 0x1050))
        .zip(float(obj, Tag(0x0028, 0x1051)))
        .filter(|(_, w)| *w >= 1.0);
    let chosen = window.filter(|(_, w)| *w >= 1.0);
    let window = chosen.or(file_window);
    let to8: Box<dyn Fn(f64) -> f64> = if let (Some(lut), None) = (voi_lut, chosen) {
        let max = lut.max();
        Box::new(move |v| lut.apply(v) / max * 255.0)
    } else if let Some((c, w)) = window {
        // PS3.3 C.11.2.1.2.1, the linear function.
        Box::new(move |v| (((v - (c - 0.5)) / (w - 1.0) + 0.5) * 255.0).clamp(0.0, 255.0))
    } else {
        let (lo, hi) = values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(*v), b.max(*v))
            });
        let span = (hi - lo).max(1e-9);
        Box::new(move |v| (v - lo) / span * 255.0)
    };
    let invert = photometric == "MONOCHROME1";
    let gray: Vec<u8> = values
        .iter()
        .map(|v| {
            let g = to8(*v).round().clamp(0.0, 255.0);
            (if invert { 255.0 - g } else { g }) as u8
        })
        .collect();
    GrayImage::from_raw(w, h, gray)
        .map(DynamicImage::ImageLuma8)
        .ok_or_else(bad)
}

/// The first window (centre, width) the file suggests.
pub fn file_window(obj: &InMemDicomObject) -> Option<(f64, f64)> {
    float(obj, Tag(0x0028, 0x1050))
        .zip(float(obj, Tag(0x0028, 0x1051)))
        .filter(|(_, w)| *w >= 1.0)
}

/// The windows (centre, width) a reviewer can pick for one grayscale frame, in the values
/// after the Modality LUT; `None` for colour.
pub fn windows(obj: &InMemDicomObject, s: &Samples, frame: u32) -> Option<crate::Windows> {
    if s.samples_per_pixel != 1 || s.photometric == "PALETTE COLOR" {
        return None;
    }
    let n = s.columns as usize * s.rows as usize;
    let offset = (frame as usize).checked_mul(n)?;
    let values = modality_values(obj, s, offset, n);
    let (lo, hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(*v), b.max(*v))
        });
    if lo > hi {
        return None;
    }
    Some(crate::Windows {
        file: file_window(obj),
        full: Some(((lo + hi) / 2.0, (hi - lo + 1.0).max(1.0))),
        lung: lung_window(&values, lo, hi, s.photometric == "MONOCHROME1"),
    })
}

/// A window for the lung fields of a chest radiograph, from the frame's histogram.
///
/// Pixels at the extreme values (collimator shutters, direct exposure, saturation) are left
/// out; of the rest, the window spans the 10th to the 70th percentile. On a frontal chest
/// film the lungs lie in that lower part (they are dark in MONOCHROME2: little attenuation),
/// so they get most of the gray scale while the mediastinum and bone saturate. MONOCHROME1
/// stores the scale the other way round, so there it is the 30th to the 90th.
/// Percentiles, not a fixed window: radiographs carry no calibrated unit the way CT's
/// Hounsfield scale is, which is why CT's lung window renders a radiograph black.
fn lung_window(values: &[f64], lo: f64, hi: f64, inverted: bool) -> Option<(f64, f64)> {
    // A quarter-million samples pin percentiles well below one gray level.
    let step = (values.len() / 262_144).max(1);
    let mut inner: Vec<f64> = values
        .iter()
        .step_by(step)
        .copied()
        .filter(|v| *v > lo && *v < hi && v.is_finite())
        .collect();
    if inner.len() < 16 {
        return None;
    }
    inner.sort_by(f64::total_cmp);
    let at = |p: f64| inner[((inner.len() - 1) as f64 * p).round() as usize];
    let (a, b) = if inverted {
        (at(0.30), at(0.90))
    } else {
        (at(0.10), at(0.70))
    };
    let width = b - a;
    (width >= 1.0).then_some(((a + b) / 2.0, width))
}
