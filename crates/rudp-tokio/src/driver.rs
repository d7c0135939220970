//! The I/O loop of one endpoint, on its own thread: datagrams in, timers, datagrams out,
//! events up, in the order `rudp::Connection` asks for.
//!
//! One turn of the loop:
//!
//! 1. commands from the handles (start, cancel, close);
//! 2. receive: `recvmmsg` batches (GRO super-datagrams split at their stride), each datagram
//!    routed by [`rudp::peek_transfer_id`] to its connection, unknown ids dropped and counted;
//! 3. expired timers;
//! 4. transmit, round-robin: each connection in turn fills one GSO batch (up to ~44 datagrams
//!    of one size to one destination) before the next gets a turn, so no transfer starves
//!    another; a budget per turn sends the loop back to receiving (ACKs) regularly;
//! 5. timers re-armed, events turned into outcomes, progress published, drained connections
//!    removed;
//! 6. wait: for a datagram, a command, or the earliest timer — but first, for
//!    `EndpointConfig::busy_poll` after datagrams last moved, keep polling the socket instead
//!    of sleeping: waking a sleeping thread costs tens of microseconds, which on loopback or
//!    a LAN is a whole round trip and halves the throughput. Only while some transfer's path
//!    is that short ([`BUSY_POLL_MAX_RTT`]): on a WAN path polling would only burn a core. Timers closer than
//!    [`FINE_TIMER`] are slept precisely with `std::thread::sleep`: tokio's timer wheel has a
//!    1 ms granularity, far too coarse for pacing gaps of a few microseconds.
//!
//! Nothing here allocates per datagram: receive slots, the send buffer and the connection
//! table are reused.

use crate::endpoint::{Command, EndpointConfig, Shared};
use crate::socket::{MAX_GSO_BYTES, RECV_BATCH, RECV_SLOT, Socket};
use crate::transfer::{Progress, Summary, TransferError};
use quinn_udp::RecvMeta;
use rudp::{Connection, Event, TransferId, code, peek_transfer_id};
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, oneshot, watch};

/// Timers closer than this are slept on the thread itself (precise to ~50 µs) instead of
/// tokio's 1 ms timer wheel.
const FINE_TIMER: Duration = Duration::from_millis(2);
/// Busy-polling pays only where a wake-up (tens of µs) is a noticeable part of the round
/// trip; on longer paths it would burn a core for nothing (a 100 Mbit/s flow's datagrams come
/// every ~120 µs, so the loop would never sleep).
const BUSY_POLL_MAX_RTT: Duration = Duration::from_millis(2);
/// `recvmmsg` calls per turn before the loop moves on to timers and sending.
const RECV_CALLS_PER_TURN: usize = 8;
/// Datagrams sent per turn before the loop goes back to receiving.
const SEND_BUDGET: usize = 256;

/// A transfer handed over by [`Endpoint::start`](crate::Endpoint::start).
#[derive(Debug)]
pub(crate) struct NewTransfer {
    pub(crate) conn: Connection,
    pub(crate) max_datagram_size: usize,
    pub(crate) progress: watch::Sender<Progress>,
    pub(crate) done: oneshot::Sender<Result<Summary, TransferError>>,
    pub(crate) started: Instant,
}

type Outcome = Result<Summary, TransferError>;

struct Entry {
    conn: Connection,
    /// Largest datagram of this connection, bytes.
    mds: usize,
    progress: watch::Sender<Progress>,
    /// `None` once the outcome was delivered.
    done: Option<oneshot::Sender<Outcome>>,
    started: Instant,
    last_progress: Instant,
    /// Something happened since the last progress snapshot: publish one when due.
    dirty: bool,
    /// The connection's next timer.
    timeout: Option<Instant>,
}

impl Entry {
    fn snapshot(&self, now: Instant) -> Progress {
        Progress {
            bytes_done: self.conn.ranges().total_len(),
            size: self.conn.size(),
            stats: self.conn.stats(),
            elapsed: now.saturating_duration_since(self.started),
            finished: self.done.is_none(),
        }
    }

    /// Delivers the outcome (once) and publishes the final progress.
    fn resolve(&mut self, now: Instant, outcome: Outcome) {
        if let Some(done) = self.done.take() {
            // Progress first: whoever sees the outcome sees the final snapshot too.
            self.progress.send_replace(self.snapshot(now));
            self.last_progress = now;
            let _ = done.send(outcome);
        }
    }

    fn summary(&self, now: Instant) -> Summary {
        Summary {
            bytes: self.conn.size(),
            elapsed: now.saturating_duration_since(self.started),
            stats: self.conn.stats(),
        }
    }
}

/// The connections, and the route from transfer id to connection.
#[derive(Default)]
struct Table {
    entries: Vec<Entry>,
    index: HashMap<TransferId, usize>,
    /// The last routed id and its slot: consecutive datagrams mostly share a transfer.
    last: Option<(TransferId, usize)>,
}

impl Table {
    fn insert(&mut self, entry: Entry) {
        self.index
            .insert(entry.conn.transfer_id(), self.entries.len());
        self.entries.push(entry);
    }

    fn remove(&mut self, i: usize) -> Entry {
        let e = self.entries.swap_remove(i);
        self.index.remove(&e.conn.transfer_id());
        if let Some(moved) = self.entries.get(i) {
            self.index.insert(moved.conn.transfer_id(), i);
        }
        self.last = None;
        e
    }

    fn route(&mut self, now: Instant, from: SocketAddr, datagram: &mut [u8], c: &mut Local) {
        c.datagrams_received += 1;
        c.bytes_received += datagram.len() as u64;
        let Some(id) = peek_transfer_id(datagram) else {
            c.dropped_malformed += 1;
            return;
        };
        let slot = match self.last {
            Some((last, slot)) if last == id => slot,
            _ => match self.index.get(&id) {
                Some(&slot) => {
                    self.last = Some((id, slot));
                    slot
                }
                None => {
                    c.dropped_unknown_transfer += 1;
                    return;
                }
            },
        };
        let e = &mut self.entries[slot];
        e.conn.handle_datagram(now, from, datagram);
        e.dirty = true;
    }
}

/// Counters kept in plain integers during a turn and added to the shared atomics at its end.
#[derive(Default)]
struct Local {
    datagrams_received: u64,
    bytes_received: u64,
    datagrams_sent: u64,
    bytes_sent: u64,
    recv_calls: u64,
    send_calls: u64,
    dropped_unknown_transfer: u64,
    dropped_malformed: u64,
    send_errors: u64,
}

/// A batch the socket refused with "would block": it is sent first when there is room.
#[derive(Clone, Copy)]
struct Pending {
    destination: SocketAddr,
    len: usize,
    segment: usize,
    segments: usize,
}

pub(crate) struct Driver {
    socket: Socket,
    commands: mpsc::UnboundedReceiver<Command>,
    shared: Arc<Shared>,
    config: EndpointConfig,
    table: Table,
    /// Next connection to get a transmit turn.
    rr: usize,
    recv_buf: Vec<u8>,
    recv_meta: Vec<RecvMeta>,
    /// One GSO batch, plus room for one datagram that could not join it.
    send_buf: Vec<u8>,
    pending: Option<Pending>,
    local: Local,
    closing: bool,
    busy_until: Instant,
}

enum Wake {
    Command(Option<Command>),
    Io,
}

impl Driver {
    pub(crate) fn new(
        socket: Socket,
        commands: mpsc::UnboundedReceiver<Command>,
        shared: Arc<Shared>,
        config: EndpointConfig,
    ) -> Self {
        Self {
            socket,
            commands,
            shared,
            config,
            table: Table::default(),
            rr: 0,
            recv_buf: vec![0; RECV_BATCH * RECV_SLOT],
            recv_meta: vec![RecvMeta::default(); RECV_BATCH],
            send_buf: vec![0; MAX_GSO_BYTES + usize::from(u16::MAX)],
            pending: None,
            local: Local::default(),
            closing: false,
            busy_until: Instant::now(),
        }
    }

    pub(crate) async fn run(mut self) {
        loop {
            loop {
                match self.commands.try_recv() {
                    Ok(cmd) => self.handle_command(cmd),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        self.closing = true;
                        break;
                    }
                }
            }
            if self.closing {
                self.shutdown();
                return;
            }
            let before = self.local.datagrams_received + self.local.datagrams_sent;
            let recv_more = self.receive();
            let now = Instant::now();
            for e in &mut self.table.entries {
                if e.timeout.is_some_and(|t| t <= now) {
                    e.conn.handle_timeout(now);
                    e.dirty = true;
                }
            }
            let send_more = self.transmit(now);
            self.poll_events(now);
            if self.local.datagrams_received + self.local.datagrams_sent > before
                && self.short_path()
            {
                self.busy_until = now + self.config.busy_poll;
            }
            self.flush_counters();
            if recv_more || send_more {
                continue;
            }

            let deadline = self.next_wake();
            let now = Instant::now();
            if let Some(d) = deadline {
                if d <= now {
                    continue;
                }
                if d - now <= FINE_TIMER && now >= self.busy_until {
                    std::thread::sleep(d - now);
                    continue;
                }
            }
            if now < self.busy_until {
                // Yield rather than spin: on a busy machine the peer thread (or the disk
                // checkpoint) may need this core.
                std::thread::yield_now();
                continue;
            }
            let wake = {
                let sleep = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d.into()).await,
                        None => std::future::pending().await,
                    }
                };
                let blocked = self.pending.is_some();
                tokio::select! {
                    biased;
                    cmd = self.commands.recv() => Wake::Command(cmd),
                    _ = self.socket.readable() => Wake::Io,
                    _ = self.socket.writable(), if blocked => Wake::Io,
                    () = sleep => Wake::Io,
                }
            };
            match wake {
                Wake::Command(Some(cmd)) => self.handle_command(cmd),
                Wake::Command(None) => self.closing = true,
                Wake::Io => {}
            }
        }
    }

    fn handle_command(&mut self, cmd: Command) {
        match cmd {
            Command::Start(new) => {
                let NewTransfer {
                    conn,
                    max_datagram_size,
                    progress,
                    done,
                    started,
                } = *new;
                tracing::debug!(id = %conn.transfer_id(), size = conn.size(), "transfer registered");
                self.table.insert(Entry {
                    conn,
                    mds: max_datagram_size,
                    progress,
                    done: Some(done),
                    started,
                    last_progress: started,
                    dirty: true,
                    timeout: None,
                });
            }
            Command::Cancel(id) => {
                if let Some(&i) = self.table.index.get(&id) {
                    let now = Instant::now();
                    let e = &mut self.table.entries[i];
                    if e.done.is_some() {
                        e.conn
                            .close(now, code::CANCELLED, b"cancelled by the application");
                        e.resolve(now, Err(TransferError::Cancelled { id }));
                    }
                }
            }
            Command::Close => self.closing = true,
        }
    }

    /// Closes every transfer, sends their CLOSE packets once, and forgets them.
    fn shutdown(&mut self) {
        let now = Instant::now();
        for e in &mut self.table.entries {
            e.conn.close(now, code::CANCELLED, b"endpoint closed");
            e.resolve(now, Err(TransferError::EndpointClosed));
        }
        self.pending = None;
        self.transmit(now);
        for e in std::mem::take(&mut self.table.entries) {
            self.shared.unregister(e.conn.transfer_id());
        }
        self.flush_counters();
        tracing::debug!("rudp endpoint closed");
    }

    /// Receives and routes datagrams; `true` when the budget ran out with more possibly
    /// waiting.
    fn receive(&mut self) -> bool {
        for _ in 0..RECV_CALLS_PER_TURN {
            let n = match self.socket.recv(&mut self.recv_buf, &mut self.recv_meta) {
                Ok(n) => n,
                Err(e) => {
                    if e.kind() != io::ErrorKind::WouldBlock {
                        tracing::debug!(error = %e, "UDP receive error");
                    }
                    self.socket.clear_readable();
                    return false;
                }
            };
            // Read the clock after each receive call, never before: the previous batch's
            // handling (a sink's disk write can stall for tens of ms) may have taken long,
            // and a datagram that arrived meanwhile must not be stamped with an earlier time.
            // That would shrink its RTT sample — an ACK seen "1.5 ms" after a 40 ms-RTT send —
            // and the min-RTT filter would keep the bogus value for 10 s, starving the window.
            let now = Instant::now();
            self.local.recv_calls += 1;
            for (meta, slot) in self.recv_meta[..n]
                .iter()
                .zip(self.recv_buf.chunks_mut(RECV_SLOT))
            {
                let stride = if meta.stride == 0 {
                    meta.len
                } else {
                    meta.stride
                };
                let from = Socket::canonical(meta.addr);
                for datagram in slot[..meta.len].chunks_mut(stride.max(1)) {
                    self.table.route(now, from, datagram, &mut self.local);
                }
            }
        }
        true
    }

    /// Gives each connection a turn to fill one batch, round-robin, until none has anything
    /// to send, the budget is spent (`true`: come back soon) or the socket is full.
    fn transmit(&mut self, now: Instant) -> bool {
        if let Some(p) = self.pending.take()
            && !self.send(p)
        {
            return false;
        }
        let n = self.table.entries.len();
        let mut idle = 0;
        let mut sent = 0;
        while idle < n {
            if sent >= SEND_BUDGET {
                return true;
            }
            let i = self.rr % n;
            self.rr = (i + 1) % n;
            match self.fill_batch(i, now) {
                0 => idle += 1,
                k => {
                    idle = 0;
                    sent += k;
                }
            }
            if self.pending.is_some() {
                return false;
            }
        }
        false
    }

    /// Polls connection `i` into one GSO batch (same destination, same size, the last one
    /// possibly shorter) and sends it. Returns how many datagrams the connection produced.
    fn fill_batch(&mut self, i: usize, now: Instant) -> usize {
        let mds = self.table.entries[i].mds;
        let max_segments = self.socket.max_gso_segments(mds);
        let mut batch: Option<Pending> = None;
        let mut produced = 0;
        loop {
            let len = batch.map_or(0, |b| b.len);
            if batch.is_some_and(|b| b.segments >= max_segments) {
                break;
            }
            let conn = &mut self.table.entries[i].conn;
            let Some(t) = conn.poll_transmit(now, &mut self.send_buf[len..len + mds]) else {
                break;
            };
            produced += 1;
            self.table.entries[i].dirty = true;
            match &mut batch {
                None => {
                    batch = Some(Pending {
                        destination: t.destination,
                        len: t.size,
                        segment: t.size,
                        segments: 1,
                    });
                }
                Some(b) if b.destination == t.destination && t.size <= b.segment => {
                    b.len += t.size;
                    b.segments += 1;
                    if t.size < b.segment {
                        // A shorter datagram can only end a GSO batch.
                        break;
                    }
                }
                Some(b) => {
                    // It cannot join: send the batch, then start the next one with it.
                    let full = *b;
                    if !self.send(full) {
                        // Blocked: the batch waits in `pending`; this datagram is dropped
                        // (the connection declares it lost and resends its content).
                        self.local.send_errors += 1;
                        return produced;
                    }
                    self.send_buf.copy_within(full.len..full.len + t.size, 0);
                    batch = Some(Pending {
                        destination: t.destination,
                        len: t.size,
                        segment: t.size,
                        segments: 1,
                    });
                }
            }
        }
        if let Some(b) = batch {
            self.send(b);
        }
        produced
    }

    /// Sends the batch at the start of `send_buf`; `false` when the socket would block (the
    /// batch is kept in `pending`).
    fn send(&mut self, b: Pending) -> bool {
        let segment = (b.segments > 1).then_some(b.segment);
        match self
            .socket
            .send(b.destination, &self.send_buf[..b.len], segment)
        {
            Ok(()) => {
                self.local.send_calls += 1;
                self.local.datagrams_sent += b.segments as u64;
                self.local.bytes_sent += b.len as u64;
                true
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.socket.clear_writable();
                self.pending = Some(b);
                false
            }
            Err(e) => {
                self.local.send_errors += b.segments as u64;
                tracing::debug!(error = %e, to = %b.destination, "UDP send error");
                true
            }
        }
    }

    /// Re-arms timers, turns events into outcomes, publishes progress, removes drained
    /// connections.
    fn poll_events(&mut self, now: Instant) {
        let interval = self.config.progress_interval;
        let mut i = 0;
        while i < self.table.entries.len() {
            let e = &mut self.table.entries[i];
            e.timeout = e.conn.poll_timeout();
            while let Some(event) = e.conn.poll_event() {
                let id = e.conn.transfer_id();
                match event {
                    Event::Connected => tracing::debug!(%id, "transfer connected"),
                    Event::PathChanged { remote } => {
                        tracing::debug!(%id, %remote, "peer address changed");
                    }
                    Event::Completed => {
                        tracing::debug!(%id, "transfer completed");
                        let summary = e.summary(now);
                        e.resolve(now, Ok(summary));
                    }
                    Event::Failed(source) => {
                        tracing::debug!(%id, error = %source, "transfer failed");
                        e.resolve(now, Err(TransferError::Failed { id, source }));
                    }
                }
            }
            if e.dirty
                && e.done.is_some()
                && now.saturating_duration_since(e.last_progress) >= interval
            {
                e.progress.send_replace(e.snapshot(now));
                e.last_progress = now;
                e.dirty = false;
            }
            if e.conn.is_drained() {
                let mut e = self.table.remove(i);
                e.resolve(now, Err(TransferError::EndpointClosed));
                self.shared.unregister(e.conn.transfer_id());
                continue;
            }
            i += 1;
        }
    }

    /// The earliest connection timer or progress snapshot due.
    /// Whether some transfer runs over a path short enough for busy-polling to pay.
    fn short_path(&self) -> bool {
        self.table
            .entries
            .iter()
            .any(|e| e.conn.min_rtt() < BUSY_POLL_MAX_RTT)
    }

    fn next_wake(&self) -> Option<Instant> {
        let interval = self.config.progress_interval;
        self.table
            .entries
            .iter()
            .flat_map(|e| {
                let progress = (e.dirty && e.done.is_some()).then(|| e.last_progress + interval);
                [e.timeout, progress]
            })
            .flatten()
            .min()
    }

    fn flush_counters(&mut self) {
        let l = std::mem::take(&mut self.local);
        let c = &self.shared.counters;
        let add = |a: &AtomicU64, v: u64| {
            if v != 0 {
                a.fetch_add(v, Ordering::Relaxed);
            }
        };
        add(&c.datagrams_received, l.datagrams_received);
        add(&c.bytes_received, l.bytes_received);
        add(&c.datagrams_sent, l.datagrams_sent);
        add(&c.bytes_sent, l.bytes_sent);
        add(&c.recv_calls, l.recv_calls);
        add(&c.send_calls, l.send_calls);
        add(&c.dropped_unknown_transfer, l.dropped_unknown_transfer);
        add(&c.dropped_malformed, l.dropped_malformed);
        add(&c.send_errors, l.send_errors);
        c.gso_segments
            .store(self.socket.max_gso_segments(1452) as u64, Ordering::Relaxed);
    }
}
