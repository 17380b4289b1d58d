//! The real `lunghub serve` on a random port with a fresh database (SQLite in a temporary
//! data directory, or a fresh PostgreSQL database), and a small HTTP client that keeps its
//! own cookies, follows nothing by itself, and remembers the last CSRF token it saw.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Server {
    child: Child,
    pub base: String,
    pub data_dir: PathBuf,
    /// The one-time admin sign-in link printed at first start.
    pub admin_link: String,
    /// Every line printed up to the admin link.
    pub startup: Vec<String>,
    /// The catalog's database: SQLite in the data directory, or this URL.
    database_url: Option<String>,
    _tmp: tempfile::TempDir,
}

/// A fresh PostgreSQL database URL (LUNGHUB_TEST_POSTGRES_URL names the server).
pub async fn fresh_postgres() -> String {
    let admin = std::env::var("LUNGHUB_TEST_POSTGRES_URL")
        .expect("LUNGHUB_TEST_POSTGRES_URL is not set: run the tests through `bash .ci/run`, which starts PostgreSQL");
    lunghub_store::testing::fresh_postgres_database(&admin)
        .await
        .expect("fresh database")
}

impl Server {
    pub fn start(database_url: Option<&str>) -> Server {
        Server::start_with(database_url, &[])
    }

    /// Starts the server with extra `serve` arguments.
    pub fn start_with(database_url: Option<&str>, extra: &[&str]) -> Server {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data_dir = tmp.path().join("data");
        Server::launch(tmp, data_dir, database_url, extra)
    }

    /// Starts the server on an existing data directory (SQLite catalog inside it).
    pub fn start_in(data_dir: &std::path::Path, extra: &[&str]) -> Server {
        let tmp = tempfile::tempdir().expect("tempdir");
        Server::launch(tmp, data_dir.to_path_buf(), None, extra)
    }

    fn launch(
        tmp: tempfile::TempDir,
        data_dir: PathBuf,
        database_url: Option<&str>,
        extra: &[&str],
    ) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lunghub"));
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(&data_dir);
        if let Some(url) = database_url {
            cmd.arg("--database-url").arg(url);
        }
        cmd.args(extra);
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("lunghub serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (mut base, mut admin_link) = (String::new(), String::new());
        let mut startup = Vec::new();
        let start = Instant::now();
        while (base.is_empty() || admin_link.is_empty())
            && start.elapsed() < Duration::from_secs(60)
        {
            let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) else {
                break;
            };
            startup.push(line.clone());
            if let Some(rest) = line.strip_prefix("lunghub serving on ") {
                base = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                // An https public URL is a proxy's address: talk to the listener itself.
                if base.starts_with("https://")
                    && let Some(bound) = rest
                        .split_once("(listening on ")
                        .and_then(|(_, b)| b.strip_suffix(')'))
                {
                    base = format!("http://{bound}");
                }
            } else if line.trim_start().starts_with("http") && line.contains("/signin/once/") {
                admin_link = line.trim().to_owned();
            }
        }
        assert!(
            !base.is_empty() && !admin_link.is_empty(),
            "lunghub serve did not print its address and admin link"
        );
        Server {
            child,
            base,
            data_dir,
            admin_link,
            startup,
            database_url: database_url.map(str::to_owned),
            _tmp: tmp,
        }
    }

    /// Kills the server (SIGKILL), keeping its data directory for a restart.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts `lunghub serve` again on the same address and data directory (and database),
    /// after [`Server::kill`]; no admin link is printed this time.
    pub fn restart(&mut self, extra: &[&str]) {
        let listen = self.base.trim_start_matches("http://").to_owned();
        let mut child = Command::new(env!("CARGO_BIN_EXE_lunghub"))
            .args(["serve", "--listen", &listen])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("lunghub serve starts again");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("lunghub serve prints its address again");
            if line.starts_with("lunghub serving on ") {
                break;
            }
        }
        self.child = child;
    }

    /// The server's peak resident memory so far, in bytes.
    pub fn peak_rss(&self) -> u64 {
        super::peak_rss(self.child.id())
    }

    pub fn client(&self) -> Client {
        Client::new(&self.base)
    }

    /// Waits until the server's mail queue is empty (every mail sent or in the outbox):
    /// mail goes out in the background, after the request that queued it.
    pub async fn mail_settled(&self) {
        let url = self
            .database_url
            .clone()
            .unwrap_or_else(|| lunghub_store::Catalog::sqlite_url(&self.data_dir));
        let catalog = lunghub_store::Catalog::open(&url)
            .await
            .expect("the server's catalog");
        let platform = catalog.platform();
        let start = Instant::now();
        while platform.mail_counts().await.expect("the mail queue").queued > 0 {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "mail still waiting to be sent after 30 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The messages in the outbox, once the queue has settled.
    pub async fn outbox_len(&self) -> usize {
        self.mail_settled().await;
        std::fs::read_dir(self.data_dir.join("outbox"))
            .map(|d| {
                d.flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                    .count()
            })
            .unwrap_or(0)
    }

    /// Every outbox message to `to`, oldest first, once the queue has settled.
    pub async fn mails_to(&self, to: &str) -> Vec<String> {
        self.mail_settled().await;
        let dir = self.data_dir.join("outbox");
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
            .iter()
            .map(|p| std::fs::read_to_string(p).expect("mail"))
            .filter(|m| {
                m.lines()
                    .take_while(|l| !l.is_empty())
                    .any(|l| l.eq_ignore_ascii_case(&format!("To: {to}")))
            })
            .collect()
    }

    /// The text of the newest outbox message to `to`.
    pub async fn last_mail_to(&self, to: &str) -> String {
        self.mails_to(to)
            .await
            .pop()
            .unwrap_or_else(|| panic!("no mail to {to} in the outbox"))
    }

    /// The first link in the newest mail to `to` whose path starts with `prefix`.
    pub async fn link_in_mail(&self, to: &str, prefix: &str) -> String {
        let mail = self.last_mail_to(to).await;
        self.link_in(&mail, prefix)
    }

    /// The first link to this server in `mail` whose path starts with `prefix`.
    pub fn link_in(&self, mail: &str, prefix: &str) -> String {
        mail.split_whitespace()
            .find(|w| w.starts_with(&format!("{}{prefix}", self.base)))
            .unwrap_or_else(|| panic!("no {prefix} link in the mail:\n{mail}"))
            .to_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Response {
    pub status: u16,
    /// The raw `Set-Cookie` headers, attributes included.
    pub set_cookies: Vec<String>,
    pub location: Option<String>,
    pub content_type: String,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    cookies: Mutex<BTreeMap<String, String>>,
    csrf: Mutex<String>,
}

impl Client {
    pub fn new(base: &str) -> Client {
        let http = super::http()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Client {
            http,
            base: base.to_owned(),
            cookies: Mutex::default(),
            csrf: Mutex::default(),
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// The cookies this client sends, as a Cookie header.
    pub fn cookie_header(&self) -> String {
        self.cookies
            .lock()
            .expect("cookies")
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.lock().expect("cookies").get(name).cloned()
    }

    /// Puts a cookie into this client's jar, as an attacker planting one would.
    pub fn set_cookie(&self, name: &str, value: &str) {
        self.cookies
            .lock()
            .expect("cookies")
            .insert(name.to_owned(), value.to_owned());
    }

    pub fn has_cookie(&self, name: &str) -> bool {
        self.cookies.lock().expect("cookies").contains_key(name)
    }

    pub fn csrf(&self) -> String {
        self.csrf.lock().expect("csrf").clone()
    }

    async fn finish(&self, r: reqwest::Response) -> Response {
        let set_cookies: Vec<String> = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect();
        for text in &set_cookies {
            let pair = text.split(';').next().unwrap_or_default();
            if let Some((k, v)) = pair.split_once('=') {
                let mut jar = self.cookies.lock().expect("cookies");
                if v.is_empty() || text.contains("Max-Age=0") {
                    jar.remove(k);
                } else {
                    jar.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = r.text().await.expect("body");
        if let Some(i) = body.find("name=\"csrf\" value=\"") {
            let rest = &body[i + 19..];
            if let Some(end) = rest.find('"') {
                *self.csrf.lock().expect("csrf") = rest[..end].to_owned();
            }
        }
        Response {
            status,
            set_cookies,
            location,
            content_type,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Response {
        let r = self
            .http
            .get(self.url(path))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("GET");
        self.finish(r).await
    }

    /// A GET with extra request headers (`Accept-Language`, say).
    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        let mut request = self
            .http
            .get(self.url(path))
            .header("cookie", self.cookie_header());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let r = request.send().await.expect("GET");
        self.finish(r).await
    }

    /// Posts a form with the last CSRF token seen (unless the form has its own `csrf`).
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let mut pairs: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if !fields.iter().any(|(k, _)| *k == "csrf") {
            pairs.push(("csrf".into(), self.csrf()));
        }
        let body: String = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        let r = self
            .http
            .post(self.url(path))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("POST");
        self.finish(r).await
    }

    /// A GET whose body is bytes (an image): status, content type, body.
    pub async fn get_raw(&self, path: &str) -> (u16, String, Vec<u8>) {
        let r = self
            .http
            .get(self.url(path))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("GET");
        let status = r.status().as_u16();
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (
            status,
            content_type,
            r.bytes().await.expect("body").to_vec(),
        )
    }

    /// Sends raw bytes, the way the upload script does: PUT with the CSRF token in a header.
    pub async fn put_bytes(&self, path: &str, bytes: Vec<u8>) -> Response {
        let r = self
            .http
            .put(self.url(path))
            .header("cookie", self.cookie_header())
            .header("x-csrf-token", self.csrf())
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .expect("PUT");
        self.finish(r).await
    }

    /// Sends one file of an upload batch as the upload script does: PUT, with the file's
    /// name percent-encoded in the X-File-Name header.
    pub async fn put_file(&self, path: &str, name: &str, bytes: Vec<u8>) -> Response {
        let r = self
            .http
            .put(self.url(path))
            .header("cookie", self.cookie_header())
            .header("x-csrf-token", self.csrf())
            .header("x-file-name", enc(name))
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .expect("PUT");
        self.finish(r).await
    }

    /// POSTs a JSON body with the CSRF token in a header, as the page's scripts do.
    pub async fn post_json(&self, path: &str, json: &serde_json::Value) -> Response {
        let r = self
            .http
            .post(self.url(path))
            .header("cookie", self.cookie_header())
            .header("x-csrf-token", self.csrf())
            .header("content-type", "application/json")
            .body(json.to_string())
            .send()
            .await
            .expect("POST");
        self.finish(r).await
    }

    /// POSTs raw bytes with the CSRF token in a header, as a JSON API client does.
    pub async fn post_bytes(&self, path: &str, bytes: Vec<u8>, csrf: &str) -> Response {
        let r = self
            .http
            .post(self.url(path))
            .header("cookie", self.cookie_header())
            .header("x-csrf-token", csrf)
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .expect("POST");
        self.finish(r).await
    }

    pub async fn post_multipart(&self, path: &str, form: reqwest::multipart::Form) -> Response {
        let r = self
            .http
            .post(self.url(path))
            .header("cookie", self.cookie_header())
            .multipart(form)
            .send()
            .await
            .expect("POST");
        self.finish(r).await
    }
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
