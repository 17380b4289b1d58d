//! The site in Italian and English, with Project Fluent.
//!
//! Every text a page or a mail shows is a Fluent message in `locales/{en,it}.ftl`, built
//! into the binary. A visitor's language is, in order: the account's preference, the
//! header switch (a cookie), the browser's `Accept-Language`, else English. English is the
//! fallback for a browser that asks for neither, because the group's data scientists are
//! international; the Italian hospitals' browsers ask for Italian and get it.
//!
//! A message missing from a language is a bug a unit test catches (both files must have the
//! same messages with the same variables); at run time the message's id is shown instead,
//! which is visible and harmless.

use std::borrow::Cow;
use std::sync::LazyLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use unic_langid::LanguageIdentifier;

/// A language the site speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Lang {
    #[default]
    En,
    It,
}

/// The name of the cookie the header switch sets.
pub const LANG_COOKIE: &str = "lunghub_lang";

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::It];

    /// The BCP 47 tag, as `html lang` and `Content-Language` take it.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::It => "it",
        }
    }

    /// The language's name in itself, for the switch.
    pub fn own_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::It => "Italiano",
        }
    }

    pub fn parse(code: &str) -> Option<Lang> {
        Lang::ALL
            .into_iter()
            .find(|l| l.code().eq_ignore_ascii_case(code.trim()))
    }

    /// The best of our languages for an `Accept-Language` header (RFC 9110 §12.5.4), by its
    /// quality values; `None` when it asks for neither.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        // fluent-langneg's own parser drops the weights and keeps the order; browsers send
        // them in order, but the header's meaning is in the weights, so sort by them first.
        let mut weighted: Vec<(f32, LanguageIdentifier)> = header
            .split(',')
            .filter_map(|item| {
                let mut parts = item.split(';');
                let tag = parts.next()?.trim();
                let quality = parts
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
                (quality > 0.0 && tag != "*")
                    .then(|| tag.parse().ok().map(|id| (quality, id)))
                    .flatten()
            })
            .collect();
        weighted.sort_by(|a, b| b.0.total_cmp(&a.0));
        let requested: Vec<LanguageIdentifier> = weighted.into_iter().map(|(_, id)| id).collect();
        let available: Vec<LanguageIdentifier> = Lang::ALL
            .iter()
            .filter_map(|l| l.code().parse().ok())
            .collect();
        fluent_langneg::negotiate_languages(
            &requested,
            &available,
            None,
            fluent_langneg::NegotiationStrategy::Lookup,
        )
        .first()
        .and_then(|id| Lang::parse(id.language.as_str()))
    }

    /// The message `id`, without variables.
    pub fn t(self, id: &str) -> String {
        self.format(id, None, true)
    }

    /// The message `id` with its variables, given as name and value.
    pub fn ta<'a>(self, id: &str, args: &[(&'a str, FluentValue<'a>)]) -> String {
        let mut fluent_args = FluentArgs::new();
        for (name, value) in args {
            fluent_args.set(*name, value.clone());
        }
        self.format(id, Some(&fluent_args), true)
    }

    /// `warn`: say on stderr when the message is missing or lacks a variable.
    fn format(self, id: &str, args: Option<&FluentArgs>, warn: bool) -> String {
        let bundle = CATALOGUE.bundle(self);
        let Some(pattern) = bundle.get_message(id).and_then(|m| m.value()) else {
            if warn {
                eprintln!("warning: no {} text for {id:?}", self.code());
            }
            return id.to_owned();
        };
        let mut errors = Vec::new();
        let text: Cow<str> = bundle.format_pattern(pattern, args, &mut errors);
        if warn && !errors.is_empty() {
            eprintln!("warning: the {} text {id:?}: {errors:?}", self.code());
        }
        text.into_owned()
    }

    /// The message `id` if the texts have one, else `fallback`: for names kept in the
    /// database that the texts translate when they are the seeded ones (the working tracks).
    pub fn t_or(self, id: &str, fallback: &str) -> String {
        if CATALOGUE.bundle(self).has_message(id) {
            self.t(id)
        } else {
            fallback.to_owned()
        }
    }

    /// A date as the language writes it in prose: "4 December 2026", "4 dicembre 2026".
    pub fn long_date(self, ns: i64) -> String {
        let (y, m, d) =
            lunghub_domain::calendar::civil_from_days(ns.div_euclid(86_400 * 1_000_000_000));
        self.ta(
            "date-long",
            &[
                ("day", d.into()),
                ("month", self.t(&format!("month-{m}")).into()),
                ("year", y.to_string().into()),
            ],
        )
    }
}

/// A number as a Fluent variable.
pub fn n(value: impl Into<f64>) -> FluentValue<'static> {
    FluentValue::from(value.into())
}

/// Every message of `lang` by id, formatted without its variables (each shows as
/// `{$name}`): for tests that look for one language's words on the other's pages.
pub fn texts(lang: Lang) -> Vec<(String, String)> {
    let source = SOURCES
        .iter()
        .find(|(l, _)| *l == lang)
        .map_or("", |(_, s)| *s);
    let resource = match fluent_syntax::parser::parse(source) {
        Ok(r) | Err((r, _)) => r,
    };
    resource
        .body
        .iter()
        .filter_map(|entry| match entry {
            fluent_syntax::ast::Entry::Message(m) => Some(m.id.name.to_owned()),
            _ => None,
        })
        .map(|id| {
            let text = lang.format(&id, None, false);
            (id, text)
        })
        .collect()
}

pub(crate) const SOURCES: [(Lang, &str); 2] = [
    (Lang::En, include_str!("../locales/en.ftl")),
    (Lang::It, include_str!("../locales/it.ftl")),
];

struct Catalogue {
    en: FluentBundle<FluentResource>,
    it: FluentBundle<FluentResource>,
}

impl Catalogue {
    fn bundle(&self, lang: Lang) -> &FluentBundle<FluentResource> {
        match lang {
            Lang::En => &self.en,
            Lang::It => &self.it,
        }
    }
}

static CATALOGUE: LazyLock<Catalogue> = LazyLock::new(|| Catalogue {
    en: bundle(Lang::En),
    it: bundle(Lang::It),
});

fn bundle(lang: Lang) -> FluentBundle<FluentResource> {
    let id: LanguageIdentifier = lang.code().parse().unwrap_or_default();
    let mut bundle = FluentBundle::new_concurrent(vec![id]);
    // The marks Fluent puts around variables for right-to-left scripts would only show up
    // as stray characters in titles and mail; both languages run left to right.
    bundle.set_use_isolating(false);
    let source = SOURCES
        .iter()
        .find(|(l, _)| *l == lang)
        .map_or("", |(_, s)| *s);
    let resource =
        FluentResource::try_new(source.to_owned()).unwrap_or_else(|(partial, errors)| {
            eprintln!("warning: the {} texts have errors: {errors:?}", lang.code());
            partial
        });
    if let Err(errors) = bundle.add_resource(resource) {
        eprintln!(
            "warning: the {} texts repeat messages: {errors:?}",
            lang.code()
        );
    }
    bundle
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use fluent_syntax::ast;

    use super::*;

    /// Each message's id with the names of the variables it uses.
    fn messages(source: &str) -> BTreeMap<String, BTreeSet<String>> {
        let resource = match fluent_syntax::parser::parse(source) {
            Ok(r) => r,
            Err((_, errors)) => panic!("the texts do not parse: {errors:?}"),
        };
        let mut out = BTreeMap::new();
        for entry in resource.body {
            if let ast::Entry::Message(m) = entry {
                let mut vars = BTreeSet::new();
                if let Some(p) = &m.value {
                    variables(p, &mut vars);
                }
                assert!(
                    out.insert(m.id.name.to_owned(), vars).is_none(),
                    "{} appears twice",
                    m.id.name
                );
            }
        }
        out
    }

    fn variables(pattern: &ast::Pattern<&str>, out: &mut BTreeSet<String>) {
        for element in &pattern.elements {
            if let ast::PatternElement::Placeable { expression } = element {
                expression_variables(expression, out);
            }
        }
    }

    fn expression_variables(e: &ast::Expression<&str>, out: &mut BTreeSet<String>) {
        match e {
            ast::Expression::Inline(i) => inline_variables(i, out),
            ast::Expression::Select { selector, variants } => {
                inline_variables(selector, out);
                for v in variants {
                    variables(&v.value, out);
                }
            }
        }
    }

    fn inline_variables(i: &ast::InlineExpression<&str>, out: &mut BTreeSet<String>) {
        match i {
            ast::InlineExpression::VariableReference { id } => {
                out.insert(id.name.to_owned());
            }
            ast::InlineExpression::Placeable { expression } => {
                expression_variables(expression, out)
            }
            _ => {}
        }
    }

    #[test]
    fn both_languages_have_every_message_with_the_same_variables() {
        let en = messages(SOURCES[0].1);
        let it = messages(SOURCES[1].1);
        let only_en: Vec<_> = en.keys().filter(|k| !it.contains_key(*k)).collect();
        let only_it: Vec<_> = it.keys().filter(|k| !en.contains_key(*k)).collect();
        assert!(only_en.is_empty(), "missing in Italian: {only_en:?}");
        assert!(only_it.is_empty(), "missing in English: {only_it:?}");
        for (id, vars) in &en {
            assert_eq!(
                Some(vars),
                it.get(id),
                "{id} uses other variables in Italian"
            );
        }
        assert!(en.len() > 100, "only {} messages", en.len());
    }

    /// Every message id the code names (a string literal given to `t`/`ta`) exists.
    #[test]
    fn every_message_the_code_asks_for_exists() {
        let en = messages(SOURCES[0].1);
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut missing = Vec::new();
        let mut asked = 0;
        for file in rust_files(&root) {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            for id in asked_ids(&text) {
                asked += 1;
                if !en.contains_key(&id) {
                    missing.push(format!("{}: {id}", file.display()));
                }
            }
        }
        assert!(missing.is_empty(), "no such message: {missing:#?}");
        assert!(asked > 100, "only {asked} messages asked for");
    }

    fn rust_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(rust_files(&path));
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
        out
    }

    /// The ids in `t("…")` and `ta("…", …)` calls of a source file (methods, and the
    /// closures named `t` the pages use), wherever the id is a literal.
    fn asked_ids(text: &str) -> Vec<String> {
        let bytes = text.as_bytes();
        let mut out = Vec::new();
        for call in ["t(", "ta("] {
            for (at, _) in text.match_indices(call) {
                let before = at.checked_sub(1).map(|i| bytes[i]);
                if before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    continue;
                }
                let rest = text[at + call.len()..].trim_start();
                let Some(rest) = rest.strip_prefix('"') else {
                    continue;
                };
                let Some(end) = rest.find('"') else { continue };
                let id = &rest[..end];
                if !id.is_empty()
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                {
                    out.push(id.to_owned());
                }
            }
        }
        out
    }

    #[test]
    fn every_message_formats_without_errors_in_both() {
        for lang in Lang::ALL {
            let bundle = CATALOGUE.bundle(lang);
            for id in messages(SOURCES[0].1).keys() {
                let message = bundle.get_message(id).and_then(|m| m.value());
                assert!(message.is_some(), "{id} has no value in {}", lang.code());
            }
        }
    }

    #[test]
    fn mail_keeps_its_paragraphs() {
        let body = Lang::It.ta(
            "mail-subscribe-body",
            &[
                ("confirm", "https://a/c".into()),
                ("unsubscribe", "https://a/u".into()),
            ],
        );
        assert_eq!(
            body,
            "Conferma che vuoi ricevere gli aggiornamenti di lunghub:\n\nhttps://a/c\n\n\
             Puoi disiscriverti in qualsiasi momento, con un clic:\n\nhttps://a/u"
        );
    }

    #[test]
    fn accept_language_picks_by_quality() {
        assert_eq!(
            Lang::from_accept_language("it-IT,it;q=0.9,en;q=0.8"),
            Some(Lang::It)
        );
        assert_eq!(Lang::from_accept_language("en-GB,en;q=0.9"), Some(Lang::En));
        assert_eq!(Lang::from_accept_language("de-DE,de;q=0.9"), None);
        assert_eq!(
            Lang::from_accept_language("de;q=1.0, it;q=0.5"),
            Some(Lang::It)
        );
        assert_eq!(Lang::from_accept_language(""), None);
        assert_eq!(
            Lang::from_accept_language("it;q=0, en;q=0.1"),
            Some(Lang::En)
        );
        assert_eq!(Lang::from_accept_language("*"), None);
        assert_eq!(Lang::parse("IT"), Some(Lang::It));
        assert_eq!(Lang::parse("fr"), None);
    }

    #[test]
    fn dates_and_plurals_follow_the_language() {
        let ns = 1_796_342_400 * 1_000_000_000; // 2026-12-04
        assert_eq!(Lang::En.long_date(ns), "4 December 2026");
        assert_eq!(Lang::It.long_date(ns), "4 dicembre 2026");
        assert_eq!(
            Lang::En.ta("count-institutes", &[("count", n(1))]),
            "1 institute"
        );
        assert_eq!(
            Lang::It.ta("count-institutes", &[("count", n(3))]),
            "3 istituti"
        );
    }
}
