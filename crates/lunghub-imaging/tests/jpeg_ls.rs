//! lunghub's JPEG-LS decoder (`lunghub_imaging::jpegls`) on every JPEG-LS file of
//! ../shared/data/dicom-conformance: lossless and near-lossless, 8 and 16 bits, one and three
//! components, all three interleave modes. The streams are taken straight from the files'
//! encapsulated pixel data, because four of them have no meta header that dicom-rs reads.
//! - Each decodes to pydicom's (libjpeg's) samples exactly.
//! - The same streams with bits flipped and cut short give errors or samples, never a panic:
//!   the decoder reads what hospitals send.

use std::panic::{AssertUnwindSafe, catch_unwind};
mod common;

use std::path::{Path, PathBuf};

use lunghub_imaging::jpegls::{self, Expected};

const JPEG_LS: [&str; 2] = ["1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"];

fn corpus() -> Vec<(PathBuf, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/dicom-conformance");
    assert!(
        root.is_dir(),
        "{} is missing: ../shared must sit beside the repository",
        root.display()
    );
    let mut out = Vec::new();
    for dir in ["pydicom-data", "pydicom-test-files"] {
        let mut paths: Vec<_> = std::fs::read_dir(root.join(dir))
            .expect("corpus folder")
            .map(|e| e.expect("entry").path())
            .collect();
        paths.sort();
        for path in paths.into_iter().filter(|p| p.is_file()) {
            let bytes = std::fs::read(&path).expect("read");
            let head = String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]).into_owned();
            if JPEG_LS.iter().any(|ts| head.contains(ts)) {
                out.push((path, bytes));
            }
        }
    }
    out
}

/// The fragments of the encapsulated Pixel Data (7FE0,0010) of an explicit little-endian
/// data set, less the Basic Offset Table: one JPEG-LS stream per frame in this corpus.
fn fragments(bytes: &[u8]) -> Vec<&[u8]> {
    // The tag, VR OB or OW, two reserved bytes, undefined length.
    let mut at = bytes
        .windows(12)
        .rposition(|w| {
            w[..4] == [0xE0, 0x7F, 0x10, 0x00]
                && (w[4..6] == *b"OB" || w[4..6] == *b"OW")
                && w[6..] == [0, 0, 0xFF, 0xFF, 0xFF, 0xFF]
        })
        .expect("encapsulated pixel data")
        + 12;
    let mut items = Vec::new();
    while at + 8 <= bytes.len() && bytes[at..at + 4] == [0xFE, 0xFF, 0x00, 0xE0] {
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes")) as usize;
        items.push(&bytes[at + 8..at + 8 + len]);
        at += 8 + len;
    }
    assert!(items.len() >= 2, "no fragments after the offset table");
    items.remove(0);
    items
}

/// Width, height and components from the stream's SOF55 segment.
fn expected(stream: &[u8]) -> Expected {
    let at = stream
        .windows(2)
        .position(|w| w == [0xFF, 0xF7])
        .expect("a JPEG-LS frame header")
        + 4;
    Expected {
        height: u32::from(u16::from_be_bytes([stream[at + 1], stream[at + 2]])),
        width: u32::from(u16::from_be_bytes([stream[at + 3], stream[at + 4]])),
        components: stream[at + 5],
    }
}

#[test]
fn every_jpeg_ls_file_decodes_to_pydicoms_samples() {
    let files = corpus();
    assert!(
        files.len() >= 12,
        "only {} JPEG-LS files found",
        files.len()
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut list = Vec::new();
    for (i, (path, bytes)) in files.iter().enumerate() {
        let mut raw = Vec::new();
        for stream in fragments(bytes) {
            let frame = jpegls::decode(stream, expected(stream))
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            raw.extend(frame.samples.iter().flat_map(|v| v.to_le_bytes()));
        }
        let out = tmp.path().join(format!("{i}.raw"));
        std::fs::write(&out, raw).expect("write");
        list.push(serde_json::json!({"input": path, "raw": out}));
    }
    let result = common::compare("compare_jpeg_ls.py", tmp.path(), &list.into());
    assert_eq!(
        result["differ"].as_array().map(Vec::len),
        Some(0),
        "lunghub and pydicom disagree: {}",
        result["differ"]
    );
    assert_eq!(
        result["equal"].as_array().map(Vec::len),
        Some(files.len()),
        "{result}"
    );
}

#[test]
fn corrupt_streams_give_errors_never_panics() {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut tried, mut refused) = (0, 0);
    let files = corpus();
    for (path, bytes) in &files {
        let stream = fragments(bytes)[0];
        let shape = expected(stream);
        let mut variants = Vec::new();
        for _ in 0..200 {
            let mut v = stream.to_vec();
            for _ in 0..1 + next() % 4 {
                let at = next() as usize % v.len();
                v[at] ^= 1 << (next() % 8);
            }
            variants.push(v);
        }
        for cut in [
            2,
            5,
            12,
            30,
            stream.len() / 4,
            stream.len() / 2,
            stream.len() - 2,
        ] {
            variants.push(stream[..cut].to_vec());
        }
        for v in variants {
            tried += 1;
            match catch_unwind(AssertUnwindSafe(|| jpegls::decode(&v, shape))) {
                Ok(Ok(frame)) => assert_eq!(
                    frame.samples.len(),
                    shape.width as usize * shape.height as usize * usize::from(shape.components)
                ),
                Ok(Err(_)) => refused += 1,
                Err(_) => panic!(
                    "{}: a corrupt stream made the decoder panic",
                    path.display()
                ),
            }
        }
    }
    eprintln!("{tried} corrupt streams: {refused} refused, the rest decoded to other samples");
    // A flipped bit in entropy-coded data may decode to other samples with no sign of it;
    // a stream cut short never does.
    assert!(
        refused >= 7 * files.len(),
        "only {refused} of {tried} refused"
    );
}
