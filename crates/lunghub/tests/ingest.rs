//! `lunghub ingest` on the real datasets of ../shared/data: labels and counts per finding
//! match each dataset's metadata, a second run adds nothing, and `kill -9` at random
//! moments never leaves the catalog and blob store inconsistent. On SQLite and PostgreSQL.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use lunghub_domain::Finding;

const CXR: &[&str] = &[
    "cxr-radiographydb-dev",
    "cxr-nih-dev",
    "cxr-actualmed-dev",
    "cxr-ieee8023-2020-04",
];

fn postgres_url() -> String {
    let admin = std::env::var("LUNGHUB_TEST_POSTGRES_URL")
        .expect("LUNGHUB_TEST_POSTGRES_URL is not set: run the tests through `bash .ci/run`, which starts PostgreSQL");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(lunghub_store::testing::fresh_postgres_database(&admin))
        .expect("fresh database")
}

fn ingest_cmd(paths: &[&Path], data_dir: &Path, db: Option<&str>, key: &Path) -> Command {
    let mut cmd = lunghub();
    cmd.arg("ingest")
        .args(paths)
        .args(["--site", "Test Hospital"])
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--site-key")
        .arg(key);
    if let Some(url) = db {
        cmd.arg("--database-url").arg(url);
    }
    cmd
}

fn summary(data_dir: &Path, db: Option<&str>) -> serde_json::Value {
    let mut cmd = lunghub();
    cmd.args(["catalog", "summary", "--json"])
        .arg("--data-dir")
        .arg(data_dir);
    if let Some(url) = db {
        cmd.arg("--database-url").arg(url);
    }
    serde_json::from_slice(&run_ok(&mut cmd).stdout).expect("summary is JSON")
}

/// Findings per the dataset's own metadata.csv, mapped to the hierarchy (empty = unlabelled).
fn expected_findings(dataset: &Path) -> BTreeMap<String, i64> {
    let mut reader = csv::Reader::from_path(dataset.join("metadata.csv")).expect("metadata.csv");
    let headers = reader.headers().expect("headers").clone();
    let col = headers
        .iter()
        .position(|h| h.eq_ignore_ascii_case("finding"))
        .expect("finding column");
    let mut counts = BTreeMap::new();
    for row in reader.records() {
        let raw = row.expect("row")[col].trim().to_owned();
        if !raw.is_empty() {
            *counts
                .entry(Finding::parse(&raw).as_str().to_owned())
                .or_default() += 1;
        }
    }
    counts
}

fn by_finding(summary: &serde_json::Value) -> BTreeMap<String, i64> {
    summary["by_finding"]
        .as_object()
        .expect("by_finding")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_i64().expect("count")))
        .collect()
}

fn ingest_line(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn every_cxr_dataset_ingests_with_its_labels_and_a_second_run_adds_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let key = key_file(tmp.path());
    for name in CXR {
        let dataset = shared_data(name);
        let data_dir = tmp.path().join(name);
        let first = run_ok(&mut ingest_cmd(&[&dataset], &data_dir, None, &key));
        let s = summary(&data_dir, None);
        assert_eq!(
            by_finding(&s),
            expected_findings(&dataset),
            "{name}: counts per finding differ from metadata.csv"
        );
        let files = std::fs::read_dir(dataset.join("images"))
            .expect("images")
            .count() as i64;
        assert_eq!(
            s["items"].as_i64(),
            Some(files),
            "{name}: {}",
            ingest_line(&first)
        );
        let second = run_ok(&mut ingest_cmd(&[&dataset], &data_dir, None, &key));
        assert!(
            ingest_line(&second).contains(" 0 new, "),
            "{name}: a second run added items: {}",
            ingest_line(&second)
        );
        assert_eq!(summary(&data_dir, None)["items"].as_i64(), Some(files));
        if *name == "cxr-ieee8023-2020-04" {
            // CT slices and lateral views are catalogued as what they are, not dropped.
            assert_eq!(s["by_modality"]["CT"].as_i64(), Some(23));
            assert_eq!(s["by_view"]["Lateral"].as_i64(), Some(12));
            assert_eq!(s["by_view"]["AP Supine"].as_i64(), Some(13));
        }
    }
}

#[test]
fn pocus_images_are_labelled_by_their_file_name_prefix() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let images = shared_data("lus-pocus-dev/pocus_images");
    let data_dir = tmp.path().join("data");
    run_ok(&mut ingest_cmd(
        &[&images],
        &data_dir,
        None,
        &key_file(tmp.path()),
    ));
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    let mut files = 0;
    for entry in walk(&images) {
        files += 1;
        let name = entry
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let finding = if name.starts_with("cov") {
            "Pneumonia/Viral/COVID-19"
        } else if name.starts_with("pneu") {
            "Pneumonia/Bacterial"
        } else if name.starts_with("vir") {
            "Pneumonia/Viral"
        } else if name.starts_with("reg") {
            "No Finding"
        } else {
            continue;
        };
        *expected.entry(finding.into()).or_default() += 1;
    }
    let s = summary(&data_dir, None);
    assert_eq!(by_finding(&s), expected);
    assert_eq!(s["by_modality"]["US"].as_i64(), Some(files));
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("dir") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn catalog_show_prints_one_item_with_its_history() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("data");
    run_ok(&mut ingest_cmd(
        &[&shared_data("cxr-actualmed-dev")],
        &data_dir,
        None,
        &key_file(tmp.path()),
    ));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let ids = rt.block_on(async {
        let catalog = lunghub_store::Catalog::open(&lunghub_store::Catalog::sqlite_url(&data_dir))
            .await
            .expect("open");
        catalog.item_ids().await.expect("ids")
    });
    let out = run_ok(
        lunghub()
            .args(["catalog", "show", &ids[0][..12], "--json"])
            .arg("--data-dir")
            .arg(&data_dir),
    );
    let item: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(item["fields"]["id"].as_str(), Some(ids[0].as_str()));
    assert_eq!(item["fields"]["route"].as_str(), Some("folder"));
    assert_eq!(item["history"][0][1].as_str(), Some("intake"));
    let missing = lunghub()
        .args(["catalog", "show", "ffffffffffff"])
        .arg("--data-dir")
        .arg(&data_dir)
        .output()
        .expect("runs");
    assert!(!missing.status.success());
}

/// Whether a file in the blob store is a write in progress (`.partial-…`), not a blob.
fn is_partial(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with(".partial-"))
}

/// Blob ids on disk under DATA/blobs, and how many half-written blobs are left there.
fn local_blobs(data_dir: &Path) -> (BTreeSet<String>, usize) {
    let (partial, whole): (Vec<_>, Vec<_>) = walk(&data_dir.join("blobs"))
        .into_iter()
        .partition(|p| is_partial(p));
    let blobs = whole
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    (blobs, partial.len())
}

/// The ids of every catalogued item and thumbnail.
fn catalog_refs(url: &str) -> BTreeSet<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let catalog = lunghub_store::Catalog::open(url).await.expect("open");
        let mut refs = BTreeSet::new();
        for id in catalog.item_ids().await.expect("ids") {
            let item = catalog.item(&id).await.expect("item").expect("present");
            refs.extend(item.fields["thumbnail"].as_str().map(str::to_owned));
            refs.insert(id);
        }
        refs
    })
}

fn kill_nine_then_finish(db: Option<&str>) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let key = key_file(tmp.path());
    let dataset = shared_data("cxr-nih-dev");
    let data_dir = tmp.path().join("data");
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .subsec_nanos() as u64;
    let mut state = seed | 1;
    // Kill when the store has reached a random number of blobs (400 images make about 800
    // blobs with their thumbnails), so the kills land all along the ingest however fast the
    // machine is.
    let mut targets: Vec<usize> = (0..5)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            1 + (state % 780) as usize
        })
        .collect();
    targets.sort_unstable();
    let blob_count = || {
        walk(&data_dir.join("blobs"))
            .iter()
            .filter(|p| !is_partial(p))
            .count()
    };
    let mut kills = Vec::new();
    for target in targets {
        let mut child = ingest_cmd(&[&dataset], &data_dir, db, &key)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let start = Instant::now();
        while child.try_wait().expect("wait").is_none()
            && start.elapsed() < Duration::from_secs(120)
        {
            if data_dir.join("blobs").exists() && blob_count() >= target {
                // SIGKILL: no destructor, no flush, no rollback by the process itself.
                child.kill().expect("kill");
                kills.push(target);
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = child.wait();
    }
    assert!(
        kills.len() >= 3,
        "the ingest finished before most kills (seed {seed}): {kills:?}"
    );
    let done = run_ok(&mut ingest_cmd(&[&dataset], &data_dir, db, &key));
    let context = format!(
        "seed {seed}, killed at {kills:?} blobs; last run: {}",
        ingest_line(&done)
    );
    let s = summary(&data_dir, db);
    assert_eq!(s["items"].as_i64(), Some(400), "{context}");
    assert_eq!(by_finding(&s), expected_findings(&dataset), "{context}");
    let (blobs, partial) = local_blobs(&data_dir);
    let referenced = catalog_refs(
        &db.map(str::to_owned)
            .unwrap_or_else(|| lunghub_store::Catalog::sqlite_url(&data_dir)),
    );
    assert_eq!(partial, 0, "half-written blobs remain: {context}");
    let missing: Vec<_> = referenced.difference(&blobs).take(5).collect();
    let orphans: Vec<_> = blobs.difference(&referenced).take(5).collect();
    assert!(
        missing.is_empty(),
        "catalog rows without blobs: {missing:?}; {context}"
    );
    assert!(
        orphans.is_empty(),
        "blobs nobody references: {orphans:?}; {context}"
    );
    // And once more: nothing is added.
    let again = run_ok(&mut ingest_cmd(&[&dataset], &data_dir, db, &key));
    assert!(
        ingest_line(&again).starts_with("400 files: 0 new, 400 duplicate"),
        "{}",
        ingest_line(&again)
    );
}

#[test]
fn kill_nine_at_random_moments_leaves_a_consistent_store_on_sqlite() {
    kill_nine_then_finish(None);
}

#[test]
fn kill_nine_at_random_moments_leaves_a_consistent_store_on_postgres() {
    let url = postgres_url();
    kill_nine_then_finish(Some(&url));
}

#[test]
fn the_postgres_catalog_counts_every_cxr_dataset() {
    let url = postgres_url();
    let tmp = tempfile::tempdir().expect("tempdir");
    let key = key_file(tmp.path());
    let data_dir = tmp.path().join("data");
    let paths: Vec<_> = CXR.iter().map(|n| shared_data(n)).collect();
    let refs: Vec<&Path> = paths.iter().map(|p| p.as_path()).collect();
    run_ok(&mut ingest_cmd(&refs, &data_dir, Some(&url), &key));
    let mut expected = BTreeMap::new();
    for p in &paths {
        for (k, v) in expected_findings(p) {
            *expected.entry(k).or_insert(0) += v;
        }
    }
    assert_eq!(by_finding(&summary(&data_dir, Some(&url))), expected);
    let again = run_ok(&mut ingest_cmd(&refs, &data_dir, Some(&url), &key));
    assert!(
        ingest_line(&again).contains(" 0 new, "),
        "{}",
        ingest_line(&again)
    );
}

#[test]
fn a_zipped_dataset_ingests_like_the_folder_and_unsafe_entries_are_reported() {
    use std::io::Write;
    let tmp = tempfile::tempdir().expect("tempdir");
    let dataset = shared_data("cxr-actualmed-dev");
    let archive = tmp.path().join("upload.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&archive).expect("create"));
    let options = zip::write::SimpleFileOptions::default();
    for path in walk(&dataset) {
        let name = format!(
            "cxr-actualmed-dev/{}",
            path.strip_prefix(&dataset).expect("inside").display()
        );
        zip.start_file(name, options).expect("start");
        zip.write_all(&std::fs::read(&path).expect("read"))
            .expect("write");
    }
    zip.start_file("../escape.png", options).expect("start");
    zip.write_all(b"not allowed").expect("write");
    zip.finish().expect("finish");

    let data_dir = tmp.path().join("data");
    let out = run_ok(&mut ingest_cmd(
        &[&archive],
        &data_dir,
        None,
        &key_file(tmp.path()),
    ));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("\"../escape.png\": path leaves the archive"),
        "{stderr}"
    );
    assert!(!tmp.path().join("escape.png").exists());
    let s = summary(&data_dir, None);
    assert_eq!(by_finding(&s), expected_findings(&dataset));
    assert_eq!(s["by_source"]["cxr-actualmed-dev"].as_i64(), Some(32));
    assert!(
        !data_dir.join("unpacking").exists(),
        "unpacked originals were left behind"
    );
}

#[test]
fn ingest_stores_blobs_in_an_s3_bucket_when_asked() {
    let endpoint = std::env::var("LUNGHUB_TEST_S3_ENDPOINT")
        .expect("LUNGHUB_TEST_S3_ENDPOINT is not set: run the tests through `bash .ci/run`, which starts moto's S3 server");
    let bucket = format!("lunghub-ingest-{}", std::process::id());
    let made = Command::new(python())
        .args(["-c", "import sys, boto3; boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', \
                      aws_access_key_id='test', aws_secret_access_key='test').create_bucket(Bucket=sys.argv[2])"])
        .args([&endpoint, &bucket])
        .status()
        .expect("python runs");
    assert!(made.success(), "cannot create bucket {bucket}");
    let tmp = tempfile::tempdir().expect("tempdir");
    let dataset = shared_data("cxr-actualmed-dev");
    let data_dir = tmp.path().join("data");
    let url = format!("s3://{bucket}/site-a");
    let env = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ];
    let mut cmd = ingest_cmd(&[&dataset], &data_dir, None, &key_file(tmp.path()));
    cmd.args(["--blob-url", &url]).envs(env);
    run_ok(&mut cmd);
    assert_eq!(
        by_finding(&summary(&data_dir, None)),
        expected_findings(&dataset)
    );
    assert!(
        !data_dir.join("blobs").exists(),
        "blobs went to the data directory instead of the bucket"
    );
    // Every catalogued item and thumbnail is in the bucket, and nothing else.
    let listed = Command::new(python())
        .args(["-c", "import sys, boto3; s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', \
                      aws_access_key_id='test', aws_secret_access_key='test'); \
                      pages = s3.get_paginator('list_objects_v2').paginate(Bucket=sys.argv[2]); \
                      print('\\n'.join(o['Key'] for p in pages for o in p.get('Contents', [])))"])
        .args([&endpoint, &bucket])
        .output()
        .expect("python runs");
    let in_bucket: BTreeSet<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter(|k| k.starts_with("site-a/"))
        .filter_map(|k| k.rsplit('/').next().map(str::to_owned))
        .collect();
    assert_eq!(
        in_bucket,
        catalog_refs(&lunghub_store::Catalog::sqlite_url(&data_dir))
    );
}

#[test]
fn a_re_exported_copy_is_linked_to_its_twin_and_flagged() {
    use image::ImageEncoder;
    let tmp = tempfile::tempdir().expect("tempdir");
    let key = key_file(tmp.path());
    let nih = shared_data("cxr-nih-dev/images");
    let mut names: Vec<_> = walk(&nih);
    names.sort();
    let (original, other) = (&names[0], &names[200]);
    let first = tmp.path().join("first");
    let later = tmp.path().join("later");
    std::fs::create_dir_all(&first).expect("mkdir");
    std::fs::create_dir_all(&later).expect("mkdir");
    std::fs::copy(original, first.join("original.png")).expect("copy");
    std::fs::copy(other, later.join("another-patient.png")).expect("copy");
    let img = image::open(original)
        .expect("decode the original")
        .to_luma8();
    // The same pixels in another PNG encoding: other bytes, so another item, same pixels.
    let mut png = std::io::Cursor::new(Vec::new());
    image::codecs::png::PngEncoder::new_with_quality(
        &mut png,
        image::codecs::png::CompressionType::Best,
        image::codecs::png::FilterType::Sub,
    )
    .write_image(
        img.as_raw(),
        img.width(),
        img.height(),
        image::ExtendedColorType::L8,
    )
    .expect("encode png");
    assert_ne!(
        png.get_ref(),
        &std::fs::read(original).expect("read"),
        "the re-encoded PNG must differ in bytes"
    );
    std::fs::write(later.join("re-encoded.png"), png.get_ref()).expect("write");
    // Resized to 80% and saved as a lossy JPEG: other pixels, nearly the same image.
    let small = image::imageops::resize(
        &img,
        img.width() * 4 / 5,
        img.height() * 4 / 5,
        image::imageops::FilterType::Lanczos3,
    );
    small.save(later.join("resized.jpg")).expect("write jpeg");

    let data_dir = tmp.path().join("data");
    let ids = |dir: &Path| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let catalog = lunghub_store::Catalog::open(&lunghub_store::Catalog::sqlite_url(dir))
                .await
                .expect("open");
            catalog.item_ids().await.expect("ids")
        })
    };
    run_ok(&mut ingest_cmd(&[&first], &data_dir, None, &key));
    let twin = ids(&data_dir).pop().expect("the original is catalogued");
    let out = run_ok(&mut ingest_cmd(&[&later], &data_dir, None, &key));
    assert_eq!(
        ingest_line(&out),
        "3 files: 1 new, 0 duplicate, 2 near-duplicate, 0 quarantined, 0 unreadable"
    );
    let mut flagged = BTreeMap::new();
    for id in ids(&data_dir) {
        let shown = run_ok(
            lunghub()
                .args(["catalog", "show", &id, "--json"])
                .arg("--data-dir")
                .arg(&data_dir),
        );
        let item: serde_json::Value = serde_json::from_slice(&shown.stdout).expect("json");
        if let Some(of) = item["fields"]["near_duplicate_of"].as_str() {
            assert_eq!(of, twin, "{item}");
            assert_eq!(
                item["fields"]["review_state"].as_str(),
                Some("needs-attention")
            );
            let why = item["history"]
                .as_array()
                .expect("history")
                .iter()
                .filter_map(|h| h[2].as_str())
                .collect::<Vec<_>>()
                .join("; ");
            flagged.insert(
                item["fields"]["kind"].as_str().expect("kind").to_owned(),
                why,
            );
        }
    }
    assert!(
        flagged["png"].contains("the same decoded pixels"),
        "{flagged:?}"
    );
    assert!(flagged["jpeg"].contains("a perceptual hash"), "{flagged:?}");
    assert_eq!(flagged.len(), 2);
}
