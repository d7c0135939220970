//! The application's view of one transfer: what to start it with ([`TransferSpec`]), the
//! handle it gets back ([`Transfer`]), and what it observes ([`Progress`], [`Summary`],
//! [`TransferError`]).

use crate::endpoint::Command;
use rudp::{Config, RangeSet, Side, Sink, Source, Stats, TransferId, TransferParams};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// Everything needed to start one transfer on an [`Endpoint`](crate::Endpoint).
pub struct TransferSpec {
    /// Id, key and size agreed on the control channel.
    pub params: TransferParams,
    /// `Side::Client { server }` speaks first (to `server`); `Side::Server` waits for the
    /// client's first authenticated datagram.
    pub side: Side,
    /// Protocol configuration (congestion control, timeouts, datagram size).
    pub config: Arc<Config>,
    /// Whether this end sends or receives the bytes, and from/to where.
    pub role: Role,
    /// The control channel's RTT, if known: a better first guess than `Config::initial_rtt`.
    pub initial_rtt: Option<Duration>,
}

impl TransferSpec {
    /// A spec with the default [`Config`] and no RTT hint.
    pub fn new(params: TransferParams, side: Side, role: Role) -> Self {
        Self {
            params,
            side,
            config: Arc::new(Config::default()),
            role,
            initial_rtt: None,
        }
    }
}

impl std::fmt::Debug for TransferSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransferSpec")
            .field("transfer_id", &self.params.transfer_id)
            .field("size", &self.params.size)
            .field("side", &self.side)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Which way the bytes go at this end.
pub enum Role {
    /// This end sends the file: bytes are read from the source by offset.
    Send(Box<dyn Source>),
    /// This end receives the file into `sink`. `have`: byte ranges already held (resume, e.g.
    /// from [`FileSink::resume`](crate::files::FileSink::resume)); they are never sent again.
    Receive {
        /// Where fresh bytes are written.
        sink: Box<dyn Sink>,
        /// Byte ranges already held.
        have: RangeSet,
    },
}

impl std::fmt::Debug for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Role::Send(_) => f.write_str("Send"),
            Role::Receive { have, .. } => f
                .debug_struct("Receive")
                .field("have_bytes", &have.total_len())
                .finish_non_exhaustive(),
        }
    }
}

/// A snapshot of a running transfer, published at most every
/// [`EndpointConfig::progress_interval`](crate::EndpointConfig::progress_interval) and once
/// more when it ends.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Progress {
    /// Bytes held by the receiver: acknowledged (sender) or written (receiver), including
    /// bytes held before a resume. Bytes.
    pub bytes_done: u64,
    /// Size of the transfer, bytes.
    pub size: u64,
    /// The connection's counters and estimates (RTT, rates, losses).
    pub stats: Stats,
    /// Time since the transfer was started.
    pub elapsed: Duration,
    /// `true` in the last snapshot, once the transfer completed or failed.
    pub finished: bool,
}

/// How a completed transfer went.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// Size of the transfer, bytes.
    pub bytes: u64,
    /// From start to completion.
    pub elapsed: Duration,
    /// The connection's final counters (`data_bytes_received` is what actually crossed the
    /// network for a receiver, `bytes_resumed` what a sender skipped).
    pub stats: Stats,
}

/// Why a transfer did not complete.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The protocol gave up: peer silent, peer closed, protocol violation, or a local read
    /// or write failed (see the source).
    #[error("transfer {id} failed: {source}")]
    Failed {
        /// The transfer.
        id: TransferId,
        /// What the engine reported.
        #[source]
        source: rudp::Error,
    },
    /// [`Transfer::cancel`] was called.
    #[error("transfer {id} was cancelled")]
    Cancelled {
        /// The transfer.
        id: TransferId,
    },
    /// The endpoint shut down (its last handle was dropped, or `close` was called) first.
    #[error("the endpoint shut down before the transfer finished; start it again (it resumes)")]
    EndpointClosed,
    /// [`Transfer::finished`] already returned the outcome.
    #[error("the outcome of this transfer was already returned by an earlier finished() call")]
    OutcomeTaken,
}

/// The handle of one running transfer. Dropping it does not stop the transfer (it runs to its
/// end, or to its idle timeout); call [`cancel`](Self::cancel) for that.
#[derive(Debug)]
pub struct Transfer {
    pub(crate) id: TransferId,
    pub(crate) progress: watch::Receiver<Progress>,
    pub(crate) outcome: oneshot::Receiver<Result<Summary, TransferError>>,
    pub(crate) taken: bool,
    pub(crate) commands: mpsc::UnboundedSender<Command>,
}

impl Transfer {
    /// The transfer's id.
    pub fn id(&self) -> TransferId {
        self.id
    }

    /// A receiver of progress snapshots (for a progress bar: `changed().await` in a loop).
    pub fn progress(&self) -> watch::Receiver<Progress> {
        self.progress.clone()
    }

    /// The latest progress snapshot.
    pub fn current(&self) -> Progress {
        self.progress.borrow().clone()
    }

    /// Waits for the outcome: a sender completes when every byte is acknowledged, a receiver
    /// when every byte was written to its sink (then verify and rename it, e.g. with
    /// [`FileSink::finish`](crate::files::FileSink::finish)). Cancel-safe; returns
    /// [`TransferError::OutcomeTaken`] once the outcome was returned.
    pub async fn finished(&mut self) -> Result<Summary, TransferError> {
        if self.taken {
            return Err(TransferError::OutcomeTaken);
        }
        let result = (&mut self.outcome).await;
        self.taken = true;
        result.unwrap_or(Err(TransferError::EndpointClosed))
    }

    /// Stops the transfer: the peer gets a CLOSE (code `CANCELLED`), and
    /// [`finished`](Self::finished) returns [`TransferError::Cancelled`] (unless it already
    /// completed). For a [`FileSink`](crate::files::FileSink), call its `checkpoint` afterwards
    /// to resume later without fetching anything twice.
    pub fn cancel(&self) {
        let _ = self.commands.send(Command::Cancel(self.id));
    }
}
