//! Challenges: the leaderboards of the working tracks, on sequestered test sets (issue 8).
//!
//! Pages (session and CSRF, like the rest of the site): the list, a challenge with its
//! rules, downloads, public leaderboard (and, after the close, the private one), the
//! submission form and one's own history with final picks and results posts; personal API
//! tokens at `/account/tokens`. JSON: `/api/challenges` and `/api/challenges/{id}` are
//! public; `/api/challenges/{id}/submissions` takes a personal token (`Authorization:
//! Bearer …`, no session or CSRF) for `lunghub submit` and scripts.
//!
//! Every submission, from any route, goes through [`crate::challenges::submit`]. Private
//! scores come out of the store only after the close (see `lunghub_store::challenges`).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use lunghub_challenge::score::Scores;
use lunghub_domain::AccountRole;
use lunghub_domain::access::{Action, Actor, may};
use lunghub_release::archive::{Format, Source};
use lunghub_store::challenges::{Challenge, Submission};
use lunghub_store::platform::Account;
use maud::{Markup, html};
use serde_json::{Value, json};

use super::{see_other, with_status};
use crate::challenges::{
    FINAL_PICKS, MAX_CSV_BYTES, NotRecorded, Standing, private_leaderboard, public_leaderboard,
    scores_of, submit, test_set,
};
use crate::form::FormFields;
use crate::layout::{csrf, date, page, problems};
use crate::{Shared, Viewer, WebError, auth, now_ns};

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/challenges", get(list))
        .route("/challenges/{id}", get(show))
        .route("/challenges/{id}/sample.csv", get(sample_csv))
        .route("/challenges/{id}/test-images.zip", get(test_images))
        .route("/challenges/{id}/submissions/{sid}/final", post(set_final))
        .route(
            "/challenges/{id}/submissions/{sid}/writeup",
            post(set_writeup),
        )
        .route("/account/tokens", get(tokens).post(create_token))
        .route("/account/tokens/{hash}/revoke", post(revoke_token))
        .route("/api/challenges", get(api_list))
        .route("/api/challenges/{id}", get(api_show))
        .merge(
            Router::new()
                .route("/challenges/{id}/submissions", post(submit_form))
                .layer(DefaultBodyLimit::max(MAX_CSV_BYTES + 64 * 1024)),
        )
}

/// The token routes, outside the session and CSRF layer.
pub fn token_routes() -> Router<Shared> {
    Router::new()
        .route(
            "/api/challenges/{id}/submissions",
            get(api_own).post(api_submit),
        )
        .layer(DefaultBodyLimit::max(MAX_CSV_BYTES))
}

async fn found(app: &Shared, id: &str) -> Result<Challenge, WebError> {
    app.platform.challenge(id).await?.ok_or(WebError::NotFound)
}

fn rate(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.3}"))
}

fn auc_cell(s: &Scores) -> String {
    match (s.auc, s.auc_interval) {
        (Some(a), Some((lo, hi))) => format!("{a:.3} ({lo:.3}–{hi:.3})"),
        (Some(a), None) => format!("{a:.3}"),
        _ => "n/a".into(),
    }
}

fn leaderboard_table(rows: &[Standing], caption: &str, id: &str) -> Markup {
    html! {
        table id=(id) {
            caption { (caption) }
            thead { tr {
                th { "#" } th { "Participant" } th { "ROC AUC (95% CI)" } th { "Sens. at 95% spec." }
                th { "Spec. at 95% sens." } th { "F1 at threshold" } th { "ROC AUC per source" } th { "Entries" } th { "Scored on" }
            } }
            tbody {
                @if rows.is_empty() { tr { td colspan="9" { "No submissions yet." } } }
                @for r in rows {
                    tr {
                        td { (r.rank) }
                        td { (r.participant) @if r.baseline { " " span.badge { "baseline" } } }
                        td { (auc_cell(&r.scores)) }
                        td { (rate(r.scores.sensitivity_at_95_specificity)) }
                        td { (rate(r.scores.specificity_at_95_sensitivity)) }
                        td { (rate(r.scores.f1)) }
                        td.sources { (per_source(&r.scores)) }
                        td { (r.submissions) }
                        td { (date(r.at)) }
                    }
                }
            }
        }
    }
}

/// "source: AUC (n)" for each source, on one line each.
fn per_source(s: &Scores) -> Markup {
    html! {
        @for (i, src) in s.sources.iter().enumerate() {
            @if i > 0 { br; }
            (src.source) ": " (rate(src.auc)) " (" (src.cases) ")"
        }
    }
}

async fn list(State(app): State<Shared>, viewer: Viewer) -> Result<Response, WebError> {
    let now = now_ns();
    let challenges = app.platform.challenges().await?;
    let t = |id: &str| viewer.t(id);
    let body = html! {
        h1 { (t("nav-challenges")) }
        p.lead { (t("challenges-lead")) }
        @if challenges.is_empty() { p { (t("challenges-none")) } }
        @else {
            table {
                thead { tr { @for id in ["challenges-col-challenge", "challenges-col-track", "challenges-col-dataset", "challenges-col-task", "challenges-col-state", "challenges-col-closes"] { th { (t(id)) } } } }
                tbody {
                    @for c in &challenges {
                        tr {
                            td { a href=(format!("/challenges/{}", c.id)) { (c.title) } }
                            td { a href=(format!("/tracks#{}", c.track_id)) { (c.track_id) } }
                            td { a href=(format!("/releases/{}/{}", c.release_name, c.release_version)) { (c.release_name) " v" (c.release_version) } }
                            td { (c.task) }
                            td { (viewer.lang.t(&format!("challenge-state-{}", c.state(now).replace(' ', "-")))) }
                            td { time datetime=(date(c.closes_at)) { (viewer.lang.long_date(c.closes_at)) } }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&viewer, &t("nav-challenges"), body).into_response())
}

/// A challenge's page, with any problems of a submission just refused.
async fn challenge_page(
    app: &Shared,
    viewer: &Viewer,
    c: &Challenge,
    shown_problems: &[String],
) -> Result<axum::response::Html<String>, WebError> {
    let now = now_ns();
    let set = test_set(&app.platform, c).await?;
    let all = app.platform.submissions(&c.id, now).await?;
    let public = public_leaderboard(&all);
    let private = private_leaderboard(&all);
    let account = viewer.account.as_ref();
    // One's own history, newest first, from the submissions already read.
    let own: Vec<&Submission> = all
        .iter()
        .rev()
        .filter(|s| account.is_some_and(|a| a.id == s.account_id))
        .collect();
    let counts = match account {
        Some(a) => Some(app.platform.submission_counts(&c.id, &a.id, now).await?),
        None => None,
    };
    let headers = set.columns.headers();
    let body = html! {
        h1 { (c.title) }
        p.lead { (c.description) }
        p.meta {
            "Track " a href=(format!("/tracks#{}", c.track_id)) { (c.track_id) } " · dataset "
            a href=(format!("/releases/{}/{}", c.release_name, c.release_version)) { (c.release_name) " v" (c.release_version) }
            " · task " strong { (c.task) } " · " strong #state { (c.state(now)) }
            " · opens " (date(c.opens_at)) ", closes " (date(c.closes_at)) " (UTC)"
        }
        section {
            h2 { "Data and format" }
            ul {
                li { a #test-images href=(format!("/challenges/{}/test-images.zip", c.id)) { "Test images (.zip)" }
                    " — the " (set.ids.len()) " test images of the release that this task scores, with test.csv (no findings)." }
                li { a #sample href=(format!("/challenges/{}/sample.csv", c.id)) { "sample.csv" } " — one line per test image, values left blank." }
            }
            p { "Send a CSV whose header is " @for (i, h) in headers.iter().enumerate() { @if i > 0 { " or " } code { (h) } }
                ", then one line per test image: its file name, and the probability (0 to 1) of "
                @if set.columns.classes().len() == 2 { strong { (set.columns.classes()[set.columns.positive()]) } } @else { "each class, in that order" } "."
                " Every test image exactly once; nothing else." }
            p { "Metrics, declared before the first submission: ROC AUC of "
                strong { (set.columns.classes()[set.columns.positive()]) } " against the rest with its 95% interval (bootstrap over patients), "
                "sensitivity at 95% specificity, specificity at 95% sensitivity, F1 at the threshold "
                (format!("{:.2}", c.threshold)) ", and each result per source. The leaderboards rank by ROC AUC." }
            p { "The test set is split by patient into a public part (" (set.public_cases) " images), scored on the leaderboard below, and a private part ("
                (set.ids.len() - set.public_cases) " images), revealed when the challenge closes. At most "
                (c.daily_limit) " submissions a day and " (c.total_limit) " in all. Pick up to " (FINAL_PICKS)
                " final submissions: the private leaderboard ranks the better of them (or, without picks, of your two best public ones)." }
        }
        section {
            h2 { "Leaderboard" }
            (leaderboard_table(&public, "Public part", "public-leaderboard"))
            @match &private {
                Some(rows) => { (leaderboard_table(rows, "Private part: the final ranking", "private-leaderboard")) }
                None => { p.meta #private-hidden { "The private part is revealed on " (date(c.closes_at)) "." } }
            }
        }
        section #submit {
            h2 { "Submit" }
            (problems(viewer.lang, shown_problems))
            @match (account, viewer.may(Action::SubmitPredictions)) {
                (None, _) => { p { a href=(format!("/signin?next=/challenges/{}", c.id)) { "Sign in" } " to submit." } }
                (Some(_), false) => { p { "Confirm your email address first: only verified accounts may submit." } }
                (Some(_), true) if !c.is_open(now) => { p { "This challenge is " (c.state(now)) "." } }
                (Some(_), true) => {
                    @if let Some(n) = counts { p.meta #left {
                        "You have made " (n.today) " of " (c.daily_limit) " submissions today and " (n.total) " of " (c.total_limit) " in all."
                    } }
                    form.stacked method="post" enctype="multipart/form-data" action=(format!("/challenges/{}/submissions", c.id)) {
                        (crate::layout::csrf(&viewer))
                        label { "Predictions (.csv, at most " (MAX_CSV_BYTES >> 20) " MiB)"
                            input #predictions type="file" name="predictions" accept=".csv,text/csv" required; }
                        label { "A note for yourself (optional)" input type="text" name="note" maxlength="200"; }
                        button #send type="submit" { "Submit" }
                    }
                    p.meta { "Or from a terminal: " code { "lunghub submit --challenge " (c.id) " --server " (app.link("")) " predictions.csv" }
                        " with a token from " a href="/account/tokens" { "your API tokens" } "." }
                }
            }
        }
        @if !own.is_empty() {
            section #history {
                h2 { "Your submissions" }
                table {
                    thead { tr { th { "When" } th { "Note" } th { "Public ROC AUC" } th { "Private ROC AUC" } th { "F1" } th { "Final pick" } th { "Results post" } } }
                    tbody {
                        @for s in &own { (own_row(viewer, c, s, now)) }
                    }
                }
            }
        }
    };
    Ok(page(viewer, &c.title, body))
}

fn own_row(viewer: &Viewer, c: &Challenge, s: &Submission, now: i64) -> Markup {
    let public = scores_of(&s.public_scores);
    let private = s.private_scores.as_deref().and_then(scores_of);
    let links: Vec<String> = serde_json::from_str(&s.links).unwrap_or_default();
    html! {
        tr.submission id=(format!("s-{}", s.id)) {
            td { (date(s.at)) }
            td { (s.note) }
            td.public-score { (public.as_ref().map_or("n/a".into(), auc_cell)) }
            td.private-score { @match &private { Some(p) => { (auc_cell(p)) } None => { "hidden until " (date(c.closes_at)) } } }
            td { (rate(public.as_ref().and_then(|p| p.f1))) }
            td {
                @if s.final_pick { strong { "final" } }
                @if !c.is_closed(now) {
                    form.inline method="post" action=(format!("/challenges/{}/submissions/{}/final", c.id, s.id)) {
                        (csrf(viewer))
                        input type="hidden" name="pick" value=(if s.final_pick { "0" } else { "1" });
                        button.secondary type="submit" { @if s.final_pick { "Unpick" } @else { "Pick as final" } }
                    }
                }
            }
            td {
                form.stacked method="post" action=(format!("/challenges/{}/submissions/{}/writeup", c.id, s.id)) {
                    (csrf(viewer))
                    textarea name="writeup" rows="2" maxlength="2000" placeholder="What you did, in a few lines" { (s.writeup) }
                    textarea name="links" rows="2" maxlength="2000" placeholder="Links to code, paper or model, one per line" { (links.join("\n")) }
                    button.secondary type="submit" { "Save post" }
                }
            }
        }
    }
}

async fn show(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let c = found(&app, &id).await?;
    Ok(challenge_page(&app, &viewer, &c, &[])
        .await?
        .into_response())
}

async fn sample_csv(
    State(app): State<Shared>,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let c = found(&app, &id).await?;
    let set = test_set(&app.platform, &c).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}-sample.csv\"", c.id),
            ),
        ],
        set.sample_csv(),
    )
        .into_response())
}

/// The scored test images and test.csv of the release, as one .zip streamed from the blob
/// store (see `pages::releases::download`).
async fn test_images(
    State(app): State<Shared>,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let c = found(&app, &id).await?;
    let set = test_set(&app.platform, &c).await?;
    let Some(record) = app
        .catalog
        .release(&c.release_name, Some(c.release_version))
        .await?
    else {
        return Err(WebError::Internal(format!(
            "challenge {}: its release is missing",
            c.id
        )));
    };
    let mut names: Vec<String> = set.ids.iter().map(|f| format!("images/{f}")).collect();
    names.push("test.csv".into());
    names.sort();
    Ok(super::releases::download_some(
        &app,
        &record,
        Format::Zip,
        Some(names),
        format!("{}-test-images", c.id),
    ))
}

/// A release's files narrowed to some of them.
pub(crate) struct Only<S> {
    pub inner: S,
    pub names: Vec<String>,
}

impl<S: Source> Source for Only<S> {
    fn names(&self) -> Result<Vec<String>, lunghub_release::ReleaseError> {
        Ok(self.names.clone())
    }

    fn read(&self, name: &str) -> Result<Vec<u8>, lunghub_release::ReleaseError> {
        self.inner.read(name)
    }
}

/// The file of a multipart form's `predictions` field, and the note.
async fn csv_of(mut multipart: Multipart) -> Result<(Vec<u8>, String), String> {
    let (mut csv, mut note) = (None, String::new());
    while let Some(field) = multipart.next_field().await.map_err(|e| {
        format!(
            "The upload stopped: {}. A submission may be at most {} MiB.",
            e.body_text(),
            MAX_CSV_BYTES >> 20
        )
    })? {
        match field.name() {
            Some("note") => note = field.text().await.map_err(|e| e.body_text())?,
            Some("predictions") => csv = Some(field.bytes().await.map_err(|e| e.body_text())?),
            _ => {}
        }
    }
    match csv {
        Some(b) if !b.is_empty() => Ok((b.to_vec(), note.trim().to_owned())),
        _ => Err("Choose the CSV file of your predictions.".into()),
    }
}

async fn submit_form(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
    multipart: Multipart,
) -> Result<Response, WebError> {
    let here = format!("/challenges/{id}");
    let account = viewer.require(Action::SubmitPredictions, &here)?.clone();
    let c = found(&app, &id).await?;
    let refuse = |status: StatusCode, problems: Vec<String>| {
        let app = app.clone();
        let viewer = viewer.clone();
        let c = c.clone();
        async move {
            Ok::<_, WebError>(with_status(
                status,
                challenge_page(&app, &viewer, &c, &problems).await?,
            ))
        }
    };
    let (csv, note) = match csv_of(multipart).await {
        Ok(x) => x,
        Err(why) => return refuse(StatusCode::BAD_REQUEST, vec![why]).await,
    };
    match submit(&app.platform, &c, &account.id, &csv, &note, false, now_ns()).await? {
        Ok(s) => Ok(see_other(&format!("{here}#s-{}", s.id))),
        Err(NotRecorded::Invalid(e)) => {
            let lines = e.to_string().lines().map(str::to_owned).collect();
            refuse(StatusCode::UNPROCESSABLE_ENTITY, lines).await
        }
        Err(NotRecorded::Refused(r)) => {
            refuse(
                StatusCode::TOO_MANY_REQUESTS,
                vec![format!("Not scored: {r}.")],
            )
            .await
        }
    }
}

async fn set_final(
    State(app): State<Shared>,
    viewer: Viewer,
    Path((id, sid)): Path<(String, String)>,
    FormFields(fields): FormFields,
) -> Result<Response, WebError> {
    let here = format!("/challenges/{id}");
    let account = viewer.require(Action::SubmitPredictions, &here)?;
    let pick = fields.get("pick") == "1";
    app.platform
        .set_final_pick(&sid, &account.id, pick, FINAL_PICKS, now_ns())
        .await?;
    Ok(see_other(&format!("{here}#s-{sid}")))
}

/// A results post's links: http(s) URLs only, one per line, at most ten.
fn links_of(text: &str) -> Result<Vec<String>, String> {
    let links: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if links.len() > 10 {
        return Err("At most ten links.".into());
    }
    if let Some(bad) = links.iter().find(|l| {
        !(l.starts_with("https://") || l.starts_with("http://"))
            || l.len() > 500
            || l.chars().any(char::is_whitespace)
    }) {
        return Err(format!(
            "{bad:?} is not a link: give http:// or https:// addresses, one per line."
        ));
    }
    Ok(links)
}

async fn set_writeup(
    State(app): State<Shared>,
    viewer: Viewer,
    Path((id, sid)): Path<(String, String)>,
    FormFields(fields): FormFields,
) -> Result<Response, WebError> {
    let here = format!("/challenges/{id}");
    let account = viewer.require(Action::SubmitPredictions, &here)?;
    let writeup = fields.get("writeup").trim();
    if writeup.chars().count() > 2000 {
        return Err(WebError::BadRequest(
            "A results post is at most 2,000 characters.".into(),
        ));
    }
    let links = links_of(fields.get("links")).map_err(WebError::BadRequest)?;
    let links = serde_json::to_string(&links).map_err(|e| WebError::Internal(e.to_string()))?;
    app.platform
        .set_writeup(&sid, &account.id, writeup, &links)
        .await?;
    Ok(see_other(&format!("{here}#s-{sid}")))
}

// ---- personal API tokens -----------------------------------------------------------------

fn tokens_page(
    viewer: &Viewer,
    tokens: &[lunghub_store::challenges::ApiToken],
    new: Option<&str>,
) -> Markup {
    html! {
        h1 { "API tokens" }
        p.lead { "A token lets " code { "lunghub submit" } " and your scripts send predictions as you. Keep it secret; revoke it when it is no longer needed." }
        @if let Some(t) = new {
            p.notice { "Your new token, shown this once: " code #new-token { (t) } }
        }
        form.inline method="post" action="/account/tokens" {
            (csrf(viewer))
            label { "Label " input type="text" name="label" maxlength="80" required placeholder="laptop"; }
            button type="submit" { "Create a token" }
        }
        table {
            thead { tr { th { "Label" } th { "Created" } th { "Last used" } th { "" } } }
            tbody {
                @for t in tokens {
                    tr {
                        td { (t.label) }
                        td { (date(t.created_at)) }
                        td { (t.last_used_at.map_or("never".into(), date)) }
                        td {
                            @if t.revoked_at.is_some() { "revoked" } @else {
                                form.inline method="post" action=(format!("/account/tokens/{}/revoke", t.token_hash)) {
                                    (csrf(viewer)) button.secondary type="submit" { "Revoke" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

async fn tokens(State(app): State<Shared>, viewer: Viewer) -> Result<Response, WebError> {
    let account = viewer.require(Action::SubmitPredictions, "/account/tokens")?;
    let list = app.platform.api_tokens(&account.id).await?;
    Ok(page(&viewer, "API tokens", tokens_page(&viewer, &list, None)).into_response())
}

async fn create_token(
    State(app): State<Shared>,
    viewer: Viewer,
    FormFields(fields): FormFields,
) -> Result<Response, WebError> {
    let account = viewer.require(Action::SubmitPredictions, "/account/tokens")?;
    let label: String = fields.get("label").trim().chars().take(80).collect();
    if label.is_empty() {
        return Err(WebError::BadRequest("Give the token a label.".into()));
    }
    let token = auth::new_token()?;
    app.platform
        .create_api_token(&auth::token_hash(&token), &account.id, &label)
        .await?;
    let list = app.platform.api_tokens(&account.id).await?;
    Ok(page(
        &viewer,
        "API tokens",
        tokens_page(&viewer, &list, Some(&token)),
    )
    .into_response())
}

async fn revoke_token(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(hash): Path<String>,
) -> Result<Response, WebError> {
    let account = viewer.require(Action::SubmitPredictions, "/account/tokens")?;
    if !app.platform.revoke_api_token(&hash, &account.id).await? {
        return Err(WebError::NotFound);
    }
    Ok(see_other("/account/tokens"))
}

// ---- JSON ------------------------------------------------------------------------------

fn challenge_json(c: &Challenge, now: i64) -> Value {
    json!({
        "id": c.id, "title": c.title, "description": c.description, "track": c.track_id,
        "release": { "name": c.release_name, "version": c.release_version },
        "task": c.task, "threshold": c.threshold, "state": c.state(now),
        "opens_at": c.opens_at, "closes_at": c.closes_at,
        "daily_limit": c.daily_limit, "total_limit": c.total_limit,
    })
}

async fn api_list(State(app): State<Shared>) -> Result<Json<Value>, WebError> {
    let now = now_ns();
    let list = app.platform.challenges().await?;
    Ok(Json(Value::Array(
        list.iter().map(|c| challenge_json(c, now)).collect(),
    )))
}

async fn api_show(State(app): State<Shared>, Path(id): Path<String>) -> Result<Response, WebError> {
    let now = now_ns();
    let Some(c) = app.platform.challenge(&id).await? else {
        return Ok(api_error(StatusCode::NOT_FOUND, "no such challenge", &[]));
    };
    let set = test_set(&app.platform, &c).await?;
    let all = app.platform.submissions(&c.id, now).await?;
    let mut out = challenge_json(&c, now);
    out["classes"] = json!(set.columns.classes());
    out["headers"] = json!(set.columns.headers());
    out["test_images"] = json!(set.ids.len());
    out["public_images"] = json!(set.public_cases);
    out["public_leaderboard"] = json!(public_leaderboard(&all));
    out["private_leaderboard"] = json!(private_leaderboard(&all));
    Ok(Json(out).into_response())
}

fn api_error(status: StatusCode, why: &str, problems: &[String]) -> Response {
    (status, Json(json!({ "error": why, "problems": problems }))).into_response()
}

/// The account whose live personal token the request carries, or the answer to give.
async fn bearer(app: &Shared, headers: &HeaderMap) -> Result<Account, Response> {
    let token = auth::bearer_token(headers);
    let unauthorized = |why: &str| {
        let mut r = api_error(StatusCode::UNAUTHORIZED, why, &[]);
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Bearer realm="lunghub""#),
        );
        r
    };
    let Some(token) = token else {
        return Err(unauthorized(
            "Send a personal token: Authorization: Bearer TOKEN (create one at /account/tokens).",
        ));
    };
    let account = match app.platform.use_api_token(&auth::token_hash(token)).await {
        Ok(Some(a)) => a,
        Ok(None) => return Err(unauthorized("This token is unknown or revoked.")),
        Err(e) => {
            eprintln!("error: cannot check an API token: {e}");
            return Err(api_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The server could not check the token. It has been logged.",
                &[],
            ));
        }
    };
    let actor = account.confirmed.then(|| Actor {
        role: AccountRole::parse(&account.role).unwrap_or(AccountRole::Member),
        site: account.site_id.clone(),
        medical: false,
    });
    if !may(actor.as_ref(), Action::SubmitPredictions) {
        return Err(api_error(
            StatusCode::FORBIDDEN,
            "Only verified accounts may submit: confirm your email address first.",
            &[],
        ));
    }
    Ok(account)
}

fn submission_json(s: &Submission) -> Value {
    json!({
        "id": s.id, "at": s.at, "note": s.note, "file_sha256": s.file_sha256,
        "final_pick": s.final_pick,
        "public": scores_of(&s.public_scores),
        "private": s.private_scores.as_deref().and_then(scores_of),
    })
}

async fn api_submit(
    State(app): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, WebError> {
    let account = match bearer(&app, &headers).await {
        Ok(a) => a,
        Err(r) => return Ok(r),
    };
    let c = found(&app, &id).await?;
    let note = headers
        .get("x-lunghub-note")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_owned();
    Ok(
        match submit(
            &app.platform,
            &c,
            &account.id,
            &body,
            &note,
            false,
            now_ns(),
        )
        .await?
        {
            Ok(s) => (StatusCode::CREATED, Json(submission_json(&s))).into_response(),
            Err(NotRecorded::Invalid(e)) => api_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "the file was not scored",
                &e.problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>(),
            ),
            Err(NotRecorded::Refused(r)) => {
                api_error(StatusCode::TOO_MANY_REQUESTS, &r.to_string(), &[])
            }
        },
    )
}

async fn api_own(
    State(app): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let account = match bearer(&app, &headers).await {
        Ok(a) => a,
        Err(r) => return Ok(r),
    };
    let c = found(&app, &id).await?;
    let own = app
        .platform
        .own_submissions(&c.id, &account.id, now_ns())
        .await?;
    Ok(Json(Value::Array(own.iter().map(submission_json).collect())).into_response())
}

pub fn openapi_paths(paths: &mut serde_json::Map<String, Value>) {
    let ok = json!({ "description": "OK", "content": { "application/json": { "schema": { "type": "object" } } } });
    paths.insert(
        "/api/challenges".into(),
        json!({ "get": { "summary": "The challenges: track, release, task, threshold, dates, limits, state", "responses": { "200": ok } } }),
    );
    paths.insert(
        "/api/challenges/{id}".into(),
        json!({ "get": { "summary": "A challenge with its CSV headers, test set size and public leaderboard; the private leaderboard is null until the close", "responses": { "200": ok, "404": { "description": "No such challenge" } } } }),
    );
    paths.insert(
        "/api/challenges/{id}/submissions".into(),
        json!({
            "get": { "summary": "Your own submissions to a challenge, newest first (private scores null until the close)", "security": [{ "personalToken": [] }],
                     "responses": { "200": ok, "401": { "description": "No, unknown or revoked personal token" }, "403": { "description": "Account not verified" } } },
            "post": { "summary": "Submit predictions (the CSV is the request body; optional X-Lunghub-Note header). Scored at once on the public part", "security": [{ "personalToken": [] }],
                      "requestBody": { "required": true, "content": { "text/csv": {} } },
                      "responses": { "201": { "description": "Scored: id and public scores" },
                                     "401": { "description": "No, unknown or revoked personal token" }, "403": { "description": "Account not verified" },
                                     "422": { "description": "The CSV is malformed: line-numbered problems" },
                                     "429": { "description": "Over the daily or total limit, or the challenge is not open" } } }
        }),
    );
}
