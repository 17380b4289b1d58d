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

impl Throttle {
    /// Whether `key` (an account or an address) may try again now.
    pub fn allows(&self, key: &str, limit: usize) -> bool {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let Some(times) = map.get_mut(key) else {
            return true;
        };
        while times.front().is_some_and(|t| t.elapsed() > THROTTLE_WINDOW) {
            times.pop_front();
        }
        times.len() < limit
    }

    pub fn fail(&self, key: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        // Bound the memory an attacker can make us spend on keys.
        if map.len() > 100_000 {
            map.retain(|_, times| times.back().is_some_and(|t| t.elapsed() <= THROTTLE_WINDOW));
        }
        map.entry(key.to_owned())
            .or_default()
            .push_back(Instant::now());
    }

    pub fn clear(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            assert!(t.allows("a", 3));
            t.fail("a");
        }
        assert!(!t.allows("a", 3));
        assert!(t.allows("b", 3));
        t.clear("a");
        assert!(t.allows("a", 3));
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
