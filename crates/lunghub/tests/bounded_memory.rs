//! A 9 KB DICOM file whose Pixel Data declares 0xFFFFFFF0 bytes, sent down every route that
//! reads outside bytes: `lunghub predict`, `lunghub ingest` (a folder), and on a real
//! `lunghub serve`, the model page, `/api/predict`, STOW-RS and the web upload. (DCMTK's
//! storescu will not send such a file; `tests/dimse.rs` sends its data set over C-STORE
//! with a raw association and holds `lunghub scp` to the same bound.)
//! Each refuses it with a reason, and no process goes past 512 MiB resident. Before the
//! pre-scan stood in front of every dicom-rs parse, predict and the model page took 4.2 GB.

mod common;

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use common::accounts::{admin, hospital, issue_token, sign_up};
use common::fixtures::declaring_4_gb;
use common::server::Server;
use common::{key_file, lunghub, require_tool};

const LIMIT: u64 = 512 << 20;

/// Runs `cmd` to the end and returns its exit code, its output and its peak resident memory
/// (from wait4, which measures this child alone).
fn run_measured(cmd: &mut Command) -> (Option<i32>, String, u64) {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let pid = child.id() as libc::pid_t;
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut p) = pipe {
                p.read_to_string(&mut s).ok();
            }
            s
        })
    };
    let stdout = drain(child.stdout.map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.map(|p| Box::new(p) as _));
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills in; pid is our own unwaited child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4");
    let output = format!(
        "{}{}",
        stdout.join().unwrap_or_default(),
        stderr.join().unwrap_or_default()
    );
    let code = std::process::ExitStatus::from_raw(status).code();
    (code, output, usage.ru_maxrss as u64 * 1024)
}

fn mib(bytes: u64) -> u64 {
    bytes >> 20
}

#[test]
fn the_cli_refuses_the_file_within_the_memory_bound() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("hostile.dcm");
    std::fs::write(&file, declaring_4_gb()).expect("write");

    let (code, output, peak) = run_measured(lunghub().arg("predict").arg(&file));
    assert_eq!(code, Some(2), "no file could be scored: {output}");
    assert!(output.contains("declares 4294967280 bytes"), "{output}");
    println!("lunghub predict: {} MiB peak", mib(peak));
    assert!(peak < LIMIT, "lunghub predict peaked at {} MiB", mib(peak));

    let folder = tmp.path().join("folder");
    std::fs::create_dir(&folder).expect("mkdir");
    std::fs::copy(&file, folder.join("hostile.dcm")).expect("copy");
    let (code, output, peak) = run_measured(
        lunghub()
            .arg("ingest")
            .arg(&folder)
            .args(["--site", "Test Hospital"])
            .arg("--data-dir")
            .arg(tmp.path().join("data"))
            .arg("--site-key")
            .arg(key_file(tmp.path()))
            .env_remove("LUNGHUB_DATABASE_URL")
            .env_remove("LUNGHUB_BLOB_URL"),
    );
    assert_eq!(code, Some(0), "{output}");
    assert!(
        output.contains("unreadable") && output.contains("declares 4294967280 bytes"),
        "{output}"
    );
    println!("lunghub ingest: {} MiB peak", mib(peak));
    assert!(peak < LIMIT, "lunghub ingest peaked at {} MiB", mib(peak));
}

fn dicom_port(server: &Server) -> u16 {
    server
        .startup
        .iter()
        .find_map(|l| l.strip_prefix("lunghub DICOM listening on "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|a| a.rsplit_once(':'))
        .and_then(|(_, p)| p.parse().ok())
        .expect("serve prints where DICOM listens")
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_of_serve_refuses_the_file_within_the_memory_bound() {
    let storescu = require_tool("storescu");
    let server = Server::start_with(
        None,
        &[
            "--dicom-listen",
            "127.0.0.1:0",
            "--dicom-peer",
            "PACS=Test Hospital",
        ],
    );
    let bytes = declaring_4_gb();
    let doctor = sign_up(
        &server,
        "frontline-doctor",
        "Dr Test",
        "doctor@example.org",
        &[
            ("institution", "Policlinico di Test"),
            ("location", "Pavia"),
        ],
    )
    .await;

    let form = reqwest::multipart::Form::new().part(
        "image",
        reqwest::multipart::Part::bytes(bytes.clone()).file_name("hostile.dcm"),
    );
    let r = doctor
        .post_multipart(&format!("/model?csrf={}", doctor.csrf()), form)
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("declares 4294967280 bytes"), "{}", r.body);

    let described: serde_json::Value =
        serde_json::from_str(&doctor.get("/api/predict").await.body).expect("JSON");
    let csrf = described["csrf"].as_str().expect("a CSRF token").to_owned();
    let r = doctor
        .post_bytes("/api/predict", bytes.clone(), &csrf)
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("declares 4294967280 bytes"), "{}", r.body);

    let admin = admin(&server).await;
    let (_, site) = hospital(&admin, "Test Hospital", "waiting-for-data").await;
    assert_eq!(site, "test-hospital");
    let token = issue_token(&admin, &server.base, "test-hospital", "PACS router").await;
    let stow = common::stow_one(&server.base, &token, &bytes).await;
    let status = stow.status().as_u16();
    let answer = stow.text().await.unwrap_or_default();
    assert_eq!(status, 409, "every instance failed: {answer}");

    // The web upload, as a hospital uploader's batch.
    let form = reqwest::multipart::Form::new()
        .text("csrf", admin.csrf())
        .text("site", "test-hospital")
        .text("finding", "")
        .text("modality", "")
        .text("view", "")
        .text("sex", "")
        .text("age", "");
    let r = admin.post_multipart("/upload/batches", form).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let batch = r
        .location
        .expect("the batch")
        .rsplit('/')
        .next()
        .expect("id")
        .to_owned();
    let r = admin
        .put_file(
            &format!("/upload/batches/{batch}/files"),
            "hostile.dcm",
            bytes.clone(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let line = &r.json()[0];
    assert_eq!(line["outcome"], "unreadable", "{line}");
    assert!(
        line["detail"]
            .as_str()
            .is_some_and(|d| d.contains("declares 4294967280 bytes")),
        "{line}"
    );

    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("hostile.dcm");
    std::fs::write(&file, &bytes).expect("write");
    let sent = Command::new(storescu)
        .args(["-v", "-aet", "PACS", "-aec", "LUNGHUB", "127.0.0.1"])
        .arg(dicom_port(&server).to_string())
        .arg(&file)
        .output()
        .expect("storescu runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&sent.stdout),
        String::from_utf8_lossy(&sent.stderr)
    );
    // DCMTK cannot load a file that declares more than it holds, so nothing is sent; what
    // matters here is that the server is still up and bounded.
    assert!(!said.is_empty(), "storescu said nothing");
    assert_eq!(
        server.client().get("/").await.status,
        200,
        "the server is still up after storescu: {said}"
    );

    let peak = server.peak_rss();
    println!("lunghub serve: {} MiB peak", mib(peak));
    assert!(peak < LIMIT, "lunghub serve peaked at {} MiB", mib(peak));
}
