//! The DICOM network route end to end: the real `lunghub scp` (and `lunghub serve
//! --dicom-listen`) on a random port, driven by DCMTK's echoscu and storescu, and by a raw
//! dicom-ul client for what DCMTK will not do (garbage data sets, connections cut mid-PDU).
//! DCMTK missing is a failure, never a skip.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_object::InMemDicomObject;
use dicom_object::meta::FileMetaTableBuilder;
use dicom_ul::ClientAssociationOptions;
use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu};
use lunghub_deid::scan::{Limits, Sniffed, sniff};
use lunghub_store::Catalog;

const CR_IMAGE: &str = "1.2.840.10008.5.1.4.1.1.1";
const SC_IMAGE: &str = "1.2.840.10008.5.1.4.1.1.7";
const US_IMAGE: &str = "1.2.840.10008.5.1.4.1.1.6.1";
const CT_IMAGE: &str = "1.2.840.10008.5.1.4.1.1.2";
const VERIFICATION: &str = "1.2.840.10008.1.1";
const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
const IMPLICIT_LE: &str = "1.2.840.10008.1.2";

/// `lunghub scp` on a free port of 127.0.0.1 with a fresh data directory, killed when
/// dropped. Its standard error goes to a file, read by `log()`.
struct Scp {
    child: Child,
    port: u16,
    data_dir: PathBuf,
    log: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Scp {
    /// Peer `PACS` (site "Test Hospital", any address) plus `extra` arguments.
    fn start(extra: &[&str]) -> Scp {
        require_tool("echoscu");
        require_tool("storescu");
        let tmp = tempfile::tempdir().expect("tempdir");
        let data_dir = tmp.path().join("data");
        let log = tmp.path().join("scp.log");
        let mut child = lunghub()
            .args([
                "scp",
                "--listen",
                "127.0.0.1:0",
                "--peer",
                "PACS=Test Hospital",
            ])
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--site-key")
            .arg(key_file(tmp.path()))
            .args(extra)
            .env_remove("LUNGHUB_DATABASE_URL")
            .env_remove("LUNGHUB_BLOB_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("lunghub scp starts");
        let port = listening_port(&mut child, "lunghub scp", &log);
        Scp {
            child,
            port,
            data_dir,
            log,
            _tmp: tmp,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log once `done` holds for it (the server writes its line after the peer has
    /// had its answer), or as it is after 10 seconds.
    fn log_when(&self, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if done(&log) || Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The catalog, once everything answered for is catalogued.
    fn items(&self) -> Vec<BTreeMap<String, serde_json::Value>> {
        wait_for_spool(&self.data_dir);
        catalog_items(&self.data_dir)
    }

    fn storescu(&self, options: &[&str], files: &[&str]) -> Sent {
        storescu(self.port, options, files)
    }

    fn echoscu(&self, calling: &str, called: &str) -> Output {
        echoscu(self.port, calling, called)
    }
}

impl Drop for Scp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the child's standard output until `lunghub DICOM listening on ADDR as AE …`, and
/// keeps draining it afterwards.
fn listening_port(child: &mut Child, what: &str, log: &Path) -> u16 {
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        if let Some(rest) = line.strip_prefix("lunghub DICOM listening on ") {
            let addr = rest.split_whitespace().next().unwrap_or_default();
            assert!(rest.ends_with(" as AE LUNGHUB"), "unexpected line: {line}");
            return addr
                .rsplit_once(':')
                .and_then(|(_, p)| p.parse().ok())
                .unwrap_or_else(|| panic!("no port in {line:?}"));
        }
    }
    panic!(
        "{what} printed no listening line; its errors:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

fn catalog_items(data_dir: &Path) -> Vec<BTreeMap<String, serde_json::Value>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let catalog = Catalog::open(&Catalog::sqlite_url(data_dir))
            .await
            .expect("catalog");
        let mut items = Vec::new();
        for id in catalog.item_ids().await.expect("ids") {
            items.push(
                catalog
                    .item(&id)
                    .await
                    .expect("item")
                    .expect("exists")
                    .fields,
            );
        }
        items
    })
}

/// What one storescu run did, file by file, from its verbose output.
struct Sent {
    output: String,
    /// File → "Success", the failure status DCMTK names, or its error.
    outcomes: BTreeMap<String, String>,
}

impl Sent {
    fn count(&self, outcome: &str) -> usize {
        self.outcomes
            .values()
            .filter(|o| o.as_str() == outcome)
            .count()
    }
}

/// storescu with `-v` (to hear every response) and TCP_NODELAY=1 (DCMTK otherwise waits on
/// Nagle's algorithm for every message).
fn storescu(port: u16, options: &[&str], files: &[&str]) -> Sent {
    let out = Command::new(require_tool("storescu"))
        .env("TCP_NODELAY", "1")
        .args(["-v", "-aet", "PACS", "-aec", "LUNGHUB"])
        .args(options)
        .arg("127.0.0.1")
        .arg(port.to_string())
        .args(files)
        .output()
        .expect("storescu runs");
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut outcomes = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in output.lines() {
        if let Some(file) = line.strip_prefix("I: Sending file: ") {
            current = Some(file.to_owned());
            outcomes.insert(file.to_owned(), "not sent".to_owned());
        } else if let Some(file) = &current {
            if let Some(rest) = line.strip_prefix("I: Received Store Response (") {
                let status = rest.trim_end_matches(')');
                let status = status.split(':').next().unwrap_or(status);
                outcomes.insert(file.clone(), status.to_owned());
                current = None;
            } else if let Some(e) = line.strip_prefix("E: ")
                && outcomes.get(file).is_some_and(|o| o == "not sent")
            {
                outcomes.insert(file.clone(), e.to_owned());
            }
        }
    }
    Sent { output, outcomes }
}

fn echoscu(port: u16, calling: &str, called: &str) -> Output {
    Command::new(require_tool("echoscu"))
        .env("TCP_NODELAY", "1")
        .args(["-aet", calling, "-aec", called, "127.0.0.1"])
        .arg(port.to_string())
        .output()
        .expect("echoscu runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn el(group: u16, element: u16, vr: VR, value: &str) -> DataElement<InMemDicomObject> {
    DataElement::new(Tag(group, element), vr, PrimitiveValue::from(value))
}

/// A 64×64 chest radiograph of DOE^JANE with identity in the usual places; `n` varies
/// the pixels and the instance.
fn chest_xray(study_uid: &str, n: u16) -> InMemDicomObject {
    let mut obj = InMemDicomObject::from_element_iter([
        el(0x0008, 0x0016, VR::UI, CR_IMAGE),
        el(0x0008, 0x0018, VR::UI, &format!("{study_uid}.{n}")),
        el(0x0008, 0x0020, VR::DA, "20200312"),
        el(0x0008, 0x0050, VR::SH, "ACC-SECRET-778899"),
        el(0x0008, 0x0060, VR::CS, "CR"),
        el(0x0008, 0x0080, VR::LO, "Saint Elsewhere Hospital"),
        el(0x0008, 0x0090, VR::PN, "HOUSE^GREGORY"),
        el(0x0010, 0x0010, VR::PN, "DOE^JANE"),
        el(0x0010, 0x0020, VR::LO, "PID-SECRET-4711"),
        el(0x0010, 0x0030, VR::DA, "19500101"),
        el(0x0010, 0x1040, VR::LO, "1 Main Street, Springfield"),
        el(0x0018, 0x5101, VR::CS, "PA"),
        el(0x0020, 0x000D, VR::UI, study_uid),
        el(0x0020, 0x000E, VR::UI, &format!("{study_uid}.99")),
        el(0x0028, 0x0004, VR::CS, "MONOCHROME2"),
        el(0x0028, 0x0301, VR::CS, "NO"),
    ]);
    for (element, v) in [
        (0x0002u16, 1u16),
        (0x0010, 64),
        (0x0011, 64),
        (0x0100, 16),
        (0x0101, 12),
        (0x0102, 11),
        (0x0103, 0),
    ] {
        obj.put(DataElement::new(
            Tag(0x0028, element),
            VR::US,
            PrimitiveValue::from(v),
        ));
    }
    // A different pattern per n, so that no two images look alike.
    let pixels: Vec<u16> = (0..64u16 * 64)
        .map(|i| {
            let (x, y) = (i % 64, i / 64);
            ((x * (n + 1) * 7 + y * (n * n + 3) * 5) % 64) * 64 + ((x ^ y) % (n + 2)) * 40
        })
        .collect();
    obj.put(DataElement::new(
        Tag(0x7FE0, 0x0010),
        VR::OW,
        PrimitiveValue::U16(pixels.into()),
    ));
    obj
}

fn write_part10(obj: InMemDicomObject, path: &Path) {
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(EXPLICIT_LE)
                .source_application_entity_title("HOSPITAL_PACS"),
        )
        .expect("meta");
    file.write_to_file(path).expect("write");
}

/// The data set of a Part-10 file (after its meta group), and its transfer syntax.
fn data_set_of(path: &Path) -> (Vec<u8>, String) {
    let bytes = std::fs::read(path).expect("read");
    let Ok(Sniffed::Dicom(layout)) = sniff(&bytes, &Limits::default()) else {
        panic!("{} is not DICOM", path.display())
    };
    (
        bytes[layout.dataset_start..].to_vec(),
        layout.transfer_syntax,
    )
}

/// Bytes that contain `needle` anywhere under `dir`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter(|e| {
            std::fs::read(e.path())
                .map(|b| b.windows(needle.len()).any(|w| w == needle))
                .unwrap_or(false)
        })
        .map(|e| e.path().to_owned())
        .collect()
}

// ---- a raw client, for what DCMTK will not send ----

fn command_set(elements: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (element, value) in elements {
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&element.to_le_bytes());
        body.extend_from_slice(&(value.len() as u32).to_le_bytes());
        body.extend_from_slice(value);
    }
    let mut out = Vec::new();
    out.extend_from_slice(&[0, 0, 0, 0, 4, 0, 0, 0]);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

fn uid(u: &str) -> Vec<u8> {
    let mut v = u.as_bytes().to_vec();
    if v.len() % 2 == 1 {
        v.push(0);
    }
    v
}

fn store_rq(class: &str, instance: &str, message_id: u16) -> Vec<u8> {
    command_set(&[
        (0x0002, uid(class)),
        (0x0100, 0x0001u16.to_le_bytes().to_vec()),
        (0x0110, message_id.to_le_bytes().to_vec()),
        (0x0700, 0u16.to_le_bytes().to_vec()),
        (0x0800, 0u16.to_le_bytes().to_vec()),
        (0x1000, uid(instance)),
    ])
}

fn echo_rq(message_id: u16) -> Vec<u8> {
    command_set(&[
        (0x0002, uid(VERIFICATION)),
        (0x0100, 0x0030u16.to_le_bytes().to_vec()),
        (0x0110, message_id.to_le_bytes().to_vec()),
        (0x0800, 0x0101u16.to_le_bytes().to_vec()),
    ])
}

fn pdv(context: u8, kind: PDataValueType, is_last: bool, data: Vec<u8>) -> Pdu {
    Pdu::PData {
        data: vec![PDataValue {
            presentation_context_id: context,
            value_type: kind,
            is_last,
            data,
        }],
    }
}

type Client = dicom_ul::ClientAssociation<TcpStream>;

fn connect(port: u16, contexts: &[(&str, &str)]) -> Client {
    let mut options = ClientAssociationOptions::new()
        .calling_ae_title("PACS")
        .called_ae_title("LUNGHUB")
        .max_pdu_length(16_384);
    for (class, ts) in contexts {
        options = options.with_presentation_context(*class, vec![*ts]);
    }
    options
        .establish(format!("127.0.0.1:{port}").as_str())
        .expect("association")
}

/// The presentation context id the SCP accepted for `class`.
fn context_of(client: &Client, class: &str) -> u8 {
    client
        .presentation_contexts()
        .iter()
        .find(|pc| {
            pc.abstract_syntax.trim_end_matches('\0') == class
                && pc.reason == dicom_ul::pdu::PresentationContextResultReason::Acceptance
        })
        .map(|pc| pc.id)
        .unwrap_or_else(|| panic!("{class} was not accepted"))
}

/// Status and Error Comment of the response the client reads next.
fn response(client: &mut Client) -> (u16, String) {
    let mut bytes = Vec::new();
    loop {
        match client.receive().expect("a response") {
            Pdu::PData { data } => {
                for v in data {
                    bytes.extend_from_slice(&v.data);
                    if v.is_last {
                        return parse_response(&bytes);
                    }
                }
            }
            other => panic!("expected a response, got {other:?}"),
        }
    }
}

fn parse_response(mut bytes: &[u8]) -> (u16, String) {
    let (mut status, mut comment) = (None, String::new());
    while bytes.len() >= 8 {
        let element = u16::from_le_bytes([bytes[2], bytes[3]]);
        let len = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
        let value = &bytes[8..8 + len];
        match element {
            0x0900 => status = Some(u16::from_le_bytes([value[0], value[1]])),
            0x0902 => comment = String::from_utf8_lossy(value).trim().to_owned(),
            _ => {}
        }
        bytes = &bytes[8 + len..];
    }
    (status.expect("a status"), comment)
}

/// Sends one C-STORE (command, then the data set in fragments) and reads the response.
fn store(
    client: &mut Client,
    context: u8,
    class: &str,
    instance: &str,
    data: &[u8],
) -> (u16, String) {
    client
        .send(&pdv(
            context,
            PDataValueType::Command,
            true,
            store_rq(class, instance, 1),
        ))
        .expect("send command");
    let chunks: Vec<&[u8]> = data.chunks(8000).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        client
            .send(&pdv(
                context,
                PDataValueType::Data,
                i + 1 == chunks.len(),
                chunk.to_vec(),
            ))
            .expect("send data");
    }
    response(client)
}

fn echo(client: &mut Client) -> u16 {
    let context = context_of(client, VERIFICATION);
    client
        .send(&pdv(context, PDataValueType::Command, true, echo_rq(9)))
        .expect("send echo");
    response(client).0
}

// ---- the tests ----

#[test]
fn echo_answers_peers_and_refuses_strangers() {
    let scp = Scp::start(&["--peer", "LOCKED=Other Hospital@10.255.255.1"]);
    let ok = scp.echoscu("PACS", "LUNGHUB");
    assert!(ok.status.success(), "echoscu failed: {}", text(&ok));

    let stranger = scp.echoscu("NOBODY", "LUNGHUB");
    assert!(!stranger.status.success());
    assert!(
        text(&stranger).contains("Calling AE Title Not Recognized"),
        "{}",
        text(&stranger)
    );
    let wrong_called = scp.echoscu("PACS", "SOMEONE_ELSE");
    assert!(!wrong_called.status.success());
    assert!(text(&wrong_called).contains("Called AE Title Not Recognized"));
    // A known peer from an address it is not allowed to use.
    let elsewhere = scp.echoscu("LOCKED", "LUNGHUB");
    assert!(!elsewhere.status.success());
    assert!(text(&elsewhere).contains("Calling AE Title Not Recognized"));
    assert!(text(&elsewhere).contains("Rejected Permanent"));

    let log = scp.log_when(|l| l.matches("refused: association rejected").count() >= 3);
    assert_eq!(
        log.matches("refused: association rejected").count(),
        3,
        "{log}"
    );
    let log = scp.log_when(|l| l.contains("1 echoes"));
    assert!(
        log.contains("released; 0 stored, 0 refused, 1 echoes"),
        "{log}"
    );
}

/// storescu's association profile: one presentation context per (SOP class, transfer
/// syntax) found in the corpus, so that each file travels as it is stored (compressed
/// ones too), and one with the uncompressed syntaxes per SOP class. Proposes the classes
/// lunghub refuses (CT, MR, RT, SR…) too.
fn corpus_profile(root: &Path, path: &Path) {
    let mut pairs = BTreeSet::new();
    for entry in walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
    {
        let Ok(bytes) = std::fs::read(entry.path()) else {
            continue;
        };
        if let Ok(Sniffed::Dicom(layout)) = sniff(&bytes, &Limits::default())
            && let Some(class) = layout.media_sop_class
        {
            pairs.insert((class, layout.transfer_syntax));
        }
    }
    let syntaxes: Vec<&String> = pairs
        .iter()
        .map(|p| &p.1)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let classes: BTreeSet<&String> = pairs.iter().map(|p| &p.0).collect();
    let mut cfg = String::from(
        "[[TransferSyntaxes]]\n[Uncompressed]\nTransferSyntax1 = 1.2.840.10008.1.2.1\n\
         TransferSyntax2 = 1.2.840.10008.1.2\nTransferSyntax3 = 1.2.840.10008.1.2.2\n",
    );
    for (i, ts) in syntaxes.iter().enumerate() {
        cfg += &format!("[TS{i}]\nTransferSyntax1 = {ts}\n");
    }
    cfg += "[[PresentationContexts]]\n[Corpus]\n";
    let mut n = 0;
    for (class, ts) in &pairs {
        n += 1;
        let i = syntaxes.iter().position(|t| *t == ts).expect("listed");
        cfg += &format!("PresentationContext{n} = {class}\\TS{i}\n");
    }
    for class in classes {
        n += 1;
        cfg += &format!("PresentationContext{n} = {class}\\Uncompressed\n");
    }
    assert!(
        n <= 128,
        "{n} presentation contexts: more than DICOM allows"
    );
    cfg += "[[Profiles]]\n[Corpus]\nPresentationContexts = Corpus\n";
    std::fs::write(path, cfg).expect("write profile");
}

#[test]
fn the_conformance_corpus_over_c_store_matches_a_folder_ingest() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let profile = trusting_profile(tmp.path());
    let profile_arg = profile.to_str().expect("utf-8 path");
    let scp = Scp::start(&["--profile", profile_arg]);
    let corpus = shared_data("dicom-conformance");
    let cfg = tmp.path().join("corpus.cfg");
    corpus_profile(&corpus, &cfg);
    let cfg_arg = cfg.to_str().expect("utf-8 path");
    let corpus_arg = corpus.to_str().expect("utf-8 path");
    let sent = scp.storescu(
        &["-nh", "+sd", "+r", "-xf", cfg_arg, "Corpus"],
        &[corpus_arg],
    );

    // What storescu did with each of the 276 files it found.
    let refused_classes: BTreeSet<&str> = sent
        .outcomes
        .values()
        .filter_map(|o| o.strip_prefix("No presentation context for: "))
        .collect();
    let counts = |prefix: &str| {
        sent.outcomes
            .values()
            .filter(|o| o.starts_with(prefix))
            .count()
    };
    let summary = format!(
        "{} sent: {} success, {} refused at negotiation ({refused_classes:?}), {} other",
        sent.outcomes.len(),
        sent.count("Success"),
        counts("No presentation context"),
        sent.outcomes.len() - sent.count("Success") - counts("No presentation context"),
    );
    // Every CR, DX, US and SC file that DCMTK can read and send is stored: 102.
    assert_eq!(sent.count("Success"), 102, "{summary}\n{}", sent.output);
    // CT, MR, segmentations, RT, SR, parametric maps, waveforms (131 files): refused per
    // presentation context at negotiation, so storescu never sends them.
    assert_eq!(counts("No presentation context"), 131, "{summary}");
    // The other 43 never leave storescu: text and JSON files, DICOMDIRs, data sets without
    // a SOP Class UID, truncated files, and HTJ2K, which DCMTK 3.6 cannot send.
    assert_eq!(sent.outcomes.len(), 276, "{summary}");
    for class in &refused_classes {
        let uid = class.rsplit(' ').next().unwrap_or_default();
        assert!(
            !lunghub_dimse::syntax::is_storage_class(uid),
            "{uid} is accepted but was refused"
        );
    }
    // No store failed at lunghub's end: nothing is quarantined under a trusting profile,
    // and nothing DCMTK can send is unreadable to lunghub.
    assert!(
        !sent.output.contains("Received Store Response (Error")
            && !sent.output.contains("Received Store Response (Failed"),
        "{}",
        sent.output
    );

    // The same files through the folder route give the same catalog: as many items, with
    // the same decoded pixels. (Item ids may differ for a few files, because storescu
    // re-encodes what it sends.)
    let stored: Vec<&String> = sent
        .outcomes
        .iter()
        .filter(|(_, o)| *o == "Success")
        .map(|(f, _)| f)
        .collect();
    let folder = tmp.path().join("folder");
    std::fs::create_dir(&folder).expect("mkdir");
    for (i, f) in stored.iter().enumerate() {
        std::fs::copy(f, folder.join(format!("{i:03}.dcm"))).expect("copy");
    }
    let ingested = tmp.path().join("ingested");
    run_ok(
        lunghub()
            .arg("ingest")
            .arg(&folder)
            .args([
                "--site",
                "Test Hospital",
                "--format",
                "plain",
                "--profile",
                profile_arg,
            ])
            .arg("--data-dir")
            .arg(&ingested)
            .arg("--site-key")
            .arg(key_file(tmp.path())),
    );
    let by_cstore = scp.items();
    let by_folder = catalog_items(&ingested);
    assert_eq!(by_cstore.len(), 99, "{summary}");
    assert_eq!(by_cstore.len(), by_folder.len());
    let pixels = |items: &[BTreeMap<String, serde_json::Value>]| -> BTreeSet<String> {
        items.iter().map(|i| i["pixel_hash"].to_string()).collect()
    };
    assert_eq!(pixels(&by_cstore), pixels(&by_folder));
    assert!(
        by_cstore
            .iter()
            .all(|i| i["route"] == "c-store" && i["site"] == "Test Hospital")
    );
    let log = scp.log_when(|l| l.contains("102 stored"));
    assert!(log.contains("102 stored, 0 refused"), "{log}");
    assert!(log.contains("files waiting to be catalogued"), "{log}");
}

#[test]
fn a_study_arrives_whole_and_without_identity() {
    let scp = Scp::start(&[]); // the default profile: CR passes it
    let tmp = tempfile::tempdir().expect("tempdir");
    let study = "1.2.826.0.1.3680043.8.498.4711";
    for n in 1..=3 {
        write_part10(chest_xray(study, n), &tmp.path().join(format!("{n}.dcm")));
    }
    let dir = tmp.path().to_str().expect("utf-8");
    let sent = scp.storescu(&["+sd"], &[dir]);
    assert_eq!(sent.count("Success"), 3, "{}", sent.output);

    let items = scp.items();
    assert_eq!(items.len(), 3);
    let studies: BTreeSet<String> = items.iter().map(|i| i["study_id"].to_string()).collect();
    let patients: BTreeSet<String> = items.iter().map(|i| i["patient_id"].to_string()).collect();
    assert_eq!(studies.len(), 1, "one study: {studies:?}");
    assert_eq!(patients.len(), 1, "one patient: {patients:?}");
    assert!(
        !studies.iter().next().unwrap().contains(study),
        "the study UID was replaced"
    );
    assert!(
        items
            .iter()
            .all(|i| i["modality"] == "CR" && i["view"] == "PA")
    );
    // Nothing of the patient's identity anywhere in the data directory: blobs, catalog,
    // its journal.
    for planted in [
        "DOE^JANE",
        "DOE",
        "PID-SECRET-4711",
        "ACC-SECRET-778899",
        "Saint Elsewhere",
        "HOUSE^GREGORY",
        "Main Street",
        "19500101",
        "HOSPITAL_PACS",
        study,
    ] {
        let found = files_containing(&scp.data_dir, planted.as_bytes());
        assert!(found.is_empty(), "{planted:?} is stored in {found:?}");
    }
    // Sending the study again adds nothing, and is still a success for the sender.
    let again = scp.storescu(&["+sd"], &[dir]);
    assert_eq!(again.count("Success"), 3, "{}", again.output);
    assert_eq!(scp.items().len(), 3);
}

#[test]
fn a_multi_frame_ultrasound_is_one_item() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let profile = trusting_profile(tmp.path());
    let scp = Scp::start(&["--profile", profile.to_str().expect("utf-8")]);
    // 30 frames of JPEG baseline, sent compressed as they are stored.
    let file = shared_data("dicom-conformance/pydicom-test-files/examples_ybr_color.dcm");
    let sent = scp.storescu(&["-xy"], &[file.to_str().expect("utf-8")]);
    assert_eq!(sent.count("Success"), 1, "{}", sent.output);
    assert!(sent.output.contains("JPEG Baseline"), "{}", sent.output);
    let items = scp.items();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["frames"], 30, "{:?}", items[0]);
    assert_eq!(items[0]["modality"], "US");
}

#[test]
fn several_senders_at_once_and_a_cap_on_associations() {
    let scp = Scp::start(&[]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut dirs = Vec::new();
    for k in 0..4u16 {
        let dir = tmp.path().join(format!("sender{k}"));
        std::fs::create_dir(&dir).expect("mkdir");
        for n in 0..6u16 {
            let study = format!("1.2.826.0.1.3680043.8.498.{}", 100 + k);
            write_part10(chest_xray(&study, k * 6 + n), &dir.join(format!("{n}.dcm")));
        }
        dirs.push(dir);
    }
    let port = scp.port;
    let senders: Vec<_> = dirs
        .iter()
        .map(|dir| {
            let dir = dir.to_str().expect("utf-8").to_owned();
            std::thread::spawn(move || storescu(port, &["+sd"], &[&dir]))
        })
        .collect();
    for sender in senders {
        let sent = sender.join().expect("storescu thread");
        assert_eq!(sent.count("Success"), 6, "{}", sent.output);
    }
    assert_eq!(scp.items().len(), 24);
    let log = scp.log_when(|l| l.matches("6 stored, 0 refused").count() >= 4);
    assert_eq!(log.matches("6 stored, 0 refused").count(), 4, "{log}");

    // With room for one association, a second one is turned away (transient) while the
    // first is open, and welcome once it is released.
    let one = Scp::start(&["--max-associations", "1"]);
    let holder = connect(one.port, &[(VERIFICATION, IMPLICIT_LE)]);
    let busy = one.echoscu("PACS", "LUNGHUB");
    assert!(!busy.status.success());
    assert!(
        text(&busy).contains("Rejected Transient"),
        "{}",
        text(&busy)
    );
    assert!(
        text(&busy).contains("Local Limit Exceeded"),
        "{}",
        text(&busy)
    );
    holder.release().expect("release");
    one.log_when(|l| l.contains("0 stored, 0 refused, 0 echoes"));
    let ok = one.echoscu("PACS", "LUNGHUB");
    assert!(ok.status.success(), "{}", text(&ok));
}

/// Connections from 127.0.0.2 to the SCP on 127.0.0.1 that never send a byte.
fn silent_connections(port: u16, n: usize) -> Vec<std::net::TcpStream> {
    (0..n)
        .map(|_| {
            let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                .expect("socket");
            socket
                .bind(&std::net::SocketAddr::from(([127, 0, 0, 2], 0)).into())
                .expect("bind 127.0.0.2");
            socket
                .connect(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into())
                .expect("connect");
            std::net::TcpStream::from(socket)
        })
        .collect()
}

/// Whether the SCP closed `stream` within `within` (EOF or a reset, not a timeout).
fn closed_within(mut stream: &std::net::TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).expect("timeout");
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

#[test]
fn silent_connections_hold_no_association_slot() {
    // 16 silent connections used to fill the 16 slots until the 60 s idle timeout.
    let scp = Scp::start(&["--greeting-timeout", "3"]);
    let silent = silent_connections(scp.port, 16);
    let ok = scp.echoscu("PACS", "LUNGHUB");
    assert!(ok.status.success(), "a real peer is served: {}", text(&ok));
    // One address holds at most 8 connections: the 9th and later are closed at once.
    let refused = silent
        .iter()
        .skip(8)
        .filter(|s| closed_within(s, Duration::from_secs(2)))
        .count();
    assert_eq!(refused, 8);
    // The 8 admitted are closed once the greeting timeout passes without a PDU.
    let started = Instant::now();
    for s in silent.iter().take(8) {
        assert!(closed_within(s, Duration::from_secs(10)), "still open");
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    let log = scp.log_when(|l| l.matches("no A-ASSOCIATE-RQ within").count() >= 8);
    assert!(log.contains("already open from that address"), "{log}");
}

#[test]
fn a_data_set_declaring_4_gb_of_pixels_is_refused_within_the_memory_bound() {
    const DX_IMAGE: &str = "1.2.840.10008.5.1.4.1.1.1.1";
    let scp = Scp::start(&[]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("hostile.dcm");
    std::fs::write(&path, common::fixtures::declaring_4_gb()).expect("write");
    let (data, ts) = data_set_of(&path);
    assert_eq!(ts, EXPLICIT_LE);
    let mut client = connect(scp.port, &[(DX_IMAGE, EXPLICIT_LE)]);
    let dx = context_of(&client, DX_IMAGE);
    let (status, why) = store(
        &mut client,
        dx,
        DX_IMAGE,
        "1.2.826.0.1.3680043.8.498.72",
        &data,
    );
    assert_eq!(status, 0xC000, "{why}");
    assert!(why.contains("declares 4294967280"), "{why}");
    client.release().expect("release");
    let peak = common::peak_rss(scp.child.id());
    println!("lunghub scp: {} MiB peak", peak >> 20);
    assert!(peak < 512 << 20, "lunghub scp peaked at {} MiB", peak >> 20);
    assert_eq!(scp.items().len(), 0);
}

#[test]
fn refused_instances_get_a_status_and_a_reason_and_the_association_goes_on() {
    // The default profile quarantines ultrasound without BurnedInAnnotation.
    let scp = Scp::start(&["--max-instance-bytes", "2000000"]);
    let mut client = connect(
        scp.port,
        &[
            (VERIFICATION, IMPLICIT_LE),
            (SC_IMAGE, EXPLICIT_LE),
            (US_IMAGE, EXPLICIT_LE),
            (CR_IMAGE, EXPLICIT_LE),
        ],
    );
    // Not DICOM at all: unreadable.
    let sc = context_of(&client, SC_IMAGE);
    let (status, why) = store(&mut client, sc, SC_IMAGE, "1.2.3.4.1", &[0x42; 4000]);
    assert_eq!(status, 0xC000, "{why}");
    assert!(why.starts_with("unreadable"), "{why}");
    // A real ultrasound image, quarantined: identity may be burned into its pixels.
    let us = context_of(&client, US_IMAGE);
    let (data, ts) = data_set_of(&shared_data("dicom-conformance/pydicom-data/OBXXXX1A.dcm"));
    assert_eq!(ts, EXPLICIT_LE);
    let (status, why) = store(&mut client, us, US_IMAGE, "1.2.3.4.2", &data);
    assert_eq!(status, 0xC001, "{why}");
    assert!(why.contains("BurnedInAnnotation"), "{why}");
    // Over the per-instance limit: read to the end, dropped, out of resources.
    let (status, why) = store(&mut client, us, US_IMAGE, "1.2.3.4.3", &vec![0; 2_100_000]);
    assert_eq!(status, 0xA700, "{why}");
    // A SOP class other than its presentation context's.
    let cr = context_of(&client, CR_IMAGE);
    let (status, _) = store(&mut client, cr, US_IMAGE, "1.2.3.4.4", &data);
    assert_eq!(status, 0x0122);
    // Still in step: an echo, then a good image.
    assert_eq!(echo(&mut client), 0x0000);
    let tmp = tempfile::tempdir().expect("tempdir");
    write_part10(
        chest_xray("1.2.826.0.1.3680043.8.498.7", 1),
        &tmp.path().join("cr.dcm"),
    );
    let (data, _) = data_set_of(&tmp.path().join("cr.dcm"));
    let (status, why) = store(
        &mut client,
        cr,
        CR_IMAGE,
        "1.2.826.0.1.3680043.8.498.7.1",
        &data,
    );
    assert_eq!(status, 0x0000, "{why}");
    client.release().expect("release");
    assert_eq!(scp.items().len(), 1);
    let log = scp.log_when(|l| l.contains("1 echoes"));
    assert!(log.contains("1 stored, 4 refused, 1 echoes"), "{log}");

    // The SCP refuses presentation contexts it does not serve.
    let client = ClientAssociationOptions::new()
        .calling_ae_title("PACS")
        .called_ae_title("LUNGHUB")
        .with_presentation_context(CT_IMAGE, vec![EXPLICIT_LE])
        .with_presentation_context(CR_IMAGE, vec!["1.2.840.10008.1.2.4.100"]) // MPEG-2
        .with_presentation_context(CR_IMAGE, vec!["1.2.840.10008.1.2.4.91", EXPLICIT_LE])
        .establish(format!("127.0.0.1:{}", scp.port).as_str())
        .expect("association");
    // Only the accepted context is listed: CT and MPEG-2 were refused. Of JPEG 2000 and
    // explicit VR, the sender's first choice is kept.
    let accepted: Vec<(u8, String)> = client
        .presentation_contexts()
        .iter()
        .map(|pc| (pc.id, pc.transfer_syntax.trim_end_matches('\0').to_owned()))
        .collect();
    assert_eq!(accepted, [(5, "1.2.840.10008.1.2.4.91".to_owned())]);
    client.release().expect("release");
}

#[test]
fn connections_cut_mid_transfer_leave_nothing_behind() {
    let scp = Scp::start(&[]);
    let tmp = tempfile::tempdir().expect("tempdir");
    write_part10(
        chest_xray("1.2.826.0.1.3680043.8.498.9", 1),
        &tmp.path().join("cr.dcm"),
    );
    let (data, _) = data_set_of(&tmp.path().join("cr.dcm"));

    // 1. A whole command and half the data set, then the socket closes.
    let mut client = connect(scp.port, &[(CR_IMAGE, EXPLICIT_LE)]);
    let cr = context_of(&client, CR_IMAGE);
    client
        .send(&pdv(
            cr,
            PDataValueType::Command,
            true,
            store_rq(CR_IMAGE, "1.2.3.9.1", 1),
        ))
        .expect("command");
    client
        .send(&pdv(
            cr,
            PDataValueType::Data,
            false,
            data[..data.len() / 2].to_vec(),
        ))
        .expect("half the data");
    drop(client);

    // 2. A valid A-ASSOCIATE-RQ, accepted, then half a P-DATA-TF PDU, then close.
    let mut client = connect(scp.port, &[(CR_IMAGE, EXPLICIT_LE)]);
    let cr = context_of(&client, CR_IMAGE);
    client
        .send(&pdv(
            cr,
            PDataValueType::Command,
            true,
            store_rq(CR_IMAGE, "1.2.3.9.2", 1),
        ))
        .expect("command");
    let mut pdu = Vec::new();
    dicom_ul::write_pdu(&mut pdu, &pdv(cr, PDataValueType::Data, true, data.clone()))
        .expect("encode");
    let stream = client.inner_stream();
    stream.write_all(&pdu[..pdu.len() / 2]).expect("half a PDU");
    stream.flush().expect("flush");
    drop(client);

    // 3. Half an A-ASSOCIATE-RQ.
    let mut raw = TcpStream::connect(("127.0.0.1", scp.port)).expect("connect");
    raw.write_all(&[0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x01])
        .expect("write");
    drop(raw);

    // The server still answers, stores nothing from the broken transfers, and stores
    // the same file when it comes whole. The half request never became an association:
    // it waited for the rest, holding no slot, until the greeting timeout.
    let log = scp.log_when(|l| {
        l.matches("one instance cut off and dropped").count() >= 2
            && l.contains("no A-ASSOCIATE-RQ within")
    });
    assert_eq!(
        log.matches("one instance cut off and dropped").count(),
        2,
        "{log}"
    );
    assert!(log.contains("connection from 127.0.0.1"), "{log}");
    let ok = scp.echoscu("PACS", "LUNGHUB");
    assert!(ok.status.success(), "{}", text(&ok));
    assert_eq!(scp.items().len(), 0);
    let sent = scp.storescu(&[], &[tmp.path().join("cr.dcm").to_str().expect("utf-8")]);
    assert_eq!(sent.count("Success"), 1, "{}", sent.output);
    assert_eq!(scp.items().len(), 1);
}

#[test]
fn serve_runs_the_dicom_route_on_the_same_intake() {
    let server = common::server::Server::start_with(
        None,
        &[
            "--dicom-listen",
            "127.0.0.1:0",
            "--dicom-peer",
            "PACS=Test Hospital",
        ],
    );
    let line = server
        .startup
        .iter()
        .find_map(|l| l.strip_prefix("lunghub DICOM listening on "))
        .expect("serve prints where DICOM listens");
    let port: u16 = line
        .split_whitespace()
        .next()
        .and_then(|a| a.rsplit_once(':'))
        .and_then(|(_, p)| p.parse().ok())
        .expect("port");
    let ok = echoscu(port, "PACS", "LUNGHUB");
    assert!(ok.status.success(), "{}", text(&ok));
    let tmp = tempfile::tempdir().expect("tempdir");
    write_part10(
        chest_xray("1.2.826.0.1.3680043.8.498.11", 1),
        &tmp.path().join("cr.dcm"),
    );
    let sent = storescu(
        port,
        &[],
        &[tmp.path().join("cr.dcm").to_str().expect("utf-8")],
    );
    assert_eq!(sent.count("Success"), 1, "{}", sent.output);
    wait_for_spool(&server.data_dir);
    let items = catalog_items(&server.data_dir);
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["route"], "c-store");
}
