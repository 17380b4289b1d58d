//! Accounts through the real pages: sign-up with the emailed link, sign-in, the admin's
//! one-time link, roles.

use super::server::{Client, Server};

pub const PASSWORD: &str = "a long enough password";

/// Signs someone up as `role` with extra answers, confirms through the outbox link, and
/// returns a signed-in client.
pub async fn sign_up(
    server: &Server,
    role: &str,
    name: &str,
    email: &str,
    extra: &[(&str, &str)],
) -> Client {
    let c = server.client();
    assert_eq!(c.get(&format!("/join/{role}")).await.status, 200);
    let mut fields = vec![
        ("name", name),
        ("email", email),
        ("password", PASSWORD),
        ("password2", PASSWORD),
    ];
    fields.extend_from_slice(extra);
    let r = c.post(&format!("/join/{role}"), &fields).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Check your email"));
    let link = server.link_in_mail(email, "/confirm/").await;
    assert!(c.get(&link).await.body.contains("Email confirmed"));
    sign_in(&c, email, PASSWORD).await;
    c
}

pub async fn sign_in(c: &Client, email: &str, password: &str) {
    c.get("/signin").await;
    let r = c
        .post(
            "/signin",
            &[
                ("email", email),
                ("password", password),
                ("next", "/account"),
            ],
        )
        .await;
    assert_eq!(
        (r.status, r.location.as_deref()),
        (303, Some("/account")),
        "{}",
        r.body
    );
    let session = r
        .set_cookies
        .iter()
        .find(|c| c.starts_with("lh_session="))
        .expect("a session cookie");
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );
    // As a browser follows the redirect: the new session's page, and its CSRF token (a
    // token is bound to its session, so the sign-in page's is void now).
    c.get("/account").await;
}

/// The admin, signed in with the one-time link printed at first start.
pub async fn admin(server: &Server) -> Client {
    let c = server.client();
    let r = c.get(&server.admin_link).await;
    assert_eq!((r.status, r.location.as_deref()), (303, Some("/account")));
    assert_eq!(
        c.get(&server.admin_link).await.status,
        404,
        "the admin link works only once"
    );
    c
}

/// Sets an account's role (and site) through the admin page.
pub async fn set_role(admin: &Client, email: &str, role: &str, site: &str) {
    let action = admin_form_action(admin, email).await;
    let r = admin.post(&action, &[("role", role), ("site", site)]).await;
    assert_eq!(r.status, 303, "{}", r.body);
}

pub async fn admin_form_action(admin: &Client, email: &str) -> String {
    let page = admin.get("/admin/accounts").await;
    let at = page.body.find(&format!(">{email}<")).expect("listed");
    let rest = &page.body[at..];
    let start = rest.find("action=\"/admin/accounts/").expect("a role form") + 8;
    rest[start..start + rest[start..].find('"').expect("end")].to_owned()
}

/// Issues a token for `site` through the page, as an admin would, and returns it.
pub async fn issue_token(admin: &Client, base: &str, site: &str, label: &str) -> String {
    admin.get("/admin/sites").await;
    let r = admin
        .post(&format!("/admin/sites/{site}/tokens"), &[("label", label)])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("shown only this once"), "{}", r.body);
    assert!(
        r.body.contains(&format!("{base}/dicomweb/studies")),
        "the page gives the STOW-RS address"
    );
    assert!(
        r.body.contains("curl -X POST"),
        "the page gives a curl example"
    );
    let marker = "<code id=\"site-token\">";
    let start = r.body.find(marker).expect("the token") + marker.len();
    let end = start + r.body[start..].find("</code>").expect("end of token");
    let token = r.body[start..end].to_owned();
    assert_eq!(token.len(), 64, "{token}");
    token
}

/// Adds hospital `name` to the onboarding tracker through the coordinators' pages and
/// moves it to `stage`: `ethics-approval` (ethics required, waiting for the committee), or
/// `waiting-for-data` and later (ethics marked not required, so skipped). Returns the
/// institute's id and its site's id.
pub async fn hospital(admin: &Client, name: &str, stage: &str) -> (String, String) {
    let order: Vec<&str> = lunghub_domain::onboarding::Stage::ALL
        .iter()
        .map(|s| s.key())
        .collect();
    let target = order
        .iter()
        .position(|s| *s == stage)
        .unwrap_or_else(|| panic!("unknown stage {stage}"));
    let needs_ethics = stage == "ethics-approval";
    admin.get("/coord/institutes/new").await;
    let mut fields = vec![
        ("name", name),
        ("location", "Milano, Italia"),
        ("requested", "xray-covid"),
    ];
    if !needs_ethics {
        fields.push(("ethics_not_required", "on"));
    }
    let r = admin.post("/coord/institutes/new", &fields).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let path = r.location.expect("the institute's page");
    let id = path.rsplit('/').next().expect("an id").to_owned();
    let mut at = 0;
    while at < target {
        let mv = if order[at] == "data-request-sent" && !needs_ethics {
            "skip-ethics"
        } else {
            "forward"
        };
        let r = admin
            .post(
                &format!("{path}/stage"),
                &[("move", mv), ("expected", order[at]), ("note", "")],
            )
            .await;
        assert_eq!(r.status, 303, "{mv} from {}: {}", order[at], r.body);
        at = if mv == "skip-ethics" { at + 2 } else { at + 1 };
    }
    let page = admin.get("/admin/sites").await.body;
    let link = page
        .find(&format!("href=\"/coord/institutes/{id}\""))
        .unwrap_or_else(|| panic!("{name} has no site:\n{page}"));
    let before = &page[..link];
    let start = before.rfind("id=\"site-").expect("the site's section") + "id=\"site-".len();
    let site = before[start..start + before[start..].find('"').expect("end")].to_owned();
    (id, site)
}
