//! Outgoing email. Without SMTP configured, every message is written to an outbox folder
//! that the admin reads in the browser, so sign-up, confirmation and password reset work
//! on a machine with no network at all.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::WebError;

#[derive(Debug)]
pub struct Mailer {
    outbox: PathBuf,
    from: String,
    counter: AtomicU64,
}

/// One message in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub name: String,
    pub to: String,
    pub subject: String,
}

impl Mailer {
    pub fn outbox(dir: impl Into<PathBuf>, from: &str) -> Result<Self, WebError> {
        let outbox = dir.into();
        fs::create_dir_all(&outbox).map_err(|e| {
            WebError::Internal(format!(
                "cannot create the outbox {}: {e}",
                outbox.display()
            ))
        })?;
        Ok(Mailer {
            outbox,
            from: from.to_owned(),
            counter: AtomicU64::new(0),
        })
    }

    pub fn outbox_dir(&self) -> &Path {
        &self.outbox
    }

    /// Sends (here: files) one plain-text message. The file appears whole or not at all.
    pub fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), WebError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let name = format!("{now:024}-{n:04}.eml");
        // Header values come from forms: no line breaks may reach the headers.
        let clean = |s: &str| s.replace(['\r', '\n'], " ");
        let text = format!(
            "From: {}\r\nTo: {}\r\nSubject: {}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n",
            clean(&self.from),
            clean(to),
            clean(subject),
            body.replace("\r\n", "\n").replace('\n', "\r\n")
        );
        let tmp = self.outbox.join(format!(".{name}.partial"));
        fs::write(&tmp, text)
            .map_err(|e| WebError::Internal(format!("cannot write to the outbox: {e}")))?;
        fs::rename(&tmp, self.outbox.join(&name))
            .map_err(|e| WebError::Internal(format!("cannot write to the outbox: {e}")))?;
        Ok(())
    }

    /// The outbox, newest first.
    pub fn list(&self) -> Result<Vec<OutboxEntry>, WebError> {
        let mut entries = Vec::new();
        let dir = fs::read_dir(&self.outbox)
            .map_err(|e| WebError::Internal(format!("cannot read the outbox: {e}")))?;
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".eml") || name.starts_with('.') {
                continue;
            }
            let text = fs::read_to_string(entry.path()).unwrap_or_default();
            let header = |h: &str| {
                text.lines()
                    .take_while(|l| !l.is_empty())
                    .find_map(|l| l.strip_prefix(h))
                    .unwrap_or_default()
                    .trim()
                    .to_owned()
            };
            entries.push(OutboxEntry {
                to: header("To:"),
                subject: header("Subject:"),
                name,
            });
        }
        entries.sort_by(|a, b| b.name.cmp(&a.name));
        Ok(entries)
    }

    /// One message's text, by its file name (nothing outside the outbox).
    pub fn read(&self, name: &str) -> Option<String> {
        let safe = name.ends_with(".eml")
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            && !name.starts_with('.');
        safe.then(|| fs::read_to_string(self.outbox.join(name)).ok())
            .flatten()
    }
}
