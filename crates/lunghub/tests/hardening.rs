//! The web's weak spots found in a review, each held to its fix on the real `lunghub serve`:
//! a CSRF token is bound to the session, a POST from another origin is refused, signed-in
//! pages are not cached, an https deployment sends HSTS, a password change ends the other
//! sessions, and a used reset link voids the older ones.

mod common;

use common::accounts::{PASSWORD, admin, sign_in, sign_up};
use common::server::Server;

#[tokio::test(flavor = "multi_thread")]
async fn an_attackers_own_csrf_pair_is_worth_nothing_beside_someone_elses_session() {
    let server = Server::start(None);
    let admin = admin(&server).await;
    assert_eq!(admin.get("/admin/sites").await.status, 200);

    // The attacker's own visit: a CSRF cookie and the token that goes with it.
    let attacker = server.client();
    attacker.get("/signin").await;
    let (their_cookie, their_token) = (
        attacker.cookie("lh_csrf").expect("a CSRF cookie"),
        attacker.csrf(),
    );
    assert_eq!(their_token.len(), 64);

    // Planted beside the admin's session (a subdomain or a man in the middle can set a
    // cookie), the pair is refused: the token is bound to the session.
    let victim = server.client();
    victim.set_cookie("lh_session", &admin.cookie("lh_session").expect("session"));
    victim.set_cookie("lh_csrf", &their_cookie);
    let r = victim
        .post(
            "/admin/sites",
            &[("name", "Planted Site"), ("csrf", &their_token)],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        !admin
            .get("/admin/sites")
            .await
            .body
            .contains("Planted Site")
    );

    // The admin's own token still works, from this site's origin and without one.
    let r = admin.post("/admin/sites", &[("name", "Real Site")]).await;
    assert_eq!(r.status, 303, "{}", r.body);

    // The same form with the admin's valid token, sent from another site's page.
    let r = common::http()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .post(format!("{}/admin/sites", server.base))
        .header("cookie", admin.cookie_header())
        .header("origin", "https://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("name=Cross+Site&csrf={}", admin.csrf()))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status().as_u16(), 403);
    assert!(!admin.get("/admin/sites").await.body.contains("Cross Site"));

    // Pages a signed-in person sees stay out of caches; public pages to visitors may be
    // cached as before.
    let r = common::http()
        .build()
        .expect("client")
        .get(format!("{}/account", server.base))
        .header("cookie", admin.cookie_header())
        .send()
        .await
        .expect("GET");
    assert_eq!(
        r.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    // No HSTS over plain http.
    assert!(r.headers().get("strict-transport-security").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_https_deployment_sends_hsts() {
    let server = Server::start_with(None, &["--public-url", "https://lunghub.example"]);
    let r = common::http()
        .build()
        .expect("client")
        .get(format!("{}/", server.base))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()
            .get("strict-transport-security")
            .and_then(|v| v.to_str().ok()),
        Some("max-age=31536000")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_password_ends_other_sessions_and_older_reset_links() {
    let server = Server::start(None);
    let here = sign_up(
        &server,
        "developer",
        "Ada",
        "ada@example.org",
        &[("skills", "Rust")],
    )
    .await;
    let elsewhere = server.client();
    sign_in(&elsewhere, "ada@example.org", PASSWORD).await;
    assert_eq!(elsewhere.get("/account").await.status, 200);

    let r = here
        .post(
            "/account/password",
            &[
                ("current", PASSWORD),
                ("password", "another long password"),
                ("password2", "another long password"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        here.get("/account").await.status,
        200,
        "this session goes on"
    );
    assert_eq!(
        elsewhere.get("/account").await.status,
        303,
        "the other session ended"
    );

    // Two reset links; the newer is used; the older no longer works.
    let resetter = server.client();
    resetter.get("/reset").await;
    resetter
        .post("/reset", &[("email", "ada@example.org")])
        .await;
    let older = server.link_in_mail("ada@example.org", "/reset/");
    resetter
        .post("/reset", &[("email", "ada@example.org")])
        .await;
    let newer = server.link_in_mail("ada@example.org", "/reset/");
    assert_ne!(older, newer);
    resetter.get(&newer).await;
    let r = resetter
        .post(
            &newer,
            &[
                ("password", "a third long password"),
                ("password2", "a third long password"),
            ],
        )
        .await;
    assert!(r.body.contains("Password changed"), "{}", r.body);
    resetter.get(&older).await;
    let r = resetter
        .post(
            &older,
            &[
                ("password", "an attacker password"),
                ("password2", "an attacker password"),
            ],
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    sign_in(&resetter, "ada@example.org", "a third long password").await;
}
