//! The challenges of lunghub's working tracks: data scientists submit predictions for a
//! release's sequestered test set, and the server scores them against labels it never
//! shows. This crate is the logic of that and nothing else (no I/O, no database, no HTTP),
//! so that the rules are in one place and tested on their own.
//!
//! The decisions, each explained where it is made:
//!
//! - [`submission`]: a strict CSV (`id,probability` for a two-class challenge, or one
//!   column per class in the declared order). Anything ambiguous is refused, with every
//!   problem (up to [`submission::MAX_PROBLEMS`]) named by its line, so that a participant
//!   can fix a file in one go and a score never rests on a guess.
//! - [`split`]: the test set is split into a public part (feedback during the challenge)
//!   and a private part (the final ranking) by patient, from a hash of the challenge's
//!   seed, so that no patient's images are on both sides.
//! - [`score`]: the metrics are declared with the challenge (positive class, threshold,
//!   95% operating points), ranked by ROC AUC with an interval over patients, and reported
//!   per source; they follow scikit-learn's definitions, which the tests check.

pub mod score;
pub mod split;
pub mod submission;

pub use score::{Case, ScoreError, Scores, SourceScores, score};
pub use split::{Parts, parts, public_part};
pub use submission::{Columns, ColumnsError, Predictions, Problem, SubmissionError, parse};
