//! Where the SCP hands each complete data set: the server's intake, or the hospital
//! gateway's outbox. The association logic (negotiation, limits, statuses) is the same for
//! both, so a PACS sees one behaviour whichever it sends to.

use std::future::Future;
use std::pin::Pin;

use lunghub_intake::{Acceptance, Arrival, FileOutcome, IntakeService, Metadata, Origin};

/// What became of one data set, which the SCP turns into the C-STORE status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Taken (stored, queued or a duplicate): status 0000.
    Taken,
    /// Refused by de-identification: C001 with the reason.
    Quarantined(String),
    /// Not readable as what it claims to be: C000 with the reason.
    Unreadable(String),
    /// Could not be taken now (worth retrying): A700; the reason is logged, not sent.
    Failed(String),
}

pub type Pending<'a> = Pin<Box<dyn Future<Output = Verdict> + Send + 'a>>;

pub trait Sink: Send + Sync + 'static {
    /// Takes one file (a File Meta Information group and the data set as received) of
    /// site `site_id`, sent as `sop_instance`, and answers once it is durably taken or
    /// refused.
    fn store<'a>(&'a self, site_id: &'a str, sop_instance: &'a str, file: Vec<u8>) -> Pending<'a>;

    /// For the log line at the end of each association: how much is still waiting.
    fn backlog_note(&self) -> String;

    /// Asked once per association: `None` if site `site_id` may send now, otherwise why not
    /// (every C-STORE of the association is then refused with that reason).
    fn admission<'a>(
        &'a self,
        site_id: &'a str,
    ) -> Pin<Box<dyn Future<Output = Option<String>> + Send + 'a>>;
}

impl Sink for IntakeService {
    fn store<'a>(&'a self, site_id: &'a str, sop_instance: &'a str, file: Vec<u8>) -> Pending<'a> {
        Box::pin(async move {
            let arrival = Arrival {
                origin: Origin {
                    site_id: site_id.to_owned(),
                    route: "c-store".into(),
                },
                label: sop_instance.to_owned(),
                bytes: file,
                metadata: Metadata::default(),
            };
            match self.accept(arrival).await {
                Ok(Acceptance::Spooled)
                | Ok(Acceptance::Done(FileOutcome::New { .. }))
                | Ok(Acceptance::Done(FileOutcome::Duplicate { .. }))
                | Ok(Acceptance::Done(FileOutcome::NearDuplicate { .. })) => Verdict::Taken,
                Ok(Acceptance::Done(FileOutcome::Quarantined(why))) => {
                    Verdict::Quarantined(why.detail)
                }
                Ok(Acceptance::Done(FileOutcome::Unreadable(why))) => {
                    Verdict::Unreadable(why.detail)
                }
                Err(e) => Verdict::Failed(e.to_string()),
            }
        })
    }

    fn backlog_note(&self) -> String {
        format!("{} files waiting to be catalogued", self.backlog())
    }

    fn admission<'a>(
        &'a self,
        site_id: &'a str,
    ) -> Pin<Box<dyn Future<Output = Option<String>> + Send + 'a>> {
        Box::pin(async move {
            match self.intake().catalog.admission(site_id).await {
                Ok(lunghub_store::Admission::Open) => None,
                Ok(lunghub_store::Admission::Closed(why)) => Some(format!("not yet: {why}")),
                Err(e) => Some(format!("cannot check the site's onboarding stage now: {e}")),
            }
        })
    }
}
