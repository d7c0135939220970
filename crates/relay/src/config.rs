//! [`RelayConfig`]: what a relay listens on, where it forwards, and how it impairs UDP.

use std::net::SocketAddr;
use std::time::Duration;

use netsim::LinkConfig;

/// Default time a UDP mapping may stay silent (both ways) before it is removed.
pub const DEFAULT_UDP_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default cap on UDP mappings (client source addresses) held at once.
pub const DEFAULT_MAX_UDP_MAPPINGS: usize = 4096;
/// Default `SO_RCVBUF`/`SO_SNDBUF` asked for every UDP socket, bytes. Linux caps it at
/// `net.core.rmem_max`/`wmem_max`; the relay logs the size it got at debug level.
pub const DEFAULT_SOCKET_BUFFER_BYTES: usize = 4 << 20;

/// Everything a relay needs. [`RelayConfig::new`] gives perfect links both ways; set `up` and
/// `down` to impair them, or build one from the command line with
/// [`RelayArgs`](crate::RelayArgs).
#[derive(Debug, Clone, PartialEq)]
pub struct RelayConfig {
    /// Where clients connect: TCP and UDP on the same IP and port. Port 0 picks a free port
    /// (the same number for both); [`Relay::local_addr`](crate::Relay::local_addr) tells which.
    pub listen: SocketAddr,
    /// The server: TCP and UDP on the same IP and port.
    pub target: SocketAddr,
    /// The UDP link from clients to the server, shared by every client.
    pub up: LinkConfig,
    /// The UDP link from the server to clients, shared by every client.
    pub down: LinkConfig,
    /// Seed of the links' randomness; each direction draws from its own seed derived from it
    /// (as [`netsim::Duplex`] does), so the directions are independent.
    pub seed: u64,
    /// A UDP mapping silent this long in both directions is removed (its upstream socket
    /// closed); the client's next datagram creates a fresh one, from a new source port.
    pub udp_idle_timeout: Duration,
    /// The most UDP mappings held at once; a new client beyond it evicts the least recently
    /// active one.
    pub max_udp_mappings: usize,
    /// Receive and send buffer asked for every UDP socket, bytes.
    pub socket_buffer_bytes: usize,
    /// Log the counters at info level this often; `None` logs only at the end.
    pub stats_interval: Option<Duration>,
}

impl RelayConfig {
    /// A relay from `listen` to `target` over perfect links, with the default limits.
    pub fn new(listen: SocketAddr, target: SocketAddr) -> Self {
        Self {
            listen,
            target,
            up: LinkConfig::default(),
            down: LinkConfig::default(),
            seed: 0,
            udp_idle_timeout: DEFAULT_UDP_IDLE_TIMEOUT,
            max_udp_mappings: DEFAULT_MAX_UDP_MAPPINGS,
            socket_buffer_bytes: DEFAULT_SOCKET_BUFFER_BYTES,
            stats_interval: None,
        }
    }

    /// The same link both ways (each direction still draws its own randomness).
    pub fn with_link(mut self, link: LinkConfig) -> Self {
        self.up = link.clone();
        self.down = link;
        self
    }

    /// Sets the seed of the links' randomness.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
}
