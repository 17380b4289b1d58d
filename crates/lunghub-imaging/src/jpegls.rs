//! A JPEG-LS decoder (ITU-T T.87 | ISO/IEC 14495-1), for DICOM's JPEG-LS Lossless and
//! Near-Lossless transfer syntaxes (1.2.840.10008.1.2.4.80 and .81).
//!
//! Written here, in safe Rust, rather than bound from CharLS: CharLS builds with cmake, which
//! a fresh machine does not have, and a decoder of untrusted hospital data is better without
//! C++ underneath. It covers what DICOM files carry: 2 to 16 bits, lossless and
//! near-lossless, one to four components in all three interleave modes, and preset
//! parameters (LSE id 1). It refuses, with an error, what no DICOM encoder here writes:
//! mapping tables, restart intervals, a point transform, subsampled components and the
//! HP colour transform. The corpus test checks every JPEG-LS file of
//! `../shared/data/dicom-conformance` against pydicom (libjpeg), sample for sample.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum JpegLsError {
    #[error("JPEG-LS: {0}")]
    Malformed(&'static str),
    #[error("JPEG-LS: {0} is not supported")]
    Unsupported(&'static str),
    #[error("JPEG-LS: the stream is {got} but the data set says {want}")]
    Geometry { got: String, want: String },
}

/// A decoded frame: samples pixel-interleaved (R, G, B, R, …), row by row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    pub components: u8,
    pub precision: u8,
    pub samples: Vec<u16>,
}

/// What the caller's data set says the frame is; checked before anything is allocated, so
/// a header cannot ask for more memory than the data set already accounts for.
#[derive(Debug, Clone, Copy)]
pub struct Expected {
    pub width: u32,
    pub height: u32,
    pub components: u8,
}

const J: [u32; 32] = [
    0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 9, 10, 11, 12, 13,
    14, 15,
];

struct FrameHeader {
    precision: u8,
    width: u32,
    height: u32,
    ids: Vec<u8>,
}

#[derive(Clone, Copy, Default)]
struct Presets {
    maxval: i32,
    t1: i32,
    t2: i32,
    t3: i32,
    reset: i32,
}

/// Decodes one JPEG-LS stream (SOI … EOI).
pub fn decode(data: &[u8], expected: Expected) -> Result<Frame, JpegLsError> {
    use JpegLsError::{Malformed, Unsupported};
    if !data.starts_with(&[0xFF, 0xD8]) {
        return Err(Malformed("the stream does not start with SOI"));
    }
    let mut pos = 2;
    let mut frame: Option<FrameHeader> = None;
    let mut presets = Presets::default();
    let mut planes: Vec<Vec<u16>> = Vec::new();
    let mut decoded = Vec::new();
    loop {
        // Fill bytes (0xFF runs) may stand before a marker.
        while data.get(pos) == Some(&0xFF) && data.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        let marker = match (data.get(pos), data.get(pos + 1)) {
            (Some(0xFF), Some(m)) => *m,
            (None, _) | (Some(_), None) => return Err(Malformed("the stream ends before EOI")),
            _ => return Err(Malformed("a marker was expected")),
        };
        pos += 2;
        if marker == 0xD9 {
            break;
        }
        let len = match (data.get(pos), data.get(pos + 1)) {
            (Some(a), Some(b)) => usize::from(u16::from_be_bytes([*a, *b])),
            _ => return Err(Malformed("a segment is cut short")),
        };
        let segment = data
            .get(pos + 2..pos + len)
            .filter(|_| len >= 2)
            .ok_or(Malformed("a segment is cut short"))?;
        pos += len;
        match marker {
            0xF7 => {
                if frame.is_some() {
                    return Err(Malformed("two frame headers"));
                }
                let f = frame_header(segment)?;
                let got = (f.width, f.height, f.ids.len());
                let want = (
                    expected.width,
                    expected.height,
                    usize::from(expected.components),
                );
                if got != want {
                    return Err(JpegLsError::Geometry {
                        got: format!("{}×{}×{}", got.0, got.1, got.2),
                        want: format!("{}×{}×{}", want.0, want.1, want.2),
                    });
                }
                let plane = f.width as usize * f.height as usize;
                planes = vec![vec![0; plane]; f.ids.len()];
                decoded = vec![false; f.ids.len()];
                frame = Some(f);
            }
            0xF8 => match segment.first() {
                Some(1) if segment.len() >= 11 => {
                    let at = |i: usize| i32::from(u16::from_be_bytes([segment[i], segment[i + 1]]));
                    presets = Presets {
                        maxval: at(1),
                        t1: at(3),
                        t2: at(5),
                        t3: at(7),
                        reset: at(9),
                    };
                }
                Some(1) => return Err(Malformed("a preset-parameters segment is cut short")),
                Some(2 | 3) => return Err(Unsupported("a mapping table")),
                Some(4) => return Err(Unsupported("an oversize-image segment")),
                _ => return Err(Malformed("an unknown LSE segment")),
            },
            0xDA => {
                let f = frame
                    .as_ref()
                    .ok_or(Malformed("a scan before the frame header"))?;
                let scan = scan_header(segment, f)?;
                // Each component once: a stream of repeated scans would otherwise decode the
                // whole image again for every few bytes it holds.
                if scan.components.iter().any(|c| decoded[*c]) {
                    return Err(Malformed("a component is scanned twice"));
                }
                let end = scan_end(data, pos);
                let coding = Coding::new(f.precision, scan.near, presets)?;
                let mut reader = Bits::new(&data[pos..end]);
                decode_scan(&mut reader, &coding, &scan, f, &mut planes)?;
                if reader.overrun() {
                    return Err(Malformed("the scan's data ends early"));
                }
                for c in &scan.components {
                    decoded[*c] = true;
                }
                pos = end;
            }
            0xDD => return Err(Unsupported("a restart interval")),
            0xE8 if segment.starts_with(b"mrfx") && segment.get(4).is_some_and(|t| *t != 0) => {
                return Err(Unsupported("the HP colour transform"));
            }
            0xE0..=0xEF | 0xFE => {}
            0xC0..=0xCF => return Err(Malformed("a JPEG (not JPEG-LS) frame")),
            _ => return Err(Malformed("an unexpected marker")),
        }
    }
    let f = frame.ok_or(Malformed("no frame header"))?;
    if decoded.is_empty() || decoded.iter().any(|d| !d) {
        return Err(Malformed("a component has no scan"));
    }
    let n = planes.len();
    let samples = if n == 1 {
        planes.swap_remove(0)
    } else {
        let mut samples = Vec::with_capacity(planes[0].len() * n);
        for i in 0..planes[0].len() {
            samples.extend(planes.iter().map(|p| p[i]));
        }
        samples
    };
    Ok(Frame {
        width: f.width,
        height: f.height,
        components: n as u8,
        precision: f.precision,
        samples,
    })
}

fn frame_header(s: &[u8]) -> Result<FrameHeader, JpegLsError> {
    use JpegLsError::{Malformed, Unsupported};
    if s.len() < 6 {
        return Err(Malformed("the frame header is cut short"));
    }
    let precision = s[0];
    let height = u32::from(u16::from_be_bytes([s[1], s[2]]));
    let width = u32::from(u16::from_be_bytes([s[3], s[4]]));
    let n = usize::from(s[5]);
    if !(2..=16).contains(&precision) {
        return Err(Malformed("the sample precision is outside 2–16 bits"));
    }
    if width == 0 || height == 0 {
        return Err(Unsupported("a frame without its size"));
    }
    if n == 0 || n > 4 || s.len() < 6 + 3 * n {
        return Err(Malformed("the frame header's components"));
    }
    let mut ids = Vec::with_capacity(n);
    for c in s[6..6 + 3 * n].chunks_exact(3) {
        if c[1] != 0x11 {
            return Err(Unsupported("a subsampled component"));
        }
        if ids.contains(&c[0]) {
            return Err(Malformed("two components with one id"));
        }
        ids.push(c[0]);
    }
    Ok(FrameHeader {
        precision,
        width,
        height,
        ids,
    })
}

struct Scan {
    /// Indices into the frame's components, in the scan's order.
    components: Vec<usize>,
    near: i32,
    interleave: u8,
}

fn scan_header(s: &[u8], f: &FrameHeader) -> Result<Scan, JpegLsError> {
    use JpegLsError::{Malformed, Unsupported};
    let n = usize::from(*s.first().ok_or(Malformed("the scan header is cut short"))?);
    if n == 0 || s.len() < 1 + 2 * n + 3 {
        return Err(Malformed("the scan header is cut short"));
    }
    let mut components = Vec::with_capacity(n);
    for c in s[1..1 + 2 * n].chunks_exact(2) {
        let i = f
            .ids
            .iter()
            .position(|id| *id == c[0])
            .ok_or(Malformed("a scan names a component the frame lacks"))?;
        if c[1] != 0 {
            return Err(Unsupported("a mapping table"));
        }
        if components.contains(&i) {
            return Err(Malformed("a scan names a component twice"));
        }
        components.push(i);
    }
    let near = i32::from(s[1 + 2 * n]);
    let interleave = s[2 + 2 * n];
    if s[3 + 2 * n] != 0 {
        return Err(Unsupported("a point transform"));
    }
    if interleave > 2 || (n == 1) != (interleave == 0) {
        return Err(Malformed(
            "the interleave mode does not fit the scan's components",
        ));
    }
    let maxval = (1i32 << f.precision) - 1;
    if near > (maxval / 2).min(255) {
        return Err(Malformed("NEAR is too large for the sample precision"));
    }
    Ok(Scan {
        components,
        near,
        interleave,
    })
}

/// Where the scan's entropy-coded data stops: the first 0xFF followed by a byte with its high
/// bit set (inside the data, an 0xFF is always followed by a stuffed zero bit).
fn scan_end(data: &[u8], from: usize) -> usize {
    let mut i = from;
    while i + 1 < data.len() {
        if data[i] == 0xFF && data[i + 1] >= 0x80 {
            return i;
        }
        i += 1;
    }
    data.len()
}

/// The parameters of one scan's coding (T.87 A.2.1 and C.2.4.1.1).
struct Coding {
    near: i32,
    maxval: i32,
    range: i32,
    qbpp: u32,
    limit: u32,
    t1: i32,
    t2: i32,
    t3: i32,
    reset: i64,
}

impl Coding {
    fn new(precision: u8, near: i32, p: Presets) -> Result<Self, JpegLsError> {
        use JpegLsError::Malformed;
        let maxval = if p.maxval == 0 {
            (1i32 << precision) - 1
        } else {
            p.maxval
        };
        if maxval >= 1 << precision {
            return Err(Malformed("MAXVAL exceeds the sample precision"));
        }
        if near > (maxval / 2).min(255) {
            return Err(Malformed("NEAR is too large for MAXVAL"));
        }
        let clamp = |i: i32, j: i32| if i > maxval || i < j { j } else { i };
        // T.87's BASIC_T1, BASIC_T2 and BASIC_T3.
        const BASIC: [i32; 3] = [3, 7, 21];
        let (d1, d2, d3) = if maxval >= 128 {
            let factor = (maxval.min(4095) + 128) / 256;
            let t1 = clamp(factor * (BASIC[0] - 2) + 2 + 3 * near, near + 1);
            let t2 = clamp(factor * (BASIC[1] - 3) + 3 + 5 * near, t1);
            (t1, t2, clamp(factor * (BASIC[2] - 4) + 4 + 7 * near, t2))
        } else {
            let factor = 256 / (maxval + 1);
            let t1 = clamp((BASIC[0] / factor).max(2) + 3 * near, near + 1);
            let t2 = clamp((BASIC[1] / factor).max(3) + 5 * near, t1);
            (t1, t2, clamp((BASIC[2] / factor).max(4) + 7 * near, t2))
        };
        let t1 = if p.t1 == 0 { d1 } else { p.t1 };
        let t2 = if p.t2 == 0 { d2 } else { p.t2 };
        let t3 = if p.t3 == 0 { d3 } else { p.t3 };
        if !(near < t1 && t1 <= t2 && t2 <= t3 && t3 <= maxval.max(near + 1)) {
            return Err(Malformed("the preset thresholds are out of order"));
        }
        let reset = if p.reset == 0 { 64 } else { p.reset };
        if reset < 3 || reset > maxval.max(255) {
            return Err(Malformed("RESET is outside 3 to max(255, MAXVAL)"));
        }
        let range = (maxval + 2 * near) / (2 * near + 1) + 1;
        let bits = |v: i32| 32 - ((v - 1).max(0) as u32).leading_zeros();
        let qbpp = bits(range);
        let bpp = bits(maxval + 1).max(2);
        Ok(Coding {
            near,
            maxval,
            range,
            qbpp,
            limit: 2 * (bpp + bpp.max(8)),
            t1,
            t2,
            t3,
            reset: i64::from(reset),
        })
    }

    fn quantize(&self, d: i32) -> i32 {
        match d {
            d if d <= -self.t3 => -4,
            d if d <= -self.t2 => -3,
            d if d <= -self.t1 => -2,
            d if d < -self.near => -1,
            d if d <= self.near => 0,
            d if d < self.t1 => 1,
            d if d < self.t2 => 2,
            d if d < self.t3 => 3,
            _ => 4,
        }
    }

    /// Adds the dequantized error to the prediction, then undoes the modulo reduction and
    /// clamps (A.4.5).
    fn reconstruct(&self, predicted: i32, error: i32) -> u16 {
        // In i64: a corrupt stream's error can be near 2^30, times a step of up to 511.
        let step = i64::from(2 * self.near + 1);
        let (near, maxval) = (i64::from(self.near), i64::from(self.maxval));
        let mut x = i64::from(predicted) + i64::from(error) * step;
        if x < -near {
            x += i64::from(self.range) * step;
        } else if x > maxval + near {
            x -= i64::from(self.range) * step;
        }
        x.clamp(0, maxval) as u16
    }
}

#[derive(Clone, Copy)]
struct Regular {
    // A and B grow with RESET, which a preset may raise to 65535: wider than i32 needs.
    a: i64,
    b: i64,
    c: i32,
    n: i64,
}

#[derive(Clone, Copy)]
struct RunContext {
    a: i64,
    n: i64,
    nn: i64,
}

/// Context statistics of one scan, shared by its components (T.87 B.2, B.3).
struct Contexts {
    regular: Vec<Regular>,
    run: [RunContext; 2],
}

impl Contexts {
    fn new(c: &Coding) -> Self {
        let a = i64::from(((c.range + 32) / 64).max(2));
        Contexts {
            regular: vec![
                Regular {
                    a,
                    b: 0,
                    c: 0,
                    n: 1
                };
                365
            ],
            run: [RunContext { a, n: 1, nn: 0 }; 2],
        }
    }
}

/// The entropy-coded bits of a scan, with JPEG-LS's stuffing: after an 0xFF byte, the next
/// byte's high bit is a stuffed zero and only its low seven bits are data.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    /// Bits not yet read, left-aligned.
    acc: u64,
    count: u32,
    after_ff: bool,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Self {
        Bits {
            data,
            pos: 0,
            acc: 0,
            count: 0,
            after_ff: false,
        }
    }

    fn fill(&mut self) {
        while self.count <= 56 {
            // Past the end, zeros: a broken stream then fails on a bound below, or on
            // `overrun` once the scan is done.
            let byte = self.data.get(self.pos).copied().unwrap_or(0);
            self.pos += 1;
            let (value, width) = if self.after_ff {
                (u64::from(byte & 0x7F), 7)
            } else {
                (u64::from(byte), 8)
            };
            self.after_ff = byte == 0xFF;
            self.acc |= value << (64 - self.count - width);
            self.count += width;
        }
    }

    fn consume(&mut self, n: u32) {
        self.acc = self.acc.checked_shl(n).unwrap_or(0);
        self.count -= n;
    }

    /// `n` bits (at most 24) as a number.
    fn read(&mut self, n: u32) -> i32 {
        if n == 0 {
            return 0;
        }
        if self.count < n {
            self.fill();
        }
        let v = (self.acc >> (64 - n)) as i32;
        self.consume(n);
        v
    }

    fn bit(&mut self) -> bool {
        self.read(1) == 1
    }

    /// The number of zero bits before the next one bit, up to `max`.
    fn zeros(&mut self, max: u32) -> Result<u32, JpegLsError> {
        let mut q = 0;
        loop {
            if self.count == 0 {
                self.fill();
            }
            let lz = self.acc.leading_zeros();
            if lz < self.count {
                q += lz;
                self.consume(lz + 1);
                return if q > max {
                    Err(JpegLsError::Malformed("a Golomb code is too long"))
                } else {
                    Ok(q)
                };
            }
            q += self.count;
            self.consume(self.count);
            if q > max {
                return Err(JpegLsError::Malformed("a Golomb code is too long"));
            }
        }
    }

    /// Whether reading went more than a few bytes past the data.
    fn overrun(&self) -> bool {
        self.pos > self.data.len() + 8 + (self.count as usize).div_ceil(8)
    }
}

/// A limited-length Golomb code (A.5.3).
fn golomb(bits: &mut Bits, k: u32, limit: u32, qbpp: u32) -> Result<i32, JpegLsError> {
    let q = bits.zeros(limit)?;
    if q >= limit.saturating_sub(qbpp + 1) {
        return Ok(bits.read(qbpp) + 1);
    }
    if k > 24 || q > (i32::MAX >> k) as u32 {
        return Err(JpegLsError::Malformed("a Golomb code is too long"));
    }
    Ok(((q as i32) << k) + bits.read(k))
}

/// The four neighbours of a sample (T.87 A.2.1, with the edge rules of 3.2 and A.3).
#[derive(Clone, Copy, Default)]
struct Neighbours {
    ra: i32,
    rb: i32,
    rc: i32,
    rd: i32,
}

fn neighbours(plane: &[u16], width: usize, x: usize, y: usize) -> Neighbours {
    let at = |x: usize, y: usize| i32::from(plane[y * width + x]);
    let rb = if y > 0 { at(x, y - 1) } else { 0 };
    let ra = if x > 0 { at(x - 1, y) } else { rb };
    let rc = match (x, y) {
        (0, y) if y >= 2 => at(0, y - 2),
        (0, _) | (_, 0) => 0,
        (x, y) => at(x - 1, y - 1),
    };
    let rd = match y {
        0 => 0,
        y => at((x + 1).min(width - 1), y - 1),
    };
    Neighbours { ra, rb, rc, rd }
}

fn context_of(c: &Coding, n: &Neighbours) -> i32 {
    (c.quantize(n.rd - n.rb) * 9 + c.quantize(n.rb - n.rc)) * 9 + c.quantize(n.rc - n.ra)
}

/// One sample in regular mode (A.4 to A.6), with its signed context `q` (not zero).
fn regular(
    bits: &mut Bits,
    c: &Coding,
    ctx: &mut Contexts,
    q: i32,
    n: &Neighbours,
) -> Result<u16, JpegLsError> {
    let sign = if q < 0 { -1 } else { 1 };
    let cx = &mut ctx.regular[q.unsigned_abs() as usize];
    let (ra, rb, rc) = (n.ra, n.rb, n.rc);
    let med = if rc >= ra.max(rb) {
        ra.min(rb)
    } else if rc <= ra.min(rb) {
        ra.max(rb)
    } else {
        ra + rb - rc
    };
    let predicted = (med + sign * cx.c).clamp(0, c.maxval);
    let mut k = 0;
    while (cx.n << k) < cx.a {
        k += 1;
        if k > 24 {
            return Err(JpegLsError::Malformed("a context's statistics overflow"));
        }
    }
    let mapped = golomb(bits, k, c.limit, c.qbpp)?;
    let mut error = if mapped & 1 == 0 {
        mapped >> 1
    } else {
        -((mapped + 1) >> 1)
    };
    if k == 0 && c.near == 0 && 2 * cx.b <= -cx.n {
        error = !error;
    }
    // Context update and bias correction (A.6).
    cx.b += i64::from(error) * i64::from(2 * c.near + 1);
    cx.a += i64::from(error.abs());
    if cx.n == c.reset {
        cx.a >>= 1;
        cx.b >>= 1;
        cx.n >>= 1;
    }
    cx.n += 1;
    if cx.b + cx.n <= 0 {
        cx.b += cx.n;
        if cx.b <= -cx.n {
            cx.b = -cx.n + 1;
        }
        if cx.c > -128 {
            cx.c -= 1;
        }
    } else if cx.b > 0 {
        cx.b -= cx.n;
        if cx.b > 0 {
            cx.b = 0;
        }
        if cx.c < 127 {
            cx.c += 1;
        }
    }
    Ok(c.reconstruct(predicted, sign * error))
}

/// The run length in samples, at most `left` (A.7.1.2), and whether the run reached the end
/// of the line (no interruption sample follows).
fn run_length(bits: &mut Bits, run_index: &mut usize, left: usize) -> (usize, bool) {
    let mut count = 0;
    while bits.bit() {
        let chunk = 1usize << J[*run_index];
        let take = chunk.min(left - count);
        count += take;
        if take == chunk {
            *run_index = (*run_index + 1).min(31);
        }
        if count == left {
            return (count, true);
        }
    }
    count += bits.read(J[*run_index]) as usize;
    (count, false)
}

/// The error of a run-interruption sample (A.7.2), in context 0 or 1 (`RItype`).
fn interruption(
    bits: &mut Bits,
    c: &Coding,
    ctx: &mut Contexts,
    ri_type: usize,
    run_index: usize,
) -> Result<i32, JpegLsError> {
    let cx = &mut ctx.run[ri_type];
    let temp = cx.a + (cx.n >> 1) * ri_type as i64;
    let mut k = 0;
    while (cx.n << k) < temp {
        k += 1;
        if k > 24 {
            return Err(JpegLsError::Malformed("a context's statistics overflow"));
        }
    }
    let mapped = golomb(bits, k, c.limit.saturating_sub(J[run_index] + 1), c.qbpp)?;
    let t = mapped + ri_type as i32;
    let map = t & 1 == 1;
    let magnitude = (t + i32::from(map)) / 2;
    let error = if (k != 0 || 2 * cx.nn >= cx.n) == map {
        -magnitude
    } else {
        magnitude
    };
    if error < 0 {
        cx.nn += 1;
    }
    cx.a += i64::from((mapped + 1 - ri_type as i32) >> 1);
    if cx.n == c.reset {
        cx.a >>= 1;
        cx.n >>= 1;
        cx.nn >>= 1;
    }
    cx.n += 1;
    Ok(error)
}

fn decode_scan(
    bits: &mut Bits,
    c: &Coding,
    scan: &Scan,
    f: &FrameHeader,
    planes: &mut [Vec<u16>],
) -> Result<(), JpegLsError> {
    let mut ctx = Contexts::new(c);
    let (width, height) = (f.width as usize, f.height as usize);
    if scan.interleave == 2 {
        return decode_sample_interleaved(bits, c, &mut ctx, scan, width, height, planes);
    }
    // Non-interleaved (one component) or line-interleaved: one line of each component in
    // turn, each component with its own run index.
    let mut run_index = vec![0usize; scan.components.len()];
    for y in 0..height {
        for (s, &component) in scan.components.iter().enumerate() {
            let plane = &mut planes[component];
            let mut x = 0;
            while x < width {
                let n = neighbours(plane, width, x, y);
                let q = context_of(c, &n);
                if q != 0 {
                    plane[y * width + x] = regular(bits, c, &mut ctx, q, &n)?;
                    x += 1;
                    continue;
                }
                let (run, to_end) = run_length(bits, &mut run_index[s], width - x);
                if run > width - x {
                    return Err(JpegLsError::Malformed("a run passes the end of the line"));
                }
                plane[y * width + x..y * width + x + run].fill(n.ra as u16);
                x += run;
                if to_end {
                    break;
                }
                if x == width {
                    return Err(JpegLsError::Malformed("a run passes the end of the line"));
                }
                let rb = if y > 0 {
                    i32::from(plane[(y - 1) * width + x])
                } else {
                    0
                };
                let ra = n.ra;
                let ri_type = usize::from((ra - rb).abs() <= c.near);
                let error = interruption(bits, c, &mut ctx, ri_type, run_index[s])?;
                plane[y * width + x] = if ri_type == 1 {
                    c.reconstruct(ra, error)
                } else {
                    c.reconstruct(rb, if ra > rb { -error } else { error })
                };
                run_index[s] = run_index[s].saturating_sub(1);
                x += 1;
            }
        }
    }
    Ok(())
}

/// Sample-interleaved: all components of a pixel in turn; run mode only where every
/// component's gradients are flat (T.87 B.3).
fn decode_sample_interleaved(
    bits: &mut Bits,
    c: &Coding,
    ctx: &mut Contexts,
    scan: &Scan,
    width: usize,
    height: usize,
    planes: &mut [Vec<u16>],
) -> Result<(), JpegLsError> {
    let mut run_index = 0usize;
    for y in 0..height {
        let mut x = 0;
        while x < width {
            // At most four components (checked in the frame header): arrays, not a heap
            // allocation per pixel.
            let mut around = [Neighbours::default(); 4];
            let mut qs = [0i32; 4];
            for (s, &i) in scan.components.iter().enumerate() {
                around[s] = neighbours(&planes[i], width, x, y);
                qs[s] = context_of(c, &around[s]);
            }
            if qs.iter().any(|q| *q != 0) {
                for ((&i, n), q) in scan.components.iter().zip(&around).zip(&qs) {
                    // A flat component within a pixel that is not: context 0, with its own
                    // bias statistics as any other.
                    planes[i][y * width + x] = regular(bits, c, ctx, *q, n)?;
                }
                x += 1;
                continue;
            }
            let (run, to_end) = run_length(bits, &mut run_index, width - x);
            if run > width - x {
                return Err(JpegLsError::Malformed("a run passes the end of the line"));
            }
            for (&i, n) in scan.components.iter().zip(&around) {
                planes[i][y * width + x..y * width + x + run].fill(n.ra as u16);
            }
            x += run;
            if to_end {
                break;
            }
            if x == width {
                return Err(JpegLsError::Malformed("a run passes the end of the line"));
            }
            for (&i, n) in scan.components.iter().zip(&around) {
                let plane = &mut planes[i];
                let rb = if y > 0 {
                    i32::from(plane[(y - 1) * width + x])
                } else {
                    0
                };
                let error = interruption(bits, c, ctx, 0, run_index)?;
                let sign = if rb - n.ra < 0 { -1 } else { 1 };
                plane[y * width + x] = c.reconstruct(rb, sign * error);
            }
            run_index = run_index.saturating_sub(1);
            x += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected(width: u32, height: u32, components: u8) -> Expected {
        Expected {
            width,
            height,
            components,
        }
    }

    #[test]
    fn refuses_what_is_not_a_jpeg_ls_stream() {
        assert!(matches!(
            decode(b"\x89PNG", expected(1, 1, 1)),
            Err(JpegLsError::Malformed(_))
        ));
        // SOI, SOF55 for 4×4×1 at 8 bits, then nothing.
        let head = [0xFF, 0xD8, 0xFF, 0xF7, 0, 11, 8, 0, 4, 0, 4, 1, 1, 0x11, 0];
        assert_eq!(
            decode(&head, expected(4, 4, 1)),
            Err(JpegLsError::Malformed("the stream ends before EOI"))
        );
        assert!(matches!(
            decode(&head, expected(8, 8, 1)),
            Err(JpegLsError::Geometry { .. })
        ));
    }

    #[test]
    fn a_flat_image_is_one_run_per_line() {
        // SOF55 4×2, 8 bits; SOS one component, NEAR 0, ILV 0; each line a run to its end:
        // the first line's run of 4 is the bits 1 (1 sample, J=0), 1, 1, 1 (RUNindex rises
        // to 4, still J=0), the second line's 1 (J=1: 2 samples), 1 (2 more) — 0b1111_1100.
        let stream = [
            0xFF,
            0xD8,
            0xFF,
            0xF7,
            0,
            11,
            8,
            0,
            2,
            0,
            4,
            1,
            1,
            0x11,
            0,
            0xFF,
            0xDA,
            0,
            8,
            1,
            1,
            0,
            0,
            0,
            0,
            0b1111_1100,
            0xFF,
            0xD9,
        ];
        let frame = decode(&stream, expected(4, 2, 1)).expect("decodes");
        assert_eq!(frame.samples, vec![0; 8]);
    }

    #[test]
    fn default_thresholds_follow_t87_for_8_and_16_bits() {
        let c = Coding::new(8, 0, Presets::default()).expect("coding");
        assert_eq!(
            (c.t1, c.t2, c.t3, c.reset, c.limit, c.qbpp),
            (3, 7, 21, 64, 32, 8)
        );
        let c = Coding::new(16, 0, Presets::default()).expect("coding");
        assert_eq!((c.t1, c.t2, c.t3, c.limit, c.qbpp), (18, 67, 276, 64, 16));
        let c = Coding::new(8, 3, Presets::default()).expect("coding");
        assert_eq!((c.t1, c.t2, c.t3, c.range), (12, 22, 42, 38));
    }
}
