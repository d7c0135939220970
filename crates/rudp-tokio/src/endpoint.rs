//! [`Endpoint`]: the application's handle on one UDP socket and its I/O thread.

use crate::driver::{Driver, NewTransfer};
use crate::socket::Socket;
use crate::transfer::{Progress, Role, Transfer, TransferSpec};
use rudp::{Connection, TransferId};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

/// Settings of one endpoint (the per-transfer protocol settings are in
/// [`rudp::Config`], given with each [`TransferSpec`]).
#[derive(Clone, Debug)]
pub struct EndpointConfig {
    /// Socket receive and send buffer size to ask for, bytes. The kernel caps it at
    /// `net.core.rmem_max` / `wmem_max` (raise those with sysctl for fast long paths); see
    /// [`EndpointStats::recv_buffer`] for what it granted. Default 64 MiB.
    pub socket_buffer: usize,
    /// Use UDP generic segmentation offload (one `sendmsg` for up to ~44 datagrams) where the
    /// kernel has it. GRO on receive is always used where available. Default `true`.
    pub gso: bool,
    /// How often progress snapshots are published per transfer. Default 50 ms.
    pub progress_interval: Duration,
    /// After datagrams last moved, keep polling the socket this long before sleeping. A
    /// sleeping thread takes tens of microseconds to wake, which on loopback or a LAN is a
    /// whole round trip: polling roughly doubles the throughput there, for the price of one
    /// busy core while transfers run. `Duration::ZERO` never polls. Default 200 µs.
    pub busy_poll: Duration,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        Self {
            socket_buffer: 64 << 20,
            gso: true,
            progress_interval: Duration::from_millis(50),
            busy_poll: Duration::from_micros(200),
        }
    }
}

/// Why an endpoint could not be set up or a transfer started.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// Binding or configuring the UDP socket failed.
    #[error("cannot use UDP address {addr}: {source}; is the port free and the address local?")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The I/O thread or its runtime could not be started.
    #[error("cannot start the endpoint's I/O thread: {0}")]
    Thread(#[source] std::io::Error),
    /// The engine refused the transfer's parameters.
    #[error("invalid transfer parameters: {0}")]
    Config(#[from] rudp::ConfigError),
    /// A transfer with this id is already running on this endpoint.
    #[error("transfer {0} is already running on this endpoint; ids must be unique")]
    DuplicateTransfer(TransferId),
    /// The endpoint was closed.
    #[error("the endpoint is closed; bind a new one")]
    Closed,
}

/// Counters of one endpoint (all transfers together).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Datagrams received (GRO super-datagrams count as their segments).
    pub datagrams_received: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Datagrams sent (GSO batches count as their segments).
    pub datagrams_sent: u64,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// `recvmmsg` calls that returned data: `datagrams_received / recv_calls` is the batching.
    pub recv_calls: u64,
    /// `sendmsg` calls: `datagrams_sent / send_calls` is the GSO batching.
    pub send_calls: u64,
    /// Datagrams dropped because no transfer with their id runs here.
    pub dropped_unknown_transfer: u64,
    /// Datagrams dropped because they are too short or of another version.
    pub dropped_malformed: u64,
    /// Datagrams the socket refused to send (errors other than "would block"); the protocol
    /// retransmits their content.
    pub send_errors: u64,
    /// Transfers currently registered.
    pub transfers: u64,
    /// Most datagrams per `sendmsg` (1: no GSO).
    pub gso_segments: u64,
    /// Most datagrams the kernel coalesces per received buffer (1: no GRO).
    pub gro_segments: u64,
    /// Socket receive buffer granted by the kernel, bytes (Linux reports twice the usable
    /// size).
    pub recv_buffer: u64,
    /// Socket send buffer granted by the kernel, bytes.
    pub send_buffer: u64,
}

/// Counters shared between the I/O thread (writer) and handles (readers).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) datagrams_received: AtomicU64,
    pub(crate) bytes_received: AtomicU64,
    pub(crate) datagrams_sent: AtomicU64,
    pub(crate) bytes_sent: AtomicU64,
    pub(crate) recv_calls: AtomicU64,
    pub(crate) send_calls: AtomicU64,
    pub(crate) dropped_unknown_transfer: AtomicU64,
    pub(crate) dropped_malformed: AtomicU64,
    pub(crate) send_errors: AtomicU64,
    pub(crate) gso_segments: AtomicU64,
    pub(crate) gro_segments: AtomicU64,
    pub(crate) recv_buffer: AtomicU64,
    pub(crate) send_buffer: AtomicU64,
}

/// State shared by the handles and the I/O thread.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) counters: Counters,
    /// Ids of registered transfers. A std `Mutex`: held for a hash-set operation, never
    /// across an `.await`.
    pub(crate) ids: Mutex<HashSet<TransferId>>,
}

impl Shared {
    pub(crate) fn unregister(&self, id: TransferId) {
        self.ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }
}

/// What handles ask of the I/O thread.
#[derive(Debug)]
pub(crate) enum Command {
    Start(Box<NewTransfer>),
    Cancel(TransferId),
    Close,
}

/// One UDP socket carrying any number of transfers, driven by its own I/O thread.
///
/// A cheap handle: clone it freely. The endpoint shuts down when [`close`](Self::close) is
/// called or the last clone is dropped; running transfers then end with
/// [`TransferError::EndpointClosed`](crate::TransferError::EndpointClosed) (their peers get a
/// CLOSE). Transfers do not keep the endpoint alive.
#[derive(Clone, Debug)]
pub struct Endpoint {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    commands: mpsc::UnboundedSender<Command>,
    config: EndpointConfig,
    /// The I/O thread, joined by [`Endpoint::close_and_wait`].
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Close);
    }
}

impl Endpoint {
    /// Binds a UDP socket on `addr` (port 0: any free port) and starts its I/O thread.
    /// Callable from async code or not; it does not block beyond the socket setup.
    pub fn bind(addr: SocketAddr, config: EndpointConfig) -> Result<Endpoint, EndpointError> {
        let shared = Arc::new(Shared {
            counters: Counters::default(),
            ids: Mutex::new(HashSet::new()),
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(EndpointError::Thread)?;
        let socket = {
            let _guard = runtime.enter();
            Socket::bind(addr, &config, &shared.counters).and_then(|s| Ok((s.local_addr()?, s)))
        };
        let (local_addr, socket) = match socket {
            Ok(s) => s,
            Err(source) => {
                // Dropping a runtime inside the caller's runtime would panic.
                runtime.shutdown_background();
                return Err(EndpointError::Bind { addr, source });
            }
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let driver = Driver::new(socket, rx, shared.clone(), config.clone());
        // The runtime moves to the thread, and is dropped there once the loop returns.
        let thread = std::thread::Builder::new()
            .name(format!("rudp-ep-{}", local_addr.port()))
            .spawn(move || runtime.block_on(driver.run()))
            .map_err(EndpointError::Thread)?;
        tracing::debug!(%local_addr, "rudp endpoint bound");
        Ok(Endpoint {
            inner: Arc::new(Inner {
                local_addr,
                shared,
                commands: tx,
                config,
                thread: Mutex::new(Some(thread)),
            }),
        })
    }

    /// The socket's address (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// Registers a transfer and returns its handle. A `Side::Client` transfer starts sending
    /// at once (its first datagram opens the path); a `Side::Server` one waits for the
    /// client. Fails if the id is already in use here or the parameters are invalid.
    pub fn start(&self, spec: TransferSpec) -> Result<Transfer, EndpointError> {
        let now = Instant::now();
        let TransferSpec {
            params,
            side,
            config,
            role,
            initial_rtt,
        } = spec;
        let id = params.transfer_id;
        let size = params.size;
        let mds = usize::from(config.max_datagram_size);
        let mut conn = match role {
            Role::Send(source) => Connection::sender(config, params, side, source, now)?,
            Role::Receive { sink, have } => {
                Connection::receiver(config, params, side, sink, have, now)?
            }
        };
        if let Some(rtt) = initial_rtt {
            conn.set_initial_rtt(rtt);
        }
        if !self
            .inner
            .shared
            .ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id)
        {
            return Err(EndpointError::DuplicateTransfer(id));
        }
        let initial = Progress {
            bytes_done: conn.ranges().total_len(),
            size,
            ..Progress::default()
        };
        let (progress_tx, progress_rx) = watch::channel(initial);
        let (done_tx, done_rx) = oneshot::channel();
        let new = NewTransfer {
            conn,
            max_datagram_size: mds,
            progress: progress_tx,
            done: done_tx,
            started: now,
        };
        if self
            .inner
            .commands
            .send(Command::Start(Box::new(new)))
            .is_err()
        {
            self.inner.shared.unregister(id);
            return Err(EndpointError::Closed);
        }
        Ok(Transfer {
            id,
            progress: progress_rx,
            outcome: done_rx,
            taken: false,
            commands: self.inner.commands.clone(),
        })
    }

    /// A snapshot of the endpoint's counters.
    pub fn stats(&self) -> EndpointStats {
        let c = &self.inner.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        EndpointStats {
            datagrams_received: get(&c.datagrams_received),
            bytes_received: get(&c.bytes_received),
            datagrams_sent: get(&c.datagrams_sent),
            bytes_sent: get(&c.bytes_sent),
            recv_calls: get(&c.recv_calls),
            send_calls: get(&c.send_calls),
            dropped_unknown_transfer: get(&c.dropped_unknown_transfer),
            dropped_malformed: get(&c.dropped_malformed),
            send_errors: get(&c.send_errors),
            transfers: self.inner.shared.ids.lock().map_or(0, |s| s.len() as u64),
            gso_segments: get(&c.gso_segments),
            gro_segments: get(&c.gro_segments),
            recv_buffer: get(&c.recv_buffer),
            send_buffer: get(&c.send_buffer),
        }
    }

    /// The endpoint's configuration.
    pub fn config(&self) -> &EndpointConfig {
        &self.inner.config
    }

    /// Shuts the endpoint down now: running transfers are closed (their peers get a CLOSE)
    /// and end with `EndpointClosed`; the socket is released shortly after.
    pub fn close(&self) {
        let _ = self.inner.commands.send(Command::Close);
    }

    /// Shuts the endpoint down like [`close`](Self::close), then **blocks** until its I/O
    /// thread has ended and the socket is released, so the address can be bound again at once
    /// (a server restarting on its port). Call it from a plain thread or `spawn_blocking`,
    /// never from the endpoint's own callbacks.
    pub fn close_and_wait(&self) {
        self.close();
        let thread = self.inner.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}
