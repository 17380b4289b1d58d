//! How a hospital comes on board: seven stages, defined once, with the moves allowed
//! between them.

use std::fmt;

/// The stages of hospital onboarding, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    FirstContact,
    IntroductoryCall,
    DataRequestSent,
    EthicsApproval,
    WaitingForData,
    DataReceived,
    DatasetAvailable,
}

/// A requested move from one stage to another, as a coordinator asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// To the next stage.
    Forward,
    /// From project description sent straight to waiting for data, because this
    /// institute's ethical committee does not need to approve.
    SkipEthics,
    /// One stage back, which needs a reason.
    Back,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("{0} is the last stage: there is no stage after it")]
    AtLastStage(Stage),
    #[error("{0} is the first stage: there is no stage before it")]
    AtFirstStage(Stage),
    #[error("ethics approval can only be skipped from \"{skip_from}\", not from \"{0}\"", skip_from = Stage::DataRequestSent)]
    CannotSkipEthicsFrom(Stage),
    #[error("going back a stage needs a reason")]
    BackNeedsReason,
    #[error("unknown stage {0:?}")]
    UnknownStage(String),
    #[error("unknown move {0:?}: use forward, back or skip-ethics")]
    UnknownMove(String),
}

impl Stage {
    pub const ALL: [Stage; 7] = [
        Stage::FirstContact,
        Stage::IntroductoryCall,
        Stage::DataRequestSent,
        Stage::EthicsApproval,
        Stage::WaitingForData,
        Stage::DataReceived,
        Stage::DatasetAvailable,
    ];

    /// The stable key stored in the database and used in URLs and JSON.
    pub fn key(self) -> &'static str {
        match self {
            Stage::FirstContact => "first-contact",
            Stage::IntroductoryCall => "introductory-call",
            Stage::DataRequestSent => "data-request-sent",
            Stage::EthicsApproval => "ethics-approval",
            Stage::WaitingForData => "waiting-for-data",
            Stage::DataReceived => "data-received",
            Stage::DatasetAvailable => "dataset-available",
        }
    }

    /// The words shown in the public table.
    pub fn label(self) -> &'static str {
        match self {
            Stage::FirstContact => "First contact",
            Stage::IntroductoryCall => "Introductory call",
            Stage::DataRequestSent => "Project description and data request sent",
            Stage::EthicsApproval => "Ethical committee approval",
            Stage::WaitingForData => "Waiting for data",
            Stage::DataReceived => "Data received",
            Stage::DatasetAvailable => "Dataset available",
        }
    }

    /// 1 to 7.
    pub fn number(self) -> usize {
        Stage::ALL
            .iter()
            .position(|s| *s == self)
            .map_or(0, |i| i + 1)
    }

    pub fn parse(key: &str) -> Result<Stage, TransitionError> {
        Stage::ALL
            .into_iter()
            .find(|s| s.key() == key || s.label().eq_ignore_ascii_case(key))
            .ok_or_else(|| TransitionError::UnknownStage(key.to_owned()))
    }

    /// Whether an institute at this stage may send data: past ethical committee approval,
    /// or past the request when the approval was skipped as not needed.
    pub fn accepts_data(self) -> bool {
        self.number() >= Stage::WaitingForData.number()
    }

    fn next(self) -> Option<Stage> {
        Stage::ALL.get(self.number()).copied()
    }

    fn previous(self) -> Option<Stage> {
        self.number()
            .checked_sub(2)
            .and_then(|i| Stage::ALL.get(i).copied())
    }

    /// Where `mv` leads from this stage. Ethics approval is a stage like any other unless
    /// the coordinator skips it, so an institute that needs approval cannot reach
    /// "waiting for data" without passing through it.
    pub fn apply(self, mv: Move, reason: &str) -> Result<Stage, TransitionError> {
        match mv {
            Move::Forward => self.next().ok_or(TransitionError::AtLastStage(self)),
            Move::SkipEthics if self == Stage::DataRequestSent => Ok(Stage::WaitingForData),
            Move::SkipEthics => Err(TransitionError::CannotSkipEthicsFrom(self)),
            Move::Back if reason.trim().is_empty() => Err(TransitionError::BackNeedsReason),
            Move::Back => self.previous().ok_or(TransitionError::AtFirstStage(self)),
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl Move {
    pub fn parse(s: &str) -> Result<Move, TransitionError> {
        match s {
            "forward" => Ok(Move::Forward),
            "back" => Ok(Move::Back),
            "skip-ethics" => Ok(Move::SkipEthics),
            other => Err(TransitionError::UnknownMove(other.to_owned())),
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Move::Forward => "forward",
            Move::Back => "back",
            Move::SkipEthics => "skip-ethics",
        }
    }
}

/// The kinds of data an institute can be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RequestedData {
    XrayHealthy,
    XrayPneumonia,
    XrayCovid,
    UltrasoundLung,
    UltrasoundCardiac,
}

impl RequestedData {
    pub const ALL: [RequestedData; 5] = [
        RequestedData::XrayHealthy,
        RequestedData::XrayPneumonia,
        RequestedData::XrayCovid,
        RequestedData::UltrasoundLung,
        RequestedData::UltrasoundCardiac,
    ];

    pub fn key(self) -> &'static str {
        match self {
            RequestedData::XrayHealthy => "xray-healthy",
            RequestedData::XrayPneumonia => "xray-pneumonia",
            RequestedData::XrayCovid => "xray-covid",
            RequestedData::UltrasoundLung => "ultrasound-lung",
            RequestedData::UltrasoundCardiac => "ultrasound-cardiac",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            RequestedData::XrayHealthy => "X-ray healthy",
            RequestedData::XrayPneumonia => "X-ray pneumonia",
            RequestedData::XrayCovid => "X-ray COVID-19",
            RequestedData::UltrasoundLung => "Ultrasound lung",
            RequestedData::UltrasoundCardiac => "Ultrasound cardiac",
        }
    }

    pub fn parse(key: &str) -> Option<RequestedData> {
        RequestedData::ALL.into_iter().find(|r| r.key() == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_walks_all_seven_stages_in_order() {
        let mut stage = Stage::FirstContact;
        let mut seen = vec![stage];
        while let Ok(next) = stage.apply(Move::Forward, "") {
            stage = next;
            seen.push(stage);
        }
        assert_eq!(seen, Stage::ALL);
        assert_eq!(
            stage.apply(Move::Forward, ""),
            Err(TransitionError::AtLastStage(Stage::DatasetAvailable))
        );
    }

    #[test]
    fn back_is_one_step_and_needs_a_reason() {
        assert_eq!(
            Stage::DataReceived.apply(Move::Back, "wrong files"),
            Ok(Stage::WaitingForData)
        );
        assert_eq!(
            Stage::DataReceived.apply(Move::Back, "  "),
            Err(TransitionError::BackNeedsReason)
        );
        assert_eq!(
            Stage::FirstContact.apply(Move::Back, "x"),
            Err(TransitionError::AtFirstStage(Stage::FirstContact))
        );
    }

    #[test]
    fn ethics_can_be_skipped_only_right_before_it() {
        assert_eq!(
            Stage::DataRequestSent.apply(Move::SkipEthics, ""),
            Ok(Stage::WaitingForData)
        );
        for stage in Stage::ALL
            .into_iter()
            .filter(|s| *s != Stage::DataRequestSent)
        {
            assert_eq!(
                stage.apply(Move::SkipEthics, ""),
                Err(TransitionError::CannotSkipEthicsFrom(stage))
            );
        }
    }

    #[test]
    fn keys_and_labels_round_trip() {
        for stage in Stage::ALL {
            assert_eq!(Stage::parse(stage.key()), Ok(stage));
            assert_eq!(Stage::parse(stage.label()), Ok(stage));
        }
        assert!(Stage::parse("launched").is_err());
        assert!(Move::parse("sideways").is_err());
        for r in RequestedData::ALL {
            assert_eq!(RequestedData::parse(r.key()), Some(r));
        }
    }
}
