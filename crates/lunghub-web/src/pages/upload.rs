//! Web upload for hospital uploaders: a batch carries the labels and clinical fields of its
//! files (or a CSV sidecar row per file); files, folders and zips are sent one file per
//! request so each shows its own progress and outcome, and a batch can be resumed: a file
//! already recorded in the batch is not sent again, and one sent again adds nothing (the
//! catalog is content-addressed).
//!
//! Every file goes to `app.intake`, the same pipeline as every other route.
//!
//! No file's name is stored. Folder, file and zip entry names in hospitals carry patients'
//! names and record numbers, so a batch records each file by the keyed tag of its name
//! (`SiteKey::name_tag`), and the sidecar's rows by the tags of the names they label. The
//! name comes with each request in the `X-File-Name` header (not the URL, which proxies
//! log) and is forgotten once the answer is sent; the uploader's browser keeps its own copy,
//! on the uploader's machine, to show names on the batch page and to resume.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use lunghub_deid::{Cause, Refusal};
use lunghub_domain::Finding;
use lunghub_domain::access::Action;
use lunghub_intake::{ArchiveLimits, Arrival, FileOutcome, Metadata, Origin, read_metadata_csv};
use lunghub_store::{Admission, Upload, UploadFile};
use maud::{Markup, html};
use serde::{Deserialize, Serialize};

use super::{see_other, with_status};
use crate::form::Problems;
use crate::i18n::{Lang, n};
use crate::layout::{page, problems, stored_size};
use crate::{Shared, Viewer, WebError};

/// The largest file one request may carry (a zip of a study, or a long clip). A request is
/// held in memory while intake reads it, and the script sends three at once, so this bounds
/// an uploader's memory to 1.5 GiB; bigger collections go as folders, a file at a time.
pub const MAX_UPLOAD_BYTES: usize = 512 << 20;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/upload", get(home))
        .route("/upload/batches/{id}", get(batch_page))
        .route("/upload/batches/{id}/files.json", get(files_json))
        .route("/upload/batches/{id}/recorded", post(recorded))
        .route("/static/upload.js", get(script))
        .merge(
            Router::new()
                .route("/upload/batches", post(create_batch))
                .route("/upload/batches/{id}/files", post(send_form).put(send_one))
                .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES + 1024 * 1024)),
        )
}

/// What a batch says about all its files, and the sidecar's rows by the tag of the file
/// name they label, with the patient already keyed (see [`read_sidecar`]).
#[derive(Debug, Default, Serialize, Deserialize)]
struct BatchFields {
    #[serde(default)]
    batch: Metadata,
    #[serde(default)]
    sidecar: BTreeMap<String, Metadata>,
}

impl BatchFields {
    /// The file's own sidecar row, field by field over the batch's values.
    fn for_file(&self, app: &Shared, name: &str) -> Metadata {
        let base = name.rsplit(['/', '!']).next().unwrap_or(name);
        let b = &self.batch;
        let Some(row) = self.sidecar.get(&tag_of(app, base)) else {
            return b.clone();
        };
        let pick = |r: &Option<String>, b: &Option<String>| r.clone().or_else(|| b.clone());
        Metadata {
            finding: pick(&row.finding, &b.finding),
            patient: pick(&row.patient, &b.patient),
            view: pick(&row.view, &b.view),
            modality: pick(&row.modality, &b.modality),
            sex: pick(&row.sex, &b.sex),
            age_years: row.age_years.or(b.age_years),
            offset_days: row.offset_days.or(b.offset_days),
            outcome: pick(&row.outcome, &b.outcome),
            comorbidities: pick(&row.comorbidities, &b.comorbidities),
            therapy: pick(&row.therapy, &b.therapy),
            source_dataset: pick(&row.source_dataset, &b.source_dataset),
        }
    }
}

/// The sites the viewer may upload for: an uploader's own, or every site for an admin.
async fn upload_sites(app: &Shared, viewer: &Viewer) -> Result<Vec<(String, String)>, WebError> {
    Ok(app
        .catalog
        .sites()
        .await?
        .into_iter()
        .filter(|s| viewer.may(Action::UploadImages { site: &s.id }))
        .map(|s| (s.id, s.name))
        .collect())
}

async fn home(State(app): State<Shared>, viewer: Viewer) -> Result<Response, WebError> {
    show_home(&app, &viewer, StatusCode::OK, &[]).await
}

async fn show_home(
    app: &Shared,
    viewer: &Viewer,
    status: StatusCode,
    problem_list: &[String],
) -> Result<Response, WebError> {
    let account = match &viewer.account {
        Some(a) => a,
        None => return Err(WebError::SignInFirst("/upload".into())),
    };
    let sites = upload_sites(app, viewer).await?;
    if sites.is_empty() {
        return Err(if account.role == "uploader" {
            WebError::BadRequest(viewer.t("upload-no-site"))
        } else {
            WebError::Forbidden
        });
    }
    let mut recent = Vec::new();
    for (id, name) in &sites {
        for (u, n) in app.catalog.uploads(id).await? {
            recent.push((name.clone(), u, n));
        }
    }
    recent.sort_by(|a, b| b.1.created_at.cmp(&a.1.created_at));
    let t = |id: &str| viewer.t(id);
    let body = html! {
        h1 { (t("nav-upload")) }
        p { (t("upload-where")) " " code { "lunghub gateway" } " " (t("upload-gateway")) " "
            (t("upload-labels")) " " code { "filename" } " · " code { "finding" } ", " code { "view" } ", " code { "modality" } ", "
            code { "sex" } ", " code { "age" } ", " code { "patientid" } "." }
        (problems(viewer.lang, problem_list))
        form.stacked method="post" enctype="multipart/form-data" action="/upload/batches" {
            (crate::layout::csrf(viewer))
            label { (t("upload-site"))
                select name="site" {
                    @for (id, name) in &sites { option value=(id) { (name) } }
                }
            }
            label { (t("upload-finding"))
                select name="finding" {
                    option value="" { (t("upload-finding-none")) }
                    // The dataset's label vocabulary, as the released metadata spells it.
                    @for f in Finding::known_paths() { option value=(f) lang="en" { (f) } }
                }
            }
            label { (t("upload-modality"))
                select name="modality" {
                    option value="" { (t("upload-from-files")) }
                    option value="DX" { (t("upload-modality-dx")) }
                    option value="US" { (t("upload-modality-us")) }
                }
            }
            label { (t("upload-view")) input type="text" name="view" placeholder="PA, AP, AP Supine, Lateral…" maxlength="40"; }
            label { (t("upload-sex")) select name="sex" { option value="" { "—" } option value="F" { "F" } option value="M" { "M" } } }
            label { (t("upload-age")) input type="number" name="age" min="0" max="120" step="1"; }
            label { (t("upload-sidecar")) input type="file" name="sidecar" accept=".csv,text/csv"; }
            button.primary type="submit" { (t("upload-start")) }
        }
        @if !recent.is_empty() {
            h2 { (t("upload-recent")) }
            table {
                thead { tr { th { (t("upload-started")) } th { (t("upload-site")) } th { (t("upload-files")) } } }
                tbody {
                    @for (site, u, n) in &recent {
                        tr {
                            td { a href=(format!("/upload/batches/{}", u.id)) { (viewer.lang.long_date(u.created_at)) " · " (&u.id[..8]) } }
                            td { (site) }
                            td.num { (n) }
                        }
                    }
                }
            }
        }
    };
    Ok(with_status(status, page(viewer, &t("nav-upload"), body)))
}

/// Reads the batch form: fields and an optional CSV sidecar.
async fn create_batch(
    State(app): State<Shared>,
    viewer: Viewer,
    mut multipart: Multipart,
) -> Result<Response, WebError> {
    let account = viewer.require(Action::ViewPublic, "/upload")?.clone();
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    let mut sidecar: Option<Vec<u8>> = None;
    let mut p = Problems::in_lang(viewer.lang);
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                p.add(viewer.ta("upload-form-unreadable", &[("why", e.body_text().into())]));
                break;
            }
        };
        let name = field.name().unwrap_or_default().to_owned();
        if name == "sidecar" {
            match field.bytes().await {
                Ok(b) if !b.is_empty() => sidecar = Some(b.to_vec()),
                Ok(_) => {}
                Err(e) => p.add(viewer.ta(
                    "upload-sidecar-unreadable",
                    &[("why", e.body_text().into())],
                )),
            }
        } else {
            let text = field.text().await.unwrap_or_default();
            fields.insert(name, text.trim().to_owned());
        }
    }
    let site = fields.get("site").cloned().unwrap_or_default();
    if !viewer.may(Action::UploadImages { site: &site }) || app.catalog.site(&site).await?.is_none()
    {
        p.add(viewer.t("upload-choose-site"));
    } else if let Admission::Closed(why) = app.catalog.admission(&site).await? {
        p.add(viewer.ta("upload-not-yet", &[("why", why.into())]));
    }
    let get = |k: &str| fields.get(k).filter(|v| !v.is_empty()).cloned();
    let age = match get("age").map(|a| a.parse::<f64>()) {
        Some(Ok(a)) if (0.0..=120.0).contains(&a) => Some(a),
        Some(_) => {
            p.add(viewer.t("upload-bad-age"));
            None
        }
        None => None,
    };
    let mut batch = BatchFields {
        batch: Metadata {
            finding: get("finding"),
            modality: get("modality"),
            view: get("view"),
            sex: get("sex"),
            age_years: age,
            ..Metadata::default()
        },
        sidecar: BTreeMap::new(),
    };
    if let Some(csv) = sidecar {
        match read_sidecar(&app, &site, &csv) {
            Ok(rows) => batch.sidecar = rows,
            Err(why) => p.add(why),
        }
    }
    if !p.is_empty() {
        return show_home(&app, &viewer, StatusCode::BAD_REQUEST, &p.0).await;
    }
    let id = crate::auth::new_token()?[..24].to_owned();
    let json = serde_json::to_string(&batch)
        .map_err(|e| WebError::Internal(format!("cannot encode the batch: {e}")))?;
    app.catalog
        .create_upload(&id, &site, &account.id, &json)
        .await?;
    Ok(see_other(&format!("/upload/batches/{id}")))
}

/// The sidecar's rows as the batch keeps them: by the tag of the file name, and with the
/// patient replaced by a pseudonym under the site's key, so that the stored batch holds no
/// name and no record number. (Intake keys that pseudonym again with the dataset, as it keys
/// every patient that comes in a metadata file: the same sidecar patient is the same
/// pseudonymous patient in every web upload of the site, and never one of another site.)
fn read_sidecar(
    app: &Shared,
    site_id: &str,
    csv: &[u8],
) -> Result<BTreeMap<String, Metadata>, String> {
    let (rows, issues) =
        read_metadata_csv(csv, "the sidecar").map_err(|e| format!("The CSV sidecar: {e}"))?;
    if let Some(issue) = issues.first() {
        return Err(format!(
            "The CSV sidecar has a row it cannot read: {}",
            match issue {
                lunghub_intake::InputIssue::BadRow { row, error } => format!("row {row}: {error}"),
                other => format!("{other:?}"),
            }
        ));
    }
    let deid = &app.intake.intake().deid;
    let key = deid.site_key(site_id);
    Ok(rows
        .into_iter()
        .map(|mut r| {
            r.metadata.patient = r
                .metadata
                .patient
                .map(|p| key.pseudonym("sidecar-patient", &p));
            (deid.secret().name_tag(&r.file), r.metadata)
        })
        .collect())
}

/// How the batch records a file: the keyed tag of its name.
fn tag_of(app: &Shared, name: &str) -> String {
    app.intake.intake().deid.secret().name_tag(name)
}

/// The batch, if the viewer may upload to its site.
async fn batch_for(app: &Shared, viewer: &Viewer, id: &str) -> Result<Upload, WebError> {
    let here = format!("/upload/batches/{id}");
    viewer.require(Action::ViewPublic, &here)?;
    let upload = app.catalog.upload(id).await?.ok_or(WebError::NotFound)?;
    viewer.require(
        Action::UploadImages {
            site: &upload.site_id,
        },
        &here,
    )?;
    Ok(upload)
}

fn batch_fields(upload: &Upload) -> Result<BatchFields, WebError> {
    serde_json::from_str(&upload.fields)
        .map_err(|e| WebError::Internal(format!("batch {} has bad fields: {e}", upload.id)))
}

async fn batch_page(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let upload = batch_for(&app, &viewer, &id).await?;
    let fields = batch_fields(&upload)?;
    let files = app.catalog.upload_files(&id).await?;
    let site = app
        .catalog
        .site(&upload.site_id)
        .await?
        .map(|s| s.name)
        .unwrap_or_default();
    let mut tally: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &files {
        *tally.entry(f.outcome.as_str()).or_default() += 1;
    }
    let b = &fields.batch;
    let t = |id: &str| viewer.t(id);
    let lang = viewer.lang;
    let from_files = t("upload-from-files-short");
    let body = html! {
        h1 { (viewer.ta("upload-batch-title", &[("batch", (&upload.id[..8]).into()), ("site", site.as_str().into())])) }
        p {
            (viewer.ta("upload-batch-started", &[("date", lang.long_date(upload.created_at).into())])) " "
            (t("upload-finding-short")) " " (b.finding.as_deref().map_or_else(|| t("upload-per-file"), str::to_owned)) "; "
            (t("upload-modality-short")) " " (b.modality.as_deref().unwrap_or(&from_files)) "; "
            (t("upload-view-short")) " " (b.view.as_deref().unwrap_or(&from_files)) "."
            @if !fields.sidecar.is_empty() { " " (viewer.ta("upload-sidecar-labels", &[("count", n(fields.sidecar.len() as f64))])) }
        }
        section #drop-zone.drop-zone data-batch=(upload.id) data-csrf=(viewer.csrf) data-limit=(MAX_UPLOAD_BYTES) data-texts=(script_texts(lang)) {
            p { strong { (t("upload-drop")) } " " (t("upload-or-choose")) }
            form.stacked method="post" enctype="multipart/form-data" action=(format!("/upload/batches/{}/files", upload.id)) {
                (crate::layout::csrf(&viewer))
                label { (t("upload-pick-files")) input #pick-files type="file" name="files" multiple; }
                label { (t("upload-pick-folder")) input #pick-folder type="file" name="folder" multiple webkitdirectory; }
                button.primary #send-form type="submit" { (t("upload-send")) }
            }
            p.hint { (t("upload-resume")) " " (viewer.ta("upload-limit", &[("mib", n((MAX_UPLOAD_BYTES >> 20) as f64))])) }
            p #upload-summary role="status" {}
        }
        h2 { (t("upload-in-batch")) }
        p #tally {
            @if files.is_empty() { (t("upload-none-yet")) }
            @for (outcome, n) in &tally { span.chip { (outcome_label(lang, outcome)) ": " (n) } " " }
        }
        table #upload-files {
            thead { tr { th { (t("upload-col-file")) } th { (t("releases-col-size")) } th { (t("upload-col-progress")) } th { (t("upload-col-outcome")) } } }
            tbody {
                @for f in &files { (file_row(lang, f)) }
            }
        }
        script src="/static/upload.js" {}
    };
    Ok(page(&viewer, &t("nav-upload"), body).into_response())
}

/// The outcomes a file's line can show, from the server and from the upload script.
const OUTCOMES: [&str; 11] = [
    "new",
    "duplicate",
    "near-duplicate",
    "quarantined",
    "unreadable",
    "sidecar",
    "unpacked",
    "refused",
    "waiting",
    "sending",
    "retrying",
];

/// An outcome in `lang`; one the texts do not know reads as its key.
fn outcome_label(lang: Lang, outcome: &str) -> String {
    lang.t_or(&format!("outcome-{outcome}"), outcome)
}

/// The texts the upload script writes, in the page's language, as JSON for its
/// `data-texts`. A message's variables are given as `{name}`, which the script fills in.
fn script_texts(lang: Lang) -> String {
    let mut texts = serde_json::Map::new();
    for outcome in OUTCOMES {
        texts.insert(
            format!("outcome-{outcome}"),
            outcome_label(lang, outcome).into(),
        );
    }
    let messages: [(&str, &[&str]); 9] = [
        ("upload-technical-detail", &[]),
        ("upload-none-yet", &[]),
        ("upload-progress-sent", &["finished", "total"]),
        ("upload-progress-skipped", &["skipped"]),
        ("upload-progress-failed", &["failed"]),
        ("upload-nothing-sent", &["why"]),
        ("upload-already-here", &[]),
        ("upload-larger-than", &["size"]),
        ("upload-retrying", &["why", "attempt", "of"]),
    ];
    for (id, variables) in messages {
        let slots: Vec<(&str, String)> =
            variables.iter().map(|v| (*v, format!("{{{v}}}"))).collect();
        let args: Vec<(&str, fluent_bundle::FluentValue)> =
            slots.iter().map(|(k, v)| (*k, v.as_str().into())).collect();
        texts.insert(id.into(), lang.ta(id, &args).into());
    }
    serde_json::Value::Object(texts).to_string()
}

fn file_row(lang: Lang, f: &UploadFile) -> Markup {
    html! {
        tr data-tag=(f.tag) {
            td { code.file-tag title=(lang.t("upload-name-not-kept")) { (f.tag) } }
            td.num { (stored_size(f.bytes)) }
            td { progress max="1" value="1" {} }
            td class=(format!("outcome {}", f.outcome)) data-outcome=(f.outcome) {
                (outcome_label(lang, &f.outcome))
                @if let Some(item) = &f.item_id { " " code { (&item[..12.min(item.len())]) } }
                @match Cause::parse(&f.cause) {
                    Some(cause) => {
                        p.plain { (cause_plain(lang, cause)) }
                        p.next-step { (cause_next_step(lang, cause)) }
                        @if !f.detail.is_empty() {
                            details { summary { (lang.t("upload-technical-detail")) } code { (f.detail) } }
                        }
                    }
                    None => { @if !f.detail.is_empty() { ": " (f.detail) } }
                }
            }
        }
    }
}

/// What happened to a refused file, in `lang` ([`Cause::plain`] is the English).
pub(crate) fn cause_plain(lang: Lang, cause: Cause) -> String {
    lang.t(&format!("cause-{}", cause.as_str()))
}

/// What to do about it, in `lang` ([`Cause::next_step`] is the English).
pub(crate) fn cause_next_step(lang: Lang, cause: Cause) -> String {
    lang.t(&format!("cause-{}-next", cause.as_str()))
}

async fn files_json(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Json<Vec<UploadFile>>, WebError> {
    batch_for(&app, &viewer, &id).await?;
    Ok(Json(app.catalog.upload_files(&id).await?))
}

/// A line of the batch with the name it was asked about or sent as: the name goes back to
/// the uploader's browser in the answer and is kept nowhere here.
#[derive(Debug, Serialize)]
struct NamedLine {
    name: String,
    #[serde(flatten)]
    line: UploadFile,
    /// For a refused file: what happened and what to do, in words a hospital person reads
    /// in the uploader's language ([`cause_plain`], [`cause_next_step`]); the detail stays
    /// for engineers.
    plain: Option<String>,
    next_step: Option<String>,
}

impl NamedLine {
    fn new(name: String, line: UploadFile) -> NamedLine {
        NamedLine {
            name,
            plain: None,
            next_step: None,
            line,
        }
    }

    /// The line as the uploader reads it: its cause explained in `lang`.
    fn explained(mut self, lang: Lang) -> NamedLine {
        if let Some(cause) = Cause::parse(&self.line.cause) {
            self.plain = Some(cause_plain(lang, cause));
            self.next_step = Some(cause_next_step(lang, cause));
        }
        self
    }
}

#[derive(Deserialize)]
struct RecordedQuery {
    names: Vec<String>,
}

/// Which of the names the browser is about to send the batch already recorded, and how
/// they ended: how an interrupted upload resumes without the batch keeping any name.
async fn recorded(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
    Json(q): Json<RecordedQuery>,
) -> Result<Json<Vec<NamedLine>>, WebError> {
    batch_for(&app, &viewer, &id).await?;
    if q.names.len() > 100_000 {
        return Err(WebError::BadRequest(
            "Ask about at most 100,000 names at once.".into(),
        ));
    }
    let lines: BTreeMap<String, UploadFile> = app
        .catalog
        .upload_files(&id)
        .await?
        .into_iter()
        .map(|l| (l.tag.clone(), l))
        .collect();
    Ok(Json(
        q.names
            .into_iter()
            .filter_map(|name| {
                let line = lines.get(&tag_of(&app, &clean_name(&name)))?.clone();
                Some(NamedLine::new(name, line).explained(viewer.lang))
            })
            .collect(),
    ))
}

/// The file's name from the `X-File-Name` header, percent-encoded as `encodeURIComponent`
/// writes it.
fn file_name_header(headers: &axum::http::HeaderMap) -> Result<String, WebError> {
    let raw = headers
        .get("x-file-name")
        .ok_or_else(|| {
            WebError::BadRequest("The file's name is missing (the X-File-Name header).".into())
        })?
        .to_str()
        .map_err(|_| {
            WebError::BadRequest("The X-File-Name header must be percent-encoded.".into())
        })?;
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|n| n.into_owned())
        .map_err(|_| WebError::BadRequest("The file's name is not UTF-8.".into()))
}

/// One file as the request body (the script's way): answers with what happened to it, or
/// to each entry of a zip.
async fn send_one(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<Response, WebError> {
    let upload = batch_for(&app, &viewer, &id).await?;
    let name = file_name_header(&headers)?;
    let outcomes: Vec<NamedLine> = take_file(&app, &upload, &name, body.to_vec())
        .await?
        .into_iter()
        .map(|l| l.explained(viewer.lang))
        .collect();
    Ok(Json(outcomes).into_response())
}

/// Many files in one multipart form (the way without the script).
async fn send_form(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
    mut multipart: Multipart,
) -> Result<Response, WebError> {
    let upload = batch_for(&app, &viewer, &id).await?;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                return Err(WebError::BadRequest(format!(
                    "The upload stopped: {}. Files may be at most {} MiB each; files already received are kept, send the rest again.",
                    e.body_text(),
                    MAX_UPLOAD_BYTES >> 20
                )));
            }
        };
        let Some(name) = field.file_name().map(str::to_owned) else {
            continue;
        };
        if name.is_empty() {
            continue;
        }
        let bytes = field.bytes().await.map_err(|e| {
            WebError::BadRequest(format!("A file could not be read: {}", e.body_text()))
        })?;
        take_file(&app, &upload, &name, bytes.to_vec()).await?;
    }
    Ok(see_other(&format!("/upload/batches/{id}")))
}

/// A file's name as the browser sent it, cleaned: its relative path, without control
/// characters or a way out of the batch. Only its tag is kept.
fn clean_name(name: &str) -> String {
    name.replace('\\', "/")
        .split('/')
        .filter(|part| !part.is_empty() && *part != "." && *part != "..")
        .collect::<Vec<_>>()
        .join("/")
        .chars()
        .filter(|c| !c.is_control())
        .take(300)
        .collect()
}

/// Records a line of the batch under the tag of `name`, and returns it with the name.
async fn record(
    app: &Shared,
    upload: &Upload,
    name: String,
    bytes: i64,
    said: Said,
) -> Result<NamedLine, WebError> {
    let line = UploadFile {
        tag: tag_of(app, &name),
        bytes,
        outcome: said.outcome.into(),
        item_id: said.item_id,
        detail: said.detail,
        cause: said
            .cause
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default(),
    };
    app.catalog.record_upload_file(&upload.id, &line).await?;
    Ok(NamedLine::new(name, line))
}

/// What one line of the batch says about a file.
struct Said {
    outcome: &'static str,
    item_id: Option<String>,
    detail: String,
    cause: Option<Cause>,
}

impl Said {
    fn note(outcome: &'static str, detail: String) -> Said {
        Said {
            outcome,
            item_id: None,
            detail,
            cause: None,
        }
    }

    fn refused(outcome: &'static str, why: Refusal) -> Said {
        Said {
            outcome,
            item_id: None,
            detail: why.detail,
            cause: Some(why.cause),
        }
    }
}

/// Takes one received file in: a CSV becomes the batch's sidecar, a zip is unpacked and
/// each entry taken in, anything else goes to the intake pipeline.
async fn take_file(
    app: &Shared,
    upload: &Upload,
    name: &str,
    bytes: Vec<u8>,
) -> Result<Vec<NamedLine>, WebError> {
    let name = clean_name(name);
    if name.is_empty() {
        return Err(WebError::BadRequest("A file needs a name.".into()));
    }
    let size = bytes.len() as i64;
    // Asked again per file: a stage moved back since the batch was made closes it too.
    if let Admission::Closed(why) = app.catalog.admission(&upload.site_id).await? {
        return Ok(vec![
            record(app, upload, name, size, Said::note("refused", why)).await?,
        ]);
    }
    if name.to_ascii_lowercase().ends_with(".csv") {
        let line = match read_sidecar(app, &upload.site_id, &bytes) {
            Ok(rows) => {
                let mut fields = batch_fields(upload)?;
                let n = rows.len();
                fields.sidecar.extend(rows);
                let json = serde_json::to_string(&fields)
                    .map_err(|e| WebError::Internal(format!("cannot encode the batch: {e}")))?;
                app.catalog.set_upload_fields(&upload.id, &json).await?;
                let detail = format!("labels for {n} files");
                record(app, upload, name, size, Said::note("sidecar", detail)).await?
            }
            Err(why) => {
                let why = Refusal::new(Cause::BadLabels, why);
                record(app, upload, name, size, Said::refused("unreadable", why)).await?
            }
        };
        return Ok(vec![line]);
    }
    // The sidecar may have arrived since the page was loaded: read the batch afresh.
    let fields = match app.catalog.upload(&upload.id).await? {
        Some(u) => batch_fields(&u)?,
        None => return Err(WebError::NotFound),
    };
    let mut recorded = Vec::new();
    if !bytes.starts_with(b"PK\x03\x04") {
        recorded.push(intake_one(app, upload, &fields, name, bytes).await?);
        return Ok(recorded);
    }
    // One archive of a site unpacks at a time, so that a site's scratch space is bounded
    // by one upload's limit however many it sends at once.
    let site_lock = app.unpacking.lock_for(&upload.site_id);
    let _unpacking = site_lock.lock().await;
    let unzipped = match unzip(app, &name, bytes).await {
        Ok(u) => u,
        Err(why) => {
            let why = Refusal::new(Cause::ServerSide, why);
            return Ok(vec![
                record(app, upload, name, size, Said::refused("unreadable", why)).await?,
            ]);
        }
    };
    for (entry, why) in &unzipped.refused {
        recorded.push(
            record(
                app,
                upload,
                entry.clone(),
                0,
                Said::refused(
                    "unreadable",
                    Refusal::new(Cause::UnsafeArchiveEntry, why.clone()),
                ),
            )
            .await?,
        );
    }
    let detail = format!("{} entries", unzipped.entries.len());
    recorded.push(
        record(
            app,
            upload,
            name.clone(),
            size,
            Said::note("unpacked", detail),
        )
        .await?,
    );
    for (entry, path) in &unzipped.entries {
        let read = tokio::fs::read(path).await;
        // Each entry goes as soon as it is read: only the scratch folder holds originals.
        let _ = tokio::fs::remove_file(path).await;
        let line = match read {
            Ok(bytes) => intake_one(app, upload, &fields, entry.clone(), bytes).await?,
            Err(e) => {
                let why = Refusal::new(Cause::ServerSide, format!("cannot read: {e}"));
                record(
                    app,
                    upload,
                    entry.clone(),
                    0,
                    Said::refused("unreadable", why),
                )
                .await?
            }
        };
        recorded.push(line);
    }
    Ok(recorded)
}

/// Hands one file to intake and records what happened to it.
async fn intake_one(
    app: &Shared,
    upload: &Upload,
    fields: &BatchFields,
    name: String,
    bytes: Vec<u8>,
) -> Result<NamedLine, WebError> {
    let size = bytes.len() as i64;
    let metadata = fields.for_file(app, &name);
    let outcome = app
        .intake
        .receive(Arrival {
            origin: Origin {
                site_id: upload.site_id.clone(),
                route: "upload".into(),
            },
            label: tag_of(app, &name),
            metadata,
            bytes,
        })
        .await
        .map_err(|e| WebError::Internal(format!("intake failed: {e}")))?;
    let label = outcome.label();
    let said = match outcome {
        FileOutcome::New { item } | FileOutcome::Duplicate { item } => Said {
            item_id: Some(item),
            ..Said::note(label, String::new())
        },
        FileOutcome::NearDuplicate { item, twin } => Said {
            item_id: Some(item),
            ..Said::note(label, format!("looks like {}", &twin[..12.min(twin.len())]))
        },
        FileOutcome::Quarantined(why) | FileOutcome::Unreadable(why) => Said::refused(label, why),
    };
    record(app, upload, name, size, said).await
}

/// The lock each site's archives unpack under (see [`take_file`]).
#[derive(Default)]
pub(crate) struct Unpacking(
    std::sync::Mutex<BTreeMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>,
);

impl Unpacking {
    fn lock_for(&self, site: &str) -> std::sync::Arc<tokio::sync::Mutex<()>> {
        let mut sites = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        sites.entry(site.to_owned()).or_default().clone()
    }
}

/// An unpacked upload: its entries on disk, named `archive.zip!entry`, and the entries
/// refused, with why. The scratch folder goes when this does, whatever happened.
struct Unzipped {
    scratch: std::path::PathBuf,
    entries: Vec<(String, std::path::PathBuf)>,
    refused: Vec<(String, String)>,
}

impl Drop for Unzipped {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

/// Unpacks a zip with the limits of a web upload ([`ArchiveLimits::for_upload`]: no paths
/// out, no bombs, no entries sharing data, bounded nesting and total).
async fn unzip(app: &Shared, name: &str, bytes: Vec<u8>) -> Result<Unzipped, String> {
    let scratch = app
        .config
        .data_dir
        .join("unpacking")
        .join(crate::auth::new_token().map_err(|e| e.to_string())?);
    let label = name.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut unzipped = Unzipped {
            scratch,
            entries: Vec::new(),
            refused: Vec::new(),
        };
        unpack_into(&mut unzipped, &label, bytes)?;
        Ok(unzipped)
    })
    .await
    .map_err(|e| format!("cannot unpack: {e}"))?
}

fn unpack_into(out: &mut Unzipped, label: &str, bytes: Vec<u8>) -> Result<(), String> {
    let scratch = out.scratch.clone();
    std::fs::create_dir_all(&scratch).map_err(|e| format!("cannot unpack: {e}"))?;
    let archive = scratch.join("upload.zip");
    std::fs::write(&archive, &bytes).map_err(|e| format!("cannot unpack: {e}"))?;
    drop(bytes);
    let mut issues = Vec::new();
    let unpacked = lunghub_intake::unpack::unpack(
        &archive,
        label,
        &scratch.join("out"),
        &ArchiveLimits::for_upload(),
        0,
        &mut issues,
    );
    let _ = std::fs::remove_file(&archive);
    out.refused = issues
        .into_iter()
        .map(|i| {
            (
                format!("{}!{}", i.archive, i.entry.unwrap_or_default()),
                i.reason,
            )
        })
        .collect();
    for u in unpacked {
        let files = lunghub_intake::sources::files_under(&u.root).map_err(|e| e.to_string())?;
        for path in files {
            let inner = path.strip_prefix(&u.root).unwrap_or(&path);
            out.entries
                .push((format!("{}{}", u.label, inner.display()), path.clone()));
        }
    }
    Ok(())
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("../../static/upload.js"),
    )
        .into_response()
}

#[cfg(test)]
mod script_text_tests {
    use super::*;

    /// The upload script gets every text it writes, in each language, with its slots.
    #[test]
    fn the_script_gets_its_texts_in_both_languages() {
        for lang in Lang::ALL {
            let texts: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&script_texts(lang)).unwrap_or_default();
            assert_eq!(texts.len(), OUTCOMES.len() + 9);
            for (key, text) in &texts {
                assert_ne!(
                    text.as_str(),
                    Some(key.as_str()),
                    "{key} has no {} text",
                    lang.code()
                );
            }
            let sent = texts["upload-progress-sent"].as_str().unwrap_or_default();
            assert!(
                sent.contains("{finished}") && sent.contains("{total}"),
                "{sent}"
            );
        }
    }

    /// The English texts of the causes are the deid crate's own, which the command line and
    /// the gateway print: one wording everywhere.
    #[test]
    fn the_english_causes_are_the_deid_crates() {
        for cause in Cause::ALL {
            assert_eq!(cause_plain(Lang::En, cause), cause.plain());
            assert_eq!(cause_next_step(Lang::En, cause), cause.next_step());
            assert_ne!(cause_plain(Lang::It, cause), cause.plain());
        }
    }
}
