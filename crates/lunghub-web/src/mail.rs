//! Outgoing email. Every mail (confirmations, resets, alerts, news) goes into the durable
//! queue in the database; no request waits on SMTP. [`run_sender`] delivers the queue in
//! the background: through SMTP when a server is configured, else into an outbox folder
//! that the admin reads in the browser, so that sign-up, confirmation and password reset
//! work on a machine with no network at all.
//!
//! A refusal SMTP calls temporary (4xx), a dropped connection or a server that is down is
//! tried again with a doubling wait; a permanent refusal (5xx), or a mail still not
//! delivered after [`RetryPolicy::max_attempts`] tries, goes to the outbox with the reason,
//! so nothing is lost. See `lunghub_store::mail` for what a crash can and cannot do.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use lunghub_store::Platform;
use lunghub_store::mail::{MailDone, QueuedMail};

use crate::{Shared, WebError, now_ns};

/// How long a sender holds the mails it leased without renewing: a killed sender's mails
/// go out this long after. Renewed every third of it while a batch is sent.
const LEASE: Duration = Duration::from_secs(30);
/// Mails leased at once, and sent at once over the SMTP connection pool.
const BATCH: i64 = 64;
const CONCURRENT: usize = 8;
/// A silent SMTP server gives up a connection after this long.
const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

/// When a mail that could not be delivered is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait after the first failed try; it doubles after each one, up to six hours.
    pub first_wait: Duration,
    /// Tries before a mail goes to the outbox for the admin.
    pub max_attempts: i64,
}

impl Default for RetryPolicy {
    /// 10 tries over about 17 hours.
    fn default() -> Self {
        RetryPolicy {
            first_wait: Duration::from_secs(60),
            max_attempts: 10,
        }
    }
}

impl RetryPolicy {
    /// The wait after the `attempts`-th failed try.
    pub fn wait_after(&self, attempts: i64) -> Duration {
        let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
        self.first_wait
            .saturating_mul(1u32 << doublings)
            .min(Duration::from_secs(6 * 3600))
    }
}

pub struct Mailer {
    outbox: PathBuf,
    from: String,
    /// The right-hand side of Message-IDs: the sender address's domain.
    domain: String,
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
    retry: RetryPolicy,
    counter: AtomicU64,
    /// Rung when a mail is queued, so that the sender need not poll.
    wake: tokio::sync::Notify,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the SMTP URL: it may hold a password.
        f.debug_struct("Mailer")
            .field("outbox", &self.outbox)
            .field("smtp", &self.smtp.is_some())
            .field("retry", &self.retry)
            .finish()
    }
}

/// One message in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub name: String,
    pub to: String,
    pub subject: String,
    /// Why SMTP did not take it, when one is configured.
    pub not_sent: String,
}

/// What one try at a mail came to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Delivery {
    Sent,
    /// In the outbox folder; with the reason when SMTP would not take it.
    Outbox(Option<String>),
    Later(String),
}

/// A header of lettre's kind, for the two it does not have.
#[derive(Debug, Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribe(s.to_owned()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

#[derive(Debug, Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribePost)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".into())
    }
}

impl Mailer {
    /// A mailer that sends through `smtp_url` (lettre's URL forms: `smtps://` for TLS,
    /// `smtp://…?tls=required` for STARTTLS, plain `smtp://` for a local relay), or only to
    /// the outbox.
    pub fn new(
        outbox: impl Into<PathBuf>,
        from: &str,
        smtp_url: Option<&str>,
        retry: RetryPolicy,
    ) -> Result<Self, WebError> {
        let outbox = outbox.into();
        fs::create_dir_all(&outbox).map_err(|e| {
            WebError::Internal(format!(
                "cannot create the outbox {}: {e}",
                outbox.display()
            ))
        })?;
        let mailbox = from.parse::<lettre::message::Mailbox>().map_err(|e| {
            WebError::BadRequest(format!("the sender address {from:?} is not valid: {e}"))
        })?;
        let smtp = smtp_url
            .map(|url| {
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map(|b| b.timeout(Some(SMTP_TIMEOUT)).build()).map_err(|e| {
                    WebError::BadRequest(format!("the SMTP URL is not valid ({e}); use smtps://USER:PASSWORD@HOST, smtp://…?tls=required or smtp://HOST"))
                })
            })
            .transpose()?;
        Ok(Mailer {
            outbox,
            from: from.to_owned(),
            domain: mailbox.email.domain().to_owned(),
            smtp,
            retry,
            counter: AtomicU64::new(0),
            wake: tokio::sync::Notify::new(),
        })
    }

    pub fn uses_smtp(&self) -> bool {
        self.smtp.is_some()
    }

    pub fn outbox_dir(&self) -> &Path {
        &self.outbox
    }

    /// Tells the sender that mail was queued.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    fn message_id(&self, mail: &QueuedMail) -> String {
        format!("<{}@{}>", mail.id, self.domain)
    }

    /// One try at one mail.
    async fn deliver(&self, mail: &QueuedMail) -> Delivery {
        let Some(smtp) = &self.smtp else {
            return match self.file(mail, None) {
                Ok(()) => Delivery::Outbox(None),
                Err(e) => Delivery::Later(e.to_string()),
            };
        };
        let message = match self.message(mail) {
            Ok(m) => m,
            // An address lettre cannot write will never go: kept for the admin.
            Err(e) => return self.give_up(mail, format!("the message cannot be written: {e}")),
        };
        match smtp.send(message).await {
            Ok(_) => Delivery::Sent,
            Err(e) if e.is_permanent() => {
                self.give_up(mail, format!("the SMTP server refused it: {e}"))
            }
            Err(e) if mail.attempts >= self.retry.max_attempts => {
                self.give_up(mail, format!("not sent after {} tries: {e}", mail.attempts))
            }
            Err(e) => Delivery::Later(e.to_string()),
        }
    }

    fn give_up(&self, mail: &QueuedMail, why: String) -> Delivery {
        match self.file(mail, Some(&why)) {
            Ok(()) => Delivery::Outbox(Some(why)),
            Err(e) => Delivery::Later(format!("{why}; and the outbox: {e}")),
        }
    }

    fn message(&self, mail: &QueuedMail) -> Result<Message, String> {
        let mut builder = Message::builder()
            .from(self.from.parse().map_err(|e| format!("{e}"))?)
            .to(mail.to.parse().map_err(|e| format!("{e}"))?)
            .subject(mail.subject.as_str())
            .message_id(Some(self.message_id(mail)))
            .date(sent_at(mail.created_at))
            .header(ContentType::TEXT_PLAIN);
        if let Some(url) = &mail.unsubscribe_url {
            builder = builder
                .header(ListUnsubscribe(format!("<{url}>")))
                .header(ListUnsubscribePost);
        }
        builder.body(mail.body.clone()).map_err(|e| format!("{e}"))
    }

    /// Files one message in the outbox; the file appears whole or not at all.
    fn file(&self, mail: &QueuedMail, not_sent: Option<&str>) -> Result<(), WebError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let name = format!("{now:024}-{n:04}.eml");
        // Header values come from forms: no line breaks may reach the headers.
        let clean = |s: &str| s.replace(['\r', '\n'], " ");
        let mut head = format!(
            "From: {}\r\nTo: {}\r\nSubject: {}\r\nMessage-ID: {}\r\n",
            clean(&self.from),
            clean(&mail.to),
            clean(&mail.subject),
            self.message_id(mail),
        );
        if let Some(url) = &mail.unsubscribe_url {
            head.push_str(&format!(
                "List-Unsubscribe: <{}>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
                clean(url)
            ));
        }
        if let Some(why) = not_sent {
            head.push_str(&format!("X-Lunghub-Not-Sent: {}\r\n", clean(why)));
        }
        let text = format!(
            "{head}Content-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n",
            mail.body.replace("\r\n", "\n").replace('\n', "\r\n")
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
                not_sent: header("X-Lunghub-Not-Sent:"),
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

/// The Date header: when the mail was queued, so that a retried mail says when it was
/// written.
fn sent_at(created_ns: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(u64::try_from(created_ns).unwrap_or(0))
}

/// Delivers the queue until the process ends: whatever is due, then waits for a new mail
/// or for the next retry.
pub async fn run_sender(app: Shared) {
    loop {
        match send_due(&app.platform, &app.mailer).await {
            Ok(0) => {}
            Ok(_) => continue,
            Err(e) => eprintln!("error: mail: {e}"),
        }
        let wait = match app.platform.next_mail_due().await {
            Ok(Some(due)) => Duration::from_nanos(u64::try_from(due - now_ns()).unwrap_or(0)),
            Ok(None) => Duration::from_secs(3600),
            Err(e) => {
                eprintln!("error: mail: cannot read the queue: {e}");
                Duration::from_secs(5)
            }
        };
        if wait.is_zero() {
            continue;
        }
        tokio::select! {
            _ = app.mailer.wake.notified() => {}
            _ = tokio::time::sleep(wait.min(Duration::from_secs(3600))) => {}
        }
    }
}

/// Leases the due mails and tries each; returns how many were tried.
pub async fn send_due(platform: &Platform, mailer: &Mailer) -> Result<usize, WebError> {
    let hold = i64::try_from(LEASE.as_nanos()).unwrap_or(i64::MAX);
    let (lease, batch) = platform.lease_due_mail(now_ns(), hold, BATCH).await?;
    let tried = batch.len();
    if tried == 0 {
        return Ok(0);
    }
    let lease = &lease;
    let renew = async {
        loop {
            tokio::time::sleep(LEASE / 3).await;
            if let Err(e) = platform.renew_mail_lease(lease, hold).await {
                eprintln!("error: mail: cannot renew a lease: {e}");
            }
        }
    };
    let send =
        futures_util::stream::iter(batch).for_each_concurrent(CONCURRENT, |mail| async move {
            let delivery = mailer.deliver(&mail).await;
            // Recorded at once, one row at a time: after a kill, only the mail in flight
            // can go twice.
            let recorded = match &delivery {
                Delivery::Sent => {
                    platform
                        .mail_done(&mail.id, lease, MailDone::Sent, None)
                        .await
                }
                Delivery::Outbox(why) => {
                    if let Some(why) = why {
                        eprintln!("warning: mail to {} kept in the outbox: {why}", mail.to);
                    }
                    platform
                        .mail_done(&mail.id, lease, MailDone::Outbox, why.as_deref())
                        .await
                }
                Delivery::Later(why) => {
                    let wait = mailer.retry.wait_after(mail.attempts);
                    eprintln!(
                        "warning: mail to {} not sent ({why}); trying again in {} s",
                        mail.to,
                        wait.as_secs()
                    );
                    let due =
                        now_ns().saturating_add(i64::try_from(wait.as_nanos()).unwrap_or(i64::MAX));
                    platform.mail_later(&mail.id, lease, due, why).await
                }
            };
            if let Err(e) = recorded {
                eprintln!("error: mail: cannot record what became of a mail: {e}");
            }
        });
    tokio::select! {
        () = send => {}
        () = renew => {}
    }
    Ok(tried)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_six_hours() {
        let p = RetryPolicy {
            first_wait: Duration::from_secs(60),
            max_attempts: 10,
        };
        assert_eq!(p.wait_after(1), Duration::from_secs(60));
        assert_eq!(p.wait_after(2), Duration::from_secs(120));
        assert_eq!(p.wait_after(4), Duration::from_secs(480));
        assert_eq!(p.wait_after(40), Duration::from_secs(6 * 3600));
        assert_eq!(p.wait_after(0), Duration::from_secs(60));
    }
}
