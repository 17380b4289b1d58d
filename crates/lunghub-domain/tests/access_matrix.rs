//! Walks the whole matrix of actor × site × action through the one authorization function
//! and checks every cell against a table written out by hand.

use lunghub_domain::access::{Action, Actor, may};
use lunghub_domain::people::AccountRole;

/// Columns: anonymous, admin, coordinator, reviewer, uploader bound to site A, data
/// scientist, member, member who signed up as a clinician. Rows: each action on site A,
/// then on site B (the same row twice for actions that touch no site).
const TABLE: &str = "
    view-public              A  Y Y Y Y Y Y Y Y
    view-public              B  Y Y Y Y Y Y Y Y
    join-track               A  . Y Y Y Y Y Y Y
    join-track               B  . Y Y Y Y Y Y Y
    manage-institutes        A  . Y Y . . . . .
    manage-institutes        B  . Y Y . . . . .
    view-institute-documents A  . Y Y . . . . .
    view-institute-documents B  . Y Y . . . . .
    upload-images            A  . Y . . Y . . .
    upload-images            B  . Y . . . . . .
    view-site-images         A  . Y Y Y Y . . .
    view-site-images         B  . Y Y Y . . . .
    review-images            A  . Y . Y . . . .
    review-images            B  . Y . Y . . . .
    create-releases          A  . Y Y . . . . .
    create-releases          B  . Y Y . . . . .
    manage-accounts          A  . Y . . . . . .
    manage-accounts          B  . Y . . . . . .
    read-outbox              A  . Y . . . . . .
    read-outbox              B  . Y . . . . . .
    try-model                A  . Y . Y . . . Y
    try-model                B  . Y . Y . . . Y
    submit-predictions       A  . Y Y Y Y Y Y Y
    submit-predictions       B  . Y Y Y Y Y Y Y
";

fn action<'a>(name: &str, site: &'a str) -> Action<'a> {
    match name {
        "view-public" => Action::ViewPublic,
        "join-track" => Action::JoinTrack,
        "manage-institutes" => Action::ManageInstitutes,
        "view-institute-documents" => Action::ViewInstituteDocuments,
        "upload-images" => Action::UploadImages { site },
        "view-site-images" => Action::ViewSiteImages { site },
        "review-images" => Action::ReviewImages { site },
        "create-releases" => Action::CreateReleases,
        "manage-accounts" => Action::ManageAccounts,
        "read-outbox" => Action::ReadOutbox,
        "try-model" => Action::TryModel,
        "submit-predictions" => Action::SubmitPredictions,
        other => panic!("unknown action {other} in the table"),
    }
}

#[test]
fn every_cell_of_role_by_site_by_action_is_as_written() {
    let actors: Vec<Option<Actor>> = std::iter::once(None)
        .chain(
            [
                AccountRole::Admin,
                AccountRole::Coordinator,
                AccountRole::Reviewer,
                AccountRole::Uploader,
                AccountRole::DataScientist,
                AccountRole::Member,
            ]
            .map(|role| {
                Some(Actor {
                    role,
                    site: (role == AccountRole::Uploader).then(|| "site-a".to_owned()),
                    medical: false,
                })
            }),
        )
        .chain(std::iter::once(Some(Actor {
            role: AccountRole::Member,
            site: None,
            medical: true,
        })))
        .collect();
    let mut cells = 0;
    let mut wrong = Vec::new();
    for line in TABLE.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let site = match words[1] {
            "A" => "site-a",
            "B" => "site-b",
            other => panic!("unknown site {other}"),
        };
        assert_eq!(words.len(), 2 + actors.len(), "row {line}");
        for (actor, expected) in actors.iter().zip(&words[2..]) {
            let got = may(actor.as_ref(), action(words[0], site));
            if got != (*expected == "Y") {
                wrong.push(format!(
                    "{actor:?} {} on {site}: expected {expected}, got {got}",
                    words[0]
                ));
            }
            cells += 1;
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    // 12 actions x 2 sites x 8 actors: no cell is left out of the table.
    assert_eq!(cells, 12 * 2 * 8);
}

#[test]
fn an_uploader_without_a_site_may_upload_nowhere() {
    let lost = Actor {
        role: AccountRole::Uploader,
        site: None,
        medical: false,
    };
    assert!(!may(Some(&lost), Action::UploadImages { site: "site-a" }));
    assert!(!may(Some(&lost), Action::ViewSiteImages { site: "" }));
}
