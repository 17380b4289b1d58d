//! A real SMTP server for the mail tests: aiosmtpd (PyPI, installed by `.ci/run`) under
//! `tests/peers/smtp_peer.py`, which can refuse, stall and vanish on purpose.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct SmtpPeer {
    child: std::process::Child,
    pub port: u16,
    out: PathBuf,
}

/// How the peer misbehaves.
#[derive(Debug, Clone, Copy, Default)]
pub struct Behaviour {
    /// Exit after accepting this many news mails.
    pub vanish_after: Option<u32>,
    /// Seconds to wait before answering each RCPT.
    pub rcpt_delay: Option<f64>,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl SmtpPeer {
    /// A well-behaved server on a free port, storing into a fresh folder.
    pub fn start(out: &Path) -> SmtpPeer {
        SmtpPeer::start_on(free_port(), out, Behaviour::default())
    }

    /// A server on `port`, storing what it accepts in `out` (kept across restarts).
    pub fn start_on(port: u16, out: &Path, how: Behaviour) -> SmtpPeer {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/smtp_peer.py");
        let mut cmd = std::process::Command::new(super::python());
        cmd.arg(script).arg(port.to_string()).arg(out);
        if let Some(n) = how.vanish_after {
            cmd.args(["--vanish-after", &n.to_string()]);
        }
        if let Some(s) = how.rcpt_delay {
            cmd.args(["--rcpt-delay", &s.to_string()]);
        }
        let child = cmd
            .spawn()
            .expect("the SMTP peer starts (aiosmtpd, installed by .ci/run)");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the SMTP peer did not listen on {port}: is aiosmtpd installed? Run `bash .ci/run`"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        SmtpPeer {
            child,
            port,
            out: out.to_path_buf(),
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Whether the process has exited (as `vanish_after` makes it).
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Every message received so far, its body decoded from quoted-printable or base64
    /// (so that links read whole).
    pub fn received(&self) -> Vec<String> {
        let mut names: Vec<_> = std::fs::read_dir(&self.out)
            .map(|d| {
                d.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .map(|m| decoded(&m))
            .collect()
    }

    /// The messages to `to`.
    pub fn received_by(&self, to: &str) -> Vec<String> {
        self.received()
            .into_iter()
            .filter(|m| header(m, "To").is_some_and(|t| t.eq_ignore_ascii_case(to)))
            .collect()
    }
}

/// A header's value (unfolded), by name, case-insensitive.
pub fn header(mail: &str, name: &str) -> Option<String> {
    let mut lines = mail.lines().take_while(|l| !l.is_empty()).peekable();
    while let Some(line) = lines.next() {
        let Some((n, v)) = line.split_once(':') else {
            continue;
        };
        if n.eq_ignore_ascii_case(name) {
            let mut value = v.trim().to_owned();
            while let Some(next) = lines.peek().filter(|l| l.starts_with([' ', '\t'])) {
                value.push(' ');
                value.push_str(next.trim());
                lines.next();
            }
            return Some(value);
        }
    }
    None
}

/// The mail with its body decoded, by its Content-Transfer-Encoding.
fn decoded(mail: &str) -> String {
    let mail = mail.replace("\r\n", "\n");
    let Some((head, body)) = mail.split_once("\n\n") else {
        return mail;
    };
    let encoding = header(&mail, "Content-Transfer-Encoding")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let bytes = match encoding.as_str() {
        "quoted-printable" => {
            let mut out = Vec::new();
            let b = body.as_bytes();
            let mut i = 0;
            while i < b.len() {
                if b[i] == b'=' {
                    if b.get(i + 1) == Some(&b'\n') {
                        i += 2;
                        continue;
                    }
                    if let Some(hex) = body.get(i + 1..i + 3)
                        && let Ok(v) = u8::from_str_radix(hex, 16)
                    {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                }
                out.push(b[i]);
                i += 1;
            }
            out
        }
        "base64" => {
            use base64::Engine;
            let clean: String = body.split_whitespace().collect();
            base64::engine::general_purpose::STANDARD
                .decode(clean)
                .unwrap_or_else(|_| body.as_bytes().to_vec())
        }
        _ => body.as_bytes().to_vec(),
    };
    format!("{head}\n\n{}", String::from_utf8_lossy(&bytes))
}

/// What a mail client does with `List-Unsubscribe-Post: List-Unsubscribe=One-Click`
/// (RFC 8058): a POST with no cookies and no CSRF token; returns the status.
pub async fn one_click_unsubscribe(url: &str) -> u16 {
    super::http()
        .build()
        .expect("client")
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .expect("one-click")
        .status()
        .as_u16()
}

impl Drop for SmtpPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
