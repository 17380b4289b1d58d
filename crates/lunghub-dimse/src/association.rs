//! One association, from A-ASSOCIATE-RQ to release: negotiation with access control, then
//! C-ECHO and C-STORE requests one after the other, each data set handed whole to intake.
//!
//! A data set lives only in this task's memory until it is complete; a connection that
//! breaks earlier takes it with it, so nothing half-received ever reaches intake.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use dicom_object::meta::FileMetaTableBuilder;
use dicom_ul::Pdu;
use dicom_ul::association::Association;
use dicom_ul::association::server::{AccessControl, AsyncServerAssociation};
use dicom_ul::pdu::{
    AbortRQServiceProviderReason, AbortRQSource, AssociationRJServiceUserReason, PDataValue,
    PDataValueType, PresentationContextResultReason, UserIdentity,
};
use tokio::net::TcpStream;

use crate::dimse::{self, Command, status};
use crate::syntax::{self, trim_uid};
use crate::{ScpConfig, Shared, Verdict};

/// Most bytes a command set may take (real ones are under 300).
const MAX_COMMAND_BYTES: usize = 16 * 1024;

/// Admits a calling AE title only if it is a configured peer connecting from one of its
/// addresses, and only when it calls lunghub by its own AE title.
struct Admission<'a> {
    config: &'a ScpConfig,
    address: IpAddr,
}

impl AccessControl for Admission<'_> {
    fn check_access(
        &self,
        this_ae_title: &str,
        calling_ae_title: &str,
        called_ae_title: &str,
        _user_identity: Option<&UserIdentity>,
    ) -> Result<(), AssociationRJServiceUserReason> {
        if called_ae_title != this_ae_title {
            return Err(AssociationRJServiceUserReason::CalledAETitleNotRecognized);
        }
        match self.config.admit(calling_ae_title, self.address) {
            Some(_) => Ok(()),
            None => Err(AssociationRJServiceUserReason::CallingAETitleNotRecognized),
        }
    }
}

/// Why an association ended other than by an orderly release.
#[derive(Debug, thiserror::Error)]
enum End {
    #[error("the peer aborted the association")]
    PeerAborted,
    #[error("{0}")]
    Network(#[from] dicom_ul::association::Error),
    #[error("protocol error: {0}")]
    Protocol(String),
}

/// How far a peer has got with the association's one outstanding request.
enum Pending {
    Idle,
    /// Command fragments so far, on one presentation context.
    Command {
        context: u8,
        bytes: Vec<u8>,
    },
    /// The data set of a request, arriving on `context`.
    Data {
        context: u8,
        command: Command,
        sink: Holding,
    },
}

/// Where a data set's fragments go.
enum Holding {
    /// Into a Part-10 file: preamble and meta group first, then the data set as it comes.
    /// `start` is where the data set begins.
    Keep { file: Vec<u8>, start: usize },
    /// Nowhere: the request is already refused, and its data set is read only to keep the
    /// association in step.
    Discard { status: u16, why: String },
}

#[derive(Default)]
struct Tally {
    stored: usize,
    refused: usize,
    echoes: usize,
}

pub(crate) async fn serve(shared: Arc<Shared>, socket: TcpStream, from: SocketAddr) {
    let config = &shared.config;
    let options = shared.options.clone().ae_access_control(Admission {
        config,
        address: from.ip(),
    });
    let mut association = match options.establish_async(socket).await {
        Ok(a) => a,
        Err(e) => {
            if config.log {
                eprintln!("dicom: association from {from} refused: {e}");
            }
            return;
        }
    };
    let calling = association.peer_ae_title().to_owned();
    let Some(site_id) = shared.sites.get(&calling).cloned() else {
        // Admission let it in, so it is configured; this cannot happen.
        let _ = association.abort().await;
        return;
    };
    let contexts: Vec<(u8, String, String)> = association
        .presentation_contexts()
        .iter()
        .filter(|pc| pc.reason == PresentationContextResultReason::Acceptance)
        .map(|pc| {
            (
                pc.id,
                trim_uid(&pc.abstract_syntax).to_owned(),
                trim_uid(&pc.transfer_syntax).to_owned(),
            )
        })
        .collect();
    let closed = shared.sink.admission(&site_id).await;
    let mut session = Session {
        closed,
        shared: shared.clone(),
        site_id,
        calling,
        contexts,
        pending: Pending::Idle,
        tally: Tally::default(),
    };
    let ended = session.run(&mut association).await;
    let t = &session.tally;
    let how = match &ended {
        Ok(()) => "released".to_owned(),
        Err(e) => format!("ended: {e}"),
    };
    let lost = match session.pending {
        Pending::Data { .. } | Pending::Command { .. } => ", one instance cut off and dropped",
        Pending::Idle => "",
    };
    if config.log {
        // The backlog is for the whole service: the operator's view of how far the catalog
        // lags behind what was answered for.
        eprintln!(
            "dicom: association from {} ({from}) {how}; {} stored, {} refused, {} echoes{lost}; \
             {}",
            session.calling,
            t.stored,
            t.refused,
            t.echoes,
            session.shared.sink.backlog_note()
        );
    }
    if let Err(End::Protocol(_)) = ended {
        let _ = association
            .send(&Pdu::AbortRQ {
                source: AbortRQSource::ServiceProvider(AbortRQServiceProviderReason::UnexpectedPdu),
            })
            .await;
    }
}

struct Session {
    shared: Arc<Shared>,
    /// The site the calling peer's files belong to.
    site_id: String,
    /// Why the site may not send now (the ethics gate), asked at association start.
    closed: Option<String>,
    calling: String,
    /// Accepted presentation contexts: id, abstract syntax, transfer syntax.
    contexts: Vec<(u8, String, String)>,
    pending: Pending,
    tally: Tally,
}

type Link = AsyncServerAssociation<TcpStream>;

impl Session {
    async fn run(&mut self, link: &mut Link) -> Result<(), End> {
        loop {
            match link.receive().await? {
                Pdu::PData { data } => {
                    for value in data {
                        self.value(link, value).await?;
                    }
                }
                Pdu::ReleaseRQ => {
                    if !matches!(self.pending, Pending::Idle) {
                        return Err(End::Protocol("release requested mid-message".into()));
                    }
                    link.send(&Pdu::ReleaseRP).await?;
                    return Ok(());
                }
                Pdu::AbortRQ { .. } => return Err(End::PeerAborted),
                other => {
                    return Err(End::Protocol(format!(
                        "unexpected {}",
                        other.short_description()
                    )));
                }
            }
        }
    }

    fn context(&self, id: u8) -> Option<&(u8, String, String)> {
        self.contexts.iter().find(|c| c.0 == id)
    }

    /// Takes one presentation data value (a fragment of a command or a data set).
    async fn value(&mut self, link: &mut Link, value: PDataValue) -> Result<(), End> {
        let id = value.presentation_context_id;
        if self.context(id).is_none() {
            return Err(End::Protocol(format!(
                "data on presentation context {id}, which was not accepted"
            )));
        }
        let pending = std::mem::replace(&mut self.pending, Pending::Idle);
        self.pending = match (pending, value.value_type) {
            (Pending::Idle, PDataValueType::Command) => Pending::Command {
                context: id,
                bytes: Vec::new(),
            },
            (p @ Pending::Command { .. }, PDataValueType::Command) => p,
            (p @ Pending::Data { .. }, PDataValueType::Data) => p,
            (_, kind) => {
                return Err(End::Protocol(format!("unexpected {kind:?} fragment")));
            }
        };
        match &mut self.pending {
            Pending::Command { context, bytes } => {
                if *context != id {
                    return Err(End::Protocol(
                        "a command spans presentation contexts".into(),
                    ));
                }
                if bytes.len() + value.data.len() > MAX_COMMAND_BYTES {
                    return Err(End::Protocol("command set too large".into()));
                }
                bytes.extend_from_slice(&value.data);
                if value.is_last {
                    let bytes = std::mem::take(bytes);
                    self.pending = Pending::Idle;
                    let command = Command::parse(&bytes)
                        .map_err(|e| End::Protocol(format!("bad command set: {e}")))?;
                    self.command(link, id, command).await?;
                }
            }
            Pending::Data { context, sink, .. } => {
                if *context != id {
                    return Err(End::Protocol(
                        "a data set spans presentation contexts".into(),
                    ));
                }
                if let Holding::Keep { file, start } = sink {
                    let limit = self.shared.max_instance_bytes;
                    if (file.len() - *start + value.data.len()) as u64 > limit {
                        *sink = Holding::Discard {
                            status: status::OUT_OF_RESOURCES,
                            why: format!("larger than lunghub's {limit}-byte limit per instance"),
                        };
                    } else {
                        file.extend_from_slice(&value.data);
                    }
                }
                if value.is_last {
                    let Pending::Data { command, sink, .. } =
                        std::mem::replace(&mut self.pending, Pending::Idle)
                    else {
                        unreachable!("matched above")
                    };
                    self.store(link, id, command, sink).await?;
                }
            }
            Pending::Idle => unreachable!("set above"),
        }
        Ok(())
    }

    /// A complete command set: answered now, or once its data set is in.
    async fn command(&mut self, link: &mut Link, id: u8, command: Command) -> Result<(), End> {
        let Some((_, abstract_syntax, transfer_syntax)) = self.context(id).cloned() else {
            return Err(End::Protocol("unknown presentation context".into()));
        };
        if command.field == dimse::C_STORE_RQ && command.has_data_set {
            let sink = match command.store_uids() {
                _ if !syntax::is_storage_class(&abstract_syntax) => Holding::Discard {
                    status: status::SOP_CLASS_NOT_SUPPORTED,
                    why: "C-STORE on a presentation context that is not for storage".into(),
                },
                Some((class, _)) if class != abstract_syntax => Holding::Discard {
                    status: status::SOP_CLASS_NOT_SUPPORTED,
                    why: "SOP class differs from the presentation context's".into(),
                },
                Some((class, instance)) => match part10_header(class, instance, &transfer_syntax) {
                    Ok(file) => Holding::Keep {
                        start: file.len(),
                        file,
                    },
                    Err(e) => Holding::Discard {
                        status: status::CANNOT_UNDERSTAND,
                        why: format!("cannot build a file meta group: {e}"),
                    },
                },
                None => Holding::Discard {
                    status: status::CANNOT_UNDERSTAND,
                    why: "missing or malformed SOP class or instance UID".into(),
                },
            };
            self.pending = Pending::Data {
                context: id,
                command,
                sink,
            };
            return Ok(());
        }
        if command.has_data_set {
            // Some other request with a data set: read it, then say we don't do that.
            self.pending = Pending::Data {
                context: id,
                command,
                sink: Holding::Discard {
                    status: status::UNRECOGNIZED_OPERATION,
                    why: "lunghub only answers C-ECHO and C-STORE".into(),
                },
            };
            return Ok(());
        }
        let (code, why) =
            if command.field == dimse::C_ECHO_RQ && abstract_syntax == syntax::VERIFICATION {
                self.tally.echoes += 1;
                (status::SUCCESS, None)
            } else {
                self.tally.refused += 1;
                (
                    status::UNRECOGNIZED_OPERATION,
                    Some("lunghub only answers C-ECHO and C-STORE".to_owned()),
                )
            };
        self.respond(link, id, &command, code, why.as_deref()).await
    }

    /// A complete C-STORE: hands the file to intake and answers once intake has
    /// de-identified it and spooled it for cataloguing (or refused it).
    async fn store(
        &mut self,
        link: &mut Link,
        id: u8,
        command: Command,
        sink: Holding,
    ) -> Result<(), End> {
        let (code, why) = match sink {
            Holding::Discard { status, why } => (status, Some(why)),
            Holding::Keep { .. } if self.closed.is_some() => {
                (status::NOT_AUTHORIZED, self.closed.clone())
            }
            Holding::Keep { file, .. } => {
                let verdict = self
                    .shared
                    .sink
                    .store(&self.site_id, &command.sop_instance, file)
                    .await;
                match verdict {
                    Verdict::Taken => (status::SUCCESS, None),
                    Verdict::Quarantined(why) => {
                        (status::QUARANTINED, Some(format!("quarantined: {why}")))
                    }
                    Verdict::Unreadable(why) => (
                        status::CANNOT_UNDERSTAND,
                        Some(format!("unreadable: {why}")),
                    ),
                    Verdict::Failed(e) => {
                        // Always said: the operator must hear that storing fails.
                        eprintln!(
                            "dicom: cannot store {} from {}: {e}",
                            command.sop_instance, self.calling
                        );
                        (
                            status::OUT_OF_RESOURCES,
                            Some("cannot store it now; try again later".into()),
                        )
                    }
                }
            }
        };
        if code == status::SUCCESS {
            self.tally.stored += 1;
        } else {
            self.tally.refused += 1;
        }
        if code != status::SUCCESS && self.shared.config.log {
            eprintln!(
                "dicom: C-STORE {} from {} refused ({code:04X}): {}",
                command.sop_instance,
                self.calling,
                why.as_deref().unwrap_or_default()
            );
        }
        self.respond(link, id, &command, code, why.as_deref()).await
    }

    async fn respond(
        &mut self,
        link: &mut Link,
        id: u8,
        command: &Command,
        code: u16,
        why: Option<&str>,
    ) -> Result<(), End> {
        let data = dimse::response(command, code, why);
        link.send(&Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: id,
                value_type: PDataValueType::Command,
                is_last: true,
                data,
            }],
        })
        .await?;
        Ok(())
    }
}

/// The start of a Part-10 file for a data set received in `transfer_syntax`: 128-byte
/// preamble, `DICM`, and a File Meta Information group naming the SOP class and instance
/// from the C-STORE request.
fn part10_header(
    class: &str,
    instance: &str,
    transfer_syntax: &str,
) -> Result<Vec<u8>, dicom_object::meta::Error> {
    let meta = FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(class)
        .media_storage_sop_instance_uid(instance)
        .transfer_syntax(transfer_syntax)
        .implementation_class_uid(lunghub_deid::IMPLEMENTATION_CLASS_UID)
        .implementation_version_name(lunghub_deid::IMPLEMENTATION_VERSION_NAME)
        .build()?;
    let mut file = vec![0u8; 128];
    file.extend_from_slice(b"DICM");
    meta.write(&mut file)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_a_readable_meta_group() {
        let header = part10_header(
            "1.2.840.10008.5.1.4.1.1.7",
            "1.2.3.4.5",
            "1.2.840.10008.1.2.4.50",
        )
        .unwrap();
        assert_eq!(&header[128..132], b"DICM");
        let meta = dicom_object::meta::FileMetaTable::from_reader(&header[128..]).unwrap();
        assert_eq!(
            meta.media_storage_sop_class_uid(),
            "1.2.840.10008.5.1.4.1.1.7"
        );
        assert_eq!(meta.media_storage_sop_instance_uid(), "1.2.3.4.5");
        assert_eq!(meta.transfer_syntax(), "1.2.840.10008.1.2.4.50");
    }
}
