//! Words for images: modality, view and review state.

use serde::{Deserialize, Serialize};

/// Acquisition modality, DICOM's code where there is one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Modality {
    /// Chest radiograph of any kind (CR, DX, or an exported "X-ray").
    Xray(String),
    Ct,
    Ultrasound,
    Other(String),
}

impl Modality {
    /// Parses DICOM codes (CR, DX, CT, US…) and the datasets' words (X-ray, CT).
    pub fn parse(raw: &str) -> Modality {
        match raw.trim().to_ascii_uppercase().as_str() {
            "CR" => Modality::Xray("CR".into()),
            "DX" => Modality::Xray("DX".into()),
            "X-RAY" | "XRAY" | "RX" | "RG" => Modality::Xray("DX".into()),
            "CT" => Modality::Ct,
            "US" | "ULTRASOUND" | "POCUS" => Modality::Ultrasound,
            other => Modality::Other(other.to_owned()),
        }
    }

    /// The stored code.
    pub fn code(&self) -> &str {
        match self {
            Modality::Xray(code) => code,
            Modality::Ct => "CT",
            Modality::Ultrasound => "US",
            Modality::Other(s) => s,
        }
    }
}

/// Projection or plane of an image.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum View {
    Pa,
    Ap,
    ApSupine,
    Lateral,
    Axial,
    Coronal,
    Other(String),
}

impl View {
    pub fn parse(raw: &str) -> Option<View> {
        let v = raw.trim().to_ascii_uppercase();
        Some(match v.as_str() {
            "" => return None,
            "PA" => View::Pa,
            "AP" => View::Ap,
            "AP SUPINE" | "APS" | "AP_SUPINE" => View::ApSupine,
            "L" | "LL" | "RL" | "LAT" | "LATERAL" => View::Lateral,
            "AXIAL" => View::Axial,
            "CORONAL" => View::Coronal,
            _ => View::Other(raw.trim().to_owned()),
        })
    }

    pub fn label(&self) -> &str {
        match self {
            View::Pa => "PA",
            View::Ap => "AP",
            View::ApSupine => "AP Supine",
            View::Lateral => "Lateral",
            View::Axial => "Axial",
            View::Coronal => "Coronal",
            View::Other(s) => s,
        }
    }
}

/// Where an item stands in review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReviewState {
    /// Just taken in; nobody has looked yet.
    Pending,
    /// Flagged for a person: near-duplicate, unknown finding, undecodable pixels.
    NeedsAttention,
    /// Two reads that do not agree: a third reviewer settles it.
    Disagreement,
    Approved,
    Rejected,
    /// Superseded by a copy with burned-in text blanked; never released.
    Replaced,
}

impl ReviewState {
    pub fn as_str(&self) -> &'static str {
        match self {
            ReviewState::Pending => "pending",
            ReviewState::NeedsAttention => "needs-attention",
            ReviewState::Disagreement => "disagreement",
            ReviewState::Approved => "approved",
            ReviewState::Rejected => "rejected",
            ReviewState::Replaced => "replaced",
        }
    }

    pub fn parse(s: &str) -> Option<ReviewState> {
        [
            ReviewState::Pending,
            ReviewState::NeedsAttention,
            ReviewState::Disagreement,
            ReviewState::Approved,
            ReviewState::Rejected,
            ReviewState::Replaced,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }

    /// Still waiting for a reviewer's decision.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            ReviewState::Pending | ReviewState::NeedsAttention | ReviewState::Disagreement
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_words_parse() {
        assert_eq!(Modality::parse("X-ray").code(), "DX");
        assert_eq!(Modality::parse("CT"), Modality::Ct);
        assert_eq!(View::parse("AP Supine"), Some(View::ApSupine));
        assert_eq!(View::parse("L"), Some(View::Lateral));
        assert_eq!(View::parse(""), None);
    }
}
