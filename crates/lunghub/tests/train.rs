//! `lunghub train` on a small release folder made here: it trains, saves weights and a
//! model.json that traces the run to its release and data, and refuses what it cannot use.

mod common;

use std::path::Path;

use common::{lunghub, run_ok};

/// A release folder in the layout `lunghub release export` writes: 24 gray PNGs whose
/// bright half tells the class, metadata.csv with train and validation rows, SHA256SUMS.
fn tiny_release(dir: &Path) {
    std::fs::create_dir_all(dir.join("images")).expect("mkdir");
    let mut csv = String::from(
        "patientid,offset,sex,age,finding,view,modality,filename,split,site,source,item_id\n",
    );
    for n in 0..24u32 {
        let covid = n % 2 == 0;
        let img = image::GrayImage::from_fn(48, 48, |x, y| {
            let lit = if covid { x < 24 } else { x >= 24 };
            image::Luma([if lit { 200 } else { 40 } + ((x * 7 + y * 13 + n) % 20) as u8])
        });
        let file = format!("{n:016x}.png");
        img.save(dir.join("images").join(&file)).expect("png");
        let split = if n < 16 { "train" } else { "validation" };
        let finding = if covid {
            "Pneumonia/Viral/COVID-19"
        } else {
            "No Finding"
        };
        csv.push_str(&format!(
            "LH-{n},,,,{finding},PA,X-ray,{file},{split},site,src,{n}\n"
        ));
    }
    std::fs::write(dir.join("metadata.csv"), csv).expect("csv");
    std::fs::write(dir.join("SHA256SUMS"), "listed files\n").expect("sums");
}

#[test]
fn train_saves_a_traceable_model() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let release = tmp.path().join("tiny-v1");
    tiny_release(&release);
    let out = tmp.path().join("model");
    let said = run_ok(
        lunghub()
            .arg("train")
            .arg(&release)
            .args([
                "--task",
                "covid-vs-rest",
                "--side",
                "32",
                "--epochs",
                "4",
                "--batch",
                "8",
            ])
            .arg("--out")
            .arg(&out),
    );
    let text = String::from_utf8_lossy(&said.stdout);
    assert!(text.contains("validation ROC AUC"), "{text}");
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("model.json")).expect("model.json"))
            .expect("json");
    assert_eq!(meta["task"], "covid-vs-rest");
    assert_eq!(meta["classes"], serde_json::json!(["rest", "COVID-19"]));
    assert_eq!(meta["train_images"], 16);
    assert_eq!(meta["validation_images"], 8);
    assert_eq!(meta["release_id"].as_str().map(str::len), Some(64));
    assert!(!meta["history"].as_array().expect("history").is_empty());
    let weights = std::fs::read(out.join("model.safetensors")).expect("weights");
    // safetensors: an 8-byte header length, then a JSON header naming the tensors.
    let len = u64::from_le_bytes(weights[..8].try_into().expect("8 bytes")) as usize;
    let header: serde_json::Value = serde_json::from_slice(&weights[8..8 + len]).expect("header");
    assert_eq!(header["head.weight"]["shape"], serde_json::json!([128, 2]));
    assert_eq!(
        header["stem.weight"]["shape"],
        serde_json::json!([16, 1, 7, 7])
    );

    // The model scores a DICOM radiograph and a PNG, one JSON line each, with heatmaps; a
    // file that is no image is reported and the exit status says so.
    let dicom = tmp.path().join("chest.dcm");
    std::fs::write(
        &dicom,
        common::fixtures::chest_dx("1.2.3.4", "1.2.3.4.5", 7, 64),
    )
    .expect("dcm");
    let png = release.join("images").join(format!("{:016x}.png", 3));
    let junk = tmp.path().join("notes.txt");
    std::fs::write(&junk, "not an image").expect("junk");
    let heatmaps = tmp.path().join("cams");
    let scored = lunghub()
        .arg("predict")
        .arg("--model")
        .arg(&out)
        .arg("--json")
        .arg("--heatmaps")
        .arg(&heatmaps)
        .args([&dicom, &png, &junk])
        .output()
        .expect("predict runs");
    assert_eq!(scored.status.code(), Some(1), "one file was unreadable");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&scored.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 3);
    for line in &lines[..2] {
        let p = &line["probabilities"];
        let sum = p["rest"].as_f64().expect("rest") + p["COVID-19"].as_f64().expect("covid");
        assert!((sum - 1.0).abs() < 1e-4, "{line}");
        assert!(["rest", "COVID-19"].contains(&line["decision"].as_str().unwrap_or("")));
        let threshold = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
        assert!((threshold(&line["threshold"]) - threshold(&meta["threshold"])).abs() < 1e-9);
    }
    assert!(lines[2]["error"].is_string());
    for name in ["chest.cam.png", &format!("{:016x}.cam.png", 3)] {
        let cam = image::open(heatmaps.join(name)).expect("heatmap is a PNG");
        assert!(cam.width() > 0);
    }

    // What it cannot use is refused with a reason.
    let bad_task = lunghub()
        .arg("train")
        .arg(&release)
        .args(["--task", "tuberculosis", "--out"])
        .arg(tmp.path().join("x"))
        .output()
        .expect("runs");
    assert_eq!(bad_task.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_task.stderr).contains("unknown task"));
    let no_release = lunghub()
        .arg("train")
        .arg(tmp.path().join("nowhere"))
        .arg("--out")
        .arg(tmp.path().join("y"))
        .output()
        .expect("runs");
    assert_eq!(no_release.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_release.stderr).contains("cannot read the release"));
}

/// Every tensor of a safetensors file by name (the header's key order is not fixed).
fn tensors(path: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let bytes = std::fs::read(path).expect("weights");
    let len = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + len]).expect("header");
    let data = &bytes[8 + len..];
    header
        .iter()
        .filter(|(k, _)| *k != "__metadata__")
        .map(|(k, v)| {
            let at = |i: usize| v["data_offsets"][i].as_u64().expect("offset") as usize;
            (k.clone(), data[at(0)..at(1)].to_vec())
        })
        .collect()
}

#[test]
fn the_same_data_and_seed_train_the_same_weights() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let release = tmp.path().join("tiny-v1");
    tiny_release(&release);
    let run = |out: &str| {
        let dir = tmp.path().join(out);
        run_ok(
            lunghub()
                .arg("train")
                .arg(&release)
                .args([
                    "--side", "32", "--epochs", "2", "--batch", "8", "--seed", "11", "--out",
                ])
                .arg(&dir),
        );
        tensors(&dir.join("model.safetensors"))
    };
    let (a, b) = (run("a"), run("b"));
    assert_eq!(a.len(), 62);
    assert!(a == b, "two runs with one seed gave different weights");
}
