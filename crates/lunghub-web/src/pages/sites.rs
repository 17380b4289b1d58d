//! Sites (the catalog's sources of images) and their DICOMweb tokens: coordinators and the
//! admin issue a token for a site's systems (shown once, with the STOW-RS address and an
//! example), see when each token was last used, revoke it, and register the fingerprint of
//! the site's gateway key.
//!
//! Sites are never typed here. A hospital's site is made with its institute in the
//! onboarding tracker (one hospital, one record) and takes data only once the institute's
//! stage allows it; a site that is no institute is one of the operator's own collections,
//! made by `lunghub ingest --site` on the command line.
//!
//! Access is `ManageInstitutes` (coordinators and the admin): connecting a hospital's
//! systems is a step of onboarding, which coordinators run. `ManageAccounts` (the admin
//! only) is about people's roles; a site token is no account and grants no role, only the
//! right to send images for its one site.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lunghub_domain::access::Action;
use maud::html;

use super::{see_other, with_status};
use crate::form::{FormFields, Problems};
use crate::layout::{csrf, date, page, problems};
use crate::{Shared, Viewer, WebError, auth};

const HERE: &str = "/admin/sites";

pub fn routes() -> Router<Shared> {
    Router::new()
        .route(HERE, get(list))
        .route("/admin/sites/{site}/gateway", post(register_gateway))
        .route("/admin/sites/{site}/tokens", post(issue))
        .route("/admin/sites/{site}/tokens/revoke", post(revoke))
}

async fn sites_page(
    app: &Shared,
    viewer: &Viewer,
    status: StatusCode,
    list: &[String],
) -> Result<Response, WebError> {
    let sites = app.catalog.sites().await?;
    let accounts = app.platform.accounts().await?;
    let name_of = |id: &str| {
        accounts
            .iter()
            .find(|a| a.id == id)
            .map(|a| a.name.clone())
            .unwrap_or_else(|| id.to_owned())
    };
    let mut tokens = Vec::new();
    for s in &sites {
        tokens.push(app.platform.site_tokens(&s.id).await?);
    }
    let institutes = app.platform.institutes().await?;
    let institute_of = |s: &lunghub_store::Site| {
        s.institute_id
            .as_ref()
            .and_then(|id| institutes.iter().find(|i| &i.id == id))
    };
    let body = html! {
        h1 { "Sites and DICOMweb tokens" }
        p.lead {
            "A site's systems (a PACS, a router, a script) send images by DICOMweb STOW-RS to "
            code { (app.link("/dicomweb/studies")) }
            " with a token of that site. Every image is de-identified before it is stored."
        }
        p {
            "A hospital's site is made when it is added to the "
            a href="/coord" { "onboarding tracker" }
            ", and takes images only once its ethical committee has approved (or no approval is needed). "
            "Sites that are no hospital are the operator's own collections, made by "
            code { "lunghub ingest --site" } "."
        }
        (problems(viewer.lang, list))
        @if sites.is_empty() { p.muted { "No sites yet." } }
        @for (s, tokens) in sites.iter().zip(&tokens) {
            section id=(format!("site-{}", s.id)) {
                h2 { (s.name) " " span.muted { "(" (s.id) ")" } }
                @match institute_of(s) {
                    Some(i) => {
                        @let stage = lunghub_domain::onboarding::Stage::parse(&i.stage).ok();
                        p {
                            "Hospital in the "
                            a href=(format!("/coord/institutes/{}", i.id)) { "onboarding tracker" }
                            ", at “" (stage.map(|s| s.label()).unwrap_or(i.stage.as_str())) "”: "
                            @if stage.is_some_and(|s| s.accepts_data()) { strong { "takes images." } }
                            @else { strong { "takes no images yet" } " (only after ethics approval, or once approval is marked not required)." }
                        }
                    }
                    None => { p.muted { "The operator's own collection (no hospital): not gated by onboarding." } }
                }
                form.inline method="post" action=(format!("/admin/sites/{}/gateway", s.id)) {
                    (csrf(viewer))
                    label for=(format!("gateway-{}", s.id)) { "Gateway key fingerprint " }
                    input type="text" id=(format!("gateway-{}", s.id)) name="fingerprint" maxlength="8" size="10" pattern="[0-9a-f]{8}" placeholder="none" value=(s.gateway_fingerprint.clone().unwrap_or_default());
                    " "
                    button.secondary type="submit" { "Save" }
                    span.hint { " As " code { "lunghub gateway fingerprint" } " prints it at the hospital. Its instances are checked, not keyed again; empty: none." }
                }
                div.table-wrap {
                    table.responsive {
                        thead { tr { th { "Token" } th { "Issued" } th { "Last used" } th { "State" } th { "" } } }
                        tbody {
                            @for t in tokens {
                                tr {
                                    td data-label="Token" { (t.label) }
                                    td data-label="Issued" { (date(t.created_at)) " by " (name_of(&t.created_by)) }
                                    td data-label="Last used" { (t.last_used_at.map(date).unwrap_or_else(|| "never".into())) }
                                    td data-label="State" {
                                        @match t.revoked_at {
                                            Some(at) => { span.stale { "revoked " (date(at)) } }
                                            None => { "active" }
                                        }
                                    }
                                    td {
                                        @if t.revoked_at.is_none() {
                                            form.inline method="post" action=(format!("/admin/sites/{}/tokens/revoke", s.id)) {
                                                (csrf(viewer))
                                                input type="hidden" name="token" value=(t.token_hash);
                                                button.secondary type="submit" { "Revoke" }
                                            }
                                        }
                                    }
                                }
                            }
                            @if tokens.is_empty() { tr { td colspan="5" { "No tokens." } } }
                        }
                    }
                }
                form.inline method="post" action=(format!("/admin/sites/{}/tokens", s.id)) {
                    (csrf(viewer))
                    label for=(format!("label-{}", s.id)) { "Token for " }
                    input type="text" id=(format!("label-{}", s.id)) name="label" required maxlength="120" placeholder="e.g. PACS router";
                    " "
                    button.secondary type="submit" { "Issue token" }
                }
            }
        }
    };
    Ok(with_status(status, page(viewer, "Sites", body)))
}

async fn list(State(app): State<Shared>, viewer: Viewer) -> Result<Response, WebError> {
    viewer.require(Action::ManageInstitutes, HERE)?;
    sites_page(&app, &viewer, StatusCode::OK, &[]).await
}

async fn register_gateway(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(site): Path<String>,
    FormFields(fields): FormFields,
) -> Result<Response, WebError> {
    viewer.require(Action::ManageInstitutes, HERE)?;
    let site = app.catalog.site(&site).await?.ok_or(WebError::NotFound)?;
    let fingerprint = fields.get("fingerprint").trim().to_ascii_lowercase();
    let fingerprint = if fingerprint.is_empty() {
        None
    } else if fingerprint.len() == 8 && fingerprint.bytes().all(|b| b.is_ascii_hexdigit()) {
        Some(fingerprint)
    } else {
        return sites_page(
            &app,
            &viewer,
            StatusCode::BAD_REQUEST,
            &["A gateway key fingerprint is 8 hexadecimal characters, as `lunghub gateway fingerprint` prints it.".into()],
        )
        .await;
    };
    app.catalog
        .set_gateway_fingerprint(&site.id, fingerprint.as_deref())
        .await?;
    // The running intake recognises the gateway's output from the next file on.
    app.intake
        .intake()
        .deid
        .set_gateway(&site.id, fingerprint.as_deref());
    Ok(see_other(&format!("{HERE}#site-{}", site.id)))
}

async fn issue(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(site): Path<String>,
    FormFields(fields): FormFields,
) -> Result<Response, WebError> {
    let me = viewer.require(Action::ManageInstitutes, HERE)?.clone();
    let site = app
        .catalog
        .sites()
        .await?
        .into_iter()
        .find(|s| s.id == site)
        .ok_or(WebError::NotFound)?;
    let mut p = Problems::default();
    let label = p.text(&fields, "label", "The token's label", true, 120, false);
    if !p.is_empty() {
        return sites_page(&app, &viewer, StatusCode::BAD_REQUEST, &p.0).await;
    }
    let token = auth::new_token()?;
    app.platform
        .create_site_token(&auth::token_hash(&token), &site.id, &label, &me.id)
        .await?;
    let url = app.link("/dicomweb/studies");
    let curl = format!(
        "curl -X POST {url} \\\n  -H 'Authorization: Bearer {token}' \\\n  -H 'Content-Type: multipart/related; type=\"application/dicom\"' \\\n  -F 'file=@image.dcm;type=application/dicom'"
    );
    let python = format!(
        "from dicomweb_client import DICOMwebClient\nimport pydicom\n\nclient = DICOMwebClient({:?}, headers={{'Authorization': 'Bearer {token}'}})\nclient.store_instances(datasets=[pydicom.dcmread('image.dcm')])",
        app.link("/dicomweb")
    );
    let body = html! {
        h1 { "Token for " (site.name) }
        p.notice.warn { "Copy the token now: it is shown only this once. lunghub keeps only a hash of it." }
        p { "Label: " strong { (label) } }
        p { code id="site-token" { (token) } }
        h2 { "Sending images" }
        p { "DICOMweb STOW-RS address: " code id="stow-url" { (url) } " (or " code { (url) "/{StudyInstanceUID}" } ")." }
        p { "With curl, one file:" }
        pre.mail { (curl) }
        p { "With dicomweb-client (Python):" }
        pre.mail { (python) }
        p { a href=(format!("{HERE}#site-{}", site.id)) { "← Sites and tokens" } }
    };
    Ok(page(&viewer, "New token", body).into_response())
}

async fn revoke(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(site): Path<String>,
    FormFields(fields): FormFields,
) -> Result<Response, WebError> {
    viewer.require(Action::ManageInstitutes, HERE)?;
    if !app
        .platform
        .revoke_site_token(fields.get("token"), &site)
        .await?
    {
        return sites_page(
            &app,
            &viewer,
            StatusCode::NOT_FOUND,
            &["That token does not exist or is already revoked.".into()],
        )
        .await;
    }
    Ok(see_other(&format!("{HERE}#site-{site}")))
}
