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

const CXR: &[&str] = &["cxr-radiographydb-dev", "cxr-nih-dev", "cxr-actualmed-dev", "cxr-ieee8023-2020-04"];

fn postgres_url() -> String {
    let admin = std::env::var("LUNGHUB_TEST_POSTGRES_URL")
        .expect("LUNGHUB_TEST_POSTGRES_URL is not set: run the tests through `bash .ci/run`, which starts PostgreSQL");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(lunghub_store::testing::fresh_postgres_database(&admin)).expect("fresh database")
}

fn ingest_cmd(paths: &[&Path], data_dir: &Path, db: Option<&str>, key: &Path) -> Command {
    let mut cmd = lunghub();
    cmd.arg("ingest").args(paths).args(["--site", "Test Hospital"]).arg("--data-dir").arg(data_dir).arg("--site-key").arg(key);
    if let Some(url) = db {
        cmd.arg("--database-url").arg(url);
    }
    cmd
}

fn summary(data_dir: &Path, db: Option<&str>) -> serde_json::Value {
    let mut cmd = lunghub();
    cmd.args(["catalog", "summary", "--json"]).arg("--data-dir").arg(data_dir);
    if let Some(url) = db {
        cmd.arg("--database-url").arg(url);
    }
    serde_json::from_slice(&run_ok(&mut cmd).stdout).expect("summary is JSON")
}

/// Findings per the dataset's own metadata.csv, mapped to the hierarchy (empty = unlabelled).
fn expected_findings(dataset: &Path) -> BTreeMap<String, i64> {
    let mut reader = csv::Reader::from_path(dataset.join("metadata.csv")).expect("metadata.csv");
    let headers = reader.headers().expect("headers").clone();
    let col = headers.iter().position(|h| h.eq_ignore_ascii_case("finding")).expect("finding column");
    let mut counts = BTreeMap::new();
    for row in reader.records() {
        let raw = row.expect("row")[col].trim().to_owned();
        if !raw.is_empty() {
            *counts.entry(Finding::parse(&raw).as_str().to_owned()).or_default() += 1;
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
    String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().to_owned()
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
        assert_eq!(by_finding(&s), expected_findings(&dataset), "{name}: counts per finding differ from metadata.csv");
        let files = std::fs::read_dir(dataset.join("images")).expect("images").count() as i64;
        assert_eq!(s["items"].as_i64(), Some(files), "{name}: {}", ingest_line(&first));
        let second = run_ok(&mut ingest_cmd(&[&dataset], &data_dir, None, &key));
        assert!(ingest_line(&second).contains(" 0 new, "), "{name}: a second run added items: {}", ingest_line(&second));
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
    run_ok(&mut ingest_cmd(&[&images], &data_dir, None, &key_file(tmp.path())));
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    let mut files = 0;
    for entry in walk(&images) {
        files += 1;
        let name = entry.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_ascii_lowercase();
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
    run_ok(&mut ingest_cmd(&[&shared_data("cxr-actualmed-dev")], &data_dir, None, &key_file(tmp.path())));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let ids = rt.block_on(async {
        let catalog = lunghub_store::Catalog::open(&lunghub_store::Catalog::sqlite_url(&data_dir)).await.expect("open");
        catalog.item_ids().await.expect("ids")
    });
    let out = run_ok(lunghub().args(["catalog", "show", &ids[0][..12], "--json"]).arg("--data-dir").arg(&data_dir));
    let item: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(item["fields"]["id"].as_str(), Some(ids[0].as_str()));
    assert_eq!(item["fields"]["route"].as_str(), Some("folder"));
    assert_eq!(item["history"][0][1].as_str(), Some("intake"));
    let missing = lunghub().args(["catalog", "show", "ffffffffffff"]).arg("--data-dir").arg(&data_dir).output().expect("runs");
    assert!(!missing.status.success());
}

/// Blob ids on disk under DATA/blobs (two shard levels), and the catalog's item and
/// thumbnail ids.
fn store_state(data_dir: &Path, db: Option<&str>) -> (BTreeSet<String>, BTreeSet<String>, usize) {
    let root = data_dir.join("blobs");
    let blobs: BTreeSet<String> = walk(&root)
        .into_iter()
        .filter(|p| !p.starts_with(root.join("tmp")))
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    let partial = walk(&data_dir.join("blobs/tmp")).len();
    let url = db.map(str::to_owned).unwrap_or_else(|| lunghub_store::Catalog::sqlite_url(data_dir));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let referenced = rt.block_on(async {
        let catalog = lunghub_store::Catalog::open(&url).await.expect("open");
        let mut refs = BTreeSet::new();
        for id in catalog.item_ids().await.expect("ids") {
            let item = catalog.item(&id).await.expect("item").expect("present");
            if let Some(t) = item.fields["thumbnail"].as_str() {
                refs.insert(t.to_owned());
            }
            refs.insert(id);
        }
        refs
    });
    (blobs, referenced, partial)
}

fn kill_nine_then_finish(db: Option<&str>) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let key = key_file(tmp.path());
    let dataset = shared_data("cxr-nih-dev");
    let data_dir = tmp.path().join("data");
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").subsec_nanos() as u64;
    let mut state = seed | 1;
    let mut kills = Vec::new();
    for _ in 0..5 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let after = Duration::from_millis(150 + state % 2500);
        let mut child = ingest_cmd(&[&dataset], &data_dir, db, &key)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let start = Instant::now();
        while start.elapsed() < after && child.try_wait().expect("wait").is_none() {
            std::thread::sleep(Duration::from_millis(5));
        }
        // SIGKILL: no destructor, no flush, no rollback by the process itself.
        if child.try_wait().expect("wait").is_none() {
            child.kill().expect("kill");
            kills.push(after.as_millis());
        }
        let _ = child.wait();
    }
    assert!(kills.len() >= 3, "the ingest finished before most kills (seed {seed}): {kills:?}");
    let done = run_ok(&mut ingest_cmd(&[&dataset], &data_dir, db, &key));
    let context = format!("seed {seed}, killed after {kills:?} ms; last run: {}", ingest_line(&done));
    let s = summary(&data_dir, db);
    assert_eq!(s["items"].as_i64(), Some(400), "{context}");
    assert_eq!(by_finding(&s), expected_findings(&dataset), "{context}");
    let (blobs, referenced, partial) = store_state(&data_dir, db);
    assert_eq!(partial, 0, "half-written blobs remain: {context}");
    let missing: Vec<_> = referenced.difference(&blobs).take(5).collect();
    let orphans: Vec<_> = blobs.difference(&referenced).take(5).collect();
    assert!(missing.is_empty(), "catalog rows without blobs: {missing:?}; {context}");
    assert!(orphans.is_empty(), "blobs nobody references: {orphans:?}; {context}");
    // And once more: nothing is added.
    let again = run_ok(&mut ingest_cmd(&[&dataset], &data_dir, db, &key));
    assert!(ingest_line(&again).starts_with("400 files: 0 new, 400 duplicate"), "{}", ingest_line(&again));
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
    assert!(ingest_line(&again).contains(" 0 new, "), "{}", ingest_line(&again));
}
