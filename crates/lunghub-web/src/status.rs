//! The public hospital onboarding status: the live table the group used to keep by hand,
//! as HTML (filterable), JSON, CSV and Markdown, all in one column layout:
//! Institute | Location | Requested data | Status | Last update.

use std::sync::RwLock;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use lunghub_domain::{RequestedData, Stage};
use lunghub_store::platform::Institute;
use maud::html;
use serde::Deserialize;

use crate::i18n::{Lang, n};
use crate::layout::{self, page};
use crate::{Shared, Viewer, WebError, now_ns};

pub const COLUMNS: [&str; 5] = [
    "Institute",
    "Location",
    "Requested data",
    "Status",
    "Last update",
];

/// How long an anonymous rendering of the whole table is reused. Every change made
/// through this server clears it at once; the time limit covers changes made by other
/// servers on the same PostgreSQL, and the day count ticking over.
const CACHE_FOR: Duration = Duration::from_secs(5);

#[derive(Default)]
pub struct Cache {
    entries: RwLock<Vec<(Format, Instant, Bytes)>>,
    rendering: tokio::sync::Mutex<()>,
}

impl Cache {
    fn get(&self, format: Format) -> Option<Bytes> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries
            .iter()
            .find(|(f, at, _)| *f == format && at.elapsed() < CACHE_FOR)
            .map(|(_, _, b)| b.clone())
    }

    fn put(&self, format: Format, bytes: Bytes) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        entries.retain(|(f, _, _)| *f != format);
        entries.push((format, Instant::now(), bytes));
    }

    /// Forgets every rendering: call after any change to an institute.
    pub fn clear(&self) {
        self.entries
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// The page, in one language.
    Html(Lang),
    Json,
    Csv,
    Markdown,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Format::Html(_) => "text/html; charset=utf-8",
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Markdown => "text/markdown; charset=utf-8",
        }
    }
}

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/status", get(html_table))
        .route("/status.json", get(json_table))
        .route("/api/status", get(json_table))
        .route("/status.csv", get(csv_table))
        .route("/status.md", get(markdown_table))
}

#[derive(Debug, Default, Deserialize)]
pub struct Filter {
    status: Option<String>,
    location: Option<String>,
}

impl Filter {
    fn is_empty(&self) -> bool {
        self.status.as_deref().unwrap_or("").is_empty()
            && self.location.as_deref().unwrap_or("").is_empty()
    }

    fn stage(&self) -> Result<Option<Stage>, WebError> {
        match self.status.as_deref().unwrap_or("") {
            "" => Ok(None),
            key => Stage::parse(key).map(Some).map_err(|_| {
                WebError::BadRequest(format!(
                    "Unknown status {key:?}. Use one of: {}.",
                    Stage::ALL
                        .iter()
                        .map(|s| s.key())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }),
        }
    }
}

/// One row, in the public column layout.
pub struct Row {
    pub institute: String,
    pub location: String,
    pub requested: String,
    pub requested_keys: Vec<String>,
    pub stage: Stage,
    pub last_update: String,
    pub updated_at: i64,
    pub days_since_update: i64,
}

/// The page's column headings, as messages; the machine formats keep [`COLUMNS`].
const COLUMN_IDS: [&str; 5] = [
    "status-col-institute",
    "status-col-location",
    "status-col-requested",
    "status-col-status",
    "status-col-updated",
];

/// The requested data of an institute in `lang`.
fn requested_in(lang: Lang, keys: &[String]) -> String {
    keys.iter()
        .map(|k| match RequestedData::parse(k) {
            Some(r) => lang.t(&format!("requested-{}", r.key())),
            None => k.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn requested_labels(keys: &[String]) -> String {
    keys.iter()
        .map(|k| RequestedData::parse(k).map_or(k.as_str(), |r| r.label()))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn rows(app: &Shared, filter: &Filter) -> Result<Vec<Row>, WebError> {
    matching(app.platform.institutes().await?, filter)
}

/// The institutes that pass the filter, as rows.
fn matching(institutes: Vec<Institute>, filter: &Filter) -> Result<Vec<Row>, WebError> {
    let stage = filter.stage()?;
    let location = filter
        .location
        .as_deref()
        .unwrap_or("")
        .trim()
        .to_lowercase();
    let now = now_ns();
    Ok(institutes
        .into_iter()
        .filter_map(|i: Institute| {
            let s = Stage::parse(&i.stage).ok()?;
            let keep = stage.is_none_or(|want| want == s)
                && (location.is_empty() || i.location.to_lowercase().contains(&location));
            keep.then(|| Row {
                requested: requested_labels(&i.requested_data),
                requested_keys: i.requested_data.clone(),
                updated_at: i.updated_at,
                stage: s,
                last_update: layout::date(i.updated_at),
                days_since_update: layout::days_between(i.updated_at, now),
                institute: i.name,
                location: i.location,
            })
        })
        .collect())
}

fn respond(format: Format, bytes: Bytes) -> Response {
    let mut r = bytes.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    r
}

/// Serves from the cache when the request is anonymous and unfiltered.
async fn cached<F, Fut>(
    app: &Shared,
    format: Format,
    cacheable: bool,
    render: F,
) -> Result<Response, WebError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<String, WebError>>,
{
    if cacheable && let Some(bytes) = app.status_cache.get(format) {
        return Ok(respond(format, bytes));
    }
    // One render per expiry: without this, every connection that misses at once renders
    // the whole table (the benchmark counted ~50 renders per expiry at 64 connections).
    let _one_at_a_time = if cacheable {
        Some(app.status_cache.rendering.lock().await)
    } else {
        None
    };
    if cacheable && let Some(bytes) = app.status_cache.get(format) {
        return Ok(respond(format, bytes));
    }
    let bytes = Bytes::from(render().await?);
    if cacheable {
        app.status_cache.put(format, bytes.clone());
    }
    Ok(respond(format, bytes))
}

async fn html_table(
    State(app): State<Shared>,
    viewer: Viewer,
    Query(filter): Query<Filter>,
) -> Result<Response, WebError> {
    let cacheable = filter.is_empty() && viewer.account.is_none();
    let app2 = app.clone();
    let lang = viewer.lang;
    cached(&app, Format::Html(lang), cacheable, || async move {
        // One query serves the filter's choices and the rows.
        let all = app2.platform.institutes().await?;
        let mut locations: Vec<String> = all.iter().map(|i| i.location.clone()).collect();
        let rows = matching(all, &filter)?;
        locations.sort();
        locations.dedup();
        let chosen_stage = filter.stage()?;
        let chosen_location = filter.location.clone().unwrap_or_default();
        let t = |id: &str| lang.t(id);
        let stage = |s: Stage| lang.t(&format!("stage-{}", s.key()));
        let columns = COLUMN_IDS.map(t);
        let body = html! {
            h1 { (t("status-title")) }
            p.lead { (t("status-lead")) }
            ol.steps { @for s in Stage::ALL { li { (s.number()) ". " (stage(s)) } } }
            form.filters method="get" action="/status" {
                label { (columns[3])
                    select name="status" {
                        option value="" { (t("status-all")) }
                        @for s in Stage::ALL { option value=(s.key()) selected[chosen_stage == Some(s)] { (stage(s)) } }
                    }
                }
                label { (columns[1])
                    select name="location" {
                        option value="" { (t("status-all")) }
                        @for l in &locations { option value=(l) selected[*l == chosen_location] { (l) } }
                    }
                }
                button.secondary type="submit" { (t("status-filter")) }
                span.meta { (lang.ta("count-institutes", &[("count", n(rows.len() as f64))])) " · " (t("status-also-as")) " " a href="/status.json" { "JSON" } ", " a href="/status.csv" { "CSV" } ", " a href="/status.md" { "Markdown" } }
            }
            div.table-wrap {
                table.responsive id="status" {
                    thead { tr { @for c in &columns { th scope="col" { (c) } } } }
                    tbody {
                        @for r in &rows {
                            tr {
                                td data-label=(columns[0]) { (r.institute) }
                                td data-label=(columns[1]) { (r.location) }
                                td data-label=(columns[2]) { (requested_in(lang, &r.requested_keys)) }
                                td data-label=(columns[3]) { span class=(format!("stage s{}", r.stage.number())) { (r.stage.number()) "/7 · " (stage(r.stage)) } }
                                td data-label=(columns[4]) {
                                    (lang.long_date(r.updated_at)) " "
                                    span class=(if r.days_since_update >= 14 { "stale" } else { "muted" }) {
                                        "(" (lang.ta("days-ago", &[("days", n(r.days_since_update as f64))])) ")"
                                    }
                                }
                            }
                        }
                        @if rows.is_empty() { tr { td colspan="5" { (t("status-none")) } } }
                    }
                }
            }
        };
        Ok(page(&viewer, &t("status-title"), body).0)
    })
    .await
}

async fn json_table(
    State(app): State<Shared>,
    Query(filter): Query<Filter>,
) -> Result<Response, WebError> {
    let cacheable = filter.is_empty();
    let app2 = app.clone();
    cached(&app, Format::Json, cacheable, || async move {
        let rows = rows(&app2, &filter).await?;
        let list: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    COLUMNS[0]: r.institute,
                    COLUMNS[1]: r.location,
                    COLUMNS[2]: r.requested,
                    COLUMNS[3]: r.stage.label(),
                    COLUMNS[4]: r.last_update,
                })
            })
            .collect();
        serde_json::to_string_pretty(&list).map_err(|e| WebError::Internal(e.to_string()))
    })
    .await
}

async fn csv_table(
    State(app): State<Shared>,
    Query(filter): Query<Filter>,
) -> Result<Response, WebError> {
    let cacheable = filter.is_empty();
    let app2 = app.clone();
    cached(&app, Format::Csv, cacheable, || async move {
        let rows = rows(&app2, &filter).await?;
        let mut w = csv::Writer::from_writer(Vec::new());
        let fail = |e: csv::Error| WebError::Internal(e.to_string());
        w.write_record(COLUMNS).map_err(fail)?;
        for r in &rows {
            w.write_record([
                csv_cell(&r.institute).as_ref(),
                csv_cell(&r.location).as_ref(),
                csv_cell(&r.requested).as_ref(),
                r.stage.label(),
                &r.last_update,
            ])
            .map_err(fail)?;
        }
        let bytes = w
            .into_inner()
            .map_err(|e| WebError::Internal(e.to_string()))?;
        String::from_utf8(bytes).map_err(|e| WebError::Internal(e.to_string()))
    })
    .await
}

/// A Markdown cell: the text as itself, so that a name can neither break the table nor
/// become a link or markup (see `lunghub_release::card::text`).
fn md_cell(s: &str) -> String {
    lunghub_release::card::text(s)
}

/// A CSV cell that a spreadsheet shows as text: a value that begins with `=`, `+`, `-`,
/// `@`, a tab or a carriage return is a formula to Excel and LibreOffice (`=HYPERLINK(…)`
/// runs on opening), so it gets a leading apostrophe, as OWASP advises.
fn csv_cell(s: &str) -> std::borrow::Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}").into()
    } else {
        s.into()
    }
}

async fn markdown_table(
    State(app): State<Shared>,
    Query(filter): Query<Filter>,
) -> Result<Response, WebError> {
    let cacheable = filter.is_empty();
    let app2 = app.clone();
    cached(&app, Format::Markdown, cacheable, || async move {
        let rows = rows(&app2, &filter).await?;
        let mut out = format!(
            "| {} |\n|{}\n",
            COLUMNS.join(" | "),
            "---|".repeat(COLUMNS.len())
        );
        for r in &rows {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                md_cell(&r.institute),
                md_cell(&r.location),
                md_cell(&r.requested),
                r.stage.label(),
                r.last_update
            ));
        }
        Ok(out)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::{csv_cell, md_cell};

    #[test]
    fn spreadsheet_formulas_stay_text() {
        assert_eq!(
            csv_cell("=HYPERLINK(\"http://x\")"),
            "'=HYPERLINK(\"http://x\")"
        );
        for formula in ["+1", "-1+2", "@SUM(A1)", "\tx", "\rx"] {
            assert!(csv_cell(formula).starts_with('\''), "{formula:?}");
        }
        assert_eq!(csv_cell("Ospedale San Matteo"), "Ospedale San Matteo");
    }

    #[test]
    fn markdown_cells_hold_no_markup() {
        let cell = md_cell("<script>alert(1)</script> [x](javascript:alert(1)) **b** | c\nd");
        assert!(!cell.contains('<') && !cell.contains('>'), "{cell}");
        assert!(cell.contains("\\[x\\]") && !cell.contains("**"), "{cell}");
        assert!(!cell.contains('\n'), "{cell}");
        assert!(cell.contains("\\|"), "{cell}");
        // Rendered by a CommonMark renderer, the cell is the original text.
        let mut html = String::new();
        pulldown_cmark::html::push_html(&mut html, pulldown_cmark::Parser::new(&cell));
        assert!(
            !html.contains("<script") && !html.contains("<a ") && !html.contains("<strong"),
            "{html}"
        );
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
    }
}
