//! DICOM PS3.15 Table E.1-1, embedded and parsed once.
//!
//! The JSON file in `standards/` is the innolitics/dicom-standard extraction of the
//! table (MIT, see `standards/LICENSE-innolitics-dicom-standard`; the standard's text is
//! NEMA's). It is the single source of the per-attribute actions: nothing here is retyped.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::profile::Options;

const TABLE_JSON: &str = include_str!("../standards/ps3.15-table-e1-1.json");

/// One action of Table E.1-1, as the standard names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// D: replace with a non-zero length dummy value.
    Dummy,
    /// Z: replace with a zero-length value (or a dummy).
    Zero,
    /// X: remove.
    Remove,
    /// K: keep (unless it is a sequence, whose items are processed by the same rules).
    Keep,
    /// C: clean, keeping the meaning without the identity (dates shifted, text scrubbed).
    Clean,
    /// U: replace UIDs with consistent, keyed ones.
    ReplaceUid,
}

/// A basic-profile cell, possibly compound (`X/Z/D`): the first action applies unless the
/// IOD needs the attribute present (see [`crate::iod`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicAction {
    pub choices: Vec<Action>,
}

/// A row of the table: the basic action and the action of every option that changes it.
#[derive(Debug, Clone)]
pub struct Row {
    pub name: String,
    pub basic: BasicAction,
    pub rtn_safe_priv: Option<Action>,
    pub rtn_uids: Option<Action>,
    pub rtn_dev_id: Option<Action>,
    pub rtn_inst_id: Option<Action>,
    pub rtn_pat_chars: Option<Action>,
    pub rtn_long_full_dates: Option<Action>,
    pub rtn_long_modif_dates: Option<Action>,
    pub clean_desc: Option<Action>,
    pub clean_struct_cont: Option<Action>,
    pub clean_graph: Option<Action>,
}

/// What the table says for one attribute once the profile's options are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// A single action chosen by an option.
    Single(Action),
    /// The basic profile's (possibly compound) action.
    Basic(BasicAction),
}

impl Row {
    /// Applies the options in the order PS3.15 E.3 gives them precedence: an option that
    /// retains (K) or cleans (C) overrides the basic profile. Where two options speak, the
    /// more protective wins (C before K), except that "Retain … Full Dates" outranks
    /// "Modified Dates" only if modified dates is off.
    pub fn resolve(&self, options: &Options) -> Resolved {
        let mut chosen: Option<Action> = None;
        let mut offer = |enabled: bool, action: Option<Action>| {
            if let (true, Some(a)) = (enabled, action) {
                chosen = Some(match (chosen, a) {
                    (Some(Action::Clean), _) | (_, Action::Clean) => Action::Clean,
                    (_, a) => a,
                });
            }
        };
        offer(options.retain_safe_private, self.rtn_safe_priv);
        offer(options.retain_uids, self.rtn_uids);
        offer(options.retain_device_identity, self.rtn_dev_id);
        offer(options.retain_institution_identity, self.rtn_inst_id);
        offer(options.retain_patient_characteristics, self.rtn_pat_chars);
        if options.retain_modified_dates {
            offer(true, self.rtn_long_modif_dates);
        } else {
            offer(options.retain_full_dates, self.rtn_long_full_dates);
        }
        offer(options.clean_descriptors, self.clean_desc);
        offer(options.clean_structured_content, self.clean_struct_cont);
        offer(options.clean_graphics, self.clean_graph);
        match chosen {
            Some(a) => Resolved::Single(a),
            None => Resolved::Basic(self.basic.clone()),
        }
    }
}

/// The whole table: rows by tag, plus the four wildcard rows.
#[derive(Debug)]
pub struct ConfidentialityTable {
    rows: HashMap<u32, Row>,
    /// `(50XX,XXXX)` curve data.
    pub curves: Row,
    /// `(60XX,3000)` overlay data.
    pub overlay_data: Row,
    /// `(60XX,4000)` overlay comments.
    pub overlay_comments: Row,
    /// `(GGGG,EEEE)` with odd GGGG.
    pub private: Row,
}

#[derive(Deserialize)]
struct RawRow {
    name: String,
    id: String,
    #[serde(rename = "basicProfile")]
    basic_profile: String,
    #[serde(rename = "rtnSafePrivOpt")]
    rtn_safe_priv: Option<String>,
    #[serde(rename = "rtnUIDsOpt")]
    rtn_uids: Option<String>,
    #[serde(rename = "rtnDevIdOpt")]
    rtn_dev_id: Option<String>,
    #[serde(rename = "rtnInstIdOpt")]
    rtn_inst_id: Option<String>,
    #[serde(rename = "rtnPatCharsOpt")]
    rtn_pat_chars: Option<String>,
    #[serde(rename = "rtnLongFullDatesOpt")]
    rtn_long_full_dates: Option<String>,
    #[serde(rename = "rtnLongModifDatesOpt")]
    rtn_long_modif_dates: Option<String>,
    #[serde(rename = "cleanDescOpt")]
    clean_desc: Option<String>,
    #[serde(rename = "cleanStructContOpt")]
    clean_struct_cont: Option<String>,
    #[serde(rename = "cleanGraphOpt")]
    clean_graph: Option<String>,
}

/// The embedded table could not be understood. Only a broken build can cause this, so the
/// test suite parses it on every run.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("Table E.1-1 is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("Table E.1-1 row {row}: unknown action code {code:?}")]
    UnknownAction { row: String, code: String },
    #[error("Table E.1-1 row {row}: unexpected id")]
    BadId { row: String },
    #[error("Table E.1-1 lacks the wildcard row {0}")]
    MissingWildcard(&'static str),
}

fn action(code: &str, row: &str) -> Result<Action, TableError> {
    // `U*` (inside X/Z/U*) means "replace the UIDs inside the sequence", which the
    // recursive walk does anyway.
    Ok(match code {
        "D" => Action::Dummy,
        "Z" => Action::Zero,
        "X" => Action::Remove,
        "K" => Action::Keep,
        "C" => Action::Clean,
        "U" | "U*" => Action::ReplaceUid,
        other => {
            return Err(TableError::UnknownAction {
                row: row.to_owned(),
                code: other.to_owned(),
            });
        }
    })
}

fn opt(code: &Option<String>, row: &str) -> Result<Option<Action>, TableError> {
    code.as_deref().map(|c| action(c, row)).transpose()
}

impl ConfidentialityTable {
    /// The table as embedded in the binary, parsed on first use.
    pub fn embedded() -> Result<&'static ConfidentialityTable, &'static TableError> {
        static TABLE: OnceLock<Result<ConfidentialityTable, TableError>> = OnceLock::new();
        TABLE.get_or_init(|| Self::parse(TABLE_JSON)).as_ref()
    }

    pub fn parse(json: &str) -> Result<Self, TableError> {
        let raw: Vec<RawRow> = serde_json::from_str(json)?;
        let mut rows = HashMap::with_capacity(raw.len());
        let (mut curves, mut overlay_data, mut overlay_comments, mut private) =
            (None, None, None, None);
        for r in raw {
            let row_name = r.name.split_whitespace().collect::<Vec<_>>().join(" ");
            let choices = r
                .basic_profile
                .split('/')
                .map(|c| action(c.trim(), &row_name))
                .collect::<Result<Vec<_>, _>>()?;
            let row = Row {
                basic: BasicAction { choices },
                rtn_safe_priv: opt(&r.rtn_safe_priv, &row_name)?,
                rtn_uids: opt(&r.rtn_uids, &row_name)?,
                rtn_dev_id: opt(&r.rtn_dev_id, &row_name)?,
                rtn_inst_id: opt(&r.rtn_inst_id, &row_name)?,
                rtn_pat_chars: opt(&r.rtn_pat_chars, &row_name)?,
                rtn_long_full_dates: opt(&r.rtn_long_full_dates, &row_name)?,
                rtn_long_modif_dates: opt(&r.rtn_long_modif_dates, &row_name)?,
                clean_desc: opt(&r.clean_desc, &row_name)?,
                clean_struct_cont: opt(&r.clean_struct_cont, &row_name)?,
                clean_graph: opt(&r.clean_graph, &row_name)?,
                name: row_name.clone(),
            };
            match r.id.as_str() {
                "50xxxxxx" => curves = Some(row),
                "60xx3000" => overlay_data = Some(row),
                "60xx4000" => overlay_comments = Some(row),
                id if id.starts_with("gggg") => private = Some(row),
                id => {
                    let tag = u32::from_str_radix(id, 16)
                        .map_err(|_| TableError::BadId { row: row_name })?;
                    rows.insert(tag, row);
                }
            }
        }
        Ok(ConfidentialityTable {
            rows,
            curves: curves.ok_or(TableError::MissingWildcard("(50XX,XXXX)"))?,
            overlay_data: overlay_data.ok_or(TableError::MissingWildcard("(60XX,3000)"))?,
            overlay_comments: overlay_comments.ok_or(TableError::MissingWildcard("(60XX,4000)"))?,
            private: private.ok_or(TableError::MissingWildcard("(GGGG,EEEE)"))?,
        })
    }

    /// The row for an exact tag (group << 16 | element), if the table lists it.
    pub fn row(&self, tag: u32) -> Option<&Row> {
        self.rows.get(&tag)
    }

    /// Number of rows, wildcards included (621 for rev2024b).
    pub fn len(&self) -> usize {
        self.rows.len() + 4
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_of_the_embedded_table_parses() {
        let table = ConfidentialityTable::embedded().expect("embedded table parses");
        assert_eq!(table.len(), 621);
        let name = table.row(0x0010_0010).expect("Patient's Name is listed");
        assert_eq!(name.basic.choices, vec![Action::Zero]);
        let pid = table.row(0x0010_0020).expect("Patient ID is listed");
        assert_eq!(pid.basic.choices, vec![Action::Zero, Action::Dummy]);
        assert_eq!(table.private.basic.choices, vec![Action::Remove]);
    }

    #[test]
    fn options_override_the_basic_profile() {
        let table = ConfidentialityTable::embedded().expect("table");
        let age = table.row(0x0010_1010).expect("Patient's Age");
        let mut options = Options::basic();
        assert_eq!(
            age.resolve(&options),
            Resolved::Basic(BasicAction {
                choices: vec![Action::Remove]
            })
        );
        options.retain_patient_characteristics = true;
        assert_eq!(age.resolve(&options), Resolved::Single(Action::Keep));
        let study_date = table.row(0x0008_0020).expect("Study Date");
        options.retain_modified_dates = true;
        assert_eq!(
            study_date.resolve(&options),
            Resolved::Single(Action::Clean)
        );
    }
}
