//! The facts [`read_clip`](crate::read_clip) needs from the MP4 it has just written:
//! read from the boxes directly, which saves starting ffprobe once more for every clip.
//! The input is our own output (faststart: the `moov` box comes first), never the caller's.

/// Size, frame count and duration of the first video track.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Facts {
    pub width: u32,
    pub height: u32,
    pub frames: u64,
    pub duration_s: f64,
}

/// The boxes of `bytes` as (type, payload) pairs; `None` if a size is impossible.
fn boxes(mut bytes: &[u8]) -> Option<Vec<([u8; 4], &[u8])>> {
    let mut found = Vec::new();
    while !bytes.is_empty() {
        let size = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?) as u64;
        let kind: [u8; 4] = bytes.get(4..8)?.try_into().ok()?;
        let (header, size) = match size {
            0 => (8, bytes.len() as u64),
            1 => (16, u64::from_be_bytes(bytes.get(8..16)?.try_into().ok()?)),
            n => (8, n),
        };
        if size < header || size > bytes.len() as u64 {
            return None;
        }
        found.push((kind, &bytes[header as usize..size as usize]));
        bytes = &bytes[size as usize..];
    }
    Some(found)
}

fn child<'a>(bytes: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    boxes(bytes)?
        .into_iter()
        .find(|(k, _)| k == kind)
        .map(|(_, payload)| payload)
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn be64(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// Reads the first video track's facts; `None` if the file is not shaped as expected.
pub(crate) fn facts(file: &[u8]) -> Option<Facts> {
    let moov = child(file, b"moov")?;
    for (kind, trak) in boxes(moov)? {
        if &kind != b"trak" {
            continue;
        }
        let mdia = child(trak, b"mdia")?;
        let hdlr = child(mdia, b"hdlr")?;
        if hdlr.get(8..12)? != b"vide" {
            continue;
        }
        let stbl = child(child(mdia, b"minf")?, b"stbl")?;
        // The coded size, from the first sample entry (tkhd holds the display size, which
        // a non-square pixel aspect ratio changes): stsd's version, flags and entry count
        // (8 bytes), the entry's box header (8), then 24 bytes before width and height.
        let stsd = child(stbl, b"stsd")?;
        let width = u16::from_be_bytes(stsd.get(40..42)?.try_into().ok()?) as u32;
        let height = u16::from_be_bytes(stsd.get(42..44)?.try_into().ok()?) as u32;
        let mdhd = child(mdia, b"mdhd")?;
        let (timescale, duration) = match mdhd.first()? {
            0 => (be32(mdhd, 12)?, be32(mdhd, 16)? as u64),
            1 => (be32(mdhd, 20)?, be64(mdhd, 24)?),
            _ => return None,
        };
        let stsz = child(stbl, b"stsz")?;
        let frames = be32(stsz, 8)? as u64;
        if timescale == 0 {
            return None;
        }
        return Some(Facts {
            width,
            height,
            frames,
            duration_s: duration as f64 / timescale as f64,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impossible_sizes_are_refused() {
        assert_eq!(facts(b""), None);
        assert_eq!(facts(b"\0\0\0\x09moov"), None);
        assert_eq!(facts(b"\0\0\0\x04moov"), None);
        assert_eq!(facts(b"\0\0\0\x08moov"), None);
        assert_eq!(facts(b"\0\0\0\x01moov\0\0\0\0\0\0\0\x07"), None);
    }
}
