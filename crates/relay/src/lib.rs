//! relay: `confab relay`, a user-space network-impairment relay. It sits between confab
//! clients and a server, forwards TCP untouched, and passes every UDP datagram through
//! [`netsim`]'s link model — the same one the rudp simulations run in virtual time — driven
//! here in real time.
//!
//! ```text
//!   client ──TCP──▶ relay:PORT ──TCP (copied as is)────────────────▶ server:PORT
//!   client ──UDP──▶ relay:PORT ──up Link──▶ mapping socket ──UDP──▶ server:PORT
//!   client ◀─UDP─── relay:PORT ◀─down Link── mapping socket ◀─UDP── server:PORT
//! ```
//!
//! The relay listens for TCP and UDP on one IP and port, as the server does, so a client
//! pointed at the relay works unchanged.
//!
//! # UDP mappings
//!
//! UDP has no connections, yet the server must tell clients apart by source address and its
//! replies must reach the right client. So the relay acts as a NAT: each client source address
//! gets its own upstream socket (an ephemeral port, connected to the server). The server sees
//! one distinct address per client; whatever arrives on that socket goes back to that client.
//! A mapping silent for [`RelayConfig::udp_idle_timeout`] (60 s) is removed, and the table
//! holds at most [`RelayConfig::max_udp_mappings`] (4096), evicting the least recently active.
//!
//! # One link per direction
//!
//! All clients share one [`netsim::Link`] per direction — one bottleneck rate, queue and loss
//! process — as on a bad network between the clients and the server: two transfers at once
//! compete for the same `--rate`. The link carries only payloads (no prefix that would skew
//! sizes, fragmentation or corruption); the destination of each copy rides beside it, see
//! `lane.rs`.
//!
//! # Time
//!
//! netsim is sans-IO: each datagram is offered with `Instant::now()` when it is read, and its
//! fate and arrival time are decided then. A timer sleeps until the earliest arrival on either
//! link (`poll_timeout`), and each wake-up forwards every copy due. tokio's timer has 1 ms
//! granularity, so a copy leaves up to ~1 ms after its exact arrival time (≤ 1 ms of added
//! jitter); the links keep their own exact schedule, so rates are not affected.
//!
//! # Layout
//!
//! [`Relay`] binds and runs; [`RelayConfig`] says what to do and [`RelayArgs`] builds one from
//! the command line. `udp.rs` is the UDP side (start there), `lane.rs` a link plus
//! destinations, `tcp.rs` the TCP side, [`RelayReport`] the counters.
//!
//! ```no_run
//! # async fn demo() -> Result<(), relay::RelayError> {
//! let link = "rate=100mbit,delay=20ms,loss=5%,queue=1bdp".parse().expect("valid spec");
//! let config = relay::RelayConfig::new(
//!     "127.0.0.1:50001".parse().unwrap(),
//!     "127.0.0.1:50000".parse().unwrap(),
//! )
//! .with_link(link);
//! let relay = relay::Relay::bind(config).await?;
//! println!("relaying on {}", relay.local_addr());
//! let report = relay.run(async { tokio::signal::ctrl_c().await.ok(); }).await?;
//! println!("{report}");
//! # Ok(()) }
//! ```

mod args;
mod config;
mod error;
mod lane;
mod report;
mod tcp;
mod udp;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use netsim::Duplex;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::watch;
use tracing::info;

pub use args::{
    ArgsError, QueueLimit, RateLimit, RelayArgs, parse_burst, parse_millis, parse_percent,
    parse_queue, parse_rate_limit, parse_seconds,
};
pub use config::{
    DEFAULT_MAX_UDP_MAPPINGS, DEFAULT_SOCKET_BUFFER_BYTES, DEFAULT_UDP_IDLE_TIMEOUT, RelayConfig,
};
pub use error::RelayError;
pub use report::{RelayReport, TcpStats, UdpStats};

use crate::report::TcpCounters;
use crate::udp::UdpRelay;

/// Tries at finding a port free for both TCP and UDP when asked for port 0.
const PORT_ZERO_TRIES: usize = 16;

/// Binds and runs a relay until `shutdown` completes; see [`Relay`].
pub async fn run(
    config: RelayConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<RelayReport, RelayError> {
    Relay::bind(config).await?.run(shutdown).await
}

/// A relay whose sockets are bound: [`bind`](Self::bind), read [`local_addr`](Self::local_addr)
/// if you asked for port 0, then [`run`](Self::run).
#[derive(Debug)]
pub struct Relay {
    config: RelayConfig,
    tcp: TcpListener,
    udp: UdpSocket,
    links: Duplex,
}

impl Relay {
    /// Checks the links and binds TCP and UDP on `config.listen` (for port 0, on one free port
    /// number for both).
    pub async fn bind(config: RelayConfig) -> Result<Self, RelayError> {
        let links = Duplex::new(config.up.clone(), config.down.clone(), config.seed);
        let links = links.map_err(|source| {
            let direction = match config.up.validate() {
                Err(_) => "up (client→server)",
                Ok(()) => "down (server→client)",
            };
            RelayError::Link { direction, source }
        })?;
        let (tcp, udp) = bind_both(config.listen).await?;
        udp::size_buffers(&udp, config.socket_buffer_bytes);
        Ok(Self {
            config,
            tcp,
            udp,
            links,
        })
    }

    /// The address clients should use (TCP and UDP): `config.listen` with the port filled in.
    pub fn local_addr(&self) -> SocketAddr {
        self.udp.local_addr().unwrap_or(self.config.listen)
    }

    /// The configuration this relay runs.
    pub fn config(&self) -> &RelayConfig {
        &self.config
    }

    /// Relays until `shutdown` completes, then closes every connection and mapping (datagrams
    /// still in flight are dropped) and returns what it did. Errors of single connections or
    /// datagrams are logged, never returned.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<RelayReport, RelayError> {
        let started = Instant::now();
        let listen = self.local_addr();
        let config = self.config;
        info!(%listen, target = %config.target, up = %config.up, down = %config.down,
              seed = config.seed, "relay running");
        let (stop, stopped) = watch::channel(false);
        let counters = Arc::new(TcpCounters::default());
        let mut tcp = tokio::spawn(tcp::serve(
            self.tcp,
            config.target,
            counters.clone(),
            stopped.clone(),
        ));
        let udp_relay = UdpRelay::new(self.udp, self.links, &config);
        let mut udp = tokio::spawn(udp_relay.run(stopped, counters.clone()));

        // Both tasks run until told to stop, so one ending early has panicked.
        let early = tokio::select! {
            () = shutdown => None,
            result = &mut tcp => Some(("TCP", result.err())),
            result = &mut udp => Some(("UDP", result.err())),
        };
        let _ = stop.send(true);
        if let Some((side, error)) = early {
            tcp.abort();
            udp.abort();
            let why = error.map_or_else(|| "ended early".to_owned(), |e| e.to_string());
            return Err(RelayError::Task(format!("the {side} side: {why}")));
        }
        tcp.await
            .map_err(|e| RelayError::Task(format!("the TCP side: {e}")))?;
        let udp = udp
            .await
            .map_err(|e| RelayError::Task(format!("the UDP side: {e}")))?;
        let report = RelayReport {
            elapsed: started.elapsed(),
            tcp: counters.snapshot(),
            udp: udp.stats,
            up: udp.up,
            down: udp.down,
        };
        // The caller prints the report; the log only marks the end.
        info!(elapsed_s = report.elapsed.as_secs_f64(), "relay stopped");
        Ok(report)
    }
}

/// Binds TCP then UDP on `addr`; for port 0, retries until one port number is free for both.
async fn bind_both(addr: SocketAddr) -> Result<(TcpListener, UdpSocket), RelayError> {
    let mut tries = 0;
    loop {
        let tcp = TcpListener::bind(addr)
            .await
            .map_err(|e| RelayError::listen(addr, "TCP", e))?;
        let bound = tcp
            .local_addr()
            .map_err(|e| RelayError::listen(addr, "TCP", e))?;
        match UdpSocket::bind(bound).await {
            Ok(udp) => return Ok((tcp, udp)),
            Err(e) if addr.port() == 0 && e.kind() == io::ErrorKind::AddrInUse => {
                tries += 1;
                if tries == PORT_ZERO_TRIES {
                    return Err(RelayError::listen(addr, "UDP", e));
                }
            }
            Err(e) => return Err(RelayError::listen(bound, "UDP", e)),
        }
    }
}
