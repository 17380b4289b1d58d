//! What the gateway has done, for `lunghub gateway status` and the local status page (meant
//! for the hospital's own network: it shows counts, reasons and the key's fingerprint, never
//! a patient or a file name).

use serde::Serialize;

use crate::Gateway;
use crate::ledger::{Note, Summary, day_of};

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub fingerprint: String,
    pub stow_url: String,
    /// Waiting in the outbox now.
    pub queued_files: usize,
    pub queued_bytes: u64,
    /// Refused for good by the server, kept in `rejected/`.
    pub rejected_files: usize,
    #[serde(flatten)]
    pub summary: Summary,
}

/// Days shown.
const DAYS: usize = 14;

impl Status {
    pub fn of(gateway: &Gateway) -> std::io::Result<Status> {
        let waiting = gateway
            .outbox()
            .waiting()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(Status {
            fingerprint: gateway.fingerprint(),
            stow_url: gateway.config().stow_url.to_string(),
            queued_files: waiting.len(),
            queued_bytes: waiting.iter().map(|e| e.bytes).sum(),
            rejected_files: gateway.outbox().rejected_count(),
            summary: gateway.ledger().summary(DAYS)?,
        })
    }

    /// The plain-text report of `lunghub gateway status`.
    pub fn text(&self) -> String {
        let mut out = format!(
            "site key fingerprint {}\nsending to {}\nqueued now: {} files, {}\nrejected by the server: {} files (in rejected/)\n",
            self.fingerprint,
            self.stow_url,
            self.queued_files,
            megabytes(self.queued_bytes),
            self.rejected_files
        );
        match &self.summary.last_error {
            Some(n) => out.push_str(&format!("last send failed {}: {}\n", when(n), n.why)),
            None => out.push_str("last send: no failure since the last success\n"),
        }
        out.push_str(
            "\nday          received       queued         sent           quarantined  rejected  send failures\n",
        );
        for d in &self.summary.days {
            out.push_str(&format!(
                "{}   {:>5} {:>8}  {:>5} {:>8}  {:>5} {:>8}  {:>5}        {:>5}     {:>5}\n",
                d.date,
                d.received.files,
                megabytes(d.received.bytes),
                d.queued.files,
                megabytes(d.queued.bytes),
                d.sent.files,
                megabytes(d.sent.bytes),
                d.quarantined.files,
                d.rejected.files,
                d.send_failures
            ));
        }
        if !self.summary.refusals.is_empty() {
            out.push_str("\nlatest refusals:\n");
            for n in &self.summary.refusals {
                out.push_str(&format!("  {}  {}\n", when(n), n.why));
            }
        }
        out
    }

    pub fn html(&self) -> String {
        let page = maud::html! {
            (maud::DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta http-equiv="refresh" content="10";
                    title { "lunghub gateway" }
                    style { "body{font-family:sans-serif;margin:2rem}td,th{padding:.2rem .6rem;text-align:right}th:first-child,td:first-child{text-align:left}" }
                }
                body {
                    h1 { "lunghub gateway" }
                    p { "Site key fingerprint " code { (self.fingerprint) } ". Sending to " code { (self.stow_url) } "." }
                    p { "Queued now: " strong { (self.queued_files) } " files (" (megabytes(self.queued_bytes)) "). Rejected by the server: " (self.rejected_files) " files." }
                    @match &self.summary.last_error {
                        Some(n) => p { strong { "Sending fails: " } (n.why) " (" (when(n)) ")" },
                        None => p { "Sending works." },
                    }
                    table {
                        thead { tr { th { "Day (UTC)" } th { "Received" } th { "Queued" } th { "Sent" } th { "MB sent" } th { "Quarantined" } th { "Rejected" } th { "Send failures" } } }
                        tbody {
                            @for d in &self.summary.days {
                                tr {
                                    td { (d.date) } td { (d.received.files) } td { (d.queued.files) } td { (d.sent.files) }
                                    td { (megabytes(d.sent.bytes)) } td { (d.quarantined.files) } td { (d.rejected.files) } td { (d.send_failures) }
                                }
                            }
                        }
                    }
                    @if !self.summary.refusals.is_empty() {
                        h2 { "Latest refusals" }
                        ul { @for n in &self.summary.refusals { li { (when(n)) ": " (n.why) } } }
                    }
                }
            }
        };
        page.into_string()
    }
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn when(n: &Note) -> String {
    let secs = (n.at_ms / 1000) % 86_400;
    format!(
        "{} {:02}:{:02}:{:02} UTC",
        day_of(n.at_ms),
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Serves the status page (`/`) and its JSON (`/status.json`) until the future is dropped.
pub async fn serve(
    gateway: std::sync::Arc<Gateway>,
    listener: tokio::net::TcpListener,
) -> std::io::Result<()> {
    use axum::extract::State;
    use axum::http::{StatusCode, header};
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;
    type Shared = std::sync::Arc<Gateway>;
    async fn now(g: Shared) -> Result<Status, Response> {
        tokio::task::spawn_blocking(move || Status::of(&g))
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r)
            .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response())
    }
    async fn page(State(g): State<Shared>) -> Response {
        match now(g).await {
            Ok(s) => (
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                s.html(),
            )
                .into_response(),
            Err(r) => r,
        }
    }
    async fn json(State(g): State<Shared>) -> Response {
        match now(g).await {
            Ok(s) => axum::Json(s).into_response(),
            Err(r) => r,
        }
    }
    let app = axum::Router::new()
        .route("/", get(page))
        .route("/status.json", get(json))
        .with_state(gateway);
    axum::serve(listener, app).await
}
