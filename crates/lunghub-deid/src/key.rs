//! The site key: the secret behind every pseudonym, UID and date shift.
//!
//! Every derived value is HMAC-SHA256 under the key, with a domain label so that a UID, a
//! patient pseudonym and a date offset computed from the same input never coincide.
//! Without the key nobody can reverse or recompute them; with a lost key the link between
//! a patient's old and new files is lost for good.

use std::fs;
use std::io::Write;
use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// 32 secret bytes, stored as 64 hexadecimal characters in a file readable by its owner only.
#[derive(Clone)]
pub struct SiteKey {
    bytes: [u8; 32],
}

impl std::fmt::Debug for SiteKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SiteKey({})", self.fingerprint())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read site key {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot create site key {path}: {source}")]
    Create {
        path: String,
        source: std::io::Error,
    },
    #[error("site key {path} is not 64 hexadecimal characters")]
    Format { path: String },
    #[error("no randomness available to create a site key: {0}")]
    Random(String),
}

impl SiteKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SiteKey { bytes }
    }

    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<Self, KeyError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(SiteKey { bytes })
    }

    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let text = fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse_hex(text.trim()).ok_or_else(|| KeyError::Format {
            path: path.display().to_string(),
        })
    }

    /// Loads the key at `path`, creating it (mode 0600, parents included) if it is absent.
    /// Returns whether it was created, so the caller can tell the user where it lives.
    ///
    /// Two processes may start at once on a fresh machine (a server and an ingest, or tests):
    /// the key is written whole to a file of its own and then linked to `path`, which fails
    /// if `path` exists. So exactly one key is ever published, never a half-written one, and
    /// the process that loses the race loads the winner's.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), KeyError> {
        if path.exists() {
            return Ok((Self::load(path)?, false));
        }
        let err = |source| KeyError::Create {
            path: path.display().to_string(),
            source,
        };
        let key = Self::generate()?;
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        fs::create_dir_all(parent).map_err(err)?;
        let draft = parent.join(format!(
            ".site.key.{}.{}",
            std::process::id(),
            &Self::generate()?.to_hex()[..16]
        ));
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let written = options.open(&draft).and_then(|mut file| {
            writeln!(file, "{}", key.to_hex())?;
            file.sync_all()
        });
        let published = written.and_then(|()| fs::hard_link(&draft, path));
        let _ = fs::remove_file(&draft);
        match published {
            Ok(()) => {
                // The new name must survive a crash as well as the key's bytes.
                if let Ok(dir) = fs::File::open(parent) {
                    let _ = dir.sync_all();
                }
                Ok((key, true))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Ok((Self::load(path)?, false))
            }
            Err(e) => Err(err(e)),
        }
    }

    fn parse_hex(text: &str) -> Option<Self> {
        if text.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(SiteKey { bytes })
    }

    fn to_hex(&self) -> String {
        self.bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// HMAC-SHA256 of `data` under the key, separated by `domain`.
    pub fn mac(&self, domain: &str, data: &[u8]) -> [u8; 32] {
        // new_from_slice accepts keys of any length; 32 bytes can never fail.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.bytes)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(domain.as_bytes());
        mac.update(&[0]);
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    /// A short public name for the key (not the key): lets a file say which key made it.
    pub fn fingerprint(&self) -> String {
        self.mac("fingerprint", b"")[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The keyed replacement of a UID: `2.25.` and a 128-bit decimal, at most 44 characters.
    pub fn uid(&self, original: &str) -> String {
        let mac = self.mac("uid", original.trim_end_matches(['\0', ' ']).as_bytes());
        let mut first = [0u8; 16];
        first.copy_from_slice(&mac[..16]);
        format!("2.25.{}", u128::from_be_bytes(first))
    }

    /// A keyed pseudonym: a prefix and 16 base-32 characters (80 bits).
    pub fn pseudonym(&self, domain: &str, original: &str) -> String {
        const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
        let mac = self.mac(domain, original.as_bytes());
        let mut bits: u128 = 0;
        for b in &mac[..10] {
            bits = (bits << 8) | u128::from(*b);
        }
        let mut out = String::with_capacity(19);
        out.push_str("LH-");
        for i in (0..16).rev() {
            out.push(char::from(ALPHABET[((bits >> (5 * i)) & 31) as usize]));
        }
        out
    }

    /// A keyed tag for the name of an input (a path, a zip entry, a sender's UID): 16 hex
    /// characters by which reports, logs and the upload pages refer to a file. File and
    /// folder names in hospitals often carry a patient's name or record number, so the name
    /// itself is never kept.
    pub fn name_tag(&self, name: &str) -> String {
        self.mac("input-name", name.as_bytes())[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Days to add to every date of one patient: between -max_days and -1.
    pub fn date_shift_days(&self, patient: &str, max_days: u32) -> i64 {
        let mac = self.mac("date-shift", patient.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&mac[..8]);
        -(1 + (u64::from_be_bytes(first) % u64::from(max_days.max(1))) as i64)
    }
}

/// The central server's secret. It pseudonymises nothing itself: each site's data is keyed
/// with that site's own key, derived from the secret and the site's id, so that two sites'
/// patients who share a local record number (PatientID `1001`, no issuer) never become one
/// pseudonymous patient, and no pseudonym links one hospital's data to another's. Whoever
/// holds the secret can derive every site's key: it never leaves the server.
#[derive(Clone, Debug)]
pub struct ServerSecret {
    key: SiteKey,
}

impl ServerSecret {
    pub fn new(key: SiteKey) -> Self {
        ServerSecret { key }
    }

    /// The key the server de-identifies `site_id`'s files with. A site's gateway has a key
    /// of its own instead, made at the hospital; this one is only for what the server
    /// de-identifies itself.
    pub fn site_key(&self, site_id: &str) -> SiteKey {
        SiteKey::from_bytes(self.key.mac("site-key", site_id.as_bytes()))
    }

    /// The keyed tag of an input's name on the server (see [`SiteKey::name_tag`]).
    pub fn name_tag(&self, name: &str) -> String {
        self.key.name_tag(name)
    }

    /// The secret's own fingerprint, for messages (not any site's).
    pub fn fingerprint(&self) -> String {
        self.key.fingerprint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Many processes' first start at once: one key is created, and all of them use it.
    #[test]
    fn racing_first_starts_agree_on_one_key() {
        for round in 0..20 {
            let tmp = tempfile::tempdir().expect("tempdir");
            let path = tmp.path().join("config").join("site.key");
            let results: Vec<(SiteKey, bool)> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..8)
                    .map(|_| s.spawn(|| SiteKey::load_or_create(&path)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("no panic").expect("a key"))
                    .collect()
            });
            let created = results.iter().filter(|(_, c)| *c).count();
            assert_eq!(
                created, 1,
                "round {round}: {created} processes created a key"
            );
            let first = results[0].0.fingerprint();
            assert!(results.iter().all(|(k, _)| k.fingerprint() == first));
            assert_eq!(SiteKey::load(&path).expect("reload").fingerprint(), first);
            let left: Vec<_> = std::fs::read_dir(path.parent().expect("parent"))
                .expect("list")
                .collect();
            assert_eq!(left.len(), 1, "round {round}: drafts left behind");
        }
    }

    #[test]
    fn derived_values_are_stable_and_keyed() {
        let a = SiteKey::from_bytes([7; 32]);
        let b = SiteKey::from_bytes([8; 32]);
        let uid = a.uid("1.2.3.4");
        assert!(uid.starts_with("2.25.") && uid.len() <= 64, "{uid}");
        assert_eq!(uid, a.uid("1.2.3.4"));
        assert_ne!(uid, b.uid("1.2.3.4"));
        assert_ne!(a.pseudonym("patient", "X"), a.pseudonym("accession", "X"));
        let shift = a.date_shift_days("patient-1", 365);
        assert!((-365..=-1).contains(&shift));
    }

    #[test]
    fn a_key_file_is_created_once_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("conf/site.key");
        let (k1, created) = SiteKey::load_or_create(&path).expect("create");
        assert!(created);
        let (k2, created) = SiteKey::load_or_create(&path).expect("load");
        assert!(!created);
        assert_eq!(k1.fingerprint(), k2.fingerprint());
        fs::write(&path, "not hex").expect("write");
        assert!(matches!(SiteKey::load(&path), Err(KeyError::Format { .. })));
    }

    #[test]
    fn every_site_gets_a_key_of_its_own() {
        let secret = ServerSecret::new(SiteKey::from_bytes([7; 32]));
        let (a, b) = (secret.site_key("hospital-a"), secret.site_key("hospital-b"));
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), secret.fingerprint());
        assert_ne!(
            a.pseudonym("patient", "1001"),
            b.pseudonym("patient", "1001")
        );
        assert_eq!(
            secret.site_key("hospital-a").fingerprint(),
            a.fingerprint(),
            "derivation is deterministic"
        );
        let other = ServerSecret::new(SiteKey::from_bytes([8; 32]));
        assert_ne!(other.site_key("hospital-a").fingerprint(), a.fingerprint());
    }
}
