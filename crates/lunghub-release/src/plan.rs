//! Planning a release: which items it holds, under which file names, in which split. Pure
//! and deterministic, so the same catalog, settings and seed always plan the same release.

use std::collections::BTreeMap;

use lunghub_domain::split::{self, Member, Shares, Split};
use lunghub_store::{ReleaseCandidate, ReleaseItem};

use crate::ReleaseError;
use crate::selection::Selection;

/// What a person decides when creating a release.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub name: String,
    pub version: i64,
    pub seed: u64,
    pub shares: Shares,
    pub selection: Selection,
    /// Licence of each source dataset (or site, for images a hospital sent).
    pub licences: BTreeMap<String, String>,
}

/// One image of the release.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub item: ReleaseCandidate,
    pub finding: String,
    pub split: Split,
    /// The image's file name, `<first 16 hex digits of the item id>.png`: stable across
    /// versions, and free of anything about the patient.
    pub file: String,
}

impl Entry {
    /// Where the image came from: its source dataset, or its site when it has none.
    pub fn source(&self) -> &str {
        source_of(&self.item)
    }
}

pub fn source_of(item: &ReleaseCandidate) -> &str {
    item.source_dataset
        .as_deref()
        .filter(|s| !s.is_empty())
        .unwrap_or(&item.site_id)
}

/// Approved items the selection took but the release cannot hold, counted for the card.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeftOut {
    /// No known finding: neither a reviewer's nor the metadata's.
    pub unlabelled: usize,
    /// Ultrasound clips: this version of lunghub releases still images only.
    pub clips: usize,
}

/// The version before, for stable splits and the changelog.
#[derive(Debug, Clone, Default)]
pub struct Previous {
    pub version: i64,
    pub items: Vec<ReleaseItem>,
    /// The review state now of every item of the previous version, to say why one left.
    pub states_now: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub settings: Settings,
    /// In file-name order.
    pub entries: Vec<Entry>,
    pub left_out: LeftOut,
    pub previous: Option<Previous>,
}

/// A release name: 1 to 64 of `a-z`, `0-9` and `-`, starting with a letter or digit.
pub fn check_name(name: &str) -> Result<(), ReleaseError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ReleaseError::Input(format!(
            "release name {name:?}: use 1 to 64 lowercase letters, digits and '-'"
        )))
    }
}

/// Plans a release from every approved item of the catalog.
pub fn plan(
    settings: Settings,
    candidates: Vec<ReleaseCandidate>,
    previous: Option<Previous>,
) -> Result<Plan, ReleaseError> {
    check_name(&settings.name)?;
    settings.selection.validate()?;
    let mut left_out = LeftOut::default();
    let mut taken = Vec::new();
    for item in candidates {
        if !settings.selection.takes(&item) {
            continue;
        }
        if item.kind == "clip" {
            left_out.clips += 1;
            continue;
        }
        match item.finding.clone() {
            Some(finding) => taken.push((item, finding)),
            None => left_out.unlabelled += 1,
        }
    }
    if taken.is_empty() {
        return Err(ReleaseError::Input(format!(
            "no approved, labelled still image matches the selection ({})",
            settings.selection.describe()
        )));
    }
    let members: Vec<Member> = taken
        .iter()
        .map(|(item, finding)| Member {
            patient: &item.patient_id,
            finding,
            source: source_of(item),
        })
        .collect();
    let earlier: BTreeMap<String, Split> = previous
        .iter()
        .flat_map(|p| &p.items)
        .filter_map(|i| Some((i.patient_id.clone(), Split::parse(&i.split)?)))
        .collect();
    let splits = split::assign(&members, settings.seed, settings.shares, &earlier);
    let mut entries = Vec::with_capacity(taken.len());
    for (item, finding) in taken {
        let split = *splits.get(&item.patient_id).ok_or_else(|| {
            ReleaseError::Input(format!("no split for patient of item {}", item.id))
        })?;
        let file = format!("{}.png", item.id.get(..16).unwrap_or(&item.id));
        entries.push(Entry {
            item,
            finding,
            split,
            file,
        });
    }
    entries.sort_by(|a, b| a.file.cmp(&b.file));
    if let Some(pair) = entries.windows(2).find(|w| w[0].file == w[1].file) {
        return Err(ReleaseError::Input(format!(
            "items {} and {} share the file name {}",
            pair[0].item.id, pair[1].item.id, pair[0].file
        )));
    }
    Ok(Plan {
        settings,
        entries,
        left_out,
        previous,
    })
}

impl Plan {
    /// The rows the catalog keeps for this release (test findings included: they stay on
    /// the server).
    pub fn items(&self) -> Vec<ReleaseItem> {
        self.entries
            .iter()
            .map(|e| ReleaseItem {
                item_id: e.item.id.clone(),
                patient_id: e.item.patient_id.clone(),
                split: e.split.as_str().into(),
                finding: e.finding.clone(),
                file: e.file.clone(),
            })
            .collect()
    }

    pub fn in_split(&self, split: Split) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(move |e| e.split == split)
    }
}

/// Age as published: whole years, 90 and over as 90 (HIPAA Safe Harbor's rule for ages
/// that could single a person out).
pub fn published_age(age: Option<f64>) -> Option<u32> {
    age.filter(|a| a.is_finite() && *a >= 0.0)
        .map(|a| (a.floor() as u32).min(90))
}

/// Sex as published: `M`, `F`, or nothing.
pub fn published_sex(sex: Option<&str>) -> &'static str {
    match sex.map(|s| s.trim().to_ascii_uppercase()) {
        Some(s) if s == "M" || s == "MALE" => "M",
        Some(s) if s == "F" || s == "FEMALE" => "F",
        _ => "",
    }
}

/// The age band the card counts by.
pub fn age_band(age: Option<f64>) -> &'static str {
    match published_age(age) {
        None => "unknown",
        Some(0..=17) => "0-17",
        Some(18..=39) => "18-39",
        Some(40..=59) => "40-59",
        Some(60..=79) => "60-79",
        Some(_) => "80+",
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn candidate(
        n: usize,
        patient: &str,
        finding: Option<&str>,
        source: &str,
    ) -> ReleaseCandidate {
        ReleaseCandidate {
            id: format!("{n:016x}{:048x}", 0),
            site_id: "site-a".into(),
            site_name: "Site A".into(),
            patient_id: patient.into(),
            study_id: format!("st{n}"),
            series_id: format!("se{n}"),
            kind: "png".into(),
            modality: "DX".into(),
            view: Some("PA".into()),
            sex: Some(if n.is_multiple_of(2) { "M" } else { "F" }.into()),
            age_years: Some(20.0 + n as f64),
            offset_days: None,
            source_dataset: Some(source.into()),
            intake_at: 0,
            deid_profile: "default".into(),
            finding: finding.map(Into::into),
        }
    }

    pub(crate) fn settings(name: &str, version: i64) -> Settings {
        Settings {
            name: name.into(),
            version,
            seed: 7,
            shares: Shares::default(),
            selection: Selection::default(),
            licences: BTreeMap::new(),
        }
    }

    #[test]
    fn plans_take_labelled_still_images_and_count_the_rest() {
        let mut clip = candidate(3, "p3", Some("No Finding"), "pocus");
        clip.kind = "clip".into();
        let found = plan(
            settings("cxr", 1),
            vec![
                candidate(1, "p1", Some("No Finding"), "nih"),
                candidate(2, "p2", None, "nih"),
                clip,
                candidate(4, "p1", Some("Pneumonia"), "nih"),
            ],
            None,
        )
        .unwrap();
        assert_eq!(found.entries.len(), 2);
        assert_eq!(
            found.left_out,
            LeftOut {
                unlabelled: 1,
                clips: 1
            }
        );
        assert_eq!(found.entries[0].file, "0000000000000001.png");
        // One patient, one split.
        assert_eq!(found.entries[0].split, found.entries[1].split);
    }

    #[test]
    fn a_patient_keeps_the_split_of_the_version_before() {
        let first: Vec<_> = (0..40)
            .map(|n| candidate(n, &format!("p{n}"), Some("No Finding"), "nih"))
            .collect();
        let v1 = plan(settings("cxr", 1), first.clone(), None).unwrap();
        let mut more = first;
        more.extend(
            (40..80).map(|n| candidate(n, &format!("p{}", n % 50), Some("No Finding"), "nih")),
        );
        let v2 = plan(
            settings("cxr", 2),
            more,
            Some(Previous {
                version: 1,
                items: v1.items(),
                states_now: BTreeMap::new(),
            }),
        )
        .unwrap();
        let before: BTreeMap<_, _> = v1
            .entries
            .iter()
            .map(|e| (e.item.patient_id.clone(), e.split))
            .collect();
        for e in &v2.entries {
            if let Some(split) = before.get(&e.item.patient_id) {
                assert_eq!(*split, e.split, "patient {} moved", e.item.patient_id);
            }
        }
    }

    #[test]
    fn names_and_empty_selections_are_refused() {
        assert!(check_name("cxr-covid-2020").is_ok());
        for bad in ["", "CXR", "-x", "a/b", "a b"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(
            plan(
                settings("cxr", 1),
                vec![candidate(1, "p", None, "nih")],
                None
            )
            .is_err()
        );
    }

    #[test]
    fn ages_are_capped_and_banded() {
        assert_eq!(published_age(Some(93.5)), Some(90));
        assert_eq!(published_age(Some(-1.0)), None);
        assert_eq!(age_band(Some(45.9)), "40-59");
        assert_eq!(age_band(None), "unknown");
        assert_eq!(published_sex(Some("female")), "F");
        assert_eq!(published_sex(Some("O")), "");
    }
}
