//! DIMSE command sets (PS3.7 section 9 and annex E): always Implicit VR Little Endian, only
//! group 0000, no sequences. They are read and written here by hand, in a few lines, so that
//! no length a sender declares is ever trusted beyond the bytes that actually arrived.

use crate::syntax::{is_valid_uid, trim_uid};

/// Command Field values (PS3.7 E.1).
pub const C_STORE_RQ: u16 = 0x0001;
pub const C_ECHO_RQ: u16 = 0x0030;
/// The response to a request has the request's command field with this bit set.
pub const RESPONSE_BIT: u16 = 0x8000;
/// Command Data Set Type: no data set follows.
pub const NO_DATA_SET: u16 = 0x0101;

/// Status codes (PS3.4 B.2.3 for storage, PS3.7 C for the general ones).
pub mod status {
    pub const SUCCESS: u16 = 0x0000;
    /// Refused: SOP Class not supported.
    pub const SOP_CLASS_NOT_SUPPORTED: u16 = 0x0122;
    /// Unrecognized operation.
    pub const UNRECOGNIZED_OPERATION: u16 = 0x0211;
    /// Refused: out of resources. Too large, or lunghub could not store it now.
    pub const OUT_OF_RESOURCES: u16 = 0xA700;
    /// Refused: not authorized (PS3.7 C.5.x): the site may not send yet (the ethics gate);
    /// the reason is in Error Comment.
    pub const NOT_AUTHORIZED: u16 = 0x0124;
    /// Error: cannot understand. The data set is not DICOM lunghub can read.
    pub const CANNOT_UNDERSTAND: u16 = 0xC000;
    /// Error: cannot understand, lunghub's own code in that range: readable, but held back
    /// by de-identification (identity may be burned into the pixels).
    pub const QUARANTINED: u16 = 0xC001;
}

/// Element numbers in group 0000.
mod element {
    pub const AFFECTED_SOP_CLASS_UID: u16 = 0x0002;
    pub const COMMAND_FIELD: u16 = 0x0100;
    pub const MESSAGE_ID: u16 = 0x0110;
    pub const MESSAGE_ID_BEING_RESPONDED_TO: u16 = 0x0120;
    pub const COMMAND_DATA_SET_TYPE: u16 = 0x0800;
    pub const STATUS: u16 = 0x0900;
    pub const ERROR_COMMENT: u16 = 0x0902;
    pub const AFFECTED_SOP_INSTANCE_UID: u16 = 0x1000;
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CommandError {
    #[error("command set element ({group:04X},{element:04X}) is outside group 0000")]
    WrongGroup { group: u16, element: u16 },
    #[error("command set element (0000,{element:04X}) declares {declared} bytes but {left} remain")]
    Truncated {
        element: u16,
        declared: u32,
        left: usize,
    },
    #[error("command set has {0} stray bytes at its end")]
    Trailing(usize),
    #[error("command set lacks (0000,{0:04X})")]
    Missing(u16),
    #[error("command set element (0000,{0:04X}) has the wrong length for its type")]
    BadValue(u16),
}

/// One received command set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub field: u16,
    pub message_id: u16,
    pub has_data_set: bool,
    /// Empty when absent.
    pub sop_class: String,
    /// Empty when absent.
    pub sop_instance: String,
}

impl Command {
    pub fn parse(bytes: &[u8]) -> Result<Command, CommandError> {
        let mut field = None;
        let mut message_id = None;
        let mut data_set_type = None;
        let mut sop_class = String::new();
        let mut sop_instance = String::new();
        for (element, value) in elements(bytes)? {
            let us = || -> Result<u16, CommandError> {
                <[u8; 2]>::try_from(value)
                    .map(u16::from_le_bytes)
                    .map_err(|_| CommandError::BadValue(element))
            };
            let ui = || trim_uid(&String::from_utf8_lossy(value)).to_owned();
            match element {
                element::COMMAND_FIELD => field = Some(us()?),
                element::MESSAGE_ID => message_id = Some(us()?),
                element::COMMAND_DATA_SET_TYPE => data_set_type = Some(us()?),
                element::AFFECTED_SOP_CLASS_UID => sop_class = ui(),
                element::AFFECTED_SOP_INSTANCE_UID => sop_instance = ui(),
                _ => {}
            }
        }
        Ok(Command {
            field: field.ok_or(CommandError::Missing(element::COMMAND_FIELD))?,
            message_id: message_id.ok_or(CommandError::Missing(element::MESSAGE_ID))?,
            has_data_set: data_set_type
                .ok_or(CommandError::Missing(element::COMMAND_DATA_SET_TYPE))?
                != NO_DATA_SET,
            sop_class,
            sop_instance,
        })
    }

    /// The UIDs a C-STORE request must carry, if both are well formed.
    pub fn store_uids(&self) -> Option<(&str, &str)> {
        (is_valid_uid(&self.sop_class) && is_valid_uid(&self.sop_instance))
            .then_some((self.sop_class.as_str(), self.sop_instance.as_str()))
    }
}

/// The elements of a command set, as (element number, value), each checked to lie within
/// the bytes received.
pub fn elements(bytes: &[u8]) -> Result<Vec<(u16, &[u8])>, CommandError> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 8 {
        let group = u16::from_le_bytes([rest[0], rest[1]]);
        let element = u16::from_le_bytes([rest[2], rest[3]]);
        let declared = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        if group != 0 {
            return Err(CommandError::WrongGroup { group, element });
        }
        rest = &rest[8..];
        let len = usize::try_from(declared)
            .ok()
            .filter(|&l| l <= rest.len())
            .ok_or(CommandError::Truncated {
                element,
                declared,
                left: rest.len(),
            })?;
        let (value, tail) = rest.split_at(len);
        out.push((element, value));
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(CommandError::Trailing(rest.len()));
    }
    Ok(out)
}

/// The response to `request`, with `status` and, for failures, an Error Comment.
pub fn response(request: &Command, status: u16, comment: Option<&str>) -> Vec<u8> {
    let mut body = Vec::with_capacity(160);
    // Ascending element order, as PS3.5 7.1 requires.
    if is_valid_uid(&request.sop_class) {
        put(
            &mut body,
            element::AFFECTED_SOP_CLASS_UID,
            &uid_value(&request.sop_class),
        );
    }
    put(
        &mut body,
        element::COMMAND_FIELD,
        &(request.field | RESPONSE_BIT).to_le_bytes(),
    );
    put(
        &mut body,
        element::MESSAGE_ID_BEING_RESPONDED_TO,
        &request.message_id.to_le_bytes(),
    );
    put(
        &mut body,
        element::COMMAND_DATA_SET_TYPE,
        &NO_DATA_SET.to_le_bytes(),
    );
    put(&mut body, element::STATUS, &status.to_le_bytes());
    if let Some(text) = comment {
        put(&mut body, element::ERROR_COMMENT, &error_comment(text));
    }
    if is_valid_uid(&request.sop_instance) {
        put(
            &mut body,
            element::AFFECTED_SOP_INSTANCE_UID,
            &uid_value(&request.sop_instance),
        );
    }
    let mut out = Vec::with_capacity(body.len() + 12);
    put(&mut out, 0x0000, &(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

fn put(out: &mut Vec<u8>, element: u16, value: &[u8]) {
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&element.to_le_bytes());
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(value);
}

fn uid_value(uid: &str) -> Vec<u8> {
    let mut v = uid.as_bytes().to_vec();
    if v.len() % 2 == 1 {
        v.push(0);
    }
    v
}

/// An Error Comment (LO): at most 64 characters of the default repertoire, no backslash,
/// padded to even length with a space.
pub fn error_comment(text: &str) -> Vec<u8> {
    let mut v: Vec<u8> = text
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() && c != '\\' {
                c as u8
            } else {
                b'?'
            }
        })
        .take(64)
        .collect();
    while v.last() == Some(&b' ') {
        v.pop();
    }
    if v.len() % 2 == 1 {
        v.push(b' ');
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn element(out: &mut Vec<u8>, e: u16, v: &[u8]) {
        put(out, e, v);
    }

    fn store_rq() -> Vec<u8> {
        let mut b = Vec::new();
        element(&mut b, 0x0000, &0u32.to_le_bytes());
        element(&mut b, 0x0002, b"1.2.840.10008.5.1.4.1.1.7\0");
        element(&mut b, 0x0100, &1u16.to_le_bytes());
        element(&mut b, 0x0110, &7u16.to_le_bytes());
        element(&mut b, 0x0700, &0u16.to_le_bytes());
        element(&mut b, 0x0800, &0u16.to_le_bytes());
        element(&mut b, 0x1000, b"1.2.3.4\0");
        b
    }

    #[test]
    fn a_store_request_parses() {
        let c = Command::parse(&store_rq()).unwrap();
        assert_eq!(c.field, C_STORE_RQ);
        assert_eq!(c.message_id, 7);
        assert!(c.has_data_set);
        assert_eq!(
            c.store_uids(),
            Some(("1.2.840.10008.5.1.4.1.1.7", "1.2.3.4"))
        );
    }

    #[test]
    fn hostile_commands_are_errors() {
        let mut b = store_rq();
        b.truncate(b.len() - 3);
        assert!(matches!(
            Command::parse(&b),
            Err(CommandError::Truncated { .. })
        ));
        let mut huge = Vec::new();
        huge.extend_from_slice(&[0, 0, 0x00, 0x01, 0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(
            Command::parse(&huge),
            Err(CommandError::Truncated { .. })
        ));
        let mut other = store_rq();
        other.extend_from_slice(&[0x08, 0, 0x16, 0, 0, 0, 0, 0]);
        assert!(matches!(
            Command::parse(&other),
            Err(CommandError::WrongGroup { .. })
        ));
        let mut stray = store_rq();
        stray.push(1);
        assert_eq!(Command::parse(&stray), Err(CommandError::Trailing(1)));
        let mut bad = Vec::new();
        element(&mut bad, 0x0100, &[1, 0, 0]);
        assert_eq!(Command::parse(&bad), Err(CommandError::BadValue(0x0100)));
        assert_eq!(Command::parse(&[]), Err(CommandError::Missing(0x0100)));
    }

    #[test]
    fn responses_are_well_formed() {
        let c = Command::parse(&store_rq()).unwrap();
        let r = response(
            &c,
            status::QUARANTINED,
            Some("BurnedInAnnotation is missing\\é"),
        );
        let e = elements(&r).unwrap();
        let numbers: Vec<u16> = e.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            numbers,
            [
                0x0000, 0x0002, 0x0100, 0x0120, 0x0800, 0x0900, 0x0902, 0x1000
            ]
        );
        // the group length counts what follows it
        assert_eq!(e[0].1, ((r.len() - 12) as u32).to_le_bytes());
        assert_eq!(e[2].1, 0x8001u16.to_le_bytes());
        assert_eq!(e[3].1, 7u16.to_le_bytes());
        assert_eq!(e[4].1, NO_DATA_SET.to_le_bytes());
        assert_eq!(e[5].1, status::QUARANTINED.to_le_bytes());
        assert_eq!(e[6].1, b"BurnedInAnnotation is missing?? ");
        assert_eq!(e[7].1, b"1.2.3.4\0");
        assert_eq!(error_comment(&"x".repeat(100)).len(), 64);
        assert_eq!(error_comment("abc"), b"abc ");
    }
}
