//! Form fields as people send them: parsed leniently, validated strictly, and every
//! problem reported in words next to the form, with nothing changed.

use crate::i18n::{Lang, n};

/// Decodes `application/x-www-form-urlencoded` text into pairs.
pub fn pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                match s
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A submitted form.
#[derive(Debug, Clone, Default)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    pub fn get(&self, key: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// Every value of a repeated field (checkboxes).
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn checked(&self, key: &str) -> bool {
        matches!(self.get(key), "on" | "true" | "1" | "yes")
    }
}

/// Problems found in a form, in the order of its fields, written in the form's language.
#[derive(Debug, Default)]
pub struct Problems(pub Vec<String>, pub Lang);

impl Problems {
    pub fn in_lang(lang: Lang) -> Problems {
        Problems(Vec::new(), lang)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn add(&mut self, why: impl Into<String>) {
        self.0.push(why.into());
    }

    /// A text field, trimmed: present if required, no longer than `max_chars`, and free
    /// of control characters (line breaks allowed only where `multiline`).
    pub fn text(
        &mut self,
        fields: &Fields,
        key: &str,
        label: &str,
        required: bool,
        max_chars: usize,
        multiline: bool,
    ) -> String {
        let value = fields.get(key).trim().to_owned();
        if required && value.is_empty() {
            self.add(self.1.ta("problem-required", &[("label", label.into())]));
        } else if value.chars().count() > max_chars {
            self.add(self.1.ta(
                "problem-too-long",
                &[("label", label.into()), ("max", n(max_chars as f64))],
            ));
        } else if value
            .chars()
            .any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')))
        {
            self.add(self.1.ta("problem-characters", &[("label", label.into())]));
        }
        value
    }

    pub fn email(&mut self, fields: &Fields, key: &str) -> String {
        let value = fields.get(key).trim().to_lowercase();
        if !is_email(&value) {
            self.add(self.1.t("problem-email"));
        }
        value
    }

    pub fn new_password(&mut self, fields: &Fields, key: &str, repeat: &str) -> String {
        let value = fields.get(key).to_owned();
        let n = value.chars().count();
        if n < 10 {
            self.add(self.1.t("problem-password-short"));
        } else if n > 256 {
            self.add(self.1.t("problem-password-long"));
        } else if value != fields.get(repeat) {
            self.add(self.1.t("problem-passwords-differ"));
        }
        value
    }
}

pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    s.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';' | '"')
        })
        && !domain.contains('@')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlencoded_pairs_decode() {
        let p = pairs("a=1&name=Ada+Lovelace&x=%C3%A9%21&bad=%zz&empty=");
        assert_eq!(p[1], ("name".into(), "Ada Lovelace".into()));
        assert_eq!(p[2].1, "é!");
        assert_eq!(p[3].1, "%zz");
        assert_eq!(p[4].1, "");
        assert_eq!(url_encode("/a b?c"), "/a%20b%3Fc");
    }

    #[test]
    fn fields_are_checked_with_clear_messages() {
        let f = Fields(pairs("name=&bio="));
        let mut p = Problems::default();
        p.text(&f, "name", "Name", true, 10, false);
        assert_eq!(p.0, ["Name is required."]);
        let f = Fields(vec![
            ("name".into(), "x".repeat(11)),
            ("email".into(), "not-an-email".into()),
        ]);
        let mut p = Problems::default();
        p.text(&f, "name", "Name", true, 10, false);
        p.email(&f, "email");
        assert_eq!(p.0.len(), 2);
        assert!(p.0[0].contains("at most 10"));
        assert!(is_email("ada@example.org"));
        assert!(!is_email("ada@example"));
        assert!(!is_email("a da@example.org"));
    }
}

/// A urlencoded form body as [`Fields`], whatever its content type claims; the CSRF
/// middleware has already bounded its size.
pub struct FormFields(pub Fields);

impl<S: Send + Sync> axum::extract::FromRequest<S> for FormFields {
    type Rejection = crate::WebError;

    async fn from_request(req: axum::extract::Request, _: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::to_bytes(req.into_body(), crate::MAX_FORM_BYTES)
            .await
            .map_err(|_| {
                crate::WebError::BadRequest(format!(
                    "The form is larger than {} KiB.",
                    crate::MAX_FORM_BYTES / 1024
                ))
            })?;
        Ok(FormFields(Fields(pairs(&String::from_utf8_lossy(&bytes)))))
    }
}
