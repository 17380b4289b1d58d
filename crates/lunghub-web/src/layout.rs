//! The page shell every HTML page shares: header with navigation, main column, footer.
//! Plain HTML and one stylesheet; no script is needed for anything.

use axum::response::Html;
use lunghub_domain::access::Action;
use maud::{DOCTYPE, Markup, html};

use crate::Viewer;

pub const STYLESHEET: &str = include_str!("../static/site.css");

/// A full page for `viewer`, in the viewer's language.
pub fn page(viewer: &Viewer, title: &str, body: Markup) -> Html<String> {
    let t = |id: &str| viewer.t(id);
    Html(
        html! {
            (DOCTYPE)
            html lang=(viewer.lang.code()) {
                (head(title))
                body {
                    header.site {
                        div.bar {
                            a.brand href="/" { span.mark { "lh" } " lunghub" }
                            nav {
                                a href="/help" { (t("nav-help")) }
                                a href="/status" { (t("nav-hospitals")) }
                                a href="/releases" { (t("nav-datasets")) }
                                a href="/tracks" { (t("nav-tracks")) }
                                a href="/challenges" { (t("nav-challenges")) }
                                a href="/partners" { (t("nav-partners")) }
                                a href="/news" { (t("nav-news")) }
                                @if viewer.may(Action::PublishNews) { a href="/coord/news" { (t("nav-news-desk")) } }
                                @if viewer.may(Action::ManageInstitutes) { a href="/coord" { (t("nav-onboarding")) } }
                                @if viewer.actor().is_some_and(|a| viewer.may(Action::UploadImages { site: a.site.as_deref().unwrap_or("*") })) { a href="/upload" { (t("nav-upload")) } }
                                @if viewer.may(Action::ReviewImages { site: "*" }) { a href="/review" { (t("nav-review")) } }
                                @if viewer.may(Action::TryModel) { a href="/model" { (t("nav-try-model")) } }
                                a href="/model/card" { (t("nav-model-card")) }
                                @if viewer.may(Action::ManageAccounts) { a href="/admin/accounts" { (t("nav-admin")) } }
                            }
                            div.account {
                                (language_switch(viewer))
                                @match &viewer.account {
                                    Some(a) => {
                                        a href="/account" { (a.name) }
                                        form.inline method="post" action="/signout" {
                                            input type="hidden" name="csrf" value=(viewer.csrf);
                                            button.link type="submit" { (t("nav-sign-out")) }
                                        }
                                    }
                                    None => { a href="/signin" { (t("nav-sign-in")) } }
                                }
                            }
                        }
                    }
                    main { (body) }
                    footer.site {
                        p {
                            (t("footer-mission")) " "
                            a href="/subscribe" { (t("footer-updates")) } " · " a href="/api/openapi.json" { "API" }
                        }
                    }
                }
            }
        }
        .into_string(),
    )
}

/// The header's switch to the other languages: a form, so that it works without script and
/// a signed-in person's choice is kept with their account.
fn language_switch(viewer: &Viewer) -> Markup {
    html! {
        form.inline.lang-switch method="post" action="/lang" {
            input type="hidden" name="csrf" value=(viewer.csrf);
            input type="hidden" name="back" value=(viewer.here);
            @for lang in crate::i18n::Lang::ALL {
                @if lang == viewer.lang {
                    span.current lang=(lang.code()) aria-current="true" { (lang.code().to_uppercase()) }
                } @else {
                    button.link type="submit" name="lang" value=(lang.code()) lang=(lang.code()) title=(lang.own_name()) { (lang.code().to_uppercase()) }
                }
            }
        }
    }
}

/// A page without the viewer (errors before a session is known).
pub fn bare(lang: crate::i18n::Lang, title: &str, message: &str) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang=(lang.code()) {
                (head(title))
                body {
                    header.site { div.bar { a.brand href="/" { span.mark { "lh" } " lunghub" } } }
                    main { h1 { (title) } p.notice { (message) } p { a href="/" { (lang.t("back-home")) } } }
                }
            }
        }
        .into_string(),
    )
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · lunghub" }
            link rel="stylesheet" href="/static/site.css";
        }
    }
}

/// The problems of a form, above it.
pub fn problems(lang: crate::i18n::Lang, list: &[String]) -> Markup {
    html! {
        @if !list.is_empty() {
            div.problems role="alert" {
                p { strong { (lang.t("form-problems")) } }
                ul { @for p in list { li { (p) } } }
            }
        }
    }
}

pub fn csrf(viewer: &Viewer) -> Markup {
    html! { input type="hidden" name="csrf" value=(viewer.csrf); }
}

/// "1 institute", "3 institutes".
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Days between two nanosecond times, rounded down.
pub fn days_between(earlier_ns: i64, later_ns: i64) -> i64 {
    (later_ns - earlier_ns).max(0) / (86_400 * 1_000_000_000)
}

/// A UTC date (YYYY-MM-DD) of a nanosecond time.
pub fn date(ns: i64) -> String {
    let (y, m, d) =
        lunghub_domain::calendar::civil_from_days(ns.div_euclid(86_400 * 1_000_000_000));
    format!("{y:04}-{m:02}-{d:02}")
}

/// A size for people, in decimal units as download pages and file managers give them:
/// "812 bytes", "3.4 KB", "12 MB", "1.2 GB".
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return if bytes == 1 {
            "1 byte".into()
        } else {
            format!("{bytes} bytes")
        };
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 999.95 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if value < 9.95 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

/// [`size`] of a byte count as the database keeps it (a negative one cannot happen and
/// reads as nothing).
pub fn stored_size(bytes: i64) -> String {
    size(u64::try_from(bytes).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_as_kb_and_mb() {
        assert_eq!(super::size(0), "0 bytes");
        assert_eq!(super::size(1), "1 byte");
        assert_eq!(super::size(999), "999 bytes");
        assert_eq!(super::size(3_400), "3.4 KB");
        assert_eq!(super::size(12_345_678), "12 MB");
        assert_eq!(super::size(999_999), "1.0 MB");
        assert_eq!(super::size(1_200_000_000), "1.2 GB");
    }

    #[test]
    fn dates_are_civil() {
        assert_eq!(super::date(0), "1970-01-01");
        assert_eq!(super::date(1_795_392_000 * 1_000_000_000), "2026-11-23");
        assert_eq!(super::date(951_782_400 * 1_000_000_000), "2000-02-29");
        assert_eq!(super::days_between(0, 3 * 86_400 * 1_000_000_000 + 5), 3);
    }
}
