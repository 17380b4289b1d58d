//! Released datasets: the public list, each release's page (its card, checksums and
//! changelog), streamed .tar.gz and .zip downloads, and the coordinators' page that creates
//! a release.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use lunghub_domain::access::Action;
use lunghub_release::archive::{self, Format, Published, Source};
use lunghub_release::{Request, Selection};
use lunghub_store::{Blobs, ReleaseRecord};
use maud::{Markup, PreEscaped, html};

use super::{see_other, with_status};
use crate::form::{Fields, FormFields, Problems};
use crate::layout::{count, csrf, date, page, problems, stored_size};
use crate::{Shared, Viewer, WebError};

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/releases", get(list))
        .route("/releases/{name}/{version}", get(release))
        .route("/releases/{name}/{version}/{file}", get(release_file))
        .route("/coord/releases", get(new_form).post(create))
}

/// Releases being written by the web, by name: what the coordinators' page shows.
#[derive(Debug, Default)]
pub struct Builds(Mutex<BTreeMap<String, Build>>);

#[derive(Debug, Clone)]
enum Build {
    Writing { done: usize, total: usize },
    Done { version: i64 },
    Failed { why: String },
}

impl Builds {
    fn set(&self, name: &str, build: Build) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(name.to_owned(), build);
        }
    }

    fn all(&self) -> Vec<(String, Build)> {
        self.0
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    fn is_writing(&self, name: &str) -> bool {
        self.0
            .lock()
            .map(|m| matches!(m.get(name), Some(Build::Writing { .. })))
            .unwrap_or(false)
    }
}

/// The files of a release one may fetch alone, and their media types.
const SINGLE_FILES: [(&str, &str); 5] = [
    ("SHA256SUMS", "text/plain; charset=utf-8"),
    ("README.md", "text/markdown; charset=utf-8"),
    ("CHANGELOG.md", "text/markdown; charset=utf-8"),
    ("croissant.json", "application/ld+json"),
    ("card.html", "text/html; charset=utf-8"),
];

async fn list(State(app): State<Shared>, viewer: Viewer) -> Result<Response, WebError> {
    let releases = app.catalog.releases().await?;
    let t = |id: &str| viewer.t(id);
    let columns = [
        "releases-col-release",
        "releases-col-files",
        "releases-col-size",
        "releases-col-released",
    ]
    .map(t);
    let body = html! {
        h1 { (t("releases-title")) }
        p { (t("releases-lead")) }
        @if viewer.may(Action::CreateReleases) {
            p { a.button href="/coord/releases" { (t("releases-create")) } }
        }
        @if releases.is_empty() {
            p { (t("releases-none")) }
        } @else {
            div.table-wrap {
                table.responsive {
                    thead { tr { @for c in &columns { th { (c) } } } }
                    tbody {
                        @for r in &releases {
                            tr {
                                td data-label=(columns[0]) { a href=(format!("/releases/{}/v{}", r.name, r.version)) { (r.name) " v" (r.version) } }
                                td data-label=(columns[1]) { (r.files) }
                                td data-label=(columns[2]) { (stored_size(r.bytes)) }
                                td data-label=(columns[3]) { time datetime=(date(r.created_at)) { (viewer.lang.long_date(r.created_at)) } }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&viewer, &t("releases-title"), body).into_response())
}

/// `v3` → 3.
fn version_of(segment: &str) -> Option<i64> {
    segment
        .strip_prefix('v')
        .and_then(|v| v.parse().ok())
        .filter(|v| *v >= 1)
}

async fn found(app: &Shared, name: &str, version: &str) -> Result<ReleaseRecord, WebError> {
    let version = version_of(version).ok_or(WebError::NotFound)?;
    app.catalog
        .release(name, Some(version))
        .await?
        .ok_or(WebError::NotFound)
}

async fn release(
    State(app): State<Shared>,
    viewer: Viewer,
    Path((name, segment)): Path<(String, String)>,
) -> Result<Response, WebError> {
    for format in [Format::TarGz, Format::Zip] {
        if let Some(version) = segment.strip_suffix(&format!(".{}", format.extension())) {
            let r = found(&app, &name, version).await?;
            return Ok(download(&app, &r, format));
        }
    }
    let r = found(&app, &name, &segment).await?;
    let (card, changes, sums) = {
        let published = Published::open(app.blobs(), &r.manifest_sha256).map_err(internal(&r))?;
        let text = |file: &str| -> Result<String, WebError> {
            let bytes = published.read(file).map_err(internal(&r))?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        };
        (
            text("README.md")?,
            text("CHANGELOG.md")?,
            text("SHA256SUMS")?,
        )
    };
    let base = format!("/releases/{}/v{}", r.name, r.version);
    let title = format!("{} v{}", r.name, r.version);
    // The release records its coordinator's email; the public page shows their name, or
    // nobody if the account is gone.
    let by = app
        .platform
        .account_by_email(&r.created_by)
        .await?
        .map(|a| a.name)
        .filter(|n| !n.trim().is_empty());
    let body = html! {
        p { a href="/releases" { "All datasets" } }
        section.downloads {
            h2 { "Download" }
            p {
                a.button href=(format!("{base}.tar.gz")) download { (format!("{}-v{}.tar.gz", r.name, r.version)) }
                " "
                a.button href=(format!("{base}.zip")) download { (format!("{}-v{}.zip", r.name, r.version)) }
            }
            p {
                (r.files) " files, " (stored_size(r.bytes)) " unpacked. Released " (date(r.created_at)) @if let Some(by) = &by { " by " (by) } ". "
                "From the command line: " code { "lunghub release download " (app.link(&base)) }
            }
            p {
                "sha256 of " a href=(format!("{base}/SHA256SUMS")) { "SHA256SUMS" } ": " code { (r.manifest_sha256) }
                ". Check a download with " code { "lunghub release verify DIR" } " or " code { "sha256sum --check SHA256SUMS" } "."
            }
            p { a href=(format!("{base}/croissant.json")) { "Croissant metadata" } " · " a href=(format!("{base}/README.md")) { "Card as Markdown" } }
        }
        article.dataset-card { (PreEscaped(lunghub_release::card::body_html(&card))) }
        section {
            (PreEscaped(lunghub_release::card::body_html(&changes)))
        }
        details {
            summary { "Checksums of every file (" (sums.lines().count()) ")" }
            pre { (sums) }
        }
    };
    Ok(page(&viewer, &title, body).into_response())
}

async fn release_file(
    State(app): State<Shared>,
    Path((name, version, file)): Path<(String, String, String)>,
) -> Result<Response, WebError> {
    let (file, media) = SINGLE_FILES
        .iter()
        .find(|(f, _)| *f == file)
        .ok_or(WebError::NotFound)?;
    let r = found(&app, &name, &version).await?;
    let published = Published::open(app.blobs(), &r.manifest_sha256).map_err(internal(&r))?;
    let bytes = published.read(file).map_err(internal(&r))?;
    Ok(([(header::CONTENT_TYPE, *media)], bytes).into_response())
}

/// A release the catalog names whose files cannot be read is the server's fault.
fn internal(r: &ReleaseRecord) -> impl Fn(lunghub_release::ReleaseError) -> WebError + '_ {
    move |e| WebError::Internal(format!("release {} v{}: {e}", r.name, r.version))
}

/// The release as an archive, written by a blocking thread from the blob store into a
/// channel that the response body reads: memory stays at one file and a few chunks, whatever
/// the release's size. A client that goes away closes the channel, and the writer stops at
/// its next chunk.
fn download(app: &Shared, r: &ReleaseRecord, format: Format) -> Response {
    download_some(app, r, format, None, format!("{}-v{}", r.name, r.version))
}

/// [`download`] of some of a release's files only (`only`, in path order), under `prefix`.
pub(crate) fn download_some(
    app: &Shared,
    r: &ReleaseRecord,
    format: Format,
    only: Option<Vec<String>>,
    prefix: String,
) -> Response {
    let blobs = IntakeBlobs(app.intake.clone());
    let manifest = r.manifest_sha256.clone();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, io::Error>>(8);
    let label = format!("{prefix}.{}", format.extension());
    let what = label.clone();
    tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        let result = Published::open(blobs.as_ref(), &manifest)
            .and_then(|published| match only {
                Some(names) => archive::write(
                    &super::challenges::Only {
                        inner: published,
                        names,
                    },
                    &prefix,
                    format,
                    &mut out,
                ),
                None => archive::write(&published, &prefix, format, &mut out),
            })
            .and_then(|()| {
                out.flush()
                    .map_err(|e| lunghub_release::ReleaseError::Input(e.to_string()))
            });
        if let Err(e) = result {
            // A client that left is no error of ours; anything else is logged and cuts the
            // body short, so the client sees a broken download rather than a wrong one.
            if !tx.is_closed() {
                eprintln!("error: streaming {what}: {e}");
                let _ = tx.blocking_send(Err(io::Error::other(e.to_string())));
            }
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    (
        [
            (header::CONTENT_TYPE, format.media_type().to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{label}\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

const CHUNK: usize = 256 * 1024;

struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, io::Error>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// The blob store, held through the intake service so it can move to the writer's thread.
struct IntakeBlobs(Arc<lunghub_intake::IntakeService>);

impl AsRef<Blobs> for IntakeBlobs {
    fn as_ref(&self) -> &Blobs {
        &self.0.intake().blobs
    }
}

/// What the form offers to pick from, read from the catalog.
struct Choices {
    sites: Vec<(String, String)>,
    sources: Vec<String>,
    views: Vec<String>,
    approved: usize,
}

async fn choices(app: &Shared) -> Result<Choices, WebError> {
    let approved = app.catalog.approved_items().await?;
    let mut sites = BTreeMap::new();
    let mut sources = std::collections::BTreeSet::new();
    let mut views = std::collections::BTreeSet::new();
    for i in &approved {
        sites.insert(i.site_id.clone(), i.site_name.clone());
        sources.insert(lunghub_release::plan::source_of(i).to_owned());
        if let Some(v) = &i.view {
            views.insert(v.clone());
        }
    }
    Ok(Choices {
        sites: sites.into_iter().collect(),
        sources: sources.into_iter().collect(),
        views: views.into_iter().collect(),
        approved: approved.len(),
    })
}

const MODALITIES: [(&str, &str); 4] = [
    ("X-ray", "X-ray (CR and DX)"),
    ("CR", "CR only"),
    ("DX", "DX only"),
    ("US", "Ultrasound"),
];

fn form_page(
    viewer: &Viewer,
    c: &Choices,
    f: &Fields,
    builds: &[(String, Build)],
    list: &[String],
) -> axum::response::Html<String> {
    let checked = |key: &str, value: &str| f.all(key).contains(&value);
    let or = |key: &str, default: &str| {
        let v = f.get(key);
        if v.is_empty() {
            default.to_owned()
        } else {
            v.to_owned()
        }
    };
    let boxes = |key: &str, options: &[(String, String)]| -> Markup {
        html! {
            @for (value, label) in options {
                label.check { input type="checkbox" name=(key) value=(value) checked[checked(key, value)]; " " (label) }
            }
        }
    };
    let pairs = |v: &[String]| v.iter().map(|s| (s.clone(), s.clone())).collect::<Vec<_>>();
    let body = html! {
        h1 { "Create a release" }
        p { (count(c.approved, "approved item")) " in the catalog. A release freezes the approved, labelled still images that match the filters into the next version of its name; ticking nothing in a group takes everything. It is split by patient, stratified by finding and source; patients of an earlier version keep their split." }
        @if !builds.is_empty() {
            h2 { "Recent releases written here" }
            ul {
                @for (name, b) in builds {
                    li {
                        @match b {
                            Build::Writing { done, total } => { (name) ": writing, " (done) " of " (total) " images. Reload to follow." }
                            Build::Done { version } => { a href=(format!("/releases/{name}/v{version}")) { (name) " v" (version) } " is released." }
                            Build::Failed { why } => { (name) ": failed: " (why) }
                        }
                    }
                }
            }
        }
        (problems(viewer.lang, list))
        form method="post" action="/coord/releases" {
            (csrf(viewer))
            label { "Name (lowercase letters, digits and -)" input type="text" name="name" required pattern="[a-z0-9][a-z0-9-]{0,63}" value=(f.get("name")); }
            fieldset { legend { "Modality" } (boxes("modality", &MODALITIES.map(|(v, l)| (v.to_owned(), l.to_owned())))) }
            fieldset { legend { "Finding (takes the findings under it too)" } (boxes("finding", &lunghub_domain::Finding::known_paths().map(|p| (p.to_owned(), p.to_owned())).collect::<Vec<_>>())) }
            fieldset { legend { "Site" } (boxes("site", &c.sites)) }
            fieldset { legend { "Source" } (boxes("source", &pairs(&c.sources))) }
            fieldset { legend { "View" } (boxes("view", &pairs(&c.views))) }
            label { "Taken in from (YYYY-MM-DD)" input type="date" name="from" value=(f.get("from")); }
            label { "Taken in up to (YYYY-MM-DD)" input type="date" name="to" value=(f.get("to")); }
            label { "Licences, one SOURCE=LICENCE per line (the card names each source's licence)"
                textarea name="licences" rows="4" { (f.get("licences")) } }
            label { "Seed of the split" input type="number" name="seed" min="0" value=(or("seed", "2020")); }
            label { "Shares of patients: train, validation, test" input type="text" name="shares" value=(or("shares", "70,15,15")); }
            button type="submit" { "Create the release" }
        }
    };
    page(viewer, "Create a release", body)
}

async fn new_form(State(app): State<Shared>, viewer: Viewer) -> Result<Response, WebError> {
    viewer.require(Action::CreateReleases, "/coord/releases")?;
    let c = choices(&app).await?;
    Ok(form_page(
        &viewer,
        &c,
        &Fields::default(),
        &app.release_builds.all(),
        &[],
    )
    .into_response())
}

async fn create(
    State(app): State<Shared>,
    viewer: Viewer,
    FormFields(fields): FormFields,
) -> Result<Response, WebError> {
    let by = viewer
        .require(Action::CreateReleases, "/coord/releases")?
        .email
        .clone();
    let mut p = Problems::default();
    let name = p.text(&fields, "name", "Name", true, 64, false);
    let licences_text = p.text(&fields, "licences", "Licences", false, 4000, true);
    let owned = |key: &str| {
        fields
            .all(key)
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let day = |key: &str| Some(fields.get(key).trim().to_owned()).filter(|d| !d.is_empty());
    let selection = Selection {
        modalities: owned("modality"),
        findings: owned("finding"),
        sites: owned("site"),
        sources: owned("source"),
        views: owned("view"),
        from: day("from"),
        to: day("to"),
    };
    let seed = match fields.get("seed").trim() {
        "" => Some(2020),
        s => s.parse::<u64>().ok(),
    };
    if seed.is_none() {
        p.add("The seed must be a whole number, 0 or more.");
    }
    let shares = lunghub_release::parse_shares(fields.get("shares").trim())
        .map_err(|e| p.add(e.to_string()))
        .ok();
    let licences = lunghub_release::parse_licences(&licences_text.lines().collect::<Vec<_>>())
        .map_err(|e| p.add(e.to_string()))
        .ok();
    if let Err(e) = lunghub_release::plan::check_name(&name).and_then(|()| selection.validate()) {
        p.add(e.to_string());
    }
    if app.release_builds.is_writing(&name) {
        p.add(format!(
            "{name} is being written already: wait for it to finish."
        ));
    }
    let (Some(seed), Some(shares), Some(licences)) = (seed, shares, licences) else {
        return show_again(&app, &viewer, &fields, p).await;
    };
    if !p.is_empty() {
        return show_again(&app, &viewer, &fields, p).await;
    }
    let request = Request {
        name: name.clone(),
        seed,
        shares,
        selection,
        licences,
        created_by: by,
    };
    app.release_builds
        .set(&name, Build::Writing { done: 0, total: 0 });
    let task_app = app.clone();
    tokio::spawn(async move {
        let progress_app = task_app.clone();
        let progress_name = name.clone();
        let progress = Arc::new(move |done: usize, total: usize| {
            progress_app
                .release_builds
                .set(&progress_name, Build::Writing { done, total });
        });
        let blobs = IntakeBlobs(task_app.intake.clone());
        let outcome = lunghub_release::create(
            &task_app.catalog,
            blobs,
            &task_app.release_staging,
            request,
            progress,
        )
        .await;
        let build = match outcome {
            Ok((record, _)) => {
                if let Err(e) = super::events::draft_for_release(&task_app, &record).await {
                    eprintln!("error: release {name}: cannot draft its news post: {e}");
                }
                Build::Done {
                    version: record.version,
                }
            }
            Err(e) => {
                eprintln!("error: release {name}: {e}");
                Build::Failed { why: e.to_string() }
            }
        };
        task_app.release_builds.set(&name, build);
    });
    Ok(see_other("/coord/releases"))
}

async fn show_again(
    app: &Shared,
    viewer: &Viewer,
    fields: &Fields,
    p: Problems,
) -> Result<Response, WebError> {
    let c = choices(app).await?;
    Ok(with_status(
        StatusCode::BAD_REQUEST,
        form_page(viewer, &c, fields, &app.release_builds.all(), &p.0),
    ))
}
