pub mod bench;
pub mod catalog;
pub mod deid;
pub mod evaluate;
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
