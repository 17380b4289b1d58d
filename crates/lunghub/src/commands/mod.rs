pub mod bench;
pub mod catalog;
pub mod challenge;
pub mod deid;
pub mod evaluate;
pub mod gateway;
pub mod ingest;
pub mod predict;
pub mod protocols;
pub mod release;
pub mod scp;
pub mod serve;
pub mod storage;
pub mod train;
pub mod ultrasound;

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Writes a report as `NAME.json` and `NAME.md` into `out` (created if need be) and prints
/// the Markdown.
pub fn write_report(
    out: &std::path::Path,
    name: &str,
    report: &impl serde::Serialize,
    markdown: &str,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let json = out.join(format!("{name}.json"));
    std::fs::write(&json, serde_json::to_string_pretty(report)? + "\n")
        .with_context(|| format!("cannot write {}", json.display()))?;
    let md = out.join(format!("{name}.md"));
    std::fs::write(&md, markdown).with_context(|| format!("cannot write {}", md.display()))?;
    println!("{markdown}");
    Ok(())
}

/// A progress bar over `len` files on standard error when it is a terminal, else nothing
/// (logs and pipes get the summary only).
pub fn file_progress(len: u64) -> ProgressBar {
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} files, {per_sec}, eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}
