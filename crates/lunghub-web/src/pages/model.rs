//! "Try the model": a signed-in clinician uploads one chest radiograph and sees the
//! reference model's probabilities, the operating point in words and the Grad-CAM heatmap,
//! under a disclaimer. `/api/predict` gives the same as JSON. The model card is public.
//!
//! The uploaded image is decoded in memory and forgotten: it never reaches intake, the
//! catalog or the disk, because someone trying the model has not consented to share it.

use std::io::Cursor;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use base64::Engine as _;
use lunghub_domain::access::Action;
use lunghub_learn::predictor::Prediction;
use maud::{Markup, PreEscaped, html};
use serde_json::json;

use super::with_status;
use crate::layout::page;
use crate::{Shared, Viewer, WebError};

/// One radiograph, DICOM included, fits well within this.
pub const MAX_IMAGE_BYTES: usize = 64 << 20;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/model", get(form))
        .route("/model/card", get(card))
        .merge(
            Router::new()
                .route("/model", axum::routing::post(score_form))
                .route("/api/predict", get(describe).post(score_api))
                .layer(DefaultBodyLimit::max(MAX_IMAGE_BYTES + 64 * 1024)),
        )
}

const DISCLAIMER: &str = "Research and decision support only. This model is not a diagnostic \
    device: it was trained on public collections from 2020, has not been validated on your \
    patients, and must never decide care. Read the whole study yourself.";

fn disclaimer() -> Markup {
    html! { p.warning role="note" { strong { "Not a diagnosis. " } (DISCLAIMER) } }
}

fn upload_form(viewer: &Viewer) -> Markup {
    html! {
        form.stacked method="post" enctype="multipart/form-data" action="/model" {
            (crate::layout::csrf(&viewer))
            label { "One chest radiograph (DICOM, PNG or JPEG, at most " (MAX_IMAGE_BYTES >> 20) " MiB)"
                input #image type="file" name="image" accept=".dcm,.dicom,.png,.jpg,.jpeg,application/dicom,image/png,image/jpeg" required;
            }
            button #score type="submit" { "Score it" }
        }
    }
}

async fn form(State(app): State<Shared>, viewer: Viewer) -> Result<Response, WebError> {
    viewer.require(Action::TryModel, "/model")?;
    let meta = app.model_description().await?;
    Ok(page(&viewer, "Try the model", html! {
        h1 { "Try the model" }
        (disclaimer())
        p {
            @if meta.task == "covid-vs-rest" {
                "The model tells " strong { "COVID-19" } " from everything else on a frontal chest radiograph. "
            } @else {
                "The model (" (meta.task) ") tells apart: " (meta.classes.join(", ")) ". "
            }
            (meta.operating_point) ". "
            a href="/model/card" { "Its model card" } " says what it saw, how well it did and where it fails." }
        p.hint { "Your image is scored in memory and not kept: it is not added to any dataset." }
        (upload_form(&viewer))
    })
    .into_response())
}

async fn card(State(app): State<Shared>, viewer: Viewer) -> Result<Response, WebError> {
    let Some(text) = app.model_card.as_deref() else {
        return Err(WebError::NotFound);
    };
    // A card beside a model given with --model is the operator's file: any HTML in it is
    // shown as text, never run, and only http(s) links are links.
    let rendered = lunghub_release::card::safe_html(text);
    // The card is a technical document written in English, like the papers it cites; the
    // page says so in the reader's language and marks it, for screen readers and translators.
    Ok(page(
        &viewer,
        &viewer.t("nav-model-card"),
        html! {
            @if viewer.lang != crate::i18n::Lang::En { p.notice { (viewer.t("model-card-in-english")) } }
            article.card lang="en" { (PreEscaped(rendered)) }
        },
    )
    .into_response())
}

/// The file of a multipart form's `image` field (or its only file).
async fn image_of(mut multipart: Multipart) -> Result<Vec<u8>, String> {
    while let Some(field) = multipart.next_field().await.map_err(|e| {
        format!(
            "The upload stopped: {}. An image may be at most {} MiB.",
            e.body_text(),
            MAX_IMAGE_BYTES >> 20
        )
    })? {
        if field.file_name().is_none() {
            continue;
        }
        let bytes = field.bytes().await.map_err(|e| e.body_text())?;
        if !bytes.is_empty() {
            return Ok(bytes.to_vec());
        }
    }
    Err("Choose an image to score.".into())
}

fn png_data_uri(image: &image::RgbImage) -> Option<String> {
    let mut png = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .ok()?;
    Some(format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    ))
}

async fn score_form(
    State(app): State<Shared>,
    viewer: Viewer,
    multipart: Multipart,
) -> Result<Response, WebError> {
    viewer.require(Action::TryModel, "/model")?;
    let meta = app.model_description().await?;
    let outcome = match image_of(multipart).await {
        Ok(bytes) => app.score(bytes, true).await,
        Err(why) => Err(why),
    };
    let prediction = match outcome {
        Ok(p) => p,
        Err(why) => {
            let body = html! {
                h1 { "Try the model" }
                (disclaimer())
                p.problem role="alert" { (why) }
                (upload_form(&viewer))
            };
            return Ok(with_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                page(&viewer, "Try the model", body),
            ));
        }
    };
    let heatmap = prediction.heatmap.as_ref().and_then(png_data_uri);
    let body = html! {
        h1 { "Try the model" }
        (disclaimer())
        p #decision.lead { "The model's call: " strong { (prediction.decision) } }
        p { (meta.operating_point) "." }
        table #probabilities {
            thead { tr { th { "Class" } th { "Probability" } } }
            tbody {
                @for (class, p) in &prediction.probabilities {
                    tr { td { (class) } td { (format!("{:.1}%", p * 100.0)) " " meter min="0" max="1" value=(p) {} } }
                }
            }
        }
        @if let Some(uri) = heatmap {
            figure {
                img #heatmap src=(uri) alt="The radiograph with the model's Grad-CAM heatmap in red";
                figcaption { "Red: the regions that raised the score of " (prediction.decision)
                    " most (Grad-CAM). A heatmap on markers, text or the image's edge means the model looked at the wrong thing." }
            }
        }
        h2 { "Another image" }
        (upload_form(&viewer))
    };
    Ok(page(&viewer, "Try the model", body).into_response())
}

fn prediction_json(p: &Prediction) -> serde_json::Value {
    let probabilities: serde_json::Map<String, serde_json::Value> = p
        .probabilities
        .iter()
        .map(|(c, v)| (c.clone(), json!(v)))
        .collect();
    json!({
        "probabilities": probabilities,
        "decision": p.decision,
        "threshold": p.threshold,
        "heatmap_png": p.heatmap.as_ref().and_then(png_data_uri),
        "disclaimer": DISCLAIMER,
    })
}

/// Refuses, as JSON, a viewer who may not score images.
fn api_refusal(viewer: &Viewer) -> Option<Response> {
    if viewer.account.is_none() {
        return Some(api_error(StatusCode::UNAUTHORIZED, "Sign in first."));
    }
    (!viewer.may(Action::TryModel)).then(|| {
        api_error(
            StatusCode::FORBIDDEN,
            "Only clinicians' accounts may score images.",
        )
    })
}

/// What the model is, and the CSRF token (in `X-CSRF-Token`) that a POST needs.
async fn describe(State(app): State<Shared>, viewer: Viewer) -> Result<Response, WebError> {
    if let Some(refused) = api_refusal(&viewer) {
        return Ok(refused);
    }
    let meta = app.model_description().await?;
    Ok(Json(json!({
        "task": meta.task,
        "classes": meta.classes,
        "threshold": meta.threshold,
        "operating_point": meta.operating_point,
        "model_card": "/model/card",
        "csrf": viewer.csrf,
        "disclaimer": DISCLAIMER,
    }))
    .into_response())
}

/// The image is the request body, whatever its content type: the bytes say what it is.
async fn score_api(
    State(app): State<Shared>,
    viewer: Viewer,
    body: Bytes,
) -> Result<Response, WebError> {
    if let Some(refused) = api_refusal(&viewer) {
        return Ok(refused);
    }
    if body.is_empty() {
        return Ok(api_error(
            StatusCode::BAD_REQUEST,
            "Send the image as the request body.",
        ));
    }
    match app.score(body.to_vec(), true).await {
        Ok(p) => Ok(Json(prediction_json(&p)).into_response()),
        Err(why) => Ok(api_error(StatusCode::UNPROCESSABLE_ENTITY, &why)),
    }
}

/// `/api/predict` in the OpenAPI document.
pub fn openapi_paths(paths: &mut serde_json::Map<String, serde_json::Value>) {
    let refusals = json!({
        "401": { "description": "Not signed in" },
        "403": { "description": "Not a clinician's account, or no valid X-CSRF-Token (POST)" },
    });
    let mut get = json!({
        "summary": "The diagnostic model: task, classes, threshold and operating point in words, and the CSRF token a POST needs (clinicians)",
        "security": [{ "session": [] }],
        "responses": { "200": { "description": "OK", "content": { "application/json": { "schema": { "type": "object" } } } } }
    });
    let mut post = json!({
        "summary": "Score one chest radiograph (DICOM, PNG or JPEG, the request body): probabilities, decision, threshold, Grad-CAM heatmap as a PNG data URI. Research and decision support only; the image is not kept (clinicians)",
        "security": [{ "session": [] }],
        "parameters": [{ "name": "X-CSRF-Token", "in": "header", "required": true, "schema": { "type": "string" } }],
        "requestBody": { "required": true, "content": { "application/octet-stream": {} } },
        "responses": {
            "200": { "description": "Scored", "content": { "application/json": { "schema": { "type": "object" } } } },
            "422": { "description": "Not a readable DICOM, PNG or JPEG image, or a clip" }
        }
    });
    for op in [&mut get, &mut post] {
        if let (Some(responses), Some(extra)) =
            (op["responses"].as_object_mut(), refusals.as_object())
        {
            responses.extend(extra.clone());
        }
    }
    paths.insert("/api/predict".into(), json!({ "get": get, "post": post }));
}

fn api_error(status: StatusCode, why: &str) -> Response {
    (status, Json(json!({ "error": why }))).into_response()
}

/// The model as pages describe it.
pub struct ModelDescription {
    pub task: String,
    pub classes: Vec<String>,
    pub threshold: f64,
    pub operating_point: String,
}

impl crate::App {
    pub async fn model_description(&self) -> Result<ModelDescription, WebError> {
        let predictor = self
            .predictor
            .lock()
            .map_err(|_| WebError::Internal("the model's lock is poisoned".into()))?;
        let meta = predictor.meta();
        Ok(ModelDescription {
            task: meta.task.name().into(),
            classes: meta.classes.clone(),
            threshold: meta.threshold,
            operating_point: predictor.operating_point(),
        })
    }

    /// Decodes one uploaded image and scores it, off the async threads. One image is scored
    /// at a time: the model takes both cores for a moment, and a queue is fairer than a
    /// pile-up. Errors are messages for the person who sent the file.
    pub async fn score(
        self: &std::sync::Arc<Self>,
        bytes: Vec<u8>,
        heatmap: bool,
    ) -> Result<Prediction, String> {
        let app = self.clone();
        tokio::task::spawn_blocking(move || {
            if lunghub_clips::sniff(&bytes).is_some() {
                return Err("This is a video clip. The model reads one chest radiograph: DICOM, PNG or JPEG.".to_owned());
            }
            let decoded = lunghub_imaging::decode(&bytes).map_err(|e| {
                format!("This file could not be read as a DICOM, PNG or JPEG image: {e}.")
            })?;
            let predictor = app
                .predictor
                .lock()
                .map_err(|_| "The model is unavailable; try again later.".to_owned())?;
            predictor.predict(&decoded.display, heatmap).map_err(|e| {
                eprintln!("error: the model failed on an upload: {e}");
                "The model could not score this image.".to_owned()
            })
        })
        .await
        .map_err(|_| "The model could not score this image.".to_owned())?
    }
}
