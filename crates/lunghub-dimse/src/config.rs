//! Who may send to lunghub, and the limits every association runs under.

use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

/// A sending application entity (a hospital's PACS or modality): its calling AE title, the
/// site its images belong to, and optionally the only addresses it may connect from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub ae_title: String,
    pub site: String,
    /// Empty: any address.
    pub addresses: Vec<IpAddr>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("a peer is written CALLING_AE=SITE[@IP[,IP...]], not {0:?}")]
    PeerSyntax(String),
    #[error("AE title {0:?} is not 1 to 16 printable ASCII characters without a backslash")]
    AeTitle(String),
    #[error("site name {0:?} has no letter or digit")]
    Site(String),
    #[error("{0:?} is not an IP address")]
    Address(String),
    #[error("calling AE title {0:?} is given twice")]
    DuplicatePeer(String),
    #[error("no peers: give at least one CALLING_AE=SITE, or nobody can send")]
    NoPeers,
    #[error("{0}")]
    Limit(String),
}

/// Checks an AE title (PS3.5 AE: at most 16 characters of the default repertoire, no
/// backslash or control characters, not only spaces) and trims its spaces, which are not
/// significant.
pub fn ae_title(text: &str) -> Result<String, ConfigError> {
    let trimmed = text.trim_matches(' ');
    let ok = !trimmed.is_empty()
        && trimmed.len() <= 16
        && trimmed
            .chars()
            .all(|c| c.is_ascii() && !c.is_ascii_control() && c != '\\');
    if ok {
        Ok(trimmed.to_owned())
    } else {
        Err(ConfigError::AeTitle(text.to_owned()))
    }
}

impl FromStr for Peer {
    type Err = ConfigError;

    /// `CALLING_AE=SITE`, or `CALLING_AE=SITE@IP[,IP...]` to accept only those addresses.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (ae, rest) = text
            .split_once('=')
            .ok_or_else(|| ConfigError::PeerSyntax(text.to_owned()))?;
        let (site, addresses) = match rest.rsplit_once('@') {
            Some((site, list)) => {
                let addresses = list
                    .split(',')
                    .map(|a| {
                        a.trim()
                            .parse::<IpAddr>()
                            .map(|ip| ip.to_canonical())
                            .map_err(|_| ConfigError::Address(a.trim().to_owned()))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                (site, addresses)
            }
            None => (rest, Vec::new()),
        };
        let site = site.trim();
        if !site.chars().any(char::is_alphanumeric) {
            return Err(ConfigError::Site(site.to_owned()));
        }
        Ok(Peer {
            ae_title: ae_title(ae)?,
            site: site.to_owned(),
            addresses,
        })
    }
}

/// Everything the SCP needs to know besides the intake pipeline it feeds.
#[derive(Debug, Clone)]
pub struct ScpConfig {
    /// The called AE title lunghub answers to.
    pub ae_title: String,
    pub peers: Vec<Peer>,
    /// Associations served at once; more are rejected (transient, local limit exceeded).
    pub max_associations: usize,
    /// The largest PDU lunghub accepts (advertised in A-ASSOCIATE-AC); larger ones abort
    /// the association.
    pub max_pdu: u32,
    /// An association that sends nothing for this long is dropped.
    pub idle_timeout: Duration,
    /// A new connection must have sent its whole A-ASSOCIATE-RQ within this time, before it
    /// is given one of the `max_associations` slots; otherwise it is closed. Without this,
    /// connections that never speak held every slot for the idle timeout, renewably.
    pub greeting_timeout: Duration,
    /// Connections open at once from one address, waiting or associated.
    pub max_per_address: usize,
    /// The largest data set accepted in one C-STORE; larger ones are read to the end,
    /// dropped, and answered with status A700 (out of resources).
    pub max_instance_bytes: u64,
    /// Write a line per association, and per refused instance, to standard error.
    pub log: bool,
}

impl ScpConfig {
    pub const DEFAULT_AE_TITLE: &'static str = "LUNGHUB";
    pub const DEFAULT_MAX_ASSOCIATIONS: usize = 16;
    pub const DEFAULT_MAX_PDU: u32 = 131_072;
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
    pub const DEFAULT_GREETING_TIMEOUT: Duration = Duration::from_secs(5);
    pub const DEFAULT_MAX_PER_ADDRESS: usize = 8;
    pub const DEFAULT_MAX_INSTANCE_BYTES: u64 = 1 << 30;

    pub fn new(ae_title: &str, peers: Vec<Peer>) -> Result<Self, ConfigError> {
        let config = ScpConfig {
            ae_title: self::ae_title(ae_title)?,
            peers,
            max_associations: Self::DEFAULT_MAX_ASSOCIATIONS,
            max_pdu: Self::DEFAULT_MAX_PDU,
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
            greeting_timeout: Self::DEFAULT_GREETING_TIMEOUT,
            max_per_address: Self::DEFAULT_MAX_PER_ADDRESS,
            max_instance_bytes: Self::DEFAULT_MAX_INSTANCE_BYTES,
            log: true,
        };
        config.check()?;
        Ok(config)
    }

    /// Checks what `new` checks, for a configuration whose fields were changed after.
    pub fn check(&self) -> Result<(), ConfigError> {
        ae_title(&self.ae_title)?;
        if self.peers.is_empty() {
            return Err(ConfigError::NoPeers);
        }
        for (i, p) in self.peers.iter().enumerate() {
            if self.peers[..i].iter().any(|q| q.ae_title == p.ae_title) {
                return Err(ConfigError::DuplicatePeer(p.ae_title.clone()));
            }
        }
        if self.max_associations == 0 {
            return Err(ConfigError::Limit(
                "at least one association must be allowed".into(),
            ));
        }
        if !(4096..=16 << 20).contains(&self.max_pdu) {
            return Err(ConfigError::Limit(format!(
                "the maximum PDU size must be 4096 to 16777216 bytes, not {}",
                self.max_pdu
            )));
        }
        if self.max_per_address == 0 {
            return Err(ConfigError::Limit(
                "at least one connection per address must be allowed".into(),
            ));
        }
        if self.greeting_timeout.is_zero() {
            return Err(ConfigError::Limit(
                "the timeout for the first PDU must be positive".into(),
            ));
        }
        if self.idle_timeout.is_zero() {
            return Err(ConfigError::Limit(
                "the idle timeout must be positive".into(),
            ));
        }
        Ok(())
    }

    /// The peer that calls itself `calling`, if it may connect from `address`.
    pub(crate) fn admit(&self, calling: &str, address: IpAddr) -> Option<&Peer> {
        let address = address.to_canonical();
        self.peers.iter().find(|p| {
            p.ae_title == calling && (p.addresses.is_empty() || p.addresses.contains(&address))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_parse() {
        let p: Peer = "PACS=St Mary's Hospital".parse().unwrap();
        assert_eq!(p.ae_title, "PACS");
        assert_eq!(p.site, "St Mary's Hospital");
        assert!(p.addresses.is_empty());
        let p: Peer = " US1 =Clinic@10.0.0.1, ::ffff:10.0.0.2,::1"
            .parse()
            .unwrap();
        assert_eq!(p.ae_title, "US1");
        assert_eq!(p.site, "Clinic");
        assert_eq!(
            p.addresses,
            vec![
                "10.0.0.1".parse::<IpAddr>().unwrap(),
                "10.0.0.2".parse().unwrap(),
                "::1".parse().unwrap()
            ]
        );
    }

    #[test]
    fn bad_peers_are_refused() {
        assert!(matches!(
            "PACS".parse::<Peer>(),
            Err(ConfigError::PeerSyntax(_))
        ));
        assert!(matches!(
            "=Site".parse::<Peer>(),
            Err(ConfigError::AeTitle(_))
        ));
        assert!(matches!(
            "ABCDEFGHIJKLMNOPQ=Site".parse::<Peer>(),
            Err(ConfigError::AeTitle(_))
        ));
        assert!(matches!(
            "A\\B=Site".parse::<Peer>(),
            Err(ConfigError::AeTitle(_))
        ));
        assert!(matches!(
            "PACS= - ".parse::<Peer>(),
            Err(ConfigError::Site(_))
        ));
        assert!(matches!(
            "PACS=Site@host".parse::<Peer>(),
            Err(ConfigError::Address(_))
        ));
        assert!(matches!(
            "PACS=Site@".parse::<Peer>(),
            Err(ConfigError::Address(_))
        ));
    }

    #[test]
    fn admission_checks_title_and_address() {
        let config = ScpConfig::new(
            "LUNGHUB",
            vec!["PACS=A@10.0.0.1".parse().unwrap(), "US=B".parse().unwrap()],
        )
        .unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            config
                .admit("PACS", ip("10.0.0.1"))
                .map(|p| p.site.as_str()),
            Some("A")
        );
        assert_eq!(
            config
                .admit("PACS", ip("::ffff:10.0.0.1"))
                .map(|p| p.site.as_str()),
            Some("A")
        );
        assert!(config.admit("PACS", ip("10.0.0.2")).is_none());
        assert!(config.admit("pacs", ip("10.0.0.1")).is_none());
        assert!(config.admit("US", ip("192.168.1.9")).is_some());
        assert!(config.admit("OTHER", ip("10.0.0.1")).is_none());
    }

    #[test]
    fn limits_are_checked() {
        assert_eq!(
            ScpConfig::new("LUNGHUB", vec![]).unwrap_err(),
            ConfigError::NoPeers
        );
        let twice = vec!["A=x".parse().unwrap(), "A=y".parse().unwrap()];
        assert!(matches!(
            ScpConfig::new("LUNGHUB", twice),
            Err(ConfigError::DuplicatePeer(_))
        ));
        let mut c = ScpConfig::new("LUNGHUB", vec!["A=x".parse().unwrap()]).unwrap();
        c.max_pdu = 100;
        assert!(c.check().is_err());
    }
}
