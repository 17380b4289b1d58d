//! lunghub's web platform: the public site (mission, sign-up by role, subscriptions,
//! partners, the hospital onboarding status table, working tracks), the coordinators'
//! onboarding pages, accounts, and a JSON API described at `/api/openapi.json`.
//!
//! - Server-rendered HTML (maud) that works without JavaScript.
//! - Every state-changing request carries a CSRF token, checked in one middleware.
//! - Every access decision goes through `lunghub_domain::access::may`.
//! - Email waits in a durable queue in the database and goes out in the background, by
//!   SMTP when configured, else to an outbox folder the admin reads at `/admin/outbox`.

mod api;
pub mod auth;
pub mod challenges;
pub mod dicomweb;
mod form;
pub mod i18n;
mod layout;
pub mod mail;
mod pages;
mod status;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use lunghub_domain::AccountRole;
use lunghub_domain::access::{Action, Actor, may};
use lunghub_intake::IntakeService;
use lunghub_store::platform::{Account, NewAccount};
use lunghub_store::{Blobs, Catalog, Platform, StoreError};

pub use dicomweb::StowLimits;
pub use mail::Mailer;

/// Largest form body accepted, and largest document upload.
pub const MAX_FORM_BYTES: usize = 64 * 1024;
pub const MAX_DOCUMENT_BYTES: usize = 20 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("not found")]
    NotFound,
    #[error("you may not do this")]
    Forbidden,
    #[error("sign in first")]
    SignInFirst(String),
}

/// An error page as the handler left it, for the session layer to write in the viewer's
/// language: a message id for the title and for the sentence, and any detail the error
/// carries (a store conflict's or a bad request's own words).
#[derive(Debug, Clone)]
struct ErrorPage {
    title: &'static str,
    message: &'static str,
    detail: Option<String>,
}

impl ErrorPage {
    fn render(&self, lang: i18n::Lang) -> axum::response::Html<String> {
        let message = match &self.detail {
            Some(d) => lang.ta(self.message, &[("detail", d.as_str().into())]),
            None => lang.t(self.message),
        };
        layout::bare(lang, &lang.t(self.title), &message)
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, error) = match &self {
            WebError::Store(StoreError::NotFound(what)) => (
                StatusCode::NOT_FOUND,
                ErrorPage {
                    title: "error-not-found",
                    message: "error-no-such-thing",
                    detail: Some((*what).to_owned()),
                },
            ),
            WebError::Store(StoreError::Conflict(why)) => (
                StatusCode::CONFLICT,
                ErrorPage {
                    title: "error-conflict",
                    message: "error-detail",
                    detail: Some(why.clone()),
                },
            ),
            WebError::Store(_) | WebError::Internal(_) => {
                eprintln!("error: {self}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorPage {
                        title: "error-internal",
                        message: "error-internal-text",
                        detail: None,
                    },
                )
            }
            WebError::BadRequest(why) => (
                StatusCode::BAD_REQUEST,
                ErrorPage {
                    title: "error-bad-request",
                    message: "error-detail",
                    detail: Some(why.clone()),
                },
            ),
            WebError::NotFound => (
                StatusCode::NOT_FOUND,
                ErrorPage {
                    title: "error-not-found",
                    message: "error-no-such-page",
                    detail: None,
                },
            ),
            WebError::Forbidden => (
                StatusCode::FORBIDDEN,
                ErrorPage {
                    title: "error-forbidden",
                    message: "error-forbidden-text",
                    detail: None,
                },
            ),
            WebError::SignInFirst(next) => {
                let to = format!("/signin?next={}", form::url_encode(next));
                return (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response();
            }
        };
        // English until the session layer, which knows the viewer, writes it again.
        let mut response = (status, error.render(i18n::Lang::En)).into_response();
        response.extensions_mut().insert(error);
        response
    }
}

/// Settings of one running platform.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    /// The address people reach the site at, for links in emails.
    pub public_url: String,
    /// Where email goes out; None: only to the outbox in the data directory.
    pub smtp_url: Option<String>,
    /// The sender of every email.
    pub mail_from: String,
    /// When mail SMTP did not take is tried again.
    pub mail_retry: mail::RetryPolicy,
    /// What one DICOMweb STOW-RS request may carry.
    pub stow: StowLimits,
    /// The model "Try the model" serves: a folder from `lunghub train`; None: the reference
    /// model built in.
    pub model_dir: Option<PathBuf>,
    /// The request header a reverse proxy in front of lunghub puts the client's address in
    /// (`X-Forwarded-For`, `X-Real-IP`): sign-in throttles and form quotas count by it. Only
    /// for a proxy that sets it itself: a client could write any address into it.
    pub client_address_header: Option<String>,
}

/// Everything handlers share.
pub struct App {
    pub catalog: Catalog,
    pub platform: Platform,
    /// The one intake pipeline, which every upload route hands files to.
    pub intake: Arc<IntakeService>,
    pub mailer: Mailer,
    pub config: Config,
    pub throttle: auth::Throttle,
    /// Sign-ups and requests per address, mails per recipient.
    pub quotas: auth::Quotas,
    /// Where releases are written before their files go into the blob store.
    pub release_staging: lunghub_release::Staging,
    release_builds: pages::releases::Builds,
    /// The diagnostic model behind "Try the model" and /api/predict.
    predictor: std::sync::Mutex<lunghub_learn::predictor::Predictor>,
    /// Its model card (Markdown): the reference model's, or MODEL_CARD.md beside a model
    /// given with `--model`, if there is one.
    model_card: Option<String>,
    csrf_key: Vec<u8>,
    status_cache: status::Cache,
    /// One archive per site unpacks at a time.
    unpacking: pages::upload::Unpacking,
}

pub type Shared = Arc<App>;

impl App {
    pub async fn new(intake: Arc<IntakeService>, config: Config) -> Result<Shared, WebError> {
        let catalog = intake.intake().catalog.clone();
        let platform = catalog.platform();
        let key_hex = platform
            .setting_or_insert("csrf-key", || auth::new_token().unwrap_or_default())
            .await?;
        if key_hex.len() < 32 {
            return Err(WebError::Internal(
                "the stored CSRF key is too short".into(),
            ));
        }
        // Batches recorded before names were tagged: their names go now.
        let secret = intake.intake().deid.secret();
        catalog
            .retag_upload_files(|name| secret.name_tag(name))
            .await?;
        let predictor = match &config.model_dir {
            Some(dir) => lunghub_learn::predictor::Predictor::load(dir),
            None => lunghub_learn::predictor::Predictor::reference(),
        }
        .map_err(|e| WebError::Internal(format!("cannot load the model: {e}")))?;
        let model_card = match &config.model_dir {
            Some(dir) => std::fs::read_to_string(dir.join("MODEL_CARD.md")).ok(),
            None => Some(lunghub_learn::predictor::REFERENCE_CARD.to_owned()),
        };
        let mailer = Mailer::new(
            config.data_dir.join("outbox"),
            &config.mail_from,
            config.smtp_url.as_deref(),
            config.mail_retry,
        )?;
        Ok(Arc::new(App {
            catalog,
            platform,
            intake,
            mailer,
            throttle: auth::Throttle::default(),
            quotas: auth::Quotas::default(),
            csrf_key: key_hex.into_bytes(),
            status_cache: status::Cache::default(),
            release_staging: lunghub_release::Staging::new(config.data_dir.join("release-staging")),
            release_builds: pages::releases::Builds::default(),
            predictor: std::sync::Mutex::new(predictor),
            model_card,
            config,
            unpacking: Default::default(),
        }))
    }

    /// The address a request came from: the peer, or the last address in the configured
    /// proxy header (the one the proxy itself added), when there is one.
    pub fn client_address(
        &self,
        peer: std::net::SocketAddr,
        headers: &axum::http::HeaderMap,
    ) -> std::net::IpAddr {
        self.config
            .client_address_header
            .as_deref()
            .and_then(|name| headers.get(name))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|a| a.trim().parse::<std::net::IpAddr>().ok())
            .unwrap_or(peer.ip())
            .to_canonical()
    }

    /// Sends a mail a visitor's form asked for, unless its recipient had
    /// [`auth::MAILS_PER_RECIPIENT`] in the last hour: then nothing is sent, and the form
    /// answers as it always does.
    pub async fn send_asked_for(
        &self,
        to: &str,
        subject: &str,
        body: &str,
    ) -> Result<(), WebError> {
        if self.quotas.mails.take(&to.trim().to_lowercase()) {
            self.queue_mail(&[lunghub_store::mail::NewMail::new(to, subject, body)])
                .await?;
        } else {
            eprintln!(
                "mail: a recipient had {} mails this hour; one more held back",
                auth::MAILS_PER_RECIPIENT
            );
        }
        Ok(())
    }

    /// Queues mails for the background sender; returns how many were new.
    pub async fn queue_mail(
        &self,
        mails: &[lunghub_store::mail::NewMail],
    ) -> Result<u64, WebError> {
        let added = self.platform.queue_mails(mails).await?;
        self.mailer.wake();
        Ok(added)
    }

    pub fn blobs(&self) -> &Blobs {
        &self.intake.intake().blobs
    }

    fn secure_cookies(&self) -> bool {
        self.config.public_url.starts_with("https://")
    }

    pub fn link(&self, path: &str) -> String {
        format!("{}{path}", self.config.public_url.trim_end_matches('/'))
    }

    /// A one-time token for `purpose` and `subject`, valid for `hours`; returns the token
    /// (only its hash is stored).
    pub async fn one_time_token(
        &self,
        purpose: &str,
        subject: &str,
        hours: i64,
    ) -> Result<String, WebError> {
        let token = auth::new_token()?;
        let expires = now_ns().saturating_add(hours * 3600 * 1_000_000_000);
        self.platform
            .create_token(&auth::token_hash(&token), purpose, subject, expires)
            .await?;
        Ok(token)
    }

    /// On first start, an admin account with no password and a one-time sign-in link.
    /// Returns the link, or None when an admin exists already.
    pub async fn first_start(&self, admin_email: &str) -> Result<Option<String>, WebError> {
        if self.platform.admin_count().await? > 0 {
            return Ok(None);
        }
        let admin = match self.platform.account_by_email(admin_email).await? {
            Some(a) => a,
            None => {
                let new = NewAccount {
                    email: admin_email.into(),
                    name: "Administrator".into(),
                    role: AccountRole::Admin.key().into(),
                    profile: "{}".into(),
                    confirmed: true,
                    ..NewAccount::default()
                };
                self.platform.create_account(&new).await?
            }
        };
        self.platform
            .set_role(&admin.id, AccountRole::Admin.key(), None)
            .await?;
        let token = self.one_time_token("signin", &admin.id, 24).await?;
        Ok(Some(self.link(&format!("/signin/once/{token}"))))
    }
}

pub(crate) use lunghub_store::now_ns;

/// Who is asking, and the CSRF token their forms must carry.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub account: Option<Account>,
    pub csrf: String,
    /// The language the page is written in (`i18n`).
    pub lang: i18n::Lang,
    /// The address asked for (path and query), where the language switch comes back to.
    pub here: String,
}

impl Viewer {
    /// The message `id` in the viewer's language.
    pub fn t(&self, id: &str) -> String {
        self.lang.t(id)
    }

    /// The message `id` with its variables, in the viewer's language.
    pub fn ta<'a>(&self, id: &str, args: &[(&'a str, fluent_bundle::FluentValue<'a>)]) -> String {
        self.lang.ta(id, args)
    }

    pub fn actor(&self) -> Option<Actor> {
        let a = self.account.as_ref().filter(|a| a.confirmed)?;
        Some(Actor {
            role: AccountRole::parse(&a.role)?,
            site: a.site_id.clone(),
            medical: a
                .signup_role
                .as_deref()
                .and_then(lunghub_domain::people::SignupRole::parse)
                .is_some_and(|r| r.is_medical()),
        })
    }

    pub fn may(&self, action: Action<'_>) -> bool {
        may(self.actor().as_ref(), action)
    }

    /// Refuses unless the viewer may do `action`: anonymous visitors are sent to sign in.
    pub fn require(&self, action: Action<'_>, here: &str) -> Result<&Account, WebError> {
        match &self.account {
            None => Err(WebError::SignInFirst(here.to_owned())),
            Some(a) if self.may(action) => Ok(a),
            Some(_) => Err(WebError::Forbidden),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Viewer {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Viewer>()
            .cloned()
            .ok_or_else(|| WebError::Internal("the session layer is missing".into()))
    }
}

/// Loads the session's account, sets the CSRF cookie on first visit, and refuses any
/// state-changing request whose CSRF token is missing or wrong.
async fn session_and_csrf(State(app): State<Shared>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let account = match auth::cookie(&parts.headers, auth::SESSION_COOKIE) {
        Some(token) => app
            .platform
            .session_account(&auth::token_hash(token))
            .await
            .unwrap_or_else(|e| {
                eprintln!("error: cannot load a session: {e}");
                None
            }),
        None => None,
    };
    let existing = auth::cookie(&parts.headers, auth::CSRF_COOKIE)
        .filter(|c| c.len() == 64)
        .map(str::to_owned);
    let (cookie_value, new_cookie) = match existing {
        Some(c) => (c, false),
        None => match auth::new_token() {
            Ok(t) => (t, true),
            Err(e) => return e.into_response(),
        },
    };
    // The token is bound to the CSRF cookie and to the session, so that a token and cookie
    // of the attacker's own are worth nothing beside someone else's session, and every
    // sign-in (a new session) makes earlier tokens void.
    let bound = match (&account, auth::cookie(&parts.headers, auth::SESSION_COOKIE)) {
        (Some(_), Some(session)) => format!("{cookie_value}:{}", auth::token_hash(session)),
        _ => cookie_value.clone(),
    };
    let signed_in = account.is_some();
    let lang = chosen_lang(account.as_ref(), &parts.headers);
    let mut body = body;
    if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        if !same_origin(&app, &parts.headers) {
            return (
                StatusCode::FORBIDDEN,
                layout::bare(
                    lang,
                    &lang.t("error-other-site"),
                    &lang.t("error-other-site-text"),
                ),
            )
                .into_response();
        }
        let (checked, rebuilt) = match csrf_submitted(&mut parts, body).await {
            Ok(x) => x,
            Err(e) => return e.into_response(),
        };
        body = rebuilt;
        let valid = !new_cookie
            && checked.is_some_and(|t| auth::csrf_token_is_valid(&app.csrf_key, &bound, &t));
        if !valid {
            return (
                StatusCode::FORBIDDEN,
                layout::bare(
                    lang,
                    &lang.t("error-form-expired"),
                    &lang.t("error-form-expired-text"),
                ),
            )
                .into_response();
        }
    }
    let csrf = auth::csrf_token(&app.csrf_key, &bound);
    let here = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    parts.extensions.insert(Viewer {
        account,
        csrf,
        lang,
        here,
    });
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if lang != i18n::Lang::En
        && let Some(error) = response.extensions_mut().remove::<ErrorPage>()
    {
        let status = response.status();
        response = (status, error.render(lang)).into_response();
    }
    // The same address answers in either language, so caches must keep them apart.
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_LANGUAGE,
        HeaderValue::from_static(lang.code()),
    );
    headers.append(
        header::VARY,
        HeaderValue::from_static("Accept-Language, Cookie"),
    );
    // What a signed-in person sees (tokens shown once, their data) stays out of caches and
    // the browser's back-forward store.
    if signed_in && !response.headers().contains_key(header::CACHE_CONTROL) {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if app.secure_cookies() {
        response.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    if new_cookie {
        let cookie = auth::set_cookie(
            auth::CSRF_COOKIE,
            &cookie_value,
            365 * 86_400,
            app.secure_cookies(),
        );
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// The account's preference, else the header switch's cookie, else the browser's
/// `Accept-Language`, else English (`i18n`).
fn chosen_lang(account: Option<&Account>, headers: &axum::http::HeaderMap) -> i18n::Lang {
    account
        .and_then(|a| a.lang.as_deref())
        .and_then(i18n::Lang::parse)
        .or_else(|| auth::cookie(headers, i18n::LANG_COOKIE).and_then(i18n::Lang::parse))
        .or_else(|| {
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(i18n::Lang::from_accept_language)
        })
        .unwrap_or_default()
}

/// Whether a state-changing request may have come from one of this site's pages: its
/// `Origin`, when the browser sends one (every current browser does on a POST), must be the
/// configured public URL's origin or the host the request was sent to. Clients that send no
/// Origin (scripts, curl) still need the CSRF token.
fn same_origin(app: &App, headers: &axum::http::HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let public = app.config.public_url.trim_end_matches('/');
    let public_origin = public
        .find("://")
        .and_then(|at| {
            public[at + 3..]
                .find('/')
                .map(|slash| &public[..at + 3 + slash])
        })
        .unwrap_or(public);
    if origin.eq_ignore_ascii_case(public_origin) {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    matches!((host, origin_host), (Some(h), Some(o)) if h.eq_ignore_ascii_case(o))
}

/// The submitted CSRF token, from the `X-CSRF-Token` header (scripts), the `csrf` field of
/// a urlencoded body or the first field of a multipart one (forms; read and put back), or
/// the `csrf` query parameter (accepted from API clients; the pages never put it there).
async fn csrf_submitted(parts: &mut Parts, body: Body) -> Result<(Option<String>, Body), WebError> {
    if let Some(h) = parts
        .headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
    {
        return Ok((Some(h.to_owned()), body));
    }
    if let Some(t) = parts.uri.query().and_then(|q| {
        form::pairs(q)
            .into_iter()
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v)
    }) {
        return Ok((Some(t), body));
    }
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if let Some(boundary) = multipart_boundary(&content_type) {
        return Ok(multipart_csrf(&boundary, body).await);
    }
    let is_form = content_type.starts_with("application/x-www-form-urlencoded");
    if !is_form {
        return Ok((None, body));
    }
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| {
            WebError::BadRequest(format!(
                "The form is larger than {} KiB.",
                MAX_FORM_BYTES / 1024
            ))
        })?;
    let token = form::pairs(&String::from_utf8_lossy(&bytes))
        .into_iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v);
    Ok((token, Body::from(bytes)))
}

/// The boundary of a `multipart/form-data` body.
fn multipart_boundary(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// The most of a multipart body read to find its CSRF field.
const MULTIPART_CSRF_PEEK: usize = 8 * 1024;

/// The token of a multipart form, from its first field, which must be `csrf` (the forms
/// put it first, and browsers send fields in the page's order): read from the start of
/// the stream and put back, so that a 512 MiB upload is not held to find it, and no token
/// needs to travel in the URL, where histories and proxies keep it.
async fn multipart_csrf(boundary: &str, body: Body) -> (Option<String>, Body) {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut head: Vec<u8> = Vec::new();
    let token = loop {
        if let Some(found) = first_field_token(&head, boundary) {
            break found;
        }
        if head.len() >= MULTIPART_CSRF_PEEK {
            break None;
        }
        match stream.next().await {
            Some(Ok(chunk)) => head.extend_from_slice(&chunk),
            // A broken stream: hand it on as it is, without a token.
            Some(Err(_)) | None => break None,
        }
    };
    let rest =
        futures_util::stream::once(async move { Ok::<_, axum::Error>(bytes::Bytes::from(head)) })
            .chain(stream);
    (token, Body::from_stream(rest))
}

/// `Some(Some(token))` when the first part of `head` is a whole `csrf` field, `Some(None)`
/// when the first part is whole and is something else, `None` when more bytes are needed.
fn first_field_token(head: &[u8], boundary: &str) -> Option<Option<String>> {
    let opening = format!("--{boundary}\r\n");
    if head.len() < opening.len() {
        return None;
    }
    if !head.starts_with(opening.as_bytes()) {
        return Some(None);
    }
    let rest = &head[opening.len()..];
    let headers_end = rest.windows(4).position(|w| w == b"\r\n\r\n")?;
    let headers = String::from_utf8_lossy(&rest[..headers_end]).to_ascii_lowercase();
    let is_csrf = headers
        .lines()
        .any(|l| l.starts_with("content-disposition:") && l.contains("name=\"csrf\""));
    if !is_csrf {
        return Some(None);
    }
    let value = &rest[headers_end + 4..];
    let closing = format!("\r\n--{boundary}");
    let end = value
        .windows(closing.len())
        .position(|w| w == closing.as_bytes())?;
    Some(
        std::str::from_utf8(&value[..end])
            .ok()
            .map(|t| t.trim().to_owned()),
    )
}

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'self'; img-src 'self' data:; style-src 'self'; form-action 'self'; frame-ancestors 'none'"),
    );
    response
}

/// The whole site.
pub fn router(app: Shared) -> Router {
    Router::new()
        .merge(pages::routes())
        .merge(status::routes())
        .merge(api::routes())
        .layer(middleware::from_fn_with_state(
            app.clone(),
            session_and_csrf,
        ))
        // Bearer-token routes, outside the session and CSRF layer: see `dicomweb`.
        .merge(dicomweb::routes())
        .merge(pages::challenges::token_routes())
        // The one-click unsubscribe of RFC 8058: a mail client's POST, with no session.
        .merge(pages::public::one_click_routes())
        .layer(middleware::from_fn(security_headers))
        .with_state(app)
}

/// Serves until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, app: Shared) -> std::io::Result<()> {
    tokio::spawn(mail::run_sender(app.clone()));
    tokio::spawn(pages::events::run(app.clone()));
    axum::serve(
        listener,
        router(app).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every error page has its title and sentence in both languages.
    #[test]
    fn error_pages_are_written_in_both_languages() {
        let errors = [
            WebError::Store(StoreError::NotFound("post")),
            WebError::Store(StoreError::Conflict("taken".into())),
            WebError::Internal("disk".into()),
            WebError::BadRequest("no such stage".into()),
            WebError::NotFound,
            WebError::Forbidden,
        ];
        for error in errors {
            let response = error.into_response();
            let page = response
                .extensions()
                .get::<ErrorPage>()
                .cloned()
                .unwrap_or_else(|| panic!("no error page on {}", response.status()));
            for lang in i18n::Lang::ALL {
                for id in [page.title, page.message] {
                    assert_ne!(lang.t_or(id, "\u{0}"), "\u{0}", "{id} in {}", lang.code());
                }
            }
            let italian = page.render(i18n::Lang::It).0;
            assert!(italian.contains("lang=\"it\""), "{italian}");
        }
    }
}
