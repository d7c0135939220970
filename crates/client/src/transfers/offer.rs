//! What the control channel hands a transfer: the server's `transfer` answer ([`Offer`]) and
//! the later verdict on it, turned into the engine's parameters.

use std::net::SocketAddr;

use proto::{Direction, FileInfo, SenderStats};
use rudp::{TransferId, TransferParams};
use tokio::sync::{oneshot, watch};

use crate::error::ClientError;

/// Where the server's word on a transfer goes: `Ok` with the listed file on `upload_done`,
/// `Err` on `transfer_failed` or when the connection is lost first.
pub(crate) type Verdict = oneshot::Sender<Result<FileInfo, ClientError>>;

/// Where the server's `transfer_stats` for a download go: the latest figures of its sender
/// (`None` until the first arrives). A watch, so a slow reader only ever sees the newest.
pub(crate) type SenderFigures = watch::Sender<Option<SenderStats>>;

/// A transfer the server set up for us (its `transfer` answer).
#[derive(Debug)]
pub(crate) struct Offer {
    pub(crate) transfer: u64,
    pub(crate) direction: Direction,
    /// The AEAD key, 64 hex digits.
    pub(crate) key: String,
    /// The server's UDP port if it differs from the one the control connection reached.
    pub(crate) udp_port: Option<u16>,
    pub(crate) file: FileInfo,
    /// The address the control connection reached (server or relay) when the answer came.
    pub(crate) peer: Option<SocketAddr>,
    /// The server's verdict on this transfer.
    pub(crate) verdict: oneshot::Receiver<Result<FileInfo, ClientError>>,
    /// The server's sender figures of a download (never updated for an upload: we send).
    pub(crate) sender: watch::Receiver<Option<SenderStats>>,
}

/// The server's answer to `upload`.
#[derive(Debug)]
pub(crate) enum UploadAnswer {
    /// Nothing had to move: the file is listed (`upload_done` without a transfer).
    Listed(FileInfo),
    /// Send the bytes.
    Transfer(Offer),
}

impl Offer {
    /// The engine's parameters, checked: a key of 32 bytes, the listed size.
    pub(crate) fn params(&self) -> Result<TransferParams, ClientError> {
        let key = proto::hex::from_hex32(&self.key)
            .ok_or_else(|| ClientError::Protocol("the transfer key is not 64 hex digits".into()))?;
        Ok(TransferParams {
            transfer_id: TransferId(self.transfer),
            key,
            size: self.file.size,
        })
    }

    /// Where the datagrams go: the very address the control connection reached (server, relay
    /// or port forward), or that host at `udp_port` if the server named another port.
    pub(crate) fn server_addr(&self) -> Result<SocketAddr, ClientError> {
        let peer = self.peer.ok_or_else(|| {
            ClientError::Protocol("the server's address is unknown (socket closed)".into())
        })?;
        match self.udp_port {
            None => Ok(peer),
            Some(0) => Err(ClientError::Protocol(
                "the server offered UDP port 0".into(),
            )),
            Some(port) => Ok(SocketAddr::new(peer.ip(), port)),
        }
    }

    /// The listed BLAKE3, checked.
    pub(crate) fn hash(&self) -> Result<[u8; 32], ClientError> {
        proto::hex::from_hex32(&self.file.hash).ok_or_else(|| {
            ClientError::Protocol(format!(
                "the server announced {:?} as the BLAKE3 of {}; that is not 64 hex digits",
                self.file.hash, self.file.name
            ))
        })
    }
}
