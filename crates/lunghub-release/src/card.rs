//! The dataset card (Markdown, and the same as HTML) and the changelog of a release.
//!
//! Test findings are sequestered, and the card keeps them so: its finding counts cover the
//! train and validation splits, and the test split is counted by source and site only.
//! Otherwise a source or site whose test images all share one finding would give their
//! labels away next to `test.csv`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use lunghub_domain::split::Split;

use crate::plan::{Entry, Plan, age_band, published_sex};

/// A class that takes at least this share of its images from one source is called out.
const TANGLED_SHARE: f64 = 0.8;
/// Classes smaller than this are called out as too small to evaluate on.
const SMALL_CLASS: usize = 20;

/// What the card says of the files, beyond the plan.
pub struct CardFacts {
    /// De-identified DICOM originals in `dicom/`.
    pub dicom_files: usize,
}

pub fn markdown(plan: &Plan, facts: &CardFacts) -> String {
    let s = &plan.settings;
    let e = &plan.entries;
    let patients: BTreeSet<&str> = e.iter().map(|x| x.item.patient_id.as_str()).collect();
    let sites: BTreeSet<&str> = e.iter().map(|x| x.item.site_name.as_str()).collect();
    let sources: BTreeSet<&str> = e.iter().map(|x| x.source()).collect();
    let shares = |sp: Split| format!("{} {:.0}%", sp.as_str(), s.shares.of(sp) * 100.0);
    let mut md = String::new();
    let _ = writeln!(md, "# {} v{}\n", s.name, s.version);
    let _ = writeln!(
        md,
        "{} images of {} patients, from {} site{} and {} source{}. Selection: {}.\n",
        e.len(),
        patients.len(),
        sites.len(),
        plural(sites.len()),
        sources.len(),
        plural(sources.len()),
        s.selection.describe()
    );
    let _ = writeln!(
        md,
        "Split by patient (no patient is in two splits), stratified by finding and source, with \
         seed {} and shares {}, {}, {}. A patient keeps their split in later versions.\n",
        s.seed,
        shares(Split::Train),
        shares(Split::Validation),
        shares(Split::Test)
    );

    md.push_str("## Load it\n\n");
    md.push_str(
        "- torchxrayvision: `xrv.datasets.COVID19_Dataset(imgpath=\"images\", csvpath=\"metadata.csv\", views=[\"*\"])` \
         loads the train and validation images (`split` column); `test.csv` lists the test images, without findings.\n\
         - Hugging Face datasets: `datasets.load_dataset(\"imagefolder\", data_dir=\"imagefolder\")`; \
         the test split's `finding` reads `sequestered`.\n\
         - COVIDx label files: `covidx/train.txt` and `covidx/val.txt` (`patient_id filename label source`, images in `images/`).\n\
         - Croissant 1.0: `croissant.json` (`mlcroissant.Dataset(\"croissant.json\")`).\n",
    );
    if facts.dicom_files > 0 {
        let _ = writeln!(
            md,
            "- DICOM: `dicom/DICOMDIR` indexes the {} de-identified DICOM originals.",
            facts.dicom_files
        );
    }
    md.push_str(
        "- Check the download: `lunghub release verify .`, or `sha256sum --check SHA256SUMS`.\n\n",
    );

    let test_count = plan.in_split(Split::Test).count();
    md.push_str("## Sequestered test labels\n\n");
    let _ = writeln!(
        md,
        "The {test_count} test images are here; their findings are not. They stay on the lunghub \
         server, which scores predictions for the test split on the leaderboard.\n"
    );

    md.push_str("## Counts\n\n### Findings by split (train and validation)\n\n");
    let labelled: Vec<&Entry> = e.iter().filter(|x| x.split != Split::Test).collect();
    let findings: BTreeSet<&str> = labelled.iter().map(|x| x.finding.as_str()).collect();
    let mut rows = Vec::new();
    for f in &findings {
        let n = |sp: Split| {
            labelled
                .iter()
                .filter(|x| x.split == sp && x.finding == *f)
                .count()
        };
        let (t, v) = (n(Split::Train), n(Split::Validation));
        rows.push(vec![
            text(f),
            t.to_string(),
            v.to_string(),
            (t + v).to_string(),
        ]);
    }
    rows.push(vec![
        "**all**".into(),
        plan.in_split(Split::Train).count().to_string(),
        plan.in_split(Split::Validation).count().to_string(),
        labelled.len().to_string(),
    ]);
    table(&mut md, &["finding", "train", "validation", "total"], &rows);

    md.push_str("\n### Findings by source and site (train and validation)\n\n");
    let mut cells: BTreeMap<(&str, &str, &str), [usize; 2]> = BTreeMap::new();
    for x in &labelled {
        let c = cells
            .entry((x.source(), x.item.site_name.as_str(), x.finding.as_str()))
            .or_default();
        c[usize::from(x.split == Split::Validation)] += 1;
    }
    let rows: Vec<Vec<String>> = cells
        .iter()
        .map(|((src, site, f), [t, v])| {
            vec![text(src), text(site), text(f), t.to_string(), v.to_string()]
        })
        .collect();
    table(
        &mut md,
        &["source", "site", "finding", "train", "validation"],
        &rows,
    );

    md.push_str("\n### Test images by source and site\n\n");
    let mut test_cells: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for x in plan.in_split(Split::Test) {
        *test_cells
            .entry((x.source(), x.item.site_name.as_str()))
            .or_default() += 1;
    }
    let rows: Vec<Vec<String>> = test_cells
        .iter()
        .map(|((src, site), n)| vec![text(src), text(site), n.to_string()])
        .collect();
    table(&mut md, &["source", "site", "test images"], &rows);

    md.push_str("\n### Sex and age band (all splits)\n\n");
    let bands = ["0-17", "18-39", "40-59", "60-79", "80+", "unknown"];
    let mut rows = Vec::new();
    for (label, sex) in [("F", "F"), ("M", "M"), ("not recorded", "")] {
        let of_sex: Vec<&Entry> = e
            .iter()
            .filter(|x| published_sex(x.item.sex.as_deref()) == sex)
            .collect();
        let mut row = vec![label.to_string()];
        row.extend(bands.iter().map(|b| {
            of_sex
                .iter()
                .filter(|x| age_band(x.item.age_years) == *b)
                .count()
                .to_string()
        }));
        row.push(of_sex.len().to_string());
        rows.push(row);
    }
    let mut head = vec!["sex"];
    head.extend(bands);
    head.push("total");
    table(&mut md, &head, &rows);

    md.push_str("\n### Modality and view (all splits)\n\n");
    let mut mv: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for x in e {
        *mv.entry((
            x.item.modality.as_str(),
            x.item.view.as_deref().unwrap_or("not recorded"),
        ))
        .or_default() += 1;
    }
    let rows: Vec<Vec<String>> = mv
        .iter()
        .map(|((m, v), n)| vec![text(m), text(v), n.to_string()])
        .collect();
    table(&mut md, &["modality", "view", "images"], &rows);

    md.push_str("\n## Representativeness\n\n");
    representativeness(&mut md, e, &sites);

    md.push_str("\n## Licences\n\n");
    let rows: Vec<Vec<String>> = sources
        .iter()
        .map(|src| {
            // The licence is the coordinator's own Markdown (links are rendered only if
            // http(s): see `body_html`); everything else is data, and stays text.
            vec![
                text(src),
                s.licences.get(*src).cloned().unwrap_or_else(|| {
                    "**not stated**: ask the source before redistributing".into()
                }),
                e.iter().filter(|x| x.source() == *src).count().to_string(),
            ]
        })
        .collect();
    table(&mut md, &["source", "licence", "images"], &rows);

    md.push_str("\n## De-identification\n\n");
    let mut profiles: BTreeMap<&str, usize> = BTreeMap::new();
    for x in e {
        *profiles.entry(x.item.deid_profile.as_str()).or_default() += 1;
    }
    for (p, n) in &profiles {
        // A profile's name is the operator's configuration, shown as code; a backtick in
        // it could not close the span early.
        let _ = writeln!(md, "- Profile `{}`: {n} images.", p.replace('`', "'"));
    }
    md.push_str(
        "- Every image passed lunghub's de-identifier when it was taken in: DICOM to PS3.15 \
         (Basic Application Level Confidentiality Profile and the profile's options), PNG and JPEG \
         stripped of metadata. Patient ids are keyed pseudonyms.\n\
         - The PNGs here are re-encoded 8-bit renderings with no text chunks. Ages are whole years, \
         90 and over published as 90.\n",
    );

    md.push_str("\n## Known limitations\n\n");
    limitations(&mut md, plan);
    md
}

fn representativeness(md: &mut String, e: &[Entry], sites: &BTreeSet<&str>) {
    let n = e.len().max(1) as f64;
    let sexed: Vec<&str> = e
        .iter()
        .map(|x| published_sex(x.item.sex.as_deref()))
        .filter(|s| !s.is_empty())
        .collect();
    let women = sexed.iter().filter(|s| **s == "F").count();
    let _ = writeln!(
        md,
        "- Sex is recorded for {:.0}% of images; of those, {:.0}% are women.",
        sexed.len() as f64 * 100.0 / n,
        if sexed.is_empty() {
            0.0
        } else {
            women as f64 * 100.0 / sexed.len() as f64
        }
    );
    let mut ages: Vec<f64> = e.iter().filter_map(|x| x.item.age_years).collect();
    ages.sort_by(f64::total_cmp);
    if ages.is_empty() {
        md.push_str("- Age is recorded for no image.\n");
    } else {
        let _ = writeln!(
            md,
            "- Age is recorded for {:.0}% of images; median {:.0} years, range {:.0} to {:.0}.",
            ages.len() as f64 * 100.0 / n,
            ages[ages.len() / 2],
            ages[0],
            ages[ages.len() - 1].min(90.0)
        );
    }
    let mut by_site: BTreeMap<&str, usize> = BTreeMap::new();
    for x in e {
        *by_site.entry(x.item.site_name.as_str()).or_default() += 1;
    }
    if let Some((site, count)) = by_site.iter().max_by_key(|(_, c)| **c) {
        let site = text(site);
        let _ = writeln!(
            md,
            "- {} site{}; the largest, {site}, holds {:.0}% of images.",
            sites.len(),
            plural(sites.len()),
            *count as f64 * 100.0 / n
        );
    }
    md.push_str(
        "- These images are those hospitals and public collections sent, not a sample of any \
         population: prevalence here says nothing about prevalence in a clinic.\n",
    );
}

fn limitations(md: &mut String, plan: &Plan) {
    let e = &plan.entries;
    // Findings and sources are data: escaped once here, they are text in every sentence.
    let mut by_finding: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for x in e {
        *by_finding
            .entry(text(&x.finding))
            .or_default()
            .entry(text(x.source()))
            .or_default() += 1;
    }
    let mut said = false;
    for (finding, sources) in &by_finding {
        let total: usize = sources.values().sum();
        if let Some((source, n)) = sources.iter().max_by_key(|(_, n)| **n) {
            let share = *n as f64 / total as f64;
            if share >= TANGLED_SHARE && by_finding.len() > 1 {
                said = true;
                let _ = writeln!(
                    md,
                    "- **Source and finding are tangled.** {:.0}% of the {total} images labelled \
                     {finding} come from {source}. A model can learn to recognise {source} instead \
                     of {finding}: report results per source.",
                    share * 100.0
                );
            }
        }
    }
    let mut by_source: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for x in e {
        *by_source
            .entry(text(x.source()))
            .or_default()
            .entry(text(&x.finding))
            .or_default() += 1;
    }
    for (source, findings) in &by_source {
        let total: usize = findings.values().sum();
        let Some((f, n)) = findings.iter().max_by_key(|(_, n)| **n) else {
            continue;
        };
        if by_finding.len() < 2 || (*n as f64) < TANGLED_SHARE * total as f64 {
            continue;
        }
        said = true;
        if *n == total {
            let _ = writeln!(
                md,
                "- **{source} holds one finding only**: all its {n} images are {f}."
            );
        } else {
            let _ = writeln!(
                md,
                "- **{source} is mostly one finding**: {:.0}% of its {total} images are {f}.",
                *n as f64 * 100.0 / total as f64
            );
        }
    }
    if by_source.len() > 1 && by_finding.len() > 1 {
        // Splits are stratified by source and finding, so this mix holds in every split.
        md.push_str("- Finding mix by source (all splits):\n");
        for (source, findings) in &by_source {
            let total: usize = findings.values().sum();
            let mut mix: Vec<(&String, &usize)> = findings.iter().collect();
            mix.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let parts: Vec<String> = mix
                .iter()
                .map(|(f, n)| format!("{:.0}% {f}", **n as f64 * 100.0 / total as f64))
                .collect();
            let _ = writeln!(md, "  - {source} ({total}): {}", parts.join(", "));
        }
    }
    for (finding, sources) in &by_finding {
        let total: usize = sources.values().sum();
        if total < SMALL_CLASS {
            said = true;
            let _ = writeln!(
                md,
                "- **{finding} is small**: {total} images, too few to estimate performance on it."
            );
        }
    }
    for (n, what, why) in [
        (
            plan.left_out.unlabelled,
            "approved image",
            "with no known finding: left out",
        ),
        (
            plan.left_out.clips,
            "ultrasound clip",
            "left out: releases hold still images only for now",
        ),
    ] {
        if n > 0 {
            said = true;
            let _ = writeln!(
                md,
                "- {n} {what}{} matching the selection {why}.",
                plural(n)
            );
        }
    }
    if !said {
        md.push_str("- None found by lunghub's checks (source/finding tangle, small classes, left-out items). That is not proof there are none.\n");
    }
}

/// The changes since the version before: items added and removed, and why; findings changed.
pub fn changelog(plan: &Plan) -> String {
    let s = &plan.settings;
    let mut md = format!("# Changes in {} v{}\n\n", s.name, s.version);
    let Some(prev) = &plan.previous else {
        let _ = writeln!(md, "First version: {} images.", plan.entries.len());
        return md;
    };
    let now: BTreeMap<&str, &Entry> = plan
        .entries
        .iter()
        .map(|x| (x.item.id.as_str(), x))
        .collect();
    let before: BTreeMap<&str, &lunghub_store::ReleaseItem> =
        prev.items.iter().map(|x| (x.item_id.as_str(), x)).collect();
    let added: Vec<&Entry> = plan
        .entries
        .iter()
        .filter(|x| !before.contains_key(x.item.id.as_str()))
        .collect();
    let removed: Vec<&lunghub_store::ReleaseItem> = prev
        .items
        .iter()
        .filter(|x| !now.contains_key(x.item_id.as_str()))
        .collect();
    let relabelled: Vec<(&lunghub_store::ReleaseItem, &Entry)> = prev
        .items
        .iter()
        .filter_map(|b| now.get(b.item_id.as_str()).map(|n| (b, *n)))
        .filter(|(b, n)| b.finding != n.finding)
        .collect();
    let _ = writeln!(
        md,
        "Against v{}: {} added, {} removed, {} with a new finding; {} images in all.\n",
        prev.version,
        added.len(),
        removed.len(),
        relabelled.len(),
        plan.entries.len()
    );
    if !added.is_empty() {
        md.push_str("## Added\n\n");
        let mut by: BTreeMap<(&str, &str, &str), usize> = BTreeMap::new();
        for x in &added {
            let f = if x.split == Split::Test {
                "(test: sequestered)"
            } else {
                x.finding.as_str()
            };
            *by.entry((x.split.as_str(), x.source(), f)).or_default() += 1;
        }
        let rows: Vec<Vec<String>> = by
            .iter()
            .map(|((sp, src, f), n)| {
                vec![
                    sp.to_string(),
                    src.to_string(),
                    f.to_string(),
                    n.to_string(),
                ]
            })
            .collect();
        table(&mut md, &["split", "source", "finding", "images"], &rows);
        md.push('\n');
    }
    if !removed.is_empty() {
        md.push_str("## Removed\n\n");
        let rows: Vec<Vec<String>> = removed
            .iter()
            .map(|x| {
                let why = match prev.states_now.get(&x.item_id).map(String::as_str) {
                    None => "no longer in the catalog".to_string(),
                    Some("approved") => {
                        "outside this version's selection, or no known finding".into()
                    }
                    Some("replaced") => "replaced by a copy with burned-in text blanked".into(),
                    Some("rejected") => "rejected on review".into(),
                    Some(other) => format!("back under review ({other})"),
                };
                vec![x.file.clone(), x.split.clone(), why]
            })
            .collect();
        table(&mut md, &["file", "split was", "why"], &rows);
        md.push('\n');
    }
    if !relabelled.is_empty() {
        md.push_str("## New findings\n\n");
        let rows: Vec<Vec<String>> = relabelled
            .iter()
            .map(|(b, n)| {
                if n.split == Split::Test {
                    vec![
                        n.file.clone(),
                        "(test: sequestered)".into(),
                        "(test: sequestered)".into(),
                    ]
                } else {
                    vec![n.file.clone(), b.finding.clone(), n.finding.clone()]
                }
            })
            .collect();
        table(&mut md, &["file", "was", "now"], &rows);
    }
    md
}

/// The card as a standalone HTML page.
pub fn html(title: &str, markdown: &str) -> String {
    let body = body_html(markdown);
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n\
         <style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}\
         table{{border-collapse:collapse;display:block;overflow-x:auto}}th,td{{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}}\
         code{{background:#f4f4f4;padding:0 .2rem}}</style>\n</head>\n<body>\n{}</body>\n</html>\n",
        escape(title),
        body
    )
}

/// The card's Markdown as an HTML fragment, for pages that frame it themselves (see
/// [`safe_html`]).
pub fn body_html(markdown: &str) -> String {
    safe_html(markdown)
}

/// Markdown that people typed (licences, posts, documents) as HTML that can run nothing:
/// raw HTML is shown as text, and a link or image is kept only if it goes to an http(s)
/// address; any other (`javascript:`, `data:`, `vbscript:`, relative) leaves its text
/// alone. The downloaded card has no Content-Security-Policy to fall back on.
pub fn safe_html(markdown: &str) -> String {
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd, html};
    let allowed = |url: &str| {
        let url = url.trim_start().to_ascii_lowercase();
        url.starts_with("https://") || url.starts_with("http://")
    };
    // Whether each open link or image was kept, so its end is dropped with it.
    let mut open: Vec<bool> = Vec::new();
    let parser = Parser::new_ext(markdown, Options::ENABLE_TABLES).filter_map(|ev| match ev {
        Event::Html(raw) | Event::InlineHtml(raw) => Some(Event::Text(raw)),
        Event::Start(Tag::Link { ref dest_url, .. })
        | Event::Start(Tag::Image { ref dest_url, .. }) => {
            let keep = allowed(dest_url);
            open.push(keep);
            keep.then_some(ev)
        }
        Event::End(TagEnd::Link) | Event::End(TagEnd::Image) => {
            open.pop().unwrap_or(false).then_some(ev)
        }
        other => Some(other),
    });
    let mut out = String::new();
    html::push_html(&mut out, parser);
    out
}

/// A value from data (a source, a site, a finding, a view) as Markdown that reads as that
/// text and nothing else: HTML as entities, the characters that make inline markup
/// (emphasis, code, links, images, tables) backslash-escaped, a leading character that
/// could start a block escaped too, line breaks flattened. A source named
/// `[data](javascript:…)` or `<script>` stays a name.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.chars().enumerate() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\r' | '\n' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '-' | '+' | '#' | '=' if i == 0 => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A Markdown table; `|` in a cell is escaped so a name cannot break the table.
fn table(md: &mut String, head: &[&str], rows: &[Vec<String>]) {
    // A `|` not already escaped (by `text`, or by whoever wrote a licence) is escaped.
    let cell = |c: &str| {
        let mut out = String::with_capacity(c.len());
        let mut escaped = false;
        for ch in c.chars() {
            match ch {
                '|' if !escaped => out.push_str("\\|"),
                '\n' => out.push(' '),
                ch => out.push(ch),
            }
            escaped = ch == '\\' && !escaped;
        }
        out
    };
    let _ = writeln!(md, "| {} |", head.join(" | "));
    let _ = writeln!(md, "|{}", " --- |".repeat(head.len()));
    for r in rows {
        let cells: Vec<String> = r.iter().map(|c| cell(c)).collect();
        let _ = writeln!(md, "| {} |", cells.join(" | "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::{candidate, settings};
    use crate::plan::{Previous, plan};

    #[test]
    fn the_card_names_a_tangled_class_and_hides_test_findings() {
        let mut items: Vec<_> = (0..60)
            .map(|n| {
                candidate(
                    n,
                    &format!("p{n}"),
                    Some("Pneumonia/Viral/COVID-19"),
                    "ieee8023",
                )
            })
            .collect();
        items.extend((60..120).map(|n| candidate(n, &format!("p{n}"), Some("No Finding"), "nih")));
        let p = plan(settings("cxr", 1), items, None).unwrap();
        let md = markdown(&p, &CardFacts { dicom_files: 0 });
        assert!(
            md.contains(
                "100% of the 60 images labelled Pneumonia/Viral/COVID-19 come from ieee8023"
            ),
            "{md}"
        );
        assert!(md.contains("**nih holds one finding only**"), "{md}");
        assert!(md.contains("**not stated**"));
        // The test table has no finding column.
        let test_table = md
            .split("### Test images by source and site")
            .nth(1)
            .unwrap();
        let test_table = test_table.split("###").next().unwrap();
        assert!(
            !test_table.contains("COVID-19") && !test_table.contains("No Finding"),
            "{test_table}"
        );
        let html = html("cxr v1", &md);
        assert!(html.contains("<table>") && html.contains("<h1>cxr v1</h1>"));
    }

    #[test]
    fn the_changelog_says_what_left_and_why() {
        let items: Vec<_> = (0..10)
            .map(|n| candidate(n, &format!("p{n}"), Some("No Finding"), "nih"))
            .collect();
        let v1 = plan(settings("cxr", 1), items.clone(), None).unwrap();
        assert!(changelog(&v1).contains("First version: 10 images."));
        let mut later = items[1..].to_vec();
        later.push(candidate(10, "p10", Some("No Finding"), "nih"));
        let removed = v1
            .entries
            .iter()
            .find(|e| e.item.id == items[0].id)
            .unwrap()
            .file
            .clone();
        let v2 = plan(
            settings("cxr", 2),
            later,
            Some(Previous {
                version: 1,
                items: v1.items(),
                states_now: [(items[0].id.clone(), "rejected".to_string())].into(),
            }),
        )
        .unwrap();
        let log = changelog(&v2);
        assert!(
            log.contains("1 added, 1 removed, 0 with a new finding"),
            "{log}"
        );
        assert!(
            log.contains(&format!("| {removed} |")) && log.contains("rejected on review"),
            "{log}"
        );
    }

    #[test]
    fn raw_html_in_the_card_is_escaped() {
        assert!(!body_html("a <script>x</script>").contains("<script>"));
    }

    #[test]
    fn values_from_data_stay_text_and_only_http_links_are_links() {
        const HOSTILE: &str = "[data](javascript:alert(1))";
        let mut items: Vec<_> = (0..30)
            .map(|n| candidate(n, &format!("p{n}"), Some("No Finding"), HOSTILE))
            .collect();
        items.extend((30..60).map(|n| {
            let mut c = candidate(
                n,
                &format!("p{n}"),
                Some("<img src=x onerror=alert(1)>"),
                "nih",
            );
            c.view = Some("![v](javascript:alert(2))".into());
            c
        }));
        let mut settings = settings("cxr", 1);
        settings.licences.insert(
            HOSTILE.into(),
            "CC BY 4.0, [terms](https://example.org/terms); [bad](javascript:alert(3)) \
             <a href=\"javascript:alert(4)\">x</a> [rel](/relative) [data](data:text/html,x)"
                .into(),
        );
        let p = plan(settings, items, None).unwrap();
        let md = markdown(&p, &CardFacts { dicom_files: 0 });
        let page = html("cxr v1", &md);
        assert!(
            !page.to_ascii_lowercase().contains("<a href=\"javascript"),
            "{page}"
        );
        assert!(
            !page.contains("<img") && !page.contains("<a href=\"/relative"),
            "{page}"
        );
        assert!(!page.contains("<a href=\"data:"), "{page}");
        assert!(
            page.contains("<a href=\"https://example.org/terms\">terms</a>"),
            "{page}"
        );
        // The source's name is shown as it is, as text.
        assert!(page.contains("[data](javascript:alert(1))"), "{page}");
    }
}
