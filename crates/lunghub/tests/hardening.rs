//! The web's weak spots found in a review, each held to its fix on the real `lunghub serve`:
//! a CSRF token is bound to the session, a POST from another origin is refused, signed-in
//! pages are not cached, an https deployment sends HSTS, a password change ends the other
//! sessions, and a used reset link voids the older ones.

mod common;

use common::accounts::{PASSWORD, admin, hospital, sign_in, sign_up};
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
    let institute = |name: &'static str| {
        [
            ("name", name),
            ("location", "Lodi, Italia"),
            ("requested", "xray-covid"),
        ]
    };
    let mut planted = institute("Planted Site").to_vec();
    planted.push(("csrf", &their_token));
    let r = victim.post("/coord/institutes/new", &planted).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(!admin.get("/coord").await.body.contains("Planted Site"));

    // The admin's own token still works, from this site's origin and without one.
    let r = admin
        .post("/coord/institutes/new", &institute("Real Site"))
        .await;
    assert_eq!(r.status, 303, "{}", r.body);

    // The same form with the admin's valid token, sent from another site's page.
    let r = common::http()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .post(format!("{}/coord/institutes/new", server.base))
        .header("cookie", admin.cookie_header())
        .header("origin", "https://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "name=Cross+Site&location=Lodi&requested=xray-covid&csrf={}",
            admin.csrf()
        ))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status().as_u16(), 403);
    assert!(!admin.get("/coord").await.body.contains("Cross Site"));

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
    let here = ada(&server).await;
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
    let older = server.link_in_mail("ada@example.org", "/reset/").await;
    resetter
        .post("/reset", &[("email", "ada@example.org")])
        .await;
    let newer = server.link_in_mail("ada@example.org", "/reset/").await;
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

/// Ada, a developer, signed up and signed in.
async fn ada(server: &Server) -> common::server::Client {
    sign_up(
        server,
        "developer",
        "Ada",
        "ada@example.org",
        &[("skills", "Rust")],
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_ups_and_mails_are_throttled_and_say_nothing_of_accounts() {
    let server = Server::start(None);
    ada(&server).await;

    // Ten reset requests for one address: at most five mails reach it in an hour (its
    // confirmation among them), and the page says the same for an address with no account.
    let c = server.client();
    c.get("/reset").await;
    for _ in 0..10 {
        let r = c.post("/reset", &[("email", "ada@example.org")]).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body.contains("If an account uses"), "{}", r.body);
    }
    assert_eq!(server.mails_to("ada@example.org").await.len(), 5);
    let r = c.post("/reset", &[("email", "nobody@example.org")]).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("If an account uses"), "{}", r.body);

    // Sign-ups from one address: 20 an hour (Ada's was the first), then a refusal in words.
    c.get("/join/developer").await;
    let join = |email: String| {
        let c = &c;
        async move {
            let fields = [
                ("name", "Bot"),
                ("email", email.as_str()),
                ("password", PASSWORD),
                ("password2", PASSWORD),
                ("skills", "spam"),
            ];
            c.post("/join/developer", &fields).await
        }
    };
    for i in 1..20 {
        let r = join(format!("bot{i}@example.org")).await;
        assert_eq!(r.status, 200, "sign-up {i}: {}", r.body);
    }
    let r = join("bot20@example.org".to_owned()).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.body.contains("Try again in an hour"), "{}", r.body);
    assert_eq!(server.mails_to("bot20@example.org").await.len(), 0);
}

/// One sign-in attempt with the CSRF pair of `c` (no session), optionally from a proxy
/// that names the client in X-Forwarded-For; returns the status.
async fn attempt(
    base: &str,
    c: &common::server::Client,
    email: &str,
    password: &str,
    forwarded: Option<&str>,
) -> u16 {
    let body = format!(
        "email={}&password={}&csrf={}",
        email.replace('@', "%40"),
        password.replace(' ', "+"),
        c.csrf()
    );
    let mut request = common::http()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .post(format!("{base}/signin"))
        .header("cookie", c.cookie_header())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(f) = forwarded {
        request = request.header("x-forwarded-for", f);
    }
    request.send().await.expect("POST").status().as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn guesses_at_once_are_counted_one_by_one_and_the_owner_still_gets_in() {
    let server = Server::start(None);
    ada(&server).await;
    let guesser = server.client();
    guesser.get("/signin").await;
    let guesser = std::sync::Arc::new(guesser);
    let guesses: Vec<_> = (0..30)
        .map(|_| {
            let (base, c) = (server.base.clone(), guesser.clone());
            tokio::spawn(async move {
                attempt(&base, &c, "ada@example.org", "wrong guess!", None).await
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for g in guesses {
        statuses.push(g.await.expect("task"));
    }
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let slowed = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((checked, slowed), (5, 25), "{statuses:?}");

    // The owner, a few seconds later, gets in with the right password.
    tokio::time::sleep(std::time::Duration::from_millis(5_200)).await;
    let owner = server.client();
    owner.get("/signin").await;
    assert_eq!(
        attempt(&server.base, &owner, "ada@example.org", PASSWORD, None).await,
        303
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_a_proxy_the_configured_header_names_the_address() {
    let server = Server::start_with(None, &["--client-address-header", "X-Forwarded-For"]);
    let c = server.client();
    c.get("/signin").await;
    // 20 failures from one client behind the proxy, each on another account.
    for i in 0..20 {
        let email = format!("nobody{i}@example.org");
        let status = attempt(
            &server.base,
            &c,
            &email,
            "wrong guess!",
            Some("198.51.100.7, 10.0.0.1"),
        )
        .await;
        assert_eq!(status, 401);
    }
    let email = "nobody20@example.org";
    assert_eq!(
        attempt(
            &server.base,
            &c,
            email,
            "wrong guess!",
            Some("198.51.100.7, 10.0.0.1")
        )
        .await,
        429,
        "that client is stopped"
    );
    assert_eq!(
        attempt(
            &server.base,
            &c,
            email,
            "wrong guess!",
            Some("198.51.100.7, 10.0.0.2")
        )
        .await,
        401,
        "another client behind the same proxy is not"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn multipart_forms_carry_their_token_in_the_body_not_the_url() {
    let server = Server::start(None);
    let admin = admin(&server).await;
    let (_, site) = hospital(&admin, "Upload Hospital", "waiting-for-data").await;
    assert_eq!(site, "upload-hospital");
    let page = admin.get("/upload").await;
    assert!(!page.body.contains("?csrf="), "{}", page.body);
    let form = |csrf: Option<String>| {
        let mut form = reqwest::multipart::Form::new();
        if let Some(t) = csrf {
            form = form.text("csrf", t);
        }
        form.text("site", "upload-hospital")
            .text("finding", "")
            .text("modality", "")
            .text("view", "")
            .text("sex", "")
            .text("age", "")
    };
    let r = admin.post_multipart("/upload/batches", form(None)).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = admin
        .post_multipart("/upload/batches", form(Some(admin.csrf())))
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let batch = admin.get(r.location.as_deref().expect("the batch")).await;
    assert!(!batch.body.contains("?csrf="), "{}", batch.body);
}
