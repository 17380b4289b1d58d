//! `lunghub release verify` against manifests written by GNU coreutils' `sha256sum`.

mod common;

use std::process::Command;

use common::require_tool;

#[test]
fn verify_reads_a_sha256sum_manifest_and_names_what_changed() {
    let sha256sum = require_tool("sha256sum");
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("images")).expect("mkdir");
    std::fs::write(root.join("images/p1.png"), b"pixels").expect("write");
    std::fs::write(root.join("labels.csv"), b"filename,finding\n").expect("write");
    let sums = Command::new(&sha256sum)
        .args(["images/p1.png", "labels.csv"])
        .current_dir(root)
        .output()
        .expect("sha256sum runs");
    assert!(sums.status.success());
    std::fs::write(root.join("SHA256SUMS"), &sums.stdout).expect("write");

    let verify = || {
        Command::new(env!("CARGO_BIN_EXE_lunghub"))
            .args(["release", "verify"])
            .arg(root)
            .output()
            .expect("lunghub runs")
    };
    let ok = verify();
    let text = String::from_utf8_lossy(&ok.stdout).into_owned();
    assert!(ok.status.success(), "{text}");
    assert!(text.contains("intact: 2 of 2 files intact"), "{text}");

    std::fs::write(root.join("images/p1.png"), b"other pixels").expect("write");
    std::fs::write(root.join("notes.txt"), b"added").expect("write");
    let bad = verify();
    let text = String::from_utf8_lossy(&bad.stdout).into_owned();
    assert_eq!(bad.status.code(), Some(1), "{text}");
    assert!(text.contains("changed: images/p1.png"), "{text}");
    assert!(text.contains("not in the manifest: notes.txt"), "{text}");

    std::fs::remove_file(root.join("SHA256SUMS")).expect("rm");
    let none = verify();
    assert!(!none.status.success());
    assert!(
        String::from_utf8_lossy(&none.stderr).contains("cannot read SHA256SUMS"),
        "{}",
        String::from_utf8_lossy(&none.stderr)
    );
}
