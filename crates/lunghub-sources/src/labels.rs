//! The labels that may leave a hospital with an instance its gateway de-identified.
//!
//! A hospital's metadata CSV or class folders say more than a finding: free-text
//! comorbidities, therapy and outcome, the dataset's (folder's) name, the patient's record
//! number. Free text and names can carry identity that no check can rule out, so only
//! fields with a closed vocabulary or a number leave: the finding, the view, the sex, the
//! age (90 and over as 90, as HIPAA's Safe Harbor asks) and the days since symptom onset.
//! The patient's record number does not travel here at all: the gateway pseudonymises it
//! into the instance's PatientID with the site key, exactly as a PatientID in the header.

use lunghub_domain::{Finding, View};
use serde::{Deserialize, Serialize};

use crate::Metadata;

/// Ages above this are sent as this (Safe Harbor: ages over 89 are aggregated).
const OLDEST_AGE: f64 = 90.0;

/// The labels of one instance, fit to leave the hospital.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HospitalLabels {
    /// A path of the finding hierarchy (never an unknown string).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finding: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view: Option<String>,
    /// `M`, `F` or `O`, as DICOM's Patient's Sex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_years: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset_days: Option<i64>,
}

/// A label the hospital stated that lunghub cannot send as it is.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LabelError {
    #[error(
        "the finding {0:?} is not one lunghub knows (use one of: healthy, pneumonia, viral, \
         COVID-19, bacterial, ARDS, or a path such as Pneumonia/Viral/COVID-19)"
    )]
    UnknownFinding(String),
    #[error("the view {0:?} is not one lunghub knows (use PA, AP, AP supine or lateral)")]
    UnknownView(String),
    #[error("the sex {0:?} is not one lunghub knows (use M, F or O)")]
    UnknownSex(String),
}

fn finding_path(raw: &str) -> Result<String, LabelError> {
    match Finding::parse(raw) {
        Finding::Known(path) => Ok(path.to_owned()),
        Finding::Unknown(s) => Err(LabelError::UnknownFinding(s)),
    }
}

fn view_label(raw: &str) -> Result<Option<String>, LabelError> {
    match View::parse(raw) {
        None => Ok(None),
        Some(View::Other(s)) => Err(LabelError::UnknownView(s)),
        Some(v) => Ok(Some(v.label().to_owned())),
    }
}

fn sex_code(raw: &str) -> Result<String, LabelError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "m" | "male" | "maschio" | "uomo" => Ok("M".into()),
        "f" | "female" | "femmina" | "donna" => Ok("F".into()),
        "o" | "other" | "altro" => Ok("O".into()),
        _ => Err(LabelError::UnknownSex(raw.to_owned())),
    }
}

fn age(years: Option<f64>) -> Option<f64> {
    years
        .filter(|a| a.is_finite() && *a >= 0.0)
        .map(|a| a.min(OLDEST_AGE))
}

impl HospitalLabels {
    /// What of `metadata` may leave. A value that is stated but not recognised is an error,
    /// never dropped in silence: the hospital fixes its CSV rather than lose a label.
    pub fn from_metadata(metadata: &Metadata) -> Result<HospitalLabels, LabelError> {
        Ok(HospitalLabels {
            finding: metadata.finding.as_deref().map(finding_path).transpose()?,
            view: match metadata.view.as_deref() {
                None => None,
                Some(v) => view_label(v)?,
            },
            sex: metadata.sex.as_deref().map(sex_code).transpose()?,
            age_years: age(metadata.age_years),
            offset_days: metadata.offset_days,
        })
    }

    pub fn is_empty(&self) -> bool {
        *self == HospitalLabels::default()
    }

    pub fn to_json(&self) -> String {
        // A struct of options and numbers always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads what a gateway carried, on the server: anything it cannot read, or does not
    /// recognise, is not taken (the server never trusts a sender to have checked).
    pub fn from_json(json: &str) -> HospitalLabels {
        let stated: HospitalLabels = serde_json::from_str(json).unwrap_or_default();
        HospitalLabels {
            finding: stated.finding.as_deref().and_then(|f| finding_path(f).ok()),
            view: stated
                .view
                .as_deref()
                .and_then(|v| view_label(v).ok().flatten()),
            sex: stated.sex.as_deref().and_then(|s| sex_code(s).ok()),
            age_years: age(stated.age_years),
            offset_days: stated.offset_days,
        }
    }

    /// Fills in what `metadata` does not already say.
    pub fn fill(&self, metadata: &mut Metadata) {
        metadata.finding = metadata.finding.take().or_else(|| self.finding.clone());
        metadata.view = metadata.view.take().or_else(|| self.view.clone());
        metadata.sex = metadata.sex.take().or_else(|| self.sex.clone());
        metadata.age_years = metadata.age_years.or(self.age_years);
        metadata.offset_days = metadata.offset_days.or(self.offset_days);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stated() -> Metadata {
        Metadata {
            finding: Some("covid".into()),
            patient: Some("MRN-1001".into()),
            view: Some("ap".into()),
            sex: Some("Femmina".into()),
            age_years: Some(97.0),
            offset_days: Some(4),
            outcome: Some("died at home, Via Roma 1".into()),
            comorbidities: Some("diabetes (Dr Rossi)".into()),
            therapy: Some("oxygen".into()),
            source_dataset: Some("ROSSI_MARIO".into()),
            modality: Some("CR".into()),
        }
    }

    #[test]
    fn only_closed_vocabularies_and_numbers_leave() {
        let labels = HospitalLabels::from_metadata(&stated()).expect("known values");
        assert_eq!(labels.finding.as_deref(), Some("Pneumonia/Viral/COVID-19"));
        assert_eq!(labels.view.as_deref(), Some("AP"));
        assert_eq!(labels.sex.as_deref(), Some("F"));
        assert_eq!(labels.age_years, Some(90.0), "ages over 89 are aggregated");
        assert_eq!(labels.offset_days, Some(4));
        let json = labels.to_json();
        for kept_home in ["MRN-1001", "Roma", "Rossi", "ROSSI", "oxygen", "CR"] {
            assert!(!json.contains(kept_home), "{kept_home} left in {json}");
        }
        assert_eq!(HospitalLabels::from_json(&json), labels);
    }

    #[test]
    fn a_stated_value_lunghub_does_not_know_is_an_error() {
        for (field, m) in [
            (
                "finding",
                Metadata {
                    finding: Some("Mario Rossi".into()),
                    ..Metadata::default()
                },
            ),
            (
                "view",
                Metadata {
                    view: Some("oblique".into()),
                    ..Metadata::default()
                },
            ),
            (
                "sex",
                Metadata {
                    sex: Some("x".into()),
                    ..Metadata::default()
                },
            ),
        ] {
            assert!(HospitalLabels::from_metadata(&m).is_err(), "{field}");
        }
        assert!(
            HospitalLabels::from_metadata(&Metadata::default())
                .expect("empty")
                .is_empty()
        );
    }

    #[test]
    fn the_server_keeps_only_what_it_recognises() {
        let carried = r#"{"finding":"Mario Rossi","view":"PA","sex":"F","age_years":120,
            "comorbidities":"Dr Rossi","patient":"MRN-1"}"#;
        let labels = HospitalLabels::from_json(carried);
        assert_eq!(labels.finding, None);
        assert_eq!(labels.view.as_deref(), Some("PA"));
        assert_eq!(labels.sex.as_deref(), Some("F"));
        assert_eq!(labels.age_years, Some(90.0));
        assert!(HospitalLabels::from_json("not json").is_empty());
        let mut m = Metadata {
            finding: Some("No Finding".into()),
            ..Metadata::default()
        };
        labels.fill(&mut m);
        assert_eq!(
            m.finding.as_deref(),
            Some("No Finding"),
            "what the route says wins"
        );
        assert_eq!(m.view.as_deref(), Some("PA"));
    }
}
