//! `lunghub gateway` with real peers: DCMTK's storescu as the PACS, the real `lunghub
//! serve` as the centre (stopped and restarted halfway), the gateway killed with SIGKILL;
//! what goes over the wire; and the ethics gate on the gateway's route.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::accounts::{admin, hospital, issue_token};
use common::fixtures::{PLANTED, chest_dx};
use common::server::Server;
use common::{lunghub, require_tool, run_ok};
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use lunghub_store::Catalog;

const FILES: usize = 24;

fn write_config(dir: &Path, stow_url: &str, token: Option<&str>, dicom: bool) -> PathBuf {
    let mut text = format!(
        "stow_url = \"{stow_url}\"\nstate_dir = \"state\"\nbatch_files = 5\nretry_max_seconds = 1\n"
    );
    if let Some(t) = token {
        std::fs::write(dir.join("site.token"), format!("{t}\n")).expect("token");
        text.push_str("token_file = \"site.token\"\n");
    }
    if dicom {
        text.push_str("[dicom]\nlisten = \"127.0.0.1:0\"\npeers = [\"PACS\"]\n");
        text.push_str("[status]\nlisten = \"127.0.0.1:0\"\n");
    }
    let path = dir.join("gateway.toml");
    std::fs::write(&path, text).expect("config");
    path
}

/// A gateway in `dir` with a site token for `site`, whose key the coordinator has
/// registered for the site: its configuration file, key fingerprint and site token.
async fn registered_gateway(
    a: &common::server::Client,
    server: &Server,
    site: &str,
    dir: &Path,
    dicom: bool,
) -> (PathBuf, String, String) {
    let token = issue_token(a, &server.base, site, "gateway").await;
    let config = write_config(
        dir,
        &format!("{}/dicomweb/studies", server.base),
        Some(&token),
        dicom,
    );
    let fp = fingerprint(&config);
    a.get("/admin/sites").await;
    let r = a
        .post(
            &format!("/admin/sites/{site}/gateway"),
            &[("fingerprint", fp.as_str())],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    (config, fp, token)
}

fn gateway(config: &Path) -> Command {
    let mut c = lunghub();
    c.arg("gateway").arg("--config").arg(config);
    c
}

fn fingerprint(config: &Path) -> String {
    let out = run_ok(gateway(config).arg("fingerprint"));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `lunghub gateway run`, the port its SCP listens on, and its status page's address.
fn run_gateway(config: &Path) -> (Child, u16, String) {
    let mut child = gateway(config)
        .arg("run")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("gateway starts");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut port, mut status) = (None, None);
    while port.is_none() || status.is_none() {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the gateway says where it listens");
        if let Some(rest) = line.trim().strip_prefix("DICOM listening on ") {
            let addr = rest.split_whitespace().next().expect("address");
            port = addr.rsplit(':').next().and_then(|p| p.parse().ok());
        } else if let Some(url) = line.trim().strip_prefix("status page on ") {
            status = Some(url.trim_end_matches('/').to_owned());
        }
    }
    (child, port.expect("a port"), status.expect("a status page"))
}

fn storescu(port: u16, files: &[PathBuf]) {
    let out = Command::new(require_tool("storescu"))
        .args(["-aet", "PACS", "-aec", "LUNGHUB", "127.0.0.1"])
        .arg(port.to_string())
        .args(files)
        .output()
        .expect("storescu runs");
    assert!(
        out.status.success(),
        "storescu failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn waiting(state: &Path) -> usize {
    std::fs::read_dir(state.join("outbox"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "dcm"))
                .count()
        })
        .unwrap_or(0)
}

fn wait_until(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < deadline, "{what} within {secs} s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Chest radiographs of one planted patient, each its own study.
fn corpus(dir: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).expect("dir");
    (0..FILES)
        .map(|i| {
            let path = dir.join(format!("DOE^JANE {i}.dcm"));
            let bytes = chest_dx(
                &format!("1.2.826.0.1.3680043.8.498.{}", 1000 + i),
                &format!("1.2.826.0.1.3680043.8.498.{}.5", 1000 + i),
                i as u16,
                48,
            );
            std::fs::write(&path, bytes).expect("write");
            path
        })
        .collect()
}

/// (PatientID, StudyInstanceUID) of every DICOM file under `dir`.
fn identities(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in walkdir(dir) {
        let obj = dicom_object::open_file(&e).expect("DICOM");
        let text = |tag| {
            obj.element(tag)
                .ok()
                .and_then(|e| e.to_str().ok())
                .map(|s| s.trim_end_matches(['\0', ' ']).to_owned())
                .unwrap_or_default()
        };
        out.push((text(Tag(0x0010, 0x0020)), text(Tag(0x0020, 0x000D))));
    }
    out.sort();
    out
}

fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walkdir(&p));
        } else if p.extension().is_some_and(|x| x == "dcm") {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn storescu_to_gateway_to_server_arrives_once_through_a_server_restart_and_a_kill() {
    require_tool("storescu");
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut server = Server::start(None);
    let a = admin(&server).await;
    let (institute, site) = hospital(&a, "Ospedale del Gateway", "waiting-for-data").await;
    let (config, fp, _) = registered_gateway(&a, &server, &site, tmp.path(), true).await;
    let state = tmp.path().join("state");
    assert_eq!(fp.len(), 8, "{fp}");
    assert!(
        state.join("site.key").exists(),
        "the site key is made at the gateway"
    );

    let files = corpus(&tmp.path().join("pacs"));
    let (mut gw, port, _) = run_gateway(&config);
    storescu(port, &files[..FILES / 2]);
    // Some reach the server, then the centre goes down; the PACS is still answered, from
    // the outbox.
    wait_until("a first batch sent", 60, || waiting(&state) < FILES / 2);
    server.kill();
    storescu(port, &files[FILES / 2..]);
    assert!(
        waiting(&state) > 0,
        "the outbox holds what the server could not take"
    );
    gw.kill().expect("SIGKILL");
    gw.wait().expect("reaped");
    server.restart(&[]);
    let (mut gw, _, _) = run_gateway(&config);
    // Killed again once it has sent some, possibly in the middle of a request.
    let before = waiting(&state);
    wait_until("a first batch sent", 60, || waiting(&state) < before);
    gw.kill().expect("SIGKILL");
    gw.wait().expect("reaped");
    let (mut gw, _, status_page) = run_gateway(&config);
    wait_until("the outbox empty", 120, || waiting(&state) == 0);
    // The local status page counts what the three runs did, by day.
    let client = common::http().build().expect("client");
    let status: serde_json::Value = client
        .get(format!("{status_page}/status.json"))
        .send()
        .await
        .expect("status page")
        .text()
        .await
        .map(|t| serde_json::from_str(&t).expect("JSON"))
        .expect("a body");
    assert_eq!(status["queued_files"], 0, "{status}");
    assert_eq!(status["fingerprint"], fp.as_str(), "{status}");
    let sent: u64 = status["days"]
        .as_array()
        .expect("days")
        .iter()
        .map(|d| d["sent"]["files"].as_u64().unwrap_or(0))
        .sum();
    assert!(
        sent >= FILES as u64,
        "every instance sent at least once: {status}"
    );
    let page = client
        .get(&status_page)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("HTML");
    assert!(page.contains("Sending works."), "{page}");
    gw.kill().expect("stop");
    gw.wait().expect("reaped");

    // What the server holds is what de-identification under the gateway's key makes of
    // the same files: every instance once, the gateway's pseudonyms, nothing keyed again.
    let expected_dir = tmp.path().join("expected");
    common::deid(
        &[&tmp.path().join("pacs")],
        &expected_dir,
        &state.join("site.key"),
        None,
        &tmp.path().join("expected.json"),
    );
    let expected = identities(&expected_dir);
    assert_eq!(expected.len(), FILES);
    let catalog = Catalog::open(&Catalog::sqlite_url(&server.data_dir))
        .await
        .expect("catalog");
    let ids = catalog.item_ids().await.expect("ids");
    let mut stored = Vec::new();
    for id in &ids {
        let item = catalog.item(id).await.expect("item").expect("there");
        let field = |k: &str| item.fields[k].as_str().unwrap_or_default().to_owned();
        assert_eq!(field("site"), "Ospedale del Gateway");
        assert_eq!(field("route"), "stow-rs");
        stored.push((field("patient_id"), field("study_id")));
    }
    stored.sort();
    assert_eq!(
        stored, expected,
        "every instance once, under the gateway's key"
    );
    assert!(common::fixtures::planted_in(&server.data_dir).is_empty());

    // The first item moved the hospital to "Data received", with a history entry.
    let page = a.get(&format!("/coord/institutes/{institute}")).await.body;
    assert!(page.contains("first image arrived"), "{page}");
    let status = run_ok(gateway(&config).arg("status"));
    let status = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(status.contains("queued now: 0 files"), "{status}");
}

/// A PHI fixture that hides identity in every place a careless gateway would let it
/// through: the preamble, a private tag, a nested sequence, and the file's own name.
fn phi_fixture(dir: &Path) -> PathBuf {
    let bytes = chest_dx(
        "1.2.826.0.1.3680043.8.498.9001",
        "1.2.826.0.1.3680043.8.498.9001.5",
        9,
        48,
    );
    let mut obj = dicom_object::from_reader(&bytes[128..]).expect("parse");
    obj.put(DataElement::new(
        Tag(0x0009, 0x0010),
        VR::LO,
        PrimitiveValue::from("ACME 1.0"),
    ));
    obj.put(DataElement::new(
        Tag(0x0009, 0x1001),
        VR::LO,
        PrimitiveValue::from("DOE^JANE PHI-123456"),
    ));
    let nested = dicom_object::InMemDicomObject::from_element_iter([DataElement::new(
        Tag(0x0010, 0x0010),
        VR::PN,
        PrimitiveValue::from("DOE^JANE"),
    )]);
    obj.put(DataElement::new(
        Tag(0x0008, 0x1120),
        VR::SQ,
        dicom_core::value::Value::Sequence(dicom_core::value::DataSetSequence::new(
            vec![nested],
            dicom_core::Length::UNDEFINED,
        )),
    ));
    let mut out = Vec::new();
    obj.write_all(&mut out).expect("encode");
    out[..19].copy_from_slice(b"DOE^JANE PHI-123456");
    let folder = dir.join("Saint Elsewhere 19500101");
    std::fs::create_dir_all(&folder).expect("dir");
    let path = folder.join("DOE^JANE PHI-123456.dcm");
    std::fs::write(&path, out).expect("write");
    path
}

/// A STOW-RS server that records every request whole and answers 200.
fn recording_receiver() -> (String, std::sync::mpsc::Receiver<Vec<u8>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "http://{}/dicomweb/studies",
        listener.local_addr().expect("addr")
    );
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut request = Vec::new();
            let mut buf = [0u8; 65536];
            // Headers, then Content-Length bytes of body.
            let body_len = loop {
                let n = stream.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break None;
                }
                request.extend_from_slice(&buf[..n]);
                if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
                    let len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    break Some(end + 4 + len);
                }
            };
            let Some(total) = body_len else { continue };
            while request.len() < total {
                let n = stream.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
            }
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/dicom+json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
            );
            let _ = tx.send(request);
        }
    });
    (url, rx)
}

#[test]
fn nothing_planted_goes_over_the_wire() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (url, requests) = recording_receiver();
    let config = write_config(tmp.path(), &url, Some("test-token-123"), false);
    let file = phi_fixture(&tmp.path().join("in"));
    let out = run_ok(gateway(&config).arg("send").arg(&file));
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains("1 stored by the server"), "{said}");
    let mut wire = Vec::new();
    while let Ok(r) = requests.try_recv() {
        wire.extend(r);
    }
    assert!(!wire.is_empty(), "the gateway sent something");
    let head = String::from_utf8_lossy(&wire[..wire.len().min(600)]).to_ascii_lowercase();
    assert!(
        head.contains("authorization: bearer test-token-123"),
        "{head}"
    );
    assert!(
        head.contains("multipart/related; type=\"application/dicom\""),
        "{head}"
    );
    for planted in PLANTED.iter().chain(&[
        "PHI-123456",
        "DOE^JANE",
        "ACME",
        "Saint Elsewhere",
        "19500101",
    ]) {
        assert!(
            !wire.windows(planted.len()).any(|w| w == planted.as_bytes()),
            "{planted} went over the wire"
        );
    }
    // And at the hospital, the outbox keeps nothing identified either.
    assert!(common::fixtures::planted_in(&tmp.path().join("state/outbox")).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ethics_gate_holds_every_route_until_approval() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = Server::start_with(
        None,
        &[
            "--dicom-listen",
            "127.0.0.1:0",
            "--dicom-peer",
            "PACS=Ospedale in Attesa",
        ],
    );
    let dicom_port: u16 = server
        .startup
        .iter()
        .find_map(|l| l.strip_prefix("lunghub DICOM listening on "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|a| a.rsplit_once(':'))
        .and_then(|(_, p)| p.parse().ok())
        .expect("serve prints where DICOM listens");
    let a = admin(&server).await;
    let (institute, site) = hospital(&a, "Ospedale in Attesa", "ethics-approval").await;
    let token = issue_token(&a, &server.base, &site, "gateway").await;
    let config = write_config(
        tmp.path(),
        &format!("{}/dicomweb/studies", server.base),
        Some(&token),
        false,
    );
    let files = corpus(&tmp.path().join("in"));
    let dicom = std::fs::read(&files[1]).expect("read");

    // Web upload: no batch for a hospital still waiting for its committee.
    let r = new_batch(&a, &site).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("ethical committee"), "{}", r.body);
    // STOW-RS with the site's token.
    let r = common::stow_one(&server.base, &token, &dicom).await;
    assert_eq!(r.status().as_u16(), 403);
    assert!(
        r.text()
            .await
            .unwrap_or_default()
            .contains("ethical committee")
    );
    // C-STORE from the site's PACS: refused, not authorized, with the reason.
    let sent = Command::new(require_tool("storescu"))
        .args(["-v", "-aet", "PACS", "-aec", "LUNGHUB", "127.0.0.1"])
        .arg(dicom_port.to_string())
        .arg(&files[2])
        .output()
        .expect("storescu runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&sent.stdout),
        String::from_utf8_lossy(&sent.stderr)
    );
    assert!(
        said.contains("Status: 0x124"),
        "refused, not authorized: {said}"
    );
    // The gateway keeps its file at the hospital and says why.
    let out = gateway(&config)
        .arg("send")
        .arg(&files[0])
        .output()
        .expect("runs");
    assert!(!out.status.success(), "refused before approval");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ethical committee"), "{err}");
    assert_eq!(
        waiting(&tmp.path().join("state")),
        1,
        "kept at the hospital"
    );
    // Approved: the same file goes in.
    let r = a
        .post(
            &format!("/coord/institutes/{institute}/stage"),
            &[
                ("move", "forward"),
                ("expected", "ethics-approval"),
                ("note", "approved"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    run_ok(gateway(&config).arg("send").arg(&files[0]));
    assert_eq!(waiting(&tmp.path().join("state")), 0);
    let r = common::stow_one(&server.base, &token, &dicom).await;
    assert_eq!(r.status().as_u16(), 200);
    storescu(dicom_port, &files[2..3]);
    common::wait_for_spool(&server.data_dir);
    let catalog = Catalog::open(&Catalog::sqlite_url(&server.data_dir))
        .await
        .expect("catalog");
    assert_eq!(
        catalog.item_ids().await.expect("ids").len(),
        3,
        "one by each route"
    );
    let r = new_batch(&a, &site).await;
    assert_eq!(r.status, 303, "the upload opens too: {}", r.body);
}

/// Asks for a web upload batch for `site`, as the upload page's form does.
async fn new_batch(a: &common::server::Client, site: &str) -> common::server::Response {
    let form = reqwest::multipart::Form::new()
        .text("site", site.to_owned())
        .text("finding", "")
        .text("modality", "")
        .text("view", "")
        .text("sex", "")
        .text("age", "");
    a.post_multipart(&format!("/upload/batches?csrf={}", a.csrf()), form)
        .await
}

/// A free TCP port on the loopback address, at the time of asking.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Orthanc (the Debian package) with its DICOMweb plugin, on free ports, storing in `dir`.
struct Orthanc {
    child: Child,
    base: String,
}

impl Orthanc {
    const PLUGIN: &str = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so";

    async fn start(dir: &Path) -> Orthanc {
        let program = require_tool("Orthanc");
        assert!(
            Path::new(Self::PLUGIN).exists(),
            "{} is missing: install orthanc-dicomweb (bash .ci/run does)",
            Self::PLUGIN
        );
        let (http, dicom) = (free_port(), free_port());
        let storage = dir.join("orthanc-db");
        let config = serde_json::json!({
            "Name": "lunghub-gateway-test",
            "StorageDirectory": storage,
            "IndexDirectory": storage,
            "HttpPort": http,
            "DicomPort": dicom,
            "RemoteAccessAllowed": false,
            "AuthenticationEnabled": false,
            "Plugins": [Self::PLUGIN],
            "DicomWeb": { "Enable": true, "Root": "/dicom-web/" }
        });
        let path = dir.join("orthanc.json");
        std::fs::write(&path, config.to_string()).expect("config");
        let log = std::fs::File::create(dir.join("orthanc.log")).expect("log");
        let child = Command::new(program)
            .arg(&path)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("Orthanc starts");
        let orthanc = Orthanc {
            child,
            base: format!("http://127.0.0.1:{http}"),
        };
        let client = common::http().build().expect("client");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let up = client.get(format!("{}/system", orthanc.base)).send().await;
            if up.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "Orthanc did not start: {}",
                std::fs::read_to_string(dir.join("orthanc.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        orthanc
    }

    async fn get(&self, path: &str) -> Vec<u8> {
        let r = common::http()
            .build()
            .expect("client")
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("GET");
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.bytes().await.expect("body").to_vec()
    }
}

impl Drop for Orthanc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn orthanc_stores_what_the_gateway_sends_and_none_of_it_carries_identity() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let orthanc = Orthanc::start(tmp.path()).await;
    let config = write_config(
        tmp.path(),
        &format!("{}/dicom-web/studies", orthanc.base),
        None,
        false,
    );
    let inputs = tmp.path().join("in");
    corpus(&inputs);
    phi_fixture(&inputs);
    let out = run_ok(gateway(&config).arg("send").arg(&inputs));
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        said.contains(&format!("{} stored by the server", FILES + 1)),
        "{said}"
    );
    let ids: Vec<String> =
        serde_json::from_slice(&orthanc.get("/instances").await).expect("instance list");
    assert_eq!(ids.len(), FILES + 1, "Orthanc stored every instance");
    for id in &ids {
        let file = orthanc.get(&format!("/instances/{id}/file")).await;
        for planted in PLANTED.iter().chain(&["PHI-123456", "DOE^JANE", "ACME"]) {
            assert!(
                !file.windows(planted.len()).any(|w| w == planted.as_bytes()),
                "{planted} is in what Orthanc stored"
            );
        }
        let tags: serde_json::Value = serde_json::from_slice(
            &orthanc
                .get(&format!("/instances/{id}/simplified-tags"))
                .await,
        )
        .expect("tags");
        assert_eq!(tags["PatientIdentityRemoved"], "YES", "{tags}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn identity_a_gateway_lets_through_is_refused_and_the_site_alerted() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = Server::start(None);
    let a = admin(&server).await;
    let (_, site) = hospital(&a, "Ospedale Distratto", "waiting-for-data").await;
    common::accounts::sign_up(
        &server,
        "medical-personnel",
        "Ugo Uploader",
        "ugo@example.org",
        &[
            ("institution", "Ospedale Distratto"),
            ("location", "Como"),
            ("profession", "radiographer"),
        ],
    )
    .await;
    common::accounts::set_role(&a, "ugo@example.org", "uploader", &site).await;
    let (config, fp, token) = registered_gateway(&a, &server, &site, tmp.path(), false).await;

    // What the gateway's key makes of a file, with the patient's name put back: marked
    // de-identified by the registered gateway, but not.
    let files = corpus(&tmp.path().join("in"));
    let out = tmp.path().join("deidentified");
    common::deid(
        &[&files[0]],
        &out,
        &tmp.path().join("state/site.key"),
        None,
        &tmp.path().join("deidentified.json"),
    );
    let made = walkdir(&out).pop().expect("one output");
    let mut obj = dicom_object::open_file(&made).expect("DICOM");
    obj.put(DataElement::new(
        Tag(0x0010, 0x0010),
        VR::PN,
        PrimitiveValue::from("DOE^JANE"),
    ));
    let mut leaky = Vec::new();
    obj.write_all(&mut leaky).expect("encode");
    let r = common::stow_one(&server.base, &token, &leaky).await;
    assert_eq!(r.status().as_u16(), 409, "refused");
    let answer = r.text().await.unwrap_or_default();
    assert!(answer.contains("49153"), "C001, quarantined: {answer}");
    let mail = server.last_mail_to("ugo@example.org").await;
    assert!(mail.contains("refused an image"), "{mail}");
    assert!(mail.contains(&fp), "{mail}");
    assert!(
        !mail.contains("DOE^JANE"),
        "the alert names attributes, never values"
    );
    // The gateway's own output goes in.
    run_ok(gateway(&config).arg("send").arg(&files[1]));
    let catalog = Catalog::open(&Catalog::sqlite_url(&server.data_dir))
        .await
        .expect("catalog");
    assert_eq!(catalog.item_ids().await.expect("ids").len(), 1);
}

/// A CA and a certificate for 127.0.0.1 signed by it, made with openssl: (CA, cert, key).
fn private_ca(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let openssl = require_tool("openssl");
    let run = |args: &[&str]| {
        let out = Command::new(&openssl)
            .current_dir(dir)
            .args(args)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=Ospedale test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

/// A child process killed when dropped, so that a failing test leaves none behind.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A STOW-RS receiver over HTTPS (Python's ssl), answering 200 to every request.
fn https_receiver(cert: &Path, key: &Path) -> (Killed, u16) {
    let script = r#"
import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-type", "application/dicom+json")
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"{}")
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
c.load_cert_chain(sys.argv[1], sys.argv[2])
s.socket = c.wrap_socket(s.socket, server_side=True)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;
    let mut child = Command::new(common::python())
        .arg("-c")
        .arg(script)
        .arg(cert)
        .arg(key)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the port");
    let port = line.trim().parse().expect("a port");
    (Killed(child), port)
}

#[test]
fn https_is_checked_against_the_system_and_the_hospitals_own_ca() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (ca, cert, key) = private_ca(tmp.path());
    let (_receiver, port) = https_receiver(&cert, &key);
    let url = format!("https://127.0.0.1:{port}/dicomweb/studies");
    let file = corpus(&tmp.path().join("in")).remove(0);

    // The hospital's CA is no system CA: refused at once, and the instance stays queued.
    let config = write_config(tmp.path(), &url, Some("t0ken"), false);
    let out = gateway(&config)
        .arg("send")
        .arg(&file)
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("not trusted"),
        "{err}"
    );
    assert_eq!(waiting(&tmp.path().join("state")), 1);

    // Given as extra_ca, it is trusted.
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, format!("extra_ca = \"{}\"\n{text}", ca.display())).expect("config");
    run_ok(gateway(&config).arg("send").arg(&file));
    assert_eq!(waiting(&tmp.path().join("state")), 0);
}

/// A hospital's DICOM with a chosen record number (the fixture's issuer kept).
fn with_patient(sop: &str, seed: u16, patient: &str) -> Vec<u8> {
    let bytes = chest_dx(&format!("{sop}.5"), sop, seed, 48);
    let mut obj = dicom_object::from_reader(&bytes[128..]).expect("parse");
    obj.put(DataElement::new(
        Tag(0x0010, 0x0020),
        VR::LO,
        PrimitiveValue::from(patient),
    ));
    let mut out = Vec::new();
    obj.write_all(&mut out).expect("encode");
    out
}

/// Labels read at the hospital (a metadata CSV to `gateway send`; a CSV and class folders
/// in the watched folder) arrive with their instances. A CSV's record number becomes the
/// pseudonym the same number in PatientID would get under the site key; free text, folder
/// names and record numbers stay at the hospital; an unknown finding is refused there.
#[tokio::test(flavor = "multi_thread")]
async fn labels_read_at_the_hospital_arrive_with_their_instances_and_nothing_else_does() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = Server::start(None);
    let a = admin(&server).await;
    let (_, site) = hospital(&a, "Ospedale delle Etichette", "waiting-for-data").await;
    let (config, ..) = registered_gateway(&a, &server, &site, tmp.path(), true).await;
    let mut text = std::fs::read_to_string(&config).expect("config");
    text.push_str("[folder]\nwatch = \"incoming\"\npoll_seconds = 1\n");
    std::fs::write(&config, text).expect("config");

    // `gateway send` of an export as hospitals make them: a CSV, names with identity.
    let export = tmp.path().join("ROSSI MARIO export");
    corpus(&export);
    std::fs::write(
        export.join("metadata.csv"),
        "filename,finding,patientid,view,sex,age,comorbidities\n\
         DOE^JANE 0.dcm,COVID-19,MRN-1001,AP,F,95,\"diabetes, seen by Dr Zivago\"\n\
         DOE^JANE 1.dcm,healthy,MRN-1002,PA,M,40,\n\
         DOE^JANE 2.dcm,Verdi Giuseppe,MRN-1003,,,,\n",
    )
    .expect("csv");
    let out = gateway(&config)
        .arg("send")
        .arg(&export)
        .output()
        .expect("runs");
    let (said, complained) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert_eq!(out.status.code(), Some(1), "{said}{complained}");
    assert!(
        said.contains(&format!(
            "{FILES} files: {} stored by the server, 1 refused",
            FILES - 1
        )),
        "{said}"
    );
    assert!(
        complained.contains("\"Verdi Giuseppe\" is not one lunghub knows"),
        "{complained}"
    );

    // The watched folder: a class folder, a folder named after a patient, and a prepared
    // folder with its CSV moved in at once.
    let (mut gw, _, _) = run_gateway(&config);
    let incoming = tmp.path().join("incoming");
    let staged = tmp.path().join("staged");
    for (dir, name, patient, seed) in [
        ("COVID-19", "a.dcm", "PHI-123456", 31),
        ("VERDI GIUSEPPE", "b.dcm", "PHI-123456", 32),
        ("batch/images", "c.dcm", "MRN-1001", 33),
    ] {
        std::fs::create_dir_all(staged.join(dir)).expect("dir");
        let sop = format!("1.2.826.0.1.3680043.8.498.77{seed}");
        std::fs::write(
            staged.join(dir).join(name),
            with_patient(&sop, seed, patient),
        )
        .expect("write");
    }
    std::fs::write(
        staged.join("batch/metadata.csv"),
        "filename,finding,patientid\nc.dcm,pneumonia,MRN-1001\n",
    )
    .expect("csv");
    std::fs::rename(&staged, &incoming).expect("moved in");
    let done = incoming.join("done");
    wait_until("the watched folder taken and sent", 60, || {
        walkdir(&incoming).iter().all(|p| p.starts_with(&done))
            && waiting(&tmp.path().join("state")) == 0
    });
    gw.kill().expect("stop");
    gw.wait().expect("reaped");
    assert_eq!(walkdir(&done).len(), 3, "every image moved to done/");
    assert_eq!(
        common::fixtures::found_in(&done, &["c.dcm,pneumonia"]).len(),
        1,
        "the CSV follows its images to done/"
    );

    // What the same record number in PatientID becomes under the site key.
    let reference = tmp.path().join("reference");
    std::fs::create_dir_all(&reference).expect("dir");
    std::fs::write(
        reference.join("r.dcm"),
        with_patient("1.2.826.0.1.3680043.8.498.7799", 99, "MRN-1001"),
    )
    .expect("write");
    let keyed = tmp.path().join("keyed");
    common::deid(
        &[&reference],
        &keyed,
        &tmp.path().join("state/site.key"),
        None,
        &tmp.path().join("keyed.json"),
    );
    let mrn_1001 = identities(&keyed)[0].0.clone();
    assert!(mrn_1001.starts_with("LH-"), "{mrn_1001}");

    let catalog = Catalog::open(&Catalog::sqlite_url(&server.data_dir))
        .await
        .expect("catalog");
    let mut labelled = Vec::new();
    let ids = catalog.item_ids().await.expect("ids");
    assert_eq!(ids.len(), FILES - 1 + 3, "every taken file once");
    for id in &ids {
        let item = catalog.item(id).await.expect("item").expect("there");
        let field = |k: &str| item.fields[k].as_str().unwrap_or_default().to_owned();
        assert!(
            item.fields["comorbidities"].is_null(),
            "free text stays home"
        );
        assert!(
            item.fields["source_dataset"].is_null(),
            "folder names stay home"
        );
        for l in &item.labels {
            assert_eq!(l.source, "metadata");
            assert!(l.known);
            labelled.push((
                l.finding.clone(),
                field("patient_id") == mrn_1001,
                field("view"),
                field("sex"),
                item.fields["age_years"].as_f64(),
            ));
        }
    }
    labelled.sort_by(|x, y| x.0.cmp(&y.0).then(x.1.cmp(&y.1)));
    let rows: Vec<(&str, bool)> = labelled.iter().map(|l| (l.0.as_str(), l.1)).collect();
    assert_eq!(
        rows,
        [
            ("No Finding", false),
            ("Pneumonia", true),
            ("Pneumonia/Viral/COVID-19", false),
            ("Pneumonia/Viral/COVID-19", true),
        ],
        "{labelled:?}"
    );
    let covid_csv = labelled.iter().find(|l| l.1 && l.0.ends_with("COVID-19"));
    let covid_csv = covid_csv.expect("the CSV's COVID-19 row");
    assert_eq!(covid_csv.2, "AP");
    assert_eq!(covid_csv.4, Some(90.0), "ages over 89 are sent as 90");
    let healthy = &labelled[0];
    assert_eq!((healthy.2.as_str(), healthy.3.as_str()), ("PA", "M"));
    let stayed_home = common::fixtures::found_in(
        &server.data_dir,
        &[
            "MRN-100",
            "Zivago",
            "ROSSI MARIO",
            "VERDI",
            "Verdi",
            "diabetes",
        ],
    );
    assert!(stayed_home.is_empty(), "{stayed_home:?}");
}
