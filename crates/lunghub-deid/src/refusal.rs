//! Why a file was not taken, in two registers: a [`Cause`] a hospital person can read
//! (what happened, in one sentence, and what to do next) and the technical detail an
//! engineer needs, which goes below it. Every route (folder, web upload, DICOMweb, DICOM
//! network, the gateway) refuses with a [`Refusal`], so the advice is the same wherever a
//! file was sent from.
//!
//! The cause is stored beside the detail (as [`Cause::as_str`]), so a page read later
//! explains a refusal the way it was explained when the file arrived.

use std::fmt;

/// What kind of problem stopped a file. Stable names: they are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cause {
    /// The pixels may show a name or record number, and no rule blanks them for this device.
    BurnedInText,
    /// A rule should have blanked the burned-in text, and could not.
    CleaningFailed,
    /// The site's gateway marked the file de-identified, yet identity is still in it.
    GatewayLeak,
    /// A DICOMDIR: the index of a disc or folder, not an image.
    DicomDir,
    /// DICOM that does not say what kind of object it is.
    NotAnImage,
    /// Not DICOM, PNG, JPEG or a video clip.
    UnknownFormat,
    /// A PNG or JPEG at the gateway, which sends DICOM only.
    NeedsWebUpload,
    /// Cut short or malformed.
    Damaged,
    /// Compressed with a transfer syntax this server does not decode.
    UnsupportedCompression,
    /// Over the size limit for one file.
    TooLarge,
    /// An entry of a zip that cannot be unpacked safely (a bomb, a path out, a password).
    UnsafeArchiveEntry,
    /// The labels sent with the file (metadata CSV, gateway block) cannot be used.
    BadLabels,
    /// The server could not read or store it: nothing the sender did.
    ServerSide,
}

impl Cause {
    pub const ALL: [Cause; 13] = [
        Cause::BurnedInText,
        Cause::CleaningFailed,
        Cause::GatewayLeak,
        Cause::DicomDir,
        Cause::NotAnImage,
        Cause::UnknownFormat,
        Cause::NeedsWebUpload,
        Cause::Damaged,
        Cause::UnsupportedCompression,
        Cause::TooLarge,
        Cause::UnsafeArchiveEntry,
        Cause::BadLabels,
        Cause::ServerSide,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Cause::BurnedInText => "burned-in-text",
            Cause::CleaningFailed => "cleaning-failed",
            Cause::GatewayLeak => "gateway-leak",
            Cause::DicomDir => "dicomdir",
            Cause::NotAnImage => "not-an-image",
            Cause::UnknownFormat => "unknown-format",
            Cause::NeedsWebUpload => "needs-web-upload",
            Cause::Damaged => "damaged",
            Cause::UnsupportedCompression => "unsupported-compression",
            Cause::TooLarge => "too-large",
            Cause::UnsafeArchiveEntry => "unsafe-archive-entry",
            Cause::BadLabels => "bad-labels",
            Cause::ServerSide => "server-side",
        }
    }

    pub fn parse(s: &str) -> Option<Cause> {
        Cause::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// What happened, for a person who has never heard of a DICOM tag.
    pub fn plain(self) -> &'static str {
        match self {
            Cause::BurnedInText => {
                "The image may have the patient's name or other details written into the picture itself, so it was not kept."
            }
            Cause::CleaningFailed => {
                "The text written into the picture could not be blanked out, so the image was not kept."
            }
            Cause::GatewayLeak => {
                "This file came from your hospital's gateway marked as anonymous, but it still carries details that identify the patient. It was not kept."
            }
            Cause::DicomDir => "This is the index file of a CD or folder (DICOMDIR), not an image.",
            Cause::NotAnImage => {
                "This DICOM file does not say what kind of image it is, so it cannot be used."
            }
            Cause::UnknownFormat => {
                "This is not an image lunghub can read: send DICOM, PNG, JPEG or an ultrasound video."
            }
            Cause::NeedsWebUpload => {
                "The gateway sends DICOM images only, and this is a PNG or JPEG picture."
            }
            Cause::Damaged => "The file is damaged or incomplete.",
            Cause::UnsupportedCompression => {
                "The image is compressed in a format lunghub cannot open yet."
            }
            Cause::TooLarge => "The file is larger than lunghub accepts in one piece.",
            Cause::UnsafeArchiveEntry => {
                "This part of the zip could not be unpacked safely: it is protected by a password, far too large once unpacked, or points outside the zip."
            }
            Cause::BadLabels => "The labels sent with this file could not be read.",
            Cause::ServerSide => {
                "lunghub could not store this file. This is a problem on our side, not yours."
            }
        }
    }

    /// What to do about it.
    pub fn next_step(self) -> &'static str {
        match self {
            Cause::BurnedInText => {
                "If the picture shows no text, export it again with the Burned In Annotation field set to NO. If it does, ask the coordinators to add a blanking rule for this machine; until then, do not send images from it."
            }
            Cause::CleaningFailed => {
                "Send the technical detail below to the coordinators. Do not send this image another way."
            }
            Cause::GatewayLeak => {
                "Stop sending from the gateway and tell your hospital IT and the coordinators today: the gateway's settings need checking."
            }
            Cause::DicomDir => {
                "Send the image files in the folders next to it instead (or a zip of the whole disc)."
            }
            Cause::NotAnImage => {
                "Export the image again from the PACS or the machine. If this keeps happening, send the technical detail below to the coordinators."
            }
            Cause::UnknownFormat => {
                "Check that you picked the image files. Reports, PDFs and office documents are not taken."
            }
            Cause::NeedsWebUpload => {
                "Send it from the lunghub website instead (Send images), where pictures are taken."
            }
            Cause::Damaged => {
                "Send it again. If it fails again, export it again from the PACS or the machine."
            }
            Cause::UnsupportedCompression => {
                "Export it uncompressed (Explicit VR Little Endian) or as JPEG, and send it again."
            }
            Cause::TooLarge => "Send the study's images one by one, or in several smaller zips.",
            Cause::UnsafeArchiveEntry => {
                "Unzip it on your computer and send the files themselves, or make a new zip without a password."
            }
            Cause::BadLabels => {
                "Check this file's row in the metadata CSV (its finding and dates), then send it again."
            }
            Cause::ServerSide => {
                "Nothing to change on your side: try again later. If it keeps failing, tell the coordinators."
            }
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why one file was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub cause: Cause,
    /// For engineers: which attribute, which SOP class, which byte.
    pub detail: String,
}

impl Refusal {
    pub fn new(cause: Cause, detail: impl Into<String>) -> Refusal {
        Refusal {
            cause,
            detail: detail.into(),
        }
    }
}

/// The technical detail, as logs and DICOM status comments have always carried it.
impl Refusal {
    /// One line for logs and notes kept beside a file: what happened, what to do, and the
    /// detail.
    pub fn explained(&self) -> String {
        format!(
            "{} {} (detail: {})",
            self.cause.plain(),
            self.cause.next_step(),
            self.detail
        )
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

impl crate::DeidError {
    /// The cause a sender is told about when de-identification could not read a file.
    pub fn cause(&self) -> Cause {
        use crate::DeidError as E;
        use crate::scan::ScanError as S;
        match self {
            E::Scan(S::UnknownFormat | S::NotDicom) => Cause::UnknownFormat,
            E::Scan(S::TooLarge(_)) => Cause::TooLarge,
            E::Scan(_) | E::Raster(_) | E::Parse(_) => Cause::Damaged,
            E::UnsupportedTransferSyntax(_) => Cause::UnsupportedCompression,
            E::Write(_) | E::Table(_) => Cause::ServerSide,
        }
    }

    pub fn refusal(&self) -> Refusal {
        Refusal::new(self.cause(), self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cause_round_trips_and_speaks_plainly() {
        for cause in Cause::ALL {
            assert_eq!(Cause::parse(cause.as_str()), Some(cause));
            for text in [cause.plain(), cause.next_step()] {
                assert!(text.ends_with('.'), "{cause}: {text}");
                // The plain register names no attribute, tag or UID.
                for jargon in ["SOP", "0x", "(00", "1.2.840", "Tag"] {
                    assert!(!text.contains(jargon), "{cause}: {text}");
                }
            }
        }
        let names: std::collections::HashSet<_> = Cause::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), Cause::ALL.len());
        assert_eq!(Cause::parse("nonsense"), None);
    }
}
