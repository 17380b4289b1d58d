//! Reading a submitted CSV of predictions, strictly.
//!
//! A submission is scored against hidden labels, so anything ambiguous is refused rather
//! than guessed at: a dropped row or a mistyped id would otherwise change a score silently.
//! The format is deliberately the smallest one that tools write by default (pandas'
//! `to_csv(index=False)`, a spreadsheet's export): a header, then one line per test image,
//! fields separated by commas, no quoting.
//!
//! Problems are collected, not just the first one, so that a participant can fix several in
//! one go; collection stops at [`MAX_PROBLEMS`] and at problems after which reading further
//! means nothing (not UTF-8, no or a wrong header, far too many lines).

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use thiserror::Error;

/// How many problems one rejection lists; past that, the file is probably not what the
/// challenge asks for at all, and a longer list helps nobody.
pub const MAX_PROBLEMS: usize = 20;

/// How many missing ids a rejection names (it always says how many there are).
const MISSING_NAMED: usize = 5;

/// Lines beyond the test set's size that are tolerated before reading stops, so that a
/// wrong file (a log, a whole data set) is refused early with a clear message.
const SPARE_LINES: usize = 1000;

/// The columns a challenge asks for: its classes in their declared order and which of them
/// is the one scored (one-vs-rest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    classes: Vec<String>,
    positive: usize,
}

/// Why a challenge's declared classes cannot make a CSV header.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ColumnsError {
    #[error("a challenge needs at least two classes, not {0}")]
    TooFewClasses(usize),
    #[error("the positive class is number {positive}, but there are only {classes} classes")]
    PositiveOutOfRange { positive: usize, classes: usize },
    #[error(
        "class name {0:?} cannot be a CSV column (empty, 'id', or with commas, quotes, line breaks or surrounding spaces)"
    )]
    BadName(String),
    #[error("class name {0:?} is declared twice")]
    Duplicate(String),
}

impl Columns {
    pub fn new(classes: Vec<String>, positive: usize) -> Result<Columns, ColumnsError> {
        if classes.len() < 2 {
            return Err(ColumnsError::TooFewClasses(classes.len()));
        }
        if positive >= classes.len() {
            return Err(ColumnsError::PositiveOutOfRange {
                positive,
                classes: classes.len(),
            });
        }
        for (i, name) in classes.iter().enumerate() {
            let unusable = name.is_empty()
                || name == "id"
                || name.trim() != name
                || name.contains([',', '"', '\n', '\r']);
            if unusable {
                return Err(ColumnsError::BadName(name.clone()));
            }
            if classes[..i].contains(name) {
                return Err(ColumnsError::Duplicate(name.clone()));
            }
        }
        Ok(Columns { classes, positive })
    }

    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    pub fn positive(&self) -> usize {
        self.positive
    }

    /// The accepted headers. With two classes the one probability a binary classifier
    /// outputs is enough (`id,probability`, of the positive class), and asking for a
    /// redundant second column would only invite mistakes; the per-class form is accepted
    /// too so that one script can serve every challenge.
    pub fn headers(&self) -> Vec<String> {
        let per_class = format!("id,{}", self.classes.join(","));
        if self.classes.len() == 2 {
            vec!["id,probability".to_owned(), per_class]
        } else {
            vec![per_class]
        }
    }

    fn expected(&self) -> String {
        let quoted: Vec<String> = self.headers().iter().map(|h| format!("'{h}'")).collect();
        quoted.join(" or ")
    }
}

/// One thing wrong with a submission. Those found on a line start with `line N:` (1-based,
/// the header being line 1), so that a participant can go straight to it.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum Problem {
    #[error("line {line}: the file is not UTF-8 text")]
    NotUtf8 { line: usize },
    #[error("the file is empty; expected a header line {expected} and one line per test image")]
    Empty { expected: String },
    #[error("line 1: the header is '{found}'; expected {expected}")]
    Header { found: String, expected: String },
    #[error(
        "line {line}: quoted fields are not accepted; write ids (file names, which have no commas) and numbers without quotes"
    )]
    Quoted { line: usize },
    #[error("line {line}: blank line; blank lines are only allowed at the end of the file")]
    BlankLine { line: usize },
    #[error("line {line}: {found} fields; expected {expected}, as in the header '{header}'")]
    FieldCount {
        line: usize,
        found: usize,
        expected: usize,
        header: String,
    },
    #[error("line {line}: the id is empty")]
    EmptyId { line: usize },
    #[error("line {line}: unknown id '{id}' (not in this challenge's test set)")]
    UnknownId { line: usize, id: String },
    #[error("line {line}: duplicate id '{id}' (already on line {first})")]
    DuplicateId {
        line: usize,
        id: String,
        first: usize,
    },
    #[error("line {line}: the {column} value '{value}' is not a number")]
    NotANumber {
        line: usize,
        column: String,
        value: String,
    },
    #[error("line {line}: the {column} value '{value}' is not finite; probabilities are in [0, 1]")]
    NotFinite {
        line: usize,
        column: String,
        value: String,
    },
    #[error("line {line}: the {column} value {value} is outside [0, 1]")]
    OutOfRange {
        line: usize,
        column: String,
        value: f64,
    },
    #[error(
        "line {line}: too many lines; the test set has {ids} images, so a submission has at most {} lines",
        .ids + 1
    )]
    TooManyLines { line: usize, ids: usize },
    #[error("{count} test image(s) have no prediction: {}", named(.first, *.count))]
    Missing { count: usize, first: Vec<String> },
}

impl Problem {
    /// The line the problem was found on; `None` for the empty file and missing ids.
    pub fn line(&self) -> Option<usize> {
        match self {
            Problem::Empty { .. } | Problem::Missing { .. } => None,
            Problem::Header { .. } => Some(1),
            Problem::NotUtf8 { line }
            | Problem::Quoted { line }
            | Problem::BlankLine { line }
            | Problem::FieldCount { line, .. }
            | Problem::EmptyId { line }
            | Problem::UnknownId { line, .. }
            | Problem::DuplicateId { line, .. }
            | Problem::NotANumber { line, .. }
            | Problem::NotFinite { line, .. }
            | Problem::OutOfRange { line, .. }
            | Problem::TooManyLines { line, .. } => Some(*line),
        }
    }
}

fn named(first: &[String], count: usize) -> String {
    let mut out: Vec<String> = first.iter().map(|id| format!("'{id}'")).collect();
    if count > first.len() {
        out.push(format!("and {} more", count - first.len()));
    }
    out.join(", ")
}

/// A refused submission: its problems in the order found, one per line when displayed.
#[derive(Debug, Clone, PartialEq, Error)]
pub struct SubmissionError {
    pub problems: Vec<Problem>,
    /// Whether reading stopped at [`MAX_PROBLEMS`] with more left unlisted.
    pub more: bool,
}

impl fmt::Display for SubmissionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.problems.iter().map(|p| p.to_string()).collect();
        f.write_str(&lines.join("\n"))?;
        if self.more {
            write!(
                f,
                "\n(stopped after {MAX_PROBLEMS} problems; there may be more)"
            )?;
        }
        Ok(())
    }
}

/// A valid submission: one row per test image, in the challenge's class order.
#[derive(Debug, Clone, PartialEq)]
pub struct Predictions {
    positive: usize,
    rows: BTreeMap<String, Vec<f64>>,
}

impl Predictions {
    /// The probability of the challenge's positive class, the one that is scored.
    pub fn probability(&self, id: &str) -> Option<f64> {
        self.rows
            .get(id)
            .and_then(|row| row.get(self.positive).copied())
    }

    /// All classes' probabilities for one image. From the binary header they are
    /// `1 - p` and `p`. Rows are not required to sum to 1 (rounding in a CSV would make
    /// that fussy), since only the positive class's column is scored.
    pub fn row(&self, id: &str) -> Option<&[f64]> {
        self.rows.get(id).map(Vec::as_slice)
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// Shown text is cut short so that a garbage line cannot make the message enormous.
fn shown(text: &str) -> String {
    const LIMIT: usize = 80;
    match text.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

struct Collector {
    problems: Vec<Problem>,
    more: bool,
}

impl Collector {
    fn push(&mut self, problem: Problem) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(problem);
        } else {
            self.more = true;
        }
    }

    fn fatal(problem: Problem) -> SubmissionError {
        SubmissionError {
            problems: vec![problem],
            more: false,
        }
    }
}

/// Reads a submission for a test set whose images are `expected_ids`; the caller bounds
/// the size of `bytes` (the number of lines is bounded here).
pub fn parse(
    bytes: &[u8],
    columns: &Columns,
    expected_ids: &[&str],
) -> Result<Predictions, SubmissionError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        Collector::fatal(Problem::NotUtf8 { line })
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(Collector::fatal(Problem::Empty {
            expected: columns.expected(),
        }));
    }
    let mut lines = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .enumerate()
        .map(|(i, l)| (i + 1, l));

    let (_, header_line) = lines.next().unwrap_or((1, ""));
    if header_line.contains('"') {
        return Err(Collector::fatal(Problem::Quoted { line: 1 }));
    }
    let header: Vec<&str> = header_line.split(',').map(str::trim).collect();
    let header_text = header.join(",");
    let binary = columns.classes.len() == 2 && header_text == "id,probability";
    if !binary && header_text != format!("id,{}", columns.classes.join(",")) {
        return Err(Collector::fatal(Problem::Header {
            found: shown(header_line.trim()),
            expected: columns.expected(),
        }));
    }
    let value_columns: Vec<String> = header[1..].iter().map(|c| (*c).to_owned()).collect();

    let index: HashMap<&str, usize> = expected_ids
        .iter()
        .enumerate()
        .rev()
        .map(|(i, id)| (*id, i))
        .collect();
    let mut first_line: Vec<Option<usize>> = vec![None; expected_ids.len()];
    let mut rows: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut found = Collector {
        problems: Vec::new(),
        more: false,
    };
    let most_lines = expected_ids.len() + 1 + SPARE_LINES;
    let mut blank_since: Option<usize> = None;

    for (line, raw) in lines {
        if found.more {
            break;
        }
        if line > most_lines {
            found.push(Problem::TooManyLines {
                line,
                ids: expected_ids.len(),
            });
            return Err(SubmissionError {
                problems: found.problems,
                more: found.more,
            });
        }
        if raw.trim().is_empty() {
            blank_since.get_or_insert(line);
            continue;
        }
        if let Some(blank) = blank_since.take() {
            found.push(Problem::BlankLine { line: blank });
        }
        let fields: Vec<&str> = raw.split(',').map(str::trim).collect();
        let unreadable = if raw.contains('"') {
            Some(Problem::Quoted { line })
        } else if fields.len() != header.len() {
            Some(Problem::FieldCount {
                line,
                found: fields.len(),
                expected: header.len(),
                header: header_text.clone(),
            })
        } else {
            None
        };
        if let Some(problem) = unreadable {
            found.push(problem);
            // The image is there, if unreadable: not also reported as missing.
            let id = fields[0].trim_matches('"').trim();
            if let Some(&slot) = index.get(id) {
                first_line[slot].get_or_insert(line);
            }
            continue;
        }
        let id = fields[0];
        let mut usable = true;
        let slot = if id.is_empty() {
            found.push(Problem::EmptyId { line });
            None
        } else if let Some(&slot) = index.get(id) {
            if let Some(first) = first_line[slot] {
                found.push(Problem::DuplicateId {
                    line,
                    id: shown(id),
                    first,
                });
                usable = false;
            } else {
                first_line[slot] = Some(line);
            }
            Some(slot)
        } else {
            found.push(Problem::UnknownId {
                line,
                id: shown(id),
            });
            None
        };
        let mut values = Vec::with_capacity(value_columns.len());
        for (text, column) in fields[1..].iter().zip(&value_columns) {
            match probability(text, column, line) {
                Ok(v) => values.push(v),
                Err(problem) => {
                    found.push(problem);
                    usable = false;
                }
            }
        }
        if let (Some(slot), true) = (slot, usable) {
            let row = if binary {
                let p = values[0];
                let mut row = vec![1.0 - p; 2];
                row[columns.positive] = p;
                row
            } else {
                values
            };
            rows.insert(expected_ids[slot].to_owned(), row);
        }
    }

    if !found.more {
        let missing: Vec<usize> = (0..expected_ids.len())
            .filter(|&i| first_line[i].is_none() && index.get(expected_ids[i]) == Some(&i))
            .collect();
        if !missing.is_empty() {
            found.push(Problem::Missing {
                count: missing.len(),
                first: missing
                    .iter()
                    .take(MISSING_NAMED)
                    .map(|&i| shown(expected_ids[i]))
                    .collect(),
            });
        }
    }
    if found.problems.is_empty() {
        Ok(Predictions {
            positive: columns.positive,
            rows,
        })
    } else {
        Err(SubmissionError {
            problems: found.problems,
            more: found.more,
        })
    }
}

fn probability(text: &str, column: &str, line: usize) -> Result<f64, Problem> {
    let value: f64 = text.parse().map_err(|_| Problem::NotANumber {
        line,
        column: column.to_owned(),
        value: shown(text),
    })?;
    if !value.is_finite() {
        return Err(Problem::NotFinite {
            line,
            column: column.to_owned(),
            value: shown(text),
        });
    }
    if !(0.0..=1.0).contains(&value) {
        return Err(Problem::OutOfRange {
            line,
            column: column.to_owned(),
            value,
        });
    }
    // -0 becomes 0, so that equal probabilities compare and print equal.
    Ok(value + 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDS: [&str; 3] = ["a.png", "b.png", "c.png"];

    fn binary() -> Columns {
        Columns::new(vec!["normal".into(), "covid".into()], 1).expect("columns")
    }

    fn three() -> Columns {
        Columns::new(vec!["normal".into(), "covid".into(), "pneumonia".into()], 1).expect("columns")
    }

    fn problems(text: &str, columns: &Columns) -> Vec<Problem> {
        parse(text.as_bytes(), columns, &IDS)
            .expect_err("refused")
            .problems
    }

    /// The only problem, its line, and its message.
    fn only(text: &str, columns: &Columns) -> (Option<usize>, String) {
        let found = problems(text, columns);
        assert_eq!(found.len(), 1, "{found:?}");
        (found[0].line(), found[0].to_string())
    }

    #[test]
    fn both_headers_of_a_binary_challenge_give_the_same_probabilities() {
        let short = parse(
            b"id,probability\na.png,0.25\nb.png,1\nc.png,0\n",
            &binary(),
            &IDS,
        )
        .expect("binary header");
        let long = parse(
            b"id,normal,covid\na.png,0.75,0.25\nb.png,0,1\nc.png,1,0\n",
            &binary(),
            &IDS,
        )
        .expect("per-class header");
        for id in IDS {
            assert_eq!(short.probability(id), long.probability(id));
            assert_eq!(short.row(id), long.row(id));
        }
        assert_eq!(short.probability("a.png"), Some(0.25));
        assert_eq!(short.row("a.png"), Some(&[0.75, 0.25][..]));
        assert_eq!(short.len(), 3);
    }

    #[test]
    fn the_positive_column_gets_the_binary_probability_wherever_it_is() {
        let columns = Columns::new(vec!["covid".into(), "normal".into()], 0).expect("columns");
        let p = parse(
            b"id,probability\na.png,0.9\nb.png,0.1\nc.png,0.5",
            &columns,
            &IDS,
        )
        .expect("valid");
        assert_eq!(p.probability("a.png"), Some(0.9));
        assert_eq!(p.row("a.png"), Some(&[0.9, 1.0 - 0.9][..]));
    }

    #[test]
    fn crlf_bom_spaces_and_trailing_blank_lines_are_accepted() {
        let text = "\u{feff}id , probability\r\n a.png ,0.5\r\nb.png, 1e-3 \r\nc.png,.5\r\n\r\n\n";
        let p = parse(text.as_bytes(), &binary(), &IDS).expect("valid");
        assert_eq!(p.probability("b.png"), Some(0.001));
        assert_eq!(p.probability("c.png"), Some(0.5));
    }

    #[test]
    fn more_than_two_classes_need_the_per_class_header() {
        let p = parse(
            b"id,normal,covid,pneumonia\na.png,0.2,0.7,0.1\nb.png,1,0,0\nc.png,0,0,1\n",
            &three(),
            &IDS,
        )
        .expect("valid");
        assert_eq!(p.probability("a.png"), Some(0.7));
        let (line, message) = only("id,probability\na.png,0.5\n", &three());
        assert_eq!(line, Some(1));
        assert!(
            message.starts_with("line 1: the header is 'id,probability'")
                && message.contains("expected 'id,normal,covid,pneumonia'"),
            "{message}"
        );
    }

    #[test]
    fn a_wrong_header_says_what_was_expected() {
        let (line, message) = only("image,score\na.png,0.5\n", &binary());
        assert_eq!(line, Some(1));
        assert!(
            message.contains("'image,score'")
                && message.contains("expected 'id,probability' or 'id,normal,covid'"),
            "{message}"
        );
    }

    #[test]
    fn text_that_is_not_utf8_names_its_line() {
        let found = parse(
            b"id,probability\na.png,0.5\nb\xff.png,0.5\n",
            &binary(),
            &IDS,
        )
        .expect_err("refused")
        .problems;
        assert_eq!(found[0].line(), Some(3));
        assert!(found[0].to_string().contains("not UTF-8"));
    }

    #[test]
    fn an_empty_file_is_refused() {
        for text in ["", "\u{feff}", "\n\r\n  \n"] {
            let (line, message) = only(text, &binary());
            assert_eq!(line, None);
            assert!(message.contains("empty") && message.contains("id,probability"));
        }
    }

    #[test]
    fn a_line_with_the_wrong_number_of_fields() {
        let (line, message) = only(
            "id,probability\na.png,0.5\nb.png,0.5,0.1\nc.png,0.5\n",
            &binary(),
        );
        assert_eq!(line, Some(3));
        assert!(
            message.starts_with("line 3: 3 fields; expected 2"),
            "{message}"
        );
    }

    #[test]
    fn unknown_and_empty_ids() {
        let found = problems(
            "id,probability\na.png,0.5\nb.png,0.5\nc.png,0.5\nx.png,0.1\n,0.2\n",
            &binary(),
        );
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(
            found[0].to_string(),
            "line 5: unknown id 'x.png' (not in this challenge's test set)"
        );
        assert_eq!(found[1].to_string(), "line 6: the id is empty");
    }

    #[test]
    fn a_duplicate_names_the_earlier_line() {
        let (line, message) = only(
            "id,probability\na.png,0.5\nb.png,0.5\nc.png,0.5\nb.png,0.7\n",
            &binary(),
        );
        assert_eq!(line, Some(5));
        assert!(
            message.contains("duplicate id 'b.png' (already on line 3)"),
            "{message}"
        );
    }

    #[test]
    fn values_must_be_probabilities() {
        let cases = [
            ("abc", "'abc' is not a number"),
            ("", "'' is not a number"),
            ("NaN", "'NaN' is not finite"),
            ("inf", "'inf' is not finite"),
            ("-infinity", "'-infinity' is not finite"),
            ("1.5", "1.5 is outside [0, 1]"),
            ("-0.01", "-0.01 is outside [0, 1]"),
        ];
        for (value, words) in cases {
            let text = format!("id,probability\na.png,0.5\nb.png,{value}\nc.png,0.5\n");
            let (line, message) = only(&text, &binary());
            assert_eq!(line, Some(3), "{value}");
            assert!(
                message.starts_with("line 3: the probability value"),
                "{message}"
            );
            assert!(message.contains(words), "{message}");
        }
        let (_, message) = only(
            "id,normal,covid\na.png,0.5,0.5\nb.png,0.5,2\nc.png,0.5,0.5\n",
            &binary(),
        );
        assert!(
            message.contains("the covid value 2 is outside"),
            "{message}"
        );
    }

    #[test]
    fn quoted_fields_are_refused_clearly() {
        let (line, message) = only("\"id\",\"probability\"\n", &binary());
        assert_eq!(line, Some(1));
        assert!(
            message.contains("quoted fields are not accepted"),
            "{message}"
        );
        let (line, _) = only(
            "id,probability\na.png,0.5\n\"b.png\",0.5\nc.png,0.1\n",
            &binary(),
        );
        assert_eq!(line, Some(3));
    }

    #[test]
    fn a_blank_line_in_the_middle_is_an_error() {
        let (line, message) = only(
            "id,probability\na.png,0.5\n\n  \r\nb.png,0.5\nc.png,0.5\n",
            &binary(),
        );
        assert_eq!(line, Some(3));
        assert!(message.contains("blank line"), "{message}");
    }

    #[test]
    fn missing_ids_are_counted_and_the_first_named() {
        let ids: Vec<String> = (0..8).map(|i| format!("{i}.png")).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let error = parse(b"id,probability\n3.png,0.5\n", &binary(), &ids).expect_err("refused");
        assert_eq!(error.problems.len(), 1);
        assert_eq!(error.problems[0].line(), None);
        assert_eq!(
            error.to_string(),
            "7 test image(s) have no prediction: '0.png', '1.png', '2.png', '4.png', '5.png', and 2 more"
        );
    }

    #[test]
    fn far_too_many_lines_stop_reading_early() {
        let mut text = String::from("id,probability\na.png,0.5\nb.png,0.5\nc.png,0.5\n");
        text.push_str(&"\n".repeat(5000));
        let error = parse(text.as_bytes(), &binary(), &IDS).expect_err("refused");
        let last = error.problems.last().expect("a problem");
        assert_eq!(last.line(), Some(IDS.len() + 1 + SPARE_LINES + 1));
        assert!(last.to_string().contains("too many lines"), "{last}");
        assert!(last.to_string().contains("at most 4 lines"), "{last}");
    }

    #[test]
    fn several_problems_are_reported_at_once_up_to_a_limit() {
        let found = problems("id,probability\na.png,x\nb.png,2\nz.png,0.5\n", &binary());
        let lines: Vec<Option<usize>> = found.iter().map(Problem::line).collect();
        // c.png is missing; a.png and b.png were there, if wrong.
        assert_eq!(lines, [Some(2), Some(3), Some(4), None]);
        assert!(
            found[3]
                .to_string()
                .starts_with("1 test image(s) have no prediction: 'c.png'")
        );

        let mut text = String::from("id,probability\n");
        for i in 0..50 {
            text.push_str(&format!("x{i}.png,0.5\n"));
        }
        let error = parse(text.as_bytes(), &binary(), &IDS).expect_err("refused");
        assert_eq!(error.problems.len(), MAX_PROBLEMS);
        assert!(error.more);
        let shown = error.to_string();
        assert_eq!(shown.lines().count(), MAX_PROBLEMS + 1);
        assert!(shown.starts_with("line 2: unknown id 'x0.png'"), "{shown}");
    }

    #[test]
    fn class_names_must_make_a_header() {
        assert_eq!(
            Columns::new(vec!["covid".into()], 0),
            Err(ColumnsError::TooFewClasses(1))
        );
        assert!(Columns::new(vec!["a".into(), "b".into()], 2).is_err());
        assert!(Columns::new(vec!["a,b".into(), "c".into()], 0).is_err());
        assert!(Columns::new(vec!["a".into(), "a".into()], 0).is_err());
        assert!(Columns::new(vec!["id".into(), "a".into()], 0).is_err());
        assert_eq!(binary().headers(), ["id,probability", "id,normal,covid"]);
        assert_eq!(three().headers(), ["id,normal,covid,pneumonia"]);
    }
}
