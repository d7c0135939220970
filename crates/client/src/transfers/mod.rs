//! File sharing: list the server's files, download and upload them over rudp.
//!
//! # How a transfer runs
//!
//! The control channel sets a transfer up; the bytes then flow over UDP between this client's
//! one [`rudp_tokio::Endpoint`] (bound on first use, port 0, the server's address family) and
//! the server's, to the address the TCP connection reached (or that host at the `udp_port` the
//! server announced, when it runs UDP on another port).
//!
//! ```text
//! download                                   upload
//!   download{name}      ─►                     hash the file (off the async threads)
//!                       ◄─ transfer{id,key}    upload{name,size,hash} ─►
//!   rudp receiver → NAME.part (resumes)                               ◄─ upload_done   (nothing to move)
//!   verify BLAKE3, rename to NAME                                     ◄─ transfer{id,key}
//!                                              rudp sender (skips what the server holds)
//!                                                                     ◄─ upload_done{id} (verified, listed)
//! ```
//!
//! [`Client::download`] and [`Client::upload`] return once the transfer is set up, with a
//! [`TransferHandle`]: watch its [`TransferProgress`], [`cancel`](TransferHandle::cancel) it,
//! or await its [`TransferOutcome`]. A download is done when the file is complete, verified and
//! renamed into place; an upload when the server says it verified and listed it.
//!
//! # Resume
//!
//! A download writes `DEST.part` plus a `DEST.part.state` checkpoint; downloading to the same
//! `DEST` again fetches only what is missing. An upload resumes on the server's side: it keeps
//! what arrived (keyed by content hash) and its receiver announces it, so the sender skips it.
//! [`TransferOutcome::bytes_resumed`] says how much was skipped.
//!
//! # Safety of names
//!
//! A listed name becomes a local file name, so names from the server are checked with
//! [`proto::validate_file_name`]: [`Client::files`] leaves out entries a client could not
//! safely save, and [`save_path`] is the one way to turn a name into a path in a folder.

pub(crate) mod offer;
mod task;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use proto::{Direction, ErrorCode, FileInfo, SenderStats, validate_file_name};
use rudp_tokio::files::{FileSink, FileSource, hash_file};
use rudp_tokio::{Endpoint, EndpointConfig, Role, TransferSpec};
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::client::Client;
use crate::driver::Command;
use crate::error::ClientError;
use offer::{Offer, UploadAnswer};
use task::{Kind, Running};

/// The transfer engine's counters and estimates (RTT, congestion window, pacing and delivery
/// rates, losses, retransmissions, authentication drops); see each field's doc.
pub use rudp::Stats as TransferStats;

/// A snapshot of a running transfer, published about every 50 ms and once more at the end.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TransferProgress {
    /// Bytes the receiver holds, bytes resumed from an earlier attempt included. Bytes.
    pub bytes_done: u64,
    /// Size of the file, bytes.
    pub size: u64,
    /// Bytes the receiver already held when this attempt started (they never travel). Bytes.
    pub bytes_resumed: u64,
    /// Since this attempt's bytes started to flow.
    pub elapsed: Duration,
    /// Recent throughput of file bytes, bytes per second (smoothed over about a second).
    pub rate: f64,
    /// The engine's figures: `smoothed_rtt`, `min_rtt`, `latest_rtt`, `cwnd` (bytes),
    /// `pacing_rate` and `delivery_rate` (bytes/s), `packets_lost`, `data_bytes_retransmitted`,
    /// `ptos`, `dropped_auth`, … — what a transfer inspector plots.
    ///
    /// These are this side's. The window, bytes in flight, losses and retransmissions exist
    /// only on the sending side, so they mean something here for an upload; for a download
    /// read [`sender`](Self::sender).
    pub stats: TransferStats,
    /// A download's sender — the server — as it last reported itself (`transfer_stats`, about
    /// every 250 ms): its congestion window, bytes in flight, losses, retransmissions and RTT.
    /// `None` until the first report, and always for an upload (we are its sender: see
    /// [`stats`](Self::stats)). It keeps the last report once the transfer ends.
    pub sender: Option<SenderStats>,
    /// `true` in the last snapshot (completed, failed or cancelled).
    pub finished: bool,
}

impl TransferProgress {
    /// How far along, from 0.0 to 1.0 (1.0 for an empty file).
    pub fn fraction(&self) -> f64 {
        if self.size == 0 {
            1.0
        } else {
            self.bytes_done as f64 / self.size as f64
        }
    }

    /// Time left at the recent rate, if there is a rate to go by.
    pub fn eta(&self) -> Option<Duration> {
        let left = self.size.saturating_sub(self.bytes_done);
        (self.rate > 0.0).then(|| Duration::from_secs_f64(left as f64 / self.rate))
    }
}

/// How a completed transfer went.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransferOutcome {
    /// Download or upload.
    pub direction: Direction,
    /// The file as listed on the server.
    pub file: FileInfo,
    /// Where it is here: the verified download, or the uploaded file.
    pub path: PathBuf,
    /// The server's transfer id; `None` when nothing had to move (the server already had the
    /// content).
    pub transfer: Option<u64>,
    /// File bytes that crossed the network in this attempt, retransmissions and duplicates
    /// included. Bytes.
    pub bytes_transferred: u64,
    /// Bytes the receiver already held from an earlier attempt, not sent again. Bytes.
    pub bytes_resumed: u64,
    /// File bytes sent more than once (upload: the sender's retransmissions; download: bytes
    /// that arrived behind later ones to fill a gap — retransmissions, plus any reordering).
    pub bytes_retransmitted: u64,
    /// From the server's go-ahead to completion (verification included).
    #[serde(rename = "elapsed_ms", serialize_with = "as_millis")]
    pub elapsed: Duration,
    /// The engine's final counters (all zero when nothing had to move).
    #[serde(skip)]
    pub stats: TransferStats,
}

impl TransferOutcome {
    /// Retransmitted bytes as a percentage of the bytes that crossed the network.
    pub fn retransmitted_percent(&self) -> f64 {
        if self.bytes_transferred == 0 {
            0.0
        } else {
            100.0 * self.bytes_retransmitted as f64 / self.bytes_transferred as f64
        }
    }

    /// Average rate of this attempt: the bytes that had to move, over `elapsed`. Bytes per
    /// second (0 when nothing moved).
    pub fn rate(&self) -> f64 {
        let moved = self.file.size.saturating_sub(self.bytes_resumed);
        let secs = self.elapsed.as_secs_f64();
        if moved == 0 || secs <= 0.0 {
            0.0
        } else {
            moved as f64 / secs
        }
    }
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis().try_into().unwrap_or(u64::MAX))
}

/// A transfer under way. Dropping the handle does not stop it (it runs to its end in the
/// background); [`cancel`](Self::cancel) does.
#[derive(Debug)]
pub struct TransferHandle {
    transfer: Option<u64>,
    direction: Direction,
    file: FileInfo,
    progress: watch::Receiver<TransferProgress>,
    cancel: Arc<watch::Sender<bool>>,
    task: JoinHandle<Result<TransferOutcome, ClientError>>,
}

/// Cancels one transfer from anywhere (a UI button, a quit path) while another task awaits
/// [`TransferHandle::finished`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct TransferCanceller(Arc<watch::Sender<bool>>);

impl TransferCanceller {
    /// Same as [`TransferHandle::cancel`].
    pub fn cancel(&self) {
        self.0.send_replace(true);
    }
}

impl TransferHandle {
    /// The server's transfer id (`None` when nothing had to move).
    pub fn id(&self) -> Option<u64> {
        self.transfer
    }

    /// Download or upload.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// The file as the server lists it (for an upload: as it will be listed).
    pub fn file(&self) -> &FileInfo {
        &self.file
    }

    /// Progress snapshots (`changed().await` in a loop for a progress bar).
    pub fn progress(&self) -> watch::Receiver<TransferProgress> {
        self.progress.clone()
    }

    /// Stops the transfer, here and on the server. [`finished`](Self::finished) then returns
    /// [`ClientError::Cancelled`] (unless it had already completed). A cancelled download keeps
    /// its `.part` file; running it again resumes.
    pub fn cancel(&self) {
        self.cancel.send_replace(true);
    }

    /// A handle that can cancel this transfer after `finished` has taken this one.
    pub fn canceller(&self) -> TransferCanceller {
        TransferCanceller(self.cancel.clone())
    }

    /// Waits for the end: a download complete, verified and renamed into place; an upload
    /// verified and listed by the server.
    pub async fn finished(self) -> Result<TransferOutcome, ClientError> {
        match self.task.await {
            Ok(result) => result,
            Err(err) => Err(ClientError::Protocol(format!(
                "the transfer task failed: {err}"
            ))),
        }
    }
}

/// Where to save the shared file `name` inside `dir`: `dir/name`, once `name` is checked to
/// be a bare file name. Never returns a path outside `dir`, whatever a server lists.
pub fn save_path(dir: &Path, name: &str) -> Result<PathBuf, ClientError> {
    check_name(name)?;
    Ok(dir.join(name))
}

fn check_name(name: &str) -> Result<(), ClientError> {
    validate_file_name(name).map_err(|err| ClientError::InvalidFileName {
        name: name.to_owned(),
        reason: err.to_string(),
    })
}

impl Client {
    /// The server's shared files, sorted by name. Entries whose name is not a safe bare file
    /// name (a hostile or broken server) are left out.
    pub async fn files(&self) -> Result<Vec<FileInfo>, ClientError> {
        let files = self
            .request("files", |reply| Command::Files { reply })
            .await?;
        Ok(files
            .into_iter()
            .filter(|file| match validate_file_name(&file.name) {
                Ok(()) => true,
                Err(err) => {
                    tracing::warn!(%err, "the server listed a file under an unsafe name; skipped");
                    false
                }
            })
            .collect())
    }

    /// Downloads the shared file `name` to `dest` (a file path; see [`save_path`] to build one
    /// from a folder). Returns once the server has set the transfer up.
    ///
    /// The data goes to `dest.part` first; a `dest.part` left by an earlier attempt is resumed.
    /// The handle's outcome is `Ok` only when the file is complete, its BLAKE3 matches the
    /// listing, and it has been renamed to `dest`.
    pub async fn download(
        &self,
        name: &str,
        dest: impl Into<PathBuf>,
    ) -> Result<TransferHandle, ClientError> {
        check_name(name)?;
        let dest = dest.into();
        let offer = match self
            .request("download", |reply| Command::Download {
                name: name.to_owned(),
                reply,
            })
            .await
        {
            Err(ClientError::Server {
                code: ErrorCode::NoSuchFile,
                ..
            }) => {
                return Err(ClientError::NoSuchFile {
                    name: name.to_owned(),
                });
            }
            other => other?,
        };
        let id = offer.transfer;
        let started = self.start_download(name, dest, offer).await;
        if started.is_err() {
            self.cancel_on_server(id).await;
        }
        started
    }

    async fn start_download(
        &self,
        name: &str,
        dest: PathBuf,
        offer: Offer,
    ) -> Result<TransferHandle, ClientError> {
        if offer.direction != Direction::Download || offer.file.name != name {
            return Err(ClientError::Protocol(format!(
                "asked to download {name:?}, the server offered to {:?} {:?}",
                offer.direction, offer.file.name
            )));
        }
        let params = offer.params()?;
        let hash = offer.hash()?;
        let server = offer.server_addr()?;
        let endpoint = self.endpoint(server).await?;
        let size = params.size;
        let at = dest.clone();
        let (sink, have) = tokio::task::spawn_blocking(move || FileSink::resume(&at, size, hash))
            .await
            .map_err(|err| ClientError::Protocol(format!("the disk task failed: {err}")))?
            .map_err(|error| ClientError::LocalFile {
                action: "write",
                path: rudp_tokio::files::part_path(&dest),
                error,
            })?;
        let resumed = have.total_len();
        let (counting, fills) = task::GapFillCounter::wrap(sink.clone());
        let role = Role::Receive {
            sink: Box::new(counting),
            have,
        };
        let kind = Kind::Download {
            sink,
            dest,
            resumed,
            fills,
        };
        self.launch(endpoint, server, params, role, offer, kind)
    }

    /// Uploads the file at `path` under `as_name` (default: its file name). `replace` replaces
    /// a different file already shared under that name; without it that is refused with
    /// [`ClientError::FileExists`].
    ///
    /// Hashes the file first (off the async threads), then asks the server. Returns once the
    /// server has answered: the handle's outcome is `Ok` when the server has verified and
    /// listed the file — at once if it already had this content.
    pub async fn upload(
        &self,
        path: impl Into<PathBuf>,
        as_name: Option<String>,
        replace: bool,
    ) -> Result<TransferHandle, ClientError> {
        let path = path.into();
        let name = match as_name {
            Some(name) => name,
            None => path
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_owned)
                .ok_or_else(|| ClientError::InvalidFileName {
                    name: path.display().to_string(),
                    reason: format!(
                        "{} has no file name usable on the server — pass --as NAME",
                        path.display()
                    ),
                })?,
        };
        check_name(&name)?;
        let at = path.clone();
        let (source, size, hash) = tokio::task::spawn_blocking(move || {
            let source = FileSource::open(&at)?;
            let (size, hash) = hash_file(&at)?;
            if size != source.len() {
                return Err(std::io::Error::other("it changed while it was being read"));
            }
            Ok((source, size, hash))
        })
        .await
        .map_err(|err| ClientError::Protocol(format!("the disk task failed: {err}")))?
        .map_err(|error| ClientError::LocalFile {
            action: "read",
            path: path.clone(),
            error,
        })?;
        let hash = proto::hex::to_hex(&hash);
        let answer = self
            .request("upload", |reply| Command::Upload {
                name: name.clone(),
                size,
                hash: hash.clone(),
                replace,
                reply,
            })
            .await
            .map_err(|err| match err {
                ClientError::Server {
                    code: ErrorCode::FileExists,
                    ..
                } => ClientError::FileExists { name: name.clone() },
                ClientError::Server {
                    code: ErrorCode::InvalidFileName,
                    message,
                } => ClientError::InvalidFileName {
                    name: name.clone(),
                    reason: message,
                },
                other => other,
            })?;
        let offer = match answer {
            UploadAnswer::Listed(file) => return Ok(listed_at_once(path, file)),
            UploadAnswer::Transfer(offer) => offer,
        };
        if offer.direction != Direction::Upload
            || offer.file.name != name
            || offer.file.size != size
            || !offer.file.hash.eq_ignore_ascii_case(&hash)
        {
            self.cancel_on_server(offer.transfer).await;
            return Err(ClientError::Protocol(format!(
                "asked to upload {name:?} ({size} bytes), the server offered to {:?} {:?} ({} bytes)",
                offer.direction, offer.file.name, offer.file.size
            )));
        }
        let id = offer.transfer;
        let started = async {
            let params = offer.params()?;
            let server = offer.server_addr()?;
            let endpoint = self.endpoint(server).await?;
            self.launch(
                endpoint,
                server,
                params,
                Role::Send(Box::new(source)),
                offer,
                Kind::Upload { path },
            )
        }
        .await;
        if started.is_err() {
            self.cancel_on_server(id).await;
        }
        started
    }

    /// Starts the engine's transfer and the task that sees it through.
    fn launch(
        &self,
        endpoint: Endpoint,
        server: SocketAddr,
        params: rudp::TransferParams,
        role: Role,
        offer: Offer,
        kind: Kind,
    ) -> Result<TransferHandle, ClientError> {
        let spec = TransferSpec::new(params, rudp::Side::Client { server }, role);
        let transfer = endpoint
            .start(spec)
            .map_err(|err| ClientError::Protocol(format!("cannot start the transfer: {err}")))?;
        let Offer {
            transfer: id,
            direction,
            file,
            verdict,
            sender,
            ..
        } = offer;
        let resumed = match &kind {
            Kind::Download { resumed, .. } => *resumed,
            Kind::Upload { .. } => 0,
        };
        let (progress_tx, progress_rx) = watch::channel(TransferProgress {
            bytes_done: resumed,
            size: file.size,
            bytes_resumed: resumed,
            ..TransferProgress::default()
        });
        let (cancel_tx, cancel_rx) = watch::channel(false);
        let running = Running {
            client: self.clone(),
            endpoint,
            transfer,
            id,
            file: file.clone(),
            kind,
            verdict,
            sender,
            progress: progress_tx,
            cancel: cancel_rx,
            started: Instant::now(),
        };
        Ok(TransferHandle {
            transfer: Some(id),
            direction,
            file,
            progress: progress_rx,
            cancel: Arc::new(cancel_tx),
            task: tokio::spawn(running.run()),
        })
    }

    /// The local address of this session's UDP endpoint for file transfers, once the first
    /// transfer has bound it (an unspecified IP: it answers on every local address).
    pub fn transfer_addr(&self) -> Option<SocketAddr> {
        self.lock_endpoint().as_ref().map(Endpoint::local_addr)
    }

    /// This session's UDP endpoint, bound on first use in the server's address family.
    async fn endpoint(&self, server: SocketAddr) -> Result<Endpoint, ClientError> {
        let family_ok = |e: &Endpoint| e.local_addr().is_ipv4() == server.is_ipv4();
        if let Some(endpoint) = self.lock_endpoint().as_ref().filter(|e| family_ok(e)) {
            return Ok(endpoint.clone());
        }
        let any: SocketAddr = if server.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        // Binding builds the endpoint's own runtime and thread: keep that off the async threads.
        let endpoint =
            tokio::task::spawn_blocking(move || Endpoint::bind(any, EndpointConfig::default()))
                .await
                .map_err(|err| ClientError::Protocol(format!("the bind task failed: {err}")))?
                .map_err(|err| ClientError::Udp(err.to_string()))?;
        let mut slot = self.lock_endpoint();
        match slot.as_ref().filter(|e| family_ok(e)) {
            // Another transfer bound one meanwhile: share it (ours closes when dropped).
            Some(existing) => Ok(existing.clone()),
            None => {
                *slot = Some(endpoint.clone());
                Ok(endpoint)
            }
        }
    }

    fn lock_endpoint(&self) -> std::sync::MutexGuard<'_, Option<Endpoint>> {
        self.shared
            .endpoint
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Tells the server to drop a transfer (best effort: a lost connection drops it anyway).
    pub(crate) async fn cancel_on_server(&self, transfer: u64) {
        let _ = self.cmds.send(Command::Cancel { transfer }).await;
    }
}

/// The handle of an upload the server listed without any byte moving.
fn listed_at_once(path: PathBuf, file: FileInfo) -> TransferHandle {
    let progress = TransferProgress {
        bytes_done: file.size,
        size: file.size,
        bytes_resumed: file.size,
        finished: true,
        ..TransferProgress::default()
    };
    let (_, progress_rx) = watch::channel(progress);
    let (cancel, _) = watch::channel(false);
    let outcome = TransferOutcome {
        direction: Direction::Upload,
        file: file.clone(),
        path,
        transfer: None,
        bytes_transferred: 0,
        bytes_resumed: file.size,
        bytes_retransmitted: 0,
        elapsed: Duration::ZERO,
        stats: TransferStats::default(),
    };
    TransferHandle {
        transfer: None,
        direction: Direction::Upload,
        file,
        progress: progress_rx,
        cancel: Arc::new(cancel),
        task: tokio::spawn(async move { Ok(outcome) }),
    }
}
