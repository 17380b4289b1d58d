//! A release's manifest: the sha256 of every file, in the `SHA256SUMS` format of GNU
//! coreutils (`<hex>  <path>`, paths relative to the release's root, `/`-separated,
//! sorted), so that `sha256sum -c SHA256SUMS` checks a download where lunghub is not
//! installed, and `lunghub release verify` does the same and also names files that should
//! not be there.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The manifest's file name, at the root of a release.
pub const MANIFEST: &str = "SHA256SUMS";

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{0}: a release's file names are plain UTF-8 without newlines or backslashes")]
    Name(PathBuf),
    #[error("{MANIFEST} line {line}: {why}")]
    Syntax { line: usize, why: String },
}

/// Path (relative, `/`-separated) → sha256 (lowercase hex).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub files: BTreeMap<String, String>,
}

/// What checking a folder against its manifest found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verified {
    pub good: usize,
    /// Listed, and not there.
    pub missing: Vec<String>,
    /// There, with other bytes than listed.
    pub changed: Vec<String>,
    /// There, and not listed.
    pub unexpected: Vec<String>,
}

impl Verified {
    pub fn is_intact(&self) -> bool {
        self.missing.is_empty() && self.changed.is_empty() && self.unexpected.is_empty()
    }
}

impl Manifest {
    /// Hashes every file under `root` but the manifest itself, reading each one in pieces,
    /// so that a release of any size needs little memory.
    pub fn of_dir(root: &Path) -> Result<Manifest, ManifestError> {
        let mut files = BTreeMap::new();
        for path in files_under(root)? {
            let name = relative_name(root, &path)?;
            if name == MANIFEST {
                continue;
            }
            files.insert(name, sha256_of(&path)?);
        }
        Ok(Manifest { files })
    }

    /// The manifest as `SHA256SUMS` text.
    pub fn to_text(&self) -> String {
        self.files
            .iter()
            .map(|(name, hash)| format!("{hash}  {name}\n"))
            .collect()
    }

    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let mut files = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let syntax = |why: &str| ManifestError::Syntax {
                line: i + 1,
                why: why.to_owned(),
            };
            if line.is_empty() {
                continue;
            }
            // "<hash>  <name>" (text mode) or "<hash> *<name>" (binary mode): the same here.
            let (hash, rest) = line
                .split_once(' ')
                .ok_or_else(|| syntax("expected \"<sha256>  <path>\""))?;
            let name = rest
                .strip_prefix(' ')
                .or_else(|| rest.strip_prefix('*'))
                .ok_or_else(|| syntax("expected two spaces or \" *\" after the hash"))?;
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(syntax("the hash is not 64 hexadecimal digits"));
            }
            if name.is_empty() || name.starts_with('/') || name.split('/').any(|p| p == "..") {
                return Err(syntax(
                    "the path must be relative and stay inside the release",
                ));
            }
            if files
                .insert(name.to_owned(), hash.to_ascii_lowercase())
                .is_some()
            {
                return Err(syntax("the path is listed twice"));
            }
        }
        Ok(Manifest { files })
    }

    /// Writes `SHA256SUMS` at the root of the release.
    pub fn write(&self, root: &Path) -> Result<(), ManifestError> {
        let path = root.join(MANIFEST);
        std::fs::write(&path, self.to_text()).map_err(|source| ManifestError::Io { path, source })
    }

    /// Reads `SHA256SUMS` at the root of a download.
    pub fn read(root: &Path) -> Result<Manifest, ManifestError> {
        let path = root.join(MANIFEST);
        let text =
            std::fs::read_to_string(&path).map_err(|source| ManifestError::Io { path, source })?;
        Manifest::parse(&text)
    }

    /// Checks the files under `root` against this manifest, calling `progress` once per file
    /// hashed.
    pub fn verify(
        &self,
        root: &Path,
        mut progress: impl FnMut(&str),
    ) -> Result<Verified, ManifestError> {
        let mut found = Verified::default();
        for (name, want) in &self.files {
            let path = root.join(name);
            match sha256_of(&path) {
                Ok(got) if &got == want => found.good += 1,
                Ok(_) => found.changed.push(name.clone()),
                Err(ManifestError::Io { source, .. })
                    if source.kind() == io::ErrorKind::NotFound =>
                {
                    found.missing.push(name.clone())
                }
                Err(e) => return Err(e),
            }
            progress(name);
        }
        for path in files_under(root)? {
            let name = relative_name(root, &path)?;
            if name != MANIFEST && !self.files.contains_key(&name) {
                found.unexpected.push(name);
            }
        }
        Ok(found)
    }
}

/// Every regular file under `root`, in a stable order; links are not followed.
fn files_under(root: &Path) -> Result<Vec<PathBuf>, ManifestError> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.map_err(|e| ManifestError::Io {
            path: e.path().unwrap_or(root).to_owned(),
            source: e.into(),
        })?;
        if entry.file_type().is_file() {
            out.push(entry.into_path());
        }
    }
    Ok(out)
}

fn relative_name(root: &Path, path: &Path) -> Result<String, ManifestError> {
    let rel = path
        .strip_prefix(root)
        .map_err(|_| ManifestError::Name(path.to_owned()))?;
    let mut parts = Vec::new();
    for part in rel.components() {
        let part = part
            .as_os_str()
            .to_str()
            .filter(|p| !p.contains(['\n', '\r', '\\']))
            .ok_or_else(|| ManifestError::Name(path.to_owned()))?;
        parts.push(part);
    }
    Ok(parts.join("/"))
}

fn sha256_of(path: &Path) -> Result<String, ManifestError> {
    let io = |source| ManifestError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn release(root: &Path) {
        std::fs::create_dir_all(root.join("train/COVID-19")).expect("mkdir");
        std::fs::write(root.join("train/COVID-19/a.png"), b"not really a png").expect("write");
        std::fs::write(root.join("metadata.csv"), b"file_name,label\n").expect("write");
        std::fs::write(root.join("README.md"), b"# card\n").expect("write");
    }

    /// GNU coreutils' own check of the manifest: the one a user without lunghub runs.
    fn sha256sum_check(root: &Path) -> bool {
        Command::new("sha256sum")
            .args(["--check", "--strict", "--quiet", MANIFEST])
            .current_dir(root)
            .output()
            .expect("sha256sum (GNU coreutils) must be installed")
            .status
            .success()
    }

    #[test]
    fn sha256sum_accepts_the_manifest_and_both_catch_what_changed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        release(root);
        let manifest = Manifest::of_dir(root).expect("manifest");
        assert_eq!(manifest.files.len(), 3);
        manifest.write(root).expect("write");
        assert!(sha256sum_check(root));
        let read = Manifest::read(root).expect("read");
        assert_eq!(read, manifest);
        let mut seen = 0;
        let ok = read.verify(root, |_| seen += 1).expect("verify");
        assert!(ok.is_intact(), "{ok:?}");
        assert_eq!((ok.good, seen), (3, 3));

        std::fs::write(root.join("README.md"), b"# card, edited\n").expect("write");
        std::fs::remove_file(root.join("metadata.csv")).expect("rm");
        std::fs::write(root.join("train/extra.png"), b"x").expect("write");
        assert!(!sha256sum_check(root));
        let found = read.verify(root, |_| {}).expect("verify");
        assert_eq!(found.good, 1);
        assert_eq!(found.changed, vec!["README.md".to_owned()]);
        assert_eq!(found.missing, vec!["metadata.csv".to_owned()]);
        assert_eq!(found.unexpected, vec!["train/extra.png".to_owned()]);
        assert!(!found.is_intact());
    }

    #[test]
    fn a_manifest_that_escapes_the_release_or_is_malformed_is_refused() {
        let hash = "a".repeat(64);
        for bad in [
            format!("{hash}  ../etc/passwd"),
            format!("{hash}  /etc/passwd"),
            format!("{hash} x"),
            "abc  file".to_owned(),
            format!("{hash}  a\n{hash}  a"),
        ] {
            assert!(
                matches!(Manifest::parse(&bad), Err(ManifestError::Syntax { .. })),
                "{bad:?}"
            );
        }
        let binary = Manifest::parse(&format!("{hash} *dir/file.png")).expect("binary mode");
        assert_eq!(binary.files["dir/file.png"], hash);
    }
}
