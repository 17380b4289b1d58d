//! Passwords, session and one-time tokens, cookies, CSRF tokens and sign-in throttling.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::http::{HeaderMap, HeaderValue, header};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::WebError;

pub const SESSION_COOKIE: &str = "lh_session";
pub const CSRF_COOKIE: &str = "lh_csrf";
/// How long a session lasts without signing in again.
pub const SESSION_DAYS: i64 = 14;

/// 256 random bits in hex: session ids, one-time tokens, CSRF cookies.
pub fn new_token() -> Result<String, WebError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| WebError::Internal(format!("random source failed: {e}")))?;
    Ok(hex(&bytes))
}

/// What the database keeps of a token: its sha256.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    // A table, not format! per byte: this runs on every anonymous request (the CSRF
    // cookie and its token), and the allocations showed up in the web benchmark.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// An argon2id hash (the crate's defaults: 19 MiB, 2 passes, OWASP's recommendation) in
/// PHC form, with a fresh 128-bit salt.
pub fn hash_password(password: &str) -> Result<String, WebError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt)
        .map_err(|e| WebError::Internal(format!("random source failed: {e}")))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| WebError::Internal(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| WebError::Internal(format!("cannot hash the password: {e}")))
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A password hash to verify against when the account does not exist, so that a wrong
/// email takes as long as a wrong password and does not reveal who has an account.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password that matches nothing").unwrap_or_default())
}

/// The value of one cookie of the request.
/// The token of an `Authorization: Bearer TOKEN` header, if there is one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let h = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = h.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly and SameSite=Lax always, Secure when served over HTTPS.
pub fn set_cookie(name: &str, value: &str, max_age_seconds: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!(
        "{name}={value}; Path=/; Max-Age={max_age_seconds}; HttpOnly; SameSite=Lax{secure}"
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// The CSRF token forms carry: an HMAC of the visitor's CSRF cookie under the server's
/// key, so a token can't be forged even by someone who can plant cookies.
pub fn csrf_token(key: &[u8], cookie_value: &str) -> String {
    hex(&csrf_mac(key, cookie_value).finalize().into_bytes())
}

fn csrf_mac(key: &[u8], cookie_value: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(cookie_value.as_bytes());
    mac
}

pub fn csrf_token_is_valid(key: &[u8], cookie_value: &str, token: &str) -> bool {
    let Some(bytes) = (0..token.len())
        .step_by(2)
        .map(|i| {
            token
                .get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    // Constant time, so the comparison leaks nothing about the right token.
    csrf_mac(key, cookie_value).verify_slice(&bytes).is_ok()
}

/// Failed sign-ins, remembered in memory per account and per address. A restart forgets
/// them, which is acceptable: the point is to make guessing slow, and argon2 already makes
/// every guess cost.
#[derive(Debug, Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

/// Failures within the window after which sign-in is refused, per account and per address.
pub const MAX_FAILURES_PER_ACCOUNT: usize = 5;
pub const MAX_FAILURES_PER_ADDRESS: usize = 20;
pub const THROTTLE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// What [`Throttle::begin`] says to one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Check it: it counts as a failure until [`Throttle::succeeded`] takes it back.
    Go,
    /// Over the limit, slowed: one attempt per interval, and the next in this long.
    Wait(Duration),
    /// Over the limit: no attempt until failures leave the window.
    Stop,
}

/// One attempt per this long on an account over its failure limit: the right password
/// still gets in, a guesser gets 180 tries in 15 minutes instead of thousands.
pub const SLOWED_ATTEMPT_INTERVAL: Duration = Duration::from_secs(5);

impl Throttle {
    /// Takes a slot for one attempt on `key` before it is checked, atomically, so that 30
    /// guesses at once get no more checks than the limit: below `limit` failures in the
    /// window it goes; over it, with `slowed`, one attempt per that interval goes (so that
    /// nobody can lock the owner of an account out), else none.
    pub fn begin(&self, key: &str, limit: usize, slowed: Option<Duration>) -> Gate {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, times| times.back().is_some_and(|t| t.elapsed() <= THROTTLE_WINDOW));
        }
        let times = map.entry(key.to_owned()).or_default();
        while times.front().is_some_and(|t| t.elapsed() > THROTTLE_WINDOW) {
            times.pop_front();
        }
        if times.len() >= limit {
            let Some(interval) = slowed else {
                return Gate::Stop;
            };
            let since = times.back().map_or(interval, |t| t.elapsed());
            if since < interval {
                return Gate::Wait(interval - since);
            }
        }
        times.push_back(Instant::now());
        Gate::Go
    }

    /// Takes back the failure [`Throttle::begin`] counted for an attempt that succeeded.
    pub fn succeeded(&self, key: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(times) = map.get_mut(key) {
            times.pop_back();
        }
    }

    pub fn clear(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

/// Events per key over a sliding hour: sign-ups and requests per address, mails per
/// recipient. In memory, like [`Throttle`]: a restart forgets.
pub struct Quota {
    limit: usize,
    events: Mutex<HashMap<String, VecDeque<Instant>>>,
}

pub const QUOTA_WINDOW: Duration = Duration::from_secs(60 * 60);
/// Accounts created per address in an hour (one client made 978 in 10 s).
pub const SIGNUPS_PER_ADDRESS: usize = 20;
/// Reset and subscription requests per address in an hour.
pub const REQUESTS_PER_ADDRESS: usize = 20;
/// Mails to one recipient in an hour (confirmations, resets, notices): beyond it, the form
/// answers as always and nothing is sent, so the answer tells nothing.
pub const MAILS_PER_RECIPIENT: usize = 5;

impl Quota {
    pub fn new(limit: usize) -> Quota {
        Quota {
            limit,
            events: Mutex::default(),
        }
    }

    /// Counts one event for `key` and says whether it is within the quota; an event over
    /// the quota is not counted.
    pub fn take(&self, key: &str) -> bool {
        let mut map = self.events.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, times| times.back().is_some_and(|t| t.elapsed() <= QUOTA_WINDOW));
        }
        let times = map.entry(key.to_owned()).or_default();
        while times.front().is_some_and(|t| t.elapsed() > QUOTA_WINDOW) {
            times.pop_front();
        }
        if times.len() >= self.limit {
            return false;
        }
        times.push_back(Instant::now());
        true
    }
}

/// The quotas of the public forms.
pub struct Quotas {
    pub signups: Quota,
    pub requests: Quota,
    pub mails: Quota,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            signups: Quota::new(SIGNUPS_PER_ADDRESS),
            requests: Quota::new(REQUESTS_PER_ADDRESS),
            mails: Quota::new(MAILS_PER_RECIPIENT),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_counted_before_they_are_checked_and_an_account_is_only_slowed() {
        let t = Throttle::default();
        for _ in 0..5 {
            assert_eq!(t.begin("address", 5, None), Gate::Go);
        }
        assert_eq!(
            t.begin("address", 5, None),
            Gate::Stop,
            "the sixth is refused"
        );
        t.succeeded("address");
        assert_eq!(
            t.begin("address", 5, None),
            Gate::Go,
            "a success takes its slot back"
        );
        for _ in 0..5 {
            assert_eq!(
                t.begin("account", 5, Some(SLOWED_ATTEMPT_INTERVAL)),
                Gate::Go
            );
        }
        assert!(matches!(
            t.begin("account", 5, Some(SLOWED_ATTEMPT_INTERVAL)),
            Gate::Wait(d) if d <= SLOWED_ATTEMPT_INTERVAL
        ));
        assert_eq!(
            t.begin("account", 5, Some(Duration::ZERO)),
            Gate::Go,
            "once the interval has passed, an attempt goes"
        );
    }

    #[test]
    fn a_quota_counts_only_what_it_lets_through() {
        let q = Quota::new(2);
        assert!(q.take("a") && q.take("a"));
        assert!(!q.take("a") && !q.take("a"));
        assert!(q.take("b"), "keys are counted apart");
    }

    #[test]
    fn passwords_verify_only_themselves() {
        let h = hash_password("correct horse battery").expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batter", &h));
        assert!(!verify_password("anything", "not a hash"));
    }

    #[test]
    fn csrf_tokens_bind_to_their_cookie_and_key() {
        let t = csrf_token(b"key", "cookie");
        assert!(csrf_token_is_valid(b"key", "cookie", &t));
        assert!(!csrf_token_is_valid(b"key", "other", &t));
        assert!(!csrf_token_is_valid(b"other key", "cookie", &t));
        assert!(!csrf_token_is_valid(b"key", "cookie", "zz"));
        assert!(!csrf_token_is_valid(b"key", "cookie", ""));
    }

    #[test]
    fn the_throttle_refuses_after_the_limit_and_forgets_on_success() {
        let t = Throttle::default();
        for _ in 0..3 {
            assert_eq!(t.begin("a", 3, None), Gate::Go);
        }
        assert_eq!(t.begin("a", 3, None), Gate::Stop);
        assert_eq!(t.begin("b", 3, None), Gate::Go);
        t.clear("a");
        assert_eq!(t.begin("a", 3, None), Gate::Go);
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; lh_session=abc; b=2"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "c"), None);
    }
}
