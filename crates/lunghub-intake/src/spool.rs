//! Files accepted but not yet catalogued.
//!
//! The DICOM route answers a C-STORE once the file is de-identified and written here, and
//! catalogues it (decode, fingerprints, twins, the catalog row) in the background: a PACS
//! sends one instance after another and waits for each answer, so the answer cannot wait
//! for decoding and a disk sync (see the README's C-STORE benchmark). Only de-identified
//! bytes are ever written here, as everywhere else.
//!
//! The spool is a few append-only segment files, `<number>.spool`, rather than a file per
//! arrival: creating and deleting a file per instance cost more than de-identifying it.
//! Each entry is the magic `LHSPOOL1`, the header's and the body's lengths (u32 and u64,
//! little-endian), the header (JSON: where the file came from and what de-identification
//! said of it), then the de-identified bytes. A segment is deleted once every entry in it
//! is catalogued, so an empty spool folder means nothing is waiting.
//!
//! Entries are not synced one by one: they survive lunghub stopping or crashing (the next
//! start catalogues every entry of the segments left, again where a row was already
//! committed, which intake sees as a duplicate), and a power cut may lose the last seconds
//! of them, as it would for DCMTK's `storescp`. An entry cut short by a crash was never
//! answered for and is dropped.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, IoSlice, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use lunghub_deid::{DeidentifiedFile, DicomSummary, Kind};
use serde::{Deserialize, Serialize};

use crate::{Metadata, Origin};

const MAGIC: &[u8; 8] = b"LHSPOOL1";
const FRAME: usize = 8 + 4 + 8;
const EXTENSION: &str = "spool";
/// A segment takes no more entries past this size, so that space comes back during a long
/// burst as the cataloguer finishes older segments.
const SEGMENT_BYTES: u64 = 256 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("spool entry at byte {offset} of {path} is damaged: {why}")]
    Damaged {
        path: PathBuf,
        offset: u64,
        why: String,
    },
}

/// What an entry says besides its bytes.
#[derive(Serialize, Deserialize)]
struct Header {
    origin: Origin,
    label: String,
    metadata: Metadata,
    kind: Kind,
    dicom: Option<DicomSummary>,
}

/// Where an entry is: a segment and the offset of its frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Slot {
    segment: u64,
    offset: u64,
}

/// One accepted file, read back.
pub(crate) struct Entry {
    pub origin: Origin,
    pub label: String,
    pub metadata: Metadata,
    pub file: DeidentifiedFile,
}

struct Writing {
    segment: u64,
    file: File,
    len: u64,
}

struct State {
    writing: Option<Writing>,
    next_segment: u64,
    /// Entries not yet catalogued, per segment.
    outstanding: HashMap<u64, usize>,
}

pub(crate) struct Spool {
    dir: PathBuf,
    state: Mutex<State>,
}

impl Spool {
    /// Opens (or creates) the spool and returns the entries an earlier run left in it,
    /// oldest first.
    pub fn open(dir: &Path) -> Result<(Spool, Vec<Slot>), SpoolError> {
        let io = |source| SpoolError::Io {
            path: dir.to_owned(),
            source,
        };
        fs::create_dir_all(dir).map_err(io)?;
        let mut segments = Vec::new();
        for entry in fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            let number = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse::<u64>().ok());
            match (path.extension().and_then(|e| e.to_str()), number) {
                (Some(EXTENSION), Some(n)) => segments.push(n),
                _ => {}
            }
        }
        segments.sort_unstable();
        let spool = Spool {
            dir: dir.to_owned(),
            state: Mutex::new(State {
                writing: None,
                next_segment: segments.last().map_or(1, |n| n + 1),
                outstanding: HashMap::new(),
            }),
        };
        let mut left = Vec::new();
        for segment in segments {
            let found = spool.entries_of(segment)?;
            if found.is_empty() {
                spool.delete(segment)?;
            } else {
                spool.lock().outstanding.insert(segment, found.len());
                left.extend(found);
            }
        }
        Ok((spool, left))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves the counts as they were; they stay usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn path_of(&self, segment: u64) -> PathBuf {
        self.dir.join(format!("{segment:020}.{EXTENSION}"))
    }

    /// The entries of a segment an earlier run left, up to the first damaged one: only the
    /// last can be, cut short by the crash, and its sender was never answered.
    fn entries_of(&self, segment: u64) -> Result<Vec<Slot>, SpoolError> {
        let path = self.path_of(segment);
        let bytes = fs::read(&path).map_err(|source| SpoolError::Io {
            path: path.clone(),
            source,
        })?;
        let mut slots = Vec::new();
        let mut offset = 0usize;
        while offset < bytes.len() {
            match frame_at(&bytes[offset..]) {
                Some(total) => {
                    slots.push(Slot {
                        segment,
                        offset: offset as u64,
                    });
                    offset += total;
                }
                None => {
                    eprintln!(
                        "intake: dropping {} bytes at the end of {}: an entry cut short",
                        bytes.len() - offset,
                        path.display()
                    );
                    break;
                }
            }
        }
        Ok(slots)
    }

    /// Appends one entry and returns where it is.
    pub fn put(
        &self,
        origin: &Origin,
        label: &str,
        metadata: &Metadata,
        file: &DeidentifiedFile,
    ) -> Result<Slot, SpoolError> {
        let header = serde_json::to_vec(&Header {
            origin: origin.clone(),
            label: label.to_owned(),
            metadata: metadata.clone(),
            kind: file.kind,
            dicom: file.dicom.clone(),
        })
        .map_err(|e| SpoolError::Damaged {
            path: self.dir.clone(),
            offset: 0,
            why: e.to_string(),
        })?;
        let header_len = u32::try_from(header.len()).map_err(|_| SpoolError::Damaged {
            path: self.dir.clone(),
            offset: 0,
            why: "header too long".into(),
        })?;
        // The frame and header, then the body where it lies: no copy of the body.
        let mut head = Vec::with_capacity(FRAME + header.len());
        head.extend_from_slice(MAGIC);
        head.extend_from_slice(&header_len.to_le_bytes());
        head.extend_from_slice(&(file.bytes.len() as u64).to_le_bytes());
        head.extend_from_slice(&header);
        let total = (head.len() + file.bytes.len()) as u64;

        let mut state = self.lock();
        let State {
            writing,
            next_segment,
            outstanding,
        } = &mut *state;
        if writing.as_ref().is_some_and(|w| w.len >= SEGMENT_BYTES) {
            *writing = None;
        }
        let w = match writing {
            Some(w) => w,
            None => {
                let path = self.path_of(*next_segment);
                let file = OpenOptions::new()
                    .create_new(true)
                    .append(true)
                    .open(&path)
                    .map_err(|source| SpoolError::Io { path, source })?;
                *next_segment += 1;
                writing.insert(Writing {
                    segment: *next_segment - 1,
                    file,
                    len: 0,
                })
            }
        };
        let (segment, offset) = (w.segment, w.len);
        if let Err(source) = write_both(&mut w.file, &head, &file.bytes) {
            // The segment may now end in half an entry, which a restart's check drops;
            // new entries go to a new segment.
            *writing = None;
            return Err(SpoolError::Io {
                path: self.path_of(segment),
                source,
            });
        }
        w.len += total;
        *outstanding.entry(segment).or_default() += 1;
        Ok(Slot { segment, offset })
    }

    /// Reads an entry back.
    pub fn read(&self, slot: Slot) -> Result<Entry, SpoolError> {
        let path = self.path_of(slot.segment);
        let io = |source| SpoolError::Io {
            path: path.clone(),
            source,
        };
        let damaged = |why: &str| SpoolError::Damaged {
            path: path.clone(),
            offset: slot.offset,
            why: why.to_owned(),
        };
        let file = File::open(&path).map_err(io)?;
        let mut frame = [0u8; FRAME];
        file.read_exact_at(&mut frame, slot.offset).map_err(io)?;
        let (header_len, body_len) =
            lengths(&frame).ok_or_else(|| damaged("no entry starts here"))?;
        let len = usize::try_from(header_len as u64 + body_len)
            .map_err(|_| damaged("impossible length"))?;
        let mut rest = vec![0u8; len];
        file.read_exact_at(&mut rest, slot.offset + FRAME as u64)
            .map_err(|e| damaged(&format!("truncated: {e}")))?;
        let body = rest.split_off(header_len as usize);
        let header: Header = serde_json::from_slice(&rest).map_err(|e| damaged(&e.to_string()))?;
        Ok(Entry {
            origin: header.origin,
            label: header.label,
            metadata: header.metadata,
            file: DeidentifiedFile {
                file_name: format!("{}-{}", slot.segment, slot.offset),
                bytes: body,
                kind: header.kind,
                sop_instance_uid: None,
                pixels_cleaned: false,
                dicom: header.dicom,
                labels: None,
            },
        })
    }

    /// Marks an entry catalogued; its segment goes once all of its entries are.
    pub fn done(&self, slot: Slot) -> Result<(), SpoolError> {
        let mut state = self.lock();
        let Some(left) = state.outstanding.get_mut(&slot.segment) else {
            return Ok(());
        };
        *left = left.saturating_sub(1);
        if *left > 0 {
            return Ok(());
        }
        state.outstanding.remove(&slot.segment);
        if state
            .writing
            .as_ref()
            .is_some_and(|w| w.segment == slot.segment)
        {
            state.writing = None;
        }
        drop(state);
        self.delete(slot.segment)
    }

    fn delete(&self, segment: u64) -> Result<(), SpoolError> {
        let path = self.path_of(segment);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(SpoolError::Io { path, source }),
        }
    }
}

/// Writes `a` then `b` with as few system calls as the kernel allows.
fn write_both(file: &mut File, a: &[u8], b: &[u8]) -> io::Result<()> {
    let mut slices = [IoSlice::new(a), IoSlice::new(b)];
    let mut left = &mut slices[..];
    while !left.is_empty() {
        match file.write_vectored(left) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut left, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The header's and body's lengths in a frame, if it is one.
fn lengths(frame: &[u8]) -> Option<(u32, u64)> {
    let rest = frame.strip_prefix(MAGIC.as_slice())?;
    let (header, rest) = rest.split_first_chunk::<4>()?;
    let (body, _) = rest.split_first_chunk::<8>()?;
    Some((u32::from_le_bytes(*header), u64::from_le_bytes(*body)))
}

/// The whole length of the entry at the start of `bytes`, if all of it is there.
fn frame_at(bytes: &[u8]) -> Option<usize> {
    let (header, body) = lengths(bytes)?;
    let total = FRAME
        .checked_add(usize::try_from(header).ok()?)?
        .checked_add(usize::try_from(body).ok()?)?;
    (bytes.len() >= total).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(bytes: &[u8]) -> DeidentifiedFile {
        DeidentifiedFile {
            file_name: "x".into(),
            bytes: bytes.to_vec(),
            kind: Kind::Dicom,
            sop_instance_uid: None,
            pixels_cleaned: false,
            dicom: Some(DicomSummary {
                patient_id: "P1".into(),
                ..DicomSummary::default()
            }),
            labels: None,
        }
    }

    fn segments(dir: &Path) -> usize {
        fs::read_dir(dir).expect("dir").count()
    }

    #[test]
    fn entries_read_back_survive_a_restart_and_go_once_catalogued() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (spool, left) = Spool::open(dir.path()).expect("open");
        assert!(left.is_empty());
        let origin = Origin {
            site_id: "s1".into(),
            route: "c-store".into(),
        };
        let metadata = Metadata {
            finding: Some("COVID-19".into()),
            ..Metadata::default()
        };
        let a = spool
            .put(&origin, "1.2.3", &metadata, &file(b"DICM first"))
            .expect("put");
        let b = spool
            .put(&origin, "1.2.4", &metadata, &file(b"DICM second, longer"))
            .expect("put");
        assert!(a < b, "slots keep arrival order");
        let back = spool.read(b).expect("read");
        assert_eq!(back.origin, origin);
        assert_eq!(back.label, "1.2.4");
        assert_eq!(back.metadata, metadata);
        assert_eq!(back.file.bytes, b"DICM second, longer");
        assert_eq!(back.file.dicom, file(b"").dicom);

        // A crash in the middle of a third entry: a restart finds the two whole ones.
        drop(spool);
        let segment = fs::read_dir(dir.path())
            .expect("dir")
            .next()
            .expect("a segment")
            .expect("entry")
            .path();
        let mut f = OpenOptions::new()
            .append(true)
            .open(&segment)
            .expect("open");
        f.write_all(b"LHSPOOL1\x05\x00").expect("write");
        drop(f);
        let (spool, left) = Spool::open(dir.path()).expect("reopen");
        assert_eq!(left, vec![a, b]);
        assert_eq!(spool.read(a).expect("read").file.bytes, b"DICM first");

        // New entries go to a new segment; each segment goes when its last entry is done.
        let c = spool
            .put(&origin, "1.2.5", &metadata, &file(b"DICM third"))
            .expect("put");
        assert_eq!(segments(dir.path()), 2);
        spool.done(a).expect("done");
        assert_eq!(segments(dir.path()), 2);
        spool.done(b).expect("done");
        assert_eq!(segments(dir.path()), 1);
        spool.done(c).expect("done");
        assert_eq!(segments(dir.path()), 0, "nothing waiting, nothing left");
        let d = spool
            .put(&origin, "1.2.6", &metadata, &file(b"DICM fourth"))
            .expect("put after the spool emptied");
        assert_eq!(spool.read(d).expect("read").label, "1.2.6");
    }

    #[test]
    fn a_damaged_entry_is_told() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (spool, _) = Spool::open(dir.path()).expect("open");
        let origin = Origin {
            site_id: "s1".into(),
            route: "c-store".into(),
        };
        let a = spool
            .put(&origin, "1", &Metadata::default(), &file(b"DICM"))
            .expect("put");
        let wrong = Slot {
            offset: a.offset + 3,
            ..a
        };
        assert!(matches!(spool.read(wrong), Err(SpoolError::Damaged { .. })));
    }
}
