//! How reviewers' reads settle an item: the one place where "releasable" is decided.
//!
//! - A site with single reads: one read decides (the latest, if a reviewer revises it).
//! - A site that asks for two independent reads: two reviewers must read the item. If they
//!   agree (same decision and, when approving, the same finding) that is the decision; if
//!   not, the item shows as a disagreement until a third reviewer reads it, and that
//!   adjudicating read decides.
//! - A reviewer reading again replaces their own earlier read; it never counts twice.

use crate::ReviewState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Reject => "reject",
        }
    }

    pub fn parse(s: &str) -> Option<Decision> {
        match s {
            "approve" => Some(Decision::Approve),
            "reject" => Some(Decision::Reject),
            _ => None,
        }
    }
}

/// One reviewer's latest read of an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub reviewer: String,
    /// When, for ordering: the adjudicating read is the latest.
    pub at: i64,
    pub decision: Decision,
    /// The finding the reviewer approved the item with.
    pub finding: Option<String>,
}

/// The item's state after these reads (one per reviewer); `flagged` keeps an unread item
/// in "needs attention" rather than "pending".
pub fn settle(reads: &[Read], double_read: bool, flagged: bool) -> ReviewState {
    let mut reads: Vec<&Read> = reads.iter().collect();
    reads.sort_by_key(|r| r.at);
    let unread = if flagged {
        ReviewState::NeedsAttention
    } else {
        ReviewState::Pending
    };
    let outcome = |r: &Read| match r.decision {
        Decision::Approve => ReviewState::Approved,
        Decision::Reject => ReviewState::Rejected,
    };
    match (reads.as_slice(), double_read) {
        ([], _) => unread,
        ([first, ..], false) => outcome(reads.last().copied().unwrap_or(first)),
        ([_], true) => unread,
        ([a, b], true) => {
            if agree(a, b) {
                outcome(a)
            } else {
                ReviewState::Disagreement
            }
        }
        ([.., last], true) => outcome(last),
    }
}

/// Whether two reads say the same thing.
pub fn agree(a: &Read, b: &Read) -> bool {
    a.decision == b.decision
        && (a.decision == Decision::Reject || a.finding.as_deref() == b.finding.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(who: &str, at: i64, decision: Decision, finding: Option<&str>) -> Read {
        Read {
            reviewer: who.into(),
            at,
            decision,
            finding: finding.map(str::to_owned),
        }
    }

    const COVID: Option<&str> = Some("Pneumonia/Viral/COVID-19");
    const HEALTHY: Option<&str> = Some("No Finding");

    #[test]
    fn single_read_decides() {
        assert_eq!(settle(&[], false, false), ReviewState::Pending);
        assert_eq!(settle(&[], false, true), ReviewState::NeedsAttention);
        let a = read("a", 1, Decision::Approve, COVID);
        assert_eq!(settle(&[a], false, true), ReviewState::Approved);
        let r = read("a", 1, Decision::Reject, None);
        assert_eq!(settle(&[r], false, false), ReviewState::Rejected);
    }

    #[test]
    fn double_read_needs_two_agreeing_reviewers() {
        let a = read("a", 1, Decision::Approve, COVID);
        assert_eq!(settle(&[a.clone()], true, false), ReviewState::Pending);
        let b = read("b", 2, Decision::Approve, COVID);
        assert_eq!(settle(&[a.clone(), b], true, false), ReviewState::Approved);
        let other_label = read("b", 2, Decision::Approve, HEALTHY);
        assert_eq!(
            settle(&[a.clone(), other_label.clone()], true, false),
            ReviewState::Disagreement
        );
        let reject = read("b", 2, Decision::Reject, None);
        assert_eq!(
            settle(&[a.clone(), reject], true, false),
            ReviewState::Disagreement
        );
        // The third, adjudicating read decides, whichever side it takes.
        let c = read("c", 3, Decision::Approve, HEALTHY);
        assert_eq!(
            settle(&[other_label, c, a], true, false),
            ReviewState::Approved
        );
        let both_reject = [
            read("a", 1, Decision::Reject, None),
            read("b", 2, Decision::Reject, None),
        ];
        assert_eq!(settle(&both_reject, true, false), ReviewState::Rejected);
    }
}
