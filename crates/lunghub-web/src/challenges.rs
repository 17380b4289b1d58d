//! Challenges on the server: a challenge's test set with its hidden truth, scoring a
//! submission on both parts, and ranking the leaderboards. The pages, the JSON API and
//! `lunghub challenge create` (which submits the house baseline) all go through here, so
//! they validate, score and refuse alike.
//!
//! Decisions written down here:
//! - The test set of a challenge is the test split of its release, less the images whose
//!   finding the task leaves out (ARDS in three-class): those are neither asked for nor
//!   scored, and `sample.csv` lists exactly the images that are.
//! - The positive class is the task's last class (COVID-19 in every task today); the
//!   headline metrics are that class against the rest.
//! - The public/private split is by patient, seeded by the challenge's id.
//! - The private leaderboard ranks, for each participant, the better of their final picks
//!   on the private part. Someone who picked none is ranked on their two best public
//!   submissions, so that forgetting to pick never drops a participant.

use std::collections::BTreeMap;

use lunghub_challenge::score::{Case, Scores, score};
use lunghub_challenge::split::parts;
use lunghub_challenge::submission::{Columns, SubmissionError, parse};
use lunghub_learn::data::Task;
use lunghub_store::Platform;
use lunghub_store::challenges::{Challenge, NewSubmission, Refusal, Submission};
use sha2::{Digest, Sha256};

use crate::WebError;

/// The most final submissions a participant picks.
pub const FINAL_PICKS: i64 = 2;
/// A submission CSV is at most this large (about 100 bytes a row is plenty).
pub const MAX_CSV_BYTES: usize = 16 << 20;

/// A challenge's test set, as scoring needs it.
#[derive(Debug, Clone)]
pub struct TestSet {
    pub task: Task,
    pub columns: Columns,
    pub cases: Vec<Case>,
    /// File names in the release of the images that are scored, in order.
    pub ids: Vec<String>,
    /// How many of them count on the public leaderboard.
    pub public_cases: usize,
}

impl TestSet {
    /// A submission's file: the header and one row per test image with no value filled in
    /// (a template, not a valid submission).
    pub fn sample_csv(&self) -> String {
        let header = self
            .columns
            .headers()
            .into_iter()
            .next()
            .unwrap_or_default();
        let blanks = header.matches(',').count();
        let mut out = format!("{header}\n");
        for id in &self.ids {
            out.push_str(id);
            out.push_str(&",".repeat(blanks));
            out.push('\n');
        }
        out
    }
}

/// The task a challenge names, or the server's error (challenges are only ever made with a
/// known task).
pub fn task_of(challenge: &Challenge) -> Result<Task, WebError> {
    Task::parse(&challenge.task).ok_or_else(|| {
        WebError::Internal(format!(
            "challenge {} has an unknown task {:?}",
            challenge.id, challenge.task
        ))
    })
}

pub async fn test_set(platform: &Platform, challenge: &Challenge) -> Result<TestSet, WebError> {
    let task = task_of(challenge)?;
    let classes: Vec<String> = task.classes().iter().map(|c| (*c).to_owned()).collect();
    let positive = classes.len() - 1;
    let columns = Columns::new(classes, positive)
        .map_err(|e| WebError::Internal(format!("challenge {}: {e}", challenge.id)))?;
    let cases: Vec<Case> = platform
        .challenge_cases(challenge)
        .await?
        .into_iter()
        .filter_map(|c| {
            Some(Case {
                class: task.class_of(&c.finding)?,
                id: c.file,
                patient: c.patient,
                source: c.source,
            })
        })
        .collect();
    let ids = cases.iter().map(|c| c.id.clone()).collect();
    let public_cases = parts(&challenge.id, &cases).public.len();
    Ok(TestSet {
        task,
        columns,
        cases,
        ids,
        public_cases,
    })
}

/// Scores on both parts of the test set.
#[derive(Debug, Clone)]
pub struct Scored {
    pub public: Scores,
    pub private: Scores,
}

/// Checks a CSV strictly and scores it against the hidden truth: the participant's
/// problems inside, the server's outside.
pub fn score_csv(
    challenge: &Challenge,
    set: &TestSet,
    csv: &[u8],
) -> Result<Result<Scored, SubmissionError>, WebError> {
    let ids: Vec<&str> = set.ids.iter().map(String::as_str).collect();
    let predictions = match parse(csv, &set.columns, &ids) {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    let split = parts(&challenge.id, &set.cases);
    let positive = set.columns.positive();
    // The bootstrap's seed is the challenge's, so a score recomputed later is the same.
    let digest = Sha256::digest(challenge.id.as_bytes());
    let mut seed = [0u8; 8];
    seed.copy_from_slice(&digest[..8]);
    let seed = u64::from_le_bytes(seed);
    // A parsed submission has a probability in [0, 1] for every case, so scoring cannot
    // fail; if it ever did, that is the server's fault.
    let of = |part: &[Case]| {
        score(
            part,
            positive,
            challenge.threshold,
            |id| predictions.probability(id),
            seed,
        )
        .map_err(|e| WebError::Internal(format!("a parsed submission did not score: {e}")))
    };
    Ok(Ok(Scored {
        public: of(&split.public)?,
        private: of(&split.private)?,
    }))
}

/// Why a submission was not recorded, in words for the person who sent it.
#[derive(Debug)]
pub enum NotRecorded {
    Invalid(SubmissionError),
    Refused(Refusal),
}

/// Validates, scores and records one submission: the one path every route takes.
pub async fn submit(
    platform: &Platform,
    challenge: &Challenge,
    account_id: &str,
    csv: &[u8],
    note: &str,
    baseline: bool,
    now: i64,
) -> Result<Result<Submission, NotRecorded>, WebError> {
    // The cheap refusals first: a participant over the limit learns it without waiting
    // for a score.
    if let Some(refusal) = platform
        .submission_refusal(challenge, account_id, baseline, now)
        .await?
    {
        return Ok(Err(NotRecorded::Refused(refusal)));
    }
    let set = test_set(platform, challenge).await?;
    let scored = match score_csv(challenge, &set, csv)? {
        Ok(s) => s,
        Err(e) => return Ok(Err(NotRecorded::Invalid(e))),
    };
    let json = |s: &Scores| {
        serde_json::to_string(s).map_err(|e| WebError::Internal(format!("scores: {e}")))
    };
    let new = NewSubmission {
        challenge_id: challenge.id.clone(),
        account_id: account_id.to_owned(),
        file_sha256: Sha256::digest(csv)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        public_scores: json(&scored.public)?,
        private_scores: json(&scored.private)?,
        baseline,
        note: note.chars().take(200).collect(),
    };
    Ok(platform
        .add_submission(&new, now)
        .await?
        .map_err(NotRecorded::Refused))
}

/// A submission's scores on one part, read back.
pub fn scores_of(json: &str) -> Option<Scores> {
    serde_json::from_str(json).ok()
}

/// One row of a leaderboard.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Standing {
    pub rank: usize,
    pub participant: String,
    pub baseline: bool,
    pub submission_id: String,
    pub at: i64,
    /// How many submissions the participant made in all.
    pub submissions: usize,
    pub scores: Scores,
}

/// What the boards rank by; an undefined AUC ranks last.
fn headline(s: &Scores) -> f64 {
    s.headline().unwrap_or(f64::NEG_INFINITY)
}

fn better(a: &Scores, b: &Scores) -> bool {
    headline(a) > headline(b)
}

fn ranked(mut rows: Vec<Standing>) -> Vec<Standing> {
    rows.sort_by(|a, b| {
        headline(&b.scores)
            .total_cmp(&headline(&a.scores))
            .then(a.at.cmp(&b.at))
    });
    for (i, row) in rows.iter_mut().enumerate() {
        row.rank = i + 1;
    }
    rows
}

fn by_participant(submissions: &[Submission]) -> BTreeMap<&str, Vec<&Submission>> {
    let mut out: BTreeMap<&str, Vec<&Submission>> = BTreeMap::new();
    for s in submissions {
        out.entry(s.account_id.as_str()).or_default().push(s);
    }
    out
}

/// The best of `candidates` by `scores` (the earlier on a tie), as a leaderboard row.
fn best_of<'a>(
    candidates: impl IntoIterator<Item = &'a Submission>,
    scores: impl Fn(&Submission) -> Option<Scores>,
    entries: usize,
) -> Option<Standing> {
    let mut best: Option<(&Submission, Scores)> = None;
    for s in candidates {
        let Some(these) = scores(s) else { continue };
        if best.as_ref().is_none_or(|(_, b)| better(&these, b)) {
            best = Some((s, these));
        }
    }
    best.map(|(s, scores)| Standing {
        rank: 0,
        participant: s.participant.clone(),
        baseline: s.baseline,
        submission_id: s.id.clone(),
        at: s.at,
        submissions: entries,
        scores,
    })
}

fn public_of(s: &Submission) -> Option<Scores> {
    scores_of(&s.public_scores)
}

fn private_of(s: &Submission) -> Option<Scores> {
    s.private_scores.as_deref().and_then(scores_of)
}

/// Each participant's best submission on the public part (the earlier one on a tie).
pub fn public_leaderboard(submissions: &[Submission]) -> Vec<Standing> {
    ranked(
        by_participant(submissions)
            .values()
            .filter_map(|list| best_of(list.iter().copied(), public_of, list.len()))
            .collect(),
    )
}

/// The private leaderboard, or `None` while any private score is held back (before the
/// close, the store returns none).
pub fn private_leaderboard(submissions: &[Submission]) -> Option<Vec<Standing>> {
    if submissions.iter().any(|s| s.private_scores.is_none()) {
        return None;
    }
    let mut rows = Vec::new();
    for list in by_participant(submissions).values() {
        let mut candidates: Vec<&Submission> =
            list.iter().copied().filter(|s| s.final_pick).collect();
        if candidates.is_empty() {
            // Their best public submissions stand in, best first (earlier on a tie).
            let mut by_public = list.clone();
            by_public.sort_by(|a, b| {
                let key =
                    |s: &Submission| public_of(s).as_ref().map_or(f64::NEG_INFINITY, headline);
                key(b).total_cmp(&key(a)).then(a.at.cmp(&b.at))
            });
            candidates = by_public.into_iter().take(FINAL_PICKS as usize).collect();
        }
        rows.extend(best_of(candidates, private_of, list.len()));
    }
    Some(ranked(rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(auc: f64) -> String {
        serde_json::to_string(&Scores {
            cases: 10,
            positives: 5,
            patients: 10,
            auc: Some(auc),
            auc_interval: None,
            sensitivity_at_95_specificity: None,
            specificity_at_95_sensitivity: None,
            threshold: 0.5,
            f1: None,
            sources: Vec::new(),
        })
        .unwrap_or_default()
    }

    fn sub(who: &str, at: i64, public: f64, private: Option<f64>, pick: bool) -> Submission {
        Submission {
            id: format!("{who}-{at}"),
            challenge_id: "c".into(),
            account_id: who.into(),
            participant: who.into(),
            at,
            file_sha256: String::new(),
            public_scores: scores(public),
            private_scores: private.map(scores),
            final_pick: pick,
            baseline: false,
            note: String::new(),
            writeup: String::new(),
            links: "[]".into(),
        }
    }

    #[test]
    fn the_public_board_ranks_each_participants_best_and_the_earlier_on_a_tie() {
        let board = public_leaderboard(&[
            sub("ann", 1, 0.70, None, false),
            sub("ann", 2, 0.90, None, false),
            sub("bob", 3, 0.80, None, false),
            sub("bob", 4, 0.80, None, false),
        ]);
        let rows: Vec<(&str, &str, usize, usize)> = board
            .iter()
            .map(|r| {
                (
                    r.participant.as_str(),
                    r.submission_id.as_str(),
                    r.rank,
                    r.submissions,
                )
            })
            .collect();
        assert_eq!(rows, [("ann", "ann-2", 1, 2), ("bob", "bob-3", 2, 2)]);
    }

    #[test]
    fn the_private_board_waits_for_the_close_and_ranks_final_picks() {
        assert!(private_leaderboard(&[sub("ann", 1, 0.9, None, false)]).is_none());
        let board = private_leaderboard(&[
            // Ann picked her public worst, which is her private best.
            sub("ann", 1, 0.95, Some(0.60), false),
            sub("ann", 2, 0.70, Some(0.85), true),
            // Bob picked nothing: his two best public ones stand in, not his third.
            sub("bob", 3, 0.90, Some(0.70), false),
            sub("bob", 4, 0.88, Some(0.80), false),
            sub("bob", 5, 0.50, Some(0.99), false),
        ])
        .expect("after the close");
        let rows: Vec<(&str, &str, usize)> = board
            .iter()
            .map(|r| (r.participant.as_str(), r.submission_id.as_str(), r.rank))
            .collect();
        assert_eq!(rows, [("ann", "ann-2", 1), ("bob", "bob-4", 2)]);
        assert_eq!(board[0].scores.auc, Some(0.85));
    }
}
