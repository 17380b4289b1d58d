//! Review: nothing is releasable until a reviewer approves it. The queue says why each item
//! waits; the viewer offers window/level for grayscale DICOM and frame scrubbing for
//! clips, all rendered on the server (no script needed); a reviewer approves, rejects with a
//! reason, relabels, or blanks burned-in text through the de-identifier's pixel cleaning.
//! Where a site asks for two reads, the second reader does not see the first read until
//! they have made their own.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lunghub_domain::access::Action;
use lunghub_domain::review::Decision;
use lunghub_domain::{Finding, ReviewState};
use lunghub_store::{QueueReason, StoreError};
use maud::{Markup, html};
use serde::Deserialize;

use super::{see_other, with_status};
use crate::form::{FormFields, Problems};
use crate::layout::{csrf, date, page, problems};
use crate::{Shared, Viewer, WebError};

const PAGE: i64 = 48;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/review", get(queue))
        .route("/review/items/{id}", get(viewer_page))
        .route("/review/items/{id}/image.png", get(image))
        .route("/review/items/{id}/read", post(read))
        .route("/review/items/{id}/label", post(relabel))
        .route("/review/items/{id}/blank", post(blank))
        .route("/review/blobs/{id}", get(blob_png))
        .route("/review/sites/{id}/double-read", post(double_read))
}

/// Whether a site asks for two independent reads: a setting agreed with the site, so it
/// needs `ManageInstitutes` as well as review rights (in practice the admin, on the queue
/// page); reviewers cannot lower the bar for themselves.
async fn double_read(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
    FormFields(f): FormFields,
) -> Result<Response, WebError> {
    viewer.require(Action::ManageInstitutes, "/review")?;
    app.catalog.set_double_read(&id, f.get("on") == "1").await?;
    Ok(see_other("/review"))
}

/// Reviewers review every site; `ReviewImages` with any site says whether this viewer
/// reviews at all. Items are checked against their own site as they are opened.
fn require_reviewer(viewer: &Viewer, here: &str) -> Result<(), WebError> {
    viewer
        .require(Action::ReviewImages { site: "*" }, here)
        .map(|_| ())
}

#[derive(Deserialize)]
struct QueueQuery {
    reason: Option<String>,
    page: Option<i64>,
}

async fn queue(
    State(app): State<Shared>,
    viewer: Viewer,
    Query(q): Query<QueueQuery>,
) -> Result<Response, WebError> {
    require_reviewer(&viewer, "/review")?;
    let reason = q.reason.as_deref().and_then(QueueReason::parse);
    let page_no = q.page.unwrap_or(0).max(0);
    let (items, counts, total) = app
        .catalog
        .review_queue(reason, PAGE, page_no * PAGE)
        .await?;
    let shown = counts
        .iter()
        .find(|(r, _)| Some(*r) == reason)
        .map(|(_, n)| *n)
        .unwrap_or(total);
    let link = |r: Option<QueueReason>, p: i64| {
        let mut s = String::from("/review?");
        if let Some(r) = r {
            s.push_str(&format!("reason={}&", r.key()));
        }
        s.push_str(&format!("page={p}"));
        s
    };
    let sites = if viewer.may(Action::ManageInstitutes) {
        app.catalog.sites().await?
    } else {
        Vec::new()
    };
    let body = html! {
        h1 { "Review queue" }
        p { (total) " items wait for a decision. Nothing is released until a reviewer approves it." }
        p.filters {
            a.chip.on[reason.is_none()] href="/review" { "All (" (total) ")" }
            @for (r, n) in &counts {
                " " a.chip.on[reason == Some(*r)] href=(link(Some(*r), 0)) { (r.label()) " (" (n) ")" }
            }
        }
        @if items.is_empty() {
            p.notice { "Nothing waits here." }
        } @else {
            div.queue-grid {
                @for it in &items {
                    figure {
                        a href=(format!("/review/items/{}", it.id)) {
                            @if let Some(t) = &it.thumbnail {
                                img src=(format!("/review/blobs/{t}")) alt=(format!("{} {}", it.modality, it.kind));
                            } @else { div.noimage { "no preview" } }
                        }
                        figcaption {
                            a href=(format!("/review/items/{}", it.id)) { code { (&it.id[..10]) } }
                            " " (it.site) " · " (it.modality) @if let Some(v) = &it.view { " " (v) }
                            @if it.frames.unwrap_or(1) > 1 { " · " (it.frames.unwrap_or(1)) " frames" }
                            br;
                            @for f in &it.findings { span.chip { (f) } }
                            @for r in &it.reasons { span.chip.reason { (r.label()) } }
                        }
                    }
                }
            }
            p {
                @if page_no > 0 { a href=(link(reason, page_no - 1)) { "← Earlier" } " " }
                @if (page_no + 1) * PAGE < shown { a href=(link(reason, page_no + 1)) { "More →" } }
            }
        }
        @if !sites.is_empty() {
            h2 { "Reads per site" }
            table {
                thead { tr { th { "Site" } th { "Reads before release" } th {} } }
                tbody {
                    @for s in &sites {
                        tr {
                            td { (s.name) }
                            td { @if s.double_read { "two independent reads" } @else { "one read" } }
                            td {
                                form.inline method="post" action=(format!("/review/sites/{}/double-read", s.id)) {
                                    (csrf(&viewer))
                                    input type="hidden" name="on" value=(if s.double_read { "0" } else { "1" });
                                    button type="submit" { @if s.double_read { "Ask for one read" } @else { "Ask for two reads" } }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&viewer, "Review queue", body).into_response())
}

#[derive(Deserialize, Default)]
struct ViewQuery {
    frame: Option<u32>,
    wc: Option<f64>,
    ww: Option<f64>,
}

fn field<'a>(d: &'a lunghub_store::ItemDetail, name: &str) -> Option<&'a str> {
    d.fields.get(name).and_then(|v| v.as_str())
}

fn number(d: &lunghub_store::ItemDetail, name: &str) -> Option<i64> {
    d.fields.get(name).and_then(|v| v.as_i64())
}

/// The item's full id (`id` may be a prefix) and the item, if the viewer may review its site.
async fn item_for(
    app: &Shared,
    viewer: &Viewer,
    id: &str,
) -> Result<(String, lunghub_store::ItemDetail), WebError> {
    let here = format!("/review/items/{id}");
    require_reviewer(viewer, &here)?;
    let item = app.catalog.item(id).await?.ok_or(WebError::NotFound)?;
    let full_id = field(&item, "id").unwrap_or_default().to_owned();
    let site = app.catalog.site_of_item(&full_id).await?;
    viewer.require(Action::ReviewImages { site: &site }, &here)?;
    Ok((full_id, item))
}

async fn viewer_page(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(q): Query<ViewQuery>,
) -> Result<Response, WebError> {
    show_item(&app, &viewer, &id, &q, StatusCode::OK, &[]).await
}

async fn show_item(
    app: &Shared,
    viewer: &Viewer,
    id: &str,
    q: &ViewQuery,
    status: StatusCode,
    problem_list: &[String],
) -> Result<Response, WebError> {
    let (id, item) = item_for(app, viewer, id).await?;
    let kind = field(&item, "kind").unwrap_or_default().to_owned();
    let state = field(&item, "review_state").unwrap_or_default().to_owned();
    let bits = number(&item, "bits").unwrap_or(8);
    let sampled = app.catalog.item_frames(&id).await?;
    let frames = if sampled.is_empty() {
        number(&item, "frames").unwrap_or(1).max(1)
    } else {
        sampled.len() as i64
    };
    let frame = i64::from(q.frame.unwrap_or(0)).clamp(0, frames - 1);
    let reads = app.catalog.reads(&id).await?;
    let (me, _) = reviewer(&viewer);
    let double_read = app
        .catalog
        .site(&app.catalog.site_of_item(&id).await?)
        .await?
        .is_some_and(|s| s.double_read);
    // Independent reads: others' reads stay hidden until this reviewer has read, unless
    // the reads already disagree (then a third reviewer needs to see both).
    let read_by_me = reads.iter().any(|r| r.reviewer == me);
    let reads_visible = !double_read || read_by_me || state == ReviewState::Disagreement.as_str();
    let mut image_query = format!("frame={frame}");
    if let (Some(c), Some(w)) = (q.wc, q.ww) {
        image_query.push_str(&format!("&wc={c}&ww={w}"));
    }
    let windows = if kind == "dicom" && sampled.is_empty() {
        item_windows(app, &id, frame as u32).await?
    } else {
        None
    };
    let modality = field(&item, "modality").unwrap_or_default().to_owned();
    let presets = windows.map(|w| presets(&w, &modality)).unwrap_or_default();
    // The boxes show the window in use: the one asked for, else what the image is drawn
    // with by default (the file's window, else its full range).
    let in_use =
        q.wc.zip(q.ww)
            .or_else(|| windows.and_then(|w| w.file.or(w.full)));
    let current_finding = item
        .labels
        .iter()
        .rev()
        .find(|l| l.source == "reviewer")
        .or_else(|| item.labels.first())
        .map(|l| l.finding.clone());
    let finding_select = |name: &str| -> Markup {
        html! {
            select name=(name) required {
                // An unlabelled item has no finding to offer: the reader picks one, rather
                // than approve the first of the list by leaving the box alone.
                @if current_finding.is_none() {
                    option value="" selected disabled { "Choose a finding…" }
                }
                @for f in Finding::known_paths() {
                    option value=(f) selected[current_finding.as_deref() == Some(f)] { (f) }
                }
            }
        }
    };
    let here = format!("/review/items/{id}");
    let body = html! {
        p { a href="/review" { "← Review queue" } }
        h1 { "Item " code { (&id[..12]) } }
        (problems(viewer.lang, problem_list))
        div.viewer {
            div {
                img #item-image src=(format!("/review/items/{id}/image.png?{image_query}")) alt="the de-identified image";
                @if frames > 1 {
                    form.inline method="get" action=(here) {
                        label { "Frame " (frame + 1) " of " (frames) " "
                            input type="range" name="frame" min="0" max=(frames - 1) value=(frame);
                        }
                        @if let (Some(c), Some(w)) = (q.wc, q.ww) {
                            input type="hidden" name="wc" value=(c);
                            input type="hidden" name="ww" value=(w);
                        }
                        button type="submit" { "Show" }
                    }
                    p {
                        @if frame > 0 { a href=(format!("{here}?frame={}", frame - 1)) { "← previous frame" } " " }
                        @if frame + 1 < frames { a href=(format!("{here}?frame={}", frame + 1)) { "next frame →" } }
                    }
                }
                @if !presets.is_empty() {
                    form.inline method="get" action=(here) {
                        input type="hidden" name="frame" value=(frame);
                        label { "Window centre " input #wc type="number" name="wc" step="any" value=[in_use.map(|w| number_text(w.0))]; }
                        label { " width " input #ww type="number" name="ww" step="any" min="1" value=[in_use.map(|w| number_text(w.1))]; }
                        button.secondary type="submit" { "Apply" }
                    }
                    p.hint { (bits) "-bit image. Presets: "
                        @for (i, p) in presets.iter().enumerate() {
                            @if i > 0 { " · " }
                            @let current = in_use.is_some_and(|w| same_window(w, p.window));
                            a #(format!("preset-{}", p.id)) href=(format!("{here}?frame={frame}&wc={}&ww={}", number_text(p.window.0), number_text(p.window.1)))
                                aria-current=[current.then_some("true")] title=(p.explains) { (p.label) }
                        }
                    }
                }
            }
            div {
                p { "State: " strong #state { (state) } @if double_read { " · this site asks for two independent reads" } }
                table {
                    tr { th { "Site" } td { (field(&item, "site").unwrap_or("")) } }
                    tr { th { "Kind" } td { (kind) " · " (field(&item, "modality").unwrap_or("")) " · " (field(&item, "view").unwrap_or("view unknown")) } }
                    tr { th { "Size" } td { (number(&item, "width").unwrap_or(0)) "×" (number(&item, "height").unwrap_or(0)) ", " (number(&item, "frames").unwrap_or(1)) " frames, " (bits) " bits" } }
                    tr { th { "Route" } td { (field(&item, "route").unwrap_or("")) } }
                    @if let Some(twin) = field(&item, "near_duplicate_of") {
                        tr { th { "Near-duplicate of" } td { a href=(format!("/review/items/{twin}")) { code { (&twin[..12.min(twin.len())]) } } } }
                    }
                }
                h2 { "Labels" }
                ul { @for l in &item.labels { li { (l.finding) " (" (l.source) ", " (l.set_by) ")" @if !l.known { " — not in the hierarchy" } } } }
                h2 { "Reads" }
                @if reads.is_empty() {
                    p { "No reads yet." }
                } @else if reads_visible {
                    ul.reads {
                        @for r in &reads {
                            li class=[(state == "disagreement").then_some("disagree")] {
                                (r.reviewer_name) ": " (r.decision)
                                @if let Some(f) = &r.finding { " as " (f) }
                                @if !r.reason.is_empty() { " — " (r.reason) }
                                " (" (date(r.at)) ")"
                            }
                        }
                    }
                } @else {
                    p { (reads.len()) " read recorded, hidden until you read this item yourself." }
                }
                @if state != ReviewState::Replaced.as_str() {
                    h2 { "Your read" }
                    form.stacked method="post" action=(format!("{here}/read")) {
                        (csrf(viewer))
                        input type="hidden" name="decision" value="approve";
                        label { "Finding " (finding_select("finding")) }
                        button #approve type="submit" { "Approve" }
                    }
                    form.stacked method="post" action=(format!("{here}/read")) {
                        (csrf(viewer))
                        input type="hidden" name="decision" value="reject";
                        label { "Reason " input type="text" name="reason" required maxlength="300" placeholder="burned-in name, wrong body part, unreadable…"; }
                        button #reject type="submit" { "Reject" }
                    }
                    form.stacked method="post" action=(format!("{here}/label")) {
                        (csrf(viewer))
                        label { "Relabel without deciding " (finding_select("finding")) }
                        button type="submit" { "Set finding" }
                    }
                    h2 { "Blank burned-in text" }
                    form.stacked method="post" action=(format!("{here}/blank")) {
                        (csrf(viewer))
                        p.hint { "A rectangle in image pixels (the image is " (number(&item, "width").unwrap_or(0)) "×" (number(&item, "height").unwrap_or(0)) "). "
                            "The blanked copy replaces this item; the original's bytes are deleted." }
                        label { "x " input type="number" name="x" min="0" required; }
                        label { "y " input type="number" name="y" min="0" required; }
                        label { "width " input type="number" name="w" min="1" required; }
                        label { "height " input type="number" name="h" min="1" required; }
                        button #blank type="submit" { "Blank and replace" }
                    }
                }
                h2 { "History" }
                ol { @for (at, kind, detail) in &item.history { li { (date(*at)) " " strong { (kind) } ": " (detail) } } }
            }
        }
    };
    Ok(with_status(status, page(viewer, "Review", body)))
}

/// One window a reviewer can pick with a click.
struct Preset {
    id: &'static str,
    label: &'static str,
    explains: &'static str,
    window: (f64, f64),
}

/// The presets that fit the image: a projection radiograph has no calibrated unit, so its
/// presets come from the file and the pixels; CT's Hounsfield windows are offered for CT
/// only (on a radiograph they render solid black or white).
fn presets(w: &lunghub_imaging::Windows, modality: &str) -> Vec<Preset> {
    let mut out = Vec::new();
    let mut add = |id, label, explains, window: Option<(f64, f64)>| {
        if let Some(window) = window {
            out.push(Preset {
                id,
                label,
                explains,
                window,
            });
        }
    };
    add(
        "file",
        "file's window",
        "the window the file suggests",
        w.file,
    );
    add(
        "full",
        "full range",
        "from the darkest to the brightest value",
        w.full,
    );
    if modality == "CT" {
        add(
            "ct-lung",
            "lung (CT)",
            "centre −600 HU, width 1500 HU",
            Some((-600.0, 1500.0)),
        );
        add(
            "ct-soft",
            "soft tissue (CT)",
            "centre 40 HU, width 400 HU",
            Some((40.0, 400.0)),
        );
        add(
            "ct-bone",
            "bone (CT)",
            "centre 480 HU, width 2500 HU",
            Some((480.0, 2500.0)),
        );
    } else {
        add(
            "lung",
            "lung detail",
            "from this image's histogram: the 10th to the 70th percentile, where the lung fields lie",
            w.lung,
        );
    }
    out
}

fn same_window(a: (f64, f64), b: (f64, f64)) -> bool {
    (a.0 - b.0).abs() < 0.05 && (a.1 - b.1).abs() < 0.05
}

/// A window value as the boxes and links show it: whole numbers without decimals.
fn number_text(v: f64) -> String {
    let rounded = (v * 10.0).round() / 10.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded:.1}")
    }
}

/// The windows of a stored DICOM item's frame, decoded off the async threads.
async fn item_windows(
    app: &Shared,
    id: &str,
    frame: u32,
) -> Result<Option<lunghub_imaging::Windows>, WebError> {
    let (app, id) = (app.clone(), id.to_owned());
    tokio::task::spawn_blocking(move || -> Result<_, WebError> {
        // A replaced item's bytes are deleted, and a file the viewer cannot decode still
        // shows its page: both without presets.
        let bytes = match app.blobs().get(&id) {
            Err(StoreError::MissingBlob(_)) => return Ok(None),
            other => other?,
        };
        Ok(lunghub_imaging::windows(&bytes, frame).ok().flatten())
    })
    .await
    .map_err(|e| WebError::Internal(e.to_string()))?
}

/// The signed-in reviewer's account id (what reads are keyed by) and name (what the
/// history shows).
fn reviewer(viewer: &Viewer) -> (String, String) {
    viewer
        .account
        .as_ref()
        .map(|a| (a.id.clone(), a.name.clone()))
        .unwrap_or_default()
}

/// The viewer again, with what was wrong with the reviewer's form.
async fn again(
    app: &Shared,
    viewer: &Viewer,
    id: &str,
    status: StatusCode,
    problem_list: &[String],
) -> Result<Response, WebError> {
    show_item(app, viewer, id, &ViewQuery::default(), status, problem_list).await
}

/// The item rendered as a PNG: a frame, with the window asked for.
async fn image(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(q): Query<ViewQuery>,
) -> Result<Response, WebError> {
    let (id, _) = item_for(&app, &viewer, &id).await?;
    let sampled = app.catalog.item_frames(&id).await?;
    let frame = q.frame.unwrap_or(0);
    let app2 = app.clone();
    let png = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, WebError> {
        if !sampled.is_empty() {
            let (_, blob) = sampled
                .get(frame as usize)
                .ok_or_else(|| WebError::BadRequest(format!("there is no frame {frame}")))?;
            return Ok(app2.blobs().get(blob)?);
        }
        let bytes = app2.blobs().get(&id)?;
        let window = q.wc.zip(q.ww);
        let shown = lunghub_imaging::display(&bytes, frame, window)
            .map_err(|e| WebError::BadRequest(format!("cannot show this image: {e}")))?;
        lunghub_imaging::encode_png(&shown.image)
            .map_err(|e| WebError::Internal(format!("cannot encode the image: {e}")))
    })
    .await
    .map_err(|e| WebError::Internal(e.to_string()))??;
    Ok(png_response(png))
}

fn png_response(png: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "private, max-age=300"),
        ],
        png,
    )
        .into_response()
}

/// Thumbnails and sampled frames (PNGs made at intake) for the queue.
async fn blob_png(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    require_reviewer(&viewer, "/review")?;
    if !app.catalog.is_preview_blob(&id).await? {
        return Err(WebError::NotFound);
    }
    let app2 = app.clone();
    let png = tokio::task::spawn_blocking(move || app2.blobs().get(&id))
        .await
        .map_err(|e| WebError::Internal(e.to_string()))??;
    Ok(png_response(png))
}

async fn read(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
    FormFields(f): FormFields,
) -> Result<Response, WebError> {
    let (id, _) = item_for(&app, &viewer, &id).await?;
    let (me, my_name) = reviewer(&viewer);
    let mut p = Problems::default();
    let decision = Decision::parse(f.get("decision"));
    let finding = f.get("finding").trim();
    let reason = f.get("reason").trim();
    match decision {
        None => p.add("Choose approve or reject."),
        Some(Decision::Approve) if !Finding::parse(finding).is_known() => {
            p.add("Choose a finding from the list to approve with.")
        }
        Some(Decision::Reject) if reason.is_empty() => p.add("Say why the item is rejected."),
        _ => {}
    }
    let Some(decision) = decision.filter(|_| p.is_empty()) else {
        return again(&app, &viewer, &id, StatusCode::BAD_REQUEST, &p.0).await;
    };
    let finding =
        (decision == Decision::Approve).then(|| Finding::parse(finding).as_str().to_owned());
    match app
        .catalog
        .record_read(&id, &me, &my_name, decision, finding.as_deref(), reason)
        .await
    {
        Ok(_) => Ok(see_other(&format!("/review/items/{id}"))),
        Err(StoreError::Conflict(why)) => {
            again(&app, &viewer, &id, StatusCode::CONFLICT, &[why]).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn relabel(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
    FormFields(f): FormFields,
) -> Result<Response, WebError> {
    let (id, _) = item_for(&app, &viewer, &id).await?;
    let finding = Finding::parse(f.get("finding"));
    if !finding.is_known() {
        return show_item(
            &app,
            &viewer,
            &id,
            &ViewQuery::default(),
            StatusCode::BAD_REQUEST,
            &["Choose a finding from the list.".into()],
        )
        .await;
    }
    let (_, my_name) = reviewer(&viewer);
    app.catalog.relabel(&id, finding.as_str(), &my_name).await?;
    Ok(see_other(&format!("/review/items/{id}")))
}

async fn blank(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
    FormFields(f): FormFields,
) -> Result<Response, WebError> {
    let (id, item) = item_for(&app, &viewer, &id).await?;
    let (width, height) = (
        number(&item, "width").unwrap_or(0),
        number(&item, "height").unwrap_or(0),
    );
    let mut p = Problems::default();
    let mut values = [0i64; 4];
    for (slot, key) in values.iter_mut().zip(["x", "y", "w", "h"]) {
        match f.get(key).trim().parse::<i64>() {
            Ok(v) if v >= 0 => *slot = v,
            _ => p.add(format!("{key} must be a whole number of pixels.")),
        }
    }
    let [x, y, w, h] = values;
    if p.is_empty() && (w < 1 || h < 1 || x + w > width || y + h > height) {
        p.add(format!(
            "The rectangle must lie inside the {width}×{height} image and not be empty."
        ));
    }
    if !p.is_empty() {
        return again(&app, &viewer, &id, StatusCode::BAD_REQUEST, &p.0).await;
    }
    let (_, my_name) = reviewer(&viewer);
    let rect = [x as u32, y as u32, w as u32, h as u32];
    match app.intake.blank(&id, &[rect], &my_name).await {
        Ok(new_id) => Ok(see_other(&format!("/review/items/{new_id}"))),
        Err(lunghub_intake::IntakeError::Blank(why)) => {
            again(&app, &viewer, &id, StatusCode::UNPROCESSABLE_ENTITY, &[why]).await
        }
        Err(e) => Err(WebError::Internal(format!("cannot blank: {e}"))),
    }
}
