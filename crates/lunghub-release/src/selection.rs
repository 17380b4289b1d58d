//! Which approved items a release takes: filters by modality, finding, site, source, view
//! and intake date. An empty filter takes everything.

use lunghub_domain::Modality;
use lunghub_store::ReleaseCandidate;
use serde::{Deserialize, Serialize};

use crate::ReleaseError;

/// The filters of a release, stored with it as JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    /// Modality codes or words (`DX`, `CR`, `X-ray`, `US`…). Any X-ray word takes CR and DX.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modalities: Vec<String>,
    /// Findings of the hierarchy; a finding takes its children too (`Pneumonia` takes
    /// `Pneumonia/Viral/COVID-19`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<String>,
    /// Sites, by id or by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sites: Vec<String>,
    /// Source datasets, as the metadata named them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// Views (`PA`, `AP`, `AP Supine`, `Lateral`…).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub views: Vec<String>,
    /// Taken in on or after this day (`YYYY-MM-DD`, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Taken in on or before this day (`YYYY-MM-DD`, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

impl Selection {
    /// Checks the filters: known findings, real dates, `from` not after `to`.
    pub fn validate(&self) -> Result<(), ReleaseError> {
        for f in &self.findings {
            if !lunghub_domain::Finding::parse(f).is_known() {
                return Err(ReleaseError::Input(format!(
                    "unknown finding {f:?}; use one of: {}",
                    lunghub_domain::Finding::known_paths()
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        let from = self.from.as_deref().map(day_start).transpose()?;
        let to = self.to.as_deref().map(day_start).transpose()?;
        if let (Some(a), Some(b)) = (from, to)
            && a > b
        {
            return Err(ReleaseError::Input(
                "the date range ends before it starts".into(),
            ));
        }
        Ok(())
    }

    /// Whether the release takes this item. Call [`Selection::validate`] first: a date
    /// that does not parse here takes nothing.
    pub fn takes(&self, item: &ReleaseCandidate) -> bool {
        let any = |list: &[String], f: &dyn Fn(&str) -> bool| {
            list.is_empty() || list.iter().any(|v| f(v))
        };
        let item_modality = Modality::parse(&item.modality);
        let finding = item.finding.as_deref().unwrap_or("");
        any(
            &self.modalities,
            &|m| match (Modality::parse(m), &item_modality) {
                (Modality::Xray(_), Modality::Xray(_)) if !is_code(m) => true,
                (a, b) => a == *b,
            },
        ) && any(&self.findings, &|f| {
            let path = lunghub_domain::Finding::parse(f);
            finding == path.as_str() || finding.starts_with(&format!("{}/", path.as_str()))
        }) && any(&self.sites, &|s| {
            s.eq_ignore_ascii_case(&item.site_id) || s.eq_ignore_ascii_case(&item.site_name)
        }) && any(&self.sources, &|s| {
            item.source_dataset.as_deref() == Some(s)
        }) && any(&self.views, &|v| {
            item.view
                .as_deref()
                .is_some_and(|w| w.eq_ignore_ascii_case(v))
        }) && self
            .from
            .as_deref()
            .is_none_or(|d| day_start(d).is_ok_and(|start| item.intake_at >= start))
            && self
                .to
                .as_deref()
                .is_none_or(|d| day_start(d).is_ok_and(|start| item.intake_at < start + DAY_NS))
    }

    /// One line for people: "modality DX; finding Pneumonia; …", or "everything approved".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (what, list) in [
            ("modality", &self.modalities),
            ("finding", &self.findings),
            ("site", &self.sites),
            ("source", &self.sources),
            ("view", &self.views),
        ] {
            if !list.is_empty() {
                parts.push(format!("{what} {}", list.join(" or ")));
            }
        }
        if let Some(d) = &self.from {
            parts.push(format!("taken in from {d}"));
        }
        if let Some(d) = &self.to {
            parts.push(format!("taken in up to {d}"));
        }
        if parts.is_empty() {
            "every approved item".into()
        } else {
            parts.join("; ")
        }
    }
}

/// A DICOM code names one modality exactly; words like "X-ray" take every X-ray code.
fn is_code(m: &str) -> bool {
    matches!(m.trim().to_ascii_uppercase().as_str(), "CR" | "DX")
}

const DAY_NS: i64 = 86_400 * 1_000_000_000;

/// Nanoseconds since the epoch at 00:00 UTC of a `YYYY-MM-DD` day.
fn day_start(day: &str) -> Result<i64, ReleaseError> {
    let bad = || ReleaseError::Input(format!("{day:?} is not a date: use YYYY-MM-DD"));
    let mut it = day.trim().splitn(3, '-');
    let mut next = |len: usize| {
        it.next()
            .filter(|p| p.len() == len && p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse::<i64>().ok())
            .ok_or_else(bad)
    };
    let (y, m, d) = (next(4)?, next(2)?, next(2)?);
    let days_in_month = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => return Err(bad()),
    };
    if d < 1 || d > days_in_month {
        return Err(bad());
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Ok((era * 146_097 + doe - 719_468) * DAY_NS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(modality: &str, finding: &str, view: Option<&str>, day: &str) -> ReleaseCandidate {
        ReleaseCandidate {
            id: "ab".into(),
            site_id: "hospital-a".into(),
            site_name: "Hospital A".into(),
            patient_id: "LH-1".into(),
            study_id: "s".into(),
            series_id: "se".into(),
            kind: "png".into(),
            modality: modality.into(),
            view: view.map(Into::into),
            sex: None,
            age_years: None,
            offset_days: None,
            source_dataset: Some("nih".into()),
            intake_at: day_start(day).unwrap() + 3_600_000_000_000,
            deid_profile: "default".into(),
            finding: Some(finding.into()),
        }
    }

    #[test]
    fn days_count_from_the_epoch() {
        assert_eq!(day_start("1970-01-01").unwrap(), 0);
        assert_eq!(day_start("2020-03-11").unwrap(), 18_332 * DAY_NS);
        assert!(day_start("2021-02-29").is_err());
        assert!(day_start("2020-13-01").is_err());
        assert!(day_start("20-01-01").is_err());
    }

    #[test]
    fn filters_take_what_they_name() {
        let covid = item("DX", "Pneumonia/Viral/COVID-19", Some("PA"), "2020-04-02");
        let normal = item("CR", "No Finding", None, "2020-05-02");
        let us = item("US", "Pneumonia/Bacterial", None, "2020-05-03");
        let sel = |f: &dyn Fn(&mut Selection)| {
            let mut s = Selection::default();
            f(&mut s);
            s.validate().unwrap();
            [&covid, &normal, &us].map(|i| s.takes(i))
        };
        assert_eq!(sel(&|_| {}), [true, true, true]);
        assert_eq!(
            sel(&|s| s.modalities = vec!["X-ray".into()]),
            [true, true, false]
        );
        assert_eq!(
            sel(&|s| s.modalities = vec!["CR".into()]),
            [false, true, false]
        );
        assert_eq!(
            sel(&|s| s.findings = vec!["pneumonia".into()]),
            [true, false, true]
        );
        assert_eq!(sel(&|s| s.views = vec!["pa".into()]), [true, false, false]);
        assert_eq!(
            sel(&|s| s.sites = vec!["Hospital A".into()]),
            [true, true, true]
        );
        assert_eq!(
            sel(&|s| s.sites = vec!["elsewhere".into()]),
            [false, false, false]
        );
        assert_eq!(
            sel(&|s| {
                s.from = Some("2020-05-02".into());
                s.to = Some("2020-05-02".into())
            }),
            [false, true, false]
        );
    }

    #[test]
    fn bad_filters_are_refused() {
        let mut s = Selection {
            findings: vec!["flu-ish".into()],
            ..Selection::default()
        };
        assert!(s.validate().is_err());
        s.findings.clear();
        s.from = Some("2020-05-02".into());
        s.to = Some("2020-05-01".into());
        assert!(s.validate().is_err());
    }
}
