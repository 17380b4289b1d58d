//! Applying a profile to one DICOM data set.
//!
//! Every element, at every depth of every sequence, goes through [`Walk::element`]: the
//! same table row, the same options and the same keyed replacements apply whether an
//! attribute sits at the top or inside a content item five levels down.

use std::collections::{HashMap, HashSet};

use dicom_core::header::Header;
use dicom_core::value::{DataSetSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, Length, Tag, VR};
use dicom_object::InMemDicomObject;
use dicom_object::mem::InMemElement;

use crate::dates;
use crate::iod::{self, Requirement};
use crate::key::SiteKey;
use crate::profile::Profile;
use crate::table::{Action, ConfidentialityTable, Resolved};

/// Everything the walk needs to know about the instance before it starts.
pub struct Instance {
    pub sop_class: String,
    /// Days to add to dates under the Modified Dates option; None when an earlier pass
    /// already modified them.
    pub shift_days: Option<i64>,
    /// The input was already de-identified by lunghub under this key: keyed replacements
    /// are already in place and must not be applied twice.
    pub already_keyed: bool,
    /// The fingerprint of the key that made it (this de-identifier's or the site gateway's).
    pub keyed_by: Option<String>,
    /// What identifies the patient for pseudonyms and date offsets (see `lib.rs`).
    pub patient_key: String,
    /// Words that identify the patient (name parts, identifiers, birth date), removed from
    /// free text that a Clean action keeps.
    pub identity_tokens: Vec<String>,
}

/// What happens to free text that the table does not list, inside a sequence that a
/// Dummy or Clean action kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextPolicy {
    /// Outside such sequences: unlisted text is kept.
    Keep,
    /// Inside a Clean (C) sequence: identity tokens are scrubbed from the text.
    Scrub,
    /// Inside a Dummy (D) sequence: structure and codes stay, free text (LT, ST, UT)
    /// becomes a dummy value.
    Dummy,
}

pub struct Walk<'a> {
    pub table: &'a ConfidentialityTable,
    pub profile: &'a Profile,
    pub key: &'a SiteKey,
    pub instance: &'a Instance,
}

const PATIENT_ID: u32 = 0x0010_0020;
const PATIENT_NAME: u32 = 0x0010_0010;
const ACCESSION_NUMBER: u32 = 0x0008_0050;
const STUDY_ID: u32 = 0x0020_0010;
const TIMEZONE_OFFSET: u32 = 0x0008_0201;

fn tag_u32(tag: Tag) -> u32 {
    (u32::from(tag.0) << 16) | u32::from(tag.1)
}

/// A UID that the standard itself defines (SOP classes, transfer syntaxes, coding schemes,
/// well-known instances): never replaced.
pub fn is_well_known_uid(uid: &str) -> bool {
    uid.starts_with("1.2.840.10008.")
}

fn is_text(vr: VR) -> bool {
    matches!(
        vr,
        VR::LO | VR::LT | VR::SH | VR::ST | VR::UT | VR::UC | VR::PN
    )
}

fn strings_of(elem: &InMemElement) -> Option<Vec<String>> {
    match elem.value() {
        Value::Primitive(PrimitiveValue::Empty) => Some(Vec::new()),
        Value::Primitive(p @ (PrimitiveValue::Str(_) | PrimitiveValue::Strs(_))) => Some(
            p.to_str()
                .split('\\')
                .map(|s| s.trim_matches([' ', '\0']).to_owned())
                .collect(),
        ),
        Value::Primitive(p) => Some(vec![p.to_str().trim().to_owned()]),
        _ => None,
    }
}

fn with_strings(elem: &InMemElement, values: Vec<String>) -> InMemElement {
    let value = if values.iter().all(String::is_empty) {
        PrimitiveValue::Empty
    } else if values.len() == 1 {
        PrimitiveValue::from(values.into_iter().next().unwrap_or_default())
    } else {
        PrimitiveValue::Strs(values.into())
    };
    DataElement::new(elem.tag(), elem.vr(), value)
}

fn empty(elem: &InMemElement) -> InMemElement {
    if elem.vr() == VR::SQ {
        sequence(elem.tag(), Vec::new())
    } else {
        DataElement::new(elem.tag(), elem.vr(), PrimitiveValue::Empty)
    }
}

fn sequence(tag: Tag, items: Vec<InMemDicomObject>) -> InMemElement {
    DataElement::new(
        tag,
        VR::SQ,
        Value::Sequence(DataSetSequence::new(items, Length::UNDEFINED)),
    )
}

impl Walk<'_> {
    /// Processes a data set (the top level or a sequence item).
    pub fn dataset(&self, obj: InMemDicomObject, text: TextPolicy) -> InMemDicomObject {
        let creators = private_creators(&obj);
        let mut kept: Vec<InMemElement> = Vec::new();
        let mut used_blocks: HashSet<(u16, u16)> = HashSet::new();
        for elem in obj {
            let tag = elem.tag();
            if tag.0 % 2 == 1 && (0x0010..=0x00FF).contains(&tag.1) {
                // Private creators are decided once their block's elements are.
                kept.push(elem);
                continue;
            }
            if let Some(out) = self.element(elem, &creators, text) {
                if out.tag().0 % 2 == 1 {
                    used_blocks.insert((out.tag().0, out.tag().1 >> 8));
                }
                kept.push(out);
            }
        }
        kept.retain(|e| {
            let t = e.tag();
            !(t.0 % 2 == 1 && (0x0010..=0x00FF).contains(&t.1)) || used_blocks.contains(&(t.0, t.1))
        });
        InMemDicomObject::from_element_iter(kept)
    }

    fn element(
        &self,
        elem: InMemElement,
        creators: &HashMap<(u16, u16), String>,
        text: TextPolicy,
    ) -> Option<InMemElement> {
        let tag = elem.tag();
        let t = tag_u32(tag);
        let options = &self.profile.options;
        // Group lengths are retired and would be wrong after any change; the meta group
        // is rebuilt separately.
        if tag.1 == 0x0000 || tag.0 == 0x0002 {
            return None;
        }
        if tag.0 % 2 == 1 {
            let safe = options.retain_safe_private
                && creators.get(&(tag.0, tag.1 >> 8)).is_some_and(|creator| {
                    self.profile
                        .safe_private
                        .iter()
                        .any(|s| s.creator == *creator && u16::from(s.element) == tag.1 & 0xFF)
                });
            return safe.then(|| self.keep(elem, text));
        }
        // Curves, and whole overlay groups: Table E.1-1 removes the overlay data and
        // comments; the rest of the group is meaningless (and non-conformant) without
        // them. A bitmap cannot be "cleaned" automatically, so Clean Graphics removes too.
        if (0x5000..=0x501E).contains(&tag.0) || (0x6000..=0x601E).contains(&tag.0) {
            return None;
        }
        // Timezone offsets go with the dates they qualify (DT values lose theirs too).
        if t == TIMEZONE_OFFSET && !(options.retain_full_dates && !options.retain_modified_dates) {
            return None;
        }
        let elem = if elem.vr() == VR::UN {
            reinterpret_un(elem)
        } else {
            elem
        };
        // Identifiers that must stay linkable become keyed pseudonyms (a dummy value that
        // Z and Z/D allow).
        if matches!(t, PATIENT_ID | PATIENT_NAME | ACCESSION_NUMBER | STUDY_ID) {
            return Some(self.pseudonymize(&elem, t));
        }
        let action = match self.table.row(t) {
            Some(row) => match row.resolve(options) {
                Resolved::Single(a) => a,
                Resolved::Basic(basic) => {
                    let need = iod::requirement(t, &self.instance.sop_class);
                    pick(&basic.choices, need)
                }
            },
            None => self.unlisted(&elem, text),
        };
        self.apply(action, elem, text)
    }

    /// Attributes the table does not list are kept, with two safety nets: person names
    /// are emptied, and dates follow the date option in force.
    fn unlisted(&self, elem: &InMemElement, text: TextPolicy) -> Action {
        let options = &self.profile.options;
        match elem.vr() {
            VR::PN => Action::Zero,
            VR::DA | VR::DT if options.retain_modified_dates => Action::Clean,
            VR::DA | VR::DT if options.retain_full_dates => Action::Keep,
            VR::DA | VR::DT => Action::Zero,
            vr if text == TextPolicy::Scrub && is_text(vr) => Action::Clean,
            VR::LT | VR::ST | VR::UT if text == TextPolicy::Dummy => Action::Dummy,
            _ => Action::Keep,
        }
    }

    fn apply(&self, action: Action, elem: InMemElement, text: TextPolicy) -> Option<InMemElement> {
        match action {
            Action::Remove => None,
            Action::Zero => Some(empty(&elem)),
            Action::Dummy if elem.vr() == VR::SQ => Some(self.map_items(elem, TextPolicy::Dummy)),
            Action::Dummy => Some(self.dummy(&elem)),
            Action::Keep => Some(self.keep(elem, text)),
            Action::Clean => Some(self.clean(elem)),
            Action::ReplaceUid => Some(self.replace_uids(elem, text)),
        }
    }

    fn keep(&self, elem: InMemElement, text: TextPolicy) -> InMemElement {
        self.map_items(elem, text)
    }

    /// Runs the walk over every item of a sequence; other values pass through.
    fn map_items(&self, elem: InMemElement, text: TextPolicy) -> InMemElement {
        if !matches!(elem.value(), Value::Sequence(_)) {
            return elem;
        }
        let (header, value) = elem.into_parts();
        match value {
            Value::Sequence(seq) => {
                let items: Vec<InMemDicomObject> = seq
                    .into_items()
                    .into_iter()
                    .map(|item| self.dataset(item, text))
                    .collect();
                sequence(header.tag, items)
            }
            other => DataElement::new(header.tag, header.vr, other),
        }
    }

    fn dummy(&self, elem: &InMemElement) -> InMemElement {
        let tag = elem.tag();
        let text = |s: &str| DataElement::new(tag, elem.vr(), PrimitiveValue::from(s));
        match elem.vr() {
            VR::SQ => sequence(tag, vec![InMemDicomObject::new_empty()]),
            // A keyed dummy UID is kept: keying it again would change it every pass.
            VR::UI if self.instance.already_keyed => elem.clone(),
            VR::UI => {
                let original = strings_of(elem).unwrap_or_default().join("\\");
                text(&self.key.uid(&format!("dummy:{tag}:{original}")))
            }
            VR::DA => text("19000101"),
            VR::DT => text("19000101000000"),
            VR::TM => text("000000"),
            VR::AS => text("000Y"),
            VR::DS | VR::IS => text("0"),
            VR::UR => text("urn:lunghub:anonymized"),
            VR::US => DataElement::new(tag, VR::US, PrimitiveValue::from(0u16)),
            VR::SS => DataElement::new(tag, VR::SS, PrimitiveValue::from(0i16)),
            VR::UL => DataElement::new(tag, VR::UL, PrimitiveValue::from(0u32)),
            VR::SL => DataElement::new(tag, VR::SL, PrimitiveValue::from(0i32)),
            VR::FL => DataElement::new(tag, VR::FL, PrimitiveValue::from(0f32)),
            VR::FD => DataElement::new(tag, VR::FD, PrimitiveValue::from(0f64)),
            VR::OB
            | VR::OW
            | VR::OD
            | VR::OF
            | VR::OL
            | VR::OV
            | VR::UN
            | VR::SV
            | VR::UV
            | VR::AT => DataElement::new(tag, elem.vr(), PrimitiveValue::U8(vec![0u8; 8].into())),
            _ => text("ANONYMIZED"),
        }
    }

    fn clean(&self, elem: InMemElement) -> InMemElement {
        match elem.vr() {
            VR::SQ => self.map_items(elem, TextPolicy::Scrub),
            VR::DA | VR::DT => {
                let shift = if elem.vr() == VR::DA {
                    dates::shift_date
                } else {
                    dates::shift_datetime
                };
                match (self.instance.shift_days, strings_of(&elem)) {
                    (Some(days), Some(values)) => {
                        let joined = dates::shift_multi(&values.join("\\"), days, shift);
                        with_strings(&elem, joined.split('\\').map(str::to_owned).collect())
                    }
                    // Dates were modified by an earlier pass: never shift twice.
                    (None, Some(_)) => elem,
                    (_, None) => empty(&elem),
                }
            }
            VR::TM => {
                // Times of day carry no date; they keep their format.
                elem
            }
            VR::AE => self.dummy(&elem),
            vr if is_text(vr) => match strings_of(&elem) {
                Some(values) => {
                    let cleaned = values.iter().map(|v| self.scrub(v)).collect();
                    with_strings(&elem, cleaned)
                }
                None => empty(&elem),
            },
            _ => elem,
        }
    }

    /// Removes every identity token from free text, ignoring ASCII case. (ASCII folding
    /// keeps byte offsets, so the match positions are valid in the original text.)
    fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for token in &self.instance.identity_tokens {
            let needle = token.to_ascii_lowercase();
            if needle.is_empty() {
                continue;
            }
            let lower = out.to_ascii_lowercase();
            let mut result = String::with_capacity(out.len());
            let mut last = 0;
            for (i, _) in lower.match_indices(&needle) {
                result.push_str(&out[last..i]);
                result.push_str("***");
                last = i + needle.len();
            }
            result.push_str(&out[last..]);
            out = result;
        }
        out
    }

    fn replace_uids(&self, elem: InMemElement, text: TextPolicy) -> InMemElement {
        if elem.vr() == VR::SQ {
            return self.map_items(elem, text);
        }
        if self.instance.already_keyed {
            return elem;
        }
        match strings_of(&elem) {
            Some(values) => {
                let mapped = values
                    .iter()
                    .map(|v| {
                        if v.is_empty() || is_well_known_uid(v) {
                            v.clone()
                        } else {
                            self.key.uid(v)
                        }
                    })
                    .collect();
                with_strings(&elem, mapped)
            }
            None => empty(&elem),
        }
    }

    fn pseudonymize(&self, elem: &InMemElement, t: u32) -> InMemElement {
        if self.instance.already_keyed {
            return elem.clone();
        }
        let original = strings_of(elem).unwrap_or_default().join("\\");
        let value = match t {
            // The patient's name becomes the same pseudonym as the patient's ID, so
            // viewers that show names still tell patients apart.
            PATIENT_ID | PATIENT_NAME => self.key.pseudonym("patient", &self.instance.patient_key),
            ACCESSION_NUMBER if !original.is_empty() => {
                self.key.pseudonym("accession", &original)[3..].to_owned()
            }
            STUDY_ID if !original.is_empty() => {
                self.key.pseudonym("study-id", &original)[3..16].to_owned()
            }
            _ => String::new(),
        };
        DataElement::new(
            elem.tag(),
            elem.vr(),
            if value.is_empty() {
                PrimitiveValue::Empty
            } else {
                PrimitiveValue::from(value)
            },
        )
    }
}

/// A standard attribute that arrived as UN (explicit VR with an unknown VR, as some
/// exporters write) takes its dictionary VR again, so that the table's actions, date
/// shifts and UID mapping see its real value. Values are little endian here: UN only
/// occurs in explicit VR little endian data sets.
fn reinterpret_un(elem: InMemElement) -> InMemElement {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
    let tag = elem.tag();
    let Some(VirtualVr::Exact(vr)) = dicom_dictionary_std::StandardDataDictionary
        .by_tag(tag)
        .map(|e| e.vr())
    else {
        return elem;
    };
    let Ok(bytes) = elem.to_bytes() else {
        return elem;
    };
    let bytes = bytes.into_owned();
    let value = match vr {
        VR::AE
        | VR::AS
        | VR::CS
        | VR::DA
        | VR::DS
        | VR::DT
        | VR::IS
        | VR::LO
        | VR::LT
        | VR::PN
        | VR::SH
        | VR::ST
        | VR::TM
        | VR::UC
        | VR::UI
        | VR::UR
        | VR::UT => {
            let text = String::from_utf8_lossy(&bytes);
            let text = text.trim_end_matches(['\0', ' ']);
            if text.is_empty() {
                PrimitiveValue::Empty
            } else {
                PrimitiveValue::Strs(text.split('\\').map(str::to_owned).collect())
            }
        }
        VR::US if bytes.len() % 2 == 0 => PrimitiveValue::U16(
            bytes
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect(),
        ),
        VR::UL if bytes.len() % 4 == 0 => PrimitiveValue::U32(
            bytes
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        _ => return elem,
    };
    DataElement::new(tag, vr, value)
}

/// First acceptable choice of a compound action for what the IOD needs.
fn pick(choices: &[Action], need: Requirement) -> Action {
    choices
        .iter()
        .copied()
        .find(|c| match c {
            Action::Remove => need == Requirement::Optional,
            Action::Zero => need <= Requirement::Present,
            _ => true,
        })
        .or_else(|| choices.last().copied())
        .unwrap_or(Action::Remove)
}

/// Private creator values of one data set, by (group, block).
fn private_creators(obj: &InMemDicomObject) -> HashMap<(u16, u16), String> {
    obj.iter()
        .filter(|e| e.tag().0 % 2 == 1 && (0x0010..=0x00FF).contains(&e.tag().1))
        .filter_map(|e| {
            let s = strings_of(e)?.join("\\");
            Some(((e.tag().0, e.tag().1), s))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compound_actions_remove_then_empty_then_dummy() {
        use Action::*;
        assert_eq!(pick(&[Remove, Zero, Dummy], Requirement::Optional), Remove);
        assert_eq!(pick(&[Remove, Zero, Dummy], Requirement::Present), Zero);
        assert_eq!(pick(&[Remove, Zero, Dummy], Requirement::Valued), Dummy);
        assert_eq!(pick(&[Remove, Dummy], Requirement::Present), Dummy);
        assert_eq!(pick(&[Zero, Dummy], Requirement::Optional), Zero);
    }
}

/// The attributes of `before` (at any depth) that the walk removed or changed in `after`:
/// for a file that claims to be de-identified already, what the claim left in. Group
/// lengths, the meta group and the de-identification marks are not compared.
pub fn differences(before: &InMemDicomObject, after: &InMemDicomObject) -> Vec<Tag> {
    let mut out = Vec::new();
    for elem in before {
        let tag = elem.tag();
        if tag.1 == 0x0000
            || tag.0 == 0x0002
            || (tag.0 == 0x0012 && (0x0062..=0x0064).contains(&tag.1))
        {
            continue;
        }
        let Some(kept) = after.get(tag) else {
            out.push(tag);
            continue;
        };
        match (elem.value(), kept.value()) {
            (Value::Sequence(a), Value::Sequence(b)) => {
                if a.items().len() != b.items().len() {
                    out.push(tag);
                } else {
                    for (x, y) in a.items().iter().zip(b.items()) {
                        out.extend(differences(x, y));
                    }
                }
            }
            (Value::Sequence(_), _) | (_, Value::Sequence(_)) => out.push(tag),
            _ => {
                if strings_of(elem) != strings_of(kept) {
                    out.push(tag);
                }
            }
        }
    }
    out
}

/// Why the identifiers of a file that claims to be keyed already do not look keyed: the
/// patient's ID and name must be lunghub pseudonyms (or empty), and the study, series and
/// instance UIDs keyed ones (`2.25.`), since the walk keeps them as they are.
pub fn unkeyed_identifiers(obj: &InMemDicomObject) -> Vec<String> {
    let pseudonym = |v: &str| {
        v.is_empty()
            || (v.len() == 19
                && v.starts_with("LH-")
                && v[3..]
                    .chars()
                    .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()))
    };
    let value = |t: (u16, u16)| {
        obj.get(Tag(t.0, t.1))
            .and_then(strings_of)
            .map(|v| v.join("\\"))
            .unwrap_or_default()
    };
    let mut why = Vec::new();
    for (tag, name) in [
        ((0x0010, 0x0020), "Patient ID"),
        ((0x0010, 0x0010), "Patient's Name"),
    ] {
        if !pseudonym(&value(tag)) {
            why.push(format!("{name} (not a pseudonym)"));
        }
    }
    for (tag, name) in [
        ((0x0020, 0x000D), "Study Instance UID"),
        ((0x0020, 0x000E), "Series Instance UID"),
        ((0x0008, 0x0018), "SOP Instance UID"),
    ] {
        let uid = value(tag);
        if !uid.is_empty() && !uid.starts_with("2.25.") {
            why.push(format!("{name} (not a keyed UID)"));
        }
    }
    why
}
