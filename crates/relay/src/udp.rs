//! UDP: a NAT-style mapping per client, every datagram through its direction's shared link.
//!
//! One task, [`UdpRelay::run`], owns all the state: the listening socket, both [`Lane`]s and the
//! mapping table. Each mapping has an upstream socket connected to the target and a small
//! reader task that hands the server's replies to the owner over a channel, so nothing is
//! shared behind a lock. The owner's loop waits for whichever comes first (client datagrams,
//! server replies, the next arrival on either link, housekeeping, shutdown), handles it, then
//! forwards everything the links have made due.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netsim::{Duplex, LinkStats};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;
use tracing::{debug, info, warn};

use crate::config::RelayConfig;
use crate::lane::Lane;
use crate::report::{DisplayLink, TcpCounters, UdpStats};

/// Datagrams read from one socket before the loop looks at its other inputs, so a flood on
/// one side cannot starve the other or the delivery timer.
const BATCH: usize = 64;
/// Server replies waiting for the owner task, across all mappings. When full, the readers stop
/// reading and the replies wait in (or overflow) their sockets' kernel buffers.
const UPSTREAM_CHANNEL: usize = 1024;
/// The largest datagram a UDP socket can receive, bytes.
const MAX_DATAGRAM: usize = 65_536;

/// Identifies a mapping for its whole life; never reused, so a datagram still in flight for a
/// removed mapping can never reach a newer one.
type MappingId = u64;

/// One client's NAT-style mapping: the socket the server sees it as.
#[derive(Debug)]
struct Mapping {
    client: SocketAddr,
    upstream: Arc<UdpSocket>,
    /// The last datagram in either direction.
    last_active: Instant,
    reader: AbortHandle,
}

impl Drop for Mapping {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// What a mapping's reader task tells the owner.
#[derive(Debug)]
enum FromUpstream {
    /// A datagram from the server.
    Datagram(MappingId, Vec<u8>),
    /// The upstream socket failed for good; drop the mapping.
    Failed(MappingId),
}

/// What the UDP side did, handed back at shutdown.
#[derive(Debug)]
pub(crate) struct UdpOutcome {
    pub(crate) stats: UdpStats,
    pub(crate) up: LinkStats,
    pub(crate) down: LinkStats,
}

/// The owner of the UDP side; see the module doc.
#[derive(Debug)]
pub(crate) struct UdpRelay {
    listen: UdpSocket,
    target: SocketAddr,
    idle_timeout: Duration,
    max_mappings: usize,
    socket_buffer_bytes: usize,
    stats_interval: Option<Duration>,
    /// Client→server: each copy goes to the upstream socket of its mapping.
    up: Lane<MappingId>,
    /// Server→client: each copy goes to its client's address, even if the mapping has gone.
    down: Lane<SocketAddr>,
    mappings: HashMap<MappingId, Mapping>,
    by_client: HashMap<SocketAddr, MappingId>,
    next_id: MappingId,
    from_upstream: mpsc::Sender<FromUpstream>,
    inbox: mpsc::Receiver<FromUpstream>,
    stats: UdpStats,
}

impl UdpRelay {
    pub(crate) fn new(listen: UdpSocket, links: Duplex, config: &RelayConfig) -> Self {
        let (from_upstream, inbox) = mpsc::channel(UPSTREAM_CHANNEL);
        Self {
            listen,
            target: config.target,
            idle_timeout: config.udp_idle_timeout,
            max_mappings: config.max_udp_mappings.max(1),
            socket_buffer_bytes: config.socket_buffer_bytes,
            stats_interval: config.stats_interval,
            up: Lane::new(links.a_to_b),
            down: Lane::new(links.b_to_a),
            mappings: HashMap::new(),
            by_client: HashMap::new(),
            next_id: 0,
            from_upstream,
            inbox,
            stats: UdpStats::default(),
        }
    }

    /// Relays until `shutdown` flips; datagrams still in flight then are dropped.
    pub(crate) async fn run(
        mut self,
        mut shutdown: watch::Receiver<bool>,
        tcp: Arc<TcpCounters>,
    ) -> UdpOutcome {
        let mut buffer = vec![0u8; MAX_DATAGRAM];
        let mut replies = Vec::with_capacity(BATCH);
        // tokio's timer has 1 ms granularity and rounds up, so a copy goes out up to ~1 ms
        // after its arrival time. The links keep their own exact schedule and every wake-up
        // forwards all that is due, so this adds ≤ 1 ms of jitter but never lowers the rate.
        let timer = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(timer);
        let sweep_every =
            (self.idle_timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(5));
        let mut sweep =
            tokio::time::interval_at(tokio::time::Instant::now() + sweep_every, sweep_every);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let stats_every = self.stats_interval.unwrap_or(Duration::from_secs(3600));
        let mut stats_tick =
            tokio::time::interval_at(tokio::time::Instant::now() + stats_every, stats_every);
        stats_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

        loop {
            let next_arrival = match (self.up.poll_timeout(), self.down.poll_timeout()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if let Some(at) = next_arrival {
                let at = tokio::time::Instant::from_std(at);
                if timer.deadline() != at {
                    timer.as_mut().reset(at);
                }
            }
            tokio::select! {
                _ = shutdown.changed() => break,
                ready = self.listen.readable() => match ready {
                    Ok(()) => self.handle_client_datagrams(&mut buffer),
                    Err(error) => warn!(%error, "UDP listen socket failed to poll"),
                },
                _ = self.inbox.recv_many(&mut replies, BATCH) => {
                    self.handle_from_upstream(&mut replies);
                }
                () = &mut timer, if next_arrival.is_some() => {}
                _ = sweep.tick() => self.expire_idle(Instant::now()),
                _ = stats_tick.tick(), if self.stats_interval.is_some() => self.log_stats(&tcp),
            }
            self.forward_due(Instant::now());
        }
        debug!(
            up_in_flight = self.up.in_flight(),
            down_in_flight = self.down.in_flight(),
            "UDP relay stopping; datagrams still in flight are dropped"
        );
        UdpOutcome {
            stats: self.stats,
            up: self.up.stats().clone(),
            down: self.down.stats().clone(),
        }
    }

    /// Reads client datagrams until the socket is drained (or a batch is done) and offers
    /// each to the up link, bound for its client's mapping.
    fn handle_client_datagrams(&mut self, buffer: &mut [u8]) {
        let now = Instant::now();
        for _ in 0..BATCH {
            let (len, client) = match self.listen.try_recv_from(buffer) {
                Ok(received) => received,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) => {
                    debug!(%error, "UDP receive from a client failed");
                    return;
                }
            };
            if let Some(id) = self.mapping_for(client, now) {
                self.up.send(now, &buffer[..len], id);
            }
        }
    }

    /// Offers the server's replies to the down link, bound for each mapping's client.
    fn handle_from_upstream(&mut self, replies: &mut Vec<FromUpstream>) {
        let now = Instant::now();
        for reply in replies.drain(..) {
            match reply {
                FromUpstream::Datagram(id, payload) => {
                    // A mapping removed since its reader read this: the reply has nowhere to go.
                    if let Some(mapping) = self.mappings.get_mut(&id) {
                        mapping.last_active = now;
                        let client = mapping.client;
                        self.down.send(now, &payload, client);
                    }
                }
                FromUpstream::Failed(id) => {
                    if let Some(mapping) = self.remove(id) {
                        warn!(client = %mapping.client, "UDP mapping dropped after its socket failed; the client's next datagram opens a new one");
                    }
                }
            }
        }
    }

    /// Sends every copy the links have made due by `now` to its destination.
    ///
    /// Sends are plain non-blocking system calls (through `socket2`), not tokio's `try_send`:
    /// that one refuses before tokio has seen the socket writable, which a fresh mapping's
    /// socket has not yet been. A send the kernel refuses (a full buffer) drops the datagram,
    /// as a router's full interface queue would, and counts it.
    fn forward_due(&mut self, now: Instant) {
        while let Some((payload, id)) = self.up.poll_deliver(now) {
            let sent = match self.mappings.get(&id) {
                Some(mapping) => socket2::SockRef::from(&*mapping.upstream)
                    .send(&payload)
                    .map(drop),
                None => Err(io::Error::new(io::ErrorKind::NotFound, "mapping removed")),
            };
            if let Err(error) = sent {
                self.stats.forward_failures += 1;
                debug!(%error, "a datagram to the server could not be forwarded");
            }
            self.up.recycle(payload);
        }
        while let Some((payload, client)) = self.down.poll_deliver(now) {
            let sent = socket2::SockRef::from(&self.listen).send_to(&payload, &client.into());
            if let Err(error) = sent {
                self.stats.forward_failures += 1;
                debug!(%client, %error, "a datagram to a client could not be forwarded");
            }
            self.down.recycle(payload);
        }
    }

    /// The mapping of `client`, created on its first datagram; `None` if no upstream socket
    /// could be opened (logged; the datagram is dropped as a real NAT would).
    fn mapping_for(&mut self, client: SocketAddr, now: Instant) -> Option<MappingId> {
        if let Some(&id) = self.by_client.get(&client) {
            let mapping = self.mappings.get_mut(&id)?;
            if now.saturating_duration_since(mapping.last_active) < self.idle_timeout {
                mapping.last_active = now;
                return Some(id);
            }
            // Expired, though the sweep has not come by yet: start afresh, as it would have.
            self.remove(id);
            self.stats.mappings_expired += 1;
        }
        if self.mappings.len() >= self.max_mappings {
            self.evict_least_recent();
        }
        let upstream = match self.open_upstream() {
            Ok(socket) => Arc::new(socket),
            Err(error) => {
                warn!(%client, target = %self.target, %error, "cannot open a UDP socket toward the target; dropping the client's datagram");
                return None;
            }
        };
        let id = self.next_id;
        self.next_id += 1;
        let reader = tokio::spawn(read_upstream(
            id,
            upstream.clone(),
            self.from_upstream.clone(),
        ));
        debug!(%client, via = ?upstream.local_addr().ok(), "new UDP mapping");
        self.mappings.insert(
            id,
            Mapping {
                client,
                upstream,
                last_active: now,
                reader: reader.abort_handle(),
            },
        );
        self.by_client.insert(client, id);
        self.stats.mappings_created += 1;
        self.stats.peak_mappings = self.stats.peak_mappings.max(self.mappings.len() as u64);
        Some(id)
    }

    /// A socket the server sees as this client: an ephemeral port, connected to the target so
    /// that only the target's datagrams reach it.
    fn open_upstream(&self) -> io::Result<UdpSocket> {
        let ip: IpAddr = match (self.target.ip(), self.target.ip().is_loopback()) {
            (IpAddr::V4(_), true) => Ipv4Addr::LOCALHOST.into(),
            (IpAddr::V4(_), false) => Ipv4Addr::UNSPECIFIED.into(),
            (IpAddr::V6(_), true) => Ipv6Addr::LOCALHOST.into(),
            (IpAddr::V6(_), false) => Ipv6Addr::UNSPECIFIED.into(),
        };
        let socket = std::net::UdpSocket::bind((ip, 0))?;
        socket.connect(self.target)?;
        socket.set_nonblocking(true)?;
        let socket = UdpSocket::from_std(socket)?;
        size_buffers(&socket, self.socket_buffer_bytes);
        Ok(socket)
    }

    fn evict_least_recent(&mut self) {
        let oldest = self
            .mappings
            .iter()
            .min_by_key(|(_, mapping)| mapping.last_active)
            .map(|(&id, _)| id);
        if let Some(mapping) = oldest.and_then(|id| self.remove(id)) {
            self.stats.mappings_evicted += 1;
            info!(client = %mapping.client, max = self.max_mappings, "UDP mapping table full; evicted the least recently active client");
        }
    }

    fn expire_idle(&mut self, now: Instant) {
        let idle: Vec<MappingId> = self
            .mappings
            .iter()
            .filter(|(_, m)| now.saturating_duration_since(m.last_active) >= self.idle_timeout)
            .map(|(&id, _)| id)
            .collect();
        for id in idle {
            if let Some(mapping) = self.remove(id) {
                self.stats.mappings_expired += 1;
                debug!(client = %mapping.client, "UDP mapping expired");
            }
        }
    }

    fn remove(&mut self, id: MappingId) -> Option<Mapping> {
        let mapping = self.mappings.remove(&id)?;
        self.by_client.remove(&mapping.client);
        Some(mapping)
    }

    fn log_stats(&self, tcp: &TcpCounters) {
        let tcp = tcp.snapshot();
        info!(
            mappings = self.mappings.len(),
            tcp_connections = tcp.accepted,
            "relay stats: up {}; down {}",
            DisplayLink(self.up.stats()),
            DisplayLink(self.down.stats())
        );
    }
}

/// Passes the server's datagrams for mapping `id` to the owner until the mapping is dropped
/// (which aborts this task) or the socket fails for good.
async fn read_upstream(id: MappingId, socket: Arc<UdpSocket>, owner: mpsc::Sender<FromUpstream>) {
    let mut buffer = vec![0u8; MAX_DATAGRAM];
    loop {
        match socket.recv(&mut buffer).await {
            Ok(len) => {
                let datagram = FromUpstream::Datagram(id, buffer[..len].to_vec());
                if owner.send(datagram).await.is_err() {
                    return;
                }
            }
            // An ICMP error from an earlier send (the server is not listening yet, or
            // restarted): the socket is still good.
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::ConnectionRefused
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::Interrupted
                ) =>
            {
                debug!(%error, "UDP receive from the target failed; still listening");
            }
            Err(error) => {
                warn!(%error, "UDP socket toward the target failed");
                let _ = owner.send(FromUpstream::Failed(id)).await;
                return;
            }
        }
    }
}

/// Asks for `bytes` of receive and send buffer, so bursts at high rates wait in the kernel
/// instead of being dropped there. Not fatal: the OS may cap or refuse it.
pub(crate) fn size_buffers(socket: &UdpSocket, bytes: usize) {
    let socket = socket2::SockRef::from(socket);
    for (what, result) in [
        ("receive", socket.set_recv_buffer_size(bytes)),
        ("send", socket.set_send_buffer_size(bytes)),
    ] {
        if let Err(error) = result {
            debug!(%error, bytes, "cannot size the UDP {what} buffer");
        }
    }
    debug!(
        receive = socket.recv_buffer_size().ok(),
        send = socket.send_buffer_size().ok(),
        "UDP socket buffers (bytes, as the kernel reports them)"
    );
}
