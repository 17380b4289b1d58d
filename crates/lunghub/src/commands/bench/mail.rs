//! `lunghub bench mail`: publishing one news post to N subscribers, through lunghub's
//! durable queue and background sender, against Python's smtplib sending the same
//! messages over one connection; both to the same aiosmtpd server, which discards them.

use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::ProgressBar;
use lunghub_store::Catalog;
use lunghub_store::mail::NewMail;
use lunghub_web::Mailer;
use lunghub_web::mail::{RetryPolicy, send_due};

#[derive(Args)]
pub struct MailBench {
    /// Subscribers the post goes to
    #[arg(long, default_value_t = 10_000)]
    mails: usize,
    /// Python with aiosmtpd (default: $LUNGHUB_PYTHON, then the venv that .ci/run keeps
    /// beside the target folder, then python3)
    #[arg(long)]
    python: Option<PathBuf>,
}

const BODY: &str = "The first release of the open chest X-ray dataset is out: 1,204 images from \
three hospitals, de-identified at the hospitals and reviewed.\n\nRead it online: \
https://lunghub.example/news/1\n\n-- \nYou get this because you subscribed to lunghub's \
news. Unsubscribe with one click: https://lunghub.example/unsubscribe/TOKEN\n";

/// The baseline: one SMTP connection, one message after the other, as a mailing script
/// would send them.
const SMTPLIB: &str = r#"
import smtplib, sys, time
from email.message import EmailMessage
port, n, body = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
messages = []
for i in range(n):
    m = EmailMessage()
    m["From"] = "lunghub <news@lunghub.example>"
    m["To"] = "reader%d@example.org" % i
    m["Subject"] = "New dataset release"
    m["List-Unsubscribe"] = "<https://lunghub.example/unsubscribe/%d/one-click>" % i
    m["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    m.set_content(body.replace("TOKEN", str(i)))
    messages.append(m)
start = time.monotonic()
with smtplib.SMTP("127.0.0.1", port) as s:
    for m in messages:
        s.send_message(m)
print(time.monotonic() - start)
"#;

struct Sink(std::process::Child);

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn mail_bench(b: MailBench) -> Result<ExitCode> {
    if b.mails == 0 {
        bail!("--mails must be at least 1");
    }
    let python = b.python.clone().unwrap_or_else(super::default_python);
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let _sink = Sink(
        Command::new(&python)
            .args(["-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start aiosmtpd with {}", python.display()))?,
    );
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if start.elapsed() > Duration::from_secs(30) {
            bail!("aiosmtpd did not listen on port {port}: is it installed (bash .ci/run)?");
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    let dir = tempfile::tempdir()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (queue_s, send_s) = runtime.block_on(async {
        let catalog = Catalog::open(&Catalog::sqlite_url(dir.path())).await?;
        let platform = catalog.platform();
        let mailer = Mailer::new(
            dir.path().join("outbox"),
            "lunghub <news@lunghub.example>",
            Some(&format!("smtp://127.0.0.1:{port}")),
            RetryPolicy::default(),
        )?;
        let post = platform
            .create_post("New dataset release", BODY, "bench")
            .await?;
        let mails: Vec<NewMail> = (0..b.mails)
            .map(|i| NewMail {
                unsubscribe_url: Some(format!("https://lunghub.example/unsubscribe/{i}/one-click")),
                dedupe_key: Some(format!("news:{}:reader{i}@example.org", post.id)),
                ..NewMail::new(
                    &format!("reader{i}@example.org"),
                    "New dataset release",
                    &BODY.replace("TOKEN", &i.to_string()),
                )
            })
            .collect();
        let started = Instant::now();
        platform.publish_post(&post.id, "bench", &mails).await?;
        let queue_s = started.elapsed().as_secs_f64();
        let bar = ProgressBar::new(b.mails as u64);
        let started = Instant::now();
        loop {
            let tried = send_due(&platform, &mailer).await?;
            bar.inc(tried as u64);
            if tried == 0 {
                break;
            }
        }
        let send_s = started.elapsed().as_secs_f64();
        bar.finish_and_clear();
        let counts = platform.mail_counts().await?;
        if counts.sent != b.mails as i64 {
            bail!(
                "only {} of {} mails were sent ({} queued, {} in the outbox)",
                counts.sent,
                b.mails,
                counts.queued,
                counts.outbox
            );
        }
        anyhow::Ok((queue_s, send_s))
    })?;

    let out = Command::new(&python)
        .args(["-c", SMTPLIB])
        .arg(port.to_string())
        .arg(b.mails.to_string())
        .arg(BODY)
        .output()
        .context("cannot run the smtplib baseline")?;
    if !out.status.success() {
        bail!(
            "the smtplib baseline failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let smtplib_s: f64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .context("the smtplib baseline printed no time")?;

    let n = b.mails as f64;
    println!(
        "{} news mails to aiosmtpd (Sink handler) on 127.0.0.1\n",
        b.mails
    );
    println!("| sender | queue (s) | send (s) | mails/s | vs smtplib |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| lunghub: queue in the publishing transaction, background sender | {queue_s:.2} | {send_s:.2} | {:.0} | {:.2}x |",
        n / send_s,
        smtplib_s / send_s
    );
    println!(
        "| Python smtplib, one connection, nothing recorded | – | {smtplib_s:.2} | {:.0} | 1.00x |",
        n / smtplib_s
    );
    Ok(ExitCode::SUCCESS)
}
