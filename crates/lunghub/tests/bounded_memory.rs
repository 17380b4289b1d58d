//! A 9 KB DICOM file whose Pixel Data declares 0xFFFFFFF0 bytes, sent down every route that
//! reads outside bytes: `lunghub predict`, `lunghub ingest` (a folder), and on a real
//! `lunghub serve`, the model page, `/api/predict`, STOW-RS and C-STORE (DCMTK's storescu).
//! Each refuses it with a reason, and no process goes past 512 MiB resident. Before the
//! pre-scan stood in front of every dicom-rs parse, predict and the model page took 4.2 GB.

mod common;

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use common::accounts::{admin, issue_token, sign_up};
use common::fixtures::chest_dx;
use common::server::Server;
use common::{key_file, lunghub, require_tool};

const LIMIT: u64 = 512 << 20;

/// A valid 64×64 DX whose Pixel Data length field is rewritten to declare 0xFFFFFFF0 bytes.
fn hostile() -> Vec<u8> {
    let mut bytes = chest_dx(
        "1.2.826.0.1.3680043.8.498.71",
        "1.2.826.0.1.3680043.8.498.72",
        3,
        64,
    );
    let header = [0xE0, 0x7F, 0x10, 0x00, b'O', b'W', 0, 0];
    let at = bytes
        .windows(8)
        .rposition(|w| w == header)
        .expect("the Pixel Data header");
    bytes[at + 8..at + 12].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    assert!(bytes.len() < 10_000, "{} bytes", bytes.len());
    bytes
}

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
    std::fs::write(&file, hostile()).expect("write");

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
    let bytes = hostile();
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
    let r = admin
        .post("/admin/sites", &[("name", "Test Hospital")])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let token = issue_token(&admin, &server.base, "test-hospital", "PACS router").await;
    let stow = common::stow_one(&server.base, &token, &bytes).await;
    let status = stow.status().as_u16();
    let answer = stow.text().await.unwrap_or_default();
    assert_eq!(status, 409, "every instance failed: {answer}");

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
