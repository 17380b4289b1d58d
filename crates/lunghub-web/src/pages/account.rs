//! Signing in and out, the admin's one-time first sign-in, password reset through the
//! outbox, and the account page, where a person also sees and takes their own data: the
//! tracks they are in, their partner listing, a download of everything lunghub keeps
//! about them, and deleting the account (`lunghub_store::consent`).

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lunghub_domain::access::Action;
use lunghub_domain::{AccountRole, SignupRole};
use maud::html;
use serde::Deserialize;

use super::{see_other, with_status};
use crate::form::{FormFields, Problems};
use crate::i18n::n;
use crate::layout::{csrf, date, page, problems};
use crate::{Shared, Viewer, WebError, auth, now_ns};

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/signin", get(signin_form).post(signin))
        .route("/signout", post(signout))
        .route("/signin/once/{token}", get(signin_once))
        .route("/reset", get(reset_request_form).post(reset_request))
        .route("/reset/{token}", get(reset_form).post(reset))
        .route("/account", get(account))
        .route("/account/password", post(change_password))
        .route("/account/export", get(export))
        .route("/account/listing", post(listing))
        .route("/account/delete", post(delete))
        .route("/account/deleted", get(deleted))
}

#[derive(Deserialize, Default)]
struct Next {
    next: Option<String>,
}

/// Only paths on this site: never another host, so a link can't bounce people elsewhere.
///
/// `next` if it is a path on this site, else `/account`. Browsers' URL parsers drop tabs
/// and newlines anywhere and read `\\` as `/`, so `/\t/evil.example` would leave the site
/// as surely as `//evil.example`: only a `/` followed by anything but `/`, with no
/// whitespace, control character or backslash, is taken.
fn local_path(next: &str) -> &str {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next
            .chars()
            .any(|c| c == '\\' || c.is_whitespace() || c.is_control());
    if local { next } else { "/account" }
}

fn signin_page(
    viewer: &Viewer,
    email: &str,
    next: &str,
    list: &[String],
) -> axum::response::Html<String> {
    let t = |id: &str| viewer.t(id);
    let body = html! {
        h1 { (t("nav-sign-in")) }
        (problems(viewer.lang, list))
        form.stacked method="post" action="/signin" {
            (csrf(viewer))
            input type="hidden" name="next" value=(next);
            label for="email" { (t("join-email")) }
            input type="email" id="email" name="email" required value=(email) autocomplete="username";
            label for="password" { (t("join-password")) }
            input type="password" id="password" name="password" required autocomplete="current-password";
            button.primary type="submit" { (t("nav-sign-in")) }
        }
        p { a href="/reset" { (t("signin-forgot")) } " · " a href="/help" { (t("join-submit")) } }
    };
    page(viewer, &t("nav-sign-in"), body)
}

async fn signin_form(viewer: Viewer, Query(next): Query<Next>) -> Response {
    signin_page(&viewer, "", next.next.as_deref().unwrap_or("/account"), &[]).into_response()
}

/// Starts a session for an account: a fresh random token in an HttpOnly cookie, its hash
/// in the database.
async fn start_session(app: &Shared, account_id: &str, to: &str) -> Result<Response, WebError> {
    let token = auth::new_token()?;
    let expires = now_ns() + auth::SESSION_DAYS * 86_400 * 1_000_000_000;
    app.platform
        .create_session(&auth::token_hash(&token), account_id, expires)
        .await?;
    let cookie = auth::set_cookie(
        auth::SESSION_COOKIE,
        &token,
        auth::SESSION_DAYS * 86_400,
        app.config.public_url.starts_with("https://"),
    );
    let mut response = see_other(to);
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}

async fn signin(
    State(app): State<Shared>,
    viewer: Viewer,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    FormFields(fields): FormFields,
) -> Result<Response, WebError> {
    let email = fields.get("email").trim().to_lowercase();
    let next = local_path(fields.get("next")).to_owned();
    let address = app.client_address(peer, &headers);
    let (account_key, address_key) = (format!("account:{email}"), format!("address:{address}"));
    let refuse = |status: StatusCode, why: &str| {
        with_status(
            status,
            signin_page(&viewer, &email, &next, &[why.to_owned()]),
        )
    };
    // Each attempt takes its slot before the password is checked, so guesses sent at once
    // count one by one. An address over its limit stops; an account over its limit is only
    // slowed, so that nobody can lock its owner out.
    if app
        .throttle
        .begin(&address_key, auth::MAX_FAILURES_PER_ADDRESS, None)
        != auth::Gate::Go
    {
        return Ok(refuse(
            StatusCode::TOO_MANY_REQUESTS,
            &viewer.t("signin-too-many-network"),
        ));
    }
    match app.throttle.begin(
        &account_key,
        auth::MAX_FAILURES_PER_ACCOUNT,
        Some(auth::SLOWED_ATTEMPT_INTERVAL),
    ) {
        auth::Gate::Go => {}
        gate => {
            // This attempt is not checked: it does not count against the address either.
            app.throttle.succeeded(&address_key);
            let wait = match gate {
                auth::Gate::Wait(wait) => wait,
                _ => auth::SLOWED_ATTEMPT_INTERVAL,
            };
            return Ok(refuse(
                StatusCode::TOO_MANY_REQUESTS,
                &viewer.ta(
                    "signin-too-many-account",
                    &[
                        ("every", n(auth::SLOWED_ATTEMPT_INTERVAL.as_secs() as f64)),
                        ("wait", n(wait.as_secs().max(1) as f64)),
                    ],
                ),
            ));
        }
    }
    let account = app.platform.account_by_email(&email).await?;
    let password = fields.get("password");
    let hash = account.as_ref().and_then(|a| a.password_hash.clone());
    // Verify even without an account, so timing does not tell who has one.
    let ok = auth::verify_password(
        password,
        hash.as_deref().unwrap_or_else(|| auth::decoy_hash()),
    ) && hash.is_some();
    let Some(account) = account.filter(|_| ok) else {
        // The slots taken above stay: they are the failures.
        return Ok(refuse(StatusCode::UNAUTHORIZED, &viewer.t("signin-wrong")));
    };
    app.throttle.clear(&account_key);
    app.throttle.succeeded(&address_key);
    if !account.confirmed {
        return Ok(refuse(
            StatusCode::UNAUTHORIZED,
            &viewer.t("signin-unconfirmed"),
        ));
    }
    start_session(&app, &account.id, &next).await
}

async fn signout(
    State(app): State<Shared>,
    headers: axum::http::HeaderMap,
) -> Result<Response, WebError> {
    if let Some(token) = auth::cookie(&headers, auth::SESSION_COOKIE) {
        app.platform
            .delete_session(&auth::token_hash(token))
            .await?;
    }
    let mut response = see_other("/");
    response.headers_mut().append(
        header::SET_COOKIE,
        auth::set_cookie(auth::SESSION_COOKIE, "", 0, false),
    );
    Ok(response)
}

async fn signin_once(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    match app
        .platform
        .take_token(&auth::token_hash(&token), "signin")
        .await?
    {
        Some(account_id) => start_session(&app, &account_id, "/account").await,
        None => Ok(with_status(
            StatusCode::NOT_FOUND,
            page(
                &viewer,
                "Link expired",
                html! { h1 { "This sign-in link does not work" } p.notice.warn { "It was already used, or it expired." } },
            ),
        )),
    }
}

fn reset_request_page(viewer: &Viewer, list: &[String]) -> axum::response::Html<String> {
    let body = html! {
        h1 { "Reset your password" }
        (problems(viewer.lang, list))
        form.stacked method="post" action="/reset" {
            (csrf(viewer))
            label for="email" { "Email" }
            input type="email" id="email" name="email" required;
            button.primary type="submit" { "Send me a reset link" }
        }
    };
    page(viewer, "Reset your password", body)
}

async fn reset_request_form(viewer: Viewer) -> Response {
    reset_request_page(&viewer, &[]).into_response()
}

async fn reset_request(
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
        return Ok(super::public::too_many(&viewer, "requests"));
    }
    let mut p = Problems::default();
    let email = p.email(&fields, "email");
    if !p.is_empty() {
        return Ok(with_status(
            StatusCode::BAD_REQUEST,
            reset_request_page(&viewer, &p.0),
        ));
    }
    if let Some(account) = app.platform.account_by_email(&email).await? {
        let token = app.one_time_token("reset", &account.id, 1).await?;
        app.send_asked_for(
            &email,
            "Reset your lunghub password",
            &format!(
                "Open this link within an hour to choose a new password:\n\n{}\n\nIf you did not ask for this, ignore this message: your password stays as it is.\n",
                app.link(&format!("/reset/{token}"))
            ),
        ).await?;
    }
    let body = html! { h1 { "Check your email" } p.notice { "If an account uses " strong { (email) } ", we sent it a link to reset the password." } };
    Ok(page(&viewer, "Check your email", body).into_response())
}

fn reset_page(viewer: &Viewer, token: &str, list: &[String]) -> axum::response::Html<String> {
    let body = html! {
        h1 { "Choose a new password" }
        (problems(viewer.lang, list))
        form.stacked method="post" action=(format!("/reset/{token}")) {
            (csrf(viewer))
            label for="password" { "New password " span.hint { "(at least 10 characters)" } }
            input type="password" id="password" name="password" required minlength="10" autocomplete="new-password";
            label for="password2" { "New password again" }
            input type="password" id="password2" name="password2" required minlength="10" autocomplete="new-password";
            button.primary type="submit" { "Set the password" }
        }
    };
    page(viewer, "Choose a new password", body)
}

async fn reset_form(viewer: Viewer, Path(token): Path<String>) -> Response {
    // Showing the form does not use the token: only setting the password does.
    reset_page(&viewer, &token, &[]).into_response()
}

async fn reset(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(token): Path<String>,
    FormFields(fields): FormFields,
) -> Result<Response, WebError> {
    let mut p = Problems::default();
    let password = p.new_password(&fields, "password", "password2");
    if !p.is_empty() {
        return Ok(with_status(
            StatusCode::BAD_REQUEST,
            reset_page(&viewer, &token, &p.0),
        ));
    }
    let Some(account_id) = app
        .platform
        .take_token(&auth::token_hash(&token), "reset")
        .await?
    else {
        return Ok(with_status(
            StatusCode::NOT_FOUND,
            reset_page(
                &viewer,
                &token,
                &["This reset link was already used, or it expired. Ask for a new one.".into()],
            ),
        ));
    };
    app.platform
        .set_password(&account_id, &auth::hash_password(&password)?)
        .await?;
    // A reset is often the answer to a stolen password: end every session, and every
    // other reset link.
    app.platform.delete_sessions_of(&account_id).await?;
    app.platform.void_tokens("reset", &account_id).await?;
    // Whoever can read the mailbox owns the account, so the address is confirmed too.
    app.platform.confirm_account(&account_id).await?;
    let body = html! { h1 { "Password changed" } p.notice { "Sign in with your new password." } p { a.button href="/signin" { "Sign in" } } };
    Ok(page(&viewer, "Password changed", body).into_response())
}

/// The account of every page under `/account`: signing in comes back here.
fn signed_in(viewer: &Viewer) -> Result<&lunghub_store::platform::Account, WebError> {
    viewer
        .account
        .as_ref()
        .ok_or_else(|| WebError::SignInFirst("/account".into()))
}

/// Which notice the account page opens with, after a form sent it back there.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Notice {
    None,
    PasswordChanged,
    ListingAsked,
    ListingWithdrawn,
}

async fn account_page(
    app: &Shared,
    viewer: &Viewer,
    list: &[String],
    delete_problems: &[String],
    notice: Notice,
) -> Result<axum::response::Html<String>, WebError> {
    let a = signed_in(viewer)?;
    let tracks = app.platform.tracks().await?;
    let mine = app.platform.tracks_of(&a.id).await?;
    let track_name = |id: &str| {
        tracks
            .iter()
            .find(|t| t.id == id)
            .map_or(id.to_owned(), |t| t.name.clone())
    };
    let role = AccountRole::parse(&a.role).map_or(a.role.as_str(), |r| r.label());
    let signed_up_as = a
        .signup_role
        .as_deref()
        .and_then(SignupRole::parse)
        .map(|r| r.label());
    let body = html! {
        h1 { "Your account" }
        div.panel {
            p { strong { (a.name) } " · " (a.email) }
            p.meta { "Role: " (role) @if let Some(s) = signed_up_as { " · signed up as " (s.to_lowercase()) } @if let Some(site) = &a.site_id { " · site " (site) } }
            @if viewer.may(Action::SubmitPredictions) { p { a href="/account/tokens" { "API tokens" } " for " code { "lunghub submit" } " and scripts · " a href="/challenges" { "Challenges" } } }
        }
        @if a.password_hash.is_none() { p.notice.warn { "Your account has no password yet. Choose one now: the link you used works only once." } }
        @match notice {
            Notice::PasswordChanged => p.notice { "Your password is changed." },
            Notice::ListingAsked => p.notice { "Thank you. Your listing appears on the partners page once the admin approves it." },
            Notice::ListingWithdrawn => p.notice { "You are no longer listed on the partners page." },
            Notice::None => {},
        }
        h2 { "Change your password" }
        (problems(viewer.lang, list))
        form.stacked method="post" action="/account/password" {
            (csrf(viewer))
            @if a.password_hash.is_some() {
                label for="current" { "Current password" }
                input type="password" id="current" name="current" required autocomplete="current-password";
            }
            label for="password" { "New password " span.hint { "(at least 10 characters)" } }
            input type="password" id="password" name="password" required minlength="10" autocomplete="new-password";
            label for="password2" { "New password again" }
            input type="password" id="password2" name="password2" required minlength="10" autocomplete="new-password";
            button.primary type="submit" { "Change password" }
        }
        h2 #tracks { "Your tracks" }
        @if mine.is_empty() { p.muted { "You have not joined a track. " a href="/tracks" { "See the tracks" } } }
        ul {
            @for t in &mine {
                li {
                    (track_name(&t.track))
                    span.muted { @if t.kind == "member" { " · member since " } @else { " · offered to coordinate on " } (date(t.at)) }
                    " "
                    form.inline method="post" action=(format!("/tracks/{}/leave", t.track)) {
                        (csrf(viewer))
                        input type="hidden" name="back" value="/account#tracks";
                        button.secondary type="submit" { "Leave" }
                    }
                }
            }
        }
        h2 #listing { "Partners page" }
        form.inline method="post" action="/account/listing" {
            (csrf(viewer))
            @if a.listed && a.listing_approved {
                p { "You are listed on the " a href="/partners" { "partners page" } ". " }
                button.secondary type="submit" name="listing" value="withdraw" { "Withdraw my listing" }
            } @else if a.listed {
                p { "You asked to be listed on the partners page: the admin has not approved it yet." }
                button.secondary type="submit" name="listing" value="withdraw" { "Withdraw my request" }
            } @else {
                p { "You are not listed on the " a href="/partners" { "partners page" } "." }
                button.secondary type="submit" name="listing" value="ask" { "Ask to be listed" }
            }
        }
        h2 #data { "Your data" }
        p { "Everything lunghub keeps about your account, in one JSON file: your details, sessions, tokens (never the tokens themselves), tracks, subscription, submissions, reviews and the mail sent to you." }
        p { a.button.secondary href="/account/export" download="lunghub-account.json" { "Download your data" } }
        h2 #delete { "Delete your account" }
        p { "Your name, email address, password, sessions, tokens, subscription and track memberships are deleted for good. Your challenge submissions stay on the leaderboards, and your reviews in the images' history, under \"" (lunghub_store::consent::DELETED_NAME) "\"." }
        (problems(viewer.lang, delete_problems))
        form.stacked method="post" action="/account/delete" {
            (csrf(viewer))
            @if a.password_hash.is_some() {
                label for="delete-password" { "Your password" }
                input type="password" id="delete-password" name="password" required autocomplete="current-password";
            }
            label.check { input type="checkbox" name="understood" value="yes" required; " I understand that this cannot be undone" }
            button.danger type="submit" { "Delete my account" }
        }
    };
    Ok(page(viewer, "Your account", body))
}

/// Everything lunghub keeps about the signed-in account, as a download.
async fn export(State(app): State<Shared>, viewer: Viewer) -> Result<Response, WebError> {
    let a = signed_in(&viewer)?;
    let data = app
        .platform
        .export_account(&a.id)
        .await?
        .ok_or(WebError::NotFound)?;
    let json = serde_json::to_vec_pretty(&data)
        .map_err(|e| WebError::Internal(format!("cannot encode the export: {e}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"lunghub-account.json\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        json,
    )
        .into_response())
}

async fn listing(
    State(app): State<Shared>,
    viewer: Viewer,
    FormFields(fields): FormFields,
) -> Result<Response, WebError> {
    let a = signed_in(&viewer)?;
    match fields.get("listing") {
        "withdraw" => {
            app.platform.withdraw_listing(&a.id).await?;
            Ok(see_other("/account?done=listing-withdrawn#listing"))
        }
        "ask" => {
            app.platform.ask_to_be_listed(&a.id).await?;
            Ok(see_other("/account?done=listing-asked#listing"))
        }
        _ => Err(WebError::BadRequest(
            "Choose to withdraw or to ask to be listed.".into(),
        )),
    }
}

async fn delete(
    State(app): State<Shared>,
    viewer: Viewer,
    FormFields(fields): FormFields,
) -> Result<Response, WebError> {
    let a = signed_in(&viewer)?;
    let mut p = Problems::default();
    if let Some(hash) = &a.password_hash
        && !auth::verify_password(fields.get("password"), hash)
    {
        p.add("The password is wrong.");
    }
    if fields.get("understood") != "yes" {
        p.add("Tick the box to say you understand that deleting cannot be undone.");
    }
    if a.role == AccountRole::Admin.key() && app.platform.admin_count().await? <= 1 {
        p.add("You are the only admin: give the admin role to someone else first.");
    }
    if !p.is_empty() {
        let page = account_page(&app, &viewer, &[], &p.0, Notice::None).await?;
        return Ok(with_status(StatusCode::BAD_REQUEST, page));
    }
    app.platform.delete_account(&a.id).await?;
    let mut response = see_other("/account/deleted");
    response.headers_mut().append(
        header::SET_COOKIE,
        auth::set_cookie(auth::SESSION_COOKIE, "", 0, false),
    );
    Ok(response)
}

async fn deleted(viewer: Viewer) -> Response {
    let body = html! {
        h1 { "Your account is deleted" }
        p.notice { "Your details are gone from lunghub. Thank you for your help." }
        p { a href="/" { "Home" } }
    };
    page(&viewer, "Account deleted", body).into_response()
}

#[derive(Deserialize, Default)]
struct Done {
    done: Option<String>,
}

async fn account(
    State(app): State<Shared>,
    viewer: Viewer,
    Query(done): Query<Done>,
) -> Result<Response, WebError> {
    let notice = match done.done.as_deref() {
        Some("listing-asked") => Notice::ListingAsked,
        Some("listing-withdrawn") => Notice::ListingWithdrawn,
        Some(_) => Notice::PasswordChanged,
        None => Notice::None,
    };
    Ok(account_page(&app, &viewer, &[], &[], notice)
        .await?
        .into_response())
}

async fn change_password(
    State(app): State<Shared>,
    viewer: Viewer,
    FormFields(fields): FormFields,
) -> Result<Response, WebError> {
    let a = signed_in(&viewer)?;
    let mut p = Problems::default();
    if let Some(hash) = &a.password_hash
        && !auth::verify_password(fields.get("current"), hash)
    {
        p.add("The current password is wrong.");
    }
    let password = p.new_password(&fields, "password", "password2");
    if !p.is_empty() {
        return Ok(with_status(
            StatusCode::BAD_REQUEST,
            account_page(&app, &viewer, &p.0, &[], Notice::None).await?,
        ));
    }
    app.platform
        .set_password(&a.id, &auth::hash_password(&password)?)
        .await?;
    // The old password may be someone else's now: every session of the account ends, this
    // one goes on in a new session, and reset links sent before are void.
    app.platform.delete_sessions_of(&a.id).await?;
    app.platform.void_tokens("reset", &a.id).await?;
    start_session(&app, &a.id, "/account?done=1").await
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_paths_of_this_site_are_followed() {
        for ok in ["/account", "/challenges/abc?x=1", "/model", "/a%2F%2Fb"] {
            assert_eq!(local_path(ok), ok);
        }
        for bad in [
            "//evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\\evil.example",
            "\\/evil.example",
            "https://evil.example",
            "/ /evil.example",
            "/\u{0b}/evil.example",
            "",
        ] {
            assert_eq!(local_path(bad), "/account", "{bad:?}");
        }
    }
}
