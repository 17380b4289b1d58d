//! Hospitals sending images through the web, end to end against the real `lunghub serve`:
//! a batch with a CSV sidecar, per-file outcomes, an interrupted upload resumed without
//! duplicates, zips, refusals; then review: the queue and why items are in it, window/level
//! and frames, approve/reject/relabel, two independent reads with the disagreement shown,
//! blanking burned-in text, and every decision in the item's history.

mod common;

use std::path::Path;

use common::accounts::{admin, set_role, sign_up};
use common::fixtures::{chest_dx, planted_in};
use common::server::{Client, Server, fresh_postgres};
use common::{key_file, lunghub, run_ok, shared_data};

fn catalog_summary(data_dir: &Path, database_url: Option<&str>) -> serde_json::Value {
    let mut cmd = lunghub();
    cmd.args(["catalog", "summary", "--json", "--data-dir"])
        .arg(data_dir);
    if let Some(url) = database_url {
        cmd.arg("--database-url").arg(url);
    }
    let out = run_ok(&mut cmd);
    serde_json::from_slice(&out.stdout).expect("summary JSON")
}

/// Creates the site in the server's catalog, as a first folder ingest would.
fn make_site(server: &Server, database_url: Option<&str>, key: &Path, name: &str) {
    let empty = tempfile::tempdir().expect("tempdir");
    let mut cmd = lunghub();
    cmd.args(["ingest", "--site", name, "--format", "plain", "--site-key"])
        .arg(key)
        .arg("--data-dir")
        .arg(&server.data_dir)
        .arg(empty.path());
    if let Some(url) = database_url {
        cmd.arg("--database-url").arg(url);
    }
    run_ok(&mut cmd);
}

async fn start_batch(c: &Client, site: &str, finding: &str, sidecar: Option<&str>) -> String {
    let mut form = reqwest::multipart::Form::new()
        .text("site", site.to_owned())
        .text("finding", finding.to_owned())
        .text("modality", "")
        .text("view", "")
        .text("sex", "")
        .text("age", "");
    if let Some(csv) = sidecar {
        form = form.part(
            "sidecar",
            reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("labels.csv"),
        );
    }
    let r = c
        .post_multipart(&format!("/upload/batches?csrf={}", c.csrf()), form)
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    r.location
        .expect("batch page")
        .rsplit('/')
        .next()
        .expect("id")
        .to_owned()
}

async fn put(c: &Client, batch: &str, name: &str, bytes: Vec<u8>) -> Vec<serde_json::Value> {
    let r = c
        .put_file(&format!("/upload/batches/{batch}/files"), name, bytes)
        .await;
    assert_eq!(r.status, 200, "{name}: {}", r.body);
    r.json().as_array().expect("outcomes").clone()
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut w = zip::ZipWriter::new(&mut out);
    for (name, bytes) in entries {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .expect("entry");
        std::io::Write::write_all(&mut w, bytes).expect("write");
    }
    w.finish().expect("zip");
    out.into_inner()
}

/// Text as maud writes it into a page.
fn maud_escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn item_state(body: &str) -> String {
    let at = body.find("id=\"state\">").expect("state shown") + 11;
    body[at..at + body[at..].find('<').expect("end")].to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn web_upload_and_review_on_sqlite() {
    exercise(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn web_upload_and_review_on_postgres() {
    exercise(Some(&fresh_postgres().await)).await;
}

async fn exercise(db: Option<&str>) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let key = key_file(tmp.path());
    let key_arg = key.display().to_string();
    let server = Server::start_with(db, &["--site-key", &key_arg]);
    make_site(&server, db, &key, "Upload Hospital");
    let site = "upload-hospital";
    let a = admin(&server).await;
    assert!(a.get("/upload").await.body.contains("Upload Hospital"));

    // A batch whose CSV sidecar labels some of the files.
    let images = shared_data("cxr-radiographydb-dev/images");
    let mut pngs: Vec<_> = std::fs::read_dir(&images)
        .expect("images")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    pngs.sort();
    let pngs = &pngs[..60];
    let name = |p: &Path| format!("folder/{}", p.file_name().expect("name").to_string_lossy());
    let sidecar = format!(
        "filename,finding,view,sex,age\n{},COVID-19,PA,F,54\n{},normal,AP,M,61\n",
        pngs[0].file_name().expect("n").to_string_lossy(),
        pngs[1].file_name().expect("n").to_string_lossy()
    );
    let batch = start_batch(&a, site, "", Some(&sidecar)).await;

    // The first 35 files go; then the connection "drops".
    for p in &pngs[..35] {
        let out = put(&a, &batch, &name(p), std::fs::read(p).expect("png")).await;
        assert_eq!(out.len(), 1);
        assert!(
            ["new", "near-duplicate"].contains(&out[0]["outcome"].as_str().expect("outcome")),
            "{out:?}"
        );
    }
    // Resuming: asked about every name, the batch says which it has (it keeps tags, not
    // names), the rest is sent, and a few sent again by mistake add nothing.
    let names: Vec<String> = pngs.iter().map(|p| name(p)).collect();
    let recorded = a
        .post_json(
            &format!("/upload/batches/{batch}/recorded"),
            &serde_json::json!({ "names": names }),
        )
        .await;
    assert_eq!(recorded.status, 200, "{}", recorded.body);
    let recorded = recorded.json();
    let listed = a
        .get(&format!("/upload/batches/{batch}/files.json"))
        .await
        .json();
    assert_eq!(listed.as_array().expect("list").len(), 35);
    assert!(
        listed
            .as_array()
            .expect("list")
            .iter()
            .all(|l| l["name"].is_null() && l["tag"].as_str().is_some_and(|t| t.len() == 16)),
        "{listed}"
    );
    let done: Vec<String> = recorded
        .as_array()
        .expect("list")
        .iter()
        .map(|l| l["name"].as_str().expect("name").to_owned())
        .collect();
    assert_eq!(done.len(), 35);
    for p in pngs.iter().filter(|p| !done.contains(&name(p))) {
        put(&a, &batch, &name(p), std::fs::read(p).expect("png")).await;
    }
    for p in &pngs[..3] {
        let out = put(&a, &batch, &name(p), std::fs::read(p).expect("png")).await;
        assert_eq!(out[0]["outcome"], "duplicate", "{out:?}");
    }
    let summary = catalog_summary(&server.data_dir, db);
    assert_eq!(summary["items"], 60, "{summary}");
    assert_eq!(
        summary["by_finding"]["Pneumonia/Viral/COVID-19"], 1,
        "{summary}"
    );
    assert_eq!(summary["by_finding"]["No Finding"], 1, "{summary}");
    assert_eq!(summary["by_view"]["PA"], 1, "{summary}");

    // A zip: entries are taken in one by one, with a bad entry reported by name.
    let extra = std::fs::read(&pngs[0]).expect("png");
    let fresh = std::fs::read(images.join("COVID-1.png")).expect("png");
    let archive = zip_of(&[
        ("study/again.png", extra.as_slice()),
        ("study/fresh.png", fresh.as_slice()),
        ("study/notes.txt", b"not an image"),
    ]);
    let out = put(&a, &batch, "study.zip", archive).await;
    let outcome_of = |entry: &str| {
        out.iter()
            .find(|l| l["name"].as_str().is_some_and(|n| n.ends_with(entry)))
            .unwrap_or_else(|| panic!("{entry} in {out:?}"))["outcome"]
            .as_str()
            .expect("outcome")
            .to_owned()
    };
    assert_eq!(outcome_of("again.png"), "duplicate");
    assert_eq!(outcome_of("notes.txt"), "unreadable");
    assert_eq!(outcome_of("study.zip"), "unpacked");

    // A file that is no image, and an empty name, are refused in words.
    let out = put(&a, &batch, "garbage.dcm", b"DICM but not really".to_vec()).await;
    assert_eq!(out[0]["outcome"], "unreadable", "{out:?}");
    // It claims to be DICOM and breaks at its first element: damaged, not unknown.
    assert_eq!(out[0]["cause"], "damaged", "{out:?}");
    assert!(!out[0]["detail"].as_str().expect("detail").is_empty());
    let plain = out[0]["plain"].as_str().expect("plain");
    assert!(plain.contains("damaged"), "{out:?}");
    assert!(!out[0]["next_step"].as_str().expect("next step").is_empty());
    // A real ultrasound without BurnedInAnnotation: quarantined, and told so plainly, with
    // what to do and the engineer's detail below.
    let us = std::fs::read(shared_data("dicom-conformance/pydicom-data/OBXXXX1A.dcm")).expect("us");
    let out = put(&a, &batch, "echo.dcm", us).await;
    assert_eq!(out[0]["outcome"], "quarantined", "{out:?}");
    assert_eq!(out[0]["cause"], "burned-in-text", "{out:?}");
    let plain = out[0]["plain"].as_str().expect("plain");
    let detail = out[0]["detail"].as_str().expect("detail");
    assert!(plain.contains("written into the picture"), "{plain}");
    assert!(!plain.contains("BurnedInAnnotation") && detail.contains("BurnedInAnnotation"));
    let page = a.get(&format!("/upload/batches/{batch}")).await;
    for shown in [
        plain,
        out[0]["next_step"].as_str().expect("next"),
        "Technical detail",
    ] {
        assert!(
            page.body.contains(&maud_escaped(shown)),
            "{shown} in {}",
            page.body
        );
    }
    let r = a
        .put_file(
            &format!("/upload/batches/{batch}/files"),
            "/../",
            b"x".to_vec(),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);

    // The batch page shows every file, by its tag, with its outcome, and loads the upload
    // script (which shows the names it sent); it names no file.
    let page = a.get(&format!("/upload/batches/{batch}")).await;
    let first_tag = listed[0]["tag"].as_str().expect("tag");
    assert!(
        page.body.contains(&format!("data-tag=\"{first_tag}\"")),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("study.zip") && !page.body.contains("folder/"),
        "{}",
        page.body
    );
    assert!(page.body.contains("/static/upload.js"));
    assert_eq!(a.get("/static/upload.js").await.status, 200);

    // A DICOM with planted identity: nothing of it reaches the blob store.
    let dx = chest_dx(
        "1.2.826.0.1.3680043.8.498.1",
        "1.2.826.0.1.3680043.8.498.1.1",
        1,
        96,
    );
    let out = put(&a, &batch, "pacs/dx1.dcm", dx).await;
    assert_eq!(out[0]["outcome"], "new", "{out:?}");
    let dx_id = out[0]["item_id"].as_str().expect("item").to_owned();
    assert_eq!(
        planted_in(&server.data_dir.join("blobs")),
        Vec::<String>::new()
    );

    // Someone without upload rights for the site cannot send to the batch.
    let member = sign_up(
        &server,
        "developer",
        "Sam",
        "sam@example.org",
        &[("skills", "Rust")],
    )
    .await;
    let r = member
        .put_file(
            &format!("/upload/batches/{batch}/files"),
            "x.png",
            extra.clone(),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(member.get("/review").await.status, 403);

    // Review: the queue says why items wait.
    let queue = a.get("/review").await;
    assert_eq!(queue.status, 200);
    assert!(
        queue.body.contains("missing or conflicting labels"),
        "{}",
        queue.body
    );
    // Unlabelled files wait, oldest first, a page at a time: the DICOM sent last is on
    // the second page.
    let labels = a.get("/review?reason=labels").await;
    assert!(!labels.body.contains(&dx_id[..10]));
    assert!(labels.body.contains("More →"));
    let labels = a.get("/review?reason=labels&page=1").await;
    assert!(labels.body.contains(&dx_id[..10]), "{}", labels.body);

    // The viewer: window/level for the 16-bit image changes what is shown.
    let viewer = a.get(&format!("/review/items/{dx_id}")).await;
    assert!(viewer.body.contains("Window centre"), "{}", viewer.body);
    let (s1, ct, default_png) = a.get_raw(&format!("/review/items/{dx_id}/image.png")).await;
    assert_eq!((s1, ct.as_str()), (200, "image/png"));
    let (s2, _, narrow_png) = a
        .get_raw(&format!("/review/items/{dx_id}/image.png?wc=1000&ww=200"))
        .await;
    assert_eq!(s2, 200);
    assert_ne!(default_png, narrow_png, "the window changes the rendering");

    // An unlabelled item offers no finding to approve with by default.
    assert!(
        viewer.body.contains("Choose a finding…")
            && !viewer.body.contains("value=\"No Finding\" selected"),
        "{}",
        viewer.body
    );
    // A rejection needs a reason; an approval needs a known finding.
    let r = a
        .post(
            &format!("/review/items/{dx_id}/read"),
            &[("decision", "approve"), ("finding", "")],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("Choose a finding"), "{}", r.body);
    let r = a
        .post(
            &format!("/review/items/{dx_id}/read"),
            &[("decision", "reject"), ("reason", "")],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("Say why"), "{}", r.body);
    let r = a
        .post(
            &format!("/review/items/{dx_id}/read"),
            &[
                ("decision", "approve"),
                ("finding", "Pneumonia/Viral/COVID-19"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = a.get(&format!("/review/items/{dx_id}")).await;
    assert_eq!(item_state(&page.body), "approved");
    assert!(page.body.contains("approve as Pneumonia/Viral/COVID-19"));
    assert!(
        page.body.contains("read by Administrator"),
        "the history names the reviewer"
    );

    // Two independent reads: the site asks for them; two reviewers disagree, it shows,
    // and a third read settles it.
    let r = a
        .post(&format!("/review/sites/{site}/double-read"), &[("on", "1")])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r1 = sign_up(
        &server,
        "frontline-doctor",
        "Rita",
        "rita@example.org",
        &[("institution", "Ospedale"), ("location", "Milan")],
    )
    .await;
    let r2 = sign_up(
        &server,
        "frontline-doctor",
        "Rolf",
        "rolf@example.org",
        &[("institution", "Ospedale"), ("location", "Milan")],
    )
    .await;
    set_role(&a, "rita@example.org", "reviewer", "").await;
    set_role(&a, "rolf@example.org", "reviewer", "").await;
    let dx2 = chest_dx(
        "1.2.826.0.1.3680043.8.498.2",
        "1.2.826.0.1.3680043.8.498.2.1",
        2,
        96,
    );
    let out = put(&a, &batch, "pacs/dx2.dcm", dx2).await;
    let dx2_id = out[0]["item_id"].as_str().expect("item").to_owned();
    let item = format!("/review/items/{dx2_id}");
    r1.get(&item).await;
    let r = r1
        .post(
            &format!("{item}/read"),
            &[("decision", "approve"), ("finding", "No Finding")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let seen_by_second = r2.get(&item).await;
    assert_eq!(item_state(&seen_by_second.body), "pending");
    assert!(
        seen_by_second
            .body
            .contains("hidden until you read this item yourself"),
        "the second reader does not see the first read"
    );
    r2.post(
        &format!("{item}/read"),
        &[("decision", "reject"), ("reason", "wrong body part")],
    )
    .await;
    let page = a.get(&item).await;
    assert_eq!(item_state(&page.body), "disagreement");
    assert!(page.body.contains("wrong body part") && page.body.contains("class=\"disagree\""));
    assert!(
        page.body.contains("read by Rolf: reject"),
        "a rejection's history names the reader, not the account id"
    );
    assert!(
        a.get("/review?reason=disagreement")
            .await
            .body
            .contains(&dx2_id[..10])
    );
    a.post(
        &format!("{item}/read"),
        &[("decision", "approve"), ("finding", "No Finding")],
    )
    .await;
    let page = a.get(&item).await;
    assert_eq!(item_state(&page.body), "approved");

    // Relabel, then blank a rectangle: the blanked copy replaces the item, keeps its
    // labels, and the old bytes are gone.
    let dx3 = chest_dx(
        "1.2.826.0.1.3680043.8.498.3",
        "1.2.826.0.1.3680043.8.498.3.1",
        3,
        96,
    );
    let out = put(&a, &batch, "pacs/dx3.dcm", dx3).await;
    let dx3_id = out[0]["item_id"].as_str().expect("item").to_owned();
    let r = a
        .post(
            &format!("/review/items/{dx3_id}/label"),
            &[("finding", "Pneumonia/Bacterial")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = a
        .post(
            &format!("/review/items/{dx3_id}/blank"),
            &[("x", "0"), ("y", "0"), ("w", "500"), ("h", "10")],
        )
        .await;
    assert_eq!(r.status, 400, "a rectangle outside the image is refused");
    let r = a
        .post(
            &format!("/review/items/{dx3_id}/blank"),
            &[("x", "0"), ("y", "0"), ("w", "40"), ("h", "12")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let new_id = r
        .location
        .expect("the new item")
        .rsplit('/')
        .next()
        .expect("id")
        .to_owned();
    assert_ne!(new_id, dx3_id);
    let blobs = server.data_dir.join("blobs");
    assert!(
        !blobs.join(&dx3_id[..2]).join(&dx3_id).exists(),
        "the old bytes are deleted"
    );
    let new_page = a.get(&format!("/review/items/{new_id}")).await;
    assert!(
        new_page.body.contains("Pneumonia/Bacterial"),
        "labels carried over"
    );
    assert!(
        new_page.body.contains("blanked 40x12 at 0,0"),
        "{}",
        new_page.body
    );
    let old_page = a.get(&format!("/review/items/{dx3_id}")).await;
    assert_eq!(item_state(&old_page.body), "replaced");
    // The blanked pixels are black in the stored copy.
    let (_, _, png) = a
        .get_raw(&format!("/review/items/{new_id}/image.png?wc=2048&ww=4096"))
        .await;
    let img = image::load_from_memory(&png).expect("png").to_luma8();
    assert!((0..40).all(|x| (0..12).all(|y| img.get_pixel(x, y)[0] == 0)));
    assert!(img.get_pixel(60, 60)[0] > 0);

    // The catalog knows each item came by web upload.
    let summary = catalog_summary(&server.data_dir, db);
    assert_eq!(summary["by_review_state"]["approved"], 2, "{summary}");
    assert_eq!(summary["by_review_state"]["replaced"], 1, "{summary}");
}

/// Every byte of every file under `dir` (the database and its journal included), searched
/// for each of `needles`; returns the (file, needle) pairs found.
fn names_at_rest(dir: &Path, needles: &[&str]) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for entry in walkdir::WalkDir::new(dir).into_iter().flatten() {
        if !entry.file_type().is_file() {
            continue;
        }
        let Ok(bytes) = std::fs::read(entry.path()) else {
            continue;
        };
        for needle in needles {
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                found.push((entry.path().display().to_string(), needle.to_string()));
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn no_file_name_or_sender_uid_is_kept_anywhere_in_the_data_directory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let key = key_file(tmp.path());
    let server = Server::start_with(None, &["--site-key", &key.display().to_string()]);
    make_site(&server, None, &key, "Upload Hospital");
    let a = admin(&server).await;
    const NAMES: [&str; 4] = [
        "ROSSI^MARIO_1001",
        "BIANCHI^LUCA_2002",
        "VERDI^ANNA_3003",
        "NERI^PAOLA_4004",
    ];
    const SIDECAR_PATIENT: &str = "PAZ-778899";
    const SENDER_UID: &str = "1.2.826.0.1.3680043.8.498.9911.1";
    let png = |name: &str| {
        std::fs::read(shared_data(&format!("cxr-radiographydb-dev/images/{name}"))).expect("png")
    };
    let sidecar = format!(
        "filename,finding,patientid\n{}.png,COVID-19,{SIDECAR_PATIENT}\n",
        NAMES[1]
    );
    let batch = start_batch(&a, "upload-hospital", "", Some(&sidecar)).await;
    let dx = chest_dx(
        "1.2.826.0.1.3680043.8.498.9910",
        "1.2.826.0.1.3680043.8.498.9910.1",
        4,
        64,
    );
    let out = put(&a, &batch, &format!("{}/chest.dcm", NAMES[0]), dx).await;
    assert_eq!(out[0]["outcome"], "new", "{out:?}");
    assert_eq!(
        out[0]["name"],
        format!("{}/chest.dcm", NAMES[0]),
        "the answer names the file"
    );
    let out = put(
        &a,
        &batch,
        &format!("{}.png", NAMES[1]),
        png("COVID-1001.png"),
    )
    .await;
    assert_eq!(out[0]["outcome"], "new", "{out:?}");
    let archive = zip_of(&[
        (
            &format!("{}/film.png", NAMES[2]),
            png("COVID-1002.png").as_slice(),
        ),
        (&format!("{}/notes.txt", NAMES[2]), b"not an image"),
    ]);
    let out = put(&a, &batch, &format!("{}.zip", NAMES[3]), archive).await;
    assert_eq!(out.len(), 3, "{out:?}");
    let summary = catalog_summary(&server.data_dir, None);
    assert_eq!(
        summary["by_finding"]["Pneumonia/Viral/COVID-19"], 1,
        "the sidecar's row still labels its file: {summary}"
    );

    // A STOW-RS instance, whose own SOP Instance UID the spool used to keep.
    let token = common::accounts::issue_token(&a, &server.base, "upload-hospital", "router").await;
    let dx = chest_dx("1.2.826.0.1.3680043.8.498.9911", SENDER_UID, 5, 64);
    let r = common::stow_one(&server.base, &token, &dx).await;
    assert_eq!(r.status().as_u16(), 200);
    common::wait_for_spool(&server.data_dir);

    let mut needles: Vec<&str> = NAMES.to_vec();
    needles.extend([SIDECAR_PATIENT, SENDER_UID, "chest.dcm", "notes.txt"]);
    assert_eq!(
        names_at_rest(&server.data_dir, &needles),
        Vec::<(String, String)>::new()
    );
}
