//! Finds English left on a page meant to be Italian: the site's own English texts (each
//! fixed stretch of every message whose Italian differs), and the small words of English
//! prose that no Italian sentence has.

use lunghub_web::i18n::{Lang, texts};

/// The pages anyone can open, and one that does not exist (its error page).
pub const PUBLIC_PAGES: &[&str] = &[
    "/",
    "/help",
    "/status",
    "/releases",
    "/tracks",
    "/challenges",
    "/partners",
    "/news",
    "/subscribe",
    "/signin",
    "/join/frontline-doctor",
    "/join/data-scientist",
    "/join/technology-company",
    "/no-such-page",
];

/// Words that only English prose has, whole and lower case.
const ENGLISH_WORDS: &[&str] = &[
    "the", "and", "with", "your", "you", "of", "to", "is", "are", "for", "from", "this", "we",
    "our", "yet", "who", "what",
];

/// The English left in `text` (a page's visible text), each with where it came from.
pub fn english_left(text: &str) -> Vec<String> {
    let italian: std::collections::BTreeMap<String, String> = texts(Lang::It).into_iter().collect();
    let mut found = Vec::new();
    for (id, english) in texts(Lang::En) {
        if italian.get(&id) == Some(&english) {
            continue;
        }
        for fragment in fixed_stretches(&english) {
            if fragment.chars().count() >= 4 && contains_phrase(text, &fragment) {
                found.push(format!("{id}: {fragment:?}"));
            }
        }
    }
    let lower = text.to_lowercase();
    for word in ENGLISH_WORDS {
        if contains_phrase(&lower, word) {
            found.push(format!("the word {word:?}"));
        }
    }
    found
}

/// The stretches of a formatted message between its variables and line breaks.
fn fixed_stretches(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut rest = line;
        loop {
            let (before, after) = match rest.find("{$") {
                Some(at) => (
                    &rest[..at],
                    rest[at..].find('}').map(|e| &rest[at + e + 1..]),
                ),
                None => (rest, None),
            };
            let fragment = before.trim_matches(|c: char| c.is_whitespace() || ".,:;()".contains(c));
            if !fragment.is_empty() {
                out.push(fragment.to_owned());
            }
            match after {
                Some(a) => rest = a,
                None => break,
            }
        }
    }
    out
}

/// Whether `phrase` is in `text` with no letter or digit right before or after it.
fn contains_phrase(text: &str, phrase: &str) -> bool {
    text.match_indices(phrase).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + phrase.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// The text of an HTML page as a reader sees it: tags, scripts and styles gone, entities
/// read. Left out too: `<code>` (identifiers, such as CSV column names) and any element
/// marked `lang="en"` (the dataset's label vocabulary, the model card), which the page
/// itself declares English.
pub fn visible_text(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        out.push(' ');
        let tag = &rest[open..];
        let Some(close) = tag.find('>') else { break };
        let name: String = tag[1..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        let skipped = matches!(name.as_str(), "script" | "style" | "head" | "code")
            || tag[..close].contains(" lang=\"en\"");
        let end = format!("</{name}>");
        rest = match tag.find(&end).filter(|_| skipped && !name.is_empty()) {
            Some(at) => &tag[at + end.len()..],
            None => &tag[close + 1..],
        };
    }
    out.push_str(rest);
    out.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
}
