//! The web platform end to end, over HTTP, against the real `lunghub serve` on a random
//! port with a fresh database: on SQLite and on PostgreSQL. Sign-up by role with email
//! confirmation, accounts and roles, a hospital through all seven stages with the public
//! table in every format, documents, the letter, subscriptions, tracks and partners, and
//! bad input of every kind refused with a clear message and nothing changed.

mod common;

use common::accounts::{PASSWORD, admin, admin_form_action, hospital, set_role, sign_in, sign_up};
use common::server::{Server, fresh_postgres};
use common::smtp::{Behaviour, SmtpPeer, header};

fn institute_id(location: &str) -> String {
    location.rsplit('/').next().expect("an id").to_owned()
}

fn status_of(server_json: &serde_json::Value, institute: &str) -> String {
    server_json
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["Institute"] == institute)
        .map(|r| r["Status"].as_str().expect("status").to_owned())
        .unwrap_or_else(|| panic!("{institute} is not in the table"))
}

async fn exercise(server: Server) {
    let anonymous = server.client();
    for page in [
        "/",
        "/help",
        "/status",
        "/tracks",
        "/partners",
        "/subscribe",
        "/signin",
        "/static/site.css",
    ] {
        assert_eq!(anonymous.get(page).await.status, 200, "{page}");
    }
    assert_eq!(anonymous.get("/no-such-page").await.status, 404);
    assert_eq!(anonymous.get("/join/astronaut").await.status, 404);

    // The OpenAPI document lists every API path, and each one answers as it says.
    let doc = anonymous.get("/api/openapi.json").await.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 7);
    for (path, item) in paths {
        if item.get("get").is_none() {
            continue; // POST-only routes (DICOMweb STOW-RS) have tests of their own
        }
        let protected = item["get"]["security"].is_array();
        let r = anonymous.get(&path.replace("{id}", "none")).await;
        if protected {
            // JSON-only routes answer 401, as their document says; the others redirect.
            let expected = if item["get"]["responses"].get("401").is_some() {
                401
            } else {
                303
            };
            assert_eq!(
                r.status, expected,
                "{path} must refuse anonymous visitors as its document says"
            );
        } else {
            // A public path naming an id ("none" here) may say there is no such thing, in
            // JSON, where its document lists a 404.
            let expected = if path.contains("{id}") && item["get"]["responses"].get("404").is_some()
            {
                404
            } else {
                200
            };
            assert_eq!(r.status, expected, "{path}");
            assert!(
                r.content_type.starts_with("application/json"),
                "{path}: {}",
                r.content_type
            );
        }
    }

    // Sign-up: nothing is created from a bad form, or from a form without its token.
    let c = server.client();
    c.get("/join/data-scientist").await;
    let long_name = "x".repeat(121);
    let r = c
        .post(
            "/join/data-scientist",
            &[
                ("name", &long_name),
                ("email", "ada@example.org"),
                ("password", PASSWORD),
                ("password2", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body
            .contains("Your name is too long: at most 120 characters."),
        "{}",
        r.body
    );
    let r = c
        .post(
            "/join/data-scientist",
            &[
                ("name", "Ada"),
                ("email", "not an email"),
                ("password", "short"),
                ("password2", "short"),
            ],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body.contains("Email must be a valid address")
            && r.body.contains("at least 10 characters")
    );
    let forged = server.client();
    let r = forged
        .post(
            "/join/data-scientist",
            &[
                ("name", "Ada"),
                ("email", "ada@example.org"),
                ("password", PASSWORD),
                ("password2", PASSWORD),
                ("csrf", ""),
            ],
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("Nothing was changed"));
    // A token from another visitor's page is no good either.
    forged.get("/join/data-scientist").await;
    let r = forged
        .post(
            "/join/data-scientist",
            &[
                ("name", "Ada"),
                ("email", "ada@example.org"),
                ("password", PASSWORD),
                ("password2", PASSWORD),
                ("csrf", &c.csrf()),
            ],
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(
        !server.data_dir.join("outbox").exists()
            || std::fs::read_dir(server.data_dir.join("outbox"))
                .expect("outbox")
                .count()
                == 0
    );

    // An unconfirmed account can't sign in; confirming works once.
    let r = c
        .post(
            "/join/data-scientist",
            &[
                ("name", "Ada Lovelace"),
                ("email", "Ada@Example.org"),
                ("affiliation", "Analytical Engines"),
                ("password", PASSWORD),
                ("password2", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    c.get("/signin").await;
    let r = c
        .post(
            "/signin",
            &[("email", "ada@example.org"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, 401);
    assert!(r.body.contains("Confirm your email first"));
    let link = server.link_in_mail("ada@example.org", "/confirm/").await;
    assert!(c.get(&link).await.body.contains("Email confirmed"));
    assert_eq!(c.get(&link).await.status, 404);
    sign_in(&c, "ada@example.org", PASSWORD).await;
    let ada = c;
    let account = ada.get("/account").await;
    assert!(
        account.body.contains("Ada Lovelace") && account.body.contains("Role: Data scientist"),
        "{}",
        account.body
    );
    // Signing up again with the same address says the same, and tells the owner.
    let again = server.client();
    again.get("/join/developer").await;
    let r = again
        .post(
            "/join/developer",
            &[
                ("name", "Eve"),
                ("email", "ada@example.org"),
                ("skills", "Rust"),
                ("password", PASSWORD),
                ("password2", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(
        server
            .last_mail_to("ada@example.org")
            .await
            .contains("already has an account")
    );

    // Roles: the admin makes a coordinator and a hospital uploader.
    let admin = admin(&server).await;
    assert_eq!(admin.get("/admin/accounts").await.status, 200);
    let coord = sign_up(
        &server,
        "frontline-doctor",
        "Carla Coordinator",
        "carla@example.org",
        &[("institution", "Ospedale"), ("location", "Milan")],
    )
    .await;
    let uploader = sign_up(
        &server,
        "medical-personnel",
        "Umberto Uploader",
        "umberto@example.org",
        &[
            ("institution", "Test Hospital"),
            ("location", "Rome"),
            ("profession", "radiographer"),
        ],
    )
    .await;
    assert_eq!(
        coord.get("/coord").await.status,
        403,
        "a member is no coordinator yet"
    );
    set_role(&admin, "carla@example.org", "coordinator", "").await;
    let r = admin
        .post(
            &admin_form_action(&admin, "umberto@example.org").await,
            &[("role", "uploader"), ("site", "")],
        )
        .await;
    assert_eq!(r.status, 400, "an uploader needs a site");
    assert!(r.body.contains("must be bound to a site"));
    let r = admin
        .post(
            &admin_form_action(&admin, "umberto@example.org").await,
            &[("role", "uploader"), ("site", "Typo Hospital")],
        )
        .await;
    assert_eq!(
        r.status, 400,
        "a site is picked from the list, never made by a typo"
    );
    // The uploader's hospital, already sending data (so that the status filters below see
    // only the institutes this test moves).
    let (_, site) = hospital(&admin, "Test Hospital", "data-received").await;
    set_role(&admin, "umberto@example.org", "uploader", &site).await;
    let r = admin
        .post(
            &admin_form_action(&admin, "umberto@example.org").await,
            &[("role", "emperor"), ("site", "")],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("Unknown role"));

    // Who may open the coordinator pages.
    for (who, client, expected) in [
        ("uploader", &uploader, 403),
        ("data scientist", &ada, 403),
        ("coordinator", &coord, 200),
        ("admin", &admin, 200),
    ] {
        for page in [
            "/coord",
            "/coord/institutes/new",
            "/coord/stalled",
            "/api/institutes",
        ] {
            assert_eq!(client.get(page).await.status, expected, "{who} on {page}");
        }
    }
    let r = anonymous.get("/coord").await;
    assert_eq!(
        (r.status, r.location.as_deref()),
        (303, Some("/signin?next=/coord"))
    );
    assert_eq!(uploader.get("/admin/accounts").await.status, 403);
    assert_eq!(coord.get("/admin/outbox").await.status, 403);

    // A new institute: bad input is refused with reasons, and nothing is added.
    coord.get("/coord/institutes/new").await;
    let r = coord
        .post(
            "/coord/institutes/new",
            &[
                ("name", "Ospedale San Raffaele"),
                ("location", &"y".repeat(121)),
            ],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body.contains("Location is too long")
            && r.body
                .contains("Choose at least one kind of requested data"),
        "{}",
        r.body
    );
    let r = coord
        .post(
            "/coord/institutes/new",
            &[
                ("name", "Ospedale San Raffaele"),
                ("location", "Milan, Italy"),
                ("requested", "xray-martian"),
            ],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("Unknown kind of requested data"));
    assert_eq!(
        anonymous
            .get("/status.json")
            .await
            .json()
            .as_array()
            .map(Vec::len),
        Some(1),
        "only the uploader's hospital so far"
    );
    let fields = [
        ("name", "Ospedale San Raffaele"),
        ("location", "Milan, Italy"),
        ("requested", "xray-covid"),
        ("requested", "ultrasound-lung"),
        ("contacts", "Dr. Rossi, radiology"),
    ];
    let r = coord.post("/coord/institutes/new", &fields).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let id = institute_id(r.location.as_deref().expect("location"));
    assert_eq!(
        coord.post("/coord/institutes/new", &fields).await.status,
        409,
        "names are unique"
    );
    let url = format!("/coord/institutes/{id}");
    let stage_url = format!("{url}/stage");
    assert!(coord.get(&url).await.body.contains("Ospedale San Raffaele"));

    // Moves the rules forbid, each refused with its reason.
    let refused = [
        (
            vec![
                ("move", "back"),
                ("expected", "first-contact"),
                ("note", ""),
            ],
            400,
            "going back a stage needs a reason",
        ),
        (
            vec![
                ("move", "sideways"),
                ("expected", "first-contact"),
                ("note", ""),
            ],
            400,
            "unknown move",
        ),
        (
            vec![("move", "forward"), ("expected", "launched"), ("note", "")],
            400,
            "unknown stage",
        ),
        (
            vec![
                ("move", "skip-ethics"),
                ("expected", "first-contact"),
                ("note", ""),
            ],
            400,
            "ethics approval can only be skipped",
        ),
        (
            vec![
                ("move", "forward"),
                ("expected", "data-received"),
                ("note", ""),
            ],
            409,
            "changed meanwhile",
        ),
    ];
    for (form, status, why) in refused {
        coord.get(&url).await;
        let r = coord.post(&stage_url, &form).await;
        assert_eq!(r.status, status, "{form:?}: {}", r.body);
        assert!(r.body.contains(why), "{form:?}: expected {why:?}");
    }
    let r = server
        .client()
        .post(
            &stage_url,
            &[("move", "forward"), ("expected", "first-contact")],
        )
        .await;
    assert_eq!(r.status, 403, "no CSRF token, no move");

    // All seven stages, each visible at once in every public format.
    let stages = [
        ("first-contact", "First contact"),
        ("introductory-call", "Introductory call"),
        (
            "data-request-sent",
            "Project description and data request sent",
        ),
        ("ethics-approval", "Ethical committee approval"),
        ("waiting-for-data", "Waiting for data"),
        ("data-received", "Data received"),
        ("dataset-available", "Dataset available"),
    ];
    assert_eq!(
        status_of(
            &anonymous.get("/status.json").await.json(),
            "Ospedale San Raffaele"
        ),
        stages[0].1
    );
    for pair in stages.windows(2) {
        coord.get(&url).await;
        let r = coord
            .post(
                &stage_url,
                &[
                    ("move", "forward"),
                    ("expected", pair[0].0),
                    ("note", &format!("reached {}", pair[1].0)),
                ],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        assert_eq!(
            status_of(
                &anonymous.get("/status.json").await.json(),
                "Ospedale San Raffaele"
            ),
            pair[1].1
        );
        assert!(anonymous.get("/status").await.body.contains(pair[1].1));
    }
    let csv = anonymous.get("/status.csv").await;
    assert!(csv.content_type.starts_with("text/csv"));
    let mut lines = csv.body.lines();
    assert_eq!(
        lines.next(),
        Some("Institute,Location,Requested data,Status,Last update")
    );
    assert!(lines.next().expect("a row").starts_with("Ospedale San Raffaele,\"Milan, Italy\",\"X-ray COVID-19, Ultrasound lung\",Dataset available,"));
    let md = anonymous.get("/status.md").await.body;
    assert!(md.starts_with("| Institute | Location | Requested data | Status | Last update |\n|---|---|---|---|---|\n| Ospedale San Raffaele |"), "{md}");
    let detail = coord.get(&format!("/api/institutes/{id}")).await.json();
    let history = detail["history"].as_array().expect("history");
    assert_eq!(history.len(), 7, "added, then six moves");
    assert_eq!(history[6]["to_stage"], "dataset-available");
    assert_eq!(history[6]["actor"], "carla@example.org");
    assert_eq!(history[6]["note"], "reached dataset-available");
    // One step back needs a reason, which the history keeps.
    coord.get(&url).await;
    let r = coord
        .post(
            &stage_url,
            &[
                ("move", "back"),
                ("expected", "dataset-available"),
                ("note", "files were corrupt"),
            ],
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(
        status_of(
            &anonymous.get("/status.json").await.json(),
            "Ospedale San Raffaele"
        ),
        "Data received"
    );

    // An institute that needs no ethics approval skips that stage, and only that way.
    coord.get("/coord/institutes/new").await;
    let r = coord
        .post(
            "/coord/institutes/new",
            &[
                ("name", "Clínica Pública"),
                ("location", "Madrid, Spain"),
                ("requested", "xray-healthy"),
                ("ethics_not_required", "on"),
            ],
        )
        .await;
    let other = format!("{}/stage", r.location.expect("created"));
    for (from, _) in &stages[..2] {
        coord.get("/coord").await;
        assert_eq!(
            coord
                .post(
                    &other,
                    &[("move", "forward"), ("expected", from), ("note", "")]
                )
                .await
                .status,
            303
        );
    }
    let r = coord
        .post(
            &other,
            &[
                ("move", "forward"),
                ("expected", "data-request-sent"),
                ("note", ""),
            ],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("needs no ethics approval"));
    coord.get("/coord").await;
    assert_eq!(
        coord
            .post(
                &other,
                &[
                    ("move", "skip-ethics"),
                    ("expected", "data-request-sent"),
                    ("note", "")
                ]
            )
            .await
            .status,
        303
    );
    assert_eq!(
        status_of(
            &anonymous.get("/status.json").await.json(),
            "Clínica Pública"
        ),
        "Waiting for data"
    );
    // Filters.
    let only = anonymous
        .get("/status.json?status=waiting-for-data")
        .await
        .json();
    assert_eq!(only.as_array().map(Vec::len), Some(1));
    let madrid = anonymous.get("/status?location=madrid").await.body;
    assert!(madrid.contains("Clínica Pública") && !madrid.contains("Ospedale San Raffaele"));
    let r = anonymous.get("/status?status=launched").await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("Unknown status"));

    // Stalled view: its number of days is checked.
    let r = coord.get("/coord/stalled?days=abc").await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("Days must be a whole number"));
    let r = coord.get("/coord/stalled?days=1").await;
    assert!(
        r.status == 200 && r.body.contains("0 institutes"),
        "{}",
        r.body
    );

    // Documents: PDFs only, and they come back as they went in.
    let pdf = b"%PDF-1.4\n% ethics approval\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n".to_vec();
    coord.get(&url).await;
    let upload = format!("{url}/documents?csrf={}", coord.csrf());
    let form = |bytes: Vec<u8>, name: &str| {
        reqwest::multipart::Form::new()
            .text("kind", "ethics-approval")
            .part(
                "file",
                reqwest::multipart::Part::bytes(bytes)
                    .file_name(name.to_owned())
                    .mime_str("application/pdf")
                    .expect("mime"),
            )
    };
    let r = coord
        .post_multipart(&upload, form(b"MZ not a pdf".to_vec(), "approval.pdf"))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("this file is not a PDF"));
    let r = coord
        .post_multipart(
            &format!("{url}/documents"),
            form(pdf.clone(), "approval.pdf"),
        )
        .await;
    assert_eq!(r.status, 403, "no CSRF token, no upload");
    let r = coord
        .post_multipart(&upload, form(pdf.clone(), "approval.pdf"))
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = coord.get(&url).await.body;
    let start = page
        .find("href=\"/coord/documents/")
        .expect("the document is listed")
        + 6;
    let href = &page[start..start + page[start..].find('"').expect("end")];
    let download = coord.get(href).await;
    assert_eq!(download.content_type, "application/pdf");
    assert_eq!(download.body.as_bytes(), &pdf[..]);
    assert_eq!(uploader.get(href).await.status, 403);

    // The data request letter is filled in.
    let letter = coord.get(&format!("{url}/letter")).await.body;
    assert!(
        letter.contains("Ospedale San Raffaele")
            && letter.contains("Milan, Italy")
            && letter.contains("<li>Ultrasound lung</li>")
    );

    // Sign-in throttling: after five failures the account is slowed to one try every few
    // seconds, so an immediate sixth try waits, even with the right password.
    let guesser = server.client();
    guesser.get("/signin").await;
    for _ in 0..5 {
        assert_eq!(
            guesser
                .post(
                    "/signin",
                    &[("email", "ada@example.org"), ("password", "wrong guess!")]
                )
                .await
                .status,
            401
        );
    }
    let r = guesser
        .post(
            "/signin",
            &[("email", "ada@example.org"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, 429);
    assert!(r.body.contains("Too many failed attempts"));

    // Password reset through the outbox ends old sessions.
    let resetter = server.client();
    resetter.get("/reset").await;
    assert_eq!(
        resetter
            .post("/reset", &[("email", "carla@example.org")])
            .await
            .status,
        200
    );
    let link = server.link_in_mail("carla@example.org", "/reset/").await;
    resetter.get(&link).await;
    let r = resetter
        .post(&link, &[("password", "short"), ("password2", "short")])
        .await;
    assert_eq!(r.status, 400);
    let r = resetter
        .post(
            &link,
            &[
                ("password", "a brand new password"),
                ("password2", "a brand new password"),
            ],
        )
        .await;
    assert!(r.body.contains("Password changed"));
    assert_eq!(
        coord.get("/coord").await.status,
        303,
        "the old session ended"
    );
    sign_in(&resetter, "carla@example.org", "a brand new password").await;

    // Subscriptions: confirm, then one click to leave.
    let reader = server.client();
    reader.get("/subscribe").await;
    assert!(
        reader
            .post("/subscribe", &[("email", "reader@example.org")])
            .await
            .body
            .contains("Check your email")
    );
    assert!(
        reader
            .get(
                &server
                    .link_in_mail("reader@example.org", "/subscribe/confirm/")
                    .await
            )
            .await
            .body
            .contains("Subscribed")
    );
    let leave = server
        .link_in_mail("reader@example.org", "/unsubscribe/")
        .await;
    // Opening the link (as a mail filter does) only asks; the button unsubscribes.
    for _ in 0..2 {
        let asks = anonymous.get(&leave).await.body;
        assert!(asks.contains("Stop lunghub's news to"), "{asks}");
    }
    assert!(
        anonymous
            .post(&leave, &[])
            .await
            .body
            .contains("will get no more updates")
    );
    assert!(
        anonymous
            .get(&leave)
            .await
            .body
            .contains("gets no updates from us")
    );

    // Tracks: join, offer to coordinate, the admin appoints.
    ada.get("/tracks").await;
    assert_eq!(
        ada.post("/tracks/medical-imaging/join", &[]).await.status,
        303
    );
    assert_eq!(
        ada.post("/tracks/medical-imaging/coordinate", &[])
            .await
            .status,
        303
    );
    assert_eq!(ada.post("/tracks/astrology/join", &[]).await.status, 404);
    let tracks = anonymous.get("/api/tracks").await.json();
    assert_eq!(tracks[0]["members"], 1);
    assert!(
        anonymous
            .get("/tracks")
            .await
            .body
            .contains("Coordinator required")
    );
    let page = admin.get("/admin/accounts").await.body;
    assert!(page.contains("offers to coordinate"));
    let start = page
        .find("action=\"/admin/tracks/medical-imaging/coordinator\"")
        .expect("appoint form");
    let account = &page[start..];
    let v = account
        .find("name=\"account\" value=\"")
        .expect("account id")
        + 22;
    let account_id = &account[v..v + account[v..].find('"').expect("end")];
    assert_eq!(
        admin
            .post(
                "/admin/tracks/medical-imaging/coordinator",
                &[("account", account_id)]
            )
            .await
            .status,
        303
    );
    assert!(
        anonymous
            .get("/tracks")
            .await
            .body
            .contains("Coordinator: <strong>Ada Lovelace</strong>")
    );

    // Partners: listed with consent, and once the admin approves; withdrawn at will.
    let tess = sign_up(
        &server,
        "technology-company",
        "Tess",
        "tess@example.org",
        &[
            ("company", "Imaging Compute Ltd"),
            ("offer", "GPU hours"),
            ("listed", "on"),
        ],
    )
    .await;
    let partners = anonymous.get("/partners").await.body;
    assert!(
        !partners.contains("Imaging Compute Ltd"),
        "not before approval"
    );
    let waiting = admin.get("/admin/accounts").await.body;
    let at = waiting.find("/admin/listings/").expect("a listing waits") + 16;
    let tess_id = waiting[at..at + 32].to_owned();
    assert!(
        waiting.contains("GPU hours"),
        "the admin sees what is offered"
    );
    let r = admin
        .post(
            &format!("/admin/listings/{tess_id}"),
            &[("decision", "approve")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let partners = anonymous.get("/partners").await.body;
    assert!(partners.contains("Imaging Compute Ltd"));
    let mine = tess.get("/account").await.body;
    assert!(mine.contains("Withdraw my listing"), "{mine}");
    assert!(
        !partners.contains("Ada Lovelace"),
        "Ada did not agree to be listed"
    );

    let r = tess
        .post("/account/listing", &[("listing", "withdraw")])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(
        !anonymous
            .get("/partners")
            .await
            .body
            .contains("Imaging Compute Ltd")
    );
    assert!(tess.get("/account").await.body.contains("Ask to be listed"));

    moderation(&server, &admin).await;

    // The outbox is for the admin only.
    assert!(
        admin
            .get("/admin/outbox")
            .await
            .body
            .contains("Confirm your email for lunghub")
    );
}

/// The names on the public table, as `/status.json` lists them.
async fn on_table(c: &common::server::Client) -> Vec<String> {
    c.get("/status.json")
        .await
        .json()
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["Institute"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The admin takes a test entry off the public table, merges a duplicate record into the
/// real one (its uploader moves along), may not remove a hospital that sent data, and every
/// decision is in the history and the moderation log. A coordinator may do none of it.
async fn moderation(server: &Server, admin: &common::server::Client) {
    let anonymous = server.client();
    let (junk, _) = hospital(admin, "Prova Prova Ignore", "first-contact").await;
    let (real, real_site) = hospital(admin, "Ospedale Maggiore", "waiting-for-data").await;
    let (dup, dup_site) = hospital(admin, "Osp. Maggiore doppione", "first-contact").await;
    let uploader = sign_up(
        server,
        "frontline-doctor",
        "Uma Loader",
        "uma@example.it",
        &[("institution", "Ospedale Maggiore"), ("location", "Milano")],
    )
    .await;
    set_role(admin, "uma@example.it", "uploader", &dup_site).await;
    for name in [
        "Prova Prova Ignore",
        "Ospedale Maggiore",
        "Osp. Maggiore doppione",
    ] {
        assert!(
            on_table(&anonymous).await.contains(&name.to_owned()),
            "{name}"
        );
    }

    // Only the admin is offered the forms, and only the admin may use them.
    let page = admin.get(&format!("/coord/institutes/{junk}")).await.body;
    assert!(page.contains("Remove or merge"), "{page}");
    let coordinator = sign_up(
        server,
        "medical-personnel",
        "Cora Ordinator",
        "cora@example.it",
        &[
            ("institution", "Ospedale Maggiore"),
            ("location", "Milano"),
            ("profession", "radiologist"),
        ],
    )
    .await;
    set_role(admin, "cora@example.it", "coordinator", "").await;
    let page = coordinator.get(&format!("/coord/institutes/{junk}")).await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("Remove or merge"));
    let r = coordinator
        .post(
            &format!("/coord/institutes/{junk}/remove"),
            &[("reason", "no")],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);

    // Removal needs a reason, then takes the entry off the table and frees its name.
    admin.get(&format!("/coord/institutes/{junk}")).await;
    let r = admin
        .post(
            &format!("/coord/institutes/{junk}/remove"),
            &[("reason", "")],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = admin
        .post(
            &format!("/coord/institutes/{junk}/remove"),
            &[("reason", "a test entry")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(
        !on_table(&anonymous)
            .await
            .contains(&"Prova Prova Ignore".to_owned())
    );
    let page = admin.get(&format!("/coord/institutes/{junk}")).await.body;
    assert!(page.contains("Removed from the public table"), "{page}");
    assert!(
        page.contains("removed from the table: a test entry"),
        "{page}"
    );
    let r = admin
        .post(
            &format!("/coord/institutes/{junk}/remove"),
            &[("reason", "again")],
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        admin
            .get("/coord")
            .await
            .body
            .contains("Removed from the table (1)")
    );
    hospital(admin, "Prova Prova Ignore", "first-contact").await;

    // The duplicate merges into the real record; its uploader now sends for the real one.
    admin.get(&format!("/coord/institutes/{dup}")).await;
    let r = admin
        .post(
            &format!("/coord/institutes/{dup}/merge"),
            &[("into", real.as_str()), ("note", "same hospital")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        r.location.as_deref(),
        Some(format!("/coord/institutes/{real}").as_str())
    );
    assert!(
        !on_table(&anonymous)
            .await
            .contains(&"Osp. Maggiore doppione".to_owned())
    );
    let page = admin.get(&format!("/coord/institutes/{real}")).await.body;
    assert!(
        page.contains("Osp. Maggiore doppione merged into this record"),
        "{page}"
    );
    let upload = uploader.get("/upload").await.body;
    assert!(
        upload.contains(&format!("value=\"{real_site}\"")),
        "{upload}"
    );
    assert!(
        !upload.contains(&format!("value=\"{dup_site}\"")),
        "{upload}"
    );

    // A hospital that sent an image stays on the table.
    let form = reqwest::multipart::Form::new()
        .text("site", real_site.clone())
        .text("finding", "No Finding");
    let r = uploader
        .post_multipart(&format!("/upload/batches?csrf={}", uploader.csrf()), form)
        .await;
    let batch = r.location.unwrap_or_else(|| panic!("no batch: {}", r.body));
    uploader.get(&batch).await;
    let sent = uploader
        .put_file(
            &format!("{batch}/files"),
            "chest.dcm",
            common::fixtures::chest_dx(
                "1.2.826.0.1.3680043.10.99.1",
                "1.2.826.0.1.3680043.10.99.1.1",
                7,
                64,
            ),
        )
        .await;
    assert_eq!(sent.json()[0]["outcome"], "new", "{}", sent.body);
    admin.get(&format!("/coord/institutes/{real}")).await;
    let r = admin
        .post(
            &format!("/coord/institutes/{real}/remove"),
            &[("reason", "by mistake")],
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.body.contains("image(s) came from Ospedale Maggiore"),
        "{}",
        r.body
    );
    assert!(
        on_table(&anonymous)
            .await
            .contains(&"Ospedale Maggiore".to_owned())
    );

    // The admin invites a hospital uploader by email, in Italian, bound to a hospital picked
    // from the list; the link in the mail sets the password.
    admin.get("/admin/accounts").await;
    let invite = |email: &'static str, site: String| {
        vec![
            ("name", "Ivo Invitato".to_owned()),
            ("email", email.to_owned()),
            ("role", "uploader".to_owned()),
            ("site", site),
            ("lang", "it".to_owned()),
        ]
    };
    let send = |fields: Vec<(&'static str, String)>| async move {
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        admin.post("/admin/invite", &pairs).await
    };
    let r = send(invite("ivo@example.it", String::new())).await;
    assert_eq!(r.status, 400, "an uploader needs a site: {}", r.body);
    assert!(r.body.contains("must be bound to a site"), "{}", r.body);
    let r = send(invite("ivo@example.it", real_site.clone())).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = send(invite("uma@example.it", real_site.clone())).await;
    assert_eq!(r.status, 409, "an address with an account: {}", r.body);
    let mail = common::readable_mail(&server.last_mail_to("ivo@example.it").await);
    assert!(mail.contains("Subject: Sei invitato su lunghub"), "{mail}");
    let ivo = server.client();
    let link = server.link_in(&mail, "/reset/");
    ivo.get(&link).await;
    let r = ivo
        .post(&link, &[("password", PASSWORD), ("password2", PASSWORD)])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    sign_in(&ivo, "ivo@example.it", PASSWORD).await;
    let upload = ivo.get("/upload").await.body;
    assert!(
        upload.contains("<html lang=\"it\">"),
        "the invitation's language"
    );
    assert!(
        upload.contains(&format!("value=\"{real_site}\"")),
        "{upload}"
    );

    // The moderation log on the accounts page.
    let log = admin.get("/admin/accounts").await.body;
    for said in [
        "Moderation history",
        "Listing approved",
        "Institute removed from the table",
        "Institute merged into another",
        "a test entry",
        "same hospital",
    ] {
        assert!(log.contains(said), "{said} not in the log:\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_platform_works_end_to_end_on_sqlite() {
    exercise(Server::start(None)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_platform_works_end_to_end_on_postgres() {
    let url = fresh_postgres().await;
    exercise(Server::start(Some(&url))).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn email_goes_out_by_smtp_in_the_background_and_waits_while_smtp_is_down() {
    let maildir = tempfile::tempdir().expect("tempdir");
    let smtp = SmtpPeer::start(maildir.path());
    let server = Server::start_with(
        None,
        &[
            "--smtp-url",
            &smtp.url(),
            "--mail-from",
            "lunghub <noreply@example.org>",
        ],
    );
    let c = server.client();
    c.get("/subscribe").await;
    assert_eq!(
        c.post("/subscribe", &[("email", "reader@example.org")])
            .await
            .status,
        200
    );
    let mail = wait_for("the confirmation", || {
        smtp.received_by("reader@example.org").pop()
    })
    .await;
    assert!(
        mail.contains("From: lunghub <noreply@example.org>"),
        "{mail}"
    );
    assert!(
        mail.contains(&format!("{}/subscribe/confirm/", server.base)),
        "{mail}"
    );
    let id = header(&mail, "Message-ID").expect("a Message-ID");
    assert!(id.ends_with("@example.org>"), "{id}");
    assert_eq!(
        server.outbox_len().await,
        0,
        "sent mail must not also sit in the outbox"
    );
    drop(server);
    drop(smtp);

    // Nobody listens yet: the request answers at once, and the mail waits in the queue
    // until the SMTP server is up.
    let port = common::smtp::free_port();
    let server = Server::start_with(
        None,
        &[
            "--smtp-url",
            &format!("smtp://127.0.0.1:{port}"),
            "--mail-retry-after",
            "1",
        ],
    );
    let c = server.client();
    c.get("/subscribe").await;
    let start = std::time::Instant::now();
    assert_eq!(
        c.post("/subscribe", &[("email", "later@example.org")])
            .await
            .status,
        200
    );
    assert!(
        start.elapsed() < std::time::Duration::from_secs(5),
        "the request waited on SMTP"
    );
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let late = tempfile::tempdir().expect("tempdir");
    let smtp = SmtpPeer::start_on(port, late.path(), Behaviour::default());
    let mail = wait_for("the retried confirmation", || {
        smtp.received_by("later@example.org").pop()
    })
    .await;
    assert!(mail.contains("/subscribe/confirm/"), "{mail}");
    assert_eq!(server.outbox_len().await, 0);
}

/// Polls `found` for up to 60 s.
async fn wait_for<T>(what: &str, mut found: impl FnMut() -> Option<T>) -> T {
    let start = std::time::Instant::now();
    loop {
        if let Some(x) = found() {
            return x;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "{what} did not arrive"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
