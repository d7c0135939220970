//! The virtual-time harness shared by the integration tests and the examples: flows of
//! `rudp` connections over `netsim` links, a clock that jumps to the next deadline, and
//! synthetic sources and sinks that compute and check bytes from their offset (so a 4 GiB
//! transfer allocates nothing).
#![allow(dead_code, unreachable_pub, missing_docs)]

use netsim::{Link, LinkConfig};
use rudp::{Config, Connection, Event, RangeSet, Side, Sink, Source, TransferId, TransferParams};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Byte `offset` of the synthetic file `seed`.
pub fn pattern_byte(seed: u64, offset: u64) -> u8 {
    let word = splitmix(seed ^ (offset / 8));
    word.to_le_bytes()[(offset % 8) as usize]
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn fill_pattern(seed: u64, offset: u64, buf: &mut [u8]) {
    let mut o = offset;
    let mut i = 0;
    while i < buf.len() {
        let word = splitmix(seed ^ (o / 8)).to_le_bytes();
        let k = (o % 8) as usize;
        let n = (8 - k).min(buf.len() - i);
        buf[i..i + n].copy_from_slice(&word[k..k + n]);
        i += n;
        o += n as u64;
    }
}

/// A file of any size whose bytes are computed from the offset.
pub struct PatternSource {
    pub seed: u64,
    pub size: u64,
}

impl Source for PatternSource {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        assert!(offset + buf.len() as u64 <= self.size, "read past the end");
        fill_pattern(self.seed, offset, buf);
        Ok(())
    }
}

/// What a [`CheckSink`] saw.
#[derive(Default, Debug)]
pub struct SinkState {
    pub written: RangeSet,
    /// Bytes that did not match the pattern.
    pub mismatched: u64,
    /// Bytes written twice.
    pub rewritten: u64,
    pub writes: u64,
}

/// Checks every write against the pattern without storing the data.
pub struct CheckSink {
    pub seed: u64,
    pub state: Arc<Mutex<SinkState>>,
    scratch: Vec<u8>,
}

impl CheckSink {
    pub fn new(seed: u64) -> (Self, Arc<Mutex<SinkState>>) {
        let state = Arc::new(Mutex::new(SinkState::default()));
        (
            Self {
                seed,
                state: state.clone(),
                scratch: Vec::new(),
            },
            state,
        )
    }
}

impl Sink for CheckSink {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.scratch.resize(data.len(), 0);
        fill_pattern(self.seed, offset, &mut self.scratch);
        let mismatched = self
            .scratch
            .iter()
            .zip(data)
            .filter(|(a, b)| a != b)
            .count() as u64;
        let mut s = self.state.lock().unwrap();
        s.mismatched += mismatched;
        s.writes += 1;
        let mut fresh = 0;
        s.written
            .insert_with(offset..offset + data.len() as u64, |n| {
                fresh += n.end - n.start
            });
        s.rewritten += data.len() as u64 - fresh;
        Ok(())
    }
}

/// Which end opens the transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The client receives (it sends the first HELLO).
    Download,
    /// The client sends.
    Upload,
}

/// What one flow should do.
#[derive(Clone)]
pub struct FlowSpec {
    pub size: u64,
    pub seed: u64,
    pub config: Arc<Config>,
    /// Config of the receiving end (defaults to `config`).
    pub receiver_config: Option<Arc<Config>>,
    pub direction: Direction,
    pub have: RangeSet,
    pub start: Duration,
    pub key: [u8; 32],
}

impl FlowSpec {
    pub fn new(size: u64, config: Config) -> Self {
        Self {
            size,
            seed: 1,
            config: Arc::new(config),
            receiver_config: None,
            direction: Direction::Download,
            have: RangeSet::new(),
            start: Duration::ZERO,
            key: [9; 32],
        }
    }
}

/// One transfer in the simulation.
pub struct Flow {
    pub id: TransferId,
    pub spec: FlowSpec,
    pub sender: Option<Connection>,
    pub receiver: Option<Connection>,
    pub sink: Arc<Mutex<SinkState>>,
    pub client_addr: SocketAddr,
    pub started: bool,
    pub sender_done: Option<Instant>,
    pub receiver_done: Option<Instant>,
    pub first_send: Option<Instant>,
    pub sender_failed: Option<(Instant, rudp::Error)>,
    pub receiver_failed: Option<(Instant, rudp::Error)>,
    pub sender_events: Vec<String>,
    pub receiver_events: Vec<String>,
}

impl Flow {
    pub fn sender(&self) -> &Connection {
        self.sender.as_ref().unwrap()
    }
    pub fn receiver(&self) -> &Connection {
        self.receiver.as_ref().unwrap()
    }
    pub fn sender_is_client(&self) -> bool {
        self.spec.direction == Direction::Upload
    }
    /// Bytes the receiver has (written or resumed).
    pub fn received(&self) -> u64 {
        self.receiver().ranges().total_len()
    }
}

pub const SERVER: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)),
    50000,
);

pub fn client_addr(i: usize) -> SocketAddr {
    SocketAddr::new(
        std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 1, 1 + i as u8)),
        40000,
    )
}

/// Flows over a forward link (sender → receiver, the data direction) and a reverse link.
pub struct Sim {
    pub start: Instant,
    pub now: Instant,
    pub fwd: Link,
    pub rev: Link,
    pub flows: Vec<Flow>,
    buf: Vec<u8>,
    pub delivered_fwd: u64,
    /// From this instant on, nothing is delivered either way (a dead peer or path).
    pub blackout_from: Option<Instant>,
    /// Copies of the first datagrams sent on the forward link (for replay tests).
    pub captured: Vec<Vec<u8>>,
    pub capture_limit: usize,
}

impl Sim {
    pub fn new(fwd: LinkConfig, rev: LinkConfig, seed: u64) -> Self {
        let start = Instant::now();
        Self {
            start,
            now: start,
            fwd: Link::new(fwd, seed).expect("link config"),
            rev: Link::new(rev, seed ^ 0xdead_beef).expect("link config"),
            flows: Vec::new(),
            buf: vec![0; 65536],
            delivered_fwd: 0,
            blackout_from: None,
            captured: Vec::new(),
            capture_limit: 0,
        }
    }

    /// The same impairments both ways.
    pub fn symmetric(spec: &str, seed: u64) -> Self {
        let cfg: LinkConfig = spec.parse().expect("link spec");
        Self::new(cfg.clone(), cfg, seed)
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    pub fn add_flow(&mut self, spec: FlowSpec) -> usize {
        let i = self.flows.len();
        let id = TransferId(0x1000 + i as u64);
        let (_, sink) = CheckSink::new(spec.seed);
        self.flows.push(Flow {
            id,
            spec,
            sender: None,
            receiver: None,
            sink,
            client_addr: client_addr(i),
            started: false,
            sender_done: None,
            receiver_done: None,
            first_send: None,
            sender_failed: None,
            receiver_failed: None,
            sender_events: Vec::new(),
            receiver_events: Vec::new(),
        });
        self.start_due_flows();
        i
    }

    fn start_due_flows(&mut self) {
        let now = self.now;
        for f in &mut self.flows {
            if f.started || self.start + f.spec.start > now {
                continue;
            }
            f.started = true;
            let params = TransferParams {
                transfer_id: f.id,
                key: f.spec.key,
                size: f.spec.size,
            };
            let client = Side::Client { server: SERVER };
            let (s_side, r_side) = match f.spec.direction {
                Direction::Download => (Side::Server, client),
                Direction::Upload => (client, Side::Server),
            };
            let source = PatternSource {
                seed: f.spec.seed,
                size: f.spec.size,
            };
            let (sink, state) = CheckSink::new(f.spec.seed);
            f.sink = state;
            let rcfg = f
                .spec
                .receiver_config
                .clone()
                .unwrap_or(f.spec.config.clone());
            f.sender = Some(
                Connection::sender(
                    f.spec.config.clone(),
                    params.clone(),
                    s_side,
                    Box::new(source),
                    now,
                )
                .unwrap(),
            );
            f.receiver = Some(
                Connection::receiver(
                    rcfg,
                    params,
                    r_side,
                    Box::new(sink),
                    f.spec.have.clone(),
                    now,
                )
                .unwrap(),
            );
        }
    }

    fn next_start(&self) -> Option<Instant> {
        self.flows
            .iter()
            .filter(|f| !f.started)
            .map(|f| self.start + f.spec.start)
            .min()
    }

    /// Sends everything the connections want to send and records their events.
    fn flush(&mut self) {
        let now = self.now;
        for f in &mut self.flows {
            if !f.started {
                continue;
            }
            let client = f.client_addr;
            if let Some(c) = &mut f.sender {
                while let Some(t) = c.poll_transmit(now, &mut self.buf) {
                    f.first_send.get_or_insert(now);
                    // A datagram to an address nobody holds any more (after a NAT rebinding)
                    // is lost.
                    let to_ok = if f.spec.direction == Direction::Download {
                        t.destination == client
                    } else {
                        t.destination == SERVER
                    };
                    if to_ok {
                        if self.captured.len() < self.capture_limit {
                            self.captured.push(self.buf[..t.size].to_vec());
                        }
                        self.fwd.send(now, &self.buf[..t.size]);
                    }
                }
                while let Some(e) = c.poll_event() {
                    match e {
                        Event::Completed => f.sender_done = Some(now),
                        Event::Failed(err) => f.sender_failed = Some((now, err)),
                        other => f.sender_events.push(format!("{other:?}")),
                    }
                }
            }
            if let Some(c) = &mut f.receiver {
                while let Some(t) = c.poll_transmit(now, &mut self.buf) {
                    f.first_send.get_or_insert(now);
                    let to_ok = if f.spec.direction == Direction::Upload {
                        t.destination == client
                    } else {
                        t.destination == SERVER
                    };
                    if to_ok {
                        self.rev.send(now, &self.buf[..t.size]);
                    }
                }
                while let Some(e) = c.poll_event() {
                    match e {
                        Event::Completed => f.receiver_done = Some(now),
                        Event::Failed(err) => f.receiver_failed = Some((now, err)),
                        other => f.receiver_events.push(format!("{other:?}")),
                    }
                }
            }
        }
    }

    /// Runs until `until` returns true, nothing is left to do, or `limit` of virtual time has
    /// passed since the start. Returns whether `until` was met.
    pub fn run_until(&mut self, limit: Duration, mut until: impl FnMut(&Sim) -> bool) -> bool {
        let deadline = self.start + limit;
        loop {
            self.flush();
            if until(self) {
                return true;
            }
            let mut next = [
                self.fwd.poll_timeout(),
                self.rev.poll_timeout(),
                self.next_start(),
            ]
            .into_iter()
            .flatten()
            .min();
            for f in &self.flows {
                for c in [&f.sender, &f.receiver].into_iter().flatten() {
                    if let Some(t) = c.poll_timeout() {
                        next = Some(next.map_or(t, |n| n.min(t)));
                    }
                }
            }
            let Some(next) = next else { return false };
            if next > deadline {
                self.now = deadline;
                return false;
            }
            self.now = self.now.max(next);
            self.step();
        }
    }

    /// Runs until every started flow's connections are drained (or `limit`).
    pub fn run(&mut self, limit: Duration) -> bool {
        self.run_until(limit, |s| {
            s.flows.iter().all(|f| {
                f.started
                    && f.sender.as_ref().is_none_or(|c| c.is_drained())
                    && f.receiver.as_ref().is_none_or(|c| c.is_drained())
            })
        })
    }

    fn step(&mut self) {
        let now = self.now;
        self.start_due_flows();
        let dark = self.blackout_from.is_some_and(|t| now >= t);
        while let Some(mut d) = self.fwd.poll_deliver(now) {
            if dark {
                continue;
            }
            self.delivered_fwd += 1;
            if let Some(f) = route(&mut self.flows, &d) {
                let from = if f.spec.direction == Direction::Download {
                    SERVER
                } else {
                    f.client_addr
                };
                if let Some(c) = &mut f.receiver {
                    c.handle_datagram(now, from, &mut d);
                }
            }
            self.fwd.recycle(d);
        }
        while let Some(mut d) = self.rev.poll_deliver(now) {
            if dark {
                continue;
            }
            if let Some(f) = route(&mut self.flows, &d) {
                let from = if f.spec.direction == Direction::Upload {
                    SERVER
                } else {
                    f.client_addr
                };
                if let Some(c) = &mut f.sender {
                    c.handle_datagram(now, from, &mut d);
                }
            }
            self.rev.recycle(d);
        }
        for f in &mut self.flows {
            for c in [&mut f.sender, &mut f.receiver].into_iter().flatten() {
                if c.poll_timeout().is_some_and(|t| t <= now) {
                    c.handle_timeout(now);
                }
            }
        }
    }
}

fn route<'a>(flows: &'a mut [Flow], d: &[u8]) -> Option<&'a mut Flow> {
    let id = rudp::peek_transfer_id(d)?;
    flows.iter_mut().find(|f| f.id == id)
}

/// Jain's fairness index of some rates.
pub fn jain(rates: &[f64]) -> f64 {
    let sum: f64 = rates.iter().sum();
    let sq: f64 = rates.iter().map(|r| r * r).sum();
    sum * sum / (rates.len() as f64 * sq)
}

impl Flow {
    /// Goodput: file bytes over the time from the flow's first datagram to the receiver's
    /// completion, bits per second.
    pub fn goodput_bps(&self) -> Option<f64> {
        let t = self
            .receiver_done?
            .checked_duration_since(self.first_send?)?;
        Some((self.spec.size - self.spec.have.total_len()) as f64 * 8.0 / t.as_secs_f64())
    }

    /// Asserts the transfer completed on both ends and the sink saw exactly the missing bytes,
    /// each once, all correct.
    pub fn assert_exact(&self, what: &str) {
        assert!(
            self.sender_failed.is_none(),
            "{what}: sender failed: {:?}",
            self.sender_failed
        );
        assert!(
            self.receiver_failed.is_none(),
            "{what}: receiver failed: {:?}",
            self.receiver_failed
        );
        assert!(
            self.receiver_done.is_some(),
            "{what}: receiver did not complete"
        );
        assert!(
            self.sender_done.is_some(),
            "{what}: sender did not complete"
        );
        let s = self.sink.lock().unwrap();
        assert_eq!(s.mismatched, 0, "{what}: corrupted bytes reached the sink");
        assert_eq!(s.rewritten, 0, "{what}: bytes written twice");
        let mut all = s.written.clone();
        for r in self.spec.have.iter() {
            let mut overlap = false;
            s.written.clone().insert_with(r.clone(), |_| ());
            for w in s.written.iter() {
                overlap |= w.start < r.end && r.start < w.end;
            }
            assert!(!overlap, "{what}: a held range was written again");
            all.insert(r);
        }
        assert!(all.covers(0..self.spec.size), "{what}: bytes missing");
        assert_eq!(
            all.total_len(),
            self.spec.size,
            "{what}: bytes past the end"
        );
    }
}
