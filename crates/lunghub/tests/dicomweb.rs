//! DICOMweb STOW-RS end to end, against the real `lunghub serve` on SQLite and on
//! PostgreSQL: an admin adds a site and issues a token through the web pages, then real
//! clients store instances with it: curl (a body built here, and the page's own `-F`
//! example) and dicomweb-client (Python). Partial and total failure, DICOM XML, bad and
//! revoked tokens, a study mismatch, size limits and wrong media types each get the answer
//! PS3.18 10.5 asks for, and planted identity never reaches the blob store.
//!
//! curl and dicomweb-client are peers: missing is a failure, never a skip.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::accounts::{admin, hospital, issue_token};
use common::server::{Server, fresh_postgres};
use common::{python, require_tool, shared_data};
use serde_json::Value;

const INSTANCE_LIMIT: u64 = 600_000;
const REQUEST_LIMIT: u64 = 3_000_000;
const BOUNDARY: &str = "lunghub-test-boundary-7d1f";
const DICOM_PARTS: &str =
    "multipart/related; type=\"application/dicom\"; boundary=lunghub-test-boundary-7d1f";

const REFERENCED: &str = "00081199";
const FAILED: &str = "00081198";

fn conformance(name: &str) -> PathBuf {
    shared_data("dicom-conformance").join(name)
}

/// A multipart/related body: each part with its content type.
fn multipart(parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (content_type, bytes) in parts {
        body.extend(format!("--{BOUNDARY}\r\nContent-Type: {content_type}\r\n\r\n").as_bytes());
        body.extend_from_slice(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn dicom_parts(files: &[&Path]) -> Vec<u8> {
    let bytes: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(f).expect("read"))
        .collect();
    let parts: Vec<(&str, &[u8])> = bytes
        .iter()
        .map(|b| ("application/dicom", b.as_slice()))
        .collect();
    multipart(&parts)
}

struct Answer {
    status: u16,
    content_type: String,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        assert_eq!(self.content_type, "application/dicom+json", "{}", self.body);
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Items of a sequence of a DICOM JSON data set (none when it is absent).
fn items<'a>(module: &'a Value, tag: &str) -> Vec<&'a Value> {
    module[tag]["Value"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

fn value<'a>(item: &'a Value, tag: &str) -> &'a Value {
    &item[tag]["Value"][0]
}

async fn post(
    base: &str,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    accept: Option<&str>,
    body: Vec<u8>,
) -> Answer {
    let mut request = common::http()
        .build()
        .expect("HTTP client")
        .post(format!("{base}{path}"))
        .header("content-type", content_type)
        .body(body);
    if let Some(t) = token {
        request = request.header("authorization", format!("Bearer {t}"));
    }
    if let Some(a) = accept {
        request = request.header("accept", a);
    }
    let r = request.send().await.expect("POST");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    Answer {
        status,
        content_type,
        headers,
        body: r.text().await.expect("body"),
    }
}

/// Runs the real curl; returns the status, the response's content type and its body.
fn curl(args: &[&str]) -> (u16, String, String) {
    let curl = require_tool("curl");
    let dir = tempfile::tempdir().expect("tempdir");
    let (body, headers) = (dir.path().join("body"), dir.path().join("headers"));
    let out = Command::new(curl)
        .args(["-sS", "-o"])
        .arg(&body)
        .arg("-D")
        .arg(&headers)
        .args(["-w", "%{http_code}"])
        .args(args)
        .output()
        .expect("curl runs");
    let status: u16 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("curl: {}", String::from_utf8_lossy(&out.stderr)));
    let headers = std::fs::read_to_string(&headers).unwrap_or_default();
    let content_type = headers
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.trim().to_owned())
        .next_back()
        .unwrap_or_default();
    (
        status,
        content_type,
        std::fs::read_to_string(&body).unwrap_or_default(),
    )
}

/// The Python with pydicom and dicomweb-client; missing is a failure.
fn dicomweb_python() -> PathBuf {
    let python = python();
    let ok = Command::new(&python)
        .args(["-c", "import dicomweb_client"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{} cannot import dicomweb_client; run the tests through `bash .ci/run`, which installs .ci/peers-requirements.txt",
        python.display()
    );
    python
}

fn run_python(script: &str, args: &[&str], stdin: Option<&[u8]>) -> Value {
    use std::io::Write;
    let mut child = Command::new(dicomweb_python())
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python runs");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.unwrap_or_default())
        .expect("write stdin");
    drop(input);
    let out = child.wait_with_output().expect("python ends");
    assert!(
        out.status.success(),
        "python failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("python prints JSON")
}

const DICOMWEB_CLIENT: &str = r#"
import json, sys
import pydicom, requests
from dicomweb_client import DICOMwebClient

url, token, bad_token, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
client = DICOMwebClient(url, headers={"Authorization": f"Bearer {token}"})
datasets = [pydicom.dcmread(f) for f in files]
result = client.store_instances(datasets=datasets)
out = {
    "sent": [str(d.SOPInstanceUID) for d in datasets],
    "referenced": [
        [str(i.ReferencedSOPClassUID), str(i.ReferencedSOPInstanceUID), int(i.WarningReason)]
        for i in result.ReferencedSOPSequence
    ],
    "failed": len(result.get("FailedSOPSequence", [])),
}
first = datasets[0]
in_study = client.store_instances(datasets=[first], study_instance_uid=str(first.StudyInstanceUID))
out["in_study"] = len(in_study.ReferencedSOPSequence)
try:
    DICOMwebClient(url, headers={"Authorization": f"Bearer {bad_token}"}).store_instances(datasets=[first])
    out["bad_token"] = 200
except requests.exceptions.HTTPError as e:
    out["bad_token"] = e.response.status_code
print(json.dumps(out))
"#;

const PARSE_XML: &str = r#"
import json, sys
import xml.etree.ElementTree as ET
NS = "http://dicom.nema.org/PS3.19/models/NativeDICOM"
ns = {"d": NS}
root = ET.fromstring(sys.stdin.buffer.read())
assert root.tag == "{%s}NativeDicomModel" % NS, root.tag
def items(tag):
    a = root.find(f"d:DicomAttribute[@tag='{tag}']", ns)
    return [] if a is None else a.findall("d:Item", ns)
def value(item, tag):
    v = item.find(f"d:DicomAttribute[@tag='{tag}']/d:Value", ns)
    return None if v is None else v.text
print(json.dumps({
    "retrieve_url": root.find("d:DicomAttribute[@tag='00081190']", ns).get("vr"),
    "referenced": [[value(i, "00081150"), value(i, "00081155"), int(value(i, "00081196"))] for i in items("00081199")],
    "failed": [int(value(i, "00081197")) for i in items("00081198")],
}))
"#;

/// The admin, signed in with the one-time link printed at first start.

/// A small DX image with a planted name, patient ID and institution, which
/// de-identification must remove, and no burned-in annotation.
fn planted_phi() -> Vec<u8> {
    fn element(out: &mut Vec<u8>, group: u16, elem: u16, vr: &[u8; 2], value: &[u8]) {
        let mut value = value.to_vec();
        if value.len() % 2 == 1 {
            value.push(if vr == b"UI" || vr == b"OB" { 0 } else { b' ' });
        }
        out.extend(group.to_le_bytes());
        out.extend(elem.to_le_bytes());
        out.extend(vr);
        if matches!(vr, b"OB" | b"OW" | b"SQ" | b"UN" | b"UT") {
            out.extend([0, 0]);
            out.extend((value.len() as u32).to_le_bytes());
        } else {
            out.extend((value.len() as u16).to_le_bytes());
        }
        out.extend(value);
    }
    const CLASS: &[u8] = b"1.2.840.10008.5.1.4.1.1.1.1";
    const INSTANCE: &[u8] = b"1.2.826.0.1.3680043.99.7.1.1";
    let mut meta = Vec::new();
    element(&mut meta, 0x0002, 0x0001, b"OB", &[0, 1]);
    element(&mut meta, 0x0002, 0x0002, b"UI", CLASS);
    element(&mut meta, 0x0002, 0x0003, b"UI", INSTANCE);
    element(&mut meta, 0x0002, 0x0010, b"UI", b"1.2.840.10008.1.2.1");
    let mut file = vec![0u8; 128];
    file.extend(b"DICM");
    element(
        &mut file,
        0x0002,
        0x0000,
        b"UL",
        &(meta.len() as u32).to_le_bytes(),
    );
    file.extend(meta);
    let us = |v: u16| v.to_le_bytes();
    element(&mut file, 0x0008, 0x0016, b"UI", CLASS);
    element(&mut file, 0x0008, 0x0018, b"UI", INSTANCE);
    element(&mut file, 0x0008, 0x0020, b"DA", b"20200401");
    element(&mut file, 0x0008, 0x0060, b"CS", b"DX");
    element(&mut file, 0x0008, 0x0080, b"LO", b"ST PHI GENERAL HOSPITAL");
    element(&mut file, 0x0010, 0x0010, b"PN", b"DOE^JANE");
    element(&mut file, 0x0010, 0x0020, b"LO", b"PHI-123456");
    element(&mut file, 0x0010, 0x0030, b"DA", b"19700101");
    element(
        &mut file,
        0x0020,
        0x000D,
        b"UI",
        b"1.2.826.0.1.3680043.99.7.1",
    );
    element(
        &mut file,
        0x0020,
        0x000E,
        b"UI",
        b"1.2.826.0.1.3680043.99.7.1.2",
    );
    element(&mut file, 0x0028, 0x0002, b"US", &us(1));
    element(&mut file, 0x0028, 0x0004, b"CS", b"MONOCHROME2");
    element(&mut file, 0x0028, 0x0010, b"US", &us(16));
    element(&mut file, 0x0028, 0x0011, b"US", &us(16));
    element(&mut file, 0x0028, 0x0100, b"US", &us(8));
    element(&mut file, 0x0028, 0x0101, b"US", &us(8));
    element(&mut file, 0x0028, 0x0102, b"US", &us(7));
    element(&mut file, 0x0028, 0x0103, b"US", &us(0));
    element(&mut file, 0x0028, 0x0301, b"CS", b"NO");
    let pixels: Vec<u8> = (0..256u32).map(|i| (i * 7 % 251) as u8).collect();
    element(&mut file, 0x7FE0, 0x0010, b"OB", &pixels);
    file
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn exercise(server: Server, database_url: Option<String>) {
    let base = server.base.clone();
    let ct_small = conformance("pydicom-test-files/CT_small.dcm");
    let mr_small = conformance("pydicom-test-files/MR_small.dcm");
    let rtplan = conformance("pydicom-test-files/rtplan.dcm");
    let quarantined = conformance("pydicom-charset-files/chrArab.dcm");

    // A site and a token, through the pages, as a real admin does it.
    assert_eq!(server.client().get("/admin/sites").await.status, 303);
    let admin = admin(&server).await;
    assert_eq!(admin.get("/admin/sites").await.status, 200);
    let (_, site) = hospital(&admin, "Hospital Nord", "waiting-for-data").await;
    assert_eq!(site, "hospital-nord", "the hospital's site is made with it");
    assert!(
        admin
            .get("/admin/sites")
            .await
            .body
            .contains("Hospital Nord")
    );
    let token = issue_token(&admin, &base, "hospital-nord", "PACS router").await;
    let page = admin.get("/admin/sites").await.body;
    assert!(
        page.contains("PACS router") && page.contains("never"),
        "{page}"
    );
    assert!(!page.contains(&token), "the token is shown only once");

    // curl with a multipart/related body built here: three instances, all stored, each
    // referenced by its de-identified UIDs, with the coercion warning.
    let dir = tempfile::tempdir().expect("tempdir");
    let body_path = dir.path().join("body.mime");
    std::fs::write(&body_path, dicom_parts(&[&ct_small, &mr_small, &rtplan])).expect("body");
    let auth = format!("Authorization: Bearer {token}");
    let (status, content_type, body) = curl(&[
        "-X",
        "POST",
        &format!("{base}/dicomweb/studies"),
        "-H",
        &auth,
        "-H",
        &format!("Content-Type: {DICOM_PARTS}"),
        "--data-binary",
        &format!("@{}", body_path.display()),
    ]);
    assert_eq!(
        (status, content_type.as_str()),
        (200, "application/dicom+json"),
        "{body}"
    );
    let module: Value = serde_json::from_str(&body).expect("JSON");
    let stored = items(&module, REFERENCED);
    assert_eq!(stored.len(), 3, "{module}");
    assert!(items(&module, FAILED).is_empty(), "{module}");
    assert_eq!(module["00081190"]["vr"], "UR");
    for item in &stored {
        assert!(
            value(item, "00081150")
                .as_str()
                .expect("class")
                .starts_with("1.2.840.10008.")
        );
        assert!(
            value(item, "00081155")
                .as_str()
                .expect("instance")
                .starts_with("2.25."),
            "{item}"
        );
        assert_eq!(value(item, "00081196"), 0xB000);
    }
    assert_eq!(
        value(stored[0], "00081150"),
        "1.2.840.10008.5.1.4.1.1.2",
        "CT_small is a CT"
    );

    // The catalog has them, for the token's site, by route stow-rs.
    let mut summary = common::lunghub();
    summary
        .args(["catalog", "summary", "--json", "--data-dir"])
        .arg(&server.data_dir);
    if let Some(url) = &database_url {
        summary.args(["--database-url", url]);
    }
    let out = common::run_ok(&mut summary);
    let summary: Value = serde_json::from_slice(&out.stdout).expect("summary JSON");
    assert_eq!(summary["by_site"]["Hospital Nord"], 3, "{summary}");
    let catalog_url = database_url
        .clone()
        .unwrap_or_else(|| lunghub_store::Catalog::sqlite_url(&server.data_dir));
    let catalog = lunghub_store::Catalog::open(&catalog_url)
        .await
        .expect("catalog");
    let ids = catalog.item_ids().await.expect("ids");
    assert_eq!(ids.len(), 3);
    for id in &ids {
        let item = catalog.item(id).await.expect("item").expect("found");
        assert_eq!(item.fields["route"], "stow-rs", "{id}");
        assert_eq!(item.fields["site"], "Hospital Nord", "{id}");
    }

    // The same files again: stored already, so still a success (a retry is harmless).
    let again = post(
        &base,
        "/dicomweb/studies",
        Some(&token),
        DICOM_PARTS,
        None,
        dicom_parts(&[&ct_small]),
    )
    .await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(items(&again.json(), REFERENCED).len(), 1);

    // The curl example the token page gives (-F with a multipart/related type) works as shown.
    let (status, _, body) = curl(&[
        "-X",
        "POST",
        &format!("{base}/dicomweb/studies"),
        "-H",
        &auth,
        "-H",
        "Content-Type: multipart/related; type=\"application/dicom\"",
        "-F",
        &format!("file=@{};type=application/dicom", mr_small.display()),
    ]);
    assert_eq!(status, 200, "{body}");

    // dicomweb-client, with data sets read by pydicom, to /studies and /studies/{uid}.
    let python_files = [
        conformance("pydicom-data/693_UNCI.dcm"),
        conformance("pydicom-test-files/MR_small_implicit.dcm"),
    ];
    let mut args = vec![format!("{base}/dicomweb"), token.clone(), "0".repeat(64)];
    args.extend(python_files.iter().map(|p| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_python(DICOMWEB_CLIENT, &args, None);
    let referenced = out["referenced"].as_array().expect("referenced");
    assert_eq!(referenced.len(), 2, "{out}");
    assert_eq!(out["failed"], 0, "{out}");
    assert_eq!(out["in_study"], 1, "{out}");
    assert_eq!(out["bad_token"], 401, "{out}");
    for (r, sent) in referenced.iter().zip(out["sent"].as_array().expect("sent")) {
        assert!(r[1].as_str().expect("uid").starts_with("2.25."), "{out}");
        assert_ne!(&r[1], sent, "the stored instance has a new UID");
        assert_eq!(r[2], 0xB000);
    }

    // Partial success: one instance and one part that is not DICOM at all.
    let ct = std::fs::read(&ct_small).expect("read");
    let body = multipart(&[
        ("application/dicom", &ct),
        ("application/dicom", b"not DICOM at all"),
    ]);
    let r = post(
        &base,
        "/dicomweb/studies",
        Some(&token),
        DICOM_PARTS,
        None,
        body,
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let m = r.json();
    assert_eq!(items(&m, REFERENCED).len(), 1);
    let failed = items(&m, FAILED);
    assert_eq!(failed.len(), 1);
    assert_eq!(value(failed[0], "00081197"), 0xC000);
    assert!(r.headers.get("warning").is_some(), "the reason in words");

    // Everything failed: garbage and a quarantined instance (identity may be burned in).
    let q = std::fs::read(&quarantined).expect("read");
    let body = multipart(&[
        ("application/dicom", b"\x00\x01garbage"),
        ("application/dicom", &q),
    ]);
    let r = post(
        &base,
        "/dicomweb/studies",
        Some(&token),
        DICOM_PARTS,
        None,
        body,
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);
    let m = r.json();
    assert!(items(&m, REFERENCED).is_empty());
    let reasons: Vec<&Value> = items(&m, FAILED)
        .iter()
        .map(|i| value(i, "00081197"))
        .collect();
    assert_eq!(reasons, [0xC000, 0xC001], "{m}");
    let warnings: Vec<&str> = r
        .headers
        .get_all("warning")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(
        warnings.iter().any(|w| w.contains("quarantined")),
        "{warnings:?}"
    );
    // A failed instance is named as it was received.
    let quarantined_uid = value(items(&m, FAILED)[1], "00081155")
        .as_str()
        .expect("uid")
        .to_owned();
    assert!(
        !quarantined_uid.is_empty() && !quarantined_uid.starts_with("2.25."),
        "{m}"
    );

    // DICOM XML when the Accept header asks for it.
    let body = dicom_parts(&[&ct_small, &quarantined]);
    let r = post(
        &base,
        "/dicomweb/studies",
        Some(&token),
        DICOM_PARTS,
        Some("application/dicom+xml"),
        body,
    )
    .await;
    assert_eq!(
        (r.status, r.content_type.as_str()),
        (202, "application/dicom+xml"),
        "{}",
        r.body
    );
    let xml = run_python(PARSE_XML, &[], Some(r.body.as_bytes()));
    assert_eq!(xml["retrieve_url"], "UR", "{xml}");
    assert_eq!(
        xml["referenced"].as_array().expect("referenced").len(),
        1,
        "{xml}"
    );
    assert_eq!(xml["referenced"][0][0], "1.2.840.10008.5.1.4.1.1.2");
    assert!(
        xml["referenced"][0][1]
            .as_str()
            .expect("uid")
            .starts_with("2.25.")
    );
    assert_eq!(xml["referenced"][0][2], 0xB000);
    assert_eq!(xml["failed"], serde_json::json!([0xC001]));
    let r = post(
        &base,
        "/dicomweb/studies",
        Some(&token),
        DICOM_PARTS,
        Some("text/html"),
        dicom_parts(&[&ct_small]),
    )
    .await;
    assert_eq!(r.status, 406);

    // The study in the path must be the instance's.
    let r = post(
        &base,
        "/dicomweb/studies/1.2.3.4",
        Some(&token),
        DICOM_PARTS,
        None,
        dicom_parts(&[&ct_small]),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);
    let m = r.json();
    let failed = items(&m, FAILED);
    assert_eq!(value(failed[0], "00081197"), 0xC409, "{m}");
    let r = post(
        &base,
        "/dicomweb/studies/not-a-uid",
        Some(&token),
        DICOM_PARTS,
        None,
        dicom_parts(&[&ct_small]),
    )
    .await;
    assert_eq!(r.status, 400);

    // Wrong media types: 415, with or without the type parameter's quotes.
    for content_type in [
        "application/dicom",
        "multipart/form-data; boundary=lunghub-test-boundary-7d1f",
        "multipart/related; boundary=lunghub-test-boundary-7d1f",
        "multipart/related; type=\"application/dicom+json\"; boundary=lunghub-test-boundary-7d1f",
    ] {
        let r = post(
            &base,
            "/dicomweb/studies",
            Some(&token),
            content_type,
            None,
            dicom_parts(&[&ct_small]),
        )
        .await;
        assert_eq!(r.status, 415, "{content_type}: {}", r.body);
    }
    let unquoted = "multipart/related; type=application/dicom; boundary=lunghub-test-boundary-7d1f";
    let r = post(
        &base,
        "/dicomweb/studies",
        Some(&token),
        unquoted,
        None,
        dicom_parts(&[&ct_small]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = post(
        &base,
        "/dicomweb/studies",
        Some(&token),
        "multipart/related; type=application/dicom",
        None,
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, 400, "no boundary");
    let r = post(
        &base,
        "/dicomweb/studies",
        Some(&token),
        DICOM_PARTS,
        None,
        b"--nope--\r\n".to_vec(),
    )
    .await;
    assert_eq!(r.status, 400, "malformed body: {}", r.body);

    // Too large: one instance over its limit, a declared length over the request limit,
    // and a chunked request that grows past it.
    let big = vec![0u8; INSTANCE_LIMIT as usize + 1];
    let r = post(
        &base,
        "/dicomweb/studies",
        Some(&token),
        DICOM_PARTS,
        None,
        multipart(&[("application/dicom", &ct), ("application/dicom", &big)]),
    )
    .await;
    assert_eq!(r.status, 413, "{}", r.body);
    let m = r.json();
    assert_eq!(
        items(&m, REFERENCED).len(),
        1,
        "what was stored before is reported: {m}"
    );
    assert_eq!(value(items(&m, FAILED)[0], "00081197"), 0xA700);
    let huge_path = dir.path().join("huge.mime");
    let parts: Vec<(&str, &[u8])> = (0..8)
        .map(|_| ("application/dicom", &big[..500_000]))
        .collect();
    std::fs::write(&huge_path, multipart(&parts)).expect("huge body");
    let huge = format!("@{}", huge_path.display());
    let (status, _, body) = curl(&[
        "-X",
        "POST",
        &format!("{base}/dicomweb/studies"),
        "-H",
        &auth,
        "-H",
        &format!("Content-Type: {DICOM_PARTS}"),
        "--data-binary",
        &huge,
    ]);
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("limit"), "{body}");
    let (status, _, _) = curl(&[
        "-X",
        "POST",
        &format!("{base}/dicomweb/studies"),
        "-H",
        &auth,
        "-H",
        &format!("Content-Type: {DICOM_PARTS}"),
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        &huge,
    ]);
    assert_eq!(status, 413);

    // Tokens: none, wrong, and revoked are refused with a Bearer challenge, and no route
    // here sets a cookie.
    for t in [None, Some("0".repeat(64))] {
        let r = post(
            &base,
            "/dicomweb/studies",
            t.as_deref(),
            DICOM_PARTS,
            None,
            dicom_parts(&[&ct_small]),
        )
        .await;
        assert_eq!(r.status, 401);
        let challenge = r
            .headers
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
        assert!(r.headers.get("set-cookie").is_none());
    }
    assert!(
        again.headers.get("set-cookie").is_none(),
        "STOW-RS sets no cookie"
    );
    let page = admin.get("/admin/sites").await.body;
    assert!(!page.contains(">never<"), "the token's last use is shown");
    let hash_at = page.find("name=\"token\" value=\"").expect("a revoke form") + 20;
    let hash = page[hash_at..hash_at + 64].to_owned();
    let r = admin
        .post(
            "/admin/sites/hospital-nord/tokens/revoke",
            &[("token", &hash)],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(admin.get("/admin/sites").await.body.contains("revoked"));
    let r = post(
        &base,
        "/dicomweb/studies",
        Some(&token),
        DICOM_PARTS,
        None,
        dicom_parts(&[&ct_small]),
    )
    .await;
    assert_eq!(r.status, 401, "a revoked token is refused");
    let token = issue_token(&admin, &base, "hospital-nord", "PACS router, second").await;

    // Planted identity never reaches the blob store (nor the response).
    let phi = planted_phi();
    let r = post(
        &base,
        "/dicomweb/studies",
        Some(&token),
        DICOM_PARTS,
        None,
        multipart(&[("application/dicom", &phi)]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let m = r.json();
    assert_eq!(
        value(items(&m, REFERENCED)[0], "00081150"),
        "1.2.840.10008.5.1.4.1.1.1.1"
    );
    let planted: [&[u8]; 5] = [
        b"DOE^JANE",
        b"JANE",
        b"PHI-123456",
        b"ST PHI GENERAL HOSPITAL",
        b"1.2.826.0.1.3680043.99.7",
    ];
    for p in planted {
        assert!(
            !contains(r.body.as_bytes(), p),
            "{} in the response",
            String::from_utf8_lossy(p)
        );
    }
    let blobs = files_under(&server.data_dir.join("blobs"));
    assert!(blobs.len() >= 6, "{blobs:?}");
    for blob in &blobs {
        let bytes = std::fs::read(blob).expect("blob");
        for p in planted {
            assert!(
                !contains(&bytes, p),
                "{} found in {}",
                String::from_utf8_lossy(p),
                blob.display()
            );
        }
    }

    // The OpenAPI document describes the route.
    let doc = server.client().get("/api/openapi.json").await.json();
    assert!(
        doc["paths"]["/dicomweb/studies"]["post"]["security"].is_array(),
        "{doc}"
    );
}

fn start() -> Server {
    Server::start_with(
        None,
        &[
            "--stow-max-instance-bytes",
            &INSTANCE_LIMIT.to_string(),
            "--stow-max-request-bytes",
            &REQUEST_LIMIT.to_string(),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stow_rs_on_sqlite() {
    exercise(start(), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stow_rs_on_postgres() {
    let url = fresh_postgres().await;
    let server = Server::start_with(
        Some(&url),
        &[
            "--stow-max-instance-bytes",
            &INSTANCE_LIMIT.to_string(),
            "--stow-max-request-bytes",
            &REQUEST_LIMIT.to_string(),
        ],
    );
    exercise(server, Some(url)).await;
}
