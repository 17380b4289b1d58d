//! The evaluation report of a binary decision (a model's probability of the positive class
//! against the truth): what `lunghub evaluate` writes as JSON, HTML and SVG plots.
//!
//! Every interval resamples patients. Every metric is also broken down per source and per
//! site. The **shortcut check** compares how well the score tells the disease apart within
//! one source with how well it tells sources apart within one class: a model that separates
//! hospitals better than it separates sick from healthy has learned where an image came
//! from, and its pooled AUC says little about the disease.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;

use crate::metrics::{
    CostChoice, OperatingPoint, at_sensitivity, at_specificity, at_threshold, average_precision,
    bootstrap_interval, calibration, cheapest_threshold, fit_temperature, pr_curve, roc_auc,
    roc_curve,
};
use crate::probe::SourceProbe;

/// One evaluated image.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// Probability of the positive class.
    pub probability: f64,
    pub positive: bool,
    pub patient: String,
    pub source: String,
    pub site: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub images: usize,
    pub patients: usize,
    pub positives: usize,
    pub roc_auc: Option<f64>,
    /// 95% bootstrap interval over patients.
    pub roc_auc_interval: Option<(f64, f64)>,
    pub pr_auc: Option<f64>,
    pub at_threshold: OperatingPoint,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shortcut {
    /// Disease ROC AUC within each source that has both classes, weighted by its images.
    pub within_source_auc: Option<f64>,
    /// The best ROC AUC of the score at telling two sources apart among images of one class
    /// (0.5 = cannot; either direction counts).
    pub source_auc: Option<f64>,
    /// Which sources and class that was.
    pub source_pair: Option<(String, String, bool)>,
    /// ROC AUC over the (positive, negative) pairs from the same source, and over the pairs
    /// from different sources: the pooled AUC is a mix of the two.
    pub same_source_pairs_auc: Option<f64>,
    pub cross_source_pairs_auc: Option<f64>,
    /// Share of positives in each source with enough images.
    pub prevalence_by_source: BTreeMap<String, f64>,
    /// How well a linear probe on the model's features tells the two largest sources apart.
    pub source_probe: Option<SourceProbe>,
    pub warning: Option<String>,
}

/// Sources whose share of positives differs by this much are tangled with the label.
const TANGLE: f64 = 0.5;

/// The share of (positive, negative) pairs, from the same source or from different ones,
/// in which the positive scores higher (ties count one half).
fn pairs_auc(cases: &[Scored], same_source: bool) -> Option<f64> {
    let (mut wins, mut pairs) = (0.0, 0usize);
    for p in cases.iter().filter(|c| c.positive) {
        for n in cases.iter().filter(|c| !c.positive) {
            if (p.source == n.source) != same_source {
                continue;
            }
            pairs += 1;
            wins += if p.probability > n.probability {
                1.0
            } else if p.probability == n.probability {
                0.5
            } else {
                0.0
            };
        }
    }
    (pairs > 0).then(|| wins / pairs as f64)
}

/// Cross-source pairs scoring this much better than same-source pairs is called a shortcut.
const CROSS_SOURCE_MARGIN: f64 = 0.1;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub title: String,
    pub split: String,
    pub positive_class: String,
    pub threshold: f64,
    pub overall: Summary,
    pub operating_points: Vec<(String, OperatingPoint)>,
    /// FN:FP cost ratios 1:1 to 20:1 and the threshold that minimises expected cost.
    pub costs: Vec<CostChoice>,
    pub ece: f64,
    /// Temperature fitted on validation, and the ECE after applying it.
    pub temperature: Option<f64>,
    pub ece_scaled: Option<f64>,
    pub reliability: Vec<(f64, f64, usize)>,
    pub by_source: BTreeMap<String, Summary>,
    pub by_site: BTreeMap<String, Summary>,
    pub shortcut: Shortcut,
    pub roc: Vec<(f64, f64, f64)>,
    pub pr: Vec<(f64, f64, f64)>,
}

/// A source and class pair needs this many images to be compared.
const MIN_GROUP: usize = 10;

fn summary(cases: &[&Scored], threshold: f64, seed: u64) -> Summary {
    let scores: Vec<f64> = cases.iter().map(|c| c.probability).collect();
    let labels: Vec<bool> = cases.iter().map(|c| c.positive).collect();
    let patients: Vec<&str> = cases.iter().map(|c| c.patient.as_str()).collect();
    Summary {
        images: cases.len(),
        patients: patients.iter().collect::<BTreeSet<_>>().len(),
        positives: labels.iter().filter(|l| **l).count(),
        roc_auc: roc_auc(&scores, &labels),
        roc_auc_interval: bootstrap_interval(&scores, &labels, &patients, 1000, seed, roc_auc),
        pr_auc: average_precision(&scores, &labels),
        at_threshold: at_threshold(&scores, &labels, threshold),
    }
}

fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-7, 1.0 - 1e-7);
    (p / (1.0 - p)).ln()
}

/// The shortcut check (see the module's documentation). It warns when
/// - the label is tangled with the source (shares of positives differ by half or more
///   between sources) and the model's features tell sources apart (`probe`) better than its
///   score tells the disease apart within one source; or
/// - positive–negative pairs from different sources are ranked clearly better than pairs
///   from the same source; or
/// - the score itself tells two sources apart, within one class, better than it tells the
///   disease apart within one source.
pub fn shortcut(cases: &[Scored], probe: Option<SourceProbe>) -> Shortcut {
    let mut by_source: BTreeMap<&str, Vec<&Scored>> = BTreeMap::new();
    for c in cases {
        by_source.entry(&c.source).or_default().push(c);
    }
    let (mut weighted, mut weight) = (0.0, 0usize);
    for group in by_source.values() {
        let scores: Vec<f64> = group.iter().map(|c| c.probability).collect();
        let labels: Vec<bool> = group.iter().map(|c| c.positive).collect();
        let positives = labels.iter().filter(|l| **l).count();
        if positives >= MIN_GROUP / 2
            && group.len() - positives >= MIN_GROUP / 2
            && let Some(auc) = roc_auc(&scores, &labels)
        {
            weighted += auc * group.len() as f64;
            weight += group.len();
        }
    }
    let within = (weight > 0).then(|| weighted / weight as f64);
    let mut best: Option<(f64, (String, String, bool))> = None;
    let sources: Vec<&str> = by_source.keys().copied().collect();
    for class in [false, true] {
        for (i, a) in sources.iter().enumerate() {
            for b in &sources[i + 1..] {
                let pick = |s: &str| -> Vec<f64> {
                    by_source[s]
                        .iter()
                        .filter(|c| c.positive == class)
                        .map(|c| c.probability)
                        .collect()
                };
                let (sa, sb) = (pick(a), pick(b));
                if sa.len() < MIN_GROUP || sb.len() < MIN_GROUP {
                    continue;
                }
                let labels: Vec<bool> = sa
                    .iter()
                    .map(|_| true)
                    .chain(sb.iter().map(|_| false))
                    .collect();
                let scores: Vec<f64> = sa.iter().chain(&sb).copied().collect();
                if let Some(auc) = roc_auc(&scores, &labels) {
                    let apart = auc.max(1.0 - auc);
                    if best.as_ref().is_none_or(|(b, _)| apart > *b) {
                        best = Some((apart, (a.to_string(), b.to_string(), class)));
                    }
                }
            }
        }
    }
    let same = pairs_auc(cases, true);
    let cross = pairs_auc(cases, false);
    let prevalence: BTreeMap<String, f64> = by_source
        .iter()
        .filter(|(_, g)| g.len() >= MIN_GROUP)
        .map(|(s, g)| {
            (
                s.to_string(),
                g.iter().filter(|c| c.positive).count() as f64 / g.len() as f64,
            )
        })
        .collect();
    let spread = prevalence
        .values()
        .fold(f64::NEG_INFINITY, |a, b| a.max(*b))
        - prevalence.values().fold(f64::INFINITY, |a, b| a.min(*b));
    let tangled = prevalence.len() >= 2 && spread >= TANGLE;
    let learned_sources = probe
        .as_ref()
        .filter(|p| tangled && within.is_none_or(|w| p.auc > w));
    let warning = match (&best, within, same, cross) {
        _ if learned_sources.is_some() => learned_sources.map(|p| {
            let shares: Vec<String> = prevalence
                .iter()
                .map(|(s, v)| format!("{s} {:.0}%", v * 100.0))
                .collect();
            format!(
                "The share of positives differs between sources ({}), and the model's own features tell {} from {} (AUC {:.2}) better than its score tells the disease apart within one source ({}). It can score well by recognising the source: trust the per-source results, not the pooled AUC.",
                shares.join(", "),
                p.sources.0,
                p.sources.1,
                p.auc,
                within.map_or("not measurable here".into(), |w| format!("AUC {w:.2}"))
            )
        }),
        (_, _, Some(same), Some(cross)) if cross - same >= CROSS_SOURCE_MARGIN => Some(format!(
            "The model separates a positive from a negative image far better when they come from different sources (AUC {cross:.2}) than from the same source (AUC {same:.2}). Much of its pooled AUC comes from telling sources apart, not the disease."
        )),
        (Some((apart, (a, b, class))), Some(w), _, _) if *apart >= w => Some(format!(
            "The model tells {a} from {b} among {} images (AUC {apart:.2}) better than it tells the disease apart within one source (AUC {w:.2}). It has learned where images come from: its pooled AUC overstates what it knows about the disease.",
            if *class { "positive" } else { "negative" }
        )),
        (Some((apart, (a, b, class))), None, _, _) => Some(format!(
            "No source holds enough of both classes to measure the disease within one source, and the model tells {a} from {b} among {} images with AUC {apart:.2}. The pooled AUC cannot be told apart from source recognition.",
            if *class { "positive" } else { "negative" }
        )),
        _ => None,
    };
    Shortcut {
        within_source_auc: within,
        source_auc: best.as_ref().map(|(a, _)| *a),
        source_pair: best.map(|(_, p)| p),
        same_source_pairs_auc: same,
        cross_source_pairs_auc: cross,
        prevalence_by_source: prevalence,
        source_probe: probe,
        warning,
    }
}

/// Builds the report. `validation` (probability, positive) fits the temperature; the
/// threshold is the model's.
#[allow(clippy::too_many_arguments)]
pub fn build(
    title: &str,
    split: &str,
    positive_class: &str,
    cases: &[Scored],
    validation: Option<&[(f64, bool)]>,
    probe: Option<SourceProbe>,
    threshold: f64,
    seed: u64,
) -> Report {
    let all: Vec<&Scored> = cases.iter().collect();
    let scores: Vec<f64> = cases.iter().map(|c| c.probability).collect();
    let labels: Vec<bool> = cases.iter().map(|c| c.positive).collect();
    let group = |key: &dyn Fn(&Scored) -> &str| {
        let mut groups: BTreeMap<String, Vec<&Scored>> = BTreeMap::new();
        for c in cases {
            groups.entry(key(c).to_owned()).or_default().push(c);
        }
        groups
            .into_iter()
            .map(|(k, v)| (k, summary(&v, threshold, seed)))
            .collect()
    };
    let mut operating_points = vec![(
        "model threshold".to_string(),
        at_threshold(&scores, &labels, threshold),
    )];
    if let Some(p) = at_specificity(&scores, &labels, 0.95) {
        operating_points.push(("95% specificity".into(), p));
    }
    if let Some(p) = at_sensitivity(&scores, &labels, 0.95) {
        operating_points.push(("95% sensitivity".into(), p));
    }
    let (ece, reliability) = calibration(&scores, &labels, 10);
    let temperature = validation.filter(|v| !v.is_empty()).map(|v| {
        let logits: Vec<f64> = v.iter().map(|(p, _)| logit(*p)).collect();
        let truth: Vec<bool> = v.iter().map(|(_, l)| *l).collect();
        fit_temperature(&logits, &truth)
    });
    let ece_scaled = temperature.map(|t| {
        let scaled: Vec<f64> = scores
            .iter()
            .map(|p| 1.0 / (1.0 + (-logit(*p) / t).exp()))
            .collect();
        calibration(&scaled, &labels, 10).0
    });
    Report {
        title: title.to_owned(),
        split: split.to_owned(),
        positive_class: positive_class.to_owned(),
        threshold,
        overall: summary(&all, threshold, seed),
        operating_points,
        costs: (1..=20)
            .filter_map(|r| cheapest_threshold(&scores, &labels, f64::from(r)))
            .collect(),
        ece,
        temperature,
        ece_scaled,
        reliability,
        by_source: group(&|c| c.source.as_str()),
        by_site: group(&|c| c.site.as_str()),
        shortcut: shortcut(cases, probe),
        roc: roc_curve(&scores, &labels).unwrap_or_default(),
        pr: pr_curve(&scores, &labels).unwrap_or_default(),
    }
}

fn num(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.3}"))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A line plot of (x, y) points in the unit square, as SVG.
pub fn svg_plot(
    title: &str,
    x_label: &str,
    y_label: &str,
    points: &[(f64, f64)],
    diagonal: bool,
) -> String {
    let (w, h, m) = (360.0, 360.0, 48.0);
    let sx = |x: f64| m + x.clamp(0.0, 1.0) * (w - 2.0 * m);
    let sy = |y: f64| h - m - y.clamp(0.0, 1.0) * (h - 2.0 * m);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"20\" text-anchor=\"middle\" font-size=\"13\">{}</text>\n\
         <rect x=\"{m}\" y=\"{m}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#888\"/>\n",
        w / 2.0,
        escape(title),
        w - 2.0 * m,
        h - 2.0 * m
    );
    for t in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{t}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{t}</text>",
            sx(t),
            h - m + 14.0,
            m - 4.0,
            sy(t) + 4.0
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n<text x=\"14\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {})\">{}</text>",
        w / 2.0,
        h - 12.0,
        escape(x_label),
        h / 2.0,
        h / 2.0,
        escape(y_label)
    );
    if diagonal {
        let _ = writeln!(
            svg,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#bbb\" stroke-dasharray=\"4 4\"/>",
            sx(0.0),
            sy(0.0),
            sx(1.0),
            sy(1.0)
        );
    }
    let path: Vec<String> = points
        .iter()
        .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y)))
        .collect();
    let _ = writeln!(
        svg,
        "<polyline fill=\"none\" stroke=\"#0b5f7f\" stroke-width=\"2\" points=\"{}\"/>\n</svg>",
        path.join(" ")
    );
    svg
}

/// One of the report's plots: what both its SVG and its PNG draw.
pub struct Plot {
    /// File name without extension: `roc`, `pr`, `calibration`.
    pub name: &'static str,
    pub title: String,
    pub x_label: &'static str,
    pub y_label: &'static str,
    pub points: Vec<(f64, f64)>,
    pub diagonal: bool,
}

impl Plot {
    pub fn svg(&self) -> String {
        svg_plot(
            &self.title,
            self.x_label,
            self.y_label,
            &self.points,
            self.diagonal,
        )
    }

    pub fn png(&self) -> image::RgbImage {
        png_plot(&self.points, self.diagonal)
    }
}

impl Report {
    /// The ROC, PR and calibration plots.
    pub fn plots(&self) -> [Plot; 3] {
        let xy = |v: &[(f64, f64, f64)]| v.iter().map(|(x, y, _)| (*x, *y)).collect();
        let reliability = self.reliability.iter().map(|(c, o, _)| (*c, *o)).collect();
        [
            Plot {
                name: "roc",
                title: format!("ROC, AUC {}", num(self.overall.roc_auc)),
                x_label: "false positive rate",
                y_label: "true positive rate",
                points: xy(&self.roc),
                diagonal: true,
            },
            Plot {
                name: "pr",
                title: format!("Precision-recall, AP {}", num(self.overall.pr_auc)),
                x_label: "recall",
                y_label: "precision",
                points: xy(&self.pr),
                diagonal: false,
            },
            Plot {
                name: "calibration",
                title: format!("Reliability, ECE {:.3}", self.ece),
                x_label: "mean predicted probability",
                y_label: "observed frequency",
                points: reliability,
                diagonal: true,
            },
        ]
    }

    /// The report as one HTML page, its plots inline.
    pub fn html(&self) -> String {
        let mut h = String::new();
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
             <style>body{{font-family:system-ui,sans-serif;max-width:64rem;margin:2rem auto;padding:0 1rem}}\
             table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.2rem .5rem;text-align:right}}\
             .warn{{background:#fff3cd;border:1px solid #e0b400;padding:.8rem}}</style></head><body>\n<h1>{t}</h1>\n",
            t = escape(&self.title)
        );
        let o = &self.overall;
        let _ = writeln!(
            h,
            "<p>Split <b>{}</b>: {} images of {} patients, {} positive ({}). ROC AUC <b>{}</b> (95% interval over patients {}), PR AUC {}.</p>",
            escape(&self.split),
            o.images,
            o.patients,
            o.positives,
            escape(&self.positive_class),
            num(o.roc_auc),
            o.roc_auc_interval
                .map_or("n/a".into(), |(a, b)| format!("{a:.3} to {b:.3}")),
            num(o.pr_auc)
        );
        if let Some(w) = &self.shortcut.warning {
            let _ = writeln!(
                h,
                "<p class=\"warn\"><b>Shortcut warning.</b> {}</p>",
                escape(w)
            );
        }
        let _ = writeln!(
            h,
            "<p>Shortcut check: disease AUC within one source {}; the score telling two sources apart within one class, AUC {}; positive–negative pairs from the same source, AUC {}, and from different sources, AUC {}.</p>",
            num(self.shortcut.within_source_auc),
            num(self.shortcut.source_auc),
            num(self.shortcut.same_source_pairs_auc),
            num(self.shortcut.cross_source_pairs_auc)
        );
        h.push_str("<h2>Operating points</h2>\n<table><tr><th>point</th><th>threshold</th><th>sensitivity</th><th>specificity</th><th>PPV</th><th>NPV</th><th>F1</th><th>TP</th><th>FP</th><th>TN</th><th>FN</th></tr>\n");
        for (name, p) in &self.operating_points {
            let _ = writeln!(
                h,
                "<tr><th>{}</th><td>{}</td></tr>",
                escape(name),
                p.cells().join("</td><td>")
            );
        }
        h.push_str("</table>\n<h2>Thresholds by cost</h2>\n<p>One false negative costs as much as N false positives; the threshold that minimises the expected cost on this split.</p>\n<table><tr><th>FN:FP</th><th>threshold</th><th>cost per case</th><th>sensitivity</th><th>specificity</th></tr>\n");
        for c in &self.costs {
            let _ = writeln!(
                h,
                "<tr><td>{}:1</td><td>{:.3}</td><td>{:.3}</td><td>{}</td><td>{}</td></tr>",
                c.ratio,
                c.threshold,
                c.cost_per_case,
                num(c.point.sensitivity),
                num(c.point.specificity)
            );
        }
        let _ = writeln!(
            h,
            "</table>\n<h2>Calibration</h2>\n<p>ECE {:.3}{}.</p>",
            self.ece,
            match (self.temperature, self.ece_scaled) {
                (Some(t), Some(e)) =>
                    format!("; after temperature scaling fitted on validation (T = {t:.2}), {e:.3}"),
                _ => String::new(),
            }
        );
        for (title, rows) in [("By source", &self.by_source), ("By site", &self.by_site)] {
            let _ = writeln!(
                h,
                "<h2>{title}</h2>\n<table><tr><th></th><th>images</th><th>positive</th><th>ROC AUC</th><th>95% interval</th><th>sensitivity</th><th>specificity</th></tr>"
            );
            for (name, s) in rows {
                let _ = writeln!(
                    h,
                    "<tr><th>{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    escape(name),
                    s.images,
                    s.positives,
                    num(s.roc_auc),
                    s.roc_auc_interval
                        .map_or("n/a".into(), |(a, b)| format!("{a:.3}–{b:.3}")),
                    num(s.at_threshold.sensitivity),
                    num(s.at_threshold.specificity)
                );
            }
            h.push_str("</table>\n");
        }
        h.push_str("<h2>Plots</h2>\n");
        for plot in self.plots() {
            h.push_str(&plot.svg());
        }
        h.push_str(
            "<p>Research and decision support only: not a diagnostic device.</p>\n</body></html>\n",
        );
        h
    }
}

/// Digits and the decimal point as 3×5 bitmaps (rows top to bottom, bit 2 = left column):
/// enough for the tick labels of a PNG plot without a font file.
const DIGITS: [(char, [u8; 5]); 11] = [
    ('0', [7, 5, 5, 5, 7]),
    ('1', [2, 6, 2, 2, 7]),
    ('2', [7, 1, 7, 4, 7]),
    ('3', [7, 1, 7, 1, 7]),
    ('4', [5, 5, 7, 1, 1]),
    ('5', [7, 4, 7, 1, 7]),
    ('6', [7, 4, 7, 5, 7]),
    ('7', [7, 1, 1, 1, 1]),
    ('8', [7, 5, 7, 5, 7]),
    ('9', [7, 5, 7, 1, 7]),
    ('.', [0, 0, 0, 0, 2]),
];

/// The same plot as [`svg_plot`], as a PNG image for slides and documents: axes, quarter
/// grid, tick labels, the diagonal, the curve. Titles and axis names are in the SVG and the
/// file name; drawing letters would need a font file.
pub fn png_plot(points: &[(f64, f64)], diagonal: bool) -> image::RgbImage {
    use image::{Rgb, RgbImage};
    let (size, margin) = (720u32, 96u32);
    let mut img = RgbImage::from_pixel(size, size, Rgb([255, 255, 255]));
    let span = f64::from(size - 2 * margin);
    let px = |x: f64| f64::from(margin) + x.clamp(0.0, 1.0) * span;
    let py = |y: f64| f64::from(size - margin) - y.clamp(0.0, 1.0) * span;
    let dot = |img: &mut RgbImage, x: f64, y: f64, r: i64, color: Rgb<u8>| {
        for dy in -r..=r {
            for dx in -r..=r {
                let (xx, yy) = (x.round() as i64 + dx, y.round() as i64 + dy);
                if (0..i64::from(size)).contains(&xx) && (0..i64::from(size)).contains(&yy) {
                    img.put_pixel(xx as u32, yy as u32, color);
                }
            }
        }
    };
    let line =
        |img: &mut RgbImage, a: (f64, f64), b: (f64, f64), r: i64, color: Rgb<u8>, dash: bool| {
            let steps = ((b.0 - a.0).abs().max((b.1 - a.1).abs()).ceil() as usize).max(1);
            for i in 0..=steps {
                if dash && (i / 12) % 2 == 1 {
                    continue;
                }
                let t = i as f64 / steps as f64;
                dot(img, a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t, r, color);
            }
        };
    let (grid, axis, curve) = (
        Rgb([225, 225, 225]),
        Rgb([120, 120, 120]),
        Rgb([11, 95, 127]),
    );
    for t in [0.25, 0.5, 0.75] {
        line(&mut img, (px(t), py(0.0)), (px(t), py(1.0)), 0, grid, false);
        line(&mut img, (px(0.0), py(t)), (px(1.0), py(t)), 0, grid, false);
    }
    for (a, b) in [
        ((0.0, 0.0), (1.0, 0.0)),
        ((0.0, 0.0), (0.0, 1.0)),
        ((1.0, 0.0), (1.0, 1.0)),
        ((0.0, 1.0), (1.0, 1.0)),
    ] {
        line(
            &mut img,
            (px(a.0), py(a.1)),
            (px(b.0), py(b.1)),
            1,
            axis,
            false,
        );
    }
    if diagonal {
        line(
            &mut img,
            (px(0.0), py(0.0)),
            (px(1.0), py(1.0)),
            1,
            Rgb([170, 170, 170]),
            true,
        );
    }
    for pair in points.windows(2) {
        line(
            &mut img,
            (px(pair[0].0), py(pair[0].1)),
            (px(pair[1].0), py(pair[1].1)),
            2,
            curve,
            false,
        );
    }
    // Tick labels, 4 px per bitmap cell.
    let text = |img: &mut RgbImage, s: &str, right: f64, top: f64| {
        let cell = 4.0;
        let width = s.chars().count() as f64 * 4.0 * cell;
        for (k, c) in s.chars().enumerate() {
            let Some((_, rows)) = DIGITS.iter().find(|(d, _)| *d == c) else {
                continue;
            };
            for (ry, row) in rows.iter().enumerate() {
                for col in 0..3 {
                    if row & (4 >> col) != 0 {
                        let x = right - width + (k as f64 * 4.0 + col as f64) * cell;
                        let y = top + ry as f64 * cell;
                        for oy in 0..4 {
                            for ox in 0..4 {
                                dot(img, x + f64::from(ox), y + f64::from(oy), 0, axis);
                            }
                        }
                    }
                }
            }
        }
    };
    for (t, label) in [(0.0, "0"), (0.5, "0.5"), (1.0, "1")] {
        let w = label.len() as f64 * 16.0;
        text(
            &mut img,
            label,
            px(t) + w / 2.0,
            f64::from(size - margin) + 14.0,
        );
        text(&mut img, label, f64::from(margin) - 12.0, py(t) - 10.0);
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(p: f64, positive: bool, source: &str, n: usize) -> Scored {
        Scored {
            probability: p,
            positive,
            patient: format!("{source}-{n}"),
            source: source.into(),
            site: source.into(),
        }
    }

    #[test]
    fn a_score_that_tracks_the_source_is_flagged() {
        // Source A holds the positives and source B the negatives; within A, the score says
        // little; between A's and B's negatives... there are none in A, so compare B with C,
        // two sources of negatives the score tells apart perfectly.
        let mut cases = Vec::new();
        for n in 0..40 {
            cases.push(case(0.6 + (n % 10) as f64 / 100.0, n % 2 == 0, "A", n));
            cases.push(case(0.1 + (n % 5) as f64 / 100.0, false, "B", n));
            cases.push(case(0.8 + (n % 5) as f64 / 100.0, false, "C", n));
        }
        let s = shortcut(&cases, None);
        assert!(s.source_auc.unwrap() > 0.99);
        assert!(s.within_source_auc.unwrap() < 0.7);
        assert!(s.warning.is_some());
    }

    #[test]
    fn recognisable_sources_with_tangled_labels_are_flagged() {
        // Source A is all positive, B all negative, C mixed; the score is weak within C,
        // and the probe tells A from B perfectly.
        let mut cases = Vec::new();
        for n in 0..40 {
            cases.push(case(0.7, true, "A", n));
            cases.push(case(0.3, false, "B", n));
            cases.push(case(0.5 + (n % 3) as f64 / 100.0, n % 2 == 0, "C", n));
        }
        let probe = SourceProbe {
            sources: ("A".into(), "B".into()),
            auc: 1.0,
        };
        let s = shortcut(&cases, Some(probe.clone()));
        assert!(
            s.warning
                .as_deref()
                .is_some_and(|w| w.contains("tell A from B")),
            "{:?}",
            s.warning
        );
        // The same probe on untangled labels says nothing.
        let fair: Vec<Scored> = (0..40)
            .flat_map(|n| {
                let p = if n % 2 == 0 { 0.9 } else { 0.1 };
                [case(p, n % 2 == 0, "A", n), case(p, n % 2 == 0, "B", n)]
            })
            .collect();
        assert!(shortcut(&fair, Some(probe)).warning.is_none());
    }

    #[test]
    fn a_score_that_tracks_the_disease_is_not() {
        let mut cases = Vec::new();
        for n in 0..40 {
            let positive = n % 2 == 0;
            let p = if positive { 0.8 } else { 0.2 } + (n % 7) as f64 / 100.0;
            cases.push(case(p, positive, "A", n));
            cases.push(case(p + 0.01, positive, "B", n));
        }
        let s = shortcut(&cases, None);
        assert!(s.within_source_auc.unwrap() > 0.99);
        assert!(s.warning.is_none(), "{:?}", s.warning);
        let r = build(
            "t",
            "test",
            "COVID-19",
            &cases,
            Some(&[(0.9, true), (0.1, false)]),
            None,
            0.5,
            1,
        );
        assert_eq!(r.costs.len(), 20);
        assert!(r.html().contains("<svg"));
        assert_eq!(r.by_source.len(), 2);
    }
}
