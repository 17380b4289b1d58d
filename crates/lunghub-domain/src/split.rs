//! Train, validation and test splits for a release (issue 6): by patient, stratified by
//! finding and source, the same for the same seed, and stable from one version to the next.
//!
//! - **By patient.** A split is decided per patient, never per image, so no patient's images
//!   are in two splits: a model must not be tested on a patient it trained on.
//! - **Stratified.** Each patient falls in a stratum: their most frequent finding and their
//!   most frequent source (ties go to the smaller name). Within a stratum, patients are
//!   dealt out one at a time to the split furthest below its share, so every stratum of
//!   `n` patients gets each share within one patient. Counting patients rather than images
//!   keeps one patient with many images from moving a whole split.
//! - **Deterministic.** Patients are dealt in the order of a keyed hash of the seed and
//!   their pseudonym, so neither the order of the input nor anything but the seed changes
//!   the result.
//! - **Stable.** Patients of an earlier version keep their split; new patients are dealt
//!   around them, counting the old ones toward the shares.
//!
//! ```
//! use std::collections::BTreeMap;
//! use lunghub_domain::split::{assign, Member, Shares, Split};
//! let members = [
//!     Member { patient: "p1", finding: "No Finding", source: "a" },
//!     Member { patient: "p1", finding: "No Finding", source: "a" },
//!     Member { patient: "p2", finding: "Pneumonia/Viral/COVID-19", source: "b" },
//! ];
//! let splits = assign(&members, 42, Shares::default(), &BTreeMap::new());
//! assert_eq!(splits.len(), 2); // one split per patient
//! assert_eq!(splits["p1"], Split::Train); // the first of a stratum goes where the share is largest
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Validation,
    Test,
}

impl Split {
    pub const ALL: [Split; 3] = [Split::Train, Split::Validation, Split::Test];

    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }

    pub fn parse(s: &str) -> Option<Split> {
        Split::ALL.into_iter().find(|x| x.as_str() == s)
    }

    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SplitError {
    #[error("split shares must be finite and not negative, and add up to more than zero")]
    Shares,
}

/// What share of patients each split should get; normalised to add up to one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shares([f64; 3]);

impl Shares {
    pub fn new(train: f64, validation: f64, test: f64) -> Result<Shares, SplitError> {
        let all = [train, validation, test];
        let sum: f64 = all.iter().sum();
        if all.iter().any(|s| !s.is_finite() || *s < 0.0) || sum <= 0.0 || !sum.is_finite() {
            return Err(SplitError::Shares);
        }
        Ok(Shares(all.map(|s| s / sum)))
    }

    pub fn of(&self, split: Split) -> f64 {
        self.0[split.index()]
    }
}

impl Default for Shares {
    /// 70% train, 15% validation, 15% test.
    fn default() -> Self {
        Shares([0.70, 0.15, 0.15])
    }
}

/// One image of a release, as the split sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member<'a> {
    pub patient: &'a str,
    pub finding: &'a str,
    pub source: &'a str,
}

/// Every patient of `members` with their split. Patients in `earlier` keep theirs.
pub fn assign(
    members: &[Member<'_>],
    seed: u64,
    shares: Shares,
    earlier: &BTreeMap<String, Split>,
) -> BTreeMap<String, Split> {
    // Per patient: how often each finding and each source appears.
    let mut patients: BTreeMap<&str, (BTreeMap<&str, usize>, BTreeMap<&str, usize>)> =
        BTreeMap::new();
    for m in members {
        let (findings, sources) = patients.entry(m.patient).or_default();
        *findings.entry(m.finding).or_default() += 1;
        *sources.entry(m.source).or_default() += 1;
    }
    // Per stratum: the patients already placed in each split, and the new ones.
    let mut strata: BTreeMap<(&str, &str), ([usize; 3], Vec<&str>)> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for (patient, (findings, sources)) in &patients {
        let stratum = (most_frequent(findings), most_frequent(sources));
        let (placed, new) = strata.entry(stratum).or_default();
        match earlier.get(*patient) {
            Some(split) => {
                placed[split.index()] += 1;
                out.insert((*patient).to_owned(), *split);
            }
            None => new.push(patient),
        }
    }
    for (placed, mut new) in strata.into_values() {
        new.sort_by_key(|p| (mix(seed, p), *p));
        let mut placed = placed;
        for patient in new {
            let total = placed.iter().sum::<usize>() as f64 + 1.0;
            // The split furthest below its share once this patient is counted; ties go to
            // the earlier split in `Split::ALL`.
            let split = Split::ALL
                .into_iter()
                .max_by(|a, b| {
                    let deficit = |s: Split| shares.of(s) * total - placed[s.index()] as f64;
                    deficit(*a)
                        .total_cmp(&deficit(*b))
                        .then(b.index().cmp(&a.index()))
                })
                .unwrap_or(Split::Train);
            placed[split.index()] += 1;
            out.insert(patient.to_owned(), split);
        }
    }
    out
}

/// The most frequent key; ties go to the smallest.
fn most_frequent<'a>(counts: &BTreeMap<&'a str, usize>) -> &'a str {
    counts
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(k, _)| *k)
        .unwrap_or_default()
}

/// A 64-bit hash of the seed and a pseudonym, the same on every machine and Rust version
/// (FNV-1a, then SplitMix64's finaliser to spread it).
fn mix(seed: u64, s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.to_le_bytes().iter().chain(s.as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeSet, HashMap};

    /// SplitMix64: a small, seedable generator for random catalogs.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    const FINDINGS: [&str; 4] = [
        "No Finding",
        "Pneumonia/Viral/COVID-19",
        "Pneumonia/Bacterial",
        "Pneumonia",
    ];
    const SOURCES: [&str; 3] = ["cxr-covid-chestxray", "cxr-kaggle", "lus-pocus"];

    /// A random catalog: (patient, finding, source) per image. A patient mostly keeps one
    /// finding and source, sometimes not.
    fn catalog(rng: &mut Rng, patients: u64) -> Vec<(String, &'static str, &'static str)> {
        let mut rows = Vec::new();
        for p in 0..patients {
            let finding = FINDINGS[rng.below(4) as usize];
            let source = SOURCES[rng.below(3) as usize];
            for _ in 0..1 + rng.below(5) {
                let f = if rng.below(10) == 0 {
                    FINDINGS[rng.below(4) as usize]
                } else {
                    finding
                };
                let s = if rng.below(20) == 0 {
                    SOURCES[rng.below(3) as usize]
                } else {
                    source
                };
                rows.push((format!("patient-{p:04}-{}", rng.next() % 1000), f, s));
            }
        }
        rows
    }

    fn members<'a>(rows: &'a [(String, &'static str, &'static str)]) -> Vec<Member<'a>> {
        rows.iter()
            .map(|(p, f, s)| Member {
                patient: p,
                finding: f,
                source: s,
            })
            .collect()
    }

    #[test]
    fn on_random_catalogs_no_patient_is_in_two_splits_and_the_result_is_reproducible() {
        let mut rng = Rng(2020);
        for case in 0..300 {
            let n = 1 + rng.below(150);
            let rows = catalog(&mut rng, n);
            let m = members(&rows);
            let seed = rng.next();
            let splits = assign(&m, seed, Shares::default(), &BTreeMap::new());

            // Every image's split, through its patient; then no patient in two splits.
            let mut seen: HashMap<&str, Split> = HashMap::new();
            for member in &m {
                let split = splits[member.patient];
                let first = *seen.entry(member.patient).or_insert(split);
                assert_eq!(
                    first, split,
                    "case {case}: {} in two splits",
                    member.patient
                );
            }
            let patients: BTreeSet<&str> = m.iter().map(|x| x.patient).collect();
            assert_eq!(splits.len(), patients.len(), "case {case}");

            // The same catalog in another order, and the same seed: the same splits.
            let mut shuffled = m.clone();
            for i in (1..shuffled.len()).rev() {
                shuffled.swap(i, rng.below(i as u64 + 1) as usize);
            }
            assert_eq!(
                assign(&shuffled, seed, Shares::default(), &BTreeMap::new()),
                splits,
                "case {case}: the order of the input changed the splits"
            );
        }
    }

    #[test]
    fn a_later_version_keeps_every_earlier_patient_where_they_were() {
        let mut rng = Rng(7);
        for case in 0..200 {
            let n = 1 + rng.below(120);
            let rows = catalog(&mut rng, n);
            let seed = rng.next();
            let cut = rng.below(rows.len() as u64 + 1) as usize;
            let first = assign(
                &members(&rows[..cut]),
                seed,
                Shares::default(),
                &BTreeMap::new(),
            );
            let later = assign(&members(&rows), seed, Shares::default(), &first);
            for (patient, split) in &first {
                assert_eq!(
                    later.get(patient),
                    Some(split),
                    "case {case}: {patient} moved"
                );
            }
        }
    }

    #[test]
    fn each_stratum_gets_each_share_within_one_patient() {
        let mut rng = Rng(99);
        let shares = Shares::new(0.6, 0.2, 0.2).expect("shares");
        for case in 0..100 {
            // One image per patient, so each patient's stratum is plain to count.
            let n = 1 + rng.below(300);
            let rows: Vec<_> = (0..n)
                .map(|p| {
                    (
                        format!("p{p}"),
                        FINDINGS[rng.below(4) as usize],
                        SOURCES[rng.below(3) as usize],
                    )
                })
                .collect();
            let splits = assign(&members(&rows), rng.next(), shares, &BTreeMap::new());
            let mut strata: BTreeMap<(&str, &str), [usize; 3]> = BTreeMap::new();
            for (p, f, s) in &rows {
                strata.entry((f, s)).or_default()[splits[p.as_str()].index()] += 1;
            }
            for (stratum, counts) in strata {
                let total: usize = counts.iter().sum();
                for split in Split::ALL {
                    let want = shares.of(split) * total as f64;
                    let got = counts[split.index()] as f64;
                    assert!(
                        (got - want).abs() <= 1.0,
                        "case {case}, {stratum:?}: {split:?} has {got} of {total}, wants {want:.1}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_seed_matters_and_bad_shares_are_refused() {
        let mut rng = Rng(1);
        let rows = catalog(&mut rng, 200);
        let m = members(&rows);
        let a = assign(&m, 1, Shares::default(), &BTreeMap::new());
        let b = assign(&m, 2, Shares::default(), &BTreeMap::new());
        assert_ne!(a, b);
        assert_eq!(Shares::new(-1.0, 1.0, 1.0), Err(SplitError::Shares));
        assert_eq!(Shares::new(0.0, 0.0, 0.0), Err(SplitError::Shares));
        assert_eq!(Shares::new(f64::NAN, 1.0, 1.0), Err(SplitError::Shares));
        assert_eq!(
            Shares::new(7.0, 1.5, 1.5).expect("ok").of(Split::Train),
            0.7
        );
        assert_eq!(Split::parse("validation"), Some(Split::Validation));
        assert_eq!(Split::parse("dev"), None);
    }
}
