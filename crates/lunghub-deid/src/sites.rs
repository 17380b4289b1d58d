//! The server's de-identification: one profile, every site under a key of its own.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::{DeidError, Deidentifier, Limits, Profile, ServerSecret, SiteKey};

/// What the central server de-identifies itself (web upload, direct STOW-RS or C-STORE, a
/// folder ingest) goes through [`SiteDeidentifiers::for_site`], keyed with that site's key
/// from [`ServerSecret::site_key`]. There is deliberately no way to de-identify under the
/// secret itself.
pub struct SiteDeidentifiers {
    secret: ServerSecret,
    /// Profile, limits and naming; its key is never used.
    template: Deidentifier,
    sites: RwLock<HashMap<String, Arc<Deidentifier>>>,
    /// Site id → the fingerprint of its registered gateway's key.
    gateways: RwLock<HashMap<String, String>>,
}

impl SiteDeidentifiers {
    pub fn new(profile: Profile, secret: ServerSecret) -> Result<Self, DeidError> {
        // A throwaway key: every real de-identifier gets its site's key from `with_key`.
        let template = Deidentifier::new(profile, SiteKey::from_bytes([0; 32]))?;
        Ok(SiteDeidentifiers {
            secret,
            template,
            sites: RwLock::new(HashMap::new()),
            gateways: RwLock::new(HashMap::new()),
        })
    }

    /// `site_id`'s de-identifier, made on first use and then shared.
    pub fn for_site(&self, site_id: &str) -> Arc<Deidentifier> {
        if let Some(d) = self
            .sites
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(site_id)
        {
            return d.clone();
        }
        // Made under the write lock, so that a gateway registered meanwhile (which removes
        // the site's entry under the same lock) is never overwritten by a stale one.
        let mut sites = self
            .sites
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(d) = sites.get(site_id) {
            return d.clone();
        }
        let gateway = self
            .gateways
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(site_id)
            .cloned();
        let made = Arc::new(
            self.template
                .with_key(self.secret.site_key(site_id))
                .trusting_gateway(gateway.as_deref()),
        );
        sites.insert(site_id.to_owned(), made.clone());
        made
    }

    /// Registers (or, with `None`, forgets) the fingerprint of `site_id`'s gateway key: the
    /// site's files that carry it are checked, not keyed again (see
    /// [`Deidentifier::trusting_gateway`]). Takes effect for the next file.
    pub fn set_gateway(&self, site_id: &str, fingerprint: Option<&str>) {
        {
            let mut gateways = self
                .gateways
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            match fingerprint {
                Some(f) => gateways.insert(site_id.to_owned(), f.to_owned()),
                None => gateways.remove(site_id),
            };
        }
        self.sites
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(site_id);
    }

    /// `site_id`'s key, for pseudonyms of identifiers that come in metadata files.
    pub fn site_key(&self, site_id: &str) -> SiteKey {
        self.secret.site_key(site_id)
    }

    pub fn secret(&self) -> &ServerSecret {
        &self.secret
    }

    pub fn profile(&self) -> &Profile {
        self.template.profile()
    }

    pub fn limits(&self) -> &Limits {
        self.template.limits()
    }

    /// See [`Deidentifier::set_file_names`]; applies to every site.
    pub fn set_file_names(&mut self, on: bool) {
        self.template.set_file_names(on);
        self.forget_sites();
    }

    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.template = self.template.with_limits(limits);
        self.forget_sites();
        self
    }

    /// Drops the sites' de-identifiers after the template changed: they are made again from
    /// it on first use.
    fn forget_sites(&mut self) {
        self.sites
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Outcome;

    #[test]
    fn each_site_marks_its_files_with_its_own_key() {
        let secret = ServerSecret::new(SiteKey::from_bytes([5; 32]));
        let sites =
            SiteDeidentifiers::new(Profile::lunghub_default(), secret.clone()).expect("profile");
        let a = sites.for_site("hospital-a");
        assert!(Arc::ptr_eq(&a, &sites.for_site("hospital-a")), "shared");
        assert_eq!(
            a.key_fingerprint(),
            secret.site_key("hospital-a").fingerprint()
        );
        assert_ne!(
            a.key_fingerprint(),
            sites.for_site("hospital-b").key_fingerprint()
        );
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\0IEND\0\0\0\0";
        let name = |d: &Deidentifier| match d.deidentify(png) {
            Ok(Outcome::Written(f)) => f.file_name,
            other => panic!("{other:?}"),
        };
        assert_ne!(name(&a), name(&sites.for_site("hospital-b")));
    }
}
