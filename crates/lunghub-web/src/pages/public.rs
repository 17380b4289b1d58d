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
use crate::i18n::{Lang, n};
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
        .route("/lang", post(switch_language))
}

/// The header's language switch: a cookie for everyone, and the account's preference for a
/// signed-in person, so that their mail follows too. Back to the page it was used on.
async fn switch_language(
    State(app): State<Shared>,
    viewer: Viewer,
    FormFields(fields): FormFields,
) -> Result<Response, WebError> {
    let lang = Lang::parse(fields.get("lang"))
        .ok_or_else(|| WebError::BadRequest(viewer.t("lang-unknown")))?;
    if let Some(a) = &viewer.account {
        app.platform
            .set_account_lang(&a.id, Some(lang.code()))
            .await?;
    }
    let back = fields.get("back");
    // Only a path of this site: "//host" and "/\\host" would leave it.
    let back = if back.starts_with('/')
        && !back.starts_with("//")
        && !back.starts_with("/\\")
        && back.bytes().all(|b| b.is_ascii_graphic())
    {
        back
    } else {
        "/"
    };
    let mut response = see_other(back);
    response.headers_mut().append(
        axum::http::header::SET_COOKIE,
        auth::set_cookie(
            crate::i18n::LANG_COOKIE,
            lang.code(),
            365 * 86_400,
            app.secure_cookies(),
        ),
    );
    Ok(response)
}

async fn home(State(app): State<Shared>, viewer: Viewer) -> Result<Response, WebError> {
    let institutes = app.platform.institutes().await?;
    let available = institutes
        .iter()
        .filter(|i| i.stage == Stage::DatasetAvailable.key())
        .count();
    let t = |id: &str| viewer.t(id);
    let body = html! {
        h1 { (t("home-title")) }
        p.lead { (t("home-lead")) }
        p { a.button href="/help" { (t("home-how-to-help")) } }
        div.cards {
            div.card { h3 { (t("home-hospitals")) } p { (viewer.ta("home-hospitals-text", &[("count", n(institutes.len() as f64)), ("available", n(available as f64))])) } a href="/status" { (t("home-hospitals-link")) } }
            div.card { h3 { (t("home-tracks")) } p { (t("home-tracks-text")) } a href="/tracks" { (t("home-tracks-link")) } }
            div.card { h3 { (t("home-partners")) } p { (t("home-partners-text")) } a href="/partners" { (t("home-partners-link")) } }
            div.card { h3 { (t("home-updates")) } p { (t("home-updates-text")) } a href="/subscribe" { (t("home-updates-link")) } }
            div.card { h3 { (t("home-developers")) } p { (t("home-developers-text")) } a href="/api/openapi.json" { (t("home-developers-link")) } }
        }
    };
    Ok(page(&viewer, &t("home-title"), body).into_response())
}

async fn help(viewer: Viewer) -> Response {
    let body = html! {
        h1 { (viewer.t("help-title")) }
        p.lead { (viewer.t("help-lead")) }
        @for role in SignupRole::ALL {
            section.panel id=(role.key()) {
                h2 { (role_label(viewer.lang, role)) }
                p { (viewer.lang.t(&format!("role-{}-pitch", role.key()))) }
                @if role.makes_account() {
                    a.button href=(format!("/join/{}", role.key())) { (viewer.ta("help-sign-up-as", &[("role", role_label(viewer.lang, role).into())])) }
                } @else {
                    a.button href="/subscribe" { (viewer.t("help-subscribe")) }
                }
            }
        }
    };
    page(&viewer, &viewer.t("help-title"), body).into_response()
}

/// A sign-up role's name in `lang`.
pub(crate) fn role_label(lang: Lang, role: SignupRole) -> String {
    lang.t(&format!("role-{}", role.key()))
}

fn join_page(
    viewer: &Viewer,
    role: SignupRole,
    fields: &Fields,
    list: &[String],
) -> axum::response::Html<String> {
    let t = |id: &str| viewer.t(id);
    let role_name = role_label(viewer.lang, role);
    let title = viewer.ta("join-title", &[("role", role_name.as_str().into())]);
    let body = html! {
        h1 { (title) }
        p.lead { (viewer.lang.t(&format!("role-{}-pitch", role.key()))) }
        (problems(viewer.lang, list))
        form.stacked method="post" action=(format!("/join/{}", role.key())) {
            (csrf(viewer))
            label for="name" { (t("join-name")) }
            input type="text" id="name" name="name" required maxlength="120" value=(fields.get("name"));
            label for="email" { (t("join-email")) }
            input type="email" id="email" name="email" required maxlength="254" value=(fields.get("email"));
            @for q in role.questions() {
                label for=(q.key) { (question_label(viewer.lang, q)) @if !q.required { " " span.hint { (t("form-optional")) } } }
                @if q.max_chars > 500 {
                    textarea id=(q.key) name=(q.key) maxlength=(q.max_chars) required[q.required] { (fields.get(q.key)) }
                } @else {
                    input type="text" id=(q.key) name=(q.key) maxlength=(q.max_chars) required[q.required] value=(fields.get(q.key));
                }
            }
            label for="password" { (t("join-password")) " " span.hint { (t("join-password-hint")) } }
            input type="password" id="password" name="password" required minlength="10" autocomplete="new-password";
            label for="password2" { (t("join-password-again")) }
            input type="password" id="password2" name="password2" required minlength="10" autocomplete="new-password";
            label.check { input type="checkbox" name="listed" checked[fields.checked("listed")]; " "
                (if role.is_partner() { t("join-list-partner") } else { t("join-list-contributor") }) span.hint { " " (t("join-list-hint")) } }
            label.check { input type="checkbox" name="subscribe" checked[fields.checked("subscribe")]; " " (t("join-subscribe")) }
            button.primary type="submit" { (t("join-submit")) }
        }
    };
    page(viewer, &title, body)
}

/// A sign-up question's label in `lang`.
fn question_label(lang: Lang, q: &lunghub_domain::people::Question) -> String {
    lang.t(&format!("question-{}", q.key))
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
    let mut p = Problems::in_lang(viewer.lang);
    let name = p.text(&fields, "name", &viewer.t("join-name"), true, 120, false);
    let email = p.email(&fields, "email");
    let mut profile = serde_json::Map::new();
    for q in role.questions() {
        let v = p.text(
            &fields,
            q.key,
            &question_label(viewer.lang, q),
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
    let lang = viewer.lang;
    match app.platform.create_account(&new).await {
        Ok(account) => {
            // The account keeps the language it signed up in, for its mail.
            app.platform
                .set_account_lang(&account.id, Some(lang.code()))
                .await?;
            let token = app.one_time_token("confirm", &account.id, 48).await?;
            app.send_asked_for(
                &email,
                &lang.t("mail-confirm-subject"),
                &lang.ta(
                    "mail-confirm-body",
                    &[
                        ("name", account.name.as_str().into()),
                        ("role", role_label(lang, role).to_lowercase().into()),
                        ("link", app.link(&format!("/confirm/{token}")).into()),
                    ],
                ),
            )
            .await?;
        }
        // Say the same as for a new address, so the form does not reveal who has an
        // account; tell the owner instead.
        Err(StoreError::Conflict(_)) => {
            app.send_asked_for(
                &email,
                &lang.t("mail-signup-again-subject"),
                &lang.ta(
                    "mail-signup-again-body",
                    &[
                        ("signin", app.link("/signin").into()),
                        ("reset", app.link("/reset").into()),
                    ],
                ),
            )
            .await?
        }
        Err(e) => return Err(e.into()),
    }
    if fields.checked("subscribe") {
        start_subscription(&app, &email, lang).await?;
    }
    let body = html! {
        h1 { (viewer.t("check-email")) }
        p.notice { (viewer.ta("join-sent", &[("email", email.as_str().into())])) }
    };
    Ok(page(&viewer, &viewer.t("check-email"), body).into_response())
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
            html! { h1 { (viewer.t("confirmed-title")) } p.notice { (viewer.t("confirmed-text")) } p { a.button href="/signin" { (viewer.t("nav-sign-in")) } } }
        }
        None => {
            let body = html! {
                h1 { (viewer.t("link-dead-title")) }
                p.notice.warn { (viewer.t("link-dead-confirm")) }
            };
            return Ok(with_status(
                StatusCode::NOT_FOUND,
                page(&viewer, &viewer.t("link-expired"), body),
            ));
        }
    };
    Ok(page(&viewer, &viewer.t("confirmed-title"), body).into_response())
}

fn subscribe_page(viewer: &Viewer, email: &str, list: &[String]) -> axum::response::Html<String> {
    let body = html! {
        h1 { (viewer.t("footer-updates")) }
        p.lead { (viewer.t("subscribe-lead")) }
        (problems(viewer.lang, list))
        form.stacked method="post" action="/subscribe" {
            (csrf(viewer))
            label for="email" { (viewer.t("join-email")) }
            input type="email" id="email" name="email" required maxlength="254" value=(email);
            button.primary type="submit" { (viewer.t("home-updates-link")) }
        }
    };
    page(viewer, &viewer.t("footer-updates"), body)
}

async fn subscribe_form(viewer: Viewer) -> Response {
    subscribe_page(&viewer, "", &[]).into_response()
}

/// Adds the address unconfirmed and mails it a confirmation link and an unsubscribe link.
/// The subscription keeps `lang`, the language of the page it was asked from, for its news.
async fn start_subscription(app: &Shared, email: &str, lang: Lang) -> Result<(), WebError> {
    let unsubscribe = auth::new_token()?;
    if app.platform.subscribe(email, &unsubscribe).await? {
        app.platform.set_subscriber_lang(email, lang.code()).await?;
        let token = app.one_time_token("subscribe", email, 7 * 24).await?;
        app.send_asked_for(
            email,
            &lang.t("mail-subscribe-subject"),
            &lang.ta(
                "mail-subscribe-body",
                &[
                    (
                        "confirm",
                        app.link(&format!("/subscribe/confirm/{token}")).into(),
                    ),
                    (
                        "unsubscribe",
                        app.link(&format!("/unsubscribe/{unsubscribe}")).into(),
                    ),
                ],
            ),
        )
        .await?;
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
    let mut p = Problems::in_lang(viewer.lang);
    let email = p.email(&fields, "email");
    if !p.is_empty() {
        return Ok(with_status(
            StatusCode::BAD_REQUEST,
            subscribe_page(&viewer, fields.get("email"), &p.0),
        ));
    }
    start_subscription(&app, &email, viewer.lang).await?;
    let body = html! { h1 { (viewer.t("check-email")) } p.notice { (viewer.ta("subscribe-sent", &[("email", email.as_str().into())])) } };
    Ok(page(&viewer, &viewer.t("check-email"), body).into_response())
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
            let title = viewer.t("subscribed-title");
            Ok(page(&viewer, &title, html! { h1 { (title) } p.notice { (viewer.ta("subscribed-text", &[("email", email.as_str().into())])) } }).into_response())
        }
        None => Ok(with_status(
            StatusCode::NOT_FOUND,
            page(
                &viewer,
                &viewer.t("link-expired"),
                html! { h1 { (viewer.t("link-dead-title")) } p.notice.warn { (viewer.t("link-dead-text")) } },
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
            h1 { (viewer.t("unsubscribe-title")) }
            p { (viewer.ta("unsubscribe-ask", &[("email", email.as_str().into())])) }
            form.inline method="post" action=(format!("/unsubscribe/{token}")) {
                (csrf(&viewer))
                button.primary type="submit" { (viewer.t("unsubscribe-title")) }
            }
        },
        Some((email, false)) => html! {
            h1 { (viewer.t("not-subscribed-title")) }
            p.notice { (viewer.ta("not-subscribed-text", &[("email", email.as_str().into())])) }
            p { a href="/subscribe" { (viewer.t("subscribe-again")) } }
        },
        None => return Ok(unknown_unsubscribe(&viewer)),
    };
    Ok(page(&viewer, &viewer.t("unsubscribe-title"), body).into_response())
}

fn unknown_unsubscribe(viewer: &Viewer) -> Response {
    with_status(
        StatusCode::NOT_FOUND,
        page(
            viewer,
            &viewer.t("unknown-link"),
            html! { h1 { (viewer.t("unknown-link")) } p.notice.warn { (viewer.t("unknown-unsubscribe")) } },
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
            &viewer.t("unsubscribed-title"),
            html! { h1 { (viewer.t("unsubscribed-title")) } p.notice { (viewer.ta("unsubscribed-text", &[("email", email.as_str().into())])) } p { a href="/subscribe" { (viewer.t("subscribe-again")) } } },
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
    let t = |id: &str| viewer.t(id);
    let body = html! {
        h1 { (t("home-partners")) }
        p.lead { (t("partners-lead")) }
        h2 { (t("partners-partners")) }
        @if companies.is_empty() { p.muted { (t("partners-none")) } }
        div.cards { @for c in &companies { div.card { h3 { (profile(c, "company")) } p { (profile(c, "offer")) } } } }
        h2 { (t("partners-contributors")) }
        @if people.is_empty() { p.muted { (t("contributors-none")) } }
        ul { @for a in &people {
            li { (a.name) @if let Some(r) = a.signup_role.as_deref().and_then(SignupRole::parse) { span.muted { " · " (role_label(viewer.lang, r)) } } }
        } }
    };
    Ok(page(&viewer, &t("home-partners"), body).into_response())
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
                    @if member { (viewer.t("track-member")) } @else { (viewer.t("track-offered")) }
                    " "
                    form.inline method="post" action=(format!("/tracks/{}/leave", track.id)) {
                        (csrf(viewer))
                        button.secondary type="submit" { (viewer.t("track-leave")) }
                    }
                }
            }
            @if !member {
                form.inline method="post" action=(format!("/tracks/{}/join", track.id)) { (csrf(viewer)) button.secondary type="submit" { (viewer.t("track-join")) } }
                " "
            }
            @if track.coordinator.is_none() && !offered {
                form.inline method="post" action=(format!("/tracks/{}/coordinate", track.id)) { (csrf(viewer)) button.secondary type="submit" { (viewer.t("track-offer")) } }
            }
        } @else {
            a href="/signin?next=/tracks" { (viewer.t("track-sign-in")) }
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
    let lang = viewer.lang;
    let body = html! {
        h1 { (lang.t("home-tracks")) }
        p.lead { (lang.t("tracks-lead")) }
        div.cards {
            @for t in &tracks {
                div.card id=(t.id) {
                    // The seeded tracks are translated; a track added later reads as written.
                    h3 { (lang.t_or(&format!("track-{}", t.id), &t.name)) }
                    p { (lang.t_or(&format!("track-{}-summary", t.id), &t.summary)) }
                    p.meta {
                        @match &t.coordinator { Some(c) => { (lang.t("track-coordinator")) " " strong { (c) } } None => { span.stale { (lang.t("track-coordinator-required")) } } }
                        " · " (lang.ta("count-members", &[("count", n(t.members as f64))]))
                    }
                    (track_actions(&viewer, t, &mine))
                    @let own: Vec<_> = challenges.iter().filter(|c| c.track_id == t.id).collect();
                    @if !own.is_empty() {
                        h4 { (lang.t("nav-challenges")) }
                        ul { @for c in own { li { a href=(format!("/challenges/{}", c.id)) { (c.title) } } } }
                    }
                    @if let Some(list) = posts.get(&t.id).filter(|l| !l.is_empty()) {
                        h4 { (lang.t("track-results-posts")) }
                        @for p in list { (results_post(lang, p, &challenges)) }
                    }
                }
            }
        }
    };
    Ok(page(&viewer, &lang.t("home-tracks"), body).into_response())
}

/// A participant's write-up of one submission, with its links and public score.
fn results_post(
    lang: Lang,
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
            p.meta { strong { (p.participant) } " · " a href=(format!("/challenges/{}", p.challenge_id)) { (title) } " · " (lang.ta("track-public-auc", &[("auc", auc.into())])) }
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
    let what = viewer.t(&format!("quota-{what}"));
    let body = html! {
        h1 { (viewer.ta("too-many-title", &[("what", what.as_str().into())])) }
        p.notice.warn { (viewer.ta("too-many-text", &[("what", what.as_str().into())])) }
    };
    with_status(
        StatusCode::TOO_MANY_REQUESTS,
        page(viewer, &viewer.t("too-many-requests"), body),
    )
}
