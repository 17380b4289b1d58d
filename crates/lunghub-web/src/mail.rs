//! Outgoing email: through SMTP when a server is configured, else into an outbox folder
//! that the admin reads in the browser, so that sign-up, confirmation and password reset
//! work on a machine with no network at all. A message SMTP refuses goes to the outbox too,
//! so nothing is lost.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::WebError;

pub struct Mailer {
    outbox: PathBuf,
    from: String,
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
    counter: AtomicU64,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the SMTP URL: it may hold a password.
        f.debug_struct("Mailer")
            .field("outbox", &self.outbox)
            .field("smtp", &self.smtp.is_some())
            .finish()
    }
}

/// One message in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub name: String,
    pub to: String,
    pub subject: String,
}

impl Mailer {
    /// A mailer that sends through `smtp_url` (lettre's URL forms: `smtps://` for TLS,
    /// `smtp://…?tls=required` for STARTTLS, plain `smtp://` for a local relay), or only to
    /// the outbox.
    pub fn new(
        outbox: impl Into<PathBuf>,
        from: &str,
        smtp_url: Option<&str>,
    ) -> Result<Self, WebError> {
        let outbox = outbox.into();
        fs::create_dir_all(&outbox).map_err(|e| {
            WebError::Internal(format!(
                "cannot create the outbox {}: {e}",
                outbox.display()
            ))
        })?;
        from.parse::<lettre::message::Mailbox>().map_err(|e| {
            WebError::BadRequest(format!("the sender address {from:?} is not valid: {e}"))
        })?;
        let smtp = smtp_url
            .map(|url| {
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map(|b| b.timeout(Some(std::time::Duration::from_secs(15))).build()).map_err(|e| {
                    WebError::BadRequest(format!("the SMTP URL is not valid ({e}); use smtps://USER:PASSWORD@HOST, smtp://…?tls=required or smtp://HOST"))
                })
            })
            .transpose()?;
        Ok(Mailer {
            outbox,
            from: from.to_owned(),
            smtp,
            counter: AtomicU64::new(0),
        })
    }

    pub fn uses_smtp(&self) -> bool {
        self.smtp.is_some()
    }

    pub fn outbox_dir(&self) -> &Path {
        &self.outbox
    }

    /// Sends one plain-text message by SMTP, or files it in the outbox.
    pub async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), WebError> {
        let Some(smtp) = &self.smtp else {
            return self.file(to, subject, body);
        };
        let message = (|| {
            Message::builder()
                .from(self.from.parse().map_err(|e| format!("{e}"))?)
                .to(to.parse().map_err(|e| format!("{e}"))?)
                .subject(subject)
                .header(ContentType::TEXT_PLAIN)
                .body(body.to_owned())
                .map_err(|e| format!("{e}"))
        })();
        let sent = match message {
            Ok(m) => smtp.send(m).await.map(|_| ()).map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        if let Err(e) = sent {
            eprintln!("warning: email to {to} not sent by SMTP ({e}); it is in the outbox");
            return self.file(to, subject, body);
        }
        Ok(())
    }

    /// Files one message in the outbox; the file appears whole or not at all.
    fn file(&self, to: &str, subject: &str, body: &str) -> Result<(), WebError> {
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
