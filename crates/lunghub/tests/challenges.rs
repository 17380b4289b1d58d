//! Challenges on a real `lunghub serve` (issue 8): the house baseline is on the board from
//! the start; a verified participant submits through the page, the JSON API and `lunghub
//! submit`; malformed CSVs get line-numbered refusals and are not counted; the daily limit
//! holds; final picks stop at two; results posts reach the track page; and no route shows a
//! private score before the close, walked route by route for every kind of visitor, while
//! after `lunghub challenge close` the private leaderboard is public.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::accounts::sign_up;
use common::challenge::{data_with_challenge, predictions};
use common::server::{Client, Server, fresh_postgres};
use common::{lunghub, run_ok};
use lunghub_store::Catalog;

const ID: &str = "covid-cxr-1";

/// The private scores of every submission, in the forms a page or the API would print
/// them: the HTML cell "0.912 (0.850–0.960)" and the JSON numbers.
async fn private_markers(database_url: &str) -> Vec<String> {
    let catalog = Catalog::open(database_url).await.expect("catalog");
    let platform = catalog.platform();
    let mut markers = Vec::new();
    for s in platform
        .submissions(ID, i64::MAX)
        .await
        .expect("submissions")
    {
        let private: serde_json::Value =
            serde_json::from_str(s.private_scores.as_deref().expect("after the close"))
                .expect("JSON");
        let auc = private["auc"].as_f64().expect("a private AUC");
        let (lo, hi) = (
            private["auc_interval"][0].as_f64().expect("interval"),
            private["auc_interval"][1].as_f64().expect("interval"),
        );
        markers.push(format!("{auc:.3} ({lo:.3}–{hi:.3})"));
        // JSON prints full precision; a short value (0.59) could be anything on a page, so
        // only long ones count as a leak.
        for v in [auc, lo, hi] {
            let text = serde_json::json!(v).to_string();
            if text.len() >= 8 {
                markers.push(text);
            }
        }
    }
    markers
}

/// Every GET route the web crate declares, from its source (so a route added later is
/// walked too), with its parameters filled in.
fn every_get_route(fill: &[(&str, &str)]) -> BTreeSet<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lunghub-web/src");
    let mut routes = BTreeSet::new();
    for entry in walkdir::WalkDir::new(&src).into_iter().flatten() {
        if entry.path().extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).expect("source");
        let mut rest = text.as_str();
        while let Some(at) = rest.find(".route(") {
            rest = &rest[at + 7..];
            let Some(open) = rest.find('"') else { break };
            let after = &rest[open + 1..];
            let Some(close) = after.find('"') else { break };
            let path = &after[..close];
            let handler = &after[close..after.find(")\n").unwrap_or(after.len()).min(400)];
            if path.starts_with('/') && handler.contains("get(") {
                let mut filled = path.to_owned();
                for (k, v) in fill {
                    filled = filled.replace(&format!("{{{k}}}"), v);
                }
                while let (Some(a), Some(b)) = (filled.find('{'), filled.find('}')) {
                    filled.replace_range(a..=b, "x");
                }
                routes.insert(filled);
            }
        }
    }
    routes
}

async fn assert_no_private_score(
    who: &str,
    client: &Client,
    token: Option<&str>,
    base: &str,
    routes: &BTreeSet<String>,
    markers: &[String],
) {
    let http = common::http().build().expect("HTTP client");
    for route in routes {
        let body = match token {
            Some(t) => http
                .get(format!("{base}{route}"))
                .bearer_auth(t)
                .send()
                .await
                .expect("GET")
                .text()
                .await
                .unwrap_or_default(),
            None => {
                let (_, _, bytes) = client.get_raw(route).await;
                String::from_utf8_lossy(&bytes).into_owned()
            }
        };
        for m in markers {
            assert!(
                !body.contains(m.as_str()),
                "{who}: {route} shows the private score {m} before the close"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn on_sqlite_participants_submit_within_limits_and_private_scores_stay_hidden() {
    exercise(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn on_postgres_participants_submit_within_limits_and_private_scores_stay_hidden() {
    exercise(Some(&fresh_postgres().await)).await;
}

async fn exercise(database_url: Option<&str>) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (data_dir, said) = data_with_challenge(tmp.path(), ID, 3, 10, database_url);
    assert!(said.contains("baseline submitted on"), "{said}");
    let url = database_url.map_or_else(|| Catalog::sqlite_url(&data_dir), str::to_owned);
    let server = Server::start_in(&data_dir, &["--database-url", &url]);
    // The commands below reach the same catalog.
    let lunghub = || {
        let mut cmd = lunghub();
        cmd.env("LUNGHUB_DATABASE_URL", &url);
        cmd
    };
    let anonymous = server.client();

    // The baseline leads an otherwise empty board; anonymous visitors see it and the rules.
    let page = anonymous.get(&format!("/challenges/{ID}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("lunghub baseline"), "{}", page.body);
    assert!(page.body.contains("Sign in</a> to submit"));
    assert!(page.body.contains("id=\"private-hidden\""));
    let sample = anonymous.get(&format!("/challenges/{ID}/sample.csv")).await;
    assert_eq!(sample.status, 200);
    let images = sample.body.lines().count() - 1;
    assert!(images > 20, "{images} test images");
    let (status, kind, zip) = anonymous
        .get_raw(&format!("/challenges/{ID}/test-images.zip"))
        .await;
    assert_eq!((status, kind.as_str()), (200, "application/zip"));
    let listed = zip::ZipArchive::new(std::io::Cursor::new(zip)).expect("a zip");
    let names: Vec<String> = listed
        .file_names()
        .map(|n| n.expect("a name").into_owned())
        .collect();
    assert_eq!(
        names.iter().filter(|n| n.contains("/images/")).count(),
        images,
        "{names:?}"
    );
    assert!(names.iter().any(|n| n.ends_with("/test.csv")));

    // Anonymous and token-less requests are refused; only verified accounts submit.
    let form = |csv: &str| {
        reqwest::multipart::Form::new().part(
            "predictions",
            reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("p.csv"),
        )
    };
    let good = predictions(&sample.body, 1);
    let r = anonymous
        .post_multipart(
            &format!("/challenges/{ID}/submissions?csrf={}", anonymous.csrf()),
            form(&good),
        )
        .await;
    assert_ne!(r.status, 200);
    let http = common::http().build().expect("HTTP client");
    let api = format!("{}/api/challenges/{ID}/submissions", server.base);
    let r = http
        .post(&api)
        .body(good.clone())
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status().as_u16(), 401);

    let dana = sign_up(
        &server,
        "data-scientist",
        "Dana Scientist",
        "dana@example.org",
        &[],
    )
    .await;
    let page = dana.get(&format!("/challenges/{ID}")).await;
    assert!(page.body.contains("id=\"predictions\""), "{}", page.body);
    let action = format!("/challenges/{ID}/submissions?csrf={}", dana.csrf());

    // A malformed file: line-numbered problems, nothing recorded.
    let mut lines: Vec<String> = good.lines().map(str::to_owned).collect();
    lines[3] = format!("{},NaN", lines[3].split(',').next().expect("id"));
    lines[5] = "not-a-test-image.png,0.5".into();
    let bad = lines.join("\n");
    let r = dana.post_multipart(&action, form(&bad)).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("line 4:"), "{}", r.body);
    assert!(r.body.contains("line 6: unknown id"), "{}", r.body);

    // A good one through the page.
    let r = dana.post_multipart(&action, form(&good)).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = dana.get(&format!("/challenges/{ID}")).await;
    assert!(page.body.contains("Dana Scientist"), "on the board");
    assert!(
        page.body.contains("You have made 1 of 3 submissions today"),
        "{}",
        page.body
    );

    // A personal token, then `lunghub submit`.
    let r = dana.get("/account/tokens").await;
    assert_eq!(r.status, 200);
    let r = dana.post("/account/tokens", &[("label", "laptop")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let at = r
        .body
        .find("id=\"new-token\">")
        .expect("the token is shown once")
        + 15;
    let token = r.body[at..at + 64].to_owned();
    let file = tmp.path().join("predictions.csv");
    std::fs::write(&file, predictions(&sample.body, 2)).expect("write");
    let out = run_ok(
        lunghub()
            .args([
                "submit",
                "--challenge",
                ID,
                "--server",
                &server.base,
                "--token",
                &token,
            ])
            .arg(&file),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("scored: public ROC AUC"), "{text}");
    let bad_file = tmp.path().join("bad.csv");
    std::fs::write(&bad_file, "id,probability\nfoo.png,2\n").expect("write");
    let out = lunghub()
        .args([
            "submit",
            "--challenge",
            ID,
            "--server",
            &server.base,
            "--token",
            &token,
        ])
        .arg(&bad_file)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2: unknown id 'foo.png'"), "{err}");

    // The JSON API: the third submission of the day is scored, the fourth refused.
    let r = http
        .post(&api)
        .bearer_auth(&token)
        .header("x-lunghub-note", "third")
        .body(predictions(&sample.body, 3))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status().as_u16(), 201);
    let third: serde_json::Value =
        serde_json::from_str(&r.text().await.expect("body")).expect("JSON");
    assert!(third["public"]["auc"].is_number(), "{third}");
    assert!(
        third["private"].is_null(),
        "no private score before the close: {third}"
    );
    let r = http
        .post(&api)
        .bearer_auth(&token)
        .body(predictions(&sample.body, 4))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status().as_u16(), 429);
    let refused: serde_json::Value =
        serde_json::from_str(&r.text().await.expect("body")).expect("JSON");
    assert!(
        refused["error"]
            .as_str()
            .is_some_and(|e| e.contains("today's 3 submission")),
        "{refused}"
    );
    let r = dana.post_multipart(&action, form(&good)).await;
    assert_eq!(r.status, 429, "the page holds the same limit");
    let own: serde_json::Value = serde_json::from_str(
        &http
            .get(&api)
            .bearer_auth(&token)
            .send()
            .await
            .expect("GET")
            .text()
            .await
            .expect("body"),
    )
    .expect("JSON");
    let own = own.as_array().expect("a list").clone();
    assert_eq!(own.len(), 3, "refused files are not counted: {own:?}");

    // Final picks stop at two; a results post reaches the track page.
    let ids: Vec<String> = own
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_owned())
        .collect();
    dana.get(&format!("/challenges/{ID}")).await;
    for id in &ids[..2] {
        let r = dana
            .post(
                &format!("/challenges/{ID}/submissions/{id}/final"),
                &[("pick", "1")],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
    }
    let r = dana
        .post(
            &format!("/challenges/{ID}/submissions/{}/final", ids[2]),
            &[("pick", "1")],
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    // Only http(s) links are taken.
    for (links, status) in [
        ("javascript:alert(1)", 400),
        ("https://example.org/code", 303),
    ] {
        let r = dana
            .post(
                &format!("/challenges/{ID}/submissions/{}/writeup", ids[0]),
                &[
                    ("writeup", "A small ResNet, patient-level folds."),
                    ("links", links),
                ],
            )
            .await;
        assert_eq!(r.status, status, "{links}: {}", r.body);
    }
    let tracks = anonymous.get("/tracks").await;
    assert!(tracks.body.contains("A small ResNet, patient-level folds."));
    assert!(tracks.body.contains("https://example.org/code"));

    // Someone else sees Dana on the board but never her history.
    let eve = sign_up(
        &server,
        "data-scientist",
        "Eve Rival",
        "eve@example.org",
        &[],
    )
    .await;
    let page = eve.get(&format!("/challenges/{ID}")).await;
    assert!(!page.body.contains("id=\"history\""));
    let r = eve
        .post(
            &format!("/challenges/{ID}/submissions/{}/final", ids[2]),
            &[("pick", "1")],
        )
        .await;
    assert_eq!(r.status, 404, "one may not pick another's submission");

    // Six submissions sent at the same moment against a limit of three: three are scored.
    eve.get("/account/tokens").await;
    let r = eve.post("/account/tokens", &[("label", "cluster")]).await;
    let at = r.body.find("id=\"new-token\">").expect("the token") + 15;
    let eve_token = r.body[at..at + 64].to_owned();
    let sends: Vec<_> = (0..6u64)
        .map(|i| {
            let request = http
                .post(&api)
                .bearer_auth(&eve_token)
                .body(predictions(&sample.body, 100 + i));
            tokio::spawn(async move { request.send().await.expect("POST").status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for send in sends {
        statuses.push(send.await.expect("joined"));
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        3,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [201, 429].contains(s)),
        "{statuses:?}"
    );

    // No route shows a private score before the close, to anyone.
    let markers = private_markers(&url).await;
    assert!(
        markers.len() >= 4,
        "the baseline and Dana's three: {markers:?}"
    );
    let routes = every_get_route(&[
        ("id", ID),
        ("sid", &ids[0]),
        ("name", "cxr-covid"),
        ("version", "1"),
        ("hash", "x"),
    ]);
    assert!(routes.contains(&format!("/api/challenges/{ID}/submissions")));
    assert!(routes.len() > 30, "{routes:?}");
    let admin = common::accounts::admin(&server).await;
    for (who, client, token) in [
        ("anonymous", &anonymous, None),
        ("participant", &dana, None),
        ("other participant", &eve, None),
        ("admin", &admin, None),
        ("token", &anonymous, Some(token.as_str())),
    ] {
        assert_no_private_score(who, client, token, &server.base, &routes, &markers).await;
    }

    // After the close, the private board is public, and picks and submissions stop.
    run_ok(
        lunghub()
            .args(["challenge", "close", ID, "--data-dir"])
            .arg(&data_dir),
    );
    let page = anonymous.get(&format!("/challenges/{ID}")).await;
    assert!(
        page.body.contains("id=\"private-leaderboard\""),
        "{}",
        page.body
    );
    assert!(
        markers.iter().any(|m| page.body.contains(m.as_str())),
        "the private scores show after the close"
    );
    let r = dana
        .post(
            &format!("/challenges/{ID}/submissions/{}/final", ids[2]),
            &[("pick", "1")],
        )
        .await;
    assert_eq!(r.status, 409);
    let r = http
        .post(&api)
        .bearer_auth(&token)
        .body(good.clone())
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status().as_u16(), 429);
    let detail = anonymous.get(&format!("/api/challenges/{ID}")).await.json();
    assert_eq!(
        detail["private_leaderboard"].as_array().map(Vec::len),
        Some(3),
        "the baseline, Dana and Eve: {detail}"
    );

    // Dana takes her data and deletes her account; her entries stay on the board under
    // "deleted participant", and nothing of her can sign in or reach her again.
    let r = dana.post("/tracks/medical-imaging/join", &[]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let tracks = dana.get("/tracks").await;
    assert!(
        tracks.body.contains("You are a member of this track."),
        "{}",
        tracks.body
    );
    let (status, kind, json) = dana.get_raw("/account/export").await;
    assert_eq!((status, kind.as_str()), (200, "application/json"));
    let mine: serde_json::Value = serde_json::from_slice(&json).expect("JSON");
    assert_eq!(mine["account"]["email"], "dana@example.org", "{mine}");
    assert_eq!(
        mine["submissions"].as_array().map(Vec::len),
        Some(ids.len()),
        "{mine}"
    );
    assert_eq!(mine["tracks"][0]["track"], "medical-imaging", "{mine}");
    assert!(!mine["api_tokens"].as_array().expect("tokens").is_empty());
    let text = String::from_utf8_lossy(&json);
    assert!(
        !text.contains(&token) && !text.contains("argon2"),
        "no secret is exported"
    );
    assert!(
        !mine["submissions"][0]
            .as_object()
            .expect("one")
            .contains_key("private_scores")
    );

    let r = dana
        .post(
            "/account/delete",
            &[("password", "wrong"), ("understood", "yes")],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("The password is wrong."), "{}", r.body);
    let r = dana
        .post(
            "/account/delete",
            &[
                ("password", common::accounts::PASSWORD),
                ("understood", "yes"),
            ],
        )
        .await;
    assert_eq!(
        (r.status, r.location.as_deref()),
        (303, Some("/account/deleted")),
        "{}",
        r.body
    );
    let page = anonymous.get(&format!("/challenges/{ID}")).await;
    assert!(!page.body.contains("Dana Scientist"), "{}", page.body);
    assert!(
        page.body.contains(lunghub_store::consent::DELETED_NAME),
        "{}",
        page.body
    );
    let detail = anonymous.get(&format!("/api/challenges/{ID}")).await.json();
    assert_eq!(
        detail["private_leaderboard"].as_array().map(Vec::len),
        Some(3),
        "{detail}"
    );
    let r = dana.get("/account").await;
    assert_eq!(r.status, 303, "the session is gone: {}", r.body);
    let r = http
        .post(&api)
        .bearer_auth(&token)
        .body(good.clone())
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status().as_u16(), 401, "the API token is gone");
    let again = server.client();
    again.get("/signin").await;
    let r = again
        .post(
            "/signin",
            &[
                ("email", "dana@example.org"),
                ("password", common::accounts::PASSWORD),
            ],
        )
        .await;
    assert_ne!(r.status, 303, "{}", r.body);
    let tracks = eve.get("/tracks").await;
    assert!(!tracks.body.contains("Dana Scientist"));
}
