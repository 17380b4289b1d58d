//! What the gateway did, day by day, for its status page and `lunghub gateway status`.
//!
//! One JSON line per event in `ledger/YYYY-MM-DD.jsonl` (UTC days), appended in one write
//! each, so two gateway processes on the same state interleave whole lines. Events name no
//! input: a reason says what was wrong ("burned-in annotation"), never whose file it was.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Event {
    /// A file arrived (bytes as received).
    Received,
    /// De-identified and queued (bytes as queued).
    Queued,
    /// The server answered that it stored it.
    Sent,
    /// Refused here by de-identification (or not something the gateway can send).
    Quarantined,
    /// Refused for good by the server.
    Rejected,
    /// A send failed and will be tried again.
    SendFailed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Line {
    at_ms: u64,
    event: Event,
    #[serde(default)]
    files: u64,
    #[serde(default)]
    bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    why: Option<String>,
}

pub struct Ledger {
    dir: PathBuf,
    /// Today's file, kept open: an open per event cost more than the write.
    today: Mutex<Option<(String, fs::File)>>,
}

/// Counts and bytes of one kind of event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub files: u64,
    pub bytes: u64,
}

/// One UTC day.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Day {
    pub date: String,
    pub received: Tally,
    pub queued: Tally,
    pub sent: Tally,
    pub quarantined: Tally,
    pub rejected: Tally,
    pub send_failures: u64,
}

/// A refusal or failure, in plain words, with when it happened.
#[derive(Debug, Clone, Serialize)]
pub struct Note {
    pub at_ms: u64,
    pub why: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub days: Vec<Day>,
    /// The latest quarantines and rejections, newest first.
    pub refusals: Vec<Note>,
    /// The latest send failure, if no send has succeeded since.
    pub last_error: Option<Note>,
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `YYYY-MM-DD` of a time in milliseconds since the epoch, in UTC.
pub fn day_of(at_ms: u64) -> String {
    let (y, m, d) = lunghub_domain::calendar::civil_from_days((at_ms / 86_400_000) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

const REFUSALS_SHOWN: usize = 20;

impl Ledger {
    pub fn open(state_dir: &Path) -> io::Result<Ledger> {
        let dir = state_dir.join("ledger");
        fs::create_dir_all(&dir)?;
        Ok(Ledger {
            dir,
            today: Mutex::new(None),
        })
    }

    pub fn record(&self, event: Event, files: u64, bytes: u64, why: Option<&str>) {
        let at_ms = now_ms();
        let line = Line {
            at_ms,
            event,
            files,
            bytes,
            why: why.map(str::to_owned),
        };
        let Ok(mut text) = serde_json::to_string(&line) else {
            return;
        };
        text.push('\n');
        let day = day_of(at_ms);
        let path = self.dir.join(format!("{day}.jsonl"));
        let mut today = self.today.lock().unwrap_or_else(|p| p.into_inner());
        if today.as_ref().is_none_or(|(d, _)| *d != day) {
            match OpenOptions::new().create(true).append(true).open(&path) {
                Ok(f) => *today = Some((day, f)),
                Err(e) => {
                    // The ledger is the record, not the data: losing a line must not stop a send.
                    eprintln!("gateway: cannot write the ledger {}: {e}", path.display());
                    return;
                }
            }
        }
        if let Some((_, file)) = today.as_mut()
            && let Err(e) = file.write_all(text.as_bytes())
        {
            eprintln!("gateway: cannot write the ledger {}: {e}", path.display());
        }
    }

    /// The last `days` days that have events, newest first.
    pub fn summary(&self, days: usize) -> io::Result<Summary> {
        let mut files: Vec<PathBuf> = fs::read_dir(&self.dir)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .collect();
        files.sort();
        files.reverse();
        let mut summary = Summary::default();
        let mut by_day: BTreeMap<String, Day> = BTreeMap::new();
        let mut last_failure: Option<Note> = None;
        let mut last_success = 0u64;
        for path in files.iter().take(days) {
            let date = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let day = by_day.entry(date.clone()).or_insert_with(|| Day {
                date,
                ..Day::default()
            });
            let reader = io::BufReader::new(fs::File::open(path)?);
            for line in reader.lines() {
                // A line cut short by a crash is skipped, not fatal.
                let Ok(line) = serde_json::from_str::<Line>(&line?) else {
                    continue;
                };
                let add = |t: &mut Tally| {
                    t.files += line.files;
                    t.bytes += line.bytes;
                };
                match line.event {
                    Event::Received => add(&mut day.received),
                    Event::Queued => add(&mut day.queued),
                    Event::Sent => {
                        add(&mut day.sent);
                        last_success = last_success.max(line.at_ms);
                    }
                    Event::Quarantined => add(&mut day.quarantined),
                    Event::Rejected => add(&mut day.rejected),
                    Event::SendFailed => {
                        day.send_failures += 1;
                        if last_failure.as_ref().is_none_or(|n| n.at_ms < line.at_ms) {
                            last_failure = Some(Note {
                                at_ms: line.at_ms,
                                why: line.why.clone().unwrap_or_default(),
                            });
                        }
                    }
                }
                if matches!(line.event, Event::Quarantined | Event::Rejected) {
                    summary.refusals.push(Note {
                        at_ms: line.at_ms,
                        why: line.why.clone().unwrap_or_default(),
                    });
                }
            }
        }
        summary.refusals.sort_by(|a, b| b.at_ms.cmp(&a.at_ms));
        summary.refusals.truncate(REFUSALS_SHOWN);
        summary.last_error = last_failure.filter(|n| n.at_ms > last_success);
        summary.days = by_day.into_values().rev().collect();
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_add_up_per_day_and_a_success_clears_the_last_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = Ledger::open(dir.path()).expect("open");
        ledger.record(Event::Received, 1, 100, None);
        ledger.record(Event::Queued, 1, 90, None);
        ledger.record(Event::Quarantined, 1, 50, Some("burned-in annotation"));
        ledger.record(Event::SendFailed, 0, 0, Some("connection refused"));
        let s = ledger.summary(7).expect("summary");
        assert_eq!(s.days.len(), 1);
        assert_eq!(
            s.days[0].received,
            Tally {
                files: 1,
                bytes: 100
            }
        );
        assert_eq!(s.days[0].queued.bytes, 90);
        assert_eq!(s.days[0].quarantined.files, 1);
        assert_eq!(s.refusals[0].why, "burned-in annotation");
        assert_eq!(
            s.last_error.as_ref().map(|n| n.why.as_str()),
            Some("connection refused")
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
        ledger.record(Event::Sent, 1, 90, None);
        let s = ledger.summary(7).expect("summary");
        assert!(s.last_error.is_none(), "{:?}", s.last_error);
        assert_eq!(s.days[0].sent.files, 1);
        assert_eq!(day_of(0), "1970-01-01");
    }
}
