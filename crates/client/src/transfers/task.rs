//! The task that sees one transfer through: it relays the engine's progress (and, for a
//! download, the server's sender figures), honours a cancel, listens for the server's verdict,
//! and finishes the job — verify and rename a download, wait for `upload_done` after an upload.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use proto::{Direction, FileInfo, SenderStats};
use rudp::Sink;
use rudp_tokio::files::FileSink;
use rudp_tokio::{Endpoint, Progress, Transfer, TransferError};
use tokio::sync::{oneshot, watch};

use super::{TransferOutcome, TransferProgress};
use crate::client::Client;
use crate::error::ClientError;

/// How fast the server is assumed to verify an upload at worst, bytes per second: it hashes
/// while the data flows, so this only bounds a final flush and `fsync`.
const SERVER_VERIFY_RATE: u64 = 100 << 20;

/// Time constant of the progress rate's moving average.
const RATE_SMOOTHING: Duration = Duration::from_secs(1);

/// What differs between the two directions.
pub(crate) enum Kind {
    Download {
        /// A handle on the sink the engine writes into (to verify, rename, or checkpoint).
        sink: FileSink,
        dest: PathBuf,
        /// Bytes already held when this attempt started.
        resumed: u64,
        /// Bytes that filled a gap (see [`GapFillCounter`]).
        fills: Arc<AtomicU64>,
    },
    Upload {
        path: PathBuf,
    },
}

/// One transfer being seen through.
pub(crate) struct Running {
    /// For `cancel`; also keeps the session (and so the verdict's route) open.
    pub(crate) client: Client,
    /// Keeps the endpoint (and its socket) alive while this transfer runs.
    pub(crate) endpoint: Endpoint,
    pub(crate) transfer: Transfer,
    pub(crate) id: u64,
    pub(crate) file: FileInfo,
    pub(crate) kind: Kind,
    pub(crate) verdict: oneshot::Receiver<Result<FileInfo, ClientError>>,
    /// The server's figures of a download's sender, from `transfer_stats`.
    pub(crate) sender: watch::Receiver<Option<SenderStats>>,
    pub(crate) progress: watch::Sender<TransferProgress>,
    pub(crate) cancel: watch::Receiver<bool>,
    pub(crate) started: Instant,
}

impl Running {
    pub(crate) async fn run(mut self) -> Result<TransferOutcome, ClientError> {
        let result = self.drive().await;
        self.progress.send_modify(|p| p.finished = true);
        tracing::debug!(
            transfer = self.id,
            ok = result.is_ok(),
            udp = %self.endpoint.local_addr(),
            "transfer ended"
        );
        result
    }

    fn what(&self) -> &'static str {
        match self.kind {
            Kind::Download { .. } => "download",
            Kind::Upload { .. } => "upload",
        }
    }

    async fn drive(&mut self) -> Result<TransferOutcome, ClientError> {
        let mut engine = self.transfer.progress();
        let mut engine_open = true;
        let mut sender_open = true;
        let mut verdict_open = true;
        let mut verified: Option<FileInfo> = None;
        let mut meter = RateMeter::new(self.started);
        let result = loop {
            tokio::select! {
                () = cancelled(&mut self.cancel) => {
                    self.abort().await;
                    return Err(ClientError::Cancelled {
                        what: self.what(),
                        name: self.file.name.clone(),
                    });
                }
                result = self.transfer.finished() => break result,
                changed = engine.changed(), if engine_open => match changed {
                    Ok(()) => {
                        let snapshot = engine.borrow_and_update().clone();
                        self.publish(&snapshot, &mut meter);
                    }
                    Err(_) => engine_open = false,
                },
                changed = self.sender.changed(), if sender_open => match changed {
                    Ok(()) => {
                        let figures = self.sender.borrow_and_update().clone();
                        self.progress.send_modify(|p| p.sender = figures);
                    }
                    Err(_) => sender_open = false,
                },
                verdict = &mut self.verdict, if verdict_open => {
                    verdict_open = false;
                    match verdict {
                        // The server verified the upload before our sender saw the last ACK.
                        Ok(Ok(file)) => verified = Some(file),
                        Ok(Err(err @ ClientError::TransferFailed { .. })) => {
                            self.abort().await;
                            return Err(err);
                        }
                        // The control connection is gone: an upload can no longer be
                        // confirmed; a download does not need it (its hash is checked here).
                        Ok(Err(err)) if matches!(self.kind, Kind::Upload { .. }) => {
                            self.abort().await;
                            return Err(err);
                        }
                        Ok(Err(_)) | Err(_) => {}
                    }
                }
            }
        };
        let summary = match result {
            Ok(summary) => summary,
            Err(err) => {
                self.save_partial().await;
                // A server that gave up says why on the control channel; prefer its words.
                if let Ok(Err(err @ ClientError::TransferFailed { .. })) = self.verdict.try_recv() {
                    return Err(err);
                }
                self.client.cancel_on_server(self.id).await;
                return Err(ClientError::Transfer {
                    what: self.what(),
                    name: self.file.name.clone(),
                    reason: engine_reason(err),
                });
            }
        };
        self.publish(
            &Progress {
                bytes_done: summary.bytes,
                size: summary.bytes,
                stats: summary.stats.clone(),
                elapsed: summary.elapsed,
                finished: false,
            },
            &mut meter,
        );
        let stats = summary.stats;
        let (path, file, transferred, resumed, retransmitted) = match &self.kind {
            Kind::Download {
                sink,
                dest,
                resumed,
                fills,
            } => {
                let sink = sink.clone();
                let path = tokio::task::spawn_blocking(move || sink.finish())
                    .await
                    .map_err(|err| ClientError::Protocol(format!("the disk task failed: {err}")))?
                    .map_err(|err| ClientError::Verify {
                        name: self.file.name.clone(),
                        reason: err.to_string(),
                    })?;
                debug_assert_eq!(&path, dest);
                (
                    path,
                    self.file.clone(),
                    stats.data_bytes_received + stats.data_bytes_duplicate,
                    *resumed,
                    fills.load(Ordering::Relaxed),
                )
            }
            Kind::Upload { path } => {
                let path = path.clone();
                let file = match verified.take() {
                    Some(file) => file,
                    None => self.await_verdict(verdict_open).await?,
                };
                (
                    path,
                    file,
                    stats.data_bytes_sent,
                    stats.bytes_resumed,
                    stats.data_bytes_retransmitted,
                )
            }
        };
        Ok(TransferOutcome {
            direction: match self.kind {
                Kind::Download { .. } => Direction::Download,
                Kind::Upload { .. } => Direction::Upload,
            },
            file,
            path,
            transfer: Some(self.id),
            bytes_transferred: transferred,
            bytes_resumed: resumed,
            bytes_retransmitted: retransmitted,
            elapsed: self.started.elapsed(),
            stats,
        })
    }

    /// Waits for the server's `upload_done` (or `transfer_failed`) once every byte is acked.
    async fn await_verdict(&mut self, open: bool) -> Result<FileInfo, ClientError> {
        let lost = || ClientError::Disconnected {
            reason: "the connection closed before the server confirmed the upload; run the \
                     upload again (it completes without resending what arrived)"
                .into(),
        };
        if !open {
            return Err(lost());
        }
        let allowance = self.client.shared.request_timeout
            + Duration::from_secs(self.file.size / SERVER_VERIFY_RATE);
        match tokio::time::timeout(allowance, &mut self.verdict).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(lost()),
            Err(_) => Err(ClientError::Timeout {
                what: "the upload's verification",
                after: allowance,
            }),
        }
    }

    /// Stops the engine and the server, keeping what a download already holds.
    async fn abort(&mut self) {
        self.transfer.cancel();
        self.client.cancel_on_server(self.id).await;
        self.save_partial().await;
    }

    /// Records what a download holds so that the next attempt resumes from it.
    async fn save_partial(&self) {
        if let Kind::Download { sink, .. } = &self.kind {
            let sink = sink.clone();
            match tokio::task::spawn_blocking(move || sink.checkpoint()).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => tracing::warn!(%err, "cannot save the partial download"),
                Err(err) => tracing::warn!(%err, "the checkpoint task failed"),
            }
        }
    }

    fn publish(&self, snapshot: &Progress, meter: &mut RateMeter) {
        let resumed = match &self.kind {
            Kind::Download { resumed, .. } => *resumed,
            Kind::Upload { .. } => snapshot.stats.bytes_resumed,
        };
        let moved = snapshot.bytes_done.saturating_sub(resumed);
        let rate = meter.update(self.started + snapshot.elapsed, moved);
        self.progress.send_replace(TransferProgress {
            bytes_done: snapshot.bytes_done,
            size: self.file.size,
            bytes_resumed: resumed,
            elapsed: snapshot.elapsed,
            rate,
            stats: snapshot.stats.clone(),
            sender: self.sender.borrow().clone(),
            finished: false,
        });
    }
}

/// The engine's reason, without its "transfer N failed:" prefix (ours says which file).
fn engine_reason(err: TransferError) -> String {
    match err {
        TransferError::Failed { source, .. } => source.to_string(),
        other => other.to_string(),
    }
}

/// Resolves once a cancel is asked for; never if the handle is dropped without one.
async fn cancelled(cancel: &mut watch::Receiver<bool>) {
    if cancel.wait_for(|c| *c).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// An exponentially weighted moving average of a byte count's growth, bytes per second.
struct RateMeter {
    at: Instant,
    bytes: u64,
    rate: f64,
    primed: bool,
}

impl RateMeter {
    fn new(start: Instant) -> Self {
        RateMeter {
            at: start,
            bytes: 0,
            rate: 0.0,
            primed: false,
        }
    }

    fn update(&mut self, now: Instant, bytes: u64) -> f64 {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        if dt <= 0.0 {
            return self.rate;
        }
        let sample = bytes.saturating_sub(self.bytes) as f64 / dt;
        if self.primed {
            let alpha = 1.0 - (-dt / RATE_SMOOTHING.as_secs_f64()).exp();
            self.rate += alpha * (sample - self.rate);
        } else {
            self.rate = sample;
            self.primed = true;
        }
        self.at = now;
        self.bytes = bytes;
        self.rate
    }
}

/// A sink that counts the fresh bytes landing behind the furthest byte written so far: the
/// sender sends in offset order, so those filled a gap — a retransmission, or reordering.
/// That is the receiver's view of retransmission (the sender's own counter stays there).
pub(crate) struct GapFillCounter {
    inner: FileSink,
    /// End of the furthest write so far, bytes.
    high: u64,
    fills: Arc<AtomicU64>,
}

impl GapFillCounter {
    pub(crate) fn wrap(inner: FileSink) -> (Self, Arc<AtomicU64>) {
        let fills = Arc::new(AtomicU64::new(0));
        let counter = GapFillCounter {
            inner,
            high: 0,
            fills: fills.clone(),
        };
        (counter, fills)
    }
}

impl Sink for GapFillCounter {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.inner.write_at(offset, data)?;
        let end = offset + data.len() as u64;
        if offset < self.high {
            self.fills.fetch_add(data.len() as u64, Ordering::Relaxed);
        } else {
            self.high = end;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_meter_follows_a_steady_rate() {
        let t0 = Instant::now();
        let mut meter = RateMeter::new(t0);
        let mut rate = 0.0;
        for i in 1..=40u64 {
            rate = meter.update(t0 + Duration::from_millis(50 * i), i * 50_000);
        }
        assert!((rate - 1_000_000.0).abs() < 1.0, "{rate}");
    }
}
