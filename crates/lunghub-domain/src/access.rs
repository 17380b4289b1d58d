//! The one place that decides who may do what to which site's data. Every handler of the
//! web platform asks [`may`]; nothing else grants access.

use crate::people::AccountRole;

/// A signed-in, confirmed account as far as access is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub role: AccountRole,
    /// The one site an uploader is bound to; ignored for other roles.
    pub site: Option<String>,
    /// Signed up as a frontline doctor or as medical personnel: may try the diagnostic
    /// model, which is decision support for clinicians, not a public toy.
    pub medical: bool,
}

/// Things one can ask to do. Those that touch a site's (non-public) data name the site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    /// Public pages, the status table, released datasets.
    ViewPublic,
    /// Join a working track or offer to coordinate it.
    JoinTrack,
    /// The coordinator pages: institutes, stages, contacts, letters, the stalled view.
    ManageInstitutes,
    /// Ethics approvals and signed forms of institutes.
    ViewInstituteDocuments,
    /// Send images for a site (web upload, DICOMweb, C-STORE).
    UploadImages { site: &'a str },
    /// See a site's de-identified images before they are released.
    ViewSiteImages { site: &'a str },
    /// Review a site's images and labels.
    ReviewImages { site: &'a str },
    /// Freeze approved images into a versioned open dataset.
    CreateReleases,
    /// Grant roles, bind uploaders to sites.
    ManageAccounts,
    /// Read the outbox of emails that were not sent by SMTP.
    ReadOutbox,
    /// Write, preview and publish news posts (mailed to the subscribers).
    PublishNews,
    /// Score one's own image with the diagnostic model ("Try the model", its JSON API).
    TryModel,
    /// Submit predictions to a challenge, pick final submissions, attach results posts,
    /// hold personal API tokens: any confirmed account (the "verified accounts").
    SubmitPredictions,
}

impl Action<'_> {
    /// The site the action touches, if any.
    pub fn site(&self) -> Option<&str> {
        match self {
            Action::UploadImages { site }
            | Action::ViewSiteImages { site }
            | Action::ReviewImages { site } => Some(site),
            _ => None,
        }
    }
}

/// Whether `actor` (None: an anonymous visitor) may do `action`.
///
/// Uploaders are the only role bound to a site: everything they may do touches their own
/// site only. Coordinators run onboarding but do not review images; reviewers review any
/// site's images but run nothing; the admin may do everything.
pub fn may(actor: Option<&Actor>, action: Action<'_>) -> bool {
    use AccountRole::*;
    let Some(actor) = actor else {
        return action == Action::ViewPublic;
    };
    let own_site = |site: &str| actor.site.as_deref() == Some(site);
    match (actor.role, action) {
        (_, Action::ViewPublic | Action::JoinTrack | Action::SubmitPredictions) => true,
        (Admin, _) => true,
        (
            Coordinator,
            Action::ManageInstitutes
            | Action::ViewInstituteDocuments
            | Action::CreateReleases
            | Action::PublishNews
            | Action::ViewSiteImages { .. },
        ) => true,
        (Reviewer, Action::ViewSiteImages { .. } | Action::ReviewImages { .. }) => true,
        // Medical reviewers read images for a living; other accounts only if they signed up
        // as clinicians.
        (Reviewer, Action::TryModel) => true,
        (_, Action::TryModel) => actor.medical,
        (Uploader, Action::UploadImages { site } | Action::ViewSiteImages { site }) => {
            own_site(site)
        }
        _ => false,
    }
}
