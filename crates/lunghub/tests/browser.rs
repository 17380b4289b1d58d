//! The site in a real browser: the real `lunghub serve` driven through headless Chromium
//! with chromedriver's W3C WebDriver protocol, the way people use it.
//!
//! - A data scientist signs up with the form, confirms the address with the link from the
//!   outbox, signs in and lands on their account page.
//! - A coordinator adds an institute and takes it through all seven onboarding stages with
//!   the stage form, a note each time; after every move the public `/status` table (as an
//!   anonymous visitor sees it, through its cache) shows the new stage, and the institute's
//!   history lists every move.
//! - The admin makes someone a hospital uploader in the accounts table; the uploader is
//!   refused the coordinators' pages ("Not allowed") and is not offered them in the menu.
//!
//! - A visitor switches the site to Italian with the header's switch: the page comes back
//!   in Italian, and every public page then has `html lang="it"` and no English text.
//!
//! Key pages are photographed at desktop (1280×900) and phone (390×844) width, whole page,
//! into `$LUNGHUB_ARTIFACTS/screenshots` (else `$CARGO_TARGET_DIR/artifacts/screenshots`),
//! for people to look at. Chromium and chromedriver are required, never skipped:
//! `bash .ci/run` installs them.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::server::{Client, Server};
use lunghub_domain::Stage;
use serde_json::{Value, json};

/// How long to wait for something that should happen at once (a page, an element).
const PATIENCE: Duration = Duration::from_secs(20);

const DESKTOP: (u32, u32) = (1280, 900);
const PHONE: (u32, u32) = (390, 844);

const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
];

/// The key W3C WebDriver uses for an element reference in JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A program the browser tests need; missing is a failure that says how to get it.
fn require(name: &str) -> PathBuf {
    let paths = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&paths)
        .map(|p| p.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} is not installed: the browser tests need Debian's chromium and \
                 chromium-driver; run the tests through `bash .ci/run`, which installs them"
            )
        })
}

/// chromedriver, killed when dropped (also when the test panics half-way through a start).
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start() -> Driver {
        let program = require("chromedriver");
        // Port 0 lets chromedriver pick a free port and print it: no race between tests.
        let mut child = Command::new(&program)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let stdout = child.stdout.take().expect("chromedriver's stdout is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        // Keeps reading after the port line, so that chromedriver never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("started successfully on port ").nth(1) {
                    let _ = tx.send(rest.trim_end_matches('.').trim().parse::<u16>().ok());
                }
            }
        });
        let port = rx.recv_timeout(PATIENCE).ok().flatten();
        let mut driver = Driver { child, port: 0 };
        driver.port = port.unwrap_or_else(|| {
            panic!("chromedriver did not say which port it listens on within {PATIENCE:?}")
        });
        driver
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A WebDriver error answer: its `error` code and `message`.
#[derive(Debug)]
struct WebDriverError {
    error: String,
    message: String,
}

/// One headless Chromium session on the site at `base`.
struct Browser {
    http: reqwest::Client,
    base: String,
    session: String,
    driver: Driver,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start(base: &str) -> Browser {
        let chromium = require("chromium");
        let driver = Driver::start();
        let http = common::http()
            .timeout(Duration::from_secs(120))
            .build()
            .expect("HTTP client for chromedriver");
        let deadline = Instant::now() + PATIENCE;
        loop {
            let ready = match http.get(driver.url("/status")).send().await {
                Ok(r) => r
                    .text()
                    .await
                    .ok()
                    .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                    .is_some_and(|v| v["value"]["ready"] == true),
                Err(_) => false,
            };
            if ready {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not get ready within {PATIENCE:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().expect("a temporary Chromium profile");
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium, "args": args },
        } } });
        let (_, value) = exchange(http.post(driver.url("/session")), Some(&capabilities))
            .await
            .unwrap_or_else(|e| panic!("POST /session: {e}"));
        let session = value["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("Chromium did not start: {value}"))
            .to_owned();
        let browser = Browser {
            http,
            base: base.to_owned(),
            session,
            driver,
            _profile: profile,
        };
        browser.set_viewport(DESKTOP).await;
        browser
    }

    /// One WebDriver command of this session; `path` is relative to the session.
    async fn try_command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, WebDriverError> {
        let url = self.driver.url(&format!("/session/{}{path}", self.session));
        // WebDriver wants a JSON object with every POST, even an empty one.
        let body = (method == reqwest::Method::POST).then(|| body.unwrap_or_else(|| json!({})));
        let request = self.http.request(method.clone(), &url);
        let (ok, mut answer) = exchange(request, body.as_ref())
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let value = answer["value"].take();
        if ok {
            Ok(value)
        } else {
            Err(WebDriverError {
                error: value["error"]
                    .as_str()
                    .unwrap_or("unknown error")
                    .to_owned(),
                message: value["message"].as_str().unwrap_or_default().to_owned(),
            })
        }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.try_command(method.clone(), path, body)
            .await
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {}: {}", e.error, e.message))
    }

    /// Opens a path of the site, or an absolute link (from an email).
    async fn open(&self, path_or_url: &str) {
        let url = if path_or_url.starts_with("http") {
            path_or_url.to_owned()
        } else {
            format!("{}{path_or_url}", self.base)
        };
        self.command(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// The path of the page shown (with its query).
    async fn path(&self) -> String {
        let url = self.command(reqwest::Method::GET, "/url", None).await;
        let url = url.as_str().expect("the URL is a string");
        url.strip_prefix(&self.base).unwrap_or(url).to_owned()
    }

    async fn title(&self) -> String {
        let title = self.command(reqwest::Method::GET, "/title", None).await;
        title.as_str().expect("the title is a string").to_owned()
    }

    async fn source(&self) -> String {
        let source = self.command(reqwest::Method::GET, "/source", None).await;
        source
            .as_str()
            .expect("the page source is a string")
            .to_owned()
    }

    async fn script(&self, script: &str) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
        .await
    }

    /// The first element matching `css`, waiting a little for it to appear.
    async fn find(&self, css: &str) -> Element<'_> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match self.try_find("", css).await {
                Ok(e) => return e,
                // Not there yet, or the document is still being replaced.
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!(
                    "no {css} on {} within {PATIENCE:?} ({}): page:\n{}",
                    self.path().await,
                    e.error,
                    self.source().await
                ),
            }
        }
    }

    async fn try_find(&self, scope: &str, css: &str) -> Result<Element<'_>, WebDriverError> {
        let body = json!({ "using": "css selector", "value": css });
        let found = self
            .try_command(
                reqwest::Method::POST,
                &format!("{scope}/element"),
                Some(body),
            )
            .await?;
        Ok(Element {
            browser: self,
            id: element_id(&found),
        })
    }

    /// Every element matching `css` now (no waiting: also for checking that there is none).
    async fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let body = json!({ "using": "css selector", "value": css });
        let found = self
            .command(reqwest::Method::POST, "/elements", Some(body))
            .await;
        found
            .as_array()
            .expect("a list of elements")
            .iter()
            .map(|v| Element {
                browser: self,
                id: element_id(v),
            })
            .collect()
    }

    async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await
    }

    /// Makes the page area (not the window) `width`×`height` CSS pixels: the window frame
    /// of headless Chromium takes some room, so the window is grown by what is missing.
    async fn set_viewport(&self, (width, height): (u32, u32)) {
        let mut window = (width, height);
        for _ in 0..5 {
            let rect = json!({ "width": window.0, "height": window.1 });
            self.command(reqwest::Method::POST, "/window/rect", Some(rect))
                .await;
            let inner = self
                .script("return [window.innerWidth, window.innerHeight];")
                .await;
            let inner = (
                inner[0].as_u64().expect("innerWidth") as u32,
                inner[1].as_u64().expect("innerHeight") as u32,
            );
            if inner == (width, height) {
                return;
            }
            // Grow or shrink the window by the difference; the frame's size is unknown.
            let adjust = |w: u32, want: u32, got: u32| {
                (i64::from(w) + i64::from(want) - i64::from(got)).max(100) as u32
            };
            window = (
                adjust(window.0, width, inner.0),
                adjust(window.1, height, inner.1),
            );
        }
        // A screenshot at a slightly different size is still a screenshot: the artifacts
        // are for people to look at, so this is a note, not a failure.
        eprintln!("note: the page area could not be made exactly {width}×{height}");
    }

    /// Photographs the whole page at desktop and phone width as `NAME-desktop.png` and
    /// `NAME-phone.png`, and says when the page is wider than the screen.
    async fn snapshot(&self, name: &str) {
        let dir = screenshot_dir();
        for (size, (width, height)) in [("desktop", DESKTOP), ("phone", PHONE)] {
            self.set_viewport((width, height)).await;
            let page = self
                .script("return [document.documentElement.scrollWidth, document.documentElement.scrollHeight];")
                .await;
            let page_width = page[0].as_u64().expect("scrollWidth");
            let page_height = page[1].as_u64().expect("scrollHeight") as u32;
            if page_width > u64::from(width) {
                println!(
                    "layout: {name} at {size} width is {page_width} px wide, wider than the {width} px screen"
                );
            }
            // A window as tall as the page, so that one screenshot shows all of it.
            self.set_viewport((width, page_height.max(height))).await;
            let png = self.screenshot().await;
            let (w, _) = png_size(&png);
            assert_eq!(
                w, width,
                "the {size} screenshot of {name} has the wrong width"
            );
            let file = dir.join(format!("{name}-{size}.png"));
            std::fs::write(&file, png)
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", file.display()));
        }
        self.set_viewport(DESKTOP).await;
    }

    async fn screenshot(&self) -> Vec<u8> {
        let encoded = self
            .command(reqwest::Method::GET, "/screenshot", None)
            .await;
        base64_decode(encoded.as_str().expect("the screenshot is base64 text"))
    }

    /// Clicks the link or submit button `css` and waits for the page it leads to.
    async fn follow(&self, css: &str) {
        self.find(css).await.click_and_load().await;
    }

    /// Fills the form field `css` (after emptying it).
    async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await;
        field.type_text(text).await;
    }

    /// The h1 of the page shown.
    async fn heading(&self) -> String {
        self.text("h1").await
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session closes Chromium, which killing chromedriver alone would leave
        // running. Plain blocking HTTP, because Drop cannot await.
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.driver.port)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
            let _ = write!(
                stream,
                "DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.session, self.driver.port
            );
            // chromedriver keeps the connection open, so read just the one answer: the
            // session is gone once it has come.
            let mut answer = BufReader::new(stream);
            let mut length = 0;
            let mut line = String::new();
            while answer.read_line(&mut line).is_ok_and(|n| n > 0) && !line.trim().is_empty() {
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let _ = answer.read_exact(&mut vec![0; length]);
        }
    }
}

/// Sends a request with an optional JSON body; returns whether it succeeded, and the JSON
/// answer (reqwest is built without its JSON feature here).
async fn exchange(
    request: reqwest::RequestBuilder,
    body: Option<&Value>,
) -> Result<(bool, Value), String> {
    let request = match body {
        Some(b) => request
            .header("content-type", "application/json")
            .body(b.to_string()),
        None => request,
    };
    let response = request
        .send()
        .await
        .map_err(|e| format!("chromedriver did not answer: {e}"))?;
    let ok = response.status().is_success();
    let text = response
        .text()
        .await
        .map_err(|e| format!("chromedriver's answer could not be read: {e}"))?;
    let value = serde_json::from_str(&text)
        .map_err(|e| format!("chromedriver's answer is not JSON ({e}): {text}"))?;
    Ok((ok, value))
}

fn element_id(found: &Value) -> String {
    found[ELEMENT_KEY]
        .as_str()
        .unwrap_or_else(|| panic!("not an element reference: {found}"))
        .to_owned()
}

struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

impl Element<'_> {
    async fn command(&self, method: reqwest::Method, what: &str, body: Option<Value>) -> Value {
        self.browser
            .command(method, &format!("/element/{}{what}", self.id), body)
            .await
    }

    /// Clicks (a checkbox, an option): use `click_and_load` for what leads to another page.
    async fn click(&self) {
        self.command(reqwest::Method::POST, "/click", None).await;
    }

    /// Clicks a link or submit button and waits until the page it leads to has replaced
    /// this one: chromedriver's click may answer before a form's answer has arrived.
    async fn click_and_load(&self) {
        let browser = self.browser;
        let old_page = browser.find("html").await;
        self.click().await;
        let deadline = Instant::now() + PATIENCE;
        loop {
            let path = format!("/element/{}/name", old_page.id);
            match browser.try_command(reqwest::Method::GET, &path, None).await {
                // Stale or gone: the new page is there. Any other error (Chromium says
                // several things while a document is being replaced) means the same; the
                // next lookup waits for the new page's elements anyway.
                Err(_) => break,
                Ok(_) => {
                    assert!(
                        Instant::now() < deadline,
                        "the click on {} led nowhere within {PATIENCE:?}",
                        browser.path().await
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        while browser.script("return document.readyState;").await != "complete" {
            assert!(
                Instant::now() < deadline,
                "the next page did not load within {PATIENCE:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn type_text(&self, text: &str) {
        self.command(
            reqwest::Method::POST,
            "/value",
            Some(json!({ "text": text })),
        )
        .await;
    }

    async fn clear(&self) {
        self.command(reqwest::Method::POST, "/clear", None).await;
    }

    /// The rendered text, as a person reads it.
    async fn text(&self) -> String {
        let text = self.command(reqwest::Method::GET, "/text", None).await;
        text.as_str().expect("text is a string").to_owned()
    }

    /// A DOM property, like an input's `value`.
    async fn property(&self, name: &str) -> Value {
        self.command(reqwest::Method::GET, &format!("/property/{name}"), None)
            .await
    }

    async fn is_selected(&self) -> bool {
        self.command(reqwest::Method::GET, "/selected", None).await == true
    }

    /// The first element inside this one matching `css`.
    async fn find(&self, css: &str) -> Element<'_> {
        self.browser
            .try_find(&format!("/element/{}", self.id), css)
            .await
            .unwrap_or_else(|e| panic!("no {css} inside the element: {}: {}", e.error, e.message))
    }
}

/// Where screenshots go: `$LUNGHUB_ARTIFACTS/screenshots`, else
/// `$CARGO_TARGET_DIR/artifacts/screenshots`, else the workspace's `target/`.
fn screenshot_dir() -> PathBuf {
    let dir = if let Some(artifacts) = std::env::var_os("LUNGHUB_ARTIFACTS") {
        PathBuf::from(artifacts).join("screenshots")
    } else if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        PathBuf::from(target).join("artifacts/screenshots")
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/artifacts/screenshots")
    };
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// Width and height from a PNG's header.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(
        png.len() > 24 && png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "the screenshot is not a PNG"
    );
    let be = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().expect("four bytes"));
    (be(16), be(20))
}

/// Standard base64 (WebDriver's screenshots), without a crate for one use.
fn base64_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut bits, mut held) = (0u32, 0u32);
    for c in text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
    {
        let six = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {:?}", c as char),
        };
        bits = (bits << 6) | u32::from(six);
        held += 6;
        if held >= 8 {
            held -= 8;
            out.push((bits >> held) as u8);
            bits &= (1 << held) - 1;
        }
    }
    out
}

/// Signs up (as a frontline doctor, through plain HTTP: the browser part is tested
/// elsewhere) and confirms the address with the link from the outbox.
async fn confirmed_member(server: &Server, name: &str, email: &str, password: &str) {
    let c = server.client();
    assert_eq!(c.get("/join/frontline-doctor").await.status, 200);
    let r = c
        .post(
            "/join/frontline-doctor",
            &[
                ("name", name),
                ("email", email),
                ("institution", "Policlinico di Test"),
                ("location", "Pavia, Italy"),
                ("password", password),
                ("password2", password),
            ],
        )
        .await;
    assert!(
        r.status == 200 && r.body.contains("Check your email"),
        "sign-up failed: {}",
        r.body
    );
    let r = c.get(&server.link_in_mail(email, "/confirm/").await).await;
    assert!(
        r.body.contains("Email confirmed"),
        "confirmation failed: {}",
        r.body
    );
}

/// The admin (signed in with the one-time link) gives the account of `email` a role.
async fn admin_sets_role(server: &Server, email: &str, role: &str, site: &str) {
    let admin = server.client();
    let r = admin.get(&server.admin_link).await;
    assert_eq!(r.status, 303, "the admin link does not sign in");
    let page = admin.get("/admin/accounts").await;
    assert_eq!(page.status, 200);
    // The role form follows the email in the account's row.
    let row = page
        .body
        .find(&format!(">{email}<"))
        .unwrap_or_else(|| panic!("{email} is not listed:\n{}", page.body));
    let action = &page.body[row..];
    let start = action
        .find("action=\"/admin/accounts/")
        .expect("the row has a role form")
        + "action=\"".len();
    let end = start + action[start..].find('"').expect("the action ends");
    let r = admin
        .post(&action[start..end], &[("role", role), ("site", site)])
        .await;
    assert_eq!(r.status, 303, "setting the role failed: {}", r.body);
}

/// The Status cell of `institute` in the public table, as an anonymous visitor gets it.
async fn public_status(anonymous: &Client, institute: &str) -> String {
    let r = anonymous.get("/status").await;
    assert_eq!(r.status, 200);
    let table = &r.body[r
        .body
        .find("id=\"status\"")
        .expect("the page has table#status")..];
    let row = table
        .split("<tr")
        .find(|row| row.contains(&format!(">{institute}</td>")))
        .unwrap_or_else(|| panic!("{institute} is not in the public table:\n{table}"));
    let cell = &row[row
        .find("data-label=\"Status\"")
        .expect("the row has a Status cell")..];
    let cell = &cell
        [cell.find('>').expect("the cell opens") + 1..cell.find("</td>").expect("the cell closes")];
    strip_tags(cell)
}

fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Signs in with the form on /signin and insists on landing on the account page.
async fn sign_in(browser: &Browser, email: &str, password: &str) {
    browser.open("/signin").await;
    browser.fill("#email", email).await;
    browser.fill("#password", password).await;
    browser.follow("main form button[type=submit]").await;
    assert_eq!(
        browser.path().await,
        "/account",
        "signing in did not lead to the account page"
    );
}

#[tokio::test]
async fn a_data_scientist_signs_up_confirms_and_signs_in() {
    let started = Instant::now();
    let server = Server::start(None);
    let browser = Browser::start(&server.base).await;

    browser.open("/").await;
    assert!(
        browser.title().await.ends_with("lunghub"),
        "title: {}",
        browser.title().await
    );
    assert_eq!(
        browser.heading().await,
        "Open medical imaging against COVID-19"
    );
    browser.snapshot("home").await;

    browser.follow("main a.button[href='/help']").await;
    assert_eq!(browser.heading().await, "How you can help");
    browser.snapshot("help").await;

    browser.follow("main a[href='/join/data-scientist']").await;
    assert_eq!(browser.path().await, "/join/data-scientist");
    assert_eq!(browser.heading().await, "Sign up: Data scientist");
    let (name, email, password) = ("Grace Hopper", "grace@example.org", "correct horse battery");
    browser.fill("#name", name).await;
    browser.fill("#email", email).await;
    browser.fill("#affiliation", "Università di Test").await;
    browser.fill("#profile", "https://github.com/grace").await;
    browser.fill("#password", password).await;
    browser.fill("#password2", password).await;
    browser.find("input[name=listed]").await.click().await;
    browser.snapshot("signup").await;
    browser.follow("main form button[type=submit]").await;
    assert_eq!(browser.heading().await, "Check your email");
    assert!(browser.text("main .notice").await.contains(email));

    browser
        .open(&server.link_in_mail(email, "/confirm/").await)
        .await;
    assert_eq!(browser.heading().await, "Email confirmed");

    // From the confirmation page on, the way a person goes: its button, then the form.
    browser.follow("main a.button[href='/signin']").await;
    browser.fill("#email", email).await;
    browser.fill("#password", password).await;
    browser.follow("main form button[type=submit]").await;
    assert_eq!(browser.path().await, "/account");
    assert_eq!(browser.heading().await, "Your account");
    let panel = browser.text("main .panel").await;
    assert!(
        panel.contains(name) && panel.contains(email),
        "account panel: {panel}"
    );
    assert!(
        panel.contains("Role: Data scientist"),
        "account panel: {panel}"
    );
    assert_eq!(
        browser.text("header .account a[href='/account']").await,
        name
    );

    println!("screenshots in {}", screenshot_dir().display());
    println!("sign-up test took {:.1} s", started.elapsed().as_secs_f64());
}

#[tokio::test]
async fn a_coordinator_takes_a_hospital_through_all_seven_stages() {
    let started = Instant::now();
    let server = Server::start(None);
    let (email, password) = ("ada@example.org", "analytical engine");
    confirmed_member(&server, "Ada Lovelace", email, password).await;
    admin_sets_role(&server, email, "coordinator", "").await;

    let browser = Browser::start(&server.base).await;
    sign_in(&browser, email, password).await;
    browser.follow("header nav a[href='/coord']").await;
    assert_eq!(browser.heading().await, "Hospital onboarding");
    browser.follow("main a[href='/coord/institutes/new']").await;
    assert_eq!(browser.heading().await, "Add an institute");

    let institute = "Ospedale San Matteo";
    browser.fill("#name", institute).await;
    browser.fill("#location", "Pavia, Italy").await;
    browser
        .find("input[name=requested][value=xray-covid]")
        .await
        .click()
        .await;
    browser
        .find("input[name=requested][value=ultrasound-lung]")
        .await
        .click()
        .await;
    // Ethics approval stays required, so that the forward button visits every stage.
    assert!(
        !browser
            .find("input[name=ethics_not_required]")
            .await
            .is_selected()
            .await
    );
    browser
        .fill("#contacts", "Dr. Rossi, radiology, rossi@example.org")
        .await;
    browser
        .fill("#notes", "Met at the regional COVID-19 task force.")
        .await;
    browser.follow("main form button[type=submit]").await;
    let institute_path = browser.path().await;
    assert!(
        institute_path.starts_with("/coord/institutes/"),
        "after adding: {institute_path}"
    );
    assert_eq!(browser.heading().await, institute);
    assert_eq!(
        browser.text("ol.steps li.current").await,
        "1. First contact"
    );

    // An anonymous visitor's view is cached for seconds: loading it now makes every later
    // check prove that a move clears the cache.
    let anonymous = server.client();
    assert_eq!(
        public_status(&anonymous, institute).await,
        "1/7 · First contact"
    );

    let mut notes = Vec::new();
    for pair in Stage::ALL.windows(2) {
        let (from, to) = (pair[0], pair[1]);
        let note = format!(
            "Moved on to {} after the call of day {}.",
            to.label(),
            to.number()
        );
        browser.fill("#note", &note).await;
        browser.follow("button[name=move][value=forward]").await;
        assert_eq!(browser.path().await, institute_path, "moving from {from}");
        assert_eq!(
            browser.find_all(".problems").await.len(),
            0,
            "moving from {from}: {}",
            browser.source().await
        );
        assert_eq!(
            browser.text("ol.steps li.current").await,
            format!("{}. {}", to.number(), to.label())
        );
        let latest = browser.text("ol.history li").await;
        assert!(
            latest.contains(&format!("{} → {}", from.label(), to.label()))
                && latest.contains(&note),
            "latest history entry: {latest}"
        );
        assert_eq!(
            public_status(&anonymous, institute).await,
            format!("{}/7 · {}", to.number(), to.label()),
            "the public table after moving from {from}"
        );
        notes.push((from, to, note));
    }
    assert!(
        browser
            .find_all("button[name=move][value=forward]")
            .await
            .is_empty(),
        "a forward button at the last stage"
    );

    // Newest first: the six moves, then the addition.
    let history = browser.find_all("ol.history li").await;
    assert_eq!(
        history.len(),
        7,
        "one entry per move and one for the addition"
    );
    for (entry, (from, to, note)) in history.iter().zip(notes.iter().rev()) {
        let text = entry.text().await;
        assert!(
            text.contains(&format!("{} → {}", from.label(), to.label())) && text.contains(note),
            "history entry: {text}"
        );
        assert!(
            text.contains(email),
            "the history names who moved it: {text}"
        );
    }
    assert!(history[6].text().await.contains("Added at “First contact”"));
    browser.snapshot("institute").await;

    browser.open("/status").await;
    let row = browser.text("table#status tbody tr").await;
    assert!(
        row.contains(institute) && row.contains("7/7 · Dataset available"),
        "status row: {row}"
    );
    assert!(
        row.contains("X-ray COVID-19") && row.contains("Ultrasound lung"),
        "status row: {row}"
    );
    browser.snapshot("status").await;

    browser.open("/coord").await;
    browser.snapshot("coord").await;

    println!("screenshots in {}", screenshot_dir().display());
    println!(
        "coordinator test took {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test]
async fn a_hospital_uploader_may_not_open_the_coordinators_pages() {
    let started = Instant::now();
    let server = Server::start(None);
    let (email, password) = ("uploader@hospital.example.org", "pacs export 2020");
    confirmed_member(&server, "Uma Uploader", email, password).await;

    // The admin, in the browser: the role form of the accounts table.
    let browser = Browser::start(&server.base).await;
    browser.open(&server.admin_link).await;
    assert_eq!(browser.path().await, "/account");
    // An uploader's site is a hospital of the onboarding tracker, picked from a list.
    browser.open("/coord/institutes/new").await;
    browser.fill("#name", "Test Hospital").await;
    browser.fill("#location", "Bergamo, Italy").await;
    browser
        .find("input[name=requested][value=xray-covid]")
        .await
        .click()
        .await;
    browser.follow("main form button[type=submit]").await;
    assert!(browser.path().await.starts_with("/coord/institutes/"));
    browser.follow("header nav a[href='/admin/accounts']").await;
    let save_role = |site: &'static str| {
        let browser = &browser;
        async move {
            let mut row = None;
            for r in browser.find_all("main table tbody tr").await {
                if r.text().await.contains(email) {
                    row = Some(r);
                }
            }
            let row = row.unwrap_or_else(|| panic!("{email} is not in the accounts table"));
            row.find("select[name=role] option[value=uploader]")
                .await
                .click()
                .await;
            row.find(&format!("select[name=site] option[value='{site}']"))
                .await
                .click()
                .await;
            row.find("button[type=submit]").await.click_and_load().await;
        }
    };
    save_role("").await;
    let problems = browser.text(".problems").await;
    assert!(
        problems.contains("must be bound to a site"),
        "an uploader without a site: {problems}"
    );
    save_role("test-hospital").await;
    assert_eq!(browser.path().await, "/admin/accounts");
    assert!(browser.find_all(".problems").await.is_empty());
    let mut saved = None;
    for row in browser.find_all("main table tbody tr").await {
        if row.text().await.contains(email) {
            let role = row.find("option[value=uploader]").await.is_selected().await;
            let site = row.find("select[name=site]").await.property("value").await;
            saved = Some((role, site.as_str().unwrap_or_default().to_owned()));
        }
    }
    let (role, site) = saved.unwrap_or_else(|| panic!("{email} left the accounts table"));
    assert!(role, "the accounts table does not show the new role");
    assert_eq!(
        site, "test-hospital",
        "the accounts table does not show the uploader's site"
    );
    browser.snapshot("admin-accounts").await;
    browser
        .follow("header form[action='/signout'] button")
        .await;
    assert!(
        !browser
            .find_all("header a[href='/signin']")
            .await
            .is_empty(),
        "still signed in after signing out"
    );

    sign_in(&browser, email, password).await;
    let role = browser.text("main .panel .meta").await;
    assert!(role.contains("Role: Hospital uploader"), "account: {role}");
    assert!(
        browser.find_all("a[href='/coord']").await.is_empty(),
        "an uploader is offered the Onboarding pages:\n{}",
        browser.source().await
    );
    for path in ["/coord", "/coord/institutes/new"] {
        browser.open(path).await;
        assert_eq!(browser.heading().await, "Not allowed", "{path}");
        assert!(browser.title().await.starts_with("Not allowed"), "{path}");
        assert!(
            browser.find_all("a[href='/coord']").await.is_empty(),
            "{path} links to the Onboarding pages"
        );
        assert!(
            !browser.source().await.contains("Onboarding"),
            "{path} mentions Onboarding"
        );
    }
    browser.snapshot("forbidden").await;

    // The browser does not show status codes; the same account through HTTP does.
    let uploader = server.client();
    uploader.get("/signin").await;
    let r = uploader
        .post(
            "/signin",
            &[
                ("email", email),
                ("password", password),
                ("next", "/account"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "sign-in over HTTP: {}", r.body);
    for path in ["/coord", "/coord/institutes/new"] {
        let r = uploader.get(path).await;
        assert_eq!(r.status, 403, "{path}");
        assert!(
            r.body.contains("<h1>Not allowed</h1>"),
            "{path}: {}",
            r.body
        );
    }

    println!("screenshots in {}", screenshot_dir().display());
    println!(
        "uploader test took {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Waits until the text of `css` contains `wanted`, and returns it.
async fn wait_for_text(browser: &Browser, css: &str, wanted: &str, patience: Duration) -> String {
    let start = Instant::now();
    loop {
        let text = browser.text(css).await;
        if text.contains(wanted) {
            return text;
        }
        assert!(
            start.elapsed() < patience,
            "{css} never said {wanted:?}; it says {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_hospital_sends_files_in_the_browser_and_a_reviewer_approves_one() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let key = common::key_file(tmp.path());
    let key_arg = key.display().to_string();
    let server = Server::start_with(None, &["--site-key", &key_arg]);
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    common::run_ok(
        common::lunghub()
            .args([
                "ingest",
                "--site",
                "Browser Hospital",
                "--format",
                "plain",
                "--site-key",
            ])
            .arg(&key)
            .arg("--data-dir")
            .arg(&server.data_dir)
            .arg(&empty),
    );
    // Six radiographs and a 16-bit DICOM with planted identity, as a hospital would send.
    let images = common::shared_data("cxr-radiographydb-dev/images");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&images)
        .expect("images")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    files.sort();
    files.truncate(6);
    let dicom = tmp.path().join("chest.dcm");
    std::fs::write(
        &dicom,
        common::fixtures::chest_dx(
            "1.2.826.0.1.3680043.8.498.77",
            "1.2.826.0.1.3680043.8.498.77.1",
            7,
            256,
        ),
    )
    .expect("write dicom");
    files.push(dicom);

    let browser = Browser::start(&server.base).await;
    browser.open(&server.admin_link).await;
    browser.open("/upload").await;
    assert_eq!(browser.heading().await, "Send images");
    browser
        .find("select[name=finding] option[value='Pneumonia/Viral/COVID-19']")
        .await
        .click()
        .await;
    browser.follow("main form button[type=submit]").await;
    assert!(browser.path().await.starts_with("/upload/batches/"));
    browser.snapshot("upload-batch-empty").await;

    // Choosing files starts the upload at once: each file shows its progress and outcome.
    let paths: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    browser
        .find("#pick-files")
        .await
        .type_text(&paths.join("\n"))
        .await;
    let summary = wait_for_text(
        &browser,
        "#upload-summary",
        "7 of 7 sent",
        Duration::from_secs(60),
    )
    .await;
    assert!(!summary.contains("failed"), "{summary}");
    let rows = browser.find_all("#upload-files tbody tr").await;
    assert_eq!(rows.len(), 7);
    for row in &rows {
        let text = row.text().await;
        assert!(
            text.contains("new") || text.contains("near-duplicate"),
            "{text}"
        );
        assert!(text.contains(" KB") || text.contains(" MB"), "{text}");
    }
    browser.snapshot("upload-batch-sent").await;

    // Sending the same files again (an interrupted upload resumed) sends nothing twice.
    browser
        .find("#pick-files")
        .await
        .type_text(&paths.join("\n"))
        .await;
    let summary = wait_for_text(
        &browser,
        "#upload-summary",
        "7 already in this batch",
        Duration::from_secs(30),
    )
    .await;
    assert!(summary.starts_with("0 of 0 sent"), "{summary}");

    // The server lists the batch by tags; reloaded, the page shows the names this browser
    // kept for them.
    let batch_path = browser.path().await;
    browser.open(&batch_path).await;
    let table = browser.text("#upload-files").await;
    assert!(table.contains("chest.dcm"), "{table}");
    // 256×256 16-bit pixels and a header: about 131 KB, in the units used while sending.
    assert!(
        table.contains("131 KB") || table.contains("132 KB"),
        "{table}"
    );

    // Review: the queue, one item in the viewer with window/level, and an approval.
    browser.open("/review").await;
    assert_eq!(browser.heading().await, "Review queue");
    assert_eq!(browser.find_all(".queue-grid figure").await.len(), 7);
    browser.snapshot("review-queue").await;
    let mut dicom_link = None;
    for figure in browser.find_all(".queue-grid figure").await {
        if figure.text().await.contains("DX") {
            dicom_link = figure
                .find("figcaption a")
                .await
                .property("href")
                .await
                .as_str()
                .map(str::to_owned);
        }
    }
    let dicom_link = dicom_link.expect("the DICOM is in the queue");
    browser.open(&dicom_link).await;
    assert!(browser.source().await.contains("16-bit image"));
    // A radiograph is offered windows from its own file and histogram, never CT's.
    assert!(browser.find_all("#preset-ct-lung").await.is_empty());
    let lung = browser.find("#preset-lung").await;
    let href = lung.property("href").await;
    let href = href.as_str().expect("the preset is a link").to_owned();
    browser.follow("#preset-lung").await;
    let wc = browser.find("#wc").await.property("value").await;
    let wc = wc.as_str().expect("the centre box has a value").to_owned();
    assert!(href.contains(&format!("wc={wc}&")), "{href} vs {wc}");
    assert_eq!(
        browser
            .script("return document.getElementById('preset-lung').getAttribute('aria-current');")
            .await
            .as_str(),
        Some("true")
    );
    // What the browser draws under the lung window is neither crushed black nor washed out.
    let deadline = Instant::now() + PATIENCE;
    let gray = loop {
        let gray = browser
            .script(
                "const img = document.getElementById('item-image');\
             if (!img.complete || img.naturalWidth === 0) { return null; }\
             const c = document.createElement('canvas');\
             c.width = img.naturalWidth; c.height = img.naturalHeight;\
             const g = c.getContext('2d'); g.drawImage(img, 0, 0);\
             const d = g.getImageData(0, 0, c.width, c.height).data;\
             let sum = 0, black = 0, n = d.length / 4;\
             for (let i = 0; i < d.length; i += 4) { sum += d[i]; if (d[i] < 8) black++; }\
             return [sum / n, black / n];",
            )
            .await;
        if !gray.is_null() || Instant::now() > deadline {
            break gray;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let gray = gray.as_array().expect("the image has loaded");
    let (mean, black) = (
        gray[0].as_f64().unwrap_or(0.0),
        gray[1].as_f64().unwrap_or(1.0),
    );
    assert!((60.0..=220.0).contains(&mean), "mean gray {mean}");
    assert!(black < 0.2, "black share {black}");
    browser.snapshot("review-item").await;
    browser.follow("#approve").await;
    assert_eq!(browser.text("#state").await, "approved");
    browser.snapshot("review-approved").await;
    println!("screenshots in {}", screenshot_dir().display());
}

#[tokio::test]
async fn a_clinician_tries_the_model_on_a_radiograph() {
    let server = Server::start(None);
    let (email, password) = ("clinician@hospital.example.org", "lungs and more lungs");
    confirmed_member(&server, "Chiara Clinician", email, password).await;
    let browser = Browser::start(&server.base).await;
    sign_in(&browser, email, password).await;
    browser.follow("header nav a[href='/model']").await;
    assert_eq!(browser.heading().await, "Try the model");
    assert!(
        browser
            .text("main")
            .await
            .contains("not a diagnostic device")
    );
    let image = common::shared_data("cxr-radiographydb-dev/images/COVID-1.png");
    browser
        .find("#image")
        .await
        .type_text(&image.display().to_string())
        .await;
    browser.follow("#score").await;
    let decision = browser.text("#decision").await;
    assert!(
        decision.contains("COVID-19") || decision.contains("rest"),
        "{decision}"
    );
    let rows = browser.find_all("#probabilities tbody tr").await;
    assert_eq!(rows.len(), 2);
    // The heatmap is a real image the browser decoded, at the radiograph's size.
    let size = browser
        .script("const i = document.querySelector('#heatmap'); return [i.complete, i.naturalWidth, i.naturalHeight];")
        .await;
    assert_eq!(size, json!([true, 224, 224]), "the heatmap did not load");
    browser.snapshot("try-the-model").await;
}

/// Issue 8 in the browser: a verified data scientist opens a challenge from the menu,
/// downloads the test images, submits predictions with the file picker and sees the score
/// on the board and in their history; a malformed file gets a line-numbered error; the
/// daily limit refuses the submission past it.
#[tokio::test]
async fn a_data_scientist_enters_a_challenge_and_meets_its_rules() {
    const ID: &str = "cxr-browser";
    let tmp = tempfile::tempdir().expect("tempdir");
    let (data_dir, _) = common::challenge::data_with_challenge(tmp.path(), ID, 2, 10, None);
    let server = Server::start_in(&data_dir, &[]);
    let (email, password) = ("dana@lab.example.org", "lungs and more lungs");
    confirmed_member(&server, "Dana Scientist", email, password).await;
    let browser = Browser::start(&server.base).await;
    sign_in(&browser, email, password).await;
    browser.follow("header nav a[href='/challenges']").await;
    assert_eq!(browser.heading().await, "Challenges");
    browser
        .follow(&format!("main table a[href='/challenges/{ID}']"))
        .await;
    assert_eq!(browser.heading().await, "COVID-19 vs rest on CXR release 1");
    assert!(
        browser
            .text("#public-leaderboard")
            .await
            .contains("lunghub baseline")
    );

    // The test images, fetched by the page itself with the browser's own session.
    let got = browser
        .script(
            "const x = new XMLHttpRequest(); \
             x.open('GET', document.querySelector('#test-images').href, false); \
             x.overrideMimeType('text/plain; charset=x-user-defined'); x.send(); \
             return [x.status, x.getResponseHeader('content-type'), x.responseText.length, \
                     x.responseText.charCodeAt(0) & 0xff, x.responseText.charCodeAt(1) & 0xff];",
        )
        .await;
    assert_eq!(got[0], json!(200), "{got}");
    assert_eq!(got[1], json!("application/zip"), "{got}");
    assert!(got[2].as_u64().is_some_and(|n| n > 100_000), "{got}");
    assert_eq!(
        (got[3].clone(), got[4].clone()),
        (json!(0x50), json!(0x4b)),
        "a zip: {got}"
    );

    let sample = server
        .client()
        .get(&format!("/challenges/{ID}/sample.csv"))
        .await
        .body;
    let send = |name: &str, text: String| {
        let path = tmp.path().join(name);
        std::fs::write(&path, text).expect("write");
        path
    };
    let submit = async |path: PathBuf| {
        browser
            .find("#predictions")
            .await
            .type_text(&path.display().to_string())
            .await;
        browser.follow("#send").await;
    };

    // A malformed file: its problems, by line, above the form.
    let bad = sample.replacen("id,probability", "id,prob", 1);
    submit(send("bad.csv", bad)).await;
    let problems = browser.text(".problems").await;
    assert!(
        problems.contains("line 1: the header is 'id,prob'"),
        "{problems}"
    );

    // A good one: scored at once, on the board and in the history.
    submit(send("good.csv", common::challenge::predictions(&sample, 7))).await;
    let score = browser.text("#history .public-score").await;
    assert!(
        score.starts_with("0.") || score.starts_with("1.0"),
        "{score}"
    );
    assert!(
        browser
            .text("#public-leaderboard")
            .await
            .contains("Dana Scientist")
    );
    assert!(
        browser
            .text("#left")
            .await
            .contains("1 of 2 submissions today")
    );
    browser.snapshot("challenge").await;

    // The second is the last of the day; the third is refused.
    submit(send(
        "second.csv",
        common::challenge::predictions(&sample, 8),
    ))
    .await;
    assert_eq!(browser.find_all("#history tr.submission").await.len(), 2);
    assert!(
        browser
            .text("#submit")
            .await
            .contains("2 of 2 submissions today")
    );
    submit(send(
        "third.csv",
        common::challenge::predictions(&sample, 9),
    ))
    .await;
    let problems = browser.text(".problems").await;
    assert!(problems.contains("today's 2 submission(s)"), "{problems}");
    assert_eq!(browser.find_all("#history tr.submission").await.len(), 2);
}

#[tokio::test]
async fn a_subscriber_gets_a_published_post_by_mail_and_leaves_with_one_click() {
    let maildir = tempfile::tempdir().expect("tempdir");
    let smtp = common::smtp::SmtpPeer::start(maildir.path());
    let server = Server::start_with(None, &["--smtp-url", &smtp.url()]);
    let browser = Browser::start(&server.base).await;
    let reader = "lettrice@example.org";
    let mail_to = |wanted: &'static str| {
        let smtp = &smtp;
        async move {
            let start = Instant::now();
            loop {
                if let Some(m) = smtp
                    .received_by(reader)
                    .into_iter()
                    .find(|m| m.contains(wanted))
                {
                    return m;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(60),
                    "no mail with {wanted:?} reached aiosmtpd"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };

    // The reader subscribes from the footer and confirms from the mail.
    browser.open("/").await;
    browser.follow("footer a[href='/subscribe']").await;
    browser.fill("#email", reader).await;
    browser.follow("main form button[type=submit]").await;
    assert_eq!(browser.heading().await, "Check your email");
    let confirmation = mail_to("/subscribe/confirm/").await;
    browser
        .open(&server.link_in(&confirmation, "/subscribe/confirm/"))
        .await;
    assert_eq!(browser.heading().await, "Subscribed");

    // A coordinator (here the admin) writes, previews and publishes.
    browser.open(&server.admin_link).await;
    browser.open("/news").await;
    browser.follow("main a.button[href='/coord/news']").await;
    browser.fill("#title", "Il primo dataset è pubblico").await;
    browser
        .fill(
            "#body",
            "Grazie agli ospedali: **1.204 radiografie**, de-identificate in ospedale.",
        )
        .await;
    browser
        .follow("main form.stacked button[type=submit]")
        .await;
    assert_eq!(browser.heading().await, "Edit the draft");
    assert!(
        browser
            .text("article.preview")
            .await
            .contains("1.204 radiografie")
    );
    browser.snapshot("news-preview").await;
    browser
        .follow("main .actions form[action$='/publish'] button")
        .await;
    assert_eq!(browser.heading().await, "Published");
    browser.open("/news").await;
    assert!(
        browser
            .text("main article.post h2")
            .await
            .contains("Il primo dataset è pubblico")
    );
    browser.snapshot("news").await;

    // The post reaches aiosmtpd, and the mail client's one click unsubscribes.
    let post = mail_to("1.204 radiografie").await;
    let one_click = common::smtp::header(&post, "List-Unsubscribe")
        .expect("List-Unsubscribe")
        .trim_matches(|c| c == '<' || c == '>')
        .to_owned();
    assert_eq!(
        common::smtp::header(&post, "List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    assert_eq!(common::smtp::one_click_unsubscribe(&one_click).await, 200);
    browser.open(&server.link_in(&post, "/unsubscribe/")).await;
    assert_eq!(browser.heading().await, "Not subscribed");
}

#[tokio::test]
async fn a_visitor_switches_the_site_to_italian() {
    use common::english::{PUBLIC_PAGES, english_left};
    let server = Server::start(None);
    let browser = Browser::start(&server.base).await;
    let lang = "return document.documentElement.lang;";

    browser.open("/status").await;
    assert_eq!(browser.script(lang).await, json!("en"));
    browser
        .follow("header form.lang-switch button[value='it']")
        .await;
    assert_eq!(browser.path().await, "/status", "the switch comes back");
    assert_eq!(browser.script(lang).await, json!("it"));
    assert_eq!(
        browser.heading().await,
        lunghub_web::i18n::Lang::It.t("status-title")
    );
    browser.snapshot("status-it").await;
    for path in PUBLIC_PAGES {
        browser.open(path).await;
        assert_eq!(browser.script(lang).await, json!("it"), "{path}");
        let text = browser
            .script("return document.body.innerText;")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let left = english_left(&text);
        assert!(left.is_empty(), "English on {path}: {left:#?}\n{text}");
    }
    browser.open("/").await;
    browser.snapshot("home-it").await;

    // And back: the switch offers English on every page.
    browser
        .follow("header form.lang-switch button[value='en']")
        .await;
    assert_eq!(browser.script(lang).await, json!("en"));
    assert_eq!(
        browser.heading().await,
        "Open medical imaging against COVID-19"
    );
}
