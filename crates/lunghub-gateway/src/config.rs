//! The gateway's TOML configuration. Relative paths are taken from the configuration
//! file's folder, so a hospital can keep the config, the token and the key side by side.
//!
//! ```toml
//! stow_url = "https://lunghub.example.org/dicomweb/studies"
//! token_file = "site.token"          # the site token the coordinator issued
//! state_dir = "/var/lib/lunghub-gateway"
//! # key_file = "site.key"            # default: state_dir/site.key, created on first start
//! # profile = "profile.toml"         # default: lunghub's own de-identification profile
//! # keep_days = 14                   # originals in done/ and quarantine/ are purged after
//! # extra_ca = "hospital-ca.pem"     # trusted besides the system's certificate authorities
//!
//! [dicom]                            # a C-STORE SCP for the PACS
//! listen = "0.0.0.0:11112"
//! ae_title = "LUNGHUB"
//! peers = ["PACS@10.1.2.3"]          # calling AE titles, optionally @ their addresses
//!
//! [folder]                           # a watched folder
//! watch = "/srv/lunghub/incoming"
//!
//! [status]                           # the local status page
//! listen = "127.0.0.1:8390"
//! ```

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the gateway configuration {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("gateway configuration {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    stow_url: String,
    token_file: Option<PathBuf>,
    state_dir: PathBuf,
    key_file: Option<PathBuf>,
    profile: Option<PathBuf>,
    #[serde(default = "default_keep_days")]
    keep_days: u32,
    extra_ca: Option<PathBuf>,
    #[serde(default = "default_batch_files")]
    batch_files: usize,
    #[serde(default = "default_batch_bytes")]
    batch_bytes: u64,
    #[serde(default = "default_retry_max_seconds")]
    retry_max_seconds: u64,
    dicom: Option<DicomFile>,
    folder: Option<FolderFile>,
    status: Option<StatusFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DicomFile {
    listen: SocketAddr,
    #[serde(default = "default_ae_title")]
    ae_title: String,
    peers: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FolderFile {
    watch: PathBuf,
    #[serde(default = "default_poll_seconds")]
    poll_seconds: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusFile {
    listen: SocketAddr,
}

fn default_keep_days() -> u32 {
    14
}
fn default_batch_files() -> usize {
    32
}
fn default_batch_bytes() -> u64 {
    64 << 20
}
fn default_retry_max_seconds() -> u64 {
    300
}
fn default_ae_title() -> String {
    "LUNGHUB".into()
}
fn default_poll_seconds() -> u64 {
    2
}

/// Where the gateway sends, with what, and what it listens on.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub stow_url: reqwest::Url,
    /// The site token, read from its file; `None` for a STOW-RS server without
    /// authentication (a local Orthanc).
    pub token: Option<String>,
    pub state_dir: PathBuf,
    pub key_file: PathBuf,
    pub profile: Option<PathBuf>,
    pub keep_days: u32,
    pub extra_ca: Option<PathBuf>,
    pub batch_files: usize,
    pub batch_bytes: u64,
    pub retry_max: Duration,
    pub dicom: Option<DicomInput>,
    pub folder: Option<FolderInput>,
    pub status_listen: Option<SocketAddr>,
}

#[derive(Debug, Clone)]
pub struct DicomInput {
    pub listen: SocketAddr,
    pub ae_title: String,
    pub peers: Vec<lunghub_dimse::Peer>,
}

#[derive(Debug, Clone)]
pub struct FolderInput {
    pub watch: PathBuf,
    pub poll: Duration,
}

/// The gateway's one site, as the SCP's peers name it: the gateway serves one hospital.
pub const SITE: &str = "this-site";

impl GatewayConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses `text`, the contents of the configuration at `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        };
        let file: File = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let at = |p: &Path| {
            if p.is_absolute() {
                p.to_owned()
            } else {
                base.join(p)
            }
        };
        let stow_url = reqwest::Url::parse(&file.stow_url)
            .map_err(|e| invalid(format!("stow_url {:?}: {e}", file.stow_url)))?;
        check_transport(&stow_url).map_err(invalid)?;
        let token = match &file.token_file {
            None => None,
            Some(p) => {
                let p = at(p);
                let text = std::fs::read_to_string(&p)
                    .map_err(|e| invalid(format!("token_file {}: {e}", p.display())))?;
                let token = text.trim().to_owned();
                if token.is_empty() || !token.chars().all(|c| c.is_ascii_graphic()) {
                    return Err(invalid(format!(
                        "token_file {} does not hold one token",
                        p.display()
                    )));
                }
                Some(token)
            }
        };
        if file.batch_files == 0 || file.batch_bytes == 0 {
            return Err(invalid(
                "batch_files and batch_bytes must be above 0".into(),
            ));
        }
        if file.retry_max_seconds == 0 {
            return Err(invalid("retry_max_seconds must be above 0".into()));
        }
        let state_dir = at(&file.state_dir);
        let dicom = match file.dicom {
            None => None,
            Some(d) => {
                let ae_title = lunghub_dimse::config::ae_title(&d.ae_title)
                    .map_err(|e| invalid(format!("[dicom] {e}")))?;
                let peers = d
                    .peers
                    .iter()
                    .map(|p| peer(p).map_err(|e| invalid(format!("[dicom] peers: {e}"))))
                    .collect::<Result<Vec<_>, _>>()?;
                if peers.is_empty() {
                    return Err(invalid(
                        "[dicom] peers is empty: give the PACS's calling AE title, or nobody can send"
                            .into(),
                    ));
                }
                Some(DicomInput {
                    listen: d.listen,
                    ae_title,
                    peers,
                })
            }
        };
        let folder = match file.folder {
            None => None,
            Some(f) => {
                if f.poll_seconds == 0 {
                    return Err(invalid("[folder] poll_seconds must be above 0".into()));
                }
                Some(FolderInput {
                    watch: at(&f.watch),
                    poll: Duration::from_secs(f.poll_seconds),
                })
            }
        };
        Ok(GatewayConfig {
            stow_url,
            token,
            key_file: file
                .key_file
                .as_deref()
                .map(at)
                .unwrap_or_else(|| state_dir.join("site.key")),
            state_dir,
            profile: file.profile.as_deref().map(at),
            keep_days: file.keep_days,
            extra_ca: file.extra_ca.as_deref().map(at),
            batch_files: file.batch_files,
            batch_bytes: file.batch_bytes,
            retry_max: Duration::from_secs(file.retry_max_seconds),
            dicom,
            folder,
            status_listen: file.status.map(|s| s.listen),
        })
    }
}

/// De-identified data still says which hospital it comes from and when; it travels
/// encrypted. Plain HTTP is allowed only to this machine (a local Orthanc, a test).
fn check_transport(url: &reqwest::Url) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" => {
            let host = url.host_str().unwrap_or_default();
            let local = host == "localhost"
                || host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if local {
                Ok(())
            } else {
                Err(format!(
                    "stow_url {url} is plain http to another machine: use https, so that what \
                     leaves the hospital is encrypted and the server's certificate is checked"
                ))
            }
        }
        other => Err(format!("stow_url scheme {other:?}: use https")),
    }
}

/// `CALLING_AE` or `CALLING_AE@IP[,IP...]`: the gateway has one site, so no site is named.
fn peer(text: &str) -> Result<lunghub_dimse::Peer, String> {
    let (ae, addresses) = match text.split_once('@') {
        Some((ae, list)) => (ae, Some(list)),
        None => (text, None),
    };
    let addresses = match addresses {
        None => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|a| {
                a.trim()
                    .parse::<IpAddr>()
                    .map(|ip| ip.to_canonical())
                    .map_err(|_| format!("{:?} is not an IP address", a.trim()))
            })
            .collect::<Result<_, _>>()?,
    };
    Ok(lunghub_dimse::Peer {
        ae_title: lunghub_dimse::config::ae_title(ae).map_err(|e| e.to_string())?,
        site: SITE.into(),
        addresses,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<GatewayConfig, ConfigError> {
        GatewayConfig::parse(text, Path::new("/etc/lunghub/gateway.toml"))
    }

    #[test]
    fn paths_are_relative_to_the_config_and_defaults_fill_the_rest() {
        let c = parse(
            "stow_url = \"https://lh.example.org/dicomweb/studies\"\nstate_dir = \"state\"\n\
             [dicom]\nlisten = \"0.0.0.0:11112\"\npeers = [\"PACS@10.1.2.3\", \"CT1\"]\n",
        )
        .expect("valid");
        assert_eq!(c.state_dir, Path::new("/etc/lunghub/state"));
        assert_eq!(c.key_file, Path::new("/etc/lunghub/state/site.key"));
        assert_eq!(c.keep_days, 14);
        let d = c.dicom.expect("dicom");
        assert_eq!(d.ae_title, "LUNGHUB");
        assert_eq!(d.peers[0].ae_title, "PACS");
        assert_eq!(
            d.peers[0].addresses,
            vec!["10.1.2.3".parse::<IpAddr>().unwrap()]
        );
        assert!(d.peers[1].addresses.is_empty());
    }

    #[test]
    fn plain_http_is_refused_except_to_this_machine() {
        let with = |url: &str| parse(&format!("stow_url = \"{url}\"\nstate_dir = \"s\"\n"));
        assert!(with("http://127.0.0.1:8042/dicom-web/studies").is_ok());
        assert!(with("http://localhost:8080/dicomweb/studies").is_ok());
        let e = with("http://lh.example.org/dicomweb/studies").expect_err("plain http");
        assert!(e.to_string().contains("use https"), "{e}");
        assert!(with("ftp://lh.example.org/").is_err());
    }

    #[test]
    fn unknown_keys_and_bad_peers_are_named() {
        let e = parse("stow_url = \"https://a/\"\nstate_dir = \"s\"\nkeep_dayz = 3\n")
            .expect_err("typo");
        assert!(e.to_string().contains("keep_dayz"), "{e}");
        let e = parse(
            "stow_url = \"https://a/\"\nstate_dir = \"s\"\n[dicom]\nlisten = \"0.0.0.0:1\"\npeers = [\"PACS@nowhere\"]\n",
        )
        .expect_err("bad address");
        assert!(e.to_string().contains("nowhere"), "{e}");
    }
}
