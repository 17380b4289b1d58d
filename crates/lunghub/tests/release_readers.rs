//! A release built from ../shared/data (and from DICOM radiographs made here with planted
//! identity), loaded by the real reader of each export: torchxrayvision's
//! `COVID19_Dataset`, Hugging Face `datasets` (ImageFolder), COVID-Net's label-file rules,
//! mlcroissant, and pydicom's `FileSet` on the DICOMDIR. The same catalog and seed must give
//! the same bytes; test findings must stay out of every public file; the card must name the
//! shared data's source/finding tangle; the web page must stream the same archive the
//! library writes, and `lunghub release download` must unpack and verify it.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::fixtures::{PLANTED, chest_dx, planted_in};
use common::server::Server;
use common::{key_file, lunghub, python, run_ok, shared_data};
use lunghub_release::archive::{self, Format};

const CXR: [&str; 4] = [
    "cxr-radiographydb-dev",
    "cxr-nih-dev",
    "cxr-actualmed-dev",
    "cxr-ieee8023-2020-04",
];

/// Rows of a release CSV as maps of column → value.
fn rows(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).expect("CSV opens");
    let head = reader.headers().expect("header").clone();
    reader
        .records()
        .map(|r| {
            let r = r.expect("CSV row");
            head.iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

/// Every file under `dir`, relative path → bytes.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.expect("walk"))
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            (
                e.path().strip_prefix(dir).expect("under").to_path_buf(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .collect()
}

fn archive_bytes(dir: &Path, prefix: &str, format: Format) -> Vec<u8> {
    let mut out = Vec::new();
    archive::write(
        &archive::Folder(dir.to_path_buf()),
        prefix,
        format,
        &mut out,
    )
    .expect("archive");
    out
}

/// `lunghub release export`: the release's files out of the blob store, verified.
fn export(data: &Path, name: &str, version: i64, out: &Path) -> PathBuf {
    let said = run_ok(
        lunghub()
            .args(["release", "export", name, "--version", &version.to_string()])
            .arg("--out")
            .arg(out)
            .arg("--data-dir")
            .arg(data),
    );
    let text = String::from_utf8_lossy(&said.stdout);
    assert!(text.contains("intact:"), "{text}");
    out.join(format!("{name}-v{version}"))
}

/// Six DX radiographs of one patient in two studies, filed by finding for `--format folders`.
fn dicom_site(root: &Path) -> PathBuf {
    let site = root.join("hospital-dicom");
    for (finding, study, seeds) in [
        ("COVID-19", "1.2.826.0.1.3680043.10.1234.1", [3u16, 17, 29]),
        ("No Finding", "1.2.826.0.1.3680043.10.1234.2", [41, 53, 67]),
    ] {
        let dir = site.join(finding);
        std::fs::create_dir_all(&dir).expect("mkdir");
        for (n, seed) in seeds.iter().enumerate() {
            let bytes = chest_dx(study, &format!("{study}.1.{n}"), *seed * 13, 96);
            std::fs::write(dir.join(format!("im{n}.dcm")), bytes).expect("write");
        }
    }
    site
}

fn create(data: &Path, name: &str, extra: &[&str]) -> String {
    let out = run_ok(
        lunghub()
            .args(["release", "create", name, "--modality", "X-ray"])
            .args(["--licence", "NIH ChestX-ray14=CC0-1.0"])
            .args(extra)
            .arg("--data-dir")
            .arg(data),
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_release_of_the_shared_data_loads_in_every_reader_and_is_reproducible() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let key = key_file(tmp.path());
    let a = tmp.path().join("a");
    let dicoms = dicom_site(tmp.path());
    let mut sites: Vec<(String, PathBuf, &str)> = CXR
        .iter()
        .map(|s| (s.to_string(), shared_data(s), "auto"))
        .collect();
    sites.push(("Hospital DICOM".into(), dicoms, "folders"));
    for (site, path, format) in &sites {
        run_ok(
            lunghub()
                .args(["ingest", "--site", site, "--format", format])
                .arg("--site-key")
                .arg(&key)
                .arg("--data-dir")
                .arg(&a)
                .arg(path),
        );
        let out = run_ok(
            lunghub()
                .args([
                    "catalog",
                    "approve",
                    "--site",
                    site,
                    "--reviewer",
                    "Test Coordinator",
                ])
                .arg("--data-dir")
                .arg(&a),
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(!text.starts_with("0 items approved"), "{site}: {text}");
    }

    // The same catalog and seed, twice: a copy of the data directory before the release.
    let b = tmp.path().join("b");
    let copied = Command::new("cp")
        .arg("-a")
        .arg(&a)
        .arg(&b)
        .status()
        .expect("cp");
    assert!(copied.success());
    let said = create(&a, "cxr-covid", &["--by", "coord@hospital.example"]);
    create(&b, "cxr-covid", &[]);
    assert!(said.contains("release cxr-covid v1:"), "{said}");
    let exports = tmp.path().join("exports");
    let rel = export(&a, "cxr-covid", 1, &exports.join("a"));
    let twin = export(&b, "cxr-covid", 1, &exports.join("b"));
    let (ta, tb) = (tree(&rel), tree(&twin));
    assert_eq!(ta.keys().collect::<Vec<_>>(), tb.keys().collect::<Vec<_>>());
    for (path, bytes) in &ta {
        assert!(
            bytes == &tb[path],
            "{} differs between the two builds",
            path.display()
        );
    }
    for format in [Format::TarGz, Format::Zip] {
        assert!(
            archive_bytes(&rel, "cxr-covid-v1", format)
                == archive_bytes(&twin, "cxr-covid-v1", format),
            "the {format:?} archives differ"
        );
    }

    // What the release says of itself.
    let labelled = rows(&rel.join("metadata.csv"));
    let test = rows(&rel.join("test.csv"));
    assert!(
        labelled.len() > 1000 && test.len() > 150,
        "{} + {}",
        labelled.len(),
        test.len()
    );
    let count = |split: &str| labelled.iter().filter(|r| r["split"] == split).count();
    // No patient in two splits; test rows carry no finding.
    let mut splits_of: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for r in labelled.iter().chain(&test) {
        splits_of
            .entry(&r["patientid"])
            .or_default()
            .insert(&r["split"]);
    }
    assert!(
        splits_of.values().all(|s| s.len() == 1),
        "a patient is in two splits"
    );
    assert!(
        test.iter()
            .all(|r| r["split"] == "test" && r["finding"].is_empty())
    );
    // Test file names appear in no labelled export.
    let test_files: BTreeSet<&str> = test.iter().map(|r| r["filename"].as_str()).collect();
    for labelled_file in [
        "metadata.csv",
        "covidx/train.txt",
        "covidx/val.txt",
        "imagefolder/train/metadata.csv",
        "imagefolder/validation/metadata.csv",
    ] {
        let text = std::fs::read_to_string(rel.join(labelled_file)).expect("read");
        assert!(
            !test_files.iter().any(|f| text.contains(f)),
            "a test image is named in {labelled_file}"
        );
    }
    // The planted identity of the DICOM fixtures is nowhere in the release.
    let leaks = planted_in(&rel);
    assert!(
        leaks.is_empty(),
        "planted identity {leaks:?} (of {PLANTED:?}) in the release"
    );

    // The readers.
    let out = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/release_readers.py"))
        .arg(&rel)
        .env("HF_TEST_CACHE", tmp.path().join("hf-cache"))
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "a reader failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).expect("readers print JSON");

    let tx = &seen["torchxrayvision"];
    assert_eq!(tx["count"], labelled.len());
    let with = |word: &str| {
        labelled
            .iter()
            .filter(|r| r["finding"].split('/').any(|p| p == word))
            .count()
    };
    for word in ["COVID-19", "No Finding", "Pneumonia", "Viral"] {
        assert_eq!(
            tx["positives"][word],
            with(word),
            "torchxrayvision's {word} count"
        );
    }
    assert_eq!(tx["first_shape"][0], 1);
    assert!(tx["first_range"][1].as_f64().unwrap_or(0.0) <= 1024.0);

    let hf = &seen["imagefolder"];
    for (split, n) in [
        ("train", count("train")),
        ("validation", count("validation")),
        ("test", test.len()),
    ] {
        assert_eq!(hf[split]["count"], n, "ImageFolder {split}");
        assert_eq!(
            hf[split]["first_mode"], "L",
            "ImageFolder {split} images are 8-bit gray"
        );
    }
    let mut train_findings: BTreeMap<String, usize> = BTreeMap::new();
    for r in labelled.iter().filter(|r| r["split"] == "train") {
        *train_findings.entry(r["finding"].clone()).or_default() += 1;
    }
    assert_eq!(hf["train"]["findings"], serde_json::json!(train_findings));
    assert_eq!(
        hf["test"]["findings"],
        serde_json::json!({"sequestered": test.len()})
    );

    let covidx = &seen["covidx"];
    for (file, split) in [("train.txt", "train"), ("val.txt", "validation")] {
        assert_eq!(covidx[file]["missing_images"], 0);
        let expected: usize = labelled
            .iter()
            .filter(|r| r["split"] == split && r["finding"] != "ARDS")
            .count();
        let got: u64 = covidx[file]["labels"]
            .as_object()
            .expect("labels")
            .values()
            .filter_map(|v| v.as_u64())
            .sum();
        assert_eq!(got as usize, expected, "COVIDx {file}");
        let covid = labelled
            .iter()
            .filter(|r| r["split"] == split && r["finding"] == "Pneumonia/Viral/COVID-19")
            .count();
        assert_eq!(covidx[file]["labels"]["COVID-19"], covid);
    }

    let cr = &seen["croissant"];
    assert_eq!(
        cr["splits"],
        serde_json::json!(["test", "train", "validation"])
    );
    assert_eq!(cr["test"], test.len());
    let cr_total: u64 = cr["labelled"]
        .as_object()
        .expect("labelled")
        .values()
        .filter_map(|v| v.as_u64())
        .sum();
    assert_eq!(cr_total as usize, labelled.len());
    let covid_train = labelled
        .iter()
        .filter(|r| r["split"] == "train" && r["finding"] == "Pneumonia/Viral/COVID-19")
        .count();
    assert_eq!(
        cr["labelled"]["train|Pneumonia/Viral/COVID-19"],
        covid_train
    );

    let dicom = &seen["dicom"];
    assert_eq!(dicom["instances"], 6, "{dicom}");
    assert_eq!(dicom["patients"], 1);
    assert_eq!(dicom["identity_removed"], serde_json::json!(["YES"]));

    // The card states the tangle of the shared data.
    let card = std::fs::read_to_string(rel.join("README.md")).expect("card");
    assert!(
        card.contains("100% of the 200 images labelled Pneumonia come from NIH ChestX-ray14"),
        "{card}"
    );
    assert!(card.contains("A model can learn to recognise"), "{card}");
    assert!(card.contains("| NIH ChestX-ray14 | CC0-1.0 |"), "{card}");
    assert!(card.contains("**not stated**"), "{card}");

    // A model trained on it: the evaluation must flag what the shared data invites. Pneumonia
    // comes only from NIH here, so a pneumonia score can be earned by recognising NIH.
    let model = tmp.path().join("model");
    run_ok(
        lunghub()
            .arg("train")
            .arg(&rel)
            .args(["--task", "three-class", "--side", "64", "--epochs", "6"])
            .arg("--out")
            .arg(&model),
    );
    let report = tmp.path().join("report");
    let said = run_ok(
        lunghub()
            .arg("evaluate")
            .arg(&model)
            .arg(&rel)
            .args(["--class", "pneumonia"])
            .arg("--out")
            .arg(&report),
    );
    let text = String::from_utf8_lossy(&said.stdout);
    assert!(text.contains("SHORTCUT WARNING"), "{text}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.join("report.json")).expect("report"))
            .expect("json");
    assert!(
        json["shortcut"]["warning"].is_string(),
        "{}",
        json["shortcut"]
    );
    assert_eq!(
        json["shortcut"]["prevalence_by_source"]["COVID-19 Radiography Database"],
        0.0
    );
    assert_eq!(json["costs"].as_array().map(Vec::len), Some(20));
    assert!(json["by_source"]["NIH ChestX-ray14"]["roc_auc"].is_number());
    for plot in ["roc.svg", "pr.svg", "calibration.svg", "report.html"] {
        let body = std::fs::read_to_string(report.join(plot)).expect("plot");
        assert!(body.contains("<svg") || body.contains("<html"), "{plot}");
    }
    for plot in ["roc.png", "pr.png", "calibration.png"] {
        let png = image::open(report.join(plot))
            .expect("a PNG plot")
            .to_rgb8();
        assert_eq!(png.dimensions(), (720, 720), "{plot}");
        // The curve's colour is drawn somewhere.
        assert!(
            png.pixels().any(|p| p.0 == [11, 95, 127]),
            "{plot} has no curve"
        );
    }
    let card = std::fs::read_to_string(report.join("MODEL_CARD.md")).expect("model card");
    assert!(card.contains("not a diagnostic device") && card.contains("## Limitations"));
    // The test split's findings come from the catalog that holds the release.
    let said = run_ok(
        lunghub()
            .arg("evaluate")
            .arg(&model)
            .arg(&rel)
            .args(["--split", "test"])
            .arg("--out")
            .arg(tmp.path().join("report-test"))
            .arg("--data-dir")
            .arg(&a),
    );
    let text = String::from_utf8_lossy(&said.stdout);
    assert!(text.starts_with("test: "), "{text}");
    let elsewhere = lunghub()
        .arg("evaluate")
        .arg(&model)
        .arg(&rel)
        .args(["--split", "test", "--out"])
        .arg(tmp.path().join("report-x"))
        .arg("--data-dir")
        .arg(tmp.path().join("empty-data"))
        .output()
        .expect("runs");
    assert_eq!(elsewhere.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&elsewhere.stderr).contains("holds no release"));

    let verified = run_ok(lunghub().args(["release", "verify"]).arg(&rel));
    assert!(String::from_utf8_lossy(&verified.stdout).starts_with("intact:"));

    // A second version that drops lateral and unknown views: the changelog says what left
    // and why, and every patient still there keeps their split.
    let said = create(
        &a,
        "cxr-covid",
        &["--view", "PA", "--view", "AP", "--view", "AP Supine"],
    );
    assert!(said.contains("release cxr-covid v2:"), "{said}");
    let v2 = export(&a, "cxr-covid", 2, &exports.join("a"));
    let log = std::fs::read_to_string(v2.join("CHANGELOG.md")).expect("changelog");
    assert!(log.contains("Against v1: 0 added,"), "{log}");
    assert!(log.contains("outside this version's selection"), "{log}");
    let before: BTreeMap<String, String> = labelled
        .iter()
        .chain(&test)
        .map(|r| (r["patientid"].clone(), r["split"].clone()))
        .collect();
    for r in rows(&v2.join("metadata.csv"))
        .iter()
        .chain(&rows(&v2.join("test.csv")))
    {
        assert_eq!(
            before.get(&r["patientid"]),
            Some(&r["split"]),
            "patient moved"
        );
    }

    // The web: the public page shows the card, the archive streams the library's bytes, and
    // `lunghub release download` unpacks and verifies it.
    let server = Server::start_in(&a, &[]);
    let visitor = server.client();
    let page = visitor.get("/releases/cxr-covid/v1").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Source and finding are tangled"));
    assert!(page.body.contains("cxr-covid-v1.tar.gz"));
    assert!(
        !page.body.contains("coord@hospital.example"),
        "the public page shows no coordinator's email"
    );
    let (status, media, body) = visitor.get_raw("/releases/cxr-covid/v1.tar.gz").await;
    assert_eq!((status, media.as_str()), (200, "application/gzip"));
    assert!(
        body == archive_bytes(&rel, "cxr-covid-v1", Format::TarGz),
        "the streamed .tar.gz differs"
    );
    let (status, _, body) = visitor.get_raw("/releases/cxr-covid/v1.zip").await;
    assert_eq!(status, 200);
    assert!(
        body == archive_bytes(&rel, "cxr-covid-v1", Format::Zip),
        "the streamed .zip differs"
    );
    let (status, _, sums) = visitor.get_raw("/releases/cxr-covid/v1/SHA256SUMS").await;
    assert_eq!(status, 200);
    assert_eq!(sums, std::fs::read(rel.join("SHA256SUMS")).expect("sums"));
    assert_eq!(visitor.get("/releases/cxr-covid/v9").await.status, 404);
    assert_eq!(
        visitor
            .get_raw("/releases/cxr-covid/v1/metadata.csv")
            .await
            .0,
        404
    );

    let down = tmp.path().join("down");
    let out = run_ok(
        lunghub()
            .args(["release", "download"])
            .arg(format!("{}/releases/cxr-covid/v1", server.base))
            .arg("--out")
            .arg(&down),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("intact:"), "{text}");
    assert_eq!(tree(&down.join("cxr-covid-v1")), ta);

    // A coordinator creates a release on the web; an anonymous visitor may not.
    assert_eq!(visitor.get("/coord/releases").await.status, 303);
    let admin = common::accounts::admin(&server).await;
    let form = admin.get("/coord/releases").await;
    assert_eq!(form.status, 200);
    let bad = admin
        .post(
            "/coord/releases",
            &[("name", "Bad Name"), ("shares", "70,15")],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("release name"), "{}", bad.body);
    let made = admin
        .post(
            "/coord/releases",
            &[
                ("name", "nih-only"),
                ("site", "cxr-nih-dev"),
                ("seed", "7"),
                ("shares", "80,10,10"),
                ("licences", "NIH ChestX-ray14=CC0-1.0"),
            ],
        )
        .await;
    assert_eq!(made.status, 303, "{}", made.body);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let page = admin.get("/coord/releases").await;
        if page.body.contains("nih-only v1</a> is released") {
            break;
        }
        assert!(!page.body.contains("failed"), "{}", page.body);
        assert!(
            std::time::Instant::now() < deadline,
            "the web release did not finish"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    drop(server);
    let nih = rows(&export(&a, "nih-only", 1, &exports.join("a")).join("metadata.csv"));
    assert!(!nih.is_empty() && nih.iter().all(|r| r["source"] == "NIH ChestX-ray14"));
}
