//! What an IOD needs, for the compound actions of Table E.1-1 (`X/Z`, `X/D`, `X/Z/D`, `Z/D`).
//!
//! PS3.15 says: remove the attribute unless the IOD needs it; if it needs it present, empty
//! it (Type 2); if it needs a value, give it a dummy one (Type 1). Carrying all of PS3.3
//! would be a large table for 49 compound rows, so this lists, for those rows only, where
//! the composite IODs lunghub meets (CR, DX, US, SC, CT, MR, their enhanced forms, SR and
//! presentation states) make them Type 1 or 2. Conditional types (1C, 2C) count as
//! unconditional: the attribute is present in the input, so its condition very likely
//! holds. Anything not listed is Type 3, and is removed. `dciodvfy` checks the outcome in
//! the test suite.

/// How strongly the IOD needs an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Requirement {
    /// Type 3, or not in the IOD: may be removed.
    Optional,
    /// Type 2: must be present, may be empty.
    Present,
    /// Type 1: must have a value.
    Valued,
}

/// SOP classes built on the multi-frame functional group and enhanced equipment modules.
const ENHANCED: &[&str] = &[
    "1.2.840.10008.5.1.4.1.1.2.1",    // Enhanced CT
    "1.2.840.10008.5.1.4.1.1.2.2",    // Legacy Converted Enhanced CT
    "1.2.840.10008.5.1.4.1.1.4.1",    // Enhanced MR
    "1.2.840.10008.5.1.4.1.1.4.3",    // Enhanced MR Color
    "1.2.840.10008.5.1.4.1.1.4.4",    // Legacy Converted Enhanced MR
    "1.2.840.10008.5.1.4.1.1.6.2",    // Enhanced US Volume
    "1.2.840.10008.5.1.4.1.1.12.1.1", // Enhanced XA
    "1.2.840.10008.5.1.4.1.1.12.2.1", // Enhanced XRF
    "1.2.840.10008.5.1.4.1.1.13.1.3", // Breast Tomosynthesis
    "1.2.840.10008.5.1.4.1.1.128.1",  // Legacy Converted Enhanced PET
    "1.2.840.10008.5.1.4.1.1.130",    // Enhanced PET
    "1.2.840.10008.5.1.4.1.1.30",     // Parametric Map
    "1.2.840.10008.5.1.4.1.1.66.4",   // Segmentation
];

/// SOP classes whose IOD makes the Acquisition Context module mandatory (DX family and
/// the enhanced images).
const ACQUISITION_CONTEXT: &[&str] = &[
    "1.2.840.10008.5.1.4.1.1.1.1",   // DX for presentation
    "1.2.840.10008.5.1.4.1.1.1.1.1", // DX for processing
    "1.2.840.10008.5.1.4.1.1.1.2",   // MG for presentation
    "1.2.840.10008.5.1.4.1.1.1.2.1", // MG for processing
    "1.2.840.10008.5.1.4.1.1.1.3",   // Intra-oral for presentation
    "1.2.840.10008.5.1.4.1.1.1.3.1", // Intra-oral for processing
];

const WAVEFORM: &str = "1.2.840.10008.5.1.4.1.1.9.";
const RADIOTHERAPY: &str = "1.2.840.10008.5.1.4.1.1.481.";

/// The requirement on `tag` in the IOD of `sop_class`, for the compound rows.
pub fn requirement(tag: u32, sop_class: &str) -> Requirement {
    let enhanced = ENHANCED.contains(&sop_class);
    match tag {
        // General Image: Content Date/Time (2C); SR Document General: Content Date/Time (1).
        0x0008_0023 | 0x0008_0033 if sop_class.starts_with("1.2.840.10008.5.1.4.1.1.88.") => {
            Requirement::Valued
        }
        0x0008_0023 | 0x0008_0033 => Requirement::Present,
        // Contrast/Bolus module: Contrast/Bolus Agent (2).
        0x0018_0010 => Requirement::Present,
        // Presentation State Identification: Content Creator's Name (2).
        0x0070_0084 => Requirement::Present,
        // Patient module, veterinary: Patient's Sex Neutered (2C).
        0x0010_2203 => Requirement::Present,
        // Patient ID (2) is pseudonymized before the table is consulted; listed for completeness.
        0x0010_0020 => Requirement::Present,
        // Acquisition Context Sequence (2) where the module is mandatory (DX family,
        // enhanced images, waveforms).
        0x0040_0555
            if enhanced
                || ACQUISITION_CONTEXT.contains(&sop_class)
                || sop_class.starts_with(WAVEFORM) =>
        {
            Requirement::Present
        }
        // RT Series: Operators' Name (2); RT Beams: Treatment Machine Name (2).
        0x0008_1070 | 0x300A_00B2 if sop_class.starts_with(RADIOTHERAPY) => Requirement::Present,
        // Enhanced General Equipment: Device Serial Number (1); Multi-frame Functional
        // Groups / Enhanced image modules: Acquisition DateTime (1C).
        0x0018_1000 | 0x0008_002A if enhanced => Requirement::Valued,
        // Enhanced Series: Referenced Performed Procedure Step Sequence (1C); SR Document
        // Series: the same (2).
        0x0008_1111 if enhanced || sop_class.starts_with("1.2.840.10008.5.1.4.1.1.88.") => {
            Requirement::Present
        }
        // Derivation Image macro of the enhanced images: Source Image Sequence (2C), and the
        // Referenced Image Sequence that the Common Instance Reference module must then
        // match. Both keep their items, with UIDs replaced (the U* of X/Z/U*).
        0x0008_2112 | 0x0008_1140 if enhanced => Requirement::Valued,
        _ => Requirement::Optional,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_date_is_type_2_in_images_and_type_1_in_sr() {
        assert_eq!(
            requirement(0x0008_0023, "1.2.840.10008.5.1.4.1.1.7"),
            Requirement::Present
        );
        assert_eq!(
            requirement(0x0008_0023, "1.2.840.10008.5.1.4.1.1.88.11"),
            Requirement::Valued
        );
        assert_eq!(
            requirement(0x0008_1070, "1.2.840.10008.5.1.4.1.1.7"),
            Requirement::Optional
        );
        assert_eq!(
            requirement(0x0008_002A, "1.2.840.10008.5.1.4.1.1.4.1"),
            Requirement::Valued
        );
    }
}
