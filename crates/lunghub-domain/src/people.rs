//! Who takes part: the roles people sign up with, the questions each role is asked, and
//! the account roles that decide what a signed-in person may do.

/// What someone signs up as, on the public "How you can help" page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignupRole {
    FrontlineDoctor,
    MedicalPersonnel,
    DataScientist,
    TechnologyCompany,
    Developer,
    CommunicationSpecialist,
    Interested,
}

/// One question on a sign-up form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Question {
    pub key: &'static str,
    pub label: &'static str,
    pub required: bool,
    /// Longest answer accepted, in characters.
    pub max_chars: usize,
}

const fn ask(key: &'static str, label: &'static str, required: bool, max_chars: usize) -> Question {
    Question {
        key,
        label,
        required,
        max_chars,
    }
}

const INSTITUTION: Question = ask("institution", "Hospital or institution", true, 200);
const LOCATION: Question = ask("location", "City and country", true, 120);

impl SignupRole {
    pub const ALL: [SignupRole; 7] = [
        SignupRole::FrontlineDoctor,
        SignupRole::MedicalPersonnel,
        SignupRole::DataScientist,
        SignupRole::TechnologyCompany,
        SignupRole::Developer,
        SignupRole::CommunicationSpecialist,
        SignupRole::Interested,
    ];

    pub fn key(self) -> &'static str {
        match self {
            SignupRole::FrontlineDoctor => "frontline-doctor",
            SignupRole::MedicalPersonnel => "medical-personnel",
            SignupRole::DataScientist => "data-scientist",
            SignupRole::TechnologyCompany => "technology-company",
            SignupRole::Developer => "developer",
            SignupRole::CommunicationSpecialist => "communication-specialist",
            SignupRole::Interested => "interested",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SignupRole::FrontlineDoctor => "Frontline doctor",
            SignupRole::MedicalPersonnel => "Doctor or medical personnel",
            SignupRole::DataScientist => "Data scientist",
            SignupRole::TechnologyCompany => "Technology company",
            SignupRole::Developer => "Developer",
            SignupRole::CommunicationSpecialist => "Communication or media specialist",
            SignupRole::Interested => "Just interested",
        }
    }

    /// What the role brings, for the "How you can help" page.
    pub fn pitch(self) -> &'static str {
        match self {
            SignupRole::FrontlineDoctor => {
                "Tell us what you see on the wards, point us to the images that matter, and help your hospital share de-identified X-rays and ultrasound."
            }
            SignupRole::MedicalPersonnel => {
                "Review and label images, check that models make clinical sense, and help write the protocols our hospitals follow."
            }
            SignupRole::DataScientist => {
                "Work on the open datasets, join a working track, and compare models on sequestered test sets."
            }
            SignupRole::TechnologyCompany => {
                "Offer compute, storage, tools or engineering time, and be listed among our partners if you wish."
            }
            SignupRole::Developer => {
                "Build the platform with us: intake, de-identification, the web site and the model pipeline."
            }
            SignupRole::CommunicationSpecialist => {
                "Help us explain the work to hospitals, volunteers and the public, in more languages."
            }
            SignupRole::Interested => {
                "Get our updates by email. Unsubscribe with one click at any time."
            }
        }
    }

    pub fn parse(key: &str) -> Option<SignupRole> {
        SignupRole::ALL.into_iter().find(|r| r.key() == key)
    }

    /// The questions this role is asked beyond name and email: only what the group needs
    /// to work with someone in that role.
    pub fn questions(self) -> &'static [Question] {
        const FRONTLINE: &[Question] = &[
            INSTITUTION,
            LOCATION,
            ask("specialty", "Specialty", false, 120),
        ];
        const MEDICAL: &[Question] = &[
            INSTITUTION,
            LOCATION,
            ask(
                "profession",
                "Profession (radiologist, nurse, …)",
                true,
                120,
            ),
        ];
        const SCIENTIST: &[Question] = &[
            ask("affiliation", "Affiliation", false, 200),
            ask("profile", "Link to your work (GitHub, Scholar)", false, 300),
        ];
        const COMPANY: &[Question] = &[
            ask("company", "Company", true, 200),
            ask("website", "Website", false, 300),
            ask("offer", "What you can offer", true, 2000),
        ];
        const DEVELOPER: &[Question] = &[
            ask("skills", "Languages and skills", true, 300),
            ask("profile", "GitHub or similar", false, 300),
        ];
        const COMMUNICATION: &[Question] = &[
            ask("organisation", "Organisation or outlet", false, 200),
            ask("languages", "Languages you work in", true, 200),
        ];
        match self {
            SignupRole::FrontlineDoctor => FRONTLINE,
            SignupRole::MedicalPersonnel => MEDICAL,
            SignupRole::DataScientist => SCIENTIST,
            SignupRole::TechnologyCompany => COMPANY,
            SignupRole::Developer => DEVELOPER,
            SignupRole::CommunicationSpecialist => COMMUNICATION,
            SignupRole::Interested => &[],
        }
    }

    /// Whether signing up makes an account (with a password) or only a subscription.
    pub fn makes_account(self) -> bool {
        self != SignupRole::Interested
    }

    /// The account role a new sign-up starts with. Reviewing images and coordinating are
    /// granted by an admin, never taken by signing up.
    pub fn account_role(self) -> AccountRole {
        match self {
            SignupRole::DataScientist => AccountRole::DataScientist,
            _ => AccountRole::Member,
        }
    }

    /// Clinicians: they may try the diagnostic model.
    pub fn is_medical(self) -> bool {
        matches!(
            self,
            SignupRole::FrontlineDoctor | SignupRole::MedicalPersonnel
        )
    }

    /// Whether people of this role may appear on the partners page (companies) rather
    /// than among contributors.
    pub fn is_partner(self) -> bool {
        self == SignupRole::TechnologyCompany
    }
}

/// What a signed-in account may do is decided by its role (and, for uploaders, its site).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountRole {
    Admin,
    Coordinator,
    /// A medical reviewer of images and labels.
    Reviewer,
    /// A hospital's uploader, bound to one site.
    Uploader,
    DataScientist,
    Member,
}

impl AccountRole {
    pub const ALL: [AccountRole; 6] = [
        AccountRole::Admin,
        AccountRole::Coordinator,
        AccountRole::Reviewer,
        AccountRole::Uploader,
        AccountRole::DataScientist,
        AccountRole::Member,
    ];

    pub fn key(self) -> &'static str {
        match self {
            AccountRole::Admin => "admin",
            AccountRole::Coordinator => "coordinator",
            AccountRole::Reviewer => "reviewer",
            AccountRole::Uploader => "uploader",
            AccountRole::DataScientist => "data-scientist",
            AccountRole::Member => "member",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            AccountRole::Admin => "Admin",
            AccountRole::Coordinator => "Coordinator",
            AccountRole::Reviewer => "Medical reviewer",
            AccountRole::Uploader => "Hospital uploader",
            AccountRole::DataScientist => "Data scientist",
            AccountRole::Member => "Member",
        }
    }

    pub fn parse(key: &str) -> Option<AccountRole> {
        AccountRole::ALL.into_iter().find(|r| r.key() == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_round_trips_and_asks_few_questions() {
        for role in SignupRole::ALL {
            assert_eq!(SignupRole::parse(role.key()), Some(role));
            assert!(role.questions().len() <= 3, "{role:?} asks too much");
        }
        for role in AccountRole::ALL {
            assert_eq!(AccountRole::parse(role.key()), Some(role));
        }
        assert_eq!(
            SignupRole::DataScientist.account_role(),
            AccountRole::DataScientist
        );
        assert_eq!(
            SignupRole::FrontlineDoctor.account_role(),
            AccountRole::Member
        );
        assert!(!SignupRole::Interested.makes_account());
    }
}
