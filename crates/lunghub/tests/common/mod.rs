//! Shared helpers for the end-to-end tests: they drive the real `lunghub` binary on
//! `../shared/data` and check its output with real peers (pydicom, dciodvfy).
#![allow(dead_code)]

pub mod accounts;
pub mod challenge;
pub mod english;
pub mod fixtures;
pub mod server;
pub mod smtp;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine;

/// A reqwest client builder with TLS ready. lunghub builds reqwest without a crypto provider
/// of its own (the binary installs ring as the process default), so the tests install ring
/// too before the first client.
pub fn http() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

/// `../shared/data` beside the repository. Missing data is a failure, never a skip.
pub fn shared_data(sub: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    let path = root.join(sub);
    assert!(
        path.exists(),
        "test data {} is missing: ../shared must sit beside the repository",
        path.display()
    );
    path.canonicalize().expect("canonical data path")
}

/// A program the tests need, found on PATH; missing is a failure.
pub fn require_tool(name: &str) -> PathBuf {
    let paths = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&paths)
        .map(|p| p.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} is not installed; run the tests through `bash .ci/run`, which installs it"
            )
        })
}

/// The Python with pydicom: $LUNGHUB_PYTHON, else python3 on PATH.
pub fn python() -> PathBuf {
    let python = std::env::var_os("LUNGHUB_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| require_tool("python3"));
    let ok = Command::new(&python)
        .args(["-c", "import pydicom, numpy"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{} cannot import pydicom and numpy; run the tests through `bash .ci/run`",
        python.display()
    );
    python
}

pub fn lunghub() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lunghub"))
}

/// Runs lunghub and insists on success, showing its output otherwise.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("lunghub runs");
    assert!(
        out.status.success(),
        "lunghub failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A site key file with a fixed key, so runs are comparable.
pub fn key_file(dir: &Path) -> PathBuf {
    let path = dir.join("site.key");
    std::fs::write(
        &path,
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
    )
    .expect("write key");
    path
}

/// A profile like the default but trusting every file's pixels, so that every readable
/// corpus file is written and can be checked by the peers.
pub fn trusting_profile(dir: &Path) -> PathBuf {
    let default = lunghub_deid::profile::DEFAULT_PROFILE_TOML;
    let mut text = String::new();
    let mut skipping = false;
    for line in default.lines() {
        if line.starts_with("suspect_modalities") {
            text.push_str("suspect_modalities = []\n");
            continue;
        }
        if line.starts_with("suspect_sop_classes") {
            text.push_str("suspect_sop_classes = []\n");
            skipping = !line.trim_end().ends_with(']');
            continue;
        }
        if skipping {
            skipping = line.trim() != "]";
            continue;
        }
        text.push_str(line);
        text.push('\n');
    }
    let path = dir.join("trusting.toml");
    std::fs::write(&path, text).expect("write profile");
    path
}

#[derive(Debug, serde::Deserialize)]
pub struct ReportRow {
    pub input: String,
    pub outcome: String,
    pub output: String,
    pub detail: String,
}

pub fn read_report(path: &Path) -> Vec<ReportRow> {
    let text = std::fs::read_to_string(path).expect("report exists");
    serde_json::from_str(&text).expect("report is JSON")
}

/// Runs `lunghub deid` on `inputs` into `out` and returns the parsed report.
pub fn deid(
    inputs: &[&Path],
    out: &Path,
    key: &Path,
    profile: Option<&Path>,
    report: &Path,
) -> Vec<ReportRow> {
    let mut cmd = lunghub();
    cmd.arg("deid")
        .args(inputs)
        .arg("--out")
        .arg(out)
        .arg("--site-key")
        .arg(key)
        .arg("--report")
        .arg(report);
    if let Some(p) = profile {
        cmd.arg("--profile").arg(p);
    }
    run_ok(&mut cmd);
    read_report(report)
}

/// Waits until the DICOM route of a `lunghub` using `data_dir` has catalogued everything it
/// answered for: its spool (`DATA_DIR/spool`) holds no segment any more.
pub fn wait_for_spool(data_dir: &Path) {
    let spool = data_dir.join("spool");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    loop {
        let waiting = std::fs::read_dir(&spool)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "spool"))
                    .count()
            })
            .unwrap_or(0);
        if waiting == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} still holds {waiting} spool segments after 3 minutes",
            spool.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Stores one DICOM instance over STOW-RS with a site token, as a PACS router would.
pub async fn stow_one(base: &str, token: &str, dicom: &[u8]) -> reqwest::Response {
    let boundary = "lunghub-test-stow-boundary";
    let mut body = format!("--{boundary}\r\nContent-Type: application/dicom\r\n\r\n").into_bytes();
    body.extend_from_slice(dicom);
    body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    http()
        .build()
        .expect("HTTP client")
        .post(format!("{base}/dicomweb/studies"))
        .header(
            "content-type",
            format!("multipart/related; type=\"application/dicom\"; boundary={boundary}"),
        )
        .header("authorization", format!("Bearer {token}"))
        .header("accept", "application/dicom+json")
        .body(body)
        .send()
        .await
        .expect("STOW-RS")
}

/// The peak resident memory of a running process so far, in bytes (VmHWM in /proc).
pub fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmHWM in /proc status")
        * 1024
}

/// The text of a mail as its reader sees it: headers, then the body decoded from
/// quoted-printable or base64, whichever lettre chose.
pub fn readable_mail(mail: &str) -> String {
    let (head, body) = mail
        .split_once("\r\n\r\n")
        .or_else(|| mail.split_once("\n\n"))
        .unwrap_or((mail, ""));
    let encoding = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-transfer-encoding:")
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_default();
    let decoded = match encoding.as_str() {
        "base64" => {
            let joined: String = body.split_whitespace().collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(joined)
                .expect("a base64 body");
            String::from_utf8(bytes).expect("a UTF-8 body")
        }
        "quoted-printable" => {
            let soft = body.replace("=\r\n", "").replace("=\n", "");
            let mut bytes = Vec::new();
            let raw = soft.as_bytes();
            let mut i = 0;
            while i < raw.len() {
                match (raw[i], raw.get(i + 1..i + 3)) {
                    (b'=', Some(hex)) if hex.iter().all(u8::is_ascii_hexdigit) => {
                        let text = std::str::from_utf8(hex).expect("hex");
                        bytes.push(u8::from_str_radix(text, 16).expect("hex"));
                        i += 3;
                    }
                    (b, _) => {
                        bytes.push(b);
                        i += 1;
                    }
                }
            }
            String::from_utf8(bytes).expect("a UTF-8 body")
        }
        _ => body.to_owned(),
    };
    format!("{head}\n\n{}", decoded.replace("\r\n", "\n"))
}
