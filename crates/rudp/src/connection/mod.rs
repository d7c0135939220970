//! One transfer's state machine: [`Connection`].

mod receive;
mod recovery;
mod roles;
mod transmit;

pub use roles::{Sink, Source};

use crate::config::Config;
use crate::congestion::Controller;
use crate::error::{ConfigError, Error, code};
use crate::pacing::Pacer;
use crate::packet::{PacketKey, PacketType, TransferId};
use crate::ranges::RangeSet;
use crate::rtt::RttEstimator;
use crate::stats::Stats;
use crate::timer::{Timer, TimerTable};
use recovery::Recovery;
use roles::{Receiving, Sending};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the control channel agreed for one transfer.
#[derive(Clone, Debug)]
pub struct TransferParams {
    /// Routes datagrams to this transfer.
    pub transfer_id: TransferId,
    /// The per-transfer AES-256-GCM key (fresh and random for every transfer).
    pub key: [u8; 32],
    /// Size of the file, bytes (0 is fine).
    pub size: u64,
}

/// Which end of the network this connection is: the client always speaks first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Speaks first, to the server's address (so the transfer works from behind a NAT).
    Client {
        /// Where the server listens.
        server: SocketAddr,
    },
    /// Stays silent until an authenticated datagram arrives, and answers its source address.
    Server,
}

/// Something the application should know. Drain with [`Connection::poll_event`].
#[derive(Debug)]
pub enum Event {
    /// The first authenticated packet from the peer arrived.
    Connected,
    /// The peer now sends from another address (a NAT rebinding); replies follow it.
    PathChanged {
        /// The new address.
        remote: SocketAddr,
    },
    /// Sender: every byte was acknowledged. Receiver: every byte has been written to the sink.
    Completed,
    /// The transfer failed; the connection is closing or drained.
    Failed(Error),
}

/// A datagram to send: `size` bytes at the start of the buffer given to `poll_transmit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send it.
    pub destination: SocketAddr,
    /// Its length, bytes.
    pub size: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// We sent CLOSE; answer anything with CLOSE until the Close timer.
    Closing,
    /// Nothing more to do: the driver may drop the connection.
    Drained,
}

enum Role {
    Send(Sending),
    Receive(Receiving),
}

/// Receive-side bookkeeping of packet numbers (RFC 9000 §13.2).
#[derive(Debug)]
struct AckState {
    /// Packet numbers received (bounded: see `Config::max_tracked_ranges`).
    received: RangeSet,
    /// Packet numbers below this are treated as replays.
    floor: u64,
    /// Largest packet number received and when.
    largest: Option<(u64, Instant)>,
    /// Ack-eliciting packets received since the last ACK was sent.
    eliciting_unacked: u64,
    /// An ACK must go out now.
    immediate: bool,
    /// Any packet received since the last ACK sent.
    unacked: bool,
    /// Ack-eliciting threshold asked for by the peer (packets).
    threshold: u64,
    /// Max ack delay asked for by the peer.
    max_delay: Duration,
    /// Sequence number of the last ACK_FREQUENCY applied.
    freq_seq: Option<u64>,
    /// Extra copies of the next ACK to send. A probe means the peer has heard nothing for a
    /// PTO, maybe because ACKs are vanishing in a burst; two copies make it likelier one lands.
    extra_copies: u8,
}

/// One transfer: a sans-IO state machine speaking confab's reliable-UDP protocol.
///
/// # Calling contract
///
/// Feed inputs, then drain outputs, in this order, after every input:
///
/// 1. inputs: [`handle_datagram`](Self::handle_datagram) for each datagram the driver routed
///    here (by [`peek_transfer_id`](crate::peek_transfer_id)), and
///    [`handle_timeout`](Self::handle_timeout) once the instant from `poll_timeout` has passed;
///    or application calls ([`close`](Self::close), [`set_receive_window`](Self::set_receive_window));
/// 2. [`poll_transmit`](Self::poll_transmit) until it returns `None`, sending each datagram;
/// 3. [`poll_timeout`](Self::poll_timeout): arm one timer for that instant;
/// 4. [`poll_event`](Self::poll_event) until `None`.
///
/// `now` never goes backwards between calls. The connection never reads a clock, opens a
/// socket or sleeps. When [`is_drained`](Self::is_drained) returns `true` the driver drops it.
pub struct Connection {
    config: Arc<Config>,
    id: TransferId,
    key: PacketKey,
    size: u64,
    side: Side,
    /// Type of the packets we send; the peer's is the other one.
    local_ty: PacketType,
    remote: Option<SocketAddr>,
    state: State,
    events: VecDeque<Event>,
    timers: TimerTable,
    /// Next packet number to send; numbers are never reused (RFC 9000 §12.3).
    next_pn: u64,
    acks: AckState,
    recovery: Recovery,
    rtt: RttEstimator,
    cc: Box<dyn Controller>,
    pacer: Pacer,
    /// Our HELLO has to be (re)sent.
    hello_pending: bool,
    /// Extra copies of the first HELLO still to send: the handshake is the one exchange a
    /// single loss would stall for a whole probe timeout, so it goes out twice.
    hello_copies: u8,
    /// Our HELLO was acknowledged.
    hello_acked: bool,
    /// The peer's HELLO (or, for the server, any packet) arrived.
    peer_hello: bool,
    /// Probe packets owed after a PTO (RFC 9002 §6.2.4).
    probes: u8,
    /// CLOSE frame to send: code and reason.
    close: Option<(u32, Vec<u8>)>,
    /// Send CLOSE at the next `poll_transmit`.
    close_pending: bool,
    completed: bool,
    /// Last time an authenticated packet arrived (idle timer base).
    last_heard: Instant,
    role: Role,
    stats: Stats,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.id)
            .field("side", &self.side)
            .field("state", &self.state)
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// A connection that sends `source`'s `params.size` bytes. It sends no file byte before
    /// the receiver's HELLO tells it which ranges the receiver already holds.
    pub fn sender(
        config: Arc<Config>,
        params: TransferParams,
        side: Side,
        source: Box<dyn Source>,
        now: Instant,
    ) -> Result<Self, ConfigError> {
        let role = Role::Send(Sending::new(source));
        Self::new(config, params, side, role, now)
    }

    /// A connection that receives `params.size` bytes into `sink`. `have` lists byte ranges
    /// already held (resume): they are announced in the HELLO and never sent again.
    pub fn receiver(
        config: Arc<Config>,
        params: TransferParams,
        side: Side,
        sink: Box<dyn Sink>,
        have: RangeSet,
        now: Instant,
    ) -> Result<Self, ConfigError> {
        let mut have = have;
        have.remove(params.size..u64::MAX);
        let role = Role::Receive(Receiving::new(sink, have, config.receive_window));
        Self::new(config, params, side, role, now)
    }

    fn new(
        config: Arc<Config>,
        params: TransferParams,
        side: Side,
        role: Role,
        now: Instant,
    ) -> Result<Self, ConfigError> {
        if config.max_datagram_size < 256 {
            return Err(ConfigError::DatagramTooSmall(config.max_datagram_size));
        }
        if params.size > crate::frame::VARINT_MAX {
            return Err(ConfigError::SizeTooLarge(params.size));
        }
        let local_ty = match role {
            Role::Send(_) => PacketType::FromSender,
            Role::Receive(_) => PacketType::FromReceiver,
        };
        let remote = match side {
            Side::Client { server } => Some(server),
            Side::Server => None,
        };
        let mut timers = TimerTable::default();
        timers.set(Timer::Idle, now + config.idle_timeout);
        let mut conn = Self {
            id: params.transfer_id,
            key: PacketKey::new(&params.key),
            size: params.size,
            side,
            local_ty,
            remote,
            state: State::Open,
            events: VecDeque::new(),
            timers,
            next_pn: 0,
            acks: AckState {
                received: RangeSet::new(),
                floor: 0,
                largest: None,
                eliciting_unacked: 0,
                immediate: false,
                unacked: false,
                threshold: config.ack_eliciting_threshold.max(1),
                max_delay: config.max_ack_delay,
                freq_seq: None,
                extra_copies: 0,
            },
            recovery: Recovery::new(now),
            rtt: RttEstimator::new(config.initial_rtt),
            cc: config.congestion.build(now, config.max_datagram_size),
            pacer: Pacer::new(),
            hello_pending: true,
            hello_copies: 1,
            hello_acked: false,
            peer_hello: false,
            probes: 0,
            close: None,
            close_pending: false,
            completed: false,
            last_heard: now,
            role,
            stats: Stats::default(),
            config,
        };
        if let Role::Receive(r) = &conn.role
            && r.is_complete(conn.size)
        {
            conn.completed = true;
            conn.events.push_back(Event::Completed);
        }
        Ok(conn)
    }

    /// The transfer this connection serves.
    pub fn transfer_id(&self) -> TransferId {
        self.id
    }

    /// Where datagrams go; `None` for a server that has not heard from its client yet.
    pub fn remote(&self) -> Option<SocketAddr> {
        self.remote
    }

    /// Size of the transfer, bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// `true` once every byte is delivered (receiver) or acknowledged (sender).
    pub fn is_completed(&self) -> bool {
        self.completed
    }

    /// `true` when the connection has nothing left to do: drop it.
    pub fn is_drained(&self) -> bool {
        self.state == State::Drained
    }

    /// Byte ranges held so far: for a receiver what it has written (persist this to resume);
    /// for a sender what the receiver has acknowledged.
    pub fn ranges(&self) -> &RangeSet {
        match &self.role {
            Role::Send(s) => &s.acked,
            Role::Receive(r) => &r.have,
        }
    }

    /// Starts the RTT estimate from `rtt` instead of `Config::initial_rtt` (RFC 9002 §6.2.2
    /// allows a value from a previous connection). The driver knows the control channel's RTT,
    /// which makes the first probe timeout fit the path. No effect once a sample was taken.
    pub fn set_initial_rtt(&mut self, rtt: Duration) {
        if !self.rtt.has_sample() {
            self.rtt = RttEstimator::new(rtt);
        }
    }

    /// Changes the receive window (bytes beyond the lowest missing offset the sender may
    /// send): shrink it when the sink falls behind, restore it when it catches up. Takes
    /// effect with the next ACK. No effect on a sender.
    pub fn set_receive_window(&mut self, bytes: u64) {
        if let Role::Receive(r) = &mut self.role {
            r.window = bytes;
        }
    }

    /// The congestion controller's internal state, for debugging and traces (its `Debug`).
    pub fn congestion_state(&self) -> String {
        format!("{:?}", self.cc)
    }

    /// The smallest round trip seen so far (the initial RTT until the first sample): cheaper
    /// than [`stats`](Self::stats) for a driver deciding how eagerly to poll.
    pub fn min_rtt(&self) -> Duration {
        self.rtt.min()
    }

    /// Statistics for display and tests.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats.clone();
        s.smoothed_rtt = self.rtt.smoothed();
        s.min_rtt = self.rtt.min();
        s.latest_rtt = self.rtt.latest();
        s.cwnd = self.cc.window();
        s.pacing_rate = self.cc.pacing_rate(&self.rtt).unwrap_or(0);
        s.bandwidth_estimate = self.cc.bandwidth_estimate().unwrap_or(0);
        s.bytes_in_flight = self.recovery.in_flight;
        s.delivery_rate = self.recovery.last_delivery_rate;
        s
    }

    /// Closes the transfer now (cancel): the peer gets a CLOSE with `error_code` and `reason`
    /// (at most 256 bytes are sent). No event is emitted for a local close.
    pub fn close(&mut self, now: Instant, error_code: u32, reason: &[u8]) {
        if self.state != State::Open {
            return;
        }
        self.start_closing(now, error_code, reason);
    }

    fn start_closing(&mut self, now: Instant, error_code: u32, reason: &[u8]) {
        let reason = reason[..reason.len().min(256)].to_vec();
        self.close = Some((error_code, reason));
        self.close_pending = self.remote.is_some();
        self.state = State::Closing;
        for t in [Timer::LossDetection, Timer::Ack, Timer::Pacing, Timer::Idle] {
            self.timers.stop(t);
        }
        // RFC 9000 §10.2: linger three PTOs to answer stragglers.
        self.timers.set(Timer::Close, now + 3 * self.pto_duration());
    }

    fn fail(&mut self, now: Instant, error: Error) {
        if self.state == State::Drained {
            return;
        }
        let (c, reason): (u32, &[u8]) = match &error {
            Error::ProtocolViolation(why) => (code::PROTOCOL_VIOLATION, why.as_bytes()),
            Error::Source(_) | Error::Sink(_) => (code::IO, b"local I/O error"),
            Error::TimedOut | Error::PeerClosed { .. } => {
                self.events.push_back(Event::Failed(error));
                self.drain();
                return;
            }
        };
        self.events.push_back(Event::Failed(error));
        if self.state == State::Open {
            self.start_closing(now, c, reason);
        }
    }

    fn drain(&mut self) {
        self.state = State::Drained;
        self.timers = TimerTable::default();
        self.close_pending = false;
    }

    /// The next application-visible event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest instant at which [`handle_timeout`](Self::handle_timeout) must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Processes every timer that expired at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.timers.expire(Timer::Close, now) {
            self.drain();
            return;
        }
        if self.timers.expire(Timer::Idle, now) {
            if self.completed {
                self.drain();
            } else {
                self.fail(now, Error::TimedOut);
            }
            return;
        }
        if self.timers.expire(Timer::Ack, now) {
            self.acks.immediate = true;
        }
        self.timers.expire(Timer::Pacing, now);
        if self.timers.expire(Timer::LossDetection, now) {
            self.on_loss_detection_timeout(now);
        }
    }

    fn pto_duration(&self) -> Duration {
        self.rtt.pto_base() + self.acks_max_delay_of_peer()
    }

    /// The max ack delay the peer works with: what we asked for as a sender, the default
    /// otherwise.
    fn acks_max_delay_of_peer(&self) -> Duration {
        match &self.role {
            Role::Send(s) => s.requested_ack_delay.unwrap_or(self.config.max_ack_delay),
            Role::Receive(_) => self.config.max_ack_delay,
        }
    }
}
