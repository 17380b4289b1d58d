//! What the pydicom comparisons share: running a comparison script of this folder with the
//! Python that has pydicom (`LUNGHUB_PYTHON`, as `.ci/run` sets it).
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// Runs `tests/SCRIPT ARGS…` with the peers' Python and returns its standard output; a
/// missing Python or a failing script fails the test.
pub fn peer(script: &str, args: &[&std::ffi::OsStr]) -> Vec<u8> {
    let python = std::env::var("LUNGHUB_PYTHON").unwrap_or_else(|_| "python3".into());
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(script);
    let out = Command::new(python)
        .arg(path)
        .args(args)
        .output()
        .expect("python with pydicom runs (LUNGHUB_PYTHON)");
    assert!(
        out.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Writes `list` as JSON into `dir`, runs `script` on it and parses the JSON it prints.
pub fn compare(script: &str, dir: &Path, list: &serde_json::Value) -> serde_json::Value {
    let list_path = dir.join("list.json");
    std::fs::write(&list_path, serde_json::to_vec(list).expect("json")).expect("write");
    serde_json::from_slice(&peer(script, &[list_path.as_os_str()])).expect("json")
}
