//! What lunghub accepts in presentation-context negotiation: the SOP classes of chest
//! radiography and lung ultrasound (and the secondary captures hospitals export them as),
//! in every transfer syntax the intake pipeline reads. Anything else is refused per
//! presentation context, so a PACS that proposes CT or MR learns it at association time.

use dicom_dictionary_std::uids;

/// Verification (C-ECHO).
pub const VERIFICATION: &str = uids::VERIFICATION;

/// The storage SOP classes accepted. The two retired ultrasound classes are here because
/// ultrasound machines of the 1990s and 2000s still send them, and intake reads them like
/// their successors.
#[allow(deprecated)]
pub const STORAGE_CLASSES: &[&str] = &[
    uids::COMPUTED_RADIOGRAPHY_IMAGE_STORAGE,
    uids::DIGITAL_X_RAY_IMAGE_STORAGE_FOR_PRESENTATION,
    uids::DIGITAL_X_RAY_IMAGE_STORAGE_FOR_PROCESSING,
    uids::ULTRASOUND_IMAGE_STORAGE,
    uids::ULTRASOUND_MULTI_FRAME_IMAGE_STORAGE,
    uids::ULTRASOUND_IMAGE_STORAGE_RETIRED,
    uids::ULTRASOUND_MULTI_FRAME_IMAGE_STORAGE_RETIRED,
    uids::SECONDARY_CAPTURE_IMAGE_STORAGE,
    uids::MULTI_FRAME_SINGLE_BIT_SECONDARY_CAPTURE_IMAGE_STORAGE,
    uids::MULTI_FRAME_GRAYSCALE_BYTE_SECONDARY_CAPTURE_IMAGE_STORAGE,
    uids::MULTI_FRAME_GRAYSCALE_WORD_SECONDARY_CAPTURE_IMAGE_STORAGE,
    uids::MULTI_FRAME_TRUE_COLOR_SECONDARY_CAPTURE_IMAGE_STORAGE,
];

/// The transfer syntaxes accepted. When a sender proposes several in one presentation
/// context, the first of its list that is also here wins, so the sender's preference is
/// kept. Encapsulated data is stored as it arrives; intake decodes it later. (Explicit VR
/// Big Endian is retired, but old equipment still sends it and intake reads it.)
#[allow(deprecated)]
pub const TRANSFER_SYNTAXES: &[&str] = &[
    uids::EXPLICIT_VR_LITTLE_ENDIAN,
    uids::IMPLICIT_VR_LITTLE_ENDIAN,
    uids::EXPLICIT_VR_BIG_ENDIAN,
    uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    uids::JPEG_BASELINE8_BIT,
    uids::JPEG_EXTENDED12_BIT,
    uids::JPEG_LOSSLESS,
    uids::JPEG_LOSSLESS_SV1,
    uids::JPEGLS_LOSSLESS,
    uids::JPEGLS_NEAR_LOSSLESS,
    uids::JPEG2000_LOSSLESS,
    uids::JPEG2000,
    uids::HTJ2K_LOSSLESS,
    uids::HTJ2K_LOSSLESS_RPCL,
    uids::HTJ2K,
    uids::RLE_LOSSLESS,
];

pub fn is_storage_class(uid: &str) -> bool {
    STORAGE_CLASSES.contains(&uid)
}

/// A UID from the network without its padding (a trailing NUL or space).
pub fn trim_uid(uid: &str) -> &str {
    uid.trim_end_matches(['\0', ' '])
}

/// Whether `uid` is a well-formed UID (PS3.5 9.1: at most 64 characters, digits in
/// components separated by dots, no leading zero in a component).
pub fn is_valid_uid(uid: &str) -> bool {
    uid.len() <= 64
        && !uid.is_empty()
        && uid.split('.').all(|c| {
            !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_digit())
                && (c == "0" || !c.starts_with('0'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_checked() {
        assert!(is_valid_uid("1.2.840.10008.5.1.4.1.1.7"));
        assert!(is_valid_uid("2.25.0"));
        assert!(!is_valid_uid(""));
        assert!(!is_valid_uid("1..2"));
        assert!(!is_valid_uid("1.02"));
        assert!(!is_valid_uid("1.2.x"));
        assert!(!is_valid_uid(&"1.".repeat(40)));
        assert_eq!(trim_uid("1.2\0"), "1.2");
    }

    #[test]
    fn every_class_and_syntax_is_distinct() {
        for list in [STORAGE_CLASSES, TRANSFER_SYNTAXES] {
            for (i, uid) in list.iter().enumerate() {
                assert!(is_valid_uid(uid));
                assert!(!list[..i].contains(uid));
            }
        }
    }
}
