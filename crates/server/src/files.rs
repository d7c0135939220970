//! The server's file service: where bodies live on disk, and the UDP endpoint their bytes
//! travel through.
//!
//! Bodies are **content-addressed**: `files/<blake3 hex>`. An upload is received straight into
//! `files/<hash>.part` (with its resume state beside it) and renamed to `files/<hash>` only
//! after the whole-file BLAKE3 matched — so a body file that exists is, by construction, a
//! verified one, and the catalog (SQLite) lists a name only once its body is in place. Keying
//! partial uploads by content also makes resume natural: re-announcing the same content finds
//! the same `.part`, whoever sends it and under whatever name.
//!
//! The hub decides (catalog, limits, ownership); this module does the I/O it asks for and
//! reports each transfer's end back to the hub as a [`Command`].

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use proto::{ErrorCode, FileInfo, SenderStats};
use rudp::{Side, TransferId, TransferParams};
use rudp_tokio::files::{FileSink, FileSource};
use rudp_tokio::{Endpoint, EndpointConfig, Role, Transfer, TransferError, TransferSpec};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use crate::hub::{Command, SessionId};

/// Name of the bodies directory inside the data directory.
pub const FILES_DIR: &str = "files";

/// Room left free on the disk beyond an upload's size, bytes: SQLite and logs need some too.
const DISK_RESERVE: u64 = 64 << 20;

/// How often a running download's sender figures go to its owner (`transfer_stats`): often
/// enough for a live plot, rare enough to be nothing next to the data.
const SENDER_STATS_INTERVAL: Duration = Duration::from_millis(250);

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum FileServiceError {
    /// The bodies directory could not be created.
    #[error("cannot create {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The UDP endpoint could not be bound.
    #[error(transparent)]
    Endpoint(#[from] rudp_tokio::EndpointError),
}

/// A transfer the service started: what the client needs to join it.
#[derive(Debug)]
pub(crate) struct Offer {
    pub(crate) transfer: u64,
    pub(crate) key: [u8; 32],
    /// Fire to cancel the transfer.
    pub(crate) cancel: oneshot::Sender<()>,
}

/// How a transfer ended, as reported to the hub.
#[derive(Debug)]
pub(crate) enum Ended {
    /// A download completed, or an upload was verified and its body is in place.
    Done,
    /// It failed; the code and text go to the client in `transfer_failed`.
    Failed(ErrorCode, String),
}

pub(crate) struct FileService {
    dir: PathBuf,
    endpoint: Endpoint,
    rudp: Arc<rudp::Config>,
    runtime: tokio::runtime::Handle,
    /// The TCP listener's port: when UDP has the same number, `transfer` leaves `udp_port` out.
    tcp_port: u16,
    /// Where transfer outcomes go. Weak, so open transfers never keep the hub alive at shutdown.
    hub: mpsc::WeakSender<Command>,
}

impl FileService {
    /// Creates `<data>/files`, removes partial uploads untouched for longer than `grace`, and
    /// binds the UDP endpoint at `udp_addr`.
    pub(crate) fn open(
        data_dir: &Path,
        udp_addr: SocketAddr,
        tcp_port: u16,
        grace: Duration,
        runtime: tokio::runtime::Handle,
        hub: mpsc::WeakSender<Command>,
    ) -> Result<Self, FileServiceError> {
        let dir = data_dir.join(FILES_DIR);
        std::fs::create_dir_all(&dir).map_err(|source| FileServiceError::Dir {
            path: dir.clone(),
            source,
        })?;
        sweep_stale_parts(&dir, grace);
        let endpoint = Endpoint::bind(udp_addr, EndpointConfig::default())?;
        info!(udp = %endpoint.local_addr(), dir = %dir.display(), "file service ready");
        Ok(Self {
            dir,
            endpoint,
            rudp: Arc::new(rudp::Config::default()),
            runtime,
            tcp_port,
            hub,
        })
    }

    /// The UDP port to announce in `transfer`: none when it is the TCP port number (clients then
    /// use the port they connected to, which also works through a relay), else the port.
    pub(crate) fn udp_port(&self) -> Option<u16> {
        let port = self.endpoint.local_addr().port();
        (port != self.tcp_port).then_some(port)
    }

    /// Where the verified body with this hash lives. The hash was checked to be 64 hex digits
    /// before it got here (see `hub::files::is_blake3_hex`), so it is a plain file name.
    pub(crate) fn body_path(&self, hash: &str) -> PathBuf {
        self.dir.join(hash)
    }

    pub(crate) fn has_body(&self, hash: &str) -> bool {
        self.body_path(hash).is_file()
    }

    /// Stops every transfer and releases the UDP port before returning, so a server restarted
    /// at once can bind it again. Blocks; the hub calls it on its own thread as it stops.
    pub(crate) fn close(&self) {
        self.endpoint.close_and_wait();
    }

    /// Deletes a body no listed file uses any more.
    pub(crate) fn remove_body(&self, hash: &str) {
        if let Err(err) = std::fs::remove_file(self.body_path(hash)) {
            warn!(%err, hash, "cannot delete an unused body");
        }
    }

    /// Whether `size` more bytes fit on the disk with the reserve to spare. If the file
    /// system cannot say, the upload is allowed and a full disk shows up as a write error.
    pub(crate) fn has_room_for(&self, size: u64) -> bool {
        match rustix::fs::statvfs(&self.dir) {
            Ok(st) => {
                let free = st.f_bavail.saturating_mul(st.f_frsize);
                free >= size.saturating_add(DISK_RESERVE)
            }
            Err(_) => true,
        }
    }

    /// Starts sending a stored body to a client.
    pub(crate) fn start_download(
        &self,
        session: SessionId,
        file: &FileInfo,
    ) -> Result<Offer, (ErrorCode, String)> {
        let source = FileSource::open(self.body_path(&file.hash)).map_err(|err| {
            warn!(%err, name = %file.name, "stored body unreadable");
            (
                ErrorCode::Internal,
                format!("the server cannot read {}: {err}", file.name),
            )
        })?;
        let (params, key) = fresh_params(file.size)?;
        let role = Role::Send(Box::new(source));
        let transfer = self.start(params, role)?;
        Ok(self.watch(session, transfer, key, None))
    }

    /// Starts receiving an upload into `files/<hash>.part`, resuming what an earlier attempt
    /// left there.
    pub(crate) fn start_upload(
        &self,
        session: SessionId,
        file: &FileInfo,
    ) -> Result<Offer, (ErrorCode, String)> {
        let hash = proto::hex::from_hex32(&file.hash).ok_or_else(|| {
            (
                ErrorCode::Malformed,
                "hash must be 64 hex digits".to_string(),
            )
        })?;
        let (sink, have) = FileSink::resume(self.body_path(&file.hash), file.size, hash)
            .map_err(|err| storage_error("cannot create the upload's temporary file", &err))?;
        if !have.is_empty() {
            info!(name = %file.name, held_bytes = have.total_len(), "resuming an upload");
        }
        let (params, key) = fresh_params(file.size)?;
        let role = Role::Receive {
            sink: Box::new(sink.clone()),
            have,
        };
        let transfer = self.start(params, role)?;
        Ok(self.watch(session, transfer, key, Some(sink)))
    }

    fn start(&self, params: TransferParams, role: Role) -> Result<Transfer, (ErrorCode, String)> {
        let mut spec = TransferSpec::new(params, Side::Server, role);
        spec.config = self.rudp.clone();
        self.endpoint.start(spec).map_err(|err| {
            warn!(%err, "cannot start a transfer");
            (
                ErrorCode::Internal,
                format!("cannot start the transfer: {err}"),
            )
        })
    }

    /// Spawns the task that waits for the transfer's end (or a cancel), finishes an upload's
    /// body, and reports to the hub. While a download runs it also samples the sender's figures
    /// for its owner: only the sending side knows them, and for a download that is us.
    fn watch(
        &self,
        session: SessionId,
        mut transfer: Transfer,
        key: [u8; 32],
        upload: Option<FileSink>,
    ) -> Offer {
        let id = transfer.id().0;
        let (cancel, mut cancelled) = oneshot::channel::<()>();
        let hub = self.hub.clone();
        let sampling = upload.is_none();
        self.runtime.spawn(async move {
            let mut ticks = tokio::time::interval_at(
                tokio::time::Instant::now() + SENDER_STATS_INTERVAL,
                SENDER_STATS_INTERVAL,
            );
            // A late tick (a busy runtime) must not turn into a burst of samples.
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut cancel_open = true;
            // The samples and the end travel on the same channel from this one task, so the
            // hub sees the last sample before the end and can drop anything later.
            let outcome = loop {
                tokio::select! {
                    outcome = transfer.finished() => break outcome,
                    asked = &mut cancelled, if cancel_open => {
                        cancel_open = false;
                        if asked.is_ok() {
                            transfer.cancel();
                            break transfer.finished().await;
                        }
                    }
                    _ = ticks.tick(), if sampling => {
                        sample_sender(&hub, session, id, &transfer.current().stats);
                    }
                }
            };
            let ended = match (outcome, upload) {
                (Ok(summary), None) => {
                    debug!(transfer = id, bytes = summary.bytes, "download done");
                    Ended::Done
                }
                (Ok(summary), Some(sink)) => {
                    debug!(
                        transfer = id,
                        bytes = summary.bytes,
                        "upload received; verifying"
                    );
                    match tokio::task::spawn_blocking(move || sink.finish()).await {
                        Ok(Ok(_)) => Ended::Done,
                        Ok(Err(err)) => finish_error(&err),
                        Err(err) => Ended::Failed(ErrorCode::Internal, err.to_string()),
                    }
                }
                (Err(err), upload) => {
                    if let Some(sink) = upload {
                        // Keep what arrived, so a re-run of the upload resumes.
                        let _ = tokio::task::spawn_blocking(move || sink.checkpoint()).await;
                    }
                    transfer_error(&err)
                }
            };
            if let Some(hub) = hub.upgrade() {
                let _ = hub
                    .send(Command::TransferEnded {
                        session,
                        transfer: id,
                        ended,
                    })
                    .await;
            }
        });
        Offer {
            transfer: id,
            key,
            cancel,
        }
    }
}

impl std::fmt::Debug for FileService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileService")
            .field("dir", &self.dir)
            .field("udp", &self.endpoint.local_addr())
            .finish_non_exhaustive()
    }
}

/// Hands the hub one `transfer_stats` sample of a download's sender. Never waits: a sample is
/// superseded by the next one anyway, so a busy hub just misses it.
fn sample_sender(
    hub: &mpsc::WeakSender<Command>,
    session: SessionId,
    transfer: u64,
    stats: &rudp::Stats,
) {
    // Nothing sent yet: the client has not reached the UDP endpoint, there is nothing to tell.
    if stats.packets_sent == 0 {
        return;
    }
    if let Some(hub) = hub.upgrade() {
        let _ = hub.try_send(Command::TransferStats {
            session,
            transfer,
            sender: sender_stats(stats),
        });
    }
}

/// The wire form of the figures only a sender has.
fn sender_stats(stats: &rudp::Stats) -> SenderStats {
    let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    SenderStats {
        cwnd: stats.cwnd,
        bytes_in_flight: stats.bytes_in_flight,
        packets_sent: stats.packets_sent,
        packets_lost: stats.packets_lost,
        data_bytes_retransmitted: stats.data_bytes_retransmitted,
        smoothed_rtt_us: micros(stats.smoothed_rtt),
        min_rtt_us: micros(stats.min_rtt),
        pacing_rate: stats.pacing_rate,
        delivery_rate: stats.delivery_rate,
    }
}

/// A fresh, unguessable transfer id and key from the OS's CSPRNG.
fn fresh_params(size: u64) -> Result<(TransferParams, [u8; 32]), (ErrorCode, String)> {
    let mut key = [0u8; 32];
    let mut id = [0u8; 8];
    getrandom::fill(&mut key)
        .and_then(|()| getrandom::fill(&mut id))
        .map_err(|err| {
            (
                ErrorCode::Internal,
                format!("no randomness for a key: {err}"),
            )
        })?;
    let params = TransferParams {
        transfer_id: TransferId(u64::from_be_bytes(id)),
        key,
        size,
    };
    Ok((params, key))
}

fn storage_error(what: &str, err: &io::Error) -> (ErrorCode, String) {
    let code = if is_disk_full(err) {
        ErrorCode::StorageFull
    } else {
        ErrorCode::Internal
    };
    (code, format!("{what}: {err}"))
}

fn is_disk_full(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

fn finish_error(err: &rudp_tokio::files::FileError) -> Ended {
    use rudp_tokio::files::FileError;
    match err {
        FileError::HashMismatch { .. } => Ended::Failed(
            ErrorCode::HashMismatch,
            "the uploaded bytes do not match the announced BLAKE3; nothing was listed — is the \
             file changing while you upload it?"
                .into(),
        ),
        other => Ended::Failed(
            ErrorCode::Internal,
            format!("the server could not store the upload: {other}; nothing was listed"),
        ),
    }
}

fn transfer_error(err: &TransferError) -> Ended {
    let text = err.to_string();
    let disk_full = matches!(
        err,
        TransferError::Failed { source: rudp::Error::Sink(io), .. } if is_disk_full(io)
    );
    if disk_full {
        Ended::Failed(
            ErrorCode::StorageFull,
            "the server's disk is full; nothing was listed — ask its operator to free space".into(),
        )
    } else {
        Ended::Failed(ErrorCode::TransferAborted, text)
    }
}

/// Deletes `*.part` files (and their state) untouched for longer than `grace`: uploads that were
/// abandoned for good. Younger ones stay so the uploader can resume.
fn sweep_stale_parts(dir: &Path, grace: Duration) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    let mut removed = 0usize;
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.ends_with(".part") || name.ends_with(".part.state")) {
            continue;
        }
        let age = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .unwrap_or_default();
        if age > grace && std::fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    if removed > 0 {
        info!(count = removed, "removed abandoned partial uploads");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_stats_carry_units_of_the_wire() {
        let stats = rudp::Stats {
            cwnd: 64_000,
            bytes_in_flight: 32_000,
            packets_sent: 90,
            packets_lost: 4,
            data_bytes_retransmitted: 5808,
            smoothed_rtt: Duration::from_micros(41_800),
            min_rtt: Duration::from_millis(40),
            pacing_rate: 1_000_000,
            delivery_rate: 900_000,
            data_bytes_received: 1,
            ..rudp::Stats::default()
        };
        assert_eq!(
            sender_stats(&stats),
            SenderStats {
                cwnd: 64_000,
                bytes_in_flight: 32_000,
                packets_sent: 90,
                packets_lost: 4,
                data_bytes_retransmitted: 5808,
                smoothed_rtt_us: 41_800,
                min_rtt_us: 40_000,
                pacing_rate: 1_000_000,
                delivery_rate: 900_000,
            }
        );
    }

    #[test]
    fn sweep_keeps_young_parts_and_bodies() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("abc.part"), b"x").unwrap();
        std::fs::write(dir.path().join("abc"), b"body").unwrap();
        sweep_stale_parts(dir.path(), Duration::from_secs(3600));
        assert!(dir.path().join("abc.part").exists());
        sweep_stale_parts(dir.path(), Duration::ZERO);
        std::thread::sleep(Duration::from_millis(5));
        sweep_stale_parts(dir.path(), Duration::ZERO);
        assert!(!dir.path().join("abc.part").exists());
        assert!(dir.path().join("abc").exists(), "bodies are never swept");
    }
}
