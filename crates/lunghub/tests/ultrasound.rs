//! The lung ultrasound task on real POCUS clips from ../shared/data: `lunghub
//! train-ultrasound` cross-validates by case and per clip, saves a model, and `lunghub
//! predict` scores a clip with it (the mean of its frames), while the chest X-ray reference
//! model refuses clips.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{lunghub, run_ok, shared_data};

/// Four cases per class; the healthy Avi clip and still image are one case.
const FILES: [&str; 13] = [
    "pocus_videos/convex/Cov_convex_volpecelli_sonographic_v1.mov",
    "pocus_videos/convex/Cov_denault_proposedUS_vid1.mov",
    "pocus_videos/convex/Cov-Atlas-suspectedCovid.mp4",
    "pocus_videos/convex/Cov_combatting_Image1.mp4",
    "pocus_videos/convex/Pneu_Avi_Video_002.mp4",
    "pocus_videos/convex/Pneu_from_article_rippey.mp4",
    "pocus_videos/convex/Pneu_basalpneumonia_liftle_case1.mp4",
    "pocus_videos/convex/Pneu_northumbria_1009_vid1.avi",
    "pocus_videos/convex/Reg-NormalLungs.mp4",
    "pocus_videos/convex/Reg_Avi_Image002.mp4",
    "pocus_videos/convex/Reg-Atlas.gif",
    "pocus_videos/convex/Reg-Atlas-alines.gif",
    "pocus_images/convex/Reg_Avi_Image001.jpg",
];

#[test]
fn clips_are_cross_validated_by_case_and_scored_per_clip() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let folder = tmp.path().join("pocus");
    for file in FILES {
        let target = folder.join(file);
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::os::unix::fs::symlink(shared_data(&format!("lus-pocus-dev/{file}")), &target)
            .expect("symlink");
    }
    // A file whose label is uncertain is left out.
    let uncertain = folder.join("label_uncertain/Cov_unsure.jpg");
    std::fs::create_dir_all(uncertain.parent().expect("parent")).expect("mkdir");
    std::os::unix::fs::symlink(
        shared_data("lus-pocus-dev/pocus_images/convex/Cov_Oliviera_2020_Fig15A.jpg"),
        &uncertain,
    )
    .expect("symlink");
    let out = tmp.path().join("model");
    let said = run_ok(
        lunghub()
            .arg("train-ultrasound")
            .arg(&folder)
            .arg("--out")
            .arg(&out)
            .args([
                "--frames", "3", "--side", "32", "--epochs", "2", "--folds", "3",
            ]),
    );
    let stdout = String::from_utf8_lossy(&said.stdout);
    assert!(stdout.contains("13 clips in 12 groups"), "{stdout}");

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("ultrasound-report.json")).expect("report"))
            .expect("JSON");
    assert_eq!(report["clips"], 13);
    assert_eq!(report["groups"], 12);
    // Up to 3 frames per clip, one per still image.
    let frames = report["frames"].as_u64().expect("frames");
    assert!(
        (13..=12 * 3 + 1).contains(&frames) && frames > 20,
        "{frames}"
    );
    let counts: Vec<u64> = report["per_class"]
        .as_array()
        .expect("classes")
        .iter()
        .map(|c| c["clips"].as_u64().expect("count"))
        .collect();
    assert_eq!(counts, [5, 4, 4]);
    let confusion_total: u64 = report["confusion"]
        .as_array()
        .expect("rows")
        .iter()
        .flat_map(|r| {
            r.as_array()
                .expect("row")
                .iter()
                .map(|v| v.as_u64().expect("n"))
        })
        .sum();
    assert_eq!(confusion_total, 13);
    let mut folds_of: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    for r in report["results"].as_array().expect("results") {
        let p: f64 = r["probabilities"]
            .as_array()
            .expect("probabilities")
            .iter()
            .map(|v| v.as_f64().expect("p"))
            .sum();
        assert!((p - 1.0).abs() < 1e-4);
        folds_of
            .entry(r["group"].as_str().expect("group").to_owned())
            .or_default()
            .insert(r["fold"].as_u64().expect("fold"));
    }
    assert!(folds_of.values().all(|f| f.len() == 1), "{folds_of:?}");
    assert_eq!(folds_of["Reg_Avi"].len(), 1);
    let md = std::fs::read_to_string(out.join("ultrasound-report.md")).expect("markdown");
    assert!(
        md.contains("| FN:FP cost |") && md.contains("precision"),
        "{md}"
    );

    // The saved model scores a clip and an image; the chest X-ray model refuses the clip.
    let clip = shared_data("lus-pocus-dev/pocus_videos/convex/Reg-NormalLungs.mp4");
    let image = shared_data("lus-pocus-dev/pocus_images/convex/Reg_Avi_Image001.jpg");
    let scored = run_ok(
        lunghub()
            .args(["predict", "--json", "--model"])
            .arg(&out)
            .arg(&clip)
            .arg(&image),
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&scored.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 2);
    for line in &lines {
        let p = line["probabilities"].as_object().expect("probabilities");
        assert_eq!(
            p.keys().cloned().collect::<BTreeSet<_>>(),
            ["COVID-19", "healthy", "pneumonia"]
                .map(String::from)
                .into()
        );
        assert!(p.contains_key(line["decision"].as_str().expect("decision")));
    }
    let refused = lunghub()
        .args(["predict", "--json"])
        .arg(&clip)
        .output()
        .expect("runs");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stdout).contains("video clip"));
}
