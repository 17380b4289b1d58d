//! The admin's pages: invitations with a role, roles (and an uploader's site), partner
//! listings waiting for approval, the moderation history, track coordinators, and the
//! outbox of emails that were not sent by SMTP.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lunghub_domain::AccountRole;
use lunghub_domain::access::Action;
use maud::html;

use super::{see_other, with_status};
use lunghub_store::StoreError;
use lunghub_store::mail::NewMail;
use lunghub_store::platform::NewAccount;

use crate::form::{FormFields, Problems};
use crate::i18n::Lang;
use crate::layout::{csrf, date, page, problems};
use crate::{Shared, Viewer, WebError};

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/admin/accounts", get(accounts))
        .route("/admin/accounts/{id}", post(set_role))
        .route("/admin/invite", post(invite))
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
    let removed: Vec<String> = app
        .platform
        .removed_institutes()
        .await?
        .into_iter()
        .map(|i| i.id)
        .collect();
    let mut sites = app.catalog.sites().await?;
    sites.retain(|s| !s.institute_id.as_ref().is_some_and(|i| removed.contains(i)));
    sites.sort_by_key(|s| s.institute_id.is_none());
    let decisions = app.platform.moderation_log(50).await?;
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
        section.panel #invite {
            h2 { "Invite someone" }
            p.hint { "Makes the account with its role and mails a link, valid for a week, to choose a password." }
            form.stacked method="post" action="/admin/invite" {
                (csrf(viewer))
                label for="invite-name" { "Name" }
                input type="text" id="invite-name" name="name" required maxlength="120";
                label for="invite-email" { "Email" }
                input type="email" id="invite-email" name="email" required maxlength="254";
                label for="invite-role" { "Role" }
                select id="invite-role" name="role" {
                    @for r in AccountRole::ALL { option value=(r.key()) selected[r == AccountRole::Member] { (r.label()) } }
                }
                label for="invite-site" { "Hospital " span.hint { "(uploaders only)" } }
                select id="invite-site" name="site" {
                    option value="" { "No site" }
                    @for s in &sites { option value=(s.id) { (s.name) @if s.institute_id.is_none() { " (collection)" } } }
                }
                label for="invite-lang" { "Language of the invitation" }
                select id="invite-lang" name="lang" {
                    @for l in Lang::ALL { option value=(l.code()) selected[l == viewer.lang] { (l.own_name()) } }
                }
                button.primary type="submit" { "Send the invitation" }
            }
        }
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
        h2 #moderation { "Moderation history" }
        p.muted { "Listings approved or declined, and institutes removed from the public table or merged into another record, latest first." }
        @if decisions.is_empty() { p.muted { "None yet." } }
        @else {
            div.table-wrap {
                table.responsive {
                    thead { tr { th { "When" } th { "Who" } th { "Decision" } th { "About" } } }
                    tbody {
                        @for d in &decisions {
                            tr {
                                td data-label="When" { (date(d.at)) }
                                td data-label="Who" { (d.actor) }
                                td data-label="Decision" { (moderation_action(&d.action)) }
                                td data-label="About" {
                                    @match d.subject.strip_prefix("institute:") {
                                        Some(id) => { a href=(format!("/coord/institutes/{id}")) { (d.subject_name.as_deref().unwrap_or(id)) } }
                                        None => { (d.subject_name.as_deref().unwrap_or(&d.subject)) }
                                    }
                                    @if !d.note.is_empty() { span.muted { " · " (d.note) } }
                                }
                            }
                        }
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
    let admin = viewer.require(Action::ManageAccounts, "/admin/accounts")?;
    app.platform
        .decide_listing(&id, approve, &admin.email)
        .await?;
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
    let site = match site_for(&app, role, site_id).await? {
        Ok(site) => site,
        Err(why) => return accounts_page(&app, &viewer, StatusCode::BAD_REQUEST, &[why]).await,
    };
    app.platform
        .set_role(&id, role.key(), site.as_deref())
        .await?;
    Ok(see_other("/admin/accounts"))
}

/// The site an account of `role` is bound to: an uploader's hospital, picked from the list
/// (a site that exists), and nothing for every other role. `Err` says what to correct.
async fn site_for(
    app: &Shared,
    role: AccountRole,
    site_id: &str,
) -> Result<Result<Option<String>, String>, WebError> {
    Ok(match (role, site_id.is_empty()) {
        (AccountRole::Uploader, true) => {
            Err("A hospital uploader must be bound to a site: choose its hospital.".into())
        }
        (AccountRole::Uploader, false) => match app.catalog.site(site_id).await? {
            Some(s) => Ok(Some(s.id)),
            None => Err("There is no such site: choose one from the list.".into()),
        },
        _ => Ok(None),
    })
}

/// `POST /admin/invite`: the admin makes an account with a role (an uploader bound to the
/// hospital picked) and mails the person a link, valid a week, to choose a password; the
/// mail and the account are in the language picked.
async fn invite(
    State(app): State<Shared>,
    viewer: Viewer,
    FormFields(fields): FormFields,
) -> Result<Response, WebError> {
    let admin = viewer
        .require(Action::ManageAccounts, "/admin/accounts")?
        .clone();
    let mut p = Problems::default();
    let name = p.text(&fields, "name", "Name", true, 120, false);
    let email = p.email(&fields, "email");
    let role = AccountRole::parse(fields.get("role"));
    if role.is_none() {
        p.add("Choose a role.");
    }
    let lang = Lang::parse(fields.get("lang")).unwrap_or(viewer.lang);
    let site = match role {
        Some(r) => match site_for(&app, r, fields.get("site").trim()).await? {
            Ok(site) => site,
            Err(why) => {
                p.add(why);
                None
            }
        },
        None => None,
    };
    let Some(role) = role.filter(|_| p.is_empty()) else {
        return accounts_page(&app, &viewer, StatusCode::BAD_REQUEST, &p.0).await;
    };
    let new = NewAccount {
        email: email.clone(),
        name,
        password_hash: None,
        role: role.key().into(),
        signup_role: None,
        profile: "{}".into(),
        listed: false,
        confirmed: false,
    };
    let account = match app.platform.create_account(&new).await {
        Ok(a) => a,
        Err(StoreError::Conflict(_)) => {
            let why =
                format!("{email} has an account already: change its role in the table below.");
            return accounts_page(&app, &viewer, StatusCode::CONFLICT, &[why]).await;
        }
        Err(e) => return Err(e.into()),
    };
    app.platform
        .set_role(&account.id, role.key(), site.as_deref())
        .await?;
    app.platform
        .set_account_lang(&account.id, Some(lang.code()))
        .await?;
    // The reset link sets the first password and confirms the address with it.
    let token = app.one_time_token("reset", &account.id, 7 * 24).await?;
    app.queue_mail(&[NewMail::new(
        &email,
        &lang.t("mail-invite-subject"),
        &lang.ta(
            "mail-invite-body",
            &[
                ("name", account.name.as_str().into()),
                ("admin", admin.name.as_str().into()),
                (
                    "role",
                    lang.t(&format!("account-role-{}", role.key())).into(),
                ),
                ("link", app.link(&format!("/reset/{token}")).into()),
            ],
        ),
    )])
    .await?;
    Ok(see_other("/admin/accounts#invite"))
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

/// A moderation log's action in words.
fn moderation_action(action: &str) -> &str {
    match action {
        "listing-approved" => "Listing approved",
        "listing-declined" => "Listing declined",
        "institute-removed" => "Institute removed from the table",
        "institute-merged" => "Institute merged into another",
        other => other,
    }
}
