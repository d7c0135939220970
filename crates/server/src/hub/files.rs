//! The hub's side of file sharing: the catalog, the decisions about uploads that can be made
//! before a single byte moves (name, size, duplicates, replacement, disk room, limits), and the
//! bookkeeping of running transfers. The bytes themselves are the file service's business
//! (`crate::files`).

use proto::{Direction, ErrorCode, FileInfo, ServerMsg, validate_file_name};
use tokio::sync::oneshot;
use tracing::{info, warn};

use super::{Hub, Out, SessionId, chunked_frames, now_ms};
use crate::files::Ended;

/// Transfer limits, from the server's config.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Largest upload accepted, bytes.
    pub(crate) max_file_size: u64,
    /// Transfers running at once, server-wide.
    pub(crate) max_transfers: usize,
    /// Transfers running at once for one session.
    pub(crate) max_transfers_per_session: usize,
}

impl From<&crate::Config> for Limits {
    fn from(config: &crate::Config) -> Self {
        Self {
            max_file_size: config.max_file_size,
            max_transfers: config.max_transfers,
            max_transfers_per_session: config.max_transfers_per_session,
        }
    }
}

/// One running transfer, as the hub knows it.
#[derive(Debug)]
pub(crate) struct Active {
    session: SessionId,
    req: Option<u64>,
    /// For uploads: the file to list once the body is verified, and whether it may replace
    /// another file of the same name.
    upload: Option<(FileInfo, bool)>,
    cancel: Option<oneshot::Sender<()>>,
}

impl Hub {
    pub(super) fn list_files(&mut self, session: SessionId, req: Option<u64>) {
        match self.store.files() {
            Ok(files) => {
                for frame in chunked_frames(files, self.max_frame, |files, done| {
                    ServerMsg::FileList { req, files, done }
                }) {
                    self.outbox.push(Out::To(session, frame));
                }
            }
            Err(err) => self.queue_error(session, req, ErrorCode::Internal, err),
        }
    }

    pub(super) fn download(&mut self, session: SessionId, req: Option<u64>, name: &str) {
        let file = match self.store.file(name) {
            Ok(Some(file)) => file,
            Ok(None) => {
                return self.refuse(
                    session,
                    req,
                    ErrorCode::NoSuchFile,
                    format!("no file named {name:?} is shared; `files` lists them"),
                );
            }
            Err(err) => return self.queue_error(session, req, ErrorCode::Internal, err),
        };
        if let Err((code, message)) = self.check_transfer_limits(session) {
            return self.refuse(session, req, code, message);
        }
        match self.files.start_download(session, &file) {
            Ok(offer) => {
                info!(session, name, transfer = offer.transfer, "download started");
                self.offer(session, req, Direction::Download, file, None, offer);
            }
            Err((code, message)) => self.refuse(session, req, code, message),
        }
    }

    pub(super) fn upload(
        &mut self,
        session: SessionId,
        req: Option<u64>,
        name: &str,
        size: u64,
        hash: &str,
        replace: bool,
    ) {
        let Some(uploader) = self.members.get(&session).map(|m| m.nick.clone()) else {
            return;
        };
        let request = UploadRequest {
            name,
            size,
            hash,
            replace,
            uploader: &uploader,
            now_ms: now_ms(),
            max_file_size: self.limits.max_file_size,
        };
        // Only a well-formed hash may be used as a body file name.
        let body_stored = is_blake3_hex(hash) && self.files.has_body(hash);
        let listed = match self.store.file(name) {
            Ok(listed) => listed,
            Err(err) => return self.queue_error(session, req, ErrorCode::Internal, err),
        };
        let listed_before = listed.clone();
        match plan_upload(&request, listed, body_stored) {
            UploadPlan::Refuse(code, message) => self.refuse(session, req, code, message),
            UploadPlan::AlreadyListed(file) => {
                let frame = self.encode(&ServerMsg::UploadDone {
                    req,
                    transfer: None,
                    file,
                });
                self.outbox.push(Out::To(session, frame));
            }
            UploadPlan::ListStoredBody(file) => {
                let previous = listed_before.filter(|old| old.hash != file.hash);
                self.list(session, req, None, file, previous);
            }
            UploadPlan::Transfer(file) => {
                if self
                    .transfers
                    .values()
                    .any(|t| t.upload.as_ref().is_some_and(|(f, _)| f.hash == file.hash))
                {
                    return self.refuse(
                        session,
                        req,
                        ErrorCode::TooManyTransfers,
                        "this exact content is being uploaded right now; retry when that upload ends"
                            .into(),
                    );
                }
                if let Err((code, message)) = self.check_transfer_limits(session) {
                    return self.refuse(session, req, code, message);
                }
                if !self.files.has_room_for(file.size) {
                    return self.refuse(
                        session,
                        req,
                        ErrorCode::StorageFull,
                        format!(
                            "the server has no room for {} bytes; nothing was transferred — ask its operator to free space",
                            file.size
                        ),
                    );
                }
                match self.files.start_upload(session, &file) {
                    Ok(offer) => {
                        info!(session, name, transfer = offer.transfer, "upload started");
                        let listing = Some((file.clone(), replace));
                        self.offer(session, req, Direction::Upload, file, listing, offer);
                    }
                    Err((code, message)) => self.refuse(session, req, code, message),
                }
            }
        }
    }

    pub(super) fn cancel_transfer(&mut self, session: SessionId, transfer: u64) {
        // Only the session that started a transfer may cancel it.
        if let Some(active) = self
            .transfers
            .get_mut(&transfer)
            .filter(|t| t.session == session)
            && let Some(cancel) = active.cancel.take()
        {
            let _ = cancel.send(());
        }
    }

    pub(super) fn cancel_transfers_of(&mut self, session: SessionId) {
        for active in self.transfers.values_mut().filter(|t| t.session == session) {
            if let Some(cancel) = active.cancel.take() {
                let _ = cancel.send(());
            }
        }
    }

    pub(super) fn transfer_ended(&mut self, session: SessionId, transfer: u64, ended: Ended) {
        let Some(active) = self.transfers.remove(&transfer) else {
            return;
        };
        match (ended, active.upload) {
            (Ended::Done, None) => {}
            (Ended::Done, Some((mut file, replace))) => {
                // The name may have been taken meanwhile by another upload.
                let previous = match self.store.file(&file.name) {
                    Ok(Some(listed)) if listed.hash != file.hash && !replace => {
                        let frame = self.encode(&ServerMsg::TransferFailed {
                            transfer,
                            code: ErrorCode::FileExists,
                            message: format!(
                                "while you uploaded, someone else shared a different {}; upload again with --replace or --as NAME (it will be instant)",
                                file.name
                            ),
                        });
                        self.outbox.push(Out::To(session, frame));
                        return;
                    }
                    Ok(listed) => listed.filter(|old| old.hash != file.hash),
                    Err(err) => {
                        return self.queue_error(session, active.req, ErrorCode::Internal, err);
                    }
                };
                file.ts = now_ms();
                self.list(session, active.req, Some(transfer), file, previous);
            }
            (Ended::Failed(code, message), _) => {
                info!(session, transfer, ?code, %message, "transfer failed");
                let frame = self.encode(&ServerMsg::TransferFailed {
                    transfer,
                    code,
                    message,
                });
                self.outbox.push(Out::To(session, frame));
            }
        }
    }

    /// Passes a download's sender figures on to the session that owns the download, as long as
    /// the hub still counts it as running (a sample that raced the transfer's end is dropped).
    pub(super) fn transfer_stats(
        &mut self,
        session: SessionId,
        transfer: u64,
        sender: proto::SenderStats,
    ) {
        let owned_download = self
            .transfers
            .get(&transfer)
            .is_some_and(|t| t.session == session && t.upload.is_none());
        if !owned_download {
            return;
        }
        let frame = self.encode(&ServerMsg::TransferStats { transfer, sender });
        self.outbox.push(Out::Sample(session, frame));
    }

    /// Lists a file whose body is verified and in place, tells the uploader and everyone.
    /// `replaced`: the entry of the same name with other content that this one replaces (its
    /// body is deleted once no name uses it).
    fn list(
        &mut self,
        session: SessionId,
        req: Option<u64>,
        transfer: Option<u64>,
        file: FileInfo,
        replaced: Option<FileInfo>,
    ) {
        if let Err(err) = self.store.put_file(&file) {
            return self.queue_error(session, req, ErrorCode::Internal, err);
        }
        if let Some(old) = replaced {
            // The old body goes once no name uses it any more.
            match self.store.hash_in_use(&old.hash) {
                Ok(false) => self.files.remove_body(&old.hash),
                Ok(true) => {}
                Err(err) => warn!(%err, "cannot check whether an old body is still used"),
            }
        }
        info!(session, name = %file.name, size = file.size, "file listed");
        let done = self.encode(&ServerMsg::UploadDone {
            req,
            transfer,
            file: file.clone(),
        });
        self.outbox.push(Out::To(session, done));
        let added = self.encode(&ServerMsg::FileAdded { file });
        self.outbox.push(Out::All {
            frame: added,
            except: None,
        });
    }

    fn offer(
        &mut self,
        session: SessionId,
        req: Option<u64>,
        direction: Direction,
        file: FileInfo,
        upload: Option<(FileInfo, bool)>,
        offer: crate::files::Offer,
    ) {
        self.transfers.insert(
            offer.transfer,
            Active {
                session,
                req,
                upload,
                cancel: Some(offer.cancel),
            },
        );
        let frame = self.encode(&ServerMsg::Transfer {
            req,
            transfer: offer.transfer,
            direction,
            key: proto::hex::to_hex(&offer.key),
            udp_port: self.files.udp_port(),
            file,
        });
        self.outbox.push(Out::To(session, frame));
    }

    fn check_transfer_limits(&self, session: SessionId) -> Result<(), (ErrorCode, String)> {
        let mine = self
            .transfers
            .values()
            .filter(|t| t.session == session)
            .count();
        if mine >= self.limits.max_transfers_per_session {
            return Err((
                ErrorCode::TooManyTransfers,
                format!(
                    "you already have {mine} transfers running (the limit); retry when one ends"
                ),
            ));
        }
        if self.transfers.len() >= self.limits.max_transfers {
            return Err((
                ErrorCode::TooManyTransfers,
                "the server is busy with other transfers; retry in a moment".into(),
            ));
        }
        Ok(())
    }

    fn refuse(&mut self, session: SessionId, req: Option<u64>, code: ErrorCode, message: String) {
        let frame = self.encode(&ServerMsg::Error { req, code, message });
        self.outbox.push(Out::To(session, frame));
    }
}

/// What to do with an `upload` request, decided from the catalog alone.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum UploadPlan {
    /// The server already lists exactly this content under this name: done, nothing moves.
    AlreadyListed(FileInfo),
    /// The body is already stored (listed under another name, or replaced): list it at once.
    ListStoredBody(FileInfo),
    /// Bytes must move: start a transfer; list `FileInfo` once verified.
    Transfer(FileInfo),
    /// Refused before any byte moves.
    Refuse(ErrorCode, String),
}

/// Everything an upload decision depends on, so it is a pure function (and unit-tested).
#[derive(Debug)]
pub(crate) struct UploadRequest<'a> {
    pub(crate) name: &'a str,
    pub(crate) size: u64,
    pub(crate) hash: &'a str,
    pub(crate) replace: bool,
    pub(crate) uploader: &'a str,
    pub(crate) now_ms: u64,
    pub(crate) max_file_size: u64,
}

/// Decides an upload. `listed` is the catalog entry under the same name, if any; `body_stored`
/// tells whether a verified body with this hash is already on disk.
pub(crate) fn plan_upload(
    req: &UploadRequest<'_>,
    listed: Option<FileInfo>,
    body_stored: bool,
) -> UploadPlan {
    if let Err(err) = validate_file_name(req.name) {
        return UploadPlan::Refuse(ErrorCode::InvalidFileName, err.to_string());
    }
    if !is_blake3_hex(req.hash) {
        return UploadPlan::Refuse(
            ErrorCode::Malformed,
            "hash must be the BLAKE3 of the file as 64 lowercase hex digits".into(),
        );
    }
    if req.size > req.max_file_size {
        return UploadPlan::Refuse(
            ErrorCode::FileTooLarge,
            format!(
                "{} is {} bytes; this server accepts files up to {} bytes",
                req.name, req.size, req.max_file_size
            ),
        );
    }
    if let Some(listed) = listed {
        if listed.hash == req.hash && listed.size == req.size {
            return UploadPlan::AlreadyListed(listed);
        }
        if !req.replace {
            return UploadPlan::Refuse(
                ErrorCode::FileExists,
                format!(
                    "a different file named {} is already shared (by {}); upload with --replace \
                     to replace it, or choose another name with --as",
                    req.name, listed.uploader
                ),
            );
        }
    }
    let info = FileInfo {
        name: req.name.to_owned(),
        size: req.size,
        hash: req.hash.to_owned(),
        uploader: req.uploader.to_owned(),
        ts: req.now_ms,
    };
    if body_stored {
        UploadPlan::ListStoredBody(info)
    } else {
        UploadPlan::Transfer(info)
    }
}

/// Whether `hash` looks like a BLAKE3 digest in lowercase hex (it also names the body file,
/// so nothing else may pass).
pub(crate) fn is_blake3_hex(hash: &str) -> bool {
    hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const H1: &str = "1111111111111111111111111111111111111111111111111111111111111111";
    const H2: &str = "2222222222222222222222222222222222222222222222222222222222222222";

    fn req(name: &str, hash: &'static str, replace: bool) -> UploadRequest<'static> {
        UploadRequest {
            name: Box::leak(name.to_owned().into_boxed_str()),
            size: 10,
            hash,
            replace,
            uploader: "alice",
            now_ms: 5,
            max_file_size: 100,
        }
    }

    fn listed(hash: &str) -> FileInfo {
        FileInfo {
            name: "a.txt".into(),
            size: 10,
            hash: hash.into(),
            uploader: "bob".into(),
            ts: 1,
        }
    }

    #[test]
    fn same_name_same_content_is_done_without_a_transfer() {
        assert_eq!(
            plan_upload(&req("a.txt", H1, false), Some(listed(H1)), true),
            UploadPlan::AlreadyListed(listed(H1))
        );
    }

    #[test]
    fn same_name_other_content_needs_replace() {
        assert!(matches!(
            plan_upload(&req("a.txt", H2, false), Some(listed(H1)), false),
            UploadPlan::Refuse(ErrorCode::FileExists, _)
        ));
        assert!(matches!(
            plan_upload(&req("a.txt", H2, true), Some(listed(H1)), false),
            UploadPlan::Transfer(FileInfo { ref hash, .. }) if hash == H2
        ));
    }

    #[test]
    fn known_content_under_a_new_name_is_listed_at_once() {
        assert!(matches!(
            plan_upload(&req("b.txt", H1, false), None, true),
            UploadPlan::ListStoredBody(FileInfo { ref name, .. }) if name == "b.txt"
        ));
    }

    #[test]
    fn bad_names_sizes_and_hashes_are_refused_first() {
        for name in ["../x", "/etc/passwd", "a/b", "con\0", &"n".repeat(300)] {
            assert!(
                matches!(
                    plan_upload(&req(name, H1, false), None, false),
                    UploadPlan::Refuse(ErrorCode::InvalidFileName, _)
                ),
                "{name:?}"
            );
        }
        let mut big = req("big", H1, false);
        big.size = 101;
        assert!(matches!(
            plan_upload(&big, None, false),
            UploadPlan::Refuse(ErrorCode::FileTooLarge, _)
        ));
        assert!(matches!(
            plan_upload(&req("x", "../../etc/passwd", false), None, false),
            UploadPlan::Refuse(ErrorCode::Malformed, _)
        ));
        assert!(is_blake3_hex(&"ab".repeat(32)));
        assert!(
            !is_blake3_hex(&"AB".repeat(32)),
            "uppercase would name a second body"
        );
    }
}
