//! A data directory holding a release of three shared chest X-ray collections and a
//! challenge on it, made with the real commands, for the challenge tests.

use std::path::{Path, PathBuf};

use super::{key_file, lunghub, run_ok, shared_data};

pub const SITES: &[&str] = &["cxr-ieee8023-2020-04", "cxr-actualmed-dev", "cxr-nih-dev"];

/// Ingests and approves [`SITES`], creates release cxr-covid v1, and opens challenge `id`
/// on it with the house baseline and the given limits, in a data directory under `root`
/// with its catalog there (SQLite) or at `database_url`. Returns the data directory and
/// what `lunghub challenge create` printed.
pub fn data_with_challenge(
    root: &Path,
    id: &str,
    daily_limit: u32,
    total_limit: u32,
    database_url: Option<&str>,
) -> (PathBuf, String) {
    let data = root.join("data");
    let key = key_file(root);
    let lunghub = || {
        let mut cmd = lunghub();
        if let Some(url) = database_url {
            cmd.env("LUNGHUB_DATABASE_URL", url);
        }
        cmd
    };
    for site in SITES {
        run_ok(
            lunghub()
                .args(["ingest", "--site", site, "--site-key"])
                .arg(&key)
                .arg("--data-dir")
                .arg(&data)
                .arg(shared_data(site)),
        );
        run_ok(
            lunghub()
                .args(["catalog", "approve", "--site", site])
                .args(["--reviewer", "Test Coordinator", "--data-dir"])
                .arg(&data),
        );
    }
    run_ok(
        lunghub()
            .args(["release", "create", "cxr-covid", "--modality", "X-ray"])
            .args(["--licence", "NIH ChestX-ray14=CC0-1.0", "--data-dir"])
            .arg(&data),
    );
    let out = run_ok(
        lunghub()
            .args([
                "challenge",
                "create",
                id,
                "--release",
                "cxr-covid",
                "--version",
                "1",
            ])
            .args([
                "--title",
                "COVID-19 vs rest on CXR release 1",
                "--closes",
                "2099-01-01",
            ])
            .args(["--daily-limit", &daily_limit.to_string()])
            .args(["--total-limit", &total_limit.to_string()])
            .arg("--data-dir")
            .arg(&data),
    );
    (data, String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A valid submission for the test images `sample` lists: the probability of COVID-19 is
/// a function of the id and `salt`, so different salts give different scores.
pub fn predictions(sample: &str, salt: u64) -> String {
    let mut lines = sample.lines();
    let header = lines.next().expect("a header");
    assert_eq!(header, "id,probability");
    let mut out = format!("{header}\n");
    for line in lines {
        let id = line.trim_end_matches(',');
        let h = id
            .bytes()
            .fold(salt.wrapping_mul(0x9e37_79b9_7f4a_7c15), |a, b| {
                (a ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        out.push_str(&format!("{id},{:.4}\n", (h % 10_000) as f64 / 10_000.0));
    }
    out
}
