//! The JSON API and its OpenAPI 3.1 document. Public data is open; coordinator data
//! needs a session cookie, exactly as the HTML pages do, and the same access rules.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use lunghub_domain::access::Action;
use lunghub_domain::{Move, RequestedData, SignupRole, Stage};
use serde_json::{Value, json};

use crate::{Shared, Viewer, WebError};

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/openapi.json", get(openapi))
        .route("/api/stages", get(stages))
        .route("/api/roles", get(roles))
        .route("/api/tracks", get(tracks))
        .route("/api/institutes", get(institutes))
        .route("/api/institutes/{id}", get(institute))
}

/// The paths this API serves, each with its summary and whether it needs a coordinator.
pub const PATHS: [(&str, &str, bool); 7] = [
    (
        "/api/status",
        "The public onboarding status table: Institute, Location, Requested data, Status, Last update",
        false,
    ),
    (
        "/api/stages",
        "The seven onboarding stages, in order, with the moves allowed between them",
        false,
    ),
    (
        "/api/roles",
        "The roles people sign up with, and the questions each is asked",
        false,
    ),
    (
        "/api/tracks",
        "The working tracks, with their coordinator (or none) and member counts",
        false,
    ),
    (
        "/api/institutes",
        "Every institute with its contacts, notes and stage (coordinators)",
        true,
    ),
    (
        "/api/institutes/{id}",
        "One institute with its history (coordinators)",
        true,
    ),
    ("/api/openapi.json", "This document", false),
];

async fn openapi() -> Json<Value> {
    let mut paths = serde_json::Map::new();
    for (path, summary, protected) in PATHS {
        let mut op = json!({
            "summary": summary,
            "responses": {
                "200": { "description": "OK", "content": { "application/json": { "schema": { "type": if path == "/api/openapi.json" || path == "/api/institutes/{id}" { "object" } else { "array" } } } } }
            }
        });
        if path.contains("{id}") {
            op["parameters"] = json!([{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }]);
            op["responses"]["404"] = json!({ "description": "No such institute" });
        }
        if protected {
            op["security"] = json!([{ "session": [] }]);
            op["responses"]["303"] =
                json!({ "description": "Not signed in: redirected to /signin" });
            op["responses"]["403"] = json!({ "description": "Signed in, but not a coordinator" });
        }
        paths.insert(path.to_owned(), json!({ "get": op }));
    }
    crate::dicomweb::openapi_paths(&mut paths);
    crate::pages::model::openapi_paths(&mut paths);
    crate::pages::challenges::openapi_paths(&mut paths);
    Json(json!({
        "openapi": "3.1.0",
        "info": {
            "title": "lunghub API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Open data of the lunghub platform. State-changing requests use the HTML forms, or send the form's CSRF token in an X-CSRF-Token header."
        },
        "paths": paths,
        "components": { "securitySchemes": {
            "session": { "type": "apiKey", "in": "cookie", "name": crate::auth::SESSION_COOKIE },
            "siteToken": { "type": "http", "scheme": "bearer", "description": "A site's DICOMweb token, issued at /admin/sites" },
            "personalToken": { "type": "http", "scheme": "bearer", "description": "A person's API token, made at /account/tokens (challenge submissions)" }
        } }
    }))
}

async fn stages() -> Json<Value> {
    let list: Vec<Value> = Stage::ALL
        .iter()
        .map(|s| {
            let moves: Vec<Value> = [Move::Forward, Move::Back, Move::SkipEthics]
                .into_iter()
                .filter_map(|m| {
                    s.apply(m, "reason")
                        .ok()
                        .map(|to| json!({ "move": m.key(), "to": to.key() }))
                })
                .collect();
            json!({ "number": s.number(), "key": s.key(), "label": s.label(), "moves": moves })
        })
        .collect();
    Json(json!(list))
}

async fn roles() -> Json<Value> {
    let list: Vec<Value> = SignupRole::ALL
        .iter()
        .map(|r| {
            let questions: Vec<Value> =
                r.questions().iter().map(|q| json!({ "key": q.key, "label": q.label, "required": q.required, "max_chars": q.max_chars })).collect();
            json!({ "key": r.key(), "label": r.label(), "makes_account": r.makes_account(), "questions": questions })
        })
        .collect();
    Json(json!({
        "signup_roles": list,
        "requested_data": RequestedData::ALL.iter().map(|r| json!({ "key": r.key(), "label": r.label() })).collect::<Vec<_>>(),
    }))
}

async fn tracks(State(app): State<Shared>) -> Result<Json<Value>, WebError> {
    Ok(Json(json!(app.platform.tracks().await?)))
}

async fn institutes(State(app): State<Shared>, viewer: Viewer) -> Result<Response, WebError> {
    viewer.require(Action::ManageInstitutes, "/api/institutes")?;
    Ok(Json(json!(app.platform.institutes().await?)).into_response())
}

async fn institute(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    viewer.require(Action::ManageInstitutes, &format!("/api/institutes/{id}"))?;
    let i = app
        .platform
        .institute(&id)
        .await?
        .ok_or(WebError::NotFound)?;
    let history = app.platform.history(&id).await?;
    Ok(Json(json!({ "institute": i, "history": history })).into_response())
}
