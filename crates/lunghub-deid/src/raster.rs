//! Metadata stripping for PNG and JPEG, at the chunk and segment level: the compressed
//! pixels are copied byte for byte, never decoded or re-encoded.
//!
//! Both work by allowlist. A PNG keeps only the chunks that say how to draw the pixels; a
//! JPEG keeps only the segments a decoder needs, plus a JFIF header (without thumbnail)
//! and Adobe's colour-transform flag. Text, EXIF, XMP, ICC profiles, comments and anything
//! unknown go.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RasterError {
    #[error("PNG is truncated or malformed at byte {0}")]
    Png(usize),
    #[error("PNG has no IEND chunk")]
    PngNoEnd,
    #[error("JPEG is truncated or malformed at byte {0}")]
    Jpeg(usize),
}

/// The stripped file and the names of what was removed.
#[derive(Debug)]
pub struct Stripped {
    pub bytes: Vec<u8>,
    pub removed: Vec<String>,
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
const PNG_KEEP: [&[u8; 4]; 14] = [
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT", b"pHYs",
    b"bKGD", b"cICP", b"mDCV", b"cLLI",
];

pub fn strip_png(input: &[u8]) -> Result<Stripped, RasterError> {
    if !input.starts_with(PNG_SIGNATURE) {
        return Err(RasterError::Png(0));
    }
    let mut out = Vec::with_capacity(input.len());
    out.extend_from_slice(PNG_SIGNATURE);
    let mut removed = Vec::new();
    let mut pos = PNG_SIGNATURE.len();
    loop {
        let head = input.get(pos..pos + 8).ok_or(RasterError::Png(pos))?;
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let kind = [head[4], head[5], head[6], head[7]];
        let end = pos
            .checked_add(12)
            .and_then(|p| p.checked_add(len))
            .filter(|&e| e <= input.len())
            .ok_or(RasterError::Png(pos))?;
        if PNG_KEEP.iter().any(|k| **k == kind) {
            out.extend_from_slice(&input[pos..end]);
        } else {
            removed.push(String::from_utf8_lossy(&kind).into_owned());
        }
        pos = end;
        if &kind == b"IEND" {
            return Ok(Stripped {
                bytes: out,
                removed,
            });
        }
        if pos >= input.len() {
            return Err(RasterError::PngNoEnd);
        }
    }
}

pub fn strip_jpeg(input: &[u8]) -> Result<Stripped, RasterError> {
    if !input.starts_with(&[0xFF, 0xD8]) {
        return Err(RasterError::Jpeg(0));
    }
    let mut out = Vec::with_capacity(input.len());
    out.extend_from_slice(&[0xFF, 0xD8]);
    let mut removed = Vec::new();
    let mut pos = 2;
    loop {
        // Fill bytes (0xFF repeated) may precede a marker.
        while input.get(pos) == Some(&0xFF) && input.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        let (&ff, &marker) = (
            input.get(pos).ok_or(RasterError::Jpeg(pos))?,
            input.get(pos + 1).ok_or(RasterError::Jpeg(pos))?,
        );
        if ff != 0xFF {
            return Err(RasterError::Jpeg(pos));
        }
        match marker {
            0xD9 => {
                out.extend_from_slice(&[0xFF, 0xD9]);
                return Ok(Stripped {
                    bytes: out,
                    removed,
                });
            }
            0x01 | 0xD0..=0xD7 => {
                out.extend_from_slice(&[0xFF, marker]);
                pos += 2;
                continue;
            }
            _ => {}
        }
        let len_bytes = input.get(pos + 2..pos + 4).ok_or(RasterError::Jpeg(pos))?;
        let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
        let end = pos + 2 + len;
        if len < 2 || end > input.len() {
            return Err(RasterError::Jpeg(pos));
        }
        let payload = &input[pos + 4..end];
        match marker {
            0xE0 if payload.starts_with(b"JFIF\0") && payload.len() >= 14 => {
                // Keep the JFIF header; drop any embedded thumbnail.
                let mut seg = payload[..12].to_vec();
                seg.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&[0xFF, 0xE0]);
                out.extend_from_slice(&((seg.len() + 2) as u16).to_be_bytes());
                out.extend_from_slice(&seg);
                if payload.len() > 14 {
                    removed.push("JFIF thumbnail".into());
                }
            }
            0xEE if payload.starts_with(b"Adobe") => out.extend_from_slice(&input[pos..end]),
            0xE0..=0xEF => removed.push(app_name(marker, payload)),
            0xFE => removed.push("COM".into()),
            _ => out.extend_from_slice(&input[pos..end]),
        }
        pos = end;
        if marker == 0xDA {
            // Entropy-coded data runs to the next marker that is not a stuffed 0xFF00 or a
            // restart marker.
            let start = pos;
            while pos + 1 < input.len() {
                if input[pos] == 0xFF
                    && input[pos + 1] != 0x00
                    && !(0xD0..=0xD7).contains(&input[pos + 1])
                {
                    break;
                }
                pos += 1;
            }
            if pos + 1 >= input.len() {
                return Err(RasterError::Jpeg(pos));
            }
            out.extend_from_slice(&input[start..pos]);
        }
    }
}

fn app_name(marker: u8, payload: &[u8]) -> String {
    let id: String = payload
        .iter()
        .take_while(|&&b| b != 0 && b.is_ascii_graphic())
        .take(16)
        .map(|&b| char::from(b))
        .collect();
    format!("APP{} {id}", marker - 0xE0).trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut v = (data.len() as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(data);
        v.extend_from_slice(&[0, 0, 0, 0]); // CRC is copied, not checked
        v
    }

    #[test]
    fn png_text_and_exif_go_pixels_stay() {
        let mut png = PNG_SIGNATURE.to_vec();
        png.extend(png_chunk(b"IHDR", &[0; 13]));
        png.extend(png_chunk(b"tEXt", b"Author\0Jane Doe"));
        png.extend(png_chunk(b"eXIf", b"MM\0*"));
        png.extend(png_chunk(b"IDAT", b"compressed-pixels"));
        png.extend(png_chunk(b"iTXt", b"Comment\0\0\0\0\0Patient John Smith"));
        png.extend(png_chunk(b"IEND", b""));
        let s = strip_png(&png).expect("strip");
        assert_eq!(s.removed, ["tEXt", "eXIf", "iTXt"]);
        let text = String::from_utf8_lossy(&s.bytes);
        assert!(!text.contains("Jane") && !text.contains("Smith"));
        assert!(s.bytes.windows(17).any(|w| w == b"compressed-pixels"));
    }

    #[test]
    fn jpeg_exif_and_comments_go_scan_data_stays() {
        let mut jpg = vec![0xFF, 0xD8];
        let seg = |m: u8, p: &[u8]| {
            let mut v = vec![0xFF, m];
            v.extend(((p.len() + 2) as u16).to_be_bytes());
            v.extend_from_slice(p);
            v
        };
        jpg.extend(seg(0xE1, b"Exif\0\0Patient Jane Doe"));
        jpg.extend(seg(0xFE, b"scanned for Jane Doe"));
        jpg.extend(seg(0xDB, &[0; 65]));
        jpg.extend(seg(0xDA, &[1, 1, 0, 0, 63, 0]));
        jpg.extend([0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56]);
        jpg.extend([0xFF, 0xD9]);
        let s = strip_jpeg(&jpg).expect("strip");
        assert_eq!(s.removed, ["APP1 Exif", "COM"]);
        assert!(!String::from_utf8_lossy(&s.bytes).contains("Jane"));
        assert!(
            s.bytes
                .ends_with(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF, 0xD9])
        );
    }

    #[test]
    fn truncated_inputs_are_errors_not_panics() {
        assert!(strip_png(&PNG_SIGNATURE[..]).is_err());
        assert!(strip_jpeg(&[0xFF, 0xD8, 0xFF, 0xE1, 0xFF]).is_err());
    }
}
