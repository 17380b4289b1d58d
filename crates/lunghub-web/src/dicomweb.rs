//! DICOMweb STOW-RS (PS3.18 §10.5): a hospital's systems send instances with
//! `POST /dicomweb/studies` or `POST /dicomweb/studies/{StudyInstanceUID}`, a
//! `multipart/related; type="application/dicom"` body, and a site token
//! (`Authorization: Bearer …`, issued at `/admin/sites`). Every part goes through the one
//! intake pipeline (`IntakeService::receive`, route `stow-rs`), so it is de-identified
//! before anything is stored.
//!
//! The response is the Store Instances Response Module (PS3.18 Annex I) in DICOM JSON, or
//! DICOM XML when the Accept header prefers `application/dicom+xml`. Decisions:
//!
//! - **Status.** 200: every instance stored. 202: some stored, some failed. 409: none
//!   stored. 400: a body that is not well-formed multipart, or has no part. 401: no,
//!   unknown or revoked token (`WWW-Authenticate: Bearer`). 406: an Accept header that
//!   allows neither JSON nor XML. 413: the request, or one instance, is over its limit
//!   (`lunghub serve --stow-max-request-bytes`, `--stow-max-instance-bytes`); when that is
//!   found mid-stream the body still reports the instances handled before it. 415: not
//!   `multipart/related`, or its `type` is missing or is not `application/dicom` (the
//!   metadata-and-bulk-data forms are not supported).
//! - **UIDs.** A stored instance is referenced by the SOP Class and SOP Instance UIDs *as
//!   stored*, read back from the stored blob: de-identification replaces the instance UID,
//!   and the stored one is the only name the instance has here. A failed instance is
//!   referenced by the UIDs *as received* (nothing was stored), empty when the part has none.
//! - **Warning.** Every stored instance carries Warning Reason B000 (coercion of data
//!   elements): de-identification always replaces UIDs, names and dates. The Original
//!   Attributes Sequence the standard asks for is deliberately left out, in the response
//!   and the stored file: it would hold exactly the identity that de-identification removes.
//! - **Failure reasons.** C000 unreadable or not DICOM (a PNG, a JPEG, a part that is not
//!   `application/dicom`); C001 (lunghub's) quarantined by de-identification (identity may
//!   be burned into the pixels, a DICOMDIR, no SOP Class UID); C409 (as dcm4chee-arc uses
//!   it) the instance's Study Instance UID differs from the one in the path; A700 out of
//!   resources (the instance is over its size limit, or storing failed). Each failure's
//!   reason in words is in a `Warning: 299` header of the response.
//! - Parts are read one at a time, each bounded, and handed to intake as they arrive; a few
//!   are processed while the next is read (at most [`MAX_IN_FLIGHT`] instances and
//!   [`IN_FLIGHT_BYTES`] held), so a large study never sits in memory whole.
//! - These routes sit outside the session and CSRF middleware: they read no cookie and set
//!   none, and authenticate only by the Authorization header, which a browser never sends on
//!   its own to another site, so there is no ambient credential for CSRF to protect.

use std::collections::VecDeque;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use lunghub_deid::scan::{InstanceUids, instance_uids};
use lunghub_domain::AccountRole;
use lunghub_domain::access::{Action, Actor, may};
use lunghub_intake::{Arrival, FileOutcome, Metadata, Origin};
use serde_json::{Map, Value, json};

use crate::{Shared, auth};

/// The route recorded on every item that arrives here.
pub const ROUTE: &str = "stow-rs";

/// How much one STOW-RS request may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StowLimits {
    /// Largest instance (one part), in bytes.
    pub max_instance_bytes: u64,
    /// Largest request body, multipart framing included, in bytes.
    pub max_request_bytes: u64,
}

impl Default for StowLimits {
    fn default() -> Self {
        StowLimits {
            max_instance_bytes: 1 << 30,
            max_request_bytes: 4 << 30,
        }
    }
}

/// Instances handed to intake and not yet answered, at most.
pub const MAX_IN_FLIGHT: usize = 4;
/// Bytes of received instances held while intake works on them, beyond the part being read.
pub const IN_FLIGHT_BYTES: u64 = 256 << 20;
/// Parts in one request, at most.
pub const MAX_PARTS: usize = 50_000;

/// Failure Reason (0008,1197) and Warning Reason (0008,1196) values.
pub mod reason {
    /// Refused: out of resources (over the size limit, or storing failed).
    pub const OUT_OF_RESOURCES: u16 = 0xA700;
    /// Error: cannot understand (unreadable, or not DICOM).
    pub const CANNOT_UNDERSTAND: u16 = 0xC000;
    /// lunghub's: quarantined by de-identification.
    pub const QUARANTINED: u16 = 0xC001;
    /// The instance's Study Instance UID is not the one in the request's path.
    pub const STUDY_MISMATCH: u16 = 0xC409;
    /// Warning: coercion of data elements (de-identification).
    pub const COERCION: u16 = 0xB000;
}

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/dicomweb/studies", post(store))
        .route("/dicomweb/studies/{study}", post(store_in_study))
}

async fn store(State(app): State<Shared>, request: Request) -> Response {
    stow(app, None, request).await
}

async fn store_in_study(
    State(app): State<Shared>,
    Path(study): Path<String>,
    request: Request,
) -> Response {
    if study.is_empty()
        || study.len() > 64
        || !study.bytes().all(|b| b.is_ascii_digit() || b == b'.')
    {
        return plain(
            StatusCode::BAD_REQUEST,
            "The path names no valid Study Instance UID (digits and dots, at most 64).",
        );
    }
    stow(app, Some(study), request).await
}

/// The STOW-RS paths, for the OpenAPI document.
pub fn openapi_paths(paths: &mut Map<String, Value>) {
    for path in ["/dicomweb/studies", "/dicomweb/studies/{StudyInstanceUID}"] {
        let mut op = json!({
            "summary": "DICOMweb STOW-RS (PS3.18 10.5): store DICOM instances for the token's site; each is de-identified before it is stored",
            "security": [{ "siteToken": [] }],
            "requestBody": {
                "required": true,
                "content": { "multipart/related; type=\"application/dicom\"": { "schema": { "type": "string", "format": "binary" } } }
            },
            "responses": {
                "200": { "description": "Every instance stored (Store Instances Response Module)", "content": {
                    "application/dicom+json": { "schema": { "type": "object" } },
                    "application/dicom+xml": { "schema": { "type": "string" } }
                } },
                "202": { "description": "Some instances stored, some failed (FailedSOPSequence)" },
                "400": { "description": "Malformed multipart body, or no part" },
                "401": { "description": "No, unknown or revoked site token" },
                "406": { "description": "The Accept header allows neither DICOM JSON nor DICOM XML" },
                "409": { "description": "No instance stored (FailedSOPSequence)" },
                "413": { "description": "The request or one instance is over its size limit" },
                "415": { "description": "Not multipart/related with type=\"application/dicom\"" }
            }
        });
        if path.contains('{') {
            op["parameters"] = json!([{ "name": "StudyInstanceUID", "in": "path", "required": true, "schema": { "type": "string" } }]);
        }
        paths.insert(path.to_owned(), json!({ "post": op }));
    }
}

fn plain(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{message}\n"),
    )
        .into_response()
}

/// The site whose live token the request carries, or the 401 (or 403) to answer.
async fn authenticate(app: &Shared, headers: &HeaderMap) -> Result<String, Response> {
    let token = auth::bearer_token(headers);
    let unauthorized = |challenge: &'static str, message: &str| {
        let mut r = plain(StatusCode::UNAUTHORIZED, message);
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
        r
    };
    let Some(token) = token else {
        return Err(unauthorized(
            r#"Bearer realm="lunghub DICOMweb""#,
            "Send the site's token: Authorization: Bearer TOKEN (coordinators issue tokens at /admin/sites).",
        ));
    };
    let site = match app.platform.use_site_token(&auth::token_hash(token)).await {
        Ok(Some(site)) => site,
        Ok(None) => {
            return Err(unauthorized(
                r#"Bearer realm="lunghub DICOMweb", error="invalid_token""#,
                "This token is unknown or revoked.",
            ));
        }
        Err(e) => {
            eprintln!("error: cannot check a site token: {e}");
            return Err(plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The server could not check the token. It has been logged.",
            ));
        }
    };
    // A site token acts as an uploader bound to its site.
    let actor = Actor {
        role: AccountRole::Uploader,
        site: Some(site.clone()),
        medical: false,
    };
    if !may(Some(&actor), Action::UploadImages { site: &site }) {
        return Err(plain(
            StatusCode::FORBIDDEN,
            "This token may not send images.",
        ));
    }
    Ok(site)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Xml,
}

/// The response format the Accept header prefers: DICOM JSON unless XML is preferred.
/// None when it accepts neither.
fn negotiate(headers: &HeaderMap) -> Option<Format> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(Format::Json);
    };
    let (mut json, mut xml, mut any) = (None::<f32>, None::<f32>, None::<f32>);
    for range in accept.split(',') {
        let mut params = range.split(';');
        let media = params
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let q = params
            .find_map(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
            })
            .unwrap_or(1.0);
        let slot = match media.as_str() {
            "application/dicom+json" | "application/json" => &mut json,
            "application/dicom+xml" | "application/xml" => &mut xml,
            "*/*" | "application/*" => &mut any,
            _ => continue,
        };
        *slot = Some(slot.map_or(q, |old| old.max(q)));
    }
    let json = json.or(any).unwrap_or(0.0);
    let xml = xml.or(any).unwrap_or(0.0);
    if json <= 0.0 && xml <= 0.0 {
        None
    } else if xml > json {
        Some(Format::Xml)
    } else {
        Some(Format::Json)
    }
}

/// Splits a header value into `;`-separated pieces, leaving quoted strings whole.
fn split_params(value: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted, mut escaped) = (Vec::new(), String::new(), false, false);
    for c in value.chars() {
        match c {
            _ if escaped => {
                cur.push(c);
                escaped = false;
            }
            '\\' if quoted => {
                cur.push(c);
                escaped = true;
            }
            '"' => {
                cur.push(c);
                quoted = !quoted;
            }
            ';' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                out.push(if c == '\\' {
                    chars.next().unwrap_or(c)
                } else {
                    c
                });
            }
            out
        }
        None => v.to_owned(),
    }
}

/// The multipart boundary of a `multipart/related; type="application/dicom"` request, or
/// the 415 (or 400) to answer. (multer's own parser accepts only multipart/form-data.)
fn multipart_boundary(headers: &HeaderMap) -> Result<String, (StatusCode, String)> {
    const EXPECTED: &str =
        r#"Send Content-Type: multipart/related; type="application/dicom"; boundary=…"#;
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return Err((StatusCode::UNSUPPORTED_MEDIA_TYPE, EXPECTED.to_owned()));
    };
    let pieces = split_params(value);
    let essence = pieces[0].trim().to_ascii_lowercase();
    if essence != "multipart/related" {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("{essence:?} is not supported. {EXPECTED}"),
        ));
    }
    let mut kind = None;
    let mut boundary = None;
    for p in &pieces[1..] {
        let Some((name, v)) = p.split_once('=') else {
            continue;
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "type" => kind = Some(unquote(v).trim().to_ascii_lowercase()),
            "boundary" => boundary = Some(unquote(v)),
            _ => {}
        }
    }
    match kind.as_deref() {
        Some("application/dicom") => {}
        Some(other) => {
            return Err((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "Parts of type {other:?} are not supported: only application/dicom (whole DICOM files). {EXPECTED}"
                ),
            ));
        }
        None => {
            return Err((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("The type parameter is missing. {EXPECTED}"),
            ));
        }
    }
    match boundary {
        Some(b) if (1..=70).contains(&b.len()) => Ok(b),
        _ => Err((
            StatusCode::BAD_REQUEST,
            "The Content-Type has no valid boundary parameter (1 to 70 characters).".to_owned(),
        )),
    }
}

/// What became of one part.
#[derive(Debug)]
enum Part {
    Stored {
        uids: InstanceUids,
    },
    Failed {
        uids: InstanceUids,
        reason: u16,
        why: String,
    },
}

impl Part {
    fn failed(uids: InstanceUids, reason: u16, why: impl Into<String>) -> Part {
        Part::Failed {
            uids,
            reason,
            why: why.into(),
        }
    }
}

/// Why reading the request stopped before its end.
enum Stop {
    TooLarge(String),
    Malformed(String),
}

async fn stow(app: Shared, study: Option<String>, request: Request) -> Response {
    let site = match authenticate(&app, request.headers()).await {
        Ok(site) => site,
        Err(response) => return response,
    };
    match app.catalog.admission(&site).await {
        Ok(lunghub_store::Admission::Open) => {}
        Ok(lunghub_store::Admission::Closed(why)) => {
            return plain(StatusCode::FORBIDDEN, &format!("Not yet: {why}."));
        }
        Err(e) => {
            eprintln!("error: STOW-RS: cannot check the site's stage: {e}");
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "lunghub cannot check the site's onboarding stage now; try again later.",
            );
        }
    }
    let Some(format) = negotiate(request.headers()) else {
        return plain(
            StatusCode::NOT_ACCEPTABLE,
            "The response is application/dicom+json or application/dicom+xml; the Accept header allows neither.",
        );
    };
    let boundary = match multipart_boundary(request.headers()) {
        Ok(b) => b,
        Err((status, why)) => return plain(status, &why),
    };
    let limits = app.config.stow;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_request_bytes) {
        return plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "The request is larger than the {}-byte limit; send fewer instances per request.",
                limits.max_request_bytes
            ),
        );
    }
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(limits.max_request_bytes)
            .per_field(limits.max_instance_bytes),
    );
    let stream = request.into_body().into_data_stream();
    let mut multipart = multer::Multipart::with_constraints(stream, boundary, constraints);

    let mut parts: Vec<(usize, Part)> = Vec::new();
    let mut running: VecDeque<(usize, tokio::task::JoinHandle<Part>, u64)> = VecDeque::new();
    let mut held = 0u64;
    let mut stop = None;
    let mut index = 0;
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                stop = Some(stopped(e, index + 1, &limits));
                break;
            }
        };
        index += 1;
        if index > MAX_PARTS {
            stop = Some(Stop::TooLarge(format!(
                "more than {MAX_PARTS} instances in one request"
            )));
            break;
        }
        let part_type = field
            .content_type()
            .map(|m| m.essence_str().to_ascii_lowercase());
        let mut bytes = Vec::new();
        let mut read_error = None;
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => {
                    read_error = Some(e);
                    break;
                }
            }
        }
        drop(field);
        if let Some(e) = read_error {
            stop = Some(stopped(e, index, &limits));
            break;
        }
        if let Some(t) = part_type.filter(|t| t != "application/dicom") {
            parts.push((
                index,
                Part::failed(
                    InstanceUids::default(),
                    reason::CANNOT_UNDERSTAND,
                    format!("part {index} is {t}, not application/dicom"),
                ),
            ));
            continue;
        }
        let size = bytes.len() as u64;
        let task = tokio::spawn(store_part(
            app.clone(),
            site.clone(),
            study.clone(),
            index,
            bytes,
        ));
        running.push_back((index, task, size));
        held += size;
        while running.len() > MAX_IN_FLIGHT || (held > IN_FLIGHT_BYTES && !running.is_empty()) {
            if let Some((i, task, size)) = running.pop_front() {
                held -= size;
                parts.push((i, finished(i, task).await));
            }
        }
    }
    while let Some((i, task, _)) = running.pop_front() {
        parts.push((i, finished(i, task).await));
    }
    parts.sort_by_key(|(i, _)| *i);
    respond(format, parts, stop, index)
}

fn stopped(e: multer::Error, index: usize, limits: &StowLimits) -> Stop {
    match e {
        multer::Error::FieldSizeExceeded { .. } => Stop::TooLarge(format!(
            "part {index} is larger than the {}-byte limit for one instance",
            limits.max_instance_bytes
        )),
        multer::Error::StreamSizeExceeded { .. } => Stop::TooLarge(format!(
            "the request is larger than the {}-byte limit",
            limits.max_request_bytes
        )),
        other => Stop::Malformed(format!(
            "the multipart body is malformed at part {index}: {other}"
        )),
    }
}

async fn finished(index: usize, task: tokio::task::JoinHandle<Part>) -> Part {
    task.await.unwrap_or_else(|e| {
        eprintln!("error: STOW-RS part {index} failed: {e}");
        Part::failed(
            InstanceUids::default(),
            reason::OUT_OF_RESOURCES,
            format!("part {index} could not be processed"),
        )
    })
}

/// Reads the part's UIDs, checks its study, and hands it to intake.
async fn store_part(
    app: Shared,
    site: String,
    study: Option<String>,
    index: usize,
    bytes: Vec<u8>,
) -> Part {
    let limits = *app.intake.intake().deid.limits();
    let read = tokio::task::spawn_blocking(move || {
        let uids = instance_uids(&bytes, &limits);
        (bytes, uids)
    })
    .await;
    let (bytes, uids) = match read {
        Ok((bytes, Ok(Some(uids)))) => (bytes, uids),
        Ok((_, Ok(None))) => {
            return Part::failed(
                InstanceUids::default(),
                reason::CANNOT_UNDERSTAND,
                format!("part {index} is a PNG or JPEG image, not DICOM"),
            );
        }
        Ok((_, Err(e))) => {
            return Part::failed(
                InstanceUids::default(),
                reason::CANNOT_UNDERSTAND,
                format!("part {index} is unreadable: {e}"),
            );
        }
        Err(e) => {
            return Part::failed(
                InstanceUids::default(),
                reason::OUT_OF_RESOURCES,
                format!("part {index} could not be read: {e}"),
            );
        }
    };
    if let Some(expected) = study.filter(|s| *s != uids.study) {
        let why = format!(
            "part {index} belongs to study {:?}, not {expected}",
            uids.study
        );
        return Part::failed(uids, reason::STUDY_MISMATCH, why);
    }
    let arrival = Arrival {
        origin: Origin {
            site_id: site.clone(),
            route: ROUTE.into(),
        },
        label: if uids.sop_instance.is_empty() {
            format!("part {index}")
        } else {
            uids.sop_instance.clone()
        },
        bytes,
        metadata: Metadata::default(),
    };
    match app.intake.receive(arrival).await {
        Ok(
            FileOutcome::New { item }
            | FileOutcome::Duplicate { item }
            | FileOutcome::NearDuplicate { item, .. },
        ) => Part::Stored {
            uids: stored_uids(&app, item).await.unwrap_or(uids),
        },
        Ok(FileOutcome::Quarantined(why)) => {
            alert_gateway_site(&app, &site, &why.detail).await;
            Part::failed(
                uids,
                reason::QUARANTINED,
                format!("part {index} is quarantined: {why}"),
            )
        }
        Ok(FileOutcome::Unreadable(why)) => Part::failed(
            uids,
            reason::CANNOT_UNDERSTAND,
            format!("part {index} is unreadable: {why}"),
        ),
        Err(e) => {
            eprintln!("error: STOW-RS part {index} could not be stored: {e}");
            Part::failed(
                uids,
                reason::OUT_OF_RESOURCES,
                format!("part {index} could not be stored; the server logged why"),
            )
        }
    }
}

/// A site with a registered gateway should never send what the server quarantines: the
/// gateway let identity through (or its profile is not the server's). Its uploaders and the
/// coordinators hear of it by mail, with the reason (attribute names, never values); the
/// gateway shows the same refusal on its status page and keeps the instance in `rejected/`.
async fn alert_gateway_site(app: &Shared, site: &str, why: &str) {
    let site = match app.catalog.site(site).await {
        Ok(Some(s)) if s.gateway_fingerprint.is_some() => s,
        Ok(_) => return,
        Err(e) => {
            eprintln!("error: STOW-RS: cannot read site {site}: {e}");
            return;
        }
    };
    let accounts = match app.platform.accounts().await {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: STOW-RS: cannot list whom to alert: {e}");
            return;
        }
    };
    let fingerprint = site.gateway_fingerprint.as_deref().unwrap_or_default();
    let subject = format!("lunghub refused an image from {}'s gateway", site.name);
    let body = format!(
        "lunghub's server refused an image that {}'s gateway (key {fingerprint}) sent as \
         de-identified, and stored nothing of it:\n\n  {why}\n\nThe gateway keeps the image in \
         its rejected/ folder and shows the refusal on its status page. Please check that the \
         gateway runs lunghub's de-identification profile, or tell us what it changed.\n\n\
         Sites: {}\n",
        site.name,
        app.link("/admin/sites")
    );
    for a in accounts.iter().filter(|a| {
        (a.role == "uploader" && a.site_id.as_deref() == Some(site.id.as_str()))
            || a.role == "coordinator"
    }) {
        if let Err(e) = app.send_asked_for(&a.email, &subject, &body).await {
            eprintln!("error: STOW-RS: cannot alert {}: {e}", a.email);
        }
    }
}

/// The UIDs of an item as stored (de-identified), read back from its blob.
async fn stored_uids(app: &Shared, item: String) -> Option<InstanceUids> {
    let app = app.clone();
    tokio::task::spawn_blocking(move || {
        let limits = *app.intake.intake().deid.limits();
        let bytes = app
            .blobs()
            .get(&item)
            .map_err(|e| eprintln!("error: cannot read back stored item {item}: {e}"))
            .ok()?;
        instance_uids(&bytes, &limits).ok().flatten()
    })
    .await
    .ok()
    .flatten()
}

fn respond(format: Format, parts: Vec<(usize, Part)>, stop: Option<Stop>, seen: usize) -> Response {
    let stored = parts
        .iter()
        .filter(|(_, p)| matches!(p, Part::Stored { .. }))
        .count();
    let mut parts: Vec<Part> = parts.into_iter().map(|(_, p)| p).collect();
    let status = match &stop {
        Some(Stop::TooLarge(why)) => {
            parts.push(Part::failed(
                InstanceUids::default(),
                reason::OUT_OF_RESOURCES,
                why.clone(),
            ));
            StatusCode::PAYLOAD_TOO_LARGE
        }
        Some(Stop::Malformed(why)) if parts.is_empty() => {
            return plain(
                StatusCode::BAD_REQUEST,
                &format!("Nothing was stored: {why}."),
            );
        }
        Some(Stop::Malformed(why)) => {
            parts.push(Part::failed(
                InstanceUids::default(),
                reason::CANNOT_UNDERSTAND,
                why.clone(),
            ));
            if stored > 0 {
                StatusCode::ACCEPTED
            } else {
                StatusCode::BAD_REQUEST
            }
        }
        None if seen == 0 => {
            return plain(
                StatusCode::BAD_REQUEST,
                "The request has no part: nothing was stored.",
            );
        }
        None if stored == parts.len() => StatusCode::OK,
        None if stored == 0 => StatusCode::CONFLICT,
        None => StatusCode::ACCEPTED,
    };
    let module = response_module(&parts);
    let (content_type, body) = match format {
        Format::Json => ("application/dicom+json", to_json(&module).to_string()),
        Format::Xml => ("application/dicom+xml", to_xml(&module)),
    };
    let mut response = (status, [(header::CONTENT_TYPE, content_type)], body).into_response();
    for why in parts
        .iter()
        .filter_map(|p| match p {
            Part::Failed { why, .. } => Some(why),
            Part::Stored { .. } => None,
        })
        .take(50)
    {
        let text: String = why
            .chars()
            .map(|c| if c == '"' || c == '\\' { '\'' } else { c })
            .filter(|c| c.is_ascii() && !c.is_ascii_control())
            .take(300)
            .collect();
        if let Ok(v) = HeaderValue::from_str(&format!("299 lunghub \"{text}\"")) {
            response.headers_mut().append(header::WARNING, v);
        }
    }
    response
}

/// One attribute of the response, enough of DICOM's model for this module.
enum Element {
    Uid(u32, &'static str, String),
    Us(u32, &'static str, u16),
    /// A Type 2 URL, sent empty: lunghub has no retrieve (WADO-RS) route yet.
    EmptyUrl(u32, &'static str),
    Sequence(u32, &'static str, Vec<Vec<Element>>),
}

const RETRIEVE_URL: (u32, &str) = (0x0008_1190, "RetrieveURL");

fn reference(uids: &InstanceUids) -> Vec<Element> {
    vec![
        Element::Uid(0x0008_1150, "ReferencedSOPClassUID", uids.sop_class.clone()),
        Element::Uid(
            0x0008_1155,
            "ReferencedSOPInstanceUID",
            uids.sop_instance.clone(),
        ),
    ]
}

/// The Store Instances Response Module (PS3.18 Table I.1-1), attributes in tag order.
fn response_module(parts: &[Part]) -> Vec<Element> {
    let mut failed = Vec::new();
    let mut referenced = Vec::new();
    for p in parts {
        match p {
            Part::Failed { uids, reason, .. } => {
                let mut item = reference(uids);
                item.push(Element::Us(0x0008_1197, "FailureReason", *reason));
                failed.push(item);
            }
            Part::Stored { uids } => {
                let mut item = reference(uids);
                item.push(Element::EmptyUrl(RETRIEVE_URL.0, RETRIEVE_URL.1));
                item.push(Element::Us(0x0008_1196, "WarningReason", reason::COERCION));
                referenced.push(item);
            }
        }
    }
    let mut module = vec![Element::EmptyUrl(RETRIEVE_URL.0, RETRIEVE_URL.1)];
    if !failed.is_empty() {
        module.push(Element::Sequence(0x0008_1198, "FailedSOPSequence", failed));
    }
    if !referenced.is_empty() {
        module.push(Element::Sequence(
            0x0008_1199,
            "ReferencedSOPSequence",
            referenced,
        ));
    }
    module
}

/// DICOM JSON (PS3.18 Annex F).
fn to_json(elements: &[Element]) -> Value {
    let mut map = Map::new();
    for e in elements {
        let (tag, value) = match e {
            Element::Uid(tag, _, v) if v.is_empty() => (tag, json!({ "vr": "UI" })),
            Element::Uid(tag, _, v) => (tag, json!({ "vr": "UI", "Value": [v] })),
            Element::Us(tag, _, v) => (tag, json!({ "vr": "US", "Value": [v] })),
            Element::EmptyUrl(tag, _) => (tag, json!({ "vr": "UR" })),
            Element::Sequence(tag, _, items) => (
                tag,
                json!({ "vr": "SQ", "Value": items.iter().map(|i| to_json(i)).collect::<Vec<_>>() }),
            ),
        };
        map.insert(format!("{tag:08X}"), value);
    }
    Value::Object(map)
}

/// DICOM XML, the Native DICOM Model (PS3.19 Annex A).
fn to_xml(elements: &[Element]) -> String {
    fn write(out: &mut String, elements: &[Element]) {
        for e in elements {
            match e {
                Element::Uid(tag, keyword, v) => {
                    out.push_str(&format!(r#"<DicomAttribute tag="{tag:08X}" vr="UI" keyword="{keyword}">"#));
                    if !v.is_empty() {
                        out.push_str(&format!(r#"<Value number="1">{}</Value>"#, escape(v)));
                    }
                    out.push_str("</DicomAttribute>");
                }
                Element::Us(tag, keyword, v) => out.push_str(&format!(
                    r#"<DicomAttribute tag="{tag:08X}" vr="US" keyword="{keyword}"><Value number="1">{v}</Value></DicomAttribute>"#
                )),
                Element::EmptyUrl(tag, keyword) => out.push_str(&format!(
                    r#"<DicomAttribute tag="{tag:08X}" vr="UR" keyword="{keyword}"/>"#
                )),
                Element::Sequence(tag, keyword, items) => {
                    out.push_str(&format!(r#"<DicomAttribute tag="{tag:08X}" vr="SQ" keyword="{keyword}">"#));
                    for (n, item) in items.iter().enumerate() {
                        out.push_str(&format!(r#"<Item number="{}">"#, n + 1));
                        write(out, item);
                        out.push_str("</Item>");
                    }
                    out.push_str("</DicomAttribute>");
                }
            }
        }
    }
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<NativeDicomModel xmlns=\"http://dicom.nema.org/PS3.19/models/NativeDICOM\">",
    );
    write(&mut out, elements);
    out.push_str("</NativeDicomModel>\n");
    out
}

fn escape(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&apos;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    #[test]
    fn the_boundary_is_found_with_the_type_quoted_or_not() {
        for ct in [
            r#"multipart/related; type="application/dicom"; boundary="a b;c""#,
            "Multipart/Related; boundary=\"a b;c\"; type=application/dicom",
        ] {
            let h = headers(&[(header::CONTENT_TYPE, ct)]);
            assert_eq!(
                multipart_boundary(&h).ok().as_deref(),
                Some("a b;c"),
                "{ct}"
            );
        }
        for (ct, status) in [
            ("multipart/related; boundary=x", 415),
            (
                "multipart/related; type=\"application/dicom+json\"; boundary=x",
                415,
            ),
            ("multipart/form-data; boundary=x", 415),
            ("application/dicom", 415),
            ("multipart/related; type=application/dicom", 400),
        ] {
            let h = headers(&[(header::CONTENT_TYPE, ct)]);
            let (s, _) = multipart_boundary(&h).expect_err(ct);
            assert_eq!(s.as_u16(), status, "{ct}");
        }
    }

    #[test]
    fn accept_chooses_json_unless_xml_is_preferred() {
        let n = |a: &str| negotiate(&headers(&[(header::ACCEPT, a)]));
        assert_eq!(negotiate(&HeaderMap::new()), Some(Format::Json));
        assert_eq!(n("*/*"), Some(Format::Json));
        assert_eq!(n("application/dicom+xml"), Some(Format::Xml));
        assert_eq!(
            n("application/dicom+json, application/dicom+xml;q=0.5"),
            Some(Format::Json)
        );
        assert_eq!(
            n("application/dicom+json;q=0.2, application/dicom+xml"),
            Some(Format::Xml)
        );
        assert_eq!(n("text/html"), None);
    }

    #[test]
    fn the_module_is_valid_json_and_xml() {
        let parts = vec![
            Part::Stored {
                uids: InstanceUids {
                    sop_class: "1.2".into(),
                    sop_instance: "2.25.1".into(),
                    study: "3".into(),
                },
            },
            Part::failed(
                InstanceUids {
                    sop_class: "1.2".into(),
                    sop_instance: "<&>".into(),
                    study: String::new(),
                },
                reason::STUDY_MISMATCH,
                "x",
            ),
        ];
        let module = response_module(&parts);
        let j = to_json(&module);
        assert_eq!(j["00081199"]["Value"][0]["00081155"]["Value"][0], "2.25.1");
        assert_eq!(j["00081199"]["Value"][0]["00081196"]["Value"][0], 0xB000);
        assert_eq!(j["00081198"]["Value"][0]["00081197"]["Value"][0], 0xC409);
        assert_eq!(j["00081190"], json!({ "vr": "UR" }));
        let x = to_xml(&module);
        assert!(x.contains("&lt;&amp;&gt;") && !x.contains("<&>"), "{x}");
        assert!(x.find("00081198") < x.find("00081199"));
    }
}
