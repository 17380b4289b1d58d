//! Flagging burned-in text: a heuristic for a human reviewer, not a cleaner.
//!
//! Scanners burn annotations into ultrasound video: the vendor and probe, settings, the date
//! and time, sometimes the patient's name or ID. They sit in rows near the top or bottom,
//! outside the moving sector, and they look like nothing else in a scan: many thin,
//! sharp, high-contrast strokes side by side that do not change from frame to frame.
//!
//! On the distinct sampled frames (scaled so the longest side is at most `max_side`), in
//! luma, with `lo` and `hi` the darkest and brightest value each pixel took:
//!
//! 1. A pixel is *still* when `hi − lo` is at most [`STATIC_RANGE`]. The range is wide on
//!    purpose: re-encoding makes the pixels of a static letter over moving speckle flicker.
//!    A clip with one distinct frame is still everywhere.
//! 2. A *bright stroke* is a run of 1 to `max(3, width/100)` still pixels whose `lo` is at
//!    least [`CONTRAST`] above the `lo` of the pixels on both sides of the run; a *dark
//!    stroke* the same on `hi`, below. Taking each pixel's extreme keeps a static letter's
//!    contrast over a moving background (the background's minimum only gets darker), while
//!    moving speckle has no still pixels and tissue edges are soft or wide: letters are thin
//!    and sharp.
//! 3. A row with at least [`ROW_STROKES`] strokes is a *text row*; text rows at most one row
//!    apart form a *band*. A band counts if it is [`MIN_HEIGHT`] rows high or more, a
//!    quarter of the frame or less, and holds [`BAND_STROKES`] strokes or more.
//! 4. The band with the most strokes is reported, in the de-identified video's rows, one
//!    sample row wider on each side; `why` says where it is (top fifth, middle, bottom
//!    fifth), how many strokes and rows it has, and how many other bands were seen.
//!
//! Every row is searched, not only the top and bottom fifths where annotations usually are:
//! a miss costs more than a look. Calibration: on synthetic text (ffmpeg `drawtext`, white
//! or yellow, 11 to 22 px high, on black bands, over a real clip's black margin and over
//! moving full-frame noise) bands hold 43 to 836 strokes; on the 97 real clips of the POCUS
//! dataset (cropped to the scan by its authors) no row holds more than 2, with all 16
//! frames or with only the first (as for a still image), so none is flagged.

/// Luma range (0–255) across sampled frames within which a pixel counts as still.
pub const STATIC_RANGE: u8 = 48;
/// Luma step that a stroke must make against both of its sides.
pub const CONTRAST: i16 = 48;
/// Strokes a row needs to be a text row.
pub const ROW_STROKES: usize = 3;
/// Rows (at the sampled scale) a band needs.
pub const MIN_HEIGHT: usize = 3;
/// Strokes a band needs in all.
pub const BAND_STROKES: usize = 16;

/// Rows of the de-identified video that probably hold burned-in text (vendor name, date,
/// patient name, settings), for a human reviewer to look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextBand {
    /// First row of the band, in the de-identified video's pixels.
    pub top: u32,
    /// Last row of the band (inclusive).
    pub bottom: u32,
    /// What was seen, in words.
    pub why: String,
}

/// A band found at the sampled scale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Band {
    pub top: usize,
    pub bottom: usize,
    pub strokes: usize,
    pub text_rows: usize,
}

/// Looks for burned-in text in frames of one clip, all the same size (frames of another size
/// than the first are ignored); the band's rows are mapped to a video `video_height` rows
/// high. [`read_clip`](crate::read_clip) calls this on its
/// sampled frames; it works on a single still image too (every pixel is then static).
pub fn detect_text_band(frames: &[image::RgbImage], video_height: u32) -> Option<TextBand> {
    let first = frames.first()?;
    let height = first.height() as usize;
    let mut bands = bands(frames);
    if bands.is_empty() {
        return None;
    }
    bands.sort_by(|a, b| b.strokes.cmp(&a.strokes).then(a.top.cmp(&b.top)));
    let best = &bands[0];
    let rows = |band: &Band| video_rows(band, height, video_height);
    let (top, bottom) = rows(best);
    let centre = (best.top + best.bottom) as f64 / 2.0 / height as f64;
    let place = if centre < 0.2 {
        "top fifth"
    } else if centre > 0.8 {
        "bottom fifth"
    } else {
        "middle"
    };
    let others = if bands.len() > 1 {
        let list: Vec<String> = bands[1..]
            .iter()
            .map(|band| {
                let (top, bottom) = rows(band);
                format!("{top}–{bottom} ({} strokes)", band.strokes)
            })
            .collect();
        format!("; also rows {}", list.join(", "))
    } else {
        String::new()
    };
    Some(TextBand {
        top,
        bottom,
        why: format!(
            "{} thin high-contrast strokes, still across {} distinct sampled frames, on {} \
             of {} rows (at {}×{height}) in the {place} of the frame{others}",
            best.strokes,
            frames.len(),
            best.text_rows,
            best.bottom - best.top + 1,
            first.width(),
        ),
    })
}

/// A band's rows in a video `video_height` rows high, one sample row wider on each side.
fn video_rows(band: &Band, height: usize, video_height: u32) -> (u32, u32) {
    let scale = video_height as f64 / height as f64;
    let top = (band.top.saturating_sub(1) as f64 * scale).floor() as u32;
    let bottom = (((band.bottom + 2).min(height) as f64 * scale).ceil() as u32)
        .saturating_sub(1)
        .min(video_height.saturating_sub(1));
    (top, bottom)
}

/// Every band of text rows, at the sampled scale.
pub(crate) fn bands(frames: &[image::RgbImage]) -> Vec<Band> {
    let strokes = row_strokes(frames);
    let height = strokes.len();
    let mut bands = Vec::new();
    let mut current: Option<Band> = None;
    for (y, &count) in strokes.iter().enumerate() {
        if count >= ROW_STROKES {
            match current.as_mut() {
                Some(band) if y <= band.bottom + 2 => {
                    band.bottom = y;
                    band.strokes += count;
                    band.text_rows += 1;
                }
                _ => {
                    if let Some(band) = current.take() {
                        bands.push(band);
                    }
                    current = Some(Band {
                        top: y,
                        bottom: y,
                        strokes: count,
                        text_rows: 1,
                    });
                }
            }
        }
    }
    bands.extend(current);
    bands.retain(|band| {
        let rows = band.bottom - band.top + 1;
        rows >= MIN_HEIGHT && rows <= height.div_ceil(4) && band.strokes >= BAND_STROKES
    });
    bands
}

/// Still thin strokes per row. Frames of another size than the first are ignored.
pub(crate) fn row_strokes(frames: &[image::RgbImage]) -> Vec<usize> {
    let Some(first) = frames.first() else {
        return Vec::new();
    };
    let (width, height) = (first.width() as usize, first.height() as usize);
    let pixels = width * height;
    let mut lo = vec![u8::MAX; pixels];
    let mut hi = vec![0u8; pixels];
    for frame in frames
        .iter()
        .filter(|f| f.dimensions() == first.dimensions())
    {
        for (i, rgb) in frame.as_raw().chunks_exact(3).enumerate() {
            let luma =
                ((77 * rgb[0] as u32 + 150 * rgb[1] as u32 + 29 * rgb[2] as u32 + 128) >> 8) as u8;
            lo[i] = lo[i].min(luma);
            hi[i] = hi[i].max(luma);
        }
    }
    let still: Vec<bool> = lo
        .iter()
        .zip(&hi)
        .map(|(&l, &h)| h - l <= STATIC_RANGE)
        .collect();
    let max_run = (width / 100).max(3);

    let mut counts = vec![0usize; height];
    for (y, count) in counts.iter_mut().enumerate() {
        let span = y * width..(y + 1) * width;
        let still = &still[span.clone()];
        // Bright strokes on the darkest value each pixel took, dark strokes on the brightest:
        // a static letter keeps its contrast there even over moving speckle, which a moving
        // background's extreme only increases.
        *count = strokes(&lo[span.clone()], still, max_run, true)
            + strokes(&hi[span], still, max_run, false);
    }
    counts
}

/// Counts runs of 1 to `max_run` static pixels that are brighter (`bright`) or darker than
/// the pixels on both sides by at least [`CONTRAST`].
fn strokes(row: &[u8], still: &[bool], max_run: usize, bright: bool) -> usize {
    // Distance above the reference, positive in the stroke's direction.
    let lift = |value: u8, reference: u8| -> i16 {
        let d = value as i16 - reference as i16;
        if bright { d } else { -d }
    };
    let width = row.len();
    let mut count = 0;
    let mut x = 1;
    while x + 1 < width {
        if lift(row[x], row[x - 1]) < CONTRAST || !still[x] {
            x += 1;
            continue;
        }
        let outside = row[x - 1];
        let mut end = x;
        while end < width && end - x < max_run && still[end] && lift(row[end], outside) >= CONTRAST
        {
            end += 1;
        }
        // `end` is the first pixel past the run: it must step back by CONTRAST.
        if end < width && end > x && lift(row[end - 1], row[end]) >= CONTRAST {
            count += 1;
            x = end + 1;
        } else {
            x += 1;
        }
    }
    count
}
