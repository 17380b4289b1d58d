//! The shipped reference model is reproducible: its recipe (models/cxr-covid-vs-rest:
//! reproduce.sh, train.json, public-data.key) rebuilds the release from ../shared/data,
//! retrains, re-evaluates, and must give the committed weights and model card byte for
//! byte. Then the built-in model (compiled into lunghub from those files) must be the one
//! `lunghub predict` uses by default.

mod common;

use std::path::Path;
use std::process::Command;

use common::{lunghub, run_ok, shared_data};

#[test]
fn the_recipe_reproduces_the_committed_reference_model() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let recipe = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/cxr-covid-vs-rest");
    let shared = shared_data("cxr-nih-dev")
        .parent()
        .expect("shared data folder")
        .to_path_buf();
    let out = Command::new("bash")
        .arg(recipe.join("reproduce.sh"))
        .arg(tmp.path().join("work"))
        .env("LUNGHUB", env!("CARGO_BIN_EXE_lunghub"))
        .env("LUNGHUB_SHARED_DATA", &shared)
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the recipe did not reproduce the model:\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("model.safetensors: identical")
            && stdout.contains("MODEL_CARD.md: identical"),
        "{stdout}"
    );

    // The default model of `lunghub predict` is the committed one: the same probabilities
    // as naming the committed folder.
    let image = shared_data("cxr-radiographydb-dev/images/COVID-1.png");
    let built_in = run_ok(lunghub().arg("predict").arg("--json").arg(&image));
    let named = run_ok(
        lunghub()
            .args(["predict", "--json", "--model"])
            .arg(&recipe)
            .arg(&image),
    );
    let line = |bytes: &[u8]| -> serde_json::Value {
        serde_json::from_slice(bytes).expect("one JSON line")
    };
    let (a, b) = (line(&built_in.stdout), line(&named.stdout));
    assert_eq!(a["probabilities"], b["probabilities"]);
    assert_eq!(a["decision"], b["decision"]);
    let covid = a["probabilities"]["COVID-19"]
        .as_f64()
        .expect("a probability");
    assert!((0.0..=1.0).contains(&covid), "{a}");
}
