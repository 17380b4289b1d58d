//! Recognising a clip's container by its first bytes, never by its name.

/// A video container that [`read_clip`](crate::read_clip) accepts.
///
/// Each one is read with its own demuxer, named explicitly (`-f`), so ffmpeg never guesses
/// the format of an input and never picks a playlist demuxer (HLS, concat, …) on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Container {
    /// ISO base media file (`ftyp` box with a brand other than QuickTime's).
    Mp4,
    /// QuickTime (`ftyp` with the `qt  ` brand, or an old file that starts with a
    /// `moov`, `mdat` or `wide` atom).
    Mov,
    /// `RIFF....AVI `.
    Avi,
    /// MPEG-1/2 program stream (`00 00 01 BA`) or elementary video stream (`00 00 01 B3`).
    Mpeg,
    /// `GIF87a` / `GIF89a`. Single-frame GIFs are returned too: [`Clip::frames`](crate::Clip)
    /// says how many frames there were, and the caller decides.
    Gif,
    /// EBML (`1A 45 DF A3`): WebM, and Matroska in general.
    WebM,
}

impl Container {
    /// The name of the ffmpeg demuxer (`-f`) that reads this container, given its first bytes.
    pub(crate) fn demuxer(self, bytes: &[u8]) -> &'static str {
        match self {
            Container::Mp4 | Container::Mov => "mov",
            Container::Avi => "avi",
            Container::Mpeg if bytes.starts_with(&[0, 0, 1, 0xB3]) => "mpegvideo",
            Container::Mpeg => "mpeg",
            Container::Gif => "gif",
            Container::WebM => "matroska",
        }
    }

    /// A lower-case name, also the usual file extension.
    pub fn name(self) -> &'static str {
        match self {
            Container::Mp4 => "mp4",
            Container::Mov => "mov",
            Container::Avi => "avi",
            Container::Mpeg => "mpeg",
            Container::Gif => "gif",
            Container::WebM => "webm",
        }
    }
}

/// Recognises a clip by its magic bytes; `None` for anything else.
///
/// - `ftyp` box at offset 4: [`Container::Mov`] for the `qt  ` major brand, otherwise
///   [`Container::Mp4`]; a file that starts with a `moov`, `mdat` or `wide` atom is an old
///   QuickTime file ([`Container::Mov`]).
/// - `RIFF` … `AVI ` at offset 8: [`Container::Avi`].
/// - `00 00 01 BA` (program stream) or `00 00 01 B3` (sequence header): [`Container::Mpeg`].
/// - `GIF87a` / `GIF89a`: [`Container::Gif`], animated or not.
/// - `1A 45 DF A3`: [`Container::WebM`].
///
/// The extension of a file is never consulted: several `.avi` files in the wild are MP4.
pub fn sniff(bytes: &[u8]) -> Option<Container> {
    if bytes.len() >= 12 {
        let size = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let kind = &bytes[4..8];
        // A box size is 0 (to the end), 1 (64-bit size follows) or at least its own header.
        let plausible_size = size == 0 || size == 1 || size >= 8;
        if kind == b"ftyp" && size >= 12 {
            return Some(if &bytes[8..12] == b"qt  " {
                Container::Mov
            } else {
                Container::Mp4
            });
        }
        if plausible_size && matches!(kind, b"moov" | b"mdat" | b"wide") {
            return Some(Container::Mov);
        }
        if &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"AVI " {
            return Some(Container::Avi);
        }
    }
    if bytes.starts_with(&[0, 0, 1, 0xBA]) || bytes.starts_with(&[0, 0, 1, 0xB3]) {
        return Some(Container::Mpeg);
    }
    if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        return Some(Container::Gif);
    }
    if bytes.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        return Some(Container::WebM);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes() {
        let mut mp4 = vec![0, 0, 0, 0x20];
        mp4.extend_from_slice(b"ftypisom\0\0\x02\0");
        assert_eq!(sniff(&mp4), Some(Container::Mp4));
        let mut mov = vec![0, 0, 0, 0x14];
        mov.extend_from_slice(b"ftypqt  \0\0\0\0");
        assert_eq!(sniff(&mov), Some(Container::Mov));
        assert_eq!(sniff(b"\0\0\0\x08wide\0\0\0\0mdat"), Some(Container::Mov));
        assert_eq!(sniff(b"RIFF\x10\0\0\0AVI LIST"), Some(Container::Avi));
        assert_eq!(sniff(b"RIFF\x10\0\0\0WAVEfmt "), None);
        assert_eq!(sniff(&[0, 0, 1, 0xBA, 0x44]), Some(Container::Mpeg));
        assert_eq!(sniff(&[0, 0, 1, 0xB3, 0x17]), Some(Container::Mpeg));
        assert_eq!(Container::Mpeg.demuxer(&[0, 0, 1, 0xB3]), "mpegvideo");
        assert_eq!(Container::Mpeg.demuxer(&[0, 0, 1, 0xBA]), "mpeg");
        assert_eq!(sniff(b"GIF89a\x01\0\x01\0"), Some(Container::Gif));
        assert_eq!(sniff(b"GIF87a"), Some(Container::Gif));
        assert_eq!(
            sniff(&[0x1A, 0x45, 0xDF, 0xA3, 0x9F]),
            Some(Container::WebM)
        );
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n"), None);
        assert_eq!(sniff(b"ffconcat version 1.0\nfile /etc/passwd\n"), None);
        assert_eq!(sniff(b"#EXTM3U\n"), None);
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(b"\0\0\0"), None);
    }
}
