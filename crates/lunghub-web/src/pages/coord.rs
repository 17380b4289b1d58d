//! The coordinators' pages: institutes with their contacts, notes and documents; moving
//! them through the seven stages; the stalled view; the data-request letter.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lunghub_domain::access::Action;
use lunghub_domain::{Move, RequestedData, Stage};
use lunghub_store::StoreError;
use lunghub_store::platform::{Document, Institute, InstituteFields};
use maud::{Markup, PreEscaped, html};
use serde::Deserialize;

use super::{see_other, with_status};
use crate::form::{Fields, FormFields, Problems};
use crate::layout::{csrf, date, days_between, page, problems, stored_size};
use crate::{MAX_DOCUMENT_BYTES, Shared, Viewer, WebError, now_ns};

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/coord", get(list))
        .route("/coord/stalled", get(stalled))
        .route("/coord/institutes/new", get(new_form).post(create))
        .route("/coord/institutes/{id}", get(detail).post(edit))
        .route("/coord/institutes/{id}/stage", post(change_stage))
        .route("/coord/institutes/{id}/remove", post(remove))
        .route("/coord/institutes/{id}/merge", post(merge))
        .route("/coord/institutes/{id}/letter", get(letter))
        .route("/coord/documents/{id}", get(download))
        .merge(
            Router::new()
                .route("/coord/institutes/{id}/documents", post(upload))
                // Room for the document and the multipart framing around it.
                .layer(DefaultBodyLimit::max(MAX_DOCUMENT_BYTES + 64 * 1024)),
        )
}

const DOCUMENT_KINDS: [(&str, &str); 3] = [
    ("ethics-approval", "Ethics approval"),
    ("signed-form", "Signed form"),
    ("other", "Other"),
];

fn stage_of(i: &Institute) -> Result<Stage, WebError> {
    Stage::parse(&i.stage)
        .map_err(|e| WebError::Internal(format!("institute {} has a bad stage: {e}", i.id)))
}

fn institutes_table(rows: &[Institute]) -> Markup {
    let now = now_ns();
    html! {
        div.table-wrap {
            table.responsive {
                thead { tr { th { "Institute" } th { "Location" } th { "Status" } th { "Last update" } } }
                tbody {
                    @for i in rows {
                        @let stage = Stage::parse(&i.stage).ok();
                        tr {
                            td data-label="Institute" { a href=(format!("/coord/institutes/{}", i.id)) { (i.name) } }
                            td data-label="Location" { (i.location) }
                            td data-label="Status" { @if let Some(s) = stage { span class=(format!("stage s{}", s.number())) { (s.number()) "/7 · " (s.label()) } } }
                            td data-label="Last update" { (date(i.updated_at)) " " span.muted { "(" (days_between(i.updated_at, now)) " d)" } }
                        }
                    }
                    @if rows.is_empty() { tr { td colspan="4" { "None." } } }
                }
            }
        }
    }
}

async fn list(State(app): State<Shared>, viewer: Viewer) -> Result<Response, WebError> {
    viewer.require(Action::ManageInstitutes, "/coord")?;
    let all = app.platform.institutes().await?;
    let removed = app.platform.removed_institutes().await?;
    let body = html! {
        h1 { "Hospital onboarding" }
        p { a.button href="/coord/institutes/new" { "Add an institute" } " " a href="/coord/stalled" { "Stalled institutes" } " · " a href="/status" { "Public table" } " · " a href="/admin/sites" { "Sites and DICOMweb tokens" } }
        (institutes_table(&all))
        @if !removed.is_empty() {
            details.removed {
                summary { "Removed from the table (" (removed.len()) ")" }
                ul { @for r in &removed { li { a href=(format!("/coord/institutes/{}", r.id)) { (r.name) } span.meta { " · " (r.removed_at.map(date).unwrap_or_default()) } } } }
            }
        }
    };
    Ok(page(&viewer, "Hospital onboarding", body).into_response())
}

#[derive(Deserialize)]
struct StalledQuery {
    days: Option<String>,
}

async fn stalled(
    State(app): State<Shared>,
    viewer: Viewer,
    Query(q): Query<StalledQuery>,
) -> Result<Response, WebError> {
    viewer.require(Action::ManageInstitutes, "/coord/stalled")?;
    let raw = q.days.unwrap_or_else(|| "14".into());
    let days: i64 = match raw.trim().parse() {
        Ok(d) if (1..=3650).contains(&d) => d,
        _ => {
            return Err(WebError::BadRequest(format!(
                "Days must be a whole number from 1 to 3650, not {raw:?}."
            )));
        }
    };
    let now = now_ns();
    let rows: Vec<Institute> = app
        .platform
        .institutes()
        .await?
        .into_iter()
        .filter(|i| {
            i.stage != Stage::DatasetAvailable.key() && days_between(i.updated_at, now) >= days
        })
        .collect();
    let body = html! {
        h1 { "Stalled institutes" }
        form.filters method="get" action="/coord/stalled" {
            label { "No update for at least (days)" input type="number" name="days" min="1" max="3650" value=(days); }
            button.secondary type="submit" { "Show" }
        }
        p.meta { (crate::layout::count(rows.len(), "institute")) " not yet at “Dataset available” with no update in " (days) " days or more." }
        (institutes_table(&rows))
    };
    Ok(page(&viewer, "Stalled institutes", body).into_response())
}

/// The institute form's fields, checked.
fn institute_fields(fields: &Fields, p: &mut Problems) -> InstituteFields {
    let name = p.text(fields, "name", "Name", true, 200, false);
    let location = p.text(fields, "location", "Location", true, 120, false);
    let mut requested = Vec::new();
    for key in fields.all("requested") {
        match RequestedData::parse(key) {
            Some(r) => requested.push(r.key().to_owned()),
            None => p.add(format!("Unknown kind of requested data: {key:?}.")),
        }
    }
    requested.dedup();
    if requested.is_empty() {
        p.add("Choose at least one kind of requested data.");
    }
    InstituteFields {
        name,
        location,
        requested_data: requested,
        contacts: p.text(fields, "contacts", "Contacts", false, 2000, true),
        notes: p.text(fields, "notes", "Notes", false, 5000, true),
        ethics_required: !fields.checked("ethics_not_required"),
    }
}

fn institute_form(viewer: &Viewer, action: &str, f: &InstituteFields, submit: &str) -> Markup {
    html! {
        form.stacked method="post" action=(action) {
            (csrf(viewer))
            label for="name" { "Name" }
            input type="text" id="name" name="name" required maxlength="200" value=(f.name);
            label for="location" { "Location " span.hint { "(city, country)" } }
            input type="text" id="location" name="location" required maxlength="120" value=(f.location);
            fieldset {
                legend { "Requested data" }
                @for r in RequestedData::ALL {
                    label.check { input type="checkbox" name="requested" value=(r.key()) checked[f.requested_data.iter().any(|k| k == r.key())]; " " (r.label()) }
                }
            }
            label.check { input type="checkbox" name="ethics_not_required" checked[!f.ethics_required]; " No ethical committee approval is required" }
            label for="contacts" { "Contacts " span.hint { "(names, roles, emails, phones)" } }
            textarea id="contacts" name="contacts" maxlength="2000" { (f.contacts) }
            label for="notes" { "Notes" }
            textarea id="notes" name="notes" maxlength="5000" { (f.notes) }
            button.primary type="submit" { (submit) }
        }
    }
}

fn new_page(viewer: &Viewer, f: &InstituteFields, list: &[String]) -> axum::response::Html<String> {
    let body = html! { h1 { "Add an institute" } (problems(viewer.lang, list)) (institute_form(viewer, "/coord/institutes/new", f, "Add")) };
    page(viewer, "Add an institute", body)
}

async fn new_form(viewer: Viewer) -> Result<Response, WebError> {
    viewer.require(Action::ManageInstitutes, "/coord/institutes/new")?;
    Ok(new_page(
        &viewer,
        &InstituteFields {
            ethics_required: true,
            ..Default::default()
        },
        &[],
    )
    .into_response())
}

async fn create(
    State(app): State<Shared>,
    viewer: Viewer,
    FormFields(fields): FormFields,
) -> Result<Response, WebError> {
    let actor = viewer
        .require(Action::ManageInstitutes, "/coord/institutes/new")?
        .email
        .clone();
    let mut p = Problems::default();
    let f = institute_fields(&fields, &mut p);
    if !p.is_empty() {
        return Ok(with_status(
            StatusCode::BAD_REQUEST,
            new_page(&viewer, &f, &p.0),
        ));
    }
    match app
        .platform
        .create_institute(&f, Stage::FirstContact.key(), &actor)
        .await
    {
        Ok(i) => {
            app.status_cache.clear();
            Ok(see_other(&format!("/coord/institutes/{}", i.id)))
        }
        Err(StoreError::Conflict(why)) => Ok(with_status(
            StatusCode::CONFLICT,
            new_page(&viewer, &f, &[why]),
        )),
        Err(e) => Err(e.into()),
    }
}

fn detail_page(
    viewer: &Viewer,
    i: &Institute,
    history: &[lunghub_store::platform::HistoryEntry],
    documents: &[Document],
    form: &InstituteFields,
    list: &[String],
    others: &[Institute],
) -> Result<axum::response::Html<String>, WebError> {
    let stage = stage_of(i)?;
    let history_panel = html! {
        section.panel {
            h2 { "History" }
            ol.history {
                @for h in history.iter().rev() {
                    li {
                        span.meta { (date(h.at)) " · " (h.actor) } br;
                        @match (&h.from_stage, &h.to_stage) {
                            (Some(f), Some(t)) => { strong { (label(f)) " → " (label(t)) } }
                            (None, Some(t)) => { strong { "Added at “" (label(t)) "”" } }
                            _ => {}
                        }
                        @if !h.note.is_empty() { " " (h.note) }
                    }
                }
            }
        }
    };
    if let Some(at) = i.removed_at {
        let body = html! {
            p.meta.noprint { a href="/coord" { "← All institutes" } }
            h1 { (i.name) }
            p.notice.warn {
                "Removed from the public table on " (date(at)) "; its site takes no data. "
                @if let Some(into) = &i.merged_into { "Merged into " a href=(format!("/coord/institutes/{into}")) { "the record that stays" } "." }
            }
            (history_panel)
        };
        return Ok(page(viewer, &i.name, body));
    }
    let next = stage.apply(Move::Forward, "").ok();
    let back = stage.apply(Move::Back, "reason").ok();
    let can_skip = stage.apply(Move::SkipEthics, "").is_ok() && !i.ethics_required;
    let now = now_ns();
    let body = html! {
        p.meta.noprint { a href="/coord" { "← All institutes" } }
        h1 { (i.name) }
        p.meta { (i.location) " · last update " (date(i.updated_at)) " (" (days_between(i.updated_at, now)) " days ago)"
            @if !i.ethics_required { " · ethics approval not required" } }
        ol.steps {
            @for s in Stage::ALL {
                @let skipped = s == Stage::EthicsApproval && !i.ethics_required && stage > Stage::EthicsApproval;
                li class=(if s == stage { "current" } else if s < stage && !skipped { "done" } else { "" }) {
                    (s.number()) ". " (s.label()) @if skipped { " (not required)" }
                }
            }
        }
        (problems(viewer.lang, list))
        div.two {
            div {
                section.panel id="stage" {
                    h2 { "Move to another stage" }
                    form.stacked method="post" action=(format!("/coord/institutes/{}/stage", i.id)) {
                        (csrf(viewer))
                        input type="hidden" name="expected" value=(stage.key());
                        label for="note" { "Note " span.hint { "(what happened; required to go back)" } }
                        textarea id="note" name="note" maxlength="2000" {}
                        @if let Some(n) = next {
                            @if can_skip {
                                button.primary type="submit" name="move" value="skip-ethics" { "Advance to “" (Stage::WaitingForData.label()) "” (ethics not required)" }
                                " "
                            } @else {
                                button.primary type="submit" name="move" value="forward" { "Advance to “" (n.label()) "”" }
                                " "
                            }
                        }
                        @if let Some(b) = back {
                            button.secondary type="submit" name="move" value="back" { "Go back to “" (b.label()) "”" }
                        }
                    }
                }
                section.panel {
                    h2 { "Details" }
                    (institute_form(viewer, &format!("/coord/institutes/{}", i.id), form, "Save changes"))
                }
            }
            div {
                section.panel {
                    h2 { "Data request letter" }
                    p { "The project description and data request, filled in for this institute." }
                    a.button href=(format!("/coord/institutes/{}/letter", i.id)) { "Open the letter" }
                }
                section.panel id="documents" {
                    h2 { "Documents" }
                    @if documents.is_empty() { p.muted { "No documents yet." } }
                    ul { @for d in documents {
                        li { a href=(format!("/coord/documents/{}", d.id)) { (d.file_name) } span.meta { " · " (d.kind) " · " (stored_size(d.bytes)) " · " (date(d.uploaded_at)) } }
                    } }
                    @if viewer.may(Action::ViewInstituteDocuments) {
                        form.stacked method="post" enctype="multipart/form-data" action=(format!("/coord/institutes/{}/documents", i.id)) {
                            (crate::layout::csrf(&viewer))
                            label for="kind" { "Kind" }
                            select id="kind" name="kind" { @for (k, l) in DOCUMENT_KINDS { option value=(k) { (l) } } }
                            label for="file" { "PDF file " span.hint { "(at most " (MAX_DOCUMENT_BYTES / 1024 / 1024) " MiB)" } }
                            input type="file" id="file" name="file" accept="application/pdf,.pdf" required;
                            button.secondary type="submit" { "Upload" }
                        }
                    }
                }
                (history_panel)
                @if viewer.may(Action::ManageAccounts) { (moderation_panel(viewer, i, others)) }
            }
        }
    };
    Ok(page(viewer, &i.name, body))
}

/// The admin's removal and merge of an institute that sent no data: a test entry, junk, or a
/// second record of the same hospital.
fn moderation_panel(viewer: &Viewer, i: &Institute, others: &[Institute]) -> Markup {
    html! {
        section.panel id="moderation" {
            h2 { "Remove or merge" }
            p.hint { "For a test entry, junk, or a second record of the same hospital. Only an institute that never sent an image can go; its history stays, and the moderation history on the accounts page lists the decision." }
            form.stacked method="post" action=(format!("/coord/institutes/{}/remove", i.id)) {
                (csrf(viewer))
                label for="remove-reason" { "Why it goes" }
                input type="text" id="remove-reason" name="reason" required maxlength="500";
                button.danger type="submit" { "Remove from the table" }
            }
            @if !others.is_empty() {
                form.stacked method="post" action=(format!("/coord/institutes/{}/merge", i.id)) {
                    (csrf(viewer))
                    label for="merge-into" { "Merge into (the record that stays)" }
                    select id="merge-into" name="into" required {
                        @for o in others.iter().filter(|o| o.id != i.id) { option value=(o.id) { (o.name) " · " (o.location) } }
                    }
                    label for="merge-note" { "Note " span.hint { "(optional)" } }
                    input type="text" id="merge-note" name="note" maxlength="500";
                    button.secondary type="submit" { "Merge" }
                }
            }
        }
    }
}

fn label(key: &str) -> &str {
    Stage::parse(key).map_or(key, |s| s.label())
}

fn fields_of(i: &Institute) -> InstituteFields {
    InstituteFields {
        name: i.name.clone(),
        location: i.location.clone(),
        requested_data: i.requested_data.clone(),
        contacts: i.contacts.clone(),
        notes: i.notes.clone(),
        ethics_required: i.ethics_required,
    }
}

/// The detail page, possibly with a form's problems and the fields as sent.
async fn show(
    app: &Shared,
    viewer: &Viewer,
    id: &str,
    status: StatusCode,
    form: Option<&InstituteFields>,
    list: &[String],
) -> Result<Response, WebError> {
    let i = app
        .platform
        .institute(id)
        .await?
        .ok_or(WebError::NotFound)?;
    let history = app.platform.history(id).await?;
    let documents = if viewer.may(Action::ViewInstituteDocuments) {
        app.platform.documents(id).await?
    } else {
        Vec::new()
    };
    let form = form.cloned().unwrap_or_else(|| fields_of(&i));
    let others = if viewer.may(Action::ManageAccounts) {
        app.platform.institutes().await?
    } else {
        Vec::new()
    };
    Ok(with_status(
        status,
        detail_page(viewer, &i, &history, &documents, &form, list, &others)?,
    ))
}

async fn detail(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    viewer.require(Action::ManageInstitutes, &format!("/coord/institutes/{id}"))?;
    show(&app, &viewer, &id, StatusCode::OK, None, &[]).await
}

async fn edit(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
    FormFields(fields): FormFields,
) -> Result<Response, WebError> {
    let actor = viewer
        .require(Action::ManageInstitutes, &format!("/coord/institutes/{id}"))?
        .email
        .clone();
    let mut p = Problems::default();
    let f = institute_fields(&fields, &mut p);
    if !p.is_empty() {
        return show(&app, &viewer, &id, StatusCode::BAD_REQUEST, Some(&f), &p.0).await;
    }
    let before = app
        .platform
        .institute(&id)
        .await?
        .ok_or(WebError::NotFound)?;
    let mut changed = Vec::new();
    for (what, differs) in [
        ("name", before.name != f.name),
        ("location", before.location != f.location),
        ("requested data", before.requested_data != f.requested_data),
        ("contacts", before.contacts != f.contacts),
        ("notes", before.notes != f.notes),
        (
            "ethics requirement",
            before.ethics_required != f.ethics_required,
        ),
    ] {
        if differs {
            changed.push(what);
        }
    }
    if changed.is_empty() {
        return Ok(see_other(&format!("/coord/institutes/{id}")));
    }
    match app
        .platform
        .update_institute(&id, &f, &actor, &format!("changed {}", changed.join(", ")))
        .await
    {
        Ok(()) => {
            app.status_cache.clear();
            Ok(see_other(&format!("/coord/institutes/{id}")))
        }
        Err(StoreError::Conflict(why)) => {
            show(&app, &viewer, &id, StatusCode::CONFLICT, Some(&f), &[why]).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn change_stage(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
    FormFields(fields): FormFields,
) -> Result<Response, WebError> {
    let actor = viewer
        .require(Action::ManageInstitutes, &format!("/coord/institutes/{id}"))?
        .email
        .clone();
    let i = app
        .platform
        .institute(&id)
        .await?
        .ok_or(WebError::NotFound)?;
    let mut p = Problems::default();
    let note = p.text(&fields, "note", "Note", false, 2000, true);
    if !p.is_empty() {
        return show(&app, &viewer, &id, StatusCode::BAD_REQUEST, None, &p.0).await;
    }
    let planned = Move::parse(fields.get("move")).and_then(|mv| {
        let from = Stage::parse(fields.get("expected"))?;
        Ok((mv, from, from.apply(mv, &note)?))
    });
    let (mv, from, to) = match planned {
        Ok(x) => x,
        Err(e) => {
            return show(
                &app,
                &viewer,
                &id,
                StatusCode::BAD_REQUEST,
                None,
                &[format!("{e}.")],
            )
            .await;
        }
    };
    if mv == Move::Forward && from == Stage::DataRequestSent && !i.ethics_required {
        let why = "This institute needs no ethics approval: use “Advance … (ethics not required)”, or mark approval as required first.";
        return show(
            &app,
            &viewer,
            &id,
            StatusCode::BAD_REQUEST,
            None,
            &[why.into()],
        )
        .await;
    }
    if mv == Move::SkipEthics && i.ethics_required {
        let why = "Ethics approval is required for this institute: untick “required” in its details first if it is not.";
        return show(
            &app,
            &viewer,
            &id,
            StatusCode::BAD_REQUEST,
            None,
            &[why.into()],
        )
        .await;
    }
    // Going back to ethics approval means it is needed after all.
    let ethics_required = i.ethics_required || to == Stage::EthicsApproval;
    let note = match mv {
        Move::SkipEthics => format!("ethics approval not required. {note}")
            .trim()
            .to_owned(),
        _ => note,
    };
    match app
        .platform
        .move_institute(&id, from.key(), to.key(), ethics_required, &actor, &note)
        .await
    {
        Ok(()) => {
            app.status_cache.clear();
            if to == Stage::DatasetAvailable {
                super::events::draft_for_dataset_available(&app, &i).await?;
            }
            Ok(see_other(&format!("/coord/institutes/{id}")))
        }
        Err(StoreError::Conflict(why)) => {
            show(&app, &viewer, &id, StatusCode::CONFLICT, None, &[why]).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Takes one PDF (checked by its first bytes, not its name) into the blob store.
async fn upload(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
    mut multipart: Multipart,
) -> Result<Response, WebError> {
    let actor = viewer
        .require(
            Action::ViewInstituteDocuments,
            &format!("/coord/institutes/{id}"),
        )?
        .email
        .clone();
    app.platform
        .institute(&id)
        .await?
        .ok_or(WebError::NotFound)?;
    let mut kind = String::new();
    let mut file: Option<(String, Vec<u8>)> = None;
    let mut p = Problems::default();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                p.add(format!(
                    "The upload could not be read ({}). Files may be at most {} MiB.",
                    e.body_text(),
                    MAX_DOCUMENT_BYTES / 1024 / 1024
                ));
                break;
            }
        };
        match field.name().unwrap_or_default() {
            "kind" => kind = field.text().await.unwrap_or_default(),
            "file" => {
                let name = field.file_name().unwrap_or("document.pdf").to_owned();
                match field.bytes().await {
                    Ok(b) => file = Some((name, b.to_vec())),
                    Err(_) => p.add(format!(
                        "The file is larger than {} MiB.",
                        MAX_DOCUMENT_BYTES / 1024 / 1024
                    )),
                }
            }
            _ => {}
        }
    }
    if !DOCUMENT_KINDS.iter().any(|(k, _)| *k == kind) {
        p.add(format!("Unknown kind of document {kind:?}."));
    }
    let name: String = file
        .as_ref()
        .map(|(n, _)| {
            n.chars()
                .filter(|c| !c.is_control() && !matches!(c, '/' | '\\' | '"'))
                .take(150)
                .collect()
        })
        .unwrap_or_default();
    match &file {
        None if p.is_empty() => p.add("Choose a PDF file to upload."),
        Some((_, bytes)) if bytes.is_empty() => p.add("The file is empty."),
        Some((_, bytes)) if bytes.len() > MAX_DOCUMENT_BYTES => p.add(format!(
            "The file is larger than {} MiB.",
            MAX_DOCUMENT_BYTES / 1024 / 1024
        )),
        Some((_, bytes)) if !bytes.starts_with(b"%PDF-") => {
            p.add("Only PDF documents are accepted, and this file is not a PDF.")
        }
        _ => {}
    }
    let (Some((_, bytes)), true) = (file, p.is_empty()) else {
        return show(&app, &viewer, &id, StatusCode::BAD_REQUEST, None, &p.0).await;
    };
    let size = bytes.len() as i64;
    let blobs = app.clone();
    let blob = tokio::task::spawn_blocking(move || {
        let id = blobs.blobs().put(&bytes)?;
        blobs.blobs().sync()?;
        Ok::<_, StoreError>(id)
    })
    .await
    .map_err(|e| WebError::Internal(e.to_string()))??;
    let doc = Document {
        id: lunghub_store::platform::random_id()?,
        institute_id: id.clone(),
        kind,
        file_name: if name.is_empty() {
            "document.pdf".into()
        } else {
            name
        },
        content_type: "application/pdf".into(),
        bytes: size,
        blob,
        uploaded_by: actor,
        uploaded_at: now_ns(),
    };
    app.platform.add_document(&doc).await?;
    app.status_cache.clear();
    Ok(see_other(&format!("/coord/institutes/{id}#documents")))
}

async fn download(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    viewer.require(
        Action::ViewInstituteDocuments,
        &format!("/coord/documents/{id}"),
    )?;
    let doc = app
        .platform
        .document(&id)
        .await?
        .ok_or(WebError::NotFound)?;
    let blobs = app.clone();
    let blob = doc.blob.clone();
    let bytes = tokio::task::spawn_blocking(move || blobs.blobs().get(&blob))
        .await
        .map_err(|e| WebError::Internal(e.to_string()))??;
    let disposition = format!(
        "attachment; filename=\"{}\"",
        doc.file_name
            .replace(|c: char| !c.is_ascii_graphic() && c != ' ', "_")
    );
    Ok((
        [
            (header::CONTENT_TYPE, doc.content_type),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}

const LETTER_TEMPLATE: &str = include_str!("../../templates/data-request.md");

/// Markdown-escapes a value put into the template, so an institute's name can't add links,
/// images or HTML to the letter.
fn md_escape(s: &str) -> String {
    lunghub_release::card::text(s)
}

/// The letter as HTML: the Markdown template filled in and rendered, raw HTML refused.
pub fn render_letter(i: &Institute, today: &str, public_url: &str) -> String {
    // The letter may promise encryption only where this server's address gives it.
    let transport = if public_url.starts_with("https://") {
        "The web upload and DICOMweb reach us over HTTPS, encrypted."
    } else {
        "This server's address is not HTTPS: ask us for an encrypted route before you send."
    };
    let requested: String = i
        .requested_data
        .iter()
        .map(|k| {
            format!(
                "- {}\n",
                md_escape(RequestedData::parse(k).map_or(k.as_str(), |r| r.label()))
            )
        })
        .collect();
    let text = LETTER_TEMPLATE
        .replace("{{name}}", &md_escape(&i.name))
        .replace("{{location}}", &md_escape(&i.location))
        .replace("{{date}}", today)
        .replace("{{requested_data}}", &requested)
        .replace("{{transport}}", transport);
    lunghub_release::card::safe_html(&text)
}

async fn letter(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    viewer.require(
        Action::ManageInstitutes,
        &format!("/coord/institutes/{id}/letter"),
    )?;
    let i = app
        .platform
        .institute(&id)
        .await?
        .ok_or(WebError::NotFound)?;
    let body = html! {
        p.meta.noprint { a href=(format!("/coord/institutes/{}", i.id)) { "← " (i.name) } " · print this page, or save it as PDF from the print dialog" }
        article.letter { (PreEscaped(render_letter(&i, &date(now_ns()), &app.config.public_url))) }
    };
    Ok(page(&viewer, &format!("Data request: {}", i.name), body).into_response())
}

/// `POST /coord/institutes/{id}/remove`: the admin takes an institute that sent no data off
/// the table, with a reason.
async fn remove(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
    FormFields(fields): FormFields,
) -> Result<Response, WebError> {
    let here = format!("/coord/institutes/{id}");
    let admin = viewer.require(Action::ManageAccounts, &here)?.email.clone();
    let mut p = Problems::default();
    let reason = p.text(&fields, "reason", "Why it goes", true, 500, false);
    if !p.is_empty() {
        return show(&app, &viewer, &id, StatusCode::BAD_REQUEST, None, &p.0).await;
    }
    let done = app.platform.remove_institute(&id, &admin, &reason).await;
    moderated(&app, &viewer, &id, done, &here).await
}

/// The answer to a removal or a merge: the public table's cache cleared and on to `to`, or
/// the institute's page again with what stood in the way.
async fn moderated(
    app: &Shared,
    viewer: &Viewer,
    id: &str,
    done: Result<(), StoreError>,
    to: &str,
) -> Result<Response, WebError> {
    let (status, why) = match done {
        Ok(()) => {
            app.status_cache.clear();
            return Ok(see_other(to));
        }
        Err(StoreError::Conflict(why)) => (StatusCode::CONFLICT, format!("{why}.")),
        Err(StoreError::NotFound(_)) => (
            StatusCode::BAD_REQUEST,
            "That institute is not on the table.".to_owned(),
        ),
        Err(e) => return Err(e.into()),
    };
    show(app, viewer, id, status, None, &[why]).await
}

/// `POST /coord/institutes/{id}/merge`: the admin merges a duplicate that sent no data into
/// the record that stays.
async fn merge(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
    FormFields(fields): FormFields,
) -> Result<Response, WebError> {
    let here = format!("/coord/institutes/{id}");
    let admin = viewer.require(Action::ManageAccounts, &here)?.email.clone();
    let mut p = Problems::default();
    let note = p.text(&fields, "note", "Note", false, 500, false);
    let into = fields.get("into").to_owned();
    if into.is_empty() {
        p.add("Choose the record that stays.");
    }
    if !p.is_empty() {
        return show(&app, &viewer, &id, StatusCode::BAD_REQUEST, None, &p.0).await;
    }
    let done = app
        .platform
        .merge_institute(&id, &into, &admin, &note)
        .await;
    moderated(
        &app,
        &viewer,
        &id,
        done,
        &format!("/coord/institutes/{into}"),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_letter_fills_in_the_institute_and_escapes_it() {
        let i = Institute {
            id: "x".into(),
            name: "Ospedale <script>alert(1)</script> [click](http://evil)".into(),
            location: "Milan, Italy".into(),
            requested_data: vec!["xray-covid".into(), "ultrasound-lung".into()],
            contacts: String::new(),
            notes: String::new(),
            stage: "first-contact".into(),
            ethics_required: true,
            created_at: 0,
            updated_at: 0,
            removed_at: None,
            merged_into: None,
        };
        let html = render_letter(&i, "2026-11-23", "https://lunghub.example.org");
        assert!(html.contains("Milan, Italy"));
        assert!(html.contains("<li>X-ray COVID-19</li>"));
        assert!(html.contains("<li>Ultrasound lung</li>"));
        assert!(html.contains("2026-11-23"));
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("href=\"http://evil\""), "{html}");
        assert!(!html.contains("{{"));
        assert!(html.contains("over HTTPS, encrypted"), "{html}");
        assert!(
            html.contains("a key generated at your hospital that never leaves it"),
            "the letter names the gateway route: {html}"
        );
        let plain = render_letter(&i, "2026-11-23", "http://127.0.0.1:8080");
        assert!(plain.contains("is not HTTPS"), "{plain}");
        assert!(!plain.contains("over HTTPS, encrypted"), "{plain}");
    }
}
