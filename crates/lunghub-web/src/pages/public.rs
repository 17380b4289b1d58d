//! What anyone can see and do: the mission, how to help, sign-up by role with email
//! confirmation, subscriptions, partners and contributors, and the working tracks.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lunghub_domain::access::Action;
use lunghub_domain::{SignupRole, Stage};
use lunghub_store::StoreError;
use lunghub_store::platform::NewAccount;
use maud::{Markup, html};

use super::{see_other, with_status};
use crate::form::{Fields, FormFields, Problems};
use crate::layout::{csrf, page, problems};
use crate::{Shared, Viewer, WebError, auth};

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/", get(home))
        .route("/help", get(help))
        .route("/join/{role}", get(join_form).post(join))
        .route("/confirm/{token}", get(confirm))
        .route("/subscribe", get(subscribe_form).post(subscribe))
        .route("/subscribe/confirm/{token}", get(subscribe_confirm))
        .route(
            "/unsubscribe/{token}",
            get(unsubscribe_form).post(unsubscribe),
        )
        .route("/partners", get(partners))
        // The partners page lists the contributors too; the old address still works.
        .route(
            "/contributors",
            get(|| async { super::see_other("/partners") }),
        )
        .route("/tracks", get(tracks))
        .route("/tracks/{id}/join", post(join_track))
        .route("/tracks/{id}/leave", post(leave_track))
        .route("/tracks/{id}/coordinate", post(offer_to_coordinate))
}

async fn home(State(app): State<Shared>, viewer: Viewer) -> Result<Response, WebError> {
    let institutes = app.platform.institutes().await?;
    let available = institutes
        .iter()
        .filter(|i| i.stage == Stage::DatasetAvailable.key())
        .count();
    let body = html! {
        h1 { "Open medical imaging against COVID-19" }
        p.lead {
            "We are volunteers — doctors, data scientists and engineers — building open, de-identified datasets of chest X-rays and lung ultrasound from hospitals, "
            "and diagnostic models that anyone can check. Hospitals with lunghub's gateway de-identify every image inside the hospital, under a key that never leaves it, "
            "and send only the de-identified copy; images sent to our server directly are de-identified as they arrive, in memory, before anything is stored, "
            "under a key of their hospital's own. Either way names and identifiers are never kept, images that may show them in their pixels are held back for review, "
            "and one hospital's patients never mix with another's."
        }
        p { a.button href="/help" { "See how you can help" } }
        div.cards {
            div.card { h3 { "Hospitals" } p { (crate::layout::count(institutes.len(), "institute")) " on board, " (available) " with a dataset available." } a href="/status" { "Onboarding status" } }
            div.card { h3 { "Working tracks" } p { "Imaging, outbreak statistics, clinical data, drug impact and maker equipment." } a href="/tracks" { "Join a track" } }
            div.card { h3 { "Partners and contributors" } p { "The companies and people who make the work possible." } a href="/partners" { "Who we are" } }
            div.card { h3 { "Updates" } p { "News of datasets and results, now and then. Unsubscribe with one click." } a href="/subscribe" { "Subscribe" } }
            div.card { h3 { "For developers" } p { "A JSON API, described in OpenAPI." } a href="/api/openapi.json" { "OpenAPI document" } }
        }
    };
    Ok(page(&viewer, "Open medical imaging against COVID-19", body).into_response())
}

async fn help(viewer: Viewer) -> Response {
    let body = html! {
        h1 { "How you can help" }
        p.lead { "Choose what describes you best. We only ask what we need to work with you." }
        @for role in SignupRole::ALL {
            section.panel id=(role.key()) {
                h2 { (role.label()) }
                p { (role.pitch()) }
                @if role.makes_account() {
                    a.button href=(format!("/join/{}", role.key())) { "Sign up as " (role.label().to_lowercase()) }
                } @else {
                    a.button href="/subscribe" { "Subscribe to updates" }
                }
            }
        }
    };
    page(&viewer, "How you can help", body).into_response()
}

fn join_page(
    viewer: &Viewer,
    role: SignupRole,
    fields: &Fields,
    list: &[String],
) -> axum::response::Html<String> {
    let body = html! {
        h1 { "Sign up: " (role.label()) }
        p.lead { (role.pitch()) }
        (problems(list))
        form.stacked method="post" action=(format!("/join/{}", role.key())) {
            (csrf(viewer))
            label for="name" { "Your name" }
            input type="text" id="name" name="name" required maxlength="120" value=(fields.get("name"));
            label for="email" { "Email" }
            input type="email" id="email" name="email" required maxlength="254" value=(fields.get("email"));
            @for q in role.questions() {
                label for=(q.key) { (q.label) @if !q.required { " " span.hint { "(optional)" } } }
                @if q.max_chars > 500 {
                    textarea id=(q.key) name=(q.key) maxlength=(q.max_chars) required[q.required] { (fields.get(q.key)) }
                } @else {
                    input type="text" id=(q.key) name=(q.key) maxlength=(q.max_chars) required[q.required] value=(fields.get(q.key));
                }
            }
            label for="password" { "Password " span.hint { "(at least 10 characters)" } }
            input type="password" id="password" name="password" required minlength="10" autocomplete="new-password";
            label for="password2" { "Password again" }
            input type="password" id="password2" name="password2" required minlength="10" autocomplete="new-password";
            label.check { input type="checkbox" name="listed" checked[fields.checked("listed")]; " List me publicly as a "
                (if role.is_partner() { "partner" } else { "contributor" }) span.hint { " (after the admin approves it; you can withdraw it from your account page)" } }
            label.check { input type="checkbox" name="subscribe" checked[fields.checked("subscribe")]; " Send me updates by email" }
            button.primary type="submit" { "Sign up" }
        }
    };
    page(viewer, &format!("Sign up: {}", role.label()), body)
}

fn signup_role(key: &str) -> Result<SignupRole, WebError> {
    SignupRole::parse(key).ok_or(WebError::NotFound)
}

async fn join_form(viewer: Viewer, Path(role): Path<String>) -> Result<Response, WebError> {
    let role = signup_role(&role)?;
    if !role.makes_account() {
        return Ok(see_other("/subscribe"));
    }
    Ok(join_page(&viewer, role, &Fields::default(), &[]).into_response())
}

async fn join(
    State(app): State<Shared>,
    viewer: Viewer,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    Path(role): Path<String>,
    FormFields(fields): FormFields,
) -> Result<Response, WebError> {
    let role = signup_role(&role)?;
    if !role.makes_account() {
        return Ok(see_other("/subscribe"));
    }
    if !app
        .quotas
        .signups
        .take(&app.client_address(peer, &headers).to_string())
    {
        return Ok(too_many(&viewer, "sign-ups"));
    }
    let mut p = Problems::default();
    let name = p.text(&fields, "name", "Your name", true, 120, false);
    let email = p.email(&fields, "email");
    let mut profile = serde_json::Map::new();
    for q in role.questions() {
        let v = p.text(
            &fields,
            q.key,
            q.label,
            q.required,
            q.max_chars,
            q.max_chars > 500,
        );
        if !v.is_empty() {
            profile.insert(q.key.into(), v.into());
        }
    }
    let password = p.new_password(&fields, "password", "password2");
    if !p.is_empty() {
        return Ok(with_status(
            StatusCode::BAD_REQUEST,
            join_page(&viewer, role, &fields, &p.0),
        ));
    }
    let new = NewAccount {
        email: email.clone(),
        name,
        password_hash: Some(auth::hash_password(&password)?),
        role: role.account_role().key().into(),
        signup_role: Some(role.key().into()),
        profile: serde_json::Value::Object(profile).to_string(),
        listed: fields.checked("listed"),
        confirmed: false,
    };
    match app.platform.create_account(&new).await {
        Ok(account) => {
            let token = app.one_time_token("confirm", &account.id, 48).await?;
            app.send_asked_for(
                &email,
                "Confirm your email for lunghub",
                &format!(
                    "Hello {},\n\nThank you for signing up as {}. Confirm your email by opening this link (valid 48 hours):\n\n{}\n\nIf you did not sign up, ignore this message.\n",
                    account.name,
                    role.label().to_lowercase(),
                    app.link(&format!("/confirm/{token}"))
                ),
            ).await?;
        }
        // Say the same as for a new address, so the form does not reveal who has an
        // account; tell the owner instead.
        Err(StoreError::Conflict(_)) => app.send_asked_for(
            &email,
            "Someone tried to sign up with your email",
            &format!(
                "Someone (perhaps you) tried to sign up for lunghub with this address, which already has an account.\n\nSign in: {}\nForgot your password? {}\n",
                app.link("/signin"),
                app.link("/reset")
            ),
        ).await?,
        Err(e) => return Err(e.into()),
    }
    if fields.checked("subscribe") {
        start_subscription(&app, &email).await?;
    }
    let body = html! {
        h1 { "Check your email" }
        p.notice { "We sent a confirmation link to " strong { (email) } ". Open it to confirm your address, then sign in." }
    };
    Ok(page(&viewer, "Check your email", body).into_response())
}

async fn confirm(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let body = match app
        .platform
        .take_token(&auth::token_hash(&token), "confirm")
        .await?
    {
        Some(account_id) => {
            app.platform.confirm_account(&account_id).await?;
            html! { h1 { "Email confirmed" } p.notice { "Thank you. Your address is confirmed." } p { a.button href="/signin" { "Sign in" } } }
        }
        None => {
            let body = html! {
                h1 { "This link does not work" }
                p.notice.warn { "The confirmation link is unknown, already used, or expired. Sign up again to get a new one." }
            };
            return Ok(with_status(
                StatusCode::NOT_FOUND,
                page(&viewer, "Link expired", body),
            ));
        }
    };
    Ok(page(&viewer, "Email confirmed", body).into_response())
}

fn subscribe_page(viewer: &Viewer, email: &str, list: &[String]) -> axum::response::Html<String> {
    let body = html! {
        h1 { "Get updates" }
        p.lead { "News of datasets, results and calls for help, a few times a month at most. Every message has a one-click unsubscribe link." }
        (problems(list))
        form.stacked method="post" action="/subscribe" {
            (csrf(viewer))
            label for="email" { "Email" }
            input type="email" id="email" name="email" required maxlength="254" value=(email);
            button.primary type="submit" { "Subscribe" }
        }
    };
    page(viewer, "Get updates", body)
}

async fn subscribe_form(viewer: Viewer) -> Response {
    subscribe_page(&viewer, "", &[]).into_response()
}

/// Adds the address unconfirmed and mails it a confirmation link and an unsubscribe link.
async fn start_subscription(app: &Shared, email: &str) -> Result<(), WebError> {
    let unsubscribe = auth::new_token()?;
    if app.platform.subscribe(email, &unsubscribe).await? {
        let token = app.one_time_token("subscribe", email, 7 * 24).await?;
        app.send_asked_for(
            email,
            "Confirm your lunghub subscription",
            &format!(
                "Confirm that you want lunghub's updates:\n\n{}\n\nUnsubscribe at any time, with one click:\n\n{}\n",
                app.link(&format!("/subscribe/confirm/{token}")),
                app.link(&format!("/unsubscribe/{unsubscribe}"))
            ),
        ).await?;
    }
    Ok(())
}

async fn subscribe(
    State(app): State<Shared>,
    viewer: Viewer,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    FormFields(fields): FormFields,
) -> Result<Response, WebError> {
    if !app
        .quotas
        .requests
        .take(&app.client_address(peer, &headers).to_string())
    {
        return Ok(too_many(&viewer, "requests"));
    }
    let mut p = Problems::default();
    let email = p.email(&fields, "email");
    if !p.is_empty() {
        return Ok(with_status(
            StatusCode::BAD_REQUEST,
            subscribe_page(&viewer, fields.get("email"), &p.0),
        ));
    }
    start_subscription(&app, &email).await?;
    let body = html! { h1 { "Check your email" } p.notice { "If " strong { (email) } " is not subscribed yet, we sent it a link to confirm." } };
    Ok(page(&viewer, "Check your email", body).into_response())
}

async fn subscribe_confirm(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    match app
        .platform
        .take_token(&auth::token_hash(&token), "subscribe")
        .await?
    {
        Some(email) => {
            app.platform.confirm_subscriber(&email).await?;
            Ok(page(&viewer, "Subscribed", html! { h1 { "Subscribed" } p.notice { "You will get our updates at " strong { (email) } "." } }).into_response())
        }
        None => Ok(with_status(
            StatusCode::NOT_FOUND,
            page(
                &viewer,
                "Link expired",
                html! { h1 { "This link does not work" } p.notice.warn { "It is unknown, already used, or expired." } },
            ),
        )),
    }
}

/// The link in a mail only asks: mail filters (Safe Links and the like) open every link
/// in a message, and must not unsubscribe anyone by doing so.
async fn unsubscribe_form(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let body = match app.platform.subscription(&token).await? {
        Some((email, true)) => html! {
            h1 { "Unsubscribe" }
            p { "Stop lunghub's news to " strong { (email) } "?" }
            form.inline method="post" action=(format!("/unsubscribe/{token}")) {
                (csrf(&viewer))
                button.primary type="submit" { "Unsubscribe" }
            }
        },
        Some((email, false)) => html! {
            h1 { "Not subscribed" }
            p.notice { strong { (email) } " gets no updates from us." }
            p { a href="/subscribe" { "Subscribe again" } }
        },
        None => return Ok(unknown_unsubscribe(&viewer)),
    };
    Ok(page(&viewer, "Unsubscribe", body).into_response())
}

fn unknown_unsubscribe(viewer: &Viewer) -> Response {
    with_status(
        StatusCode::NOT_FOUND,
        page(
            viewer,
            "Unknown link",
            html! { h1 { "Unknown link" } p.notice.warn { "This unsubscribe link is not known." } },
        ),
    )
}

async fn unsubscribe(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    match app.platform.unsubscribe(&token).await? {
        Some(email) => Ok(page(
            &viewer,
            "Unsubscribed",
            html! { h1 { "Unsubscribed" } p.notice { strong { (email) } " will get no more updates from us." } p { a href="/subscribe" { "Subscribe again" } } },
        )
        .into_response()),
        None => Ok(unknown_unsubscribe(&viewer)),
    }
}

/// `POST /unsubscribe/{token}/one-click`, the `List-Unsubscribe` address of news mail: a
/// mail client posts `List-Unsubscribe=One-Click` there (RFC 8058) without a session or a
/// CSRF token; the token in the path is the authority.
pub fn one_click_routes() -> Router<Shared> {
    Router::new().route("/unsubscribe/{token}/one-click", post(one_click))
}

async fn one_click(
    State(app): State<Shared>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    match app.platform.unsubscribe(&token).await? {
        Some(_) => Ok((StatusCode::OK, "Unsubscribed.\n").into_response()),
        None => Ok((
            StatusCode::NOT_FOUND,
            "This unsubscribe link is not known.\n",
        )
            .into_response()),
    }
}

async fn partners(State(app): State<Shared>, viewer: Viewer) -> Result<Response, WebError> {
    let listed = app.platform.listed_accounts().await?;
    let (companies, people): (Vec<_>, Vec<_>) = listed.iter().partition(|a| {
        a.signup_role
            .as_deref()
            .and_then(SignupRole::parse)
            .is_some_and(|r| r.is_partner())
    });
    let profile = |a: &lunghub_store::platform::Account, key: &str| -> String {
        serde_json::from_str::<serde_json::Value>(&a.profile)
            .ok()
            .and_then(|v| v.get(key).and_then(|s| s.as_str()).map(str::to_owned))
            .unwrap_or_default()
    };
    let body = html! {
        h1 { "Partners and contributors" }
        p.lead { "Listed here at their request, approved by the admin. Anyone listed can withdraw from their account page." }
        h2 { "Partners" }
        @if companies.is_empty() { p.muted { "No partner listed yet." } }
        div.cards { @for c in &companies { div.card { h3 { (profile(c, "company")) } p { (profile(c, "offer")) } } } }
        h2 { "Contributors" }
        @if people.is_empty() { p.muted { "No contributor listed yet." } }
        ul { @for a in &people {
            li { (a.name) @if let Some(r) = a.signup_role.as_deref().and_then(SignupRole::parse) { span.muted { " · " (r.label()) } } }
        } }
    };
    Ok(page(&viewer, "Partners and contributors", body).into_response())
}

fn track_actions(
    viewer: &Viewer,
    track: &lunghub_store::platform::Track,
    mine: &[lunghub_store::consent::TrackRecord],
) -> Markup {
    let member = mine
        .iter()
        .any(|m| m.track == track.id && m.kind == "member");
    let offered = mine
        .iter()
        .any(|m| m.track == track.id && m.kind == "coordinator-offer");
    html! {
        @if viewer.account.is_some() {
            @if member || offered {
                div.notice.member {
                    @if member { "You are a member of this track." } @else { "You offered to coordinate this track." }
                    " "
                    form.inline method="post" action=(format!("/tracks/{}/leave", track.id)) {
                        (csrf(viewer))
                        button.secondary type="submit" { "Leave" }
                    }
                }
            }
            @if !member {
                form.inline method="post" action=(format!("/tracks/{}/join", track.id)) { (csrf(viewer)) button.secondary type="submit" { "Join" } }
                " "
            }
            @if track.coordinator.is_none() && !offered {
                form.inline method="post" action=(format!("/tracks/{}/coordinate", track.id)) { (csrf(viewer)) button.secondary type="submit" { "Offer to coordinate" } }
            }
        } @else {
            a href="/signin?next=/tracks" { "Sign in to join" }
        }
    }
}

async fn tracks(State(app): State<Shared>, viewer: Viewer) -> Result<Response, WebError> {
    let tracks = app.platform.tracks().await?;
    let mine = match &viewer.account {
        Some(a) => app.platform.tracks_of(&a.id).await?,
        None => Vec::new(),
    };
    let challenges = app.platform.challenges().await?;
    let now = crate::now_ns();
    let mut posts = std::collections::BTreeMap::new();
    for t in &tracks {
        posts.insert(t.id.clone(), app.platform.results_posts(&t.id, now).await?);
    }
    let body = html! {
        h1 { "Working tracks" }
        p.lead { "Where volunteers share and compare their work. Each track has a coordinator, or needs one." }
        div.cards {
            @for t in &tracks {
                div.card id=(t.id) {
                    h3 { (t.name) }
                    p { (t.summary) }
                    p.meta {
                        @match &t.coordinator { Some(c) => { "Coordinator: " strong { (c) } } None => { span.stale { "Coordinator required" } } }
                        " · " (t.members) " member" @if t.members != 1 { "s" }
                    }
                    (track_actions(&viewer, t, &mine))
                    @let own: Vec<_> = challenges.iter().filter(|c| c.track_id == t.id).collect();
                    @if !own.is_empty() {
                        h4 { "Challenges" }
                        ul { @for c in own { li { a href=(format!("/challenges/{}", c.id)) { (c.title) } } } }
                    }
                    @if let Some(list) = posts.get(&t.id).filter(|l| !l.is_empty()) {
                        h4 { "Results posts" }
                        @for p in list { (results_post(p, &challenges)) }
                    }
                }
            }
        }
    };
    Ok(page(&viewer, "Working tracks", body).into_response())
}

/// A participant's write-up of one submission, with its links and public score.
fn results_post(
    p: &lunghub_store::challenges::Submission,
    challenges: &[lunghub_store::challenges::Challenge],
) -> Markup {
    let links: Vec<String> = serde_json::from_str(&p.links).unwrap_or_default();
    let title = challenges
        .iter()
        .find(|c| c.id == p.challenge_id)
        .map_or(p.challenge_id.as_str(), |c| c.title.as_str());
    let auc = crate::challenges::scores_of(&p.public_scores)
        .and_then(|s| s.auc)
        .map_or("n/a".to_owned(), |a| format!("{a:.3}"));
    html! {
        article.post {
            p.meta { strong { (p.participant) } " on " a href=(format!("/challenges/{}", p.challenge_id)) { (title) } ", public ROC AUC " (auc) }
            p { (p.writeup) }
            @if !links.is_empty() {
                ul { @for l in &links { li { a href=(l) rel="nofollow noopener" { (l) } } } }
            }
        }
    }
}

async fn track_people(
    app: &Shared,
    viewer: &Viewer,
    id: &str,
    kind: &str,
) -> Result<Response, WebError> {
    let account = viewer.require(Action::JoinTrack, "/tracks")?;
    app.platform.join_track(id, &account.id, kind).await?;
    Ok(see_other(&format!("/tracks#{id}")))
}

async fn join_track(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    track_people(&app, &viewer, &id, "member").await
}

/// Leaves a track (membership, offer and coordination), back to the tracks page or to the
/// account page it was left from.
async fn leave_track(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
    FormFields(fields): FormFields,
) -> Result<Response, WebError> {
    let account = viewer
        .account
        .as_ref()
        .ok_or_else(|| WebError::SignInFirst("/tracks".into()))?;
    app.platform.leave_track(&id, &account.id).await?;
    if fields.get("back") == "/account#tracks" {
        return Ok(see_other("/account#tracks"));
    }
    Ok(see_other(&format!("/tracks#{id}")))
}

async fn offer_to_coordinate(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    track_people(&app, &viewer, &id, "coordinator-offer").await
}

/// The answer to a form sent more often from one address than its hourly quota allows.
pub(crate) fn too_many(viewer: &Viewer, what: &str) -> Response {
    let body = html! {
        h1 { "Too many " (what) }
        p.notice.warn { "This network sent more " (what) " in the last hour than lunghub takes. Try again in an hour." }
    };
    with_status(
        StatusCode::TOO_MANY_REQUESTS,
        page(viewer, "Too many requests", body),
    )
}
