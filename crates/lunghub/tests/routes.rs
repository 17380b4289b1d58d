//! The one-pipeline rule, tested: the same DICOM file sent by each route (a folder ingest,
//! a web upload, DICOMweb STOW-RS and DICOM C-STORE), each into a fresh catalog with the
//! same site key, ends up as the same catalog record with the same fingerprints: same id
//! (the sha256 of the de-identified bytes), same pseudonyms, UIDs, pixel and perceptual
//! hashes, labels and flags. Only provenance differs: the route, the time, and the source
//! dataset's name, which only a folder ingest has (the folder's name).

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use common::accounts::admin;
use common::fixtures::chest_dx;
use common::server::{Client, Server};
use common::{key_file, lunghub, require_tool, run_ok, wait_for_spool};
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

async fn add_site(admin: &Client) {
    admin.get("/admin/sites").await;
    let r = admin.post("/admin/sites", &[("name", SITE)]).await;
    assert_eq!(r.status, 303, "{}", r.body);
}

async fn by_folder(tmp: &Path, key: &Path, file: &Path) -> (String, serde_json::Value) {
    let data = tmp.join("folder-data");
    run_ok(
        lunghub()
            .args(["ingest", "--site", SITE, "--format", "plain", "--site-key"])
            .arg(key)
            .arg("--data-dir")
            .arg(&data)
            .arg(file.parent().expect("folder")),
    );
    only_item(&data).await
}

async fn by_upload(key: &Path, bytes: &[u8]) -> (String, serde_json::Value) {
    let server = Server::start_with(None, &["--site-key", &key.display().to_string()]);
    let a = admin(&server).await;
    add_site(&a).await;
    let form = reqwest::multipart::Form::new()
        .text("site", SITE_ID)
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
    only_item(&server.data_dir).await
}

async fn by_stow(key: &Path, bytes: &[u8]) -> (String, serde_json::Value) {
    let server = Server::start_with(None, &["--site-key", &key.display().to_string()]);
    let a = admin(&server).await;
    add_site(&a).await;
    let r = a
        .post(
            &format!("/admin/sites/{SITE_ID}/tokens"),
            &[("label", "router")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let marker = "<code id=\"site-token\">";
    let start = r.body.find(marker).expect("the token") + marker.len();
    let token = &r.body[start..start + 64];
    let mut body = b"--XYZ\r\nContent-Type: application/dicom\r\n\r\n".to_vec();
    body.extend_from_slice(bytes);
    body.extend_from_slice(b"\r\n--XYZ--\r\n");
    let answer = common::http()
        .build()
        .expect("HTTP client")
        .post(format!("{}/dicomweb/studies", server.base))
        .header(
            "content-type",
            "multipart/related; type=\"application/dicom\"; boundary=XYZ",
        )
        .header("authorization", format!("Bearer {token}"))
        .body(body)
        .send()
        .await
        .expect("STOW-RS");
    assert_eq!(answer.status().as_u16(), 200, "{:?}", answer.text().await);
    only_item(&server.data_dir).await
}

fn by_c_store(tmp: &Path, key: &Path, file: &Path) -> std::thread::JoinHandle<std::path::PathBuf> {
    let storescu = require_tool("storescu");
    let data = tmp.join("c-store-data");
    let (key, file) = (key.to_owned(), file.to_owned());
    std::thread::spawn(move || {
        let scp_on = |data: &Path, stdout: Stdio| {
            Command::new(env!("CARGO_BIN_EXE_lunghub"))
                .args(["scp", "--listen", "127.0.0.1:0", "--ae-title", "LUNGHUB"])
                .arg("--peer")
                .arg(format!("PACS={SITE}"))
                .arg("--site-key")
                .arg(&key)
                .arg("--data-dir")
                .arg(data)
                .stdout(stdout)
                .spawn()
                .expect("lunghub scp starts")
        };
        let mut scp = scp_on(&data, Stdio::piped());
        let stdout = scp.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let address = loop {
            let line = lines
                .next()
                .expect("lunghub scp says where it listens")
                .expect("line");
            if let Some(rest) = line.strip_prefix("lunghub DICOM listening on ") {
                break rest.split_whitespace().next().expect("address").to_owned();
            }
        };
        let (host, port) = address.rsplit_once(':').expect("host:port");
        let status = Command::new(&storescu)
            .args(["-aet", "PACS", "-aec", "LUNGHUB", host, port])
            .arg(&file)
            .status()
            .expect("storescu runs");
        // Killed (SIGKILL) as soon as storescu has its answer, before or while the file is
        // catalogued: a second start catalogues what the spool holds.
        let _ = scp.kill();
        let _ = scp.wait();
        assert!(status.success(), "storescu failed: {status}");
        let mut again = scp_on(&data, Stdio::null());
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
