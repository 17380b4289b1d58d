//! A STOW-RS client (PS3.18 §10.5): one `multipart/related; type="application/dicom"`
//! request per batch, `Authorization: Bearer` with the site token, the answer read as
//! `application/dicom+json`. Only what a conformant server needs is sent: each part is the
//! de-identified instance with its content type, no file names, no other headers.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum StowError {
    #[error("cannot set up HTTPS: {0}")]
    Setup(String),
    /// Network, server down, 5xx, 429: worth trying again later.
    #[error("{0}")]
    Transient(String),
    /// The server refuses this gateway (bad or revoked token, site not yet allowed to send):
    /// trying again helps only once someone has acted, so it is retried at the slowest pace.
    #[error("{0}")]
    Refused(String),
    /// The request was too large for the server: send fewer instances at once.
    #[error("{0}")]
    TooLarge(String),
}

/// What the server said of one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Stored,
    /// Failed, and worth sending again later (out of resources, A7xx).
    Retry(String),
    /// Failed for good: the reason, in the server's words.
    Refused(String),
}

pub struct StowClient {
    http: reqwest::Client,
    url: reqwest::Url,
    token: Option<String>,
}

impl StowClient {
    /// `extra_ca`: PEM certificates trusted besides the system's (a hospital's own CA).
    pub fn new(
        url: reqwest::Url,
        token: Option<String>,
        extra_ca: Option<&[u8]>,
    ) -> Result<Self, StowError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(20))
            .timeout(Duration::from_secs(600))
            .https_only(url.scheme() == "https")
            .user_agent(concat!("lunghub-gateway/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = extra_ca {
            for cert in reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| StowError::Setup(format!("extra_ca: {e}")))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|e| StowError::Setup(e.to_string()))?;
        Ok(StowClient { http, url, token })
    }

    /// Sends `instances` (SOP Instance UID, bytes) in one request and says what became of
    /// each, in order.
    pub async fn store(&self, instances: &[(String, Vec<u8>)]) -> Result<Vec<Answer>, StowError> {
        let boundary = boundary(instances)?;
        let mut body =
            Vec::with_capacity(instances.iter().map(|(_, b)| b.len() + 96).sum::<usize>() + 64);
        for (_, bytes) in instances {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Type: application/dicom\r\n\r\n").as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let mut request = self
            .http
            .post(self.url.clone())
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("multipart/related; type=\"application/dicom\"; boundary={boundary}"),
            )
            .header(reqwest::header::ACCEPT, "application/dicom+json")
            .body(body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| {
            let why = chain(&e);
            // A certificate that is not trusted will not mend by itself: said at once, not
            // retried in silence.
            if why.contains("certificate") {
                StowError::Refused(format!(
                    "the certificate of {} is not trusted (give its CA as extra_ca if it is the \
                     hospital's own): {why}",
                    self.url
                ))
            } else {
                StowError::Transient(format!("cannot reach {}: {why}", self.url))
            }
        })?;
        let status = response.status();
        let text = response.text().await.map_err(|e| {
            StowError::Transient(format!(
                "the answer from {} broke off: {}",
                self.url,
                chain(&e)
            ))
        })?;
        let said = || {
            let t = text.trim();
            if t.is_empty() || t.starts_with('{') || t.starts_with('[') {
                String::new()
            } else {
                format!(": {}", t.chars().take(300).collect::<String>())
            }
        };
        match status.as_u16() {
            200 | 202 | 409 => Ok(answers(instances, status.as_u16(), &text)),
            401 | 403 => Err(StowError::Refused(format!(
                "the server refused this gateway (HTTP {status}){}",
                said()
            ))),
            413 => Err(StowError::TooLarge(format!(
                "the server found the request too large (HTTP {status}){}",
                said()
            ))),
            408 | 429 | 500..=599 => Err(StowError::Transient(format!(
                "the server could not take it now (HTTP {status}){}",
                said()
            ))),
            _ => Err(StowError::Refused(format!(
                "the server answered HTTP {status}{}",
                said()
            ))),
        }
    }
}

/// The error with its causes, which is where reqwest says what went wrong.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn boundary(instances: &[(String, Vec<u8>)]) -> Result<String, StowError> {
    loop {
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).map_err(|e| StowError::Setup(e.to_string()))?;
        let b = format!(
            "lunghub-{}",
            nonce.iter().map(|x| format!("{x:02x}")).collect::<String>()
        );
        let needle = b.as_bytes();
        if !instances
            .iter()
            .any(|(_, bytes)| bytes.windows(needle.len()).any(|w| w == needle))
        {
            return Ok(b);
        }
    }
}

/// Reads the Store Instances Response Module: ReferencedSOPSequence (0008,1199) and
/// FailedSOPSequence (0008,1198), each item naming its instance (0008,1155).
fn answers(instances: &[(String, Vec<u8>)], status: u16, text: &str) -> Vec<Answer> {
    let module: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let module = match &module {
        Value::Array(items) => items.first().cloned().unwrap_or(Value::Null),
        other => other.clone(),
    };
    let items = |tag: &str| -> Vec<Value> {
        module
            .get(tag)
            .and_then(|e| e.get("Value"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let string = |item: &Value, tag: &str| -> Option<String> {
        item.get(tag)?
            .get("Value")?
            .as_array()?
            .first()
            .and_then(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .or_else(|| v.as_u64().map(|n| n.to_string()))
            })
    };
    let mut said: HashMap<String, Answer> = HashMap::new();
    for item in items("00081199") {
        if let Some(uid) = string(&item, "00081155") {
            said.insert(uid, Answer::Stored);
        }
    }
    for item in items("00081198") {
        let Some(uid) = string(&item, "00081155") else {
            continue;
        };
        let reason = item
            .get("00081197")
            .and_then(|e| e.get("Value"))
            .and_then(Value::as_array)
            .and_then(|v| v.first())
            .and_then(Value::as_u64)
            .unwrap_or(0) as u16;
        let why = format!(
            "refused by the server: {} (reason {reason:04X})",
            reason_in_words(reason)
        );
        let answer = if reason & 0xFF00 == 0xA700 || reason == 0x0110 {
            Answer::Retry(why)
        } else {
            Answer::Refused(why)
        };
        said.insert(uid, answer);
    }
    instances
        .iter()
        .map(|(uid, _)| match said.get(uid) {
            Some(a) => a.clone(),
            // A plain 200 without a module: everything was stored.
            None if status == 200 => Answer::Stored,
            None => Answer::Retry(format!(
                "the server (HTTP {status}) did not say what became of this instance"
            )),
        })
        .collect()
}

/// Failure Reason values (PS3.4 Annex B, PS3.18 §10.5, and lunghub's own).
fn reason_in_words(reason: u16) -> &'static str {
    match reason {
        0x0110 => "processing failure",
        0x0122 => "SOP class not supported",
        0x0124 => "not authorized",
        r if r & 0xFF00 == 0xA700 => "out of resources",
        r if r & 0xFF00 == 0xA900 => "the data set does not match the SOP class",
        0xC001 => "quarantined by the server's de-identification check",
        0xC409 => "the instance belongs to another study",
        r if r & 0xF000 == 0xC000 => "the server cannot understand it",
        _ => "no reason the gateway knows",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_response_module_is_read_per_instance() {
        let sent = vec![
            ("1.2.1".to_owned(), vec![]),
            ("1.2.2".to_owned(), vec![]),
            ("1.2.3".to_owned(), vec![]),
            ("1.2.4".to_owned(), vec![]),
        ];
        let module = r#"{
          "00081199": {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": ["1.2.1"]}}]},
          "00081198": {"vr": "SQ", "Value": [
            {"00081155": {"vr": "UI", "Value": ["1.2.2"]}, "00081197": {"vr": "US", "Value": [42752]}},
            {"00081155": {"vr": "UI", "Value": ["1.2.3"]}, "00081197": {"vr": "US", "Value": [49153]}}
          ]}
        }"#;
        let a = answers(&sent, 202, module);
        assert_eq!(a[0], Answer::Stored);
        assert!(
            matches!(&a[1], Answer::Retry(w) if w.contains("A700")),
            "{:?}",
            a[1]
        );
        assert!(
            matches!(&a[2], Answer::Refused(w) if w.contains("C001")),
            "{:?}",
            a[2]
        );
        assert!(
            matches!(&a[3], Answer::Retry(_)),
            "unanswered on a 202 stays queued"
        );
        assert!(answers(&sent, 200, "").iter().all(|a| *a == Answer::Stored));
    }

    #[test]
    fn the_boundary_never_occurs_in_a_part() {
        let b = boundary(&[("1".into(), b"--lunghub-".to_vec())]).expect("boundary");
        assert!(b.starts_with("lunghub-") && b.len() == 8 + 32);
    }
}
