//! The HTML pages, by who uses them.

mod account;
mod admin;
pub(crate) mod challenges;
mod coord;
pub(crate) mod events;
pub(crate) mod model;
pub(crate) mod news;
pub(crate) mod public;
pub(crate) mod releases;
mod review;
mod sites;
pub(crate) mod upload;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::Shared;
use crate::layout::STYLESHEET;

pub fn routes() -> Router<Shared> {
    Router::new()
        .merge(public::routes())
        .merge(account::routes())
        .merge(coord::routes())
        .merge(admin::routes())
        .merge(upload::routes())
        .merge(releases::routes())
        .merge(model::routes())
        .merge(challenges::routes())
        .merge(review::routes())
        .merge(sites::routes())
        .merge(news::routes())
        .route("/static/site.css", get(stylesheet))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(|| async { crate::WebError::NotFound })
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// After a successful POST: go to a page (so that reloading does not send the form again).
pub fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}

/// A form page shown again with its problems, and the status that says why.
pub fn with_status(status: StatusCode, html: axum::response::Html<String>) -> Response {
    (status, html).into_response()
}
