//! The admin's pages: roles (and an uploader's site), partner listings waiting for
//! approval, track coordinators, and the outbox of emails that were not sent by SMTP.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lunghub_domain::AccountRole;
use lunghub_domain::access::Action;
use maud::html;

use super::{see_other, with_status};
use crate::form::FormFields;
use crate::layout::{csrf, date, page, problems};
use crate::{Shared, Viewer, WebError};

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/admin/accounts", get(accounts))
        .route("/admin/accounts/{id}", post(set_role))
        .route("/admin/listings/{id}", post(decide_listing))
        .route("/admin/tracks/{id}/coordinator", post(set_coordinator))
        .route("/admin/outbox", get(outbox))
        .route("/admin/outbox/{name}", get(message))
}

async fn accounts_page(
    app: &Shared,
    viewer: &Viewer,
    status: StatusCode,
    list: &[String],
) -> Result<Response, WebError> {
    // A deleted account is a tombstone kept for its leaderboard entries: nothing to manage.
    let accounts: Vec<_> = app
        .platform
        .accounts()
        .await?
        .into_iter()
        .filter(|a| !a.deleted)
        .collect();
    let pending = app.platform.pending_listings().await?;
    let tracks = app.platform.tracks().await?;
    // An uploader is bound to a hospital picked from this list, never to a typed name:
    // hospitals (institutes of the tracker) first, then the operator's collections.
    let mut sites = app.catalog.sites().await?;
    sites.sort_by_key(|s| s.institute_id.is_none());
    let mut offers = Vec::new();
    for t in &tracks {
        for a in app
            .platform
            .track_people(&t.id, "coordinator-offer")
            .await?
        {
            offers.push((t.clone(), a));
        }
    }
    let body = html! {
        h1 { "Accounts" }
        (problems(viewer.lang, list))
        h2 #listings { "Partner listings waiting for approval" }
        @if pending.is_empty() { p.muted { "None." } }
        ul.listings {
            @for a in &pending {
                li {
                    strong { (a.name) } " · " (a.email)
                    @if let Some(r) = a.signup_role.as_deref().and_then(lunghub_domain::SignupRole::parse) { span.muted { " · " (r.label()) } }
                    @let answers: serde_json::Value = serde_json::from_str(&a.profile).unwrap_or_default();
                    @if let Some(o) = answers.as_object().filter(|o| !o.is_empty()) {
                        p.meta { @for (i, (k, v)) in o.iter().enumerate() { @if i > 0 { " · " } (k) ": " (v.as_str().unwrap_or_default()) } }
                    }
                    form.inline method="post" action=(format!("/admin/listings/{}", a.id)) {
                        (csrf(viewer))
                        button.primary type="submit" name="decision" value="approve" { "List publicly" }
                        " "
                        button.secondary type="submit" name="decision" value="decline" { "Decline" }
                    }
                }
            }
        }
        h2 { "Everyone" }
        div.table-wrap {
            table.responsive {
                thead { tr { th { "Name" } th { "Email" } th { "Confirmed" } th { "Since" } th { "Role and site" } } }
                tbody {
                    @for a in &accounts {
                        tr {
                            td data-label="Name" { (a.name) }
                            td data-label="Email" { (a.email) }
                            td data-label="Confirmed" { @if a.confirmed { "yes" } @else { span.stale { "no" } } }
                            td data-label="Since" { (date(a.created_at)) }
                            td data-label="Role" {
                                form.inline method="post" action=(format!("/admin/accounts/{}", a.id)) {
                                    (csrf(viewer))
                                    select name="role" aria-label="Role" {
                                        @for r in AccountRole::ALL { option value=(r.key()) selected[r.key() == a.role] { (r.label()) } }
                                    }
                                    " "
                                    select name="site" aria-label="Site (uploaders)" {
                                        option value="" selected[a.site_id.is_none()] { "No site (uploaders need one)" }
                                        @for s in &sites {
                                            option value=(s.id) selected[a.site_id.as_deref() == Some(s.id.as_str())] {
                                                (s.name) @if s.institute_id.is_none() { " (collection)" }
                                            }
                                        }
                                    }
                                    " "
                                    button.secondary type="submit" { "Save" }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Offers to coordinate a track" }
        @if offers.is_empty() { p.muted { "None." } }
        ul {
            @for (t, a) in &offers {
                li {
                    (a.name) " offers to coordinate " strong { (t.name) }
                    @if let Some(c) = &t.coordinator { span.muted { " (coordinated by " (c) ")" } }
                    " "
                    form.inline method="post" action=(format!("/admin/tracks/{}/coordinator", t.id)) {
                        (csrf(viewer))
                        input type="hidden" name="account" value=(a.id);
                        button.secondary type="submit" { "Appoint" }
                    }
                }
            }
        }
        p { a href="/admin/outbox" { "Outbox" } }
    };
    Ok(with_status(status, page(viewer, "Accounts", body)))
}

/// Approves or declines one partner or contributor listing.
async fn decide_listing(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
    FormFields(fields): FormFields,
) -> Result<Response, WebError> {
    viewer.require(Action::ManageAccounts, "/admin/accounts")?;
    let approve = match fields.get("decision") {
        "approve" => true,
        "decline" => false,
        _ => {
            let why = ["Choose to list or to decline.".to_owned()];
            return accounts_page(&app, &viewer, StatusCode::BAD_REQUEST, &why).await;
        }
    };
    app.platform.decide_listing(&id, approve).await?;
    Ok(see_other("/admin/accounts#listings"))
}

async fn accounts(State(app): State<Shared>, viewer: Viewer) -> Result<Response, WebError> {
    viewer.require(Action::ManageAccounts, "/admin/accounts")?;
    accounts_page(&app, &viewer, StatusCode::OK, &[]).await
}

async fn set_role(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
    FormFields(fields): FormFields,
) -> Result<Response, WebError> {
    let me = viewer
        .require(Action::ManageAccounts, "/admin/accounts")?
        .clone();
    let Some(role) = AccountRole::parse(fields.get("role")) else {
        return accounts_page(
            &app,
            &viewer,
            StatusCode::BAD_REQUEST,
            &[format!("Unknown role {:?}.", fields.get("role"))],
        )
        .await;
    };
    let site_id = fields.get("site").trim();
    if id == me.id && role != AccountRole::Admin && app.platform.admin_count().await? <= 1 {
        return accounts_page(
            &app,
            &viewer,
            StatusCode::BAD_REQUEST,
            &["You are the only admin: appoint another admin before giving up the role.".into()],
        )
        .await;
    }
    let site = match (role, site_id.is_empty()) {
        (AccountRole::Uploader, true) => {
            return accounts_page(
                &app,
                &viewer,
                StatusCode::BAD_REQUEST,
                &["A hospital uploader must be bound to a site: choose its hospital.".into()],
            )
            .await;
        }
        (AccountRole::Uploader, false) => match app.catalog.site(site_id).await? {
            Some(s) => Some(s.id),
            None => {
                return accounts_page(
                    &app,
                    &viewer,
                    StatusCode::BAD_REQUEST,
                    &["There is no such site: choose one from the list.".into()],
                )
                .await;
            }
        },
        _ => None,
    };
    app.platform
        .set_role(&id, role.key(), site.as_deref())
        .await?;
    Ok(see_other("/admin/accounts"))
}

async fn set_coordinator(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
    FormFields(fields): FormFields,
) -> Result<Response, WebError> {
    viewer.require(Action::ManageAccounts, "/admin/accounts")?;
    let account = app
        .platform
        .account(fields.get("account"))
        .await?
        .ok_or(WebError::NotFound)?;
    app.platform
        .set_track_coordinator(&id, Some(&account.id))
        .await?;
    Ok(see_other("/admin/accounts"))
}

async fn outbox(State(app): State<Shared>, viewer: Viewer) -> Result<Response, WebError> {
    viewer.require(Action::ReadOutbox, "/admin/outbox")?;
    let entries = app.mailer.list()?;
    let counts = app.platform.mail_counts().await?;
    let lead = if app.mailer.uses_smtp() {
        "Email goes out by SMTP. What the SMTP server refused for good, or would not take after many tries, is kept here with the reason. Forward what needs forwarding."
    } else {
        "No SMTP server is configured, so every email is written here. Forward what needs forwarding."
    };
    let body = html! {
        h1 { "Outbox" }
        p.lead { (lead) }
        p.meta { (counts.queued) " waiting to be sent · " (counts.sent) " sent · " (counts.outbox) " kept here" }
        div.table-wrap {
            table.responsive {
                thead { tr { th { "To" } th { "Subject" } th { "Not sent because" } } }
                tbody {
                    @for e in &entries { tr { td data-label="To" { (e.to) } td data-label="Subject" { a href=(format!("/admin/outbox/{}", e.name)) { (e.subject) } } td data-label="Not sent because" { (e.not_sent) } } }
                    @if entries.is_empty() { tr { td colspan="3" { "Empty." } } }
                }
            }
        }
    };
    Ok(page(&viewer, "Outbox", body).into_response())
}

async fn message(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> Result<Response, WebError> {
    viewer.require(Action::ReadOutbox, "/admin/outbox")?;
    let text = app.mailer.read(&name).ok_or(WebError::NotFound)?;
    let body = html! { p.meta { a href="/admin/outbox" { "← Outbox" } } pre.mail { (text) } };
    Ok(page(&viewer, "Message", body).into_response())
}
