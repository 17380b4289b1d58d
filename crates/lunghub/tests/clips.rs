//! Ultrasound clips through the intake pipeline: the POCUS collection's clips (every
//! container it uses) become one catalog item each, labelled by file-name prefix, with
//! frames sampled for review; container metadata never reaches the blob store.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{key_file, lunghub, require_tool, run_ok, shared_data};
use lunghub_store::Catalog;

/// Up to `per_kind` clips of each container, copied into a temporary `dir` under their
/// own names (the prefix is the label; intake does not follow symbolic links). Re-encoding all 97 clips takes
/// minutes on two cores; lunghub-clips' own tests read every one of them.
fn pick(dir: &Path, per_kind: usize) -> BTreeMap<String, usize> {
    let root = shared_data("lus-pocus-dev");
    let mut files: Vec<PathBuf> = walk(&root.join("pocus_videos"));
    files.sort();
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for f in files {
        let ext = f
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let n = kinds.entry(ext).or_default();
        if *n < per_kind {
            *n += 1;
            let name = f.file_name().expect("name");
            std::fs::copy(&f, dir.join(name)).expect("copy");
        }
    }
    kinds
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn pocus_clips_become_one_item_each_with_sampled_frames_and_no_metadata() {
    let ffmpeg = require_tool("ffmpeg");
    let tmp = tempfile::tempdir().expect("tempdir");
    let key = key_file(tmp.path());
    let input = tmp.path().join("clips");
    std::fs::create_dir_all(&input).expect("mkdir");
    let kinds = pick(&input, 2);
    // The collection's metadata one level up, as in the collection itself.
    std::fs::copy(
        shared_data("lus-pocus-dev").join("dataset_metadata.csv"),
        tmp.path().join("dataset_metadata.csv"),
    )
    .expect("copy the metadata");
    assert_eq!(
        kinds.keys().cloned().collect::<Vec<_>>(),
        ["avi", "gif", "mov", "mp4", "mpeg"],
        "the collection's containers"
    );
    // A clip with identity in its container metadata, as phones and scanners write it.
    let planted = input.join("Cov_planted.mp4");
    let status = Command::new(&ffmpeg)
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg("testsrc=size=160x120:rate=10:duration=2")
        .args([
            "-metadata",
            "title=PATIENT Jane Doe",
            "-metadata",
            "comment=MRN 998877",
        ])
        .args(["-c:v", "libx264", "-pix_fmt", "yuv420p"])
        .arg(&planted)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success());
    assert!(
        std::fs::read(&planted)
            .expect("read")
            .windows(8)
            .any(|w| w == b"Jane Doe")
    );

    let data_dir = tmp.path().join("data");
    let out = run_ok(
        lunghub()
            .args([
                "ingest",
                "--site",
                "POCUS",
                "--format",
                "pocus",
                "--site-key",
            ])
            .arg(&key)
            .arg("--data-dir")
            .arg(&data_dir)
            .arg(&input),
    );
    let total: usize = kinds.values().sum::<usize>() + 1;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("{total} files: "))
            && stdout.contains(" 0 quarantined, 0 unreadable"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let catalog = Catalog::open(&Catalog::sqlite_url(&data_dir))
        .await
        .expect("catalog");
    let summary = catalog.summary().await.expect("summary");
    assert_eq!(summary.items as usize, total, "{summary:?}");
    assert_eq!(summary.by_modality.get("US").copied(), Some(total as i64));
    for id in catalog.item_ids().await.expect("ids") {
        let item = catalog.item(&id).await.expect("item").expect("there");
        assert_eq!(item.fields["kind"], "clip");
        let frames = item.fields["frames"].as_i64().expect("frames");
        assert!(frames >= 1, "{id}: {frames} frames");
        let sampled = catalog.item_frames(&id).await.expect("frames");
        assert_eq!(sampled.len(), 16.min(frames as usize), "{id}");
        assert!(
            sampled.windows(2).all(|w| w[0].0 <= w[1].0),
            "frames in order"
        );
        assert_eq!(item.labels.len(), 1, "{id}: labelled by its prefix");
        assert!(item.fields["thumbnail"].is_string());
    }
    // Where dataset_metadata.csv names a clip, its sex and age come along; the prefix and
    // the collection's label agree.
    assert_eq!(
        summary.by_finding.get("Pneumonia/Bacterial").copied(),
        Some(2),
        "{summary:?}"
    );
    assert_eq!(
        summary.by_finding.get("No Finding").copied(),
        Some(2),
        "{summary:?}"
    );
    let mut ages: Vec<(String, i64)> = Vec::new();
    for id in catalog.item_ids().await.expect("ids") {
        let item = catalog.item(&id).await.expect("item").expect("there");
        if let (Some(sex), Some(age)) = (
            item.fields["sex"].as_str(),
            item.fields["age_years"].as_f64(),
        ) {
            ages.push((sex.to_owned(), age as i64));
        }
    }
    ages.sort();
    assert_eq!(
        ages,
        [
            ("F".to_owned(), 89),
            ("M".to_owned(), 27),
            ("M".to_owned(), 27),
            ("M".to_owned(), 27)
        ],
        "the avi and mpeg clips' rows say m 27, w 89, m 27, m 27"
    );
    assert_eq!(
        common::fixtures::planted_in(&data_dir.join("blobs")),
        Vec::<String>::new()
    );
    let blobs: Vec<Vec<u8>> = walk(&data_dir.join("blobs"))
        .iter()
        .map(|p| std::fs::read(p).expect("blob"))
        .collect();
    for needle in [&b"Jane Doe"[..], b"998877"] {
        assert!(
            !blobs
                .iter()
                .any(|b| b.windows(needle.len()).any(|w| w == needle)),
            "container metadata reached the blob store"
        );
    }

    // The same clips again add nothing: re-encoding is deterministic.
    let again = run_ok(
        lunghub()
            .args([
                "ingest",
                "--site",
                "POCUS",
                "--format",
                "pocus",
                "--site-key",
            ])
            .arg(&key)
            .arg("--data-dir")
            .arg(&data_dir)
            .arg(&input),
    );
    assert!(
        String::from_utf8_lossy(&again.stdout).contains(&format!("0 new, {total} duplicate")),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
}
