//! The one-pipeline rule, tested: the same DICOM file sent by each route (a folder ingest,
//! a web upload, DICOMweb STOW-RS and DICOM C-STORE), each into a fresh catalog with the
//! same site key, ends up as the same catalog record with the same fingerprints: same id
//! (the sha256 of the de-identified bytes), same pseudonyms, UIDs, pixel and perceptual
//! hashes, labels and flags. Only provenance differs: the route, the time, and the source
//! dataset's name, which only a folder ingest has (the folder's name).
//!
//! And every route keys each site's files with that site's own key: the same PatientID at
//! two hospitals is two pseudonymous patients.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::accounts::{admin, issue_token};
use common::fixtures::chest_dx;
use common::server::{Client, Server};
use common::{key_file, lunghub, require_tool, run_ok, stow_one, wait_for_spool};
use lunghub_store::Catalog;

const SITE: &str = "Same Hospital";
const SITE_ID: &str = "same-hospital";

/// The one item of a catalog, as a comparable record: every field but the provenance
/// (route, intake time, source dataset), the labels, and the history.
async fn only_item(data_dir: &Path) -> (String, serde_json::Value) {
    let catalog = Catalog::open(&Catalog::sqlite_url(data_dir))
        .await
        .expect("catalog");
    let ids = catalog.item_ids().await.expect("ids");
    assert_eq!(ids.len(), 1, "one item in {}", data_dir.display());
    let item = catalog.item(&ids[0]).await.expect("item").expect("there");
    let route = item.fields["route"].as_str().expect("route").to_owned();
    let mut fields = item.fields.clone();
    fields.remove("route");
    fields.remove("intake_at");
    fields.remove("source_dataset");
    let labels: Vec<(String, String)> = item
        .labels
        .iter()
        .map(|l| (l.finding.clone(), l.source.clone()))
        .collect();
    let history: Vec<String> = item
        .history
        .iter()
        .map(|(_, kind, detail)| format!("{kind}: {}", detail.replace(&route, "ROUTE")))
        .collect();
    (
        route,
        serde_json::json!({ "fields": fields, "labels": labels, "history": history }),
    )
}

/// A hospital of the onboarding tracker, past ethics, whose site id is the slug of `name`
/// (as `lunghub ingest --site NAME` names a site), so that every route keys it alike.
async fn add_site(admin: &Client, name: &str) {
    common::accounts::hospital(admin, name, "waiting-for-data").await;
}

async fn by_folder(tmp: &Path, key: &Path, file: &Path) -> (String, serde_json::Value) {
    let data = tmp.join("folder-data");
    ingest(&data, key, SITE, file.parent().expect("folder"));
    only_item(&data).await
}

fn ingest(data: &Path, key: &Path, site: &str, folder: &Path) {
    run_ok(
        lunghub()
            .args([
                "ingest",
                "--site",
                site,
                "--format",
                "plain",
                "--server-key",
            ])
            .arg(key)
            .arg("--data-dir")
            .arg(data)
            .arg(folder),
    );
}

/// A web upload of one file to `site_id`, in a batch of its own.
async fn upload(a: &Client, site_id: &str, bytes: &[u8]) {
    let form = reqwest::multipart::Form::new()
        .text("site", site_id.to_owned())
        .text("finding", "")
        .text("modality", "")
        .text("view", "")
        .text("sex", "")
        .text("age", "");
    let r = a
        .post_multipart(&format!("/upload/batches?csrf={}", a.csrf()), form)
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let batch = r
        .location
        .expect("batch")
        .rsplit('/')
        .next()
        .expect("id")
        .to_owned();
    let r = a
        .put_file(
            &format!("/upload/batches/{batch}/files"),
            "dx.dcm",
            bytes.to_vec(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()[0]["outcome"], "new", "{}", r.body);
}

async fn by_upload(key: &Path, bytes: &[u8]) -> (String, serde_json::Value) {
    let server = Server::start_with(None, &["--server-key", &key.display().to_string()]);
    let a = admin(&server).await;
    add_site(&a, SITE).await;
    upload(&a, SITE_ID, bytes).await;
    only_item(&server.data_dir).await
}

async fn stow(server: &Server, token: &str, bytes: &[u8]) {
    let answer = stow_one(&server.base, token, bytes).await;
    assert_eq!(answer.status().as_u16(), 200, "{:?}", answer.text().await);
}

async fn by_stow(key: &Path, bytes: &[u8]) -> (String, serde_json::Value) {
    let server = Server::start_with(None, &["--server-key", &key.display().to_string()]);
    let a = admin(&server).await;
    add_site(&a, SITE).await;
    let token = issue_token(&a, &server.base, SITE_ID, "router").await;
    stow(&server, &token, bytes).await;
    only_item(&server.data_dir).await
}

/// `lunghub scp` on a free port with `peers` (`AE=Site`), and, when `listening` is asked
/// for, the address it listens on.
fn scp_on(data: &Path, key: &Path, peers: &[String], listening: bool) -> (Child, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lunghub"));
    cmd.args(["scp", "--listen", "127.0.0.1:0", "--ae-title", "LUNGHUB"]);
    for peer in peers {
        cmd.arg("--peer").arg(peer);
    }
    let mut scp = cmd
        .arg("--server-key")
        .arg(key)
        .arg("--data-dir")
        .arg(data)
        .stdout(if listening {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .spawn()
        .expect("lunghub scp starts");
    let Some(out) = scp.stdout.take() else {
        return (scp, String::new());
    };
    let mut lines = BufReader::new(out).lines();
    let address = loop {
        let line = lines
            .next()
            .expect("lunghub scp says where it listens")
            .expect("line");
        if let Some(rest) = line.strip_prefix("lunghub DICOM listening on ") {
            break rest.split_whitespace().next().expect("address").to_owned();
        }
    };
    // The rest of its output is drained, so that it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (scp, address)
}

/// DCMTK's storescu sends `file` as `calling` to the SCP at `address`.
fn storescu(calling: &str, address: &str, file: &Path) -> std::process::ExitStatus {
    let (host, port) = address.rsplit_once(':').expect("host:port");
    Command::new(require_tool("storescu"))
        .args(["-aet", calling, "-aec", "LUNGHUB", host, port])
        .arg(file)
        .status()
        .expect("storescu runs")
}

fn by_c_store(tmp: &Path, key: &Path, file: &Path) -> std::thread::JoinHandle<std::path::PathBuf> {
    require_tool("storescu");
    let data = tmp.join("c-store-data");
    let (key, file) = (key.to_owned(), file.to_owned());
    std::thread::spawn(move || {
        let peers = [format!("PACS={SITE}")];
        let (mut scp, address) = scp_on(&data, &key, &peers, true);
        let status = storescu("PACS", &address, &file);
        // Killed (SIGKILL) as soon as storescu has its answer, before or while the file is
        // catalogued: a second start catalogues what the spool holds.
        let _ = scp.kill();
        let _ = scp.wait();
        assert!(status.success(), "storescu failed: {status}");
        let (mut again, _) = scp_on(&data, &key, &peers, false);
        wait_for_spool(&data);
        let _ = again.kill();
        let _ = again.wait();
        data
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_makes_the_same_catalog_record() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let key = key_file(tmp.path());
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).expect("mkdir");
    let file = input.join("dx.dcm");
    let bytes = chest_dx(
        "1.2.826.0.1.3680043.8.498.900",
        "1.2.826.0.1.3680043.8.498.900.1",
        9,
        128,
    );
    std::fs::write(&file, &bytes).expect("write");

    let c_store = by_c_store(tmp.path(), &key, &file);
    let folder = by_folder(tmp.path(), &key, &file).await;
    let upload = by_upload(&key, &bytes).await;
    let stow = by_stow(&key, &bytes).await;
    let c_store_data = c_store.join().expect("the C-STORE route");
    let c_store = only_item(&c_store_data).await;

    let routes = [&folder, &upload, &stow, &c_store];
    assert_eq!(
        routes.iter().map(|(r, _)| r.as_str()).collect::<Vec<_>>(),
        ["folder", "upload", "stow-rs", "c-store"]
    );
    for (route, record) in &routes[1..] {
        assert_eq!(
            record, &folder.1,
            "the {route} route made a different record than the folder route"
        );
    }
    // And the records are not trivially equal: they hold the fingerprints.
    for name in [
        "id",
        "pixel_hash",
        "perceptual_hash",
        "patient_id",
        "study_id",
    ] {
        assert!(folder.1["fields"][name].is_string(), "{name}: {}", folder.1);
    }
    assert_ne!(
        folder.1["fields"]["study_id"],
        "1.2.826.0.1.3680043.8.498.900"
    );
}

/// Each catalogued item's site (by name) and pseudonymous patient.
async fn patients_by_site(data_dir: &Path) -> Vec<(String, String)> {
    let catalog = Catalog::open(&Catalog::sqlite_url(data_dir))
        .await
        .expect("catalog");
    let mut out = Vec::new();
    for id in catalog.item_ids().await.expect("ids") {
        let item = catalog.item(&id).await.expect("item").expect("there");
        let field = |name: &str| item.fields[name].as_str().expect(name).to_owned();
        out.push((field("site"), field("patient_id")));
    }
    out.sort();
    out
}

/// Asserts that every item of site A shares one patient, every item of site B another.
fn two_patients(route: &str, items: &[(String, String)], per_site: usize) {
    let of = |site: &str| -> Vec<&str> {
        items
            .iter()
            .filter(|(s, _)| s == site)
            .map(|(_, p)| p.as_str())
            .collect()
    };
    let (a, b) = (of(HOSPITAL_A), of(HOSPITAL_B));
    assert_eq!(
        (a.len(), b.len()),
        (per_site, per_site),
        "{route}: {items:?}"
    );
    assert!(
        a.iter().all(|p| *p == a[0]) && b.iter().all(|p| *p == b[0]),
        "{route}: one patient's files at one site became several patients: {items:?}"
    );
    assert_ne!(
        a[0], b[0],
        "{route}: two hospitals' patients with the same PatientID became one"
    );
    assert!(
        a[0].starts_with("LH-") || a[0].starts_with("2.25."),
        "{a:?}"
    );
}

const HOSPITAL_A: &str = "Hospital A";
const HOSPITAL_B: &str = "Hospital B";

/// Two hospitals, one local record number: both send a radiograph of "their" patient
/// PHI-123456 (no issuer, as is common). On every route the catalog must hold two
/// pseudonymous patients, one per site; and a site's two files of its patient stay one.
#[tokio::test(flavor = "multi_thread")]
async fn the_same_patient_id_at_two_sites_is_two_patients_on_every_route() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let key = key_file(tmp.path());
    // Four different radiographs, all with the fixture's PatientID.
    let files: Vec<std::path::PathBuf> = (0..4u16)
        .map(|n| {
            let dir = tmp.path().join(format!("in{n}"));
            std::fs::create_dir_all(&dir).expect("mkdir");
            let file = dir.join("dx.dcm");
            let study = format!("1.2.826.0.1.3680043.8.498.91{n}");
            std::fs::write(&file, chest_dx(&study, &format!("{study}.1"), 20 + n, 96))
                .expect("write");
            file
        })
        .collect();
    let bytes = |n: usize| std::fs::read(&files[n]).expect("read");

    // Folder: one ingest per site into one catalog.
    let folder = tmp.path().join("folder-data");
    for (site, n) in [
        (HOSPITAL_A, 0),
        (HOSPITAL_A, 1),
        (HOSPITAL_B, 2),
        (HOSPITAL_B, 3),
    ] {
        ingest(&folder, &key, site, files[n].parent().expect("folder"));
    }
    two_patients("folder", &patients_by_site(&folder).await, 2);

    // Web upload and STOW-RS into one server: each site one file by each route.
    let server = Server::start_with(None, &["--server-key", &key.display().to_string()]);
    let a = admin(&server).await;
    add_site(&a, HOSPITAL_A).await;
    add_site(&a, HOSPITAL_B).await;
    upload(&a, "hospital-a", &bytes(0)).await;
    upload(&a, "hospital-b", &bytes(2)).await;
    let uploaded = patients_by_site(&server.data_dir).await;
    two_patients("upload", &uploaded, 1);
    let token_a = issue_token(&a, &server.base, "hospital-a", "router").await;
    let token_b = issue_token(&a, &server.base, "hospital-b", "router").await;
    stow(&server, &token_a, &bytes(1)).await;
    stow(&server, &token_b, &bytes(3)).await;
    two_patients(
        "upload + stow-rs",
        &patients_by_site(&server.data_dir).await,
        2,
    );

    // C-STORE: two PACS, one per site, to one SCP.
    let data = tmp.path().join("c-store-data");
    let peers = [format!("PACSA={HOSPITAL_A}"), format!("PACSB={HOSPITAL_B}")];
    let (mut scp, address) = scp_on(&data, &key, &peers, true);
    let sent: Vec<_> = [("PACSA", 0), ("PACSA", 1), ("PACSB", 2), ("PACSB", 3)]
        .into_iter()
        .map(|(ae, n)| storescu(ae, &address, &files[n]))
        .collect();
    wait_for_spool(&data);
    let _ = scp.kill();
    let _ = scp.wait();
    assert!(
        sent.iter().all(|s| s.success()),
        "storescu failed: {sent:?}"
    );
    two_patients("c-store", &patients_by_site(&data).await, 2);
}
