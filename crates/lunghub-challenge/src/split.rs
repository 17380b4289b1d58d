//! Which test cases count on the public leaderboard and which are kept for the private one.
//!
//! The public part gives participants feedback; the private part, never shown before the
//! end, decides the ranking, so that repeated submissions cannot overfit it. The split is by
//! patient: images of one patient are alike, and a patient straddling both parts would leak
//! the private labels through the public score. It is a hash of the challenge's own seed and
//! the patient, so it is reproducible by anyone holding the seed, needs no stored table, and
//! differs between challenges on the same release.

use sha2::{Digest, Sha256};

use crate::score::Case;

/// Whether `patient` is in the public part of the challenge seeded `challenge_seed`: the
/// top bit of sha256(seed, NUL, patient), so about half of the patients each way.
pub fn public_part(challenge_seed: &str, patient: &str) -> bool {
    let digest = Sha256::new()
        .chain_update(challenge_seed.as_bytes())
        .chain_update([0u8])
        .chain_update(patient.as_bytes())
        .finalize();
    digest[0] < 0x80
}

/// The test set's cases divided between the two leaderboards.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parts {
    pub public: Vec<Case>,
    pub private: Vec<Case>,
}

pub fn parts(challenge_seed: &str, cases: &[Case]) -> Parts {
    let (public, private) = cases
        .iter()
        .cloned()
        .partition(|case| public_part(challenge_seed, &case.patient));
    Parts { public, private }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_is_deterministic_by_patient_and_about_even() {
        let patients: Vec<String> = (0..1000).map(|i| format!("patient-{i}")).collect();
        let public = patients
            .iter()
            .filter(|p| public_part("challenge-1", p))
            .count();
        assert!((400..=600).contains(&public), "{public} of 1000 public");
        for p in &patients {
            assert_eq!(public_part("challenge-1", p), public_part("challenge-1", p));
        }
        // Another challenge draws another split.
        let same = patients
            .iter()
            .filter(|p| public_part("challenge-1", p) == public_part("challenge-2", p))
            .count();
        assert!((400..=600).contains(&same), "{same} of 1000 alike");
    }

    #[test]
    fn all_images_of_a_patient_land_in_the_same_part() {
        let cases: Vec<Case> = (0..300)
            .map(|i| Case {
                id: format!("{i}.png"),
                patient: format!("p{}", i / 3),
                source: "s".into(),
                class: i % 2,
            })
            .collect();
        let parts = parts("seed", &cases);
        assert_eq!(parts.public.len() + parts.private.len(), cases.len());
        assert!(!parts.public.is_empty() && !parts.private.is_empty());
        for case in &parts.public {
            assert!(parts.private.iter().all(|c| c.patient != case.patient));
        }
        // The seed and the patient are kept apart: ("ab", "c") is not ("a", "bc").
        let differ = (0..64).any(|i| {
            let seed = format!("s{i}");
            public_part(&format!("{seed}a"), "bc") != public_part(&seed, "abc")
        });
        assert!(differ);
    }
}
