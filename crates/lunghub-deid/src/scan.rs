//! Sniffing and a bounded structural pre-scan of DICOM bytes.
//!
//! dicom-rs allocates whatever length a header declares before it reads the value, so a
//! 674-byte hostile file can ask for gigabytes. Before any byte reaches the parser, this
//! module walks every element header and checks that each declared length fits inside
//! its container and the file, that nesting stays shallow and that the element count is
//! sane. Only then is the data set handed to dicom-rs, which by then can allocate at most
//! what the file holds.

use std::io::Read;
use std::ops::Range;

use dicom_core::Tag;
use dicom_core::VR;
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_dictionary_std::StandardDataDictionary;

/// Bounds applied to every input.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest input file, and largest inflated deflate stream, in bytes.
    pub max_bytes: u64,
    /// Deepest sequence nesting accepted.
    pub max_depth: u32,
    /// Most data elements in one file, nested ones included.
    pub max_elements: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 2 << 30,
            max_depth: 32,
            max_elements: 2_000_000,
        }
    }
}

/// Why an input cannot be read. The text is what the report shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error("not a DICOM, PNG or JPEG file")]
    UnknownFormat,
    #[error("not a DICOM file")]
    NotDicom,
    #[error("file is larger than the {0}-byte limit")]
    TooLarge(u64),
    #[error("truncated: element header at byte {0} runs past the end")]
    TruncatedHeader(usize),
    #[error("element {tag} at byte {at} declares {declared} bytes but only {available} remain")]
    LengthOverrun {
        tag: String,
        at: usize,
        declared: u64,
        available: u64,
    },
    #[error("sequences nested deeper than {0} levels")]
    TooDeep(u32),
    #[error("more than {0} data elements")]
    TooManyElements(u64),
    #[error("element {tag} at byte {at} has undefined length but is not a sequence")]
    UndefinedLength { tag: String, at: usize },
    #[error("expected a sequence item at byte {at}, found {tag}")]
    ExpectedItem { tag: String, at: usize },
    #[error("invalid value representation {vr:?} in element {tag} at byte {at}")]
    BadVr { tag: String, vr: String, at: usize },
    #[error("the file meta group is malformed: {0}")]
    BadMeta(String),
    #[error("the deflated data set cannot be inflated: {0}")]
    Inflate(String),
}

/// How the data set is encoded, as far as the walk needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    ImplicitLittle,
    ExplicitLittle,
    ExplicitBig,
}

/// What an input turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Sniffed {
    Png,
    Jpeg,
    Dicom(DicomLayout),
}

/// Where the parts of a DICOM input are.
#[derive(Debug, PartialEq, Eq)]
pub struct DicomLayout {
    /// Transfer syntax UID from the meta group, or guessed from the first element.
    pub transfer_syntax: String,
    /// Byte offset where the data set starts.
    pub dataset_start: usize,
    /// Media Storage SOP Class and Instance UIDs from the meta group, if any: the fallback
    /// for a data set that lacks its own.
    pub media_sop_class: Option<String>,
    pub media_sop_instance: Option<String>,
}

#[derive(Default)]
struct MetaInfo {
    transfer_syntax: Option<String>,
    sop_class: Option<String>,
    sop_instance: Option<String>,
}

pub const DEFLATED_EXPLICIT_LE: &str = "1.2.840.10008.1.2.1.99";
const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
const EXPLICIT_BE: &str = "1.2.840.10008.1.2.2";

/// Tells a PNG, a JPEG and a DICOM file apart, and locates a DICOM file's data set.
pub fn sniff(bytes: &[u8], limits: &Limits) -> Result<Sniffed, ScanError> {
    if bytes.len() as u64 > limits.max_bytes {
        return Err(ScanError::TooLarge(limits.max_bytes));
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok(Sniffed::Png);
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(Sniffed::Jpeg);
    }
    let meta_start = if bytes.len() >= 132 && &bytes[128..132] == b"DICM" {
        Some(132)
    } else if bytes.starts_with(b"DICM") {
        Some(4)
    } else if bytes.len() >= 8
        && bytes[..2] == [0x02, 0x00]
        && VR::from_binary([bytes[4], bytes[5]]).is_some()
    {
        // A meta group with neither preamble nor magic, as some writers leave it.
        Some(0)
    } else {
        None
    };
    let (meta, start) = match meta_start {
        Some(start) => read_meta(bytes, start)?,
        None => (MetaInfo::default(), 0),
    };
    let transfer_syntax = match meta.transfer_syntax {
        Some(ts) => ts,
        None => guess_transfer_syntax(&bytes[start..], meta_start.is_some())
            .ok_or(ScanError::UnknownFormat)?
            .to_owned(),
    };
    Ok(Sniffed::Dicom(DicomLayout {
        transfer_syntax,
        dataset_start: start,
        media_sop_class: meta.sop_class,
        media_sop_instance: meta.sop_instance,
    }))
}

fn read_meta(bytes: &[u8], start: usize) -> Result<(MetaInfo, usize), ScanError> {
    let mut pos = start;
    let mut meta = MetaInfo::default();
    while pos + 8 <= bytes.len() && u16::from_le_bytes([bytes[pos], bytes[pos + 1]]) == 0x0002 {
        let h = header(bytes, pos, Encoding::ExplicitLittle)?;
        let len =
            h.len
                .ok_or_else(|| ScanError::BadMeta("undefined length".into()))? as usize;
        let value_start = pos + h.header_len;
        let value = bytes.get(value_start..value_start + len).ok_or_else(|| {
            ScanError::BadMeta(format!("element {} runs past the end", h.tag_text()))
        })?;
        let text = || {
            Some(
                String::from_utf8_lossy(value)
                    .trim_end_matches(['\0', ' '])
                    .to_owned(),
            )
            .filter(|s| !s.is_empty())
        };
        match h.element {
            0x0002 => meta.sop_class = text(),
            0x0003 => meta.sop_instance = text(),
            0x0010 => meta.transfer_syntax = text(),
            _ => {}
        }
        pos = value_start + len;
    }
    Ok((meta, pos))
}

/// Guesses the encoding of a data set from its first element, the way DCMTK and pydicom
/// do. After a meta group (that lacks 0002,0010) anything goes, defaulting to implicit VR
/// little endian; without one the first element must look like DICOM.
fn guess_transfer_syntax(data: &[u8], after_meta: bool) -> Option<&'static str> {
    if data.len() < 8 {
        return None;
    }
    if after_meta {
        let explicit = VR::from_binary([data[4], data[5]]).is_some();
        return Some(if explicit { EXPLICIT_LE } else { IMPLICIT_LE });
    }
    let group_le = u16::from_le_bytes([data[0], data[1]]);
    let group_be = u16::from_be_bytes([data[0], data[1]]);
    let vr_ok = VR::from_binary([data[4], data[5]]).is_some();
    if (0x0002..=0x0010).contains(&group_le) && group_le % 2 == 0 {
        Some(if vr_ok { EXPLICIT_LE } else { IMPLICIT_LE })
    } else if (0x0002..=0x0010).contains(&group_be) && group_be % 2 == 0 && vr_ok {
        Some(EXPLICIT_BE)
    } else {
        None
    }
}

/// A DICOM data set whose every declared length, nesting level and element count has been
/// checked against [`Limits`]: the only form in which outside DICOM bytes go on to dicom-rs
/// anywhere in lunghub (de-identification, decoding, DICOMDIR reading). It is made by
/// [`bound`] alone.
#[derive(Debug)]
pub struct Bounded<'a> {
    input: &'a [u8],
    /// Where the parts of the file are.
    pub layout: DicomLayout,
    /// The data set as dicom-rs is to parse it: inflated for the deflated syntax.
    data: std::borrow::Cow<'a, [u8]>,
    /// What the walk learned of the data set's layout.
    pub structure: Structure,
}

impl<'a> Bounded<'a> {
    /// The data set's bytes, inflated if the transfer syntax is the deflated one.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Whether the data set was stored deflated.
    pub fn is_deflated(&self) -> bool {
        self.layout.transfer_syntax == DEFLATED_EXPLICIT_LE
    }

    /// The file from its `DICM` magic on, as dicom-rs's file reader takes it, when the file
    /// has the magic (with or without the 128-byte preamble).
    pub fn part10(&self) -> Option<&'a [u8]> {
        match self.input.get(128..132) {
            Some(b"DICM") => Some(&self.input[128..]),
            _ if self.input.starts_with(b"DICM") => Some(self.input),
            _ => None,
        }
    }

    /// The whole input, as given.
    pub fn input(&self) -> &'a [u8] {
        self.input
    }
}

/// The one gate in front of dicom-rs: sniffs `input`, refuses anything but DICOM, inflates
/// a deflated data set within the limits, and walks every element header (see the module
/// docs). dicom-rs allocates what a header declares before it reads the value, so a 9 KB
/// file declaring 4 GB of pixel data cost 4 GB on every path that skipped this.
pub fn bound<'a>(input: &'a [u8], limits: &Limits) -> Result<Bounded<'a>, ScanError> {
    let Sniffed::Dicom(layout) = sniff(input, limits)? else {
        return Err(ScanError::NotDicom);
    };
    let raw = &input[layout.dataset_start..];
    let data = if layout.transfer_syntax == DEFLATED_EXPLICIT_LE {
        std::borrow::Cow::Owned(inflate(raw, limits)?)
    } else {
        std::borrow::Cow::Borrowed(raw)
    };
    let structure = check_dataset(&data, encoding_of(&layout.transfer_syntax), limits)?;
    Ok(Bounded {
        input,
        layout,
        data,
        structure,
    })
}

/// The encoding the walk uses for a transfer syntax (every encapsulated syntax is explicit
/// VR little endian).
pub fn encoding_of(ts: &str) -> Encoding {
    match ts {
        IMPLICIT_LE => Encoding::ImplicitLittle,
        EXPLICIT_BE => Encoding::ExplicitBig,
        _ => Encoding::ExplicitLittle,
    }
}

/// Inflates a deflated data set (raw deflate, PS3.5 A.5) with a bound on the output.
pub fn inflate(data: &[u8], limits: &Limits) -> Result<Vec<u8>, ScanError> {
    let mut out = Vec::new();
    let mut decoder = flate2::read::DeflateDecoder::new(data).take(limits.max_bytes + 1);
    decoder
        .read_to_end(&mut out)
        .map_err(|e| ScanError::Inflate(e.to_string()))?;
    if out.len() as u64 > limits.max_bytes {
        return Err(ScanError::TooLarge(limits.max_bytes));
    }
    Ok(out)
}

struct Header {
    group: u16,
    element: u16,
    vr: Option<VR>,
    len: Option<u32>,
    header_len: usize,
}

impl Header {
    fn tag_text(&self) -> String {
        format!("({:04X},{:04X})", self.group, self.element)
    }
}

fn u16_at(b: &[u8], pos: usize, enc: Encoding) -> Option<u16> {
    let s = [*b.get(pos)?, *b.get(pos + 1)?];
    Some(if enc == Encoding::ExplicitBig {
        u16::from_be_bytes(s)
    } else {
        u16::from_le_bytes(s)
    })
}

fn u32_at(b: &[u8], pos: usize, enc: Encoding) -> Option<u32> {
    let s = [
        *b.get(pos)?,
        *b.get(pos + 1)?,
        *b.get(pos + 2)?,
        *b.get(pos + 3)?,
    ];
    Some(if enc == Encoding::ExplicitBig {
        u32::from_be_bytes(s)
    } else {
        u32::from_le_bytes(s)
    })
}

fn header(b: &[u8], pos: usize, enc: Encoding) -> Result<Header, ScanError> {
    let trunc = || ScanError::TruncatedHeader(pos);
    let group = u16_at(b, pos, enc).ok_or_else(trunc)?;
    let element = u16_at(b, pos + 2, enc).ok_or_else(trunc)?;
    let defined = |l: u32| if l == u32::MAX { None } else { Some(l) };
    if group == 0xFFFE || enc == Encoding::ImplicitLittle {
        let len = u32_at(b, pos + 4, enc).ok_or_else(trunc)?;
        return Ok(Header {
            group,
            element,
            vr: None,
            len: defined(len),
            header_len: 8,
        });
    }
    let vr_bytes = [
        *b.get(pos + 4).ok_or_else(trunc)?,
        *b.get(pos + 5).ok_or_else(trunc)?,
    ];
    let vr = VR::from_binary(vr_bytes).ok_or_else(|| ScanError::BadVr {
        tag: format!("({group:04X},{element:04X})"),
        vr: String::from_utf8_lossy(&vr_bytes).into_owned(),
        at: pos,
    })?;
    use VR::*;
    let long = matches!(
        vr,
        OB | OD | OF | OL | OV | OW | SQ | SV | UC | UN | UR | UT | UV
    );
    if long {
        let len = u32_at(b, pos + 8, enc).ok_or_else(trunc)?;
        Ok(Header {
            group,
            element,
            vr: Some(vr),
            len: defined(len),
            header_len: 12,
        })
    } else {
        let len = u16_at(b, pos + 6, enc).ok_or_else(trunc)?;
        Ok(Header {
            group,
            element,
            vr: Some(vr),
            len: Some(u32::from(len)),
            header_len: 8,
        })
    }
}

fn is_sequence_in_dictionary(group: u16, element: u16) -> bool {
    StandardDataDictionary
        .by_tag(Tag(group, element))
        .is_some_and(|e| matches!(e.vr(), VirtualVr::Exact(VR::SQ)))
}

struct Walker<'a> {
    bytes: &'a [u8],
    limits: &'a Limits,
    elements: u64,
    cuttable: Vec<Range<usize>>,
    pixel_data: Option<Range<usize>>,
}

/// Checks every element header of a data set against the bounds (see the module docs).
///
/// Returns the byte ranges of private elements of VR UN with undefined length that can be
/// cut out without changing any enclosing length. dicom-rs cannot parse them (it reads the
/// first item tag as a length), and de-identification removes private elements anyway.
pub fn check_dataset(bytes: &[u8], enc: Encoding, limits: &Limits) -> Result<Structure, ScanError> {
    let mut walker = Walker {
        bytes,
        limits,
        elements: 0,
        cuttable: Vec::new(),
        pixel_data: None,
    };
    walker.elements(0, Some(bytes.len()), enc, 0, true)?;
    Ok(Structure {
        unparsable_private: walker.cuttable,
        pixel_data: walker.pixel_data,
    })
}

/// What the pre-scan learned about a data set's layout.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Structure {
    /// Private UN elements of undefined length that can be cut out (see [`check_dataset`]).
    pub unparsable_private: Vec<Range<usize>>,
    /// The top-level (7FE0,0010) Pixel Data element, header included. Its bytes can be
    /// copied to the output verbatim instead of being parsed and re-encoded.
    pub pixel_data: Option<Range<usize>>,
}

/// `bytes` without the given ranges.
pub fn cut(bytes: &[u8], ranges: &[Range<usize>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut last = 0;
    for r in ranges {
        out.extend_from_slice(&bytes[last..r.start]);
        last = r.end;
    }
    out.extend_from_slice(&bytes[last..]);
    out
}

impl Walker<'_> {
    fn overrun(&self, h: &Header, at: usize, declared: u64, end: usize) -> ScanError {
        ScanError::LengthOverrun {
            tag: h.tag_text(),
            at,
            declared,
            available: end.saturating_sub(at + h.header_len) as u64,
        }
    }

    /// Walks elements from `pos` to `end` (or to an item delimiter when `end` is None) and
    /// returns the position after them.
    fn elements(
        &mut self,
        mut pos: usize,
        end: Option<usize>,
        enc: Encoding,
        depth: u32,
        cuttable_here: bool,
    ) -> Result<usize, ScanError> {
        let limit = end.unwrap_or(self.bytes.len());
        loop {
            if Some(pos) == end {
                return Ok(pos);
            }
            if end.is_none() && pos == self.bytes.len() {
                // A missing item delimiter at the end of file: dicom-rs copes, so do we.
                return Ok(pos);
            }
            let h = header(self.bytes, pos, enc)?;
            if pos + h.header_len > limit {
                return Err(ScanError::TruncatedHeader(pos));
            }
            self.elements += 1;
            if self.elements > self.limits.max_elements {
                return Err(ScanError::TooManyElements(self.limits.max_elements));
            }
            let value_start = pos + h.header_len;
            if h.group == 0xFFFE && h.element == 0xE00D {
                if end.is_none() {
                    return Ok(value_start);
                }
                pos = value_start;
                continue;
            }
            let undefined_un = h.len.is_none() && matches!(h.vr, Some(VR::UN) | None);
            let is_seq = h.vr == Some(VR::SQ)
                || undefined_un && !(h.group == 0x7FE0 && h.element == 0x0010)
                || (h.vr.is_none() && is_sequence_in_dictionary(h.group, h.element));
            let is_pixel_data = h.group == 0x7FE0 && h.element == 0x0010;
            if is_pixel_data && h.len.is_none() {
                let start = pos;
                pos = self.fragments(value_start, enc)?;
                if depth == 0 {
                    self.pixel_data = Some(start..pos);
                }
            } else if is_seq {
                // Inside a UN of undefined length the encoding is implicit VR little endian.
                let inner = if h.vr == Some(VR::UN) {
                    Encoding::ImplicitLittle
                } else {
                    enc
                };
                let seq_end = match h.len {
                    Some(l) => {
                        let e = value_start + l as usize;
                        if e > limit {
                            return Err(self.overrun(&h, pos, u64::from(l), limit));
                        }
                        Some(e)
                    }
                    None => None,
                };
                let start = pos;
                let inner_cuttable = cuttable_here && seq_end.is_none();
                pos = self.items(value_start, seq_end, inner, depth + 1, inner_cuttable)?;
                if h.vr == Some(VR::UN) && h.len.is_none() && h.group % 2 == 1 && cuttable_here {
                    self.cuttable.push(start..pos);
                }
            } else {
                let len = h.len.ok_or_else(|| ScanError::UndefinedLength {
                    tag: h.tag_text(),
                    at: pos,
                })?;
                if value_start + len as usize > limit {
                    return Err(self.overrun(&h, pos, u64::from(len), limit));
                }
                if is_pixel_data && depth == 0 {
                    self.pixel_data = Some(pos..value_start + len as usize);
                }
                pos = value_start + len as usize;
            }
        }
    }

    fn items(
        &mut self,
        mut pos: usize,
        end: Option<usize>,
        enc: Encoding,
        depth: u32,
        cuttable: bool,
    ) -> Result<usize, ScanError> {
        if depth > self.limits.max_depth {
            return Err(ScanError::TooDeep(self.limits.max_depth));
        }
        let limit = end.unwrap_or(self.bytes.len());
        loop {
            if Some(pos) == end {
                return Ok(pos);
            }
            let h = header(self.bytes, pos, enc)?;
            let value_start = pos + h.header_len;
            match (h.group, h.element) {
                (0xFFFE, 0xE0DD) if end.is_none() => return Ok(value_start),
                (0xFFFE, 0xE000) => {
                    self.elements += 1;
                    pos = match h.len {
                        Some(l) => {
                            let item_end = value_start + l as usize;
                            if item_end > limit {
                                return Err(self.overrun(&h, pos, u64::from(l), limit));
                            }
                            self.elements(value_start, Some(item_end), enc, depth, false)?
                        }
                        None => self.elements(value_start, None, enc, depth, cuttable)?,
                    };
                }
                _ => {
                    return Err(ScanError::ExpectedItem {
                        tag: h.tag_text(),
                        at: pos,
                    });
                }
            }
        }
    }

    fn fragments(&mut self, mut pos: usize, enc: Encoding) -> Result<usize, ScanError> {
        loop {
            let h = header(self.bytes, pos, enc)?;
            let value_start = pos + h.header_len;
            match (h.group, h.element, h.len) {
                (0xFFFE, 0xE0DD, _) => return Ok(value_start),
                (0xFFFE, 0xE000, Some(l)) => {
                    if value_start + l as usize > self.bytes.len() {
                        return Err(self.overrun(&h, pos, u64::from(l), self.bytes.len()));
                    }
                    self.elements += 1;
                    pos = value_start + l as usize;
                }
                _ => {
                    return Err(ScanError::ExpectedItem {
                        tag: h.tag_text(),
                        at: pos,
                    });
                }
            }
        }
    }
}

/// The UIDs that name a DICOM instance: what a network route reports back to its sender.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceUids {
    pub sop_class: String,
    pub sop_instance: String,
    pub study: String,
}

/// Reads the SOP Class, SOP Instance and Study Instance UIDs of a DICOM file without
/// parsing it: only the top-level element headers before (0020,000E) are walked, under the
/// same bounds as [`check_dataset`] (sequences of undefined length are walked item by item
/// to find their end), so a hostile header costs nothing. The meta group's Media Storage
/// UIDs stand in for a data set that lacks its own. Values are printable ASCII, at most 64
/// characters (a UI value's length), whatever the input holds.
///
/// Returns None for a PNG or JPEG; an unreadable file is an error.
pub fn instance_uids(bytes: &[u8], limits: &Limits) -> Result<Option<InstanceUids>, ScanError> {
    let Sniffed::Dicom(layout) = sniff(bytes, limits)? else {
        return Ok(None);
    };
    let raw = &bytes[layout.dataset_start..];
    let inflated;
    let (data, enc) = if layout.transfer_syntax == DEFLATED_EXPLICIT_LE {
        inflated = inflate(raw, limits)?;
        (&inflated[..], Encoding::ExplicitLittle)
    } else {
        (raw, encoding_of(&layout.transfer_syntax))
    };
    let mut walker = Walker {
        bytes: data,
        limits,
        elements: 0,
        cuttable: Vec::new(),
        pixel_data: None,
    };
    let mut uids = InstanceUids::default();
    let mut pos = 0;
    while pos < data.len() {
        let h = header(data, pos, enc)?;
        if (h.group, h.element) > (0x0020, 0x000D) {
            break;
        }
        walker.elements += 1;
        if walker.elements > limits.max_elements {
            return Err(ScanError::TooManyElements(limits.max_elements));
        }
        let value_start = pos + h.header_len;
        match h.len {
            Some(len) => {
                let end = value_start + len as usize;
                if end > data.len() {
                    return Err(walker.overrun(&h, pos, u64::from(len), data.len()));
                }
                let slot = match (h.group, h.element) {
                    (0x0008, 0x0016) => Some(&mut uids.sop_class),
                    (0x0008, 0x0018) => Some(&mut uids.sop_instance),
                    (0x0020, 0x000D) => Some(&mut uids.study),
                    _ => None,
                };
                if let Some(slot) = slot {
                    *slot = uid_text(&data[value_start..end]);
                }
                pos = end;
            }
            // Only sequences (and UN holding one) have undefined length before Pixel Data.
            None => {
                let inner = if matches!(h.vr, Some(VR::UN) | None) {
                    Encoding::ImplicitLittle
                } else {
                    enc
                };
                pos = walker.items(value_start, None, inner, 1, false)?;
            }
        }
    }
    if uids.sop_class.is_empty() {
        uids.sop_class = uid_text(layout.media_sop_class.unwrap_or_default().as_bytes());
    }
    if uids.sop_instance.is_empty() {
        uids.sop_instance = uid_text(layout.media_sop_instance.unwrap_or_default().as_bytes());
    }
    Ok(Some(uids))
}

/// A UI value as text safe to echo anywhere: its first value, printable ASCII only, at most
/// 64 characters.
fn uid_text(value: &[u8]) -> String {
    value
        .split(|b| *b == b'\\')
        .next()
        .unwrap_or_default()
        .iter()
        .map(|b| char::from(*b))
        .filter(char::is_ascii_graphic)
        .take(64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn le_element(group: u16, element: u16, vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend(group.to_le_bytes());
        v.extend(element.to_le_bytes());
        v.extend(vr);
        v.extend((value.len() as u16).to_le_bytes());
        v.extend(value);
        v
    }

    #[test]
    fn a_declared_length_past_the_end_is_refused_before_allocation() {
        let mut data = le_element(0x0008, 0x0060, b"CS", b"US");
        // (0010,0010) OB with a 4 GB length but four bytes of data.
        data.extend([0x10, 0x00, 0x10, 0x00]);
        data.extend(b"OB\0\0");
        data.extend(0xFFFF_FFF0u32.to_le_bytes());
        data.extend(b"abcd");
        let err = check_dataset(&data, Encoding::ExplicitLittle, &Limits::default());
        assert!(
            matches!(
                err,
                Err(ScanError::LengthOverrun {
                    declared: 0xFFFF_FFF0,
                    ..
                })
            ),
            "{err:?}"
        );
    }

    #[test]
    fn deep_nesting_is_refused() {
        // 100 nested sequences of undefined length, each with one undefined-length item.
        let mut data = Vec::new();
        for _ in 0..100 {
            data.extend([0x08, 0x00, 0x15, 0x11]); // (0008,1115) SQ
            data.extend(b"SQ\0\0");
            data.extend(u32::MAX.to_le_bytes());
            data.extend([0xFE, 0xFF, 0x00, 0xE0]);
            data.extend(u32::MAX.to_le_bytes());
        }
        let err = check_dataset(&data, Encoding::ExplicitLittle, &Limits::default());
        assert_eq!(err, Err(ScanError::TooDeep(32)));
    }

    #[test]
    fn formats_are_told_apart() {
        let limits = Limits::default();
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n....", &limits), Ok(Sniffed::Png));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0], &limits), Ok(Sniffed::Jpeg));
        assert_eq!(
            sniff(b"hello world, not an image", &limits),
            Err(ScanError::UnknownFormat)
        );
        let bare = le_element(0x0008, 0x0060, b"CS", b"US");
        match sniff(&bare, &limits) {
            Ok(Sniffed::Dicom(l)) => assert_eq!(l.transfer_syntax, EXPLICIT_LE),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn instance_uids_are_read_past_sequences_and_bounded() {
        let limits = Limits::default();
        let mut data = le_element(0x0008, 0x0016, b"UI", b"1.2.840.10008.5.1.4.1.1.7\0");
        data.extend(le_element(0x0008, 0x0018, b"UI", b"1.2.3.4\0"));
        // (0008,1115) SQ of undefined length with one undefined-length item, then the study.
        data.extend([0x08, 0x00, 0x15, 0x11]);
        data.extend(b"SQ\0\0");
        data.extend(u32::MAX.to_le_bytes());
        data.extend([0xFE, 0xFF, 0x00, 0xE0]);
        data.extend(u32::MAX.to_le_bytes());
        data.extend(le_element(0x0008, 0x1150, b"UI", b"9.9"));
        data.extend([0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
        data.extend([0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        data.extend(le_element(0x0020, 0x000D, b"UI", b"5.6.7\x01<x>\0"));
        // After the study UID nothing is read, not even this 4 GB length.
        data.extend([0x7F, 0xE0, 0x10, 0x00]);
        data.extend(b"OB\0\0");
        data.extend(0xFFFF_FFF0u32.to_le_bytes());
        let uids = instance_uids(&data, &limits)
            .expect("readable")
            .expect("DICOM");
        assert_eq!(uids.sop_class, "1.2.840.10008.5.1.4.1.1.7");
        assert_eq!(uids.sop_instance, "1.2.3.4");
        assert_eq!(uids.study, "5.6.7<x>");
        let mut hostile = le_element(0x0008, 0x0016, b"UI", b"1.2");
        hostile.extend([0x08, 0x00, 0x18, 0x00]);
        hostile.extend(b"UI");
        hostile.extend(0xFFFFu16.to_le_bytes());
        assert!(matches!(
            instance_uids(&hostile, &limits),
            Err(ScanError::LengthOverrun { .. })
        ));
        assert_eq!(instance_uids(b"\x89PNG\r\n\x1a\n....", &limits), Ok(None));
    }
}
