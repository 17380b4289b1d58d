//! `lunghub deid` on every file of ../shared/data/dicom-conformance, checked against the
//! expected outcomes and by real peers: pydicom reads every output and finds the same
//! pixels, and dciodvfy finds no error in an output that it did not find in the input.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;

const EXPECTED: &str = include_str!("data/conformance-outcomes.tsv");

/// The whole corpus through `lunghub deid` into TMP/out, with every readable file written
/// (burned-in checks off), for the peers to check.
fn deid_whole_corpus_trusting_pixels() -> (tempfile::TempDir, Vec<ReportRow>) {
    let corpus = shared_data("dicom-conformance");
    let tmp = tempfile::tempdir().expect("tempdir");
    let rows = deid(
        &[&corpus],
        &tmp.path().join("out"),
        &key_file(tmp.path()),
        Some(&trusting_profile(tmp.path())),
        &tmp.path().join("r.json"),
    );
    (tmp, rows)
}

#[test]
fn every_conformance_file_has_its_expected_outcome() {
    let corpus = shared_data("dicom-conformance");
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("out");
    let rows = deid(
        &[&corpus],
        &out,
        &key_file(tmp.path()),
        None,
        &tmp.path().join("report.json"),
    );

    let expected: BTreeMap<&str, (&str, &str)> = EXPECTED
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let mut f = l.split('\t');
            let path = f.next().expect("path");
            (path, (f.next().expect("outcome"), f.next().unwrap_or("")))
        })
        .collect();
    let prefix = format!("{}/", corpus.display());
    let mut seen = BTreeSet::new();
    let mut wrong = Vec::new();
    for row in &rows {
        let rel = row
            .input
            .strip_prefix(&prefix)
            .expect("input under the corpus");
        seen.insert(rel);
        match expected.get(rel) {
            Some((outcome, why)) if *outcome == row.outcome && row.detail.starts_with(why) => {}
            Some(e) => wrong.push(format!(
                "{rel}: expected {e:?}, got {} ({})",
                row.outcome, row.detail
            )),
            None => wrong.push(format!("{rel}: not in the expected list")),
        }
        if row.outcome == "written" {
            let written = out.join(&row.output);
            assert!(
                written.is_file(),
                "{} was reported but not written",
                written.display()
            );
            let stem = Path::new(rel)
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            assert!(
                !row.output.contains(stem),
                "output name {} derives from the input name {rel}",
                row.output
            );
        }
    }
    let missing: Vec<_> = expected.keys().filter(|k| !seen.contains(*k)).collect();
    assert!(
        wrong.is_empty() && missing.is_empty(),
        "outcomes differ:\n{}\nmissing: {missing:?}",
        wrong.join("\n")
    );

    // Everything in the output directory is a reported, written file: nothing else leaks.
    let written: BTreeSet<String> = rows
        .iter()
        .filter(|r| r.outcome == "written")
        .map(|r| r.output.clone())
        .collect();
    let on_disk: BTreeSet<String> = fs::read_dir(&out)
        .expect("out dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(written, on_disk);
}

fn dir_contents(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .expect("dir")
        .map(|e| {
            let e = e.expect("entry");
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).expect("read"),
            )
        })
        .collect()
}

#[test]
fn rerunning_with_the_same_key_gives_byte_identical_output() {
    let corpus = shared_data("dicom-conformance");
    let tmp = tempfile::tempdir().expect("tempdir");
    let key = key_file(tmp.path());
    let profile = trusting_profile(tmp.path());
    deid(
        &[&corpus],
        &tmp.path().join("a"),
        &key,
        Some(&profile),
        &tmp.path().join("a.json"),
    );
    deid(
        &[&corpus],
        &tmp.path().join("b"),
        &key,
        Some(&profile),
        &tmp.path().join("b.json"),
    );
    let (a, b) = (
        dir_contents(&tmp.path().join("a")),
        dir_contents(&tmp.path().join("b")),
    );
    assert!(a.len() > 200, "only {} files written", a.len());
    assert!(a == b, "two runs with the same key differ");
}

#[test]
fn deidentifying_lunghub_output_again_changes_nothing() {
    let corpus = shared_data("dicom-conformance");
    let tmp = tempfile::tempdir().expect("tempdir");
    let key = key_file(tmp.path());
    let profile = trusting_profile(tmp.path());
    let first = tmp.path().join("first");
    deid(
        &[&corpus],
        &first,
        &key,
        Some(&profile),
        &tmp.path().join("1.json"),
    );
    let rows = deid(
        &[&first],
        &tmp.path().join("second"),
        &key,
        Some(&profile),
        &tmp.path().join("2.json"),
    );
    let second = dir_contents(&tmp.path().join("second"));
    let mut changed = Vec::new();
    for row in rows.iter().filter(|r| r.outcome == "written") {
        let before = fs::read(&row.input).expect("first-pass file");
        if second[&row.output] != before {
            changed.push(row.input.clone());
        }
    }
    assert!(
        rows.iter().all(|r| r.outcome == "written"),
        "a first-pass output was not written again"
    );
    assert!(
        changed.is_empty(),
        "a second pass changed {} files, e.g. {:?}",
        changed.len(),
        changed.first()
    );
}

#[test]
fn pydicom_reads_every_output_with_the_same_pixels() {
    let python = python();
    let (tmp, rows) = deid_whole_corpus_trusting_pixels();
    let out = tmp.path().join("out");
    let pairs: Vec<serde_json::Value> = rows
        .iter()
        .filter(|r| r.outcome == "written")
        .map(|r| serde_json::json!({"input": r.input, "output": out.join(&r.output)}))
        .collect();
    let list = tmp.path().join("pairs.json");
    fs::write(&list, serde_json::to_vec(&pairs).expect("json")).expect("write");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/compare_pixels.py");
    let result = Command::new(python)
        .arg(script)
        .arg(&list)
        .output()
        .expect("python runs");
    let summary = String::from_utf8_lossy(&result.stdout);
    assert!(
        result.status.success(),
        "pydicom disagrees:\n{summary}\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let parsed: serde_json::Value = serde_json::from_str(&summary).expect("summary is JSON");
    assert_eq!(parsed["checked"].as_u64(), Some(pairs.len() as u64));
    let equal = parsed["counts"]["arrays equal"].as_u64().unwrap_or(0);
    assert!(
        equal >= 150,
        "only {equal} decoded pixel arrays were compared:\n{summary}"
    );
}

/// dciodvfy's errors for one file, with numbers and UIDs blanked so that the same
/// complaint about a replaced value compares equal.
fn dciodvfy_errors(dciodvfy: &Path, file: &Path) -> BTreeSet<String> {
    let out = Command::new(dciodvfy)
        .arg(file)
        .output()
        .expect("dciodvfy runs");
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter(|l| l.starts_with("Error"))
        .map(|l| {
            l.chars()
                .scan(false, |in_number, c| {
                    let numeric = c.is_ascii_digit() || (*in_number && c == '.');
                    let emit = if numeric && *in_number {
                        None
                    } else if numeric {
                        Some('#')
                    } else {
                        Some(c)
                    };
                    *in_number = numeric;
                    Some(emit)
                })
                .flatten()
                .collect()
        })
        .collect()
}

#[test]
fn dciodvfy_finds_no_new_errors_in_outputs() {
    let dciodvfy = require_tool("dciodvfy");
    let (tmp, rows) = deid_whole_corpus_trusting_pixels();
    let out = tmp.path().join("out");
    let mut new_errors = Vec::new();
    let mut checked = 0;
    for row in rows.iter().filter(|r| r.outcome == "written") {
        let before = dciodvfy_errors(&dciodvfy, Path::new(&row.input));
        let after = dciodvfy_errors(&dciodvfy, &out.join(&row.output));
        checked += 1;
        for e in after.difference(&before) {
            new_errors.push(format!("{}: {e}", row.input));
        }
    }
    assert!(checked > 200, "only {checked} files checked");
    assert!(
        new_errors.is_empty(),
        "new dciodvfy errors:\n{}",
        new_errors.join("\n")
    );
}

#[test]
fn the_report_may_not_go_inside_the_output_directory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("out");
    let result = lunghub()
        .arg("deid")
        .arg(shared_data(
            "dicom-conformance/pydicom-test-files/CT_small.dcm",
        ))
        .arg("--out")
        .arg(&out)
        .arg("--site-key")
        .arg(key_file(tmp.path()))
        .arg("--report")
        .arg(out.join("report.csv"))
        .output()
        .expect("runs");
    assert_eq!(result.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&result.stderr).contains("must not go inside"));
}

#[test]
fn dcmtk_reads_every_output_it_can_read_as_input() {
    let dcmdump = require_tool("dcmdump");
    let (tmp, rows) = deid_whole_corpus_trusting_pixels();
    let out = tmp.path().join("out");
    let clean_read = |file: &Path| {
        let r = Command::new(&dcmdump)
            .arg("-q")
            .arg(file)
            .output()
            .expect("dcmdump runs");
        r.status.success()
            && !String::from_utf8_lossy(&r.stderr)
                .lines()
                .any(|l| l.starts_with("E:"))
    };
    let mut failures = Vec::new();
    let mut checked = 0;
    for row in rows.iter().filter(|r| r.outcome == "written") {
        if clean_read(Path::new(&row.input)) {
            checked += 1;
            if !clean_read(&out.join(&row.output)) {
                failures.push(row.input.clone());
            }
        }
    }
    assert!(checked > 200, "only {checked} files checked");
    assert!(
        failures.is_empty(),
        "DCMTK cannot read the output of: {failures:?}"
    );
}
