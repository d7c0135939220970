//! [`Link`]: one direction of a path, as a sans-IO state machine.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::config::{ConfigError, LinkConfig};
use crate::ip::{MAX_UDP_PAYLOAD, fragment_sizes};
use crate::loss::{BurstLoss, chance};
use crate::queue::Bottleneck;
use crate::stats::LinkStats;

/// Internal times are nanoseconds since the link's first call, capped here (~146 years) so
/// that no sum of them overflows.
const MAX_NS: u64 = 1 << 62;
/// Recycled buffers kept for reuse, at most.
const SPARE_BUFFERS: usize = 256;

/// What became of a datagram given to [`Link::send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    /// It will be delivered at `arrival`.
    Scheduled {
        /// When `poll_deliver` hands it out (a duplicate follows at the same instant).
        arrival: Instant,
        /// Whether a second copy was scheduled too.
        duplicated: bool,
    },
    /// The bottleneck queue was full (for a fragmented datagram: for one of its fragments).
    DroppedQueue,
    /// Lost by the random (Bernoulli) loss.
    Lost,
    /// Lost by the Gilbert–Elliott burst loss.
    LostBurst,
    /// Never sent: a datagram larger than 65507 bytes, which no IPv4 packet can carry, or a
    /// packet given to [`Link::send_packet`] larger than the MTU.
    TooLarge,
}

/// One direction of a network path: a drop-tail queue ahead of a bottleneck of fixed rate, then
/// a lossy wire with delay, jitter, reordering, duplication and corruption. See the crate doc
/// for the model.
///
/// The calling contract: call [`send`](Self::send) for every datagram offered, then drain
/// [`poll_deliver`](Self::poll_deliver) until it returns `None`, and come back at
/// [`poll_timeout`](Self::poll_timeout). Every call takes `now`; time never goes backwards (an
/// earlier instant is read as the latest one seen).
#[derive(Debug, Clone)]
pub struct Link {
    config: LinkConfig,
    rng: SmallRng,
    clock: Clock,
    bottleneck: Bottleneck,
    burst: Option<BurstLoss>,
    in_flight: BinaryHeap<InFlight>,
    /// Tie-break for equal arrival times: first scheduled, first delivered.
    next_seq: u64,
    /// The latest arrival of a datagram not picked for reordering, ns: the next one may not
    /// arrive before it.
    fifo_tail: u64,
    stats: LinkStats,
    spare: Vec<Vec<u8>>,
}

impl Link {
    /// A link behaving as `config` says, its randomness drawn from `seed`: the same seed and
    /// the same calls give the same deliveries.
    pub fn new(config: LinkConfig, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            rng: SmallRng::seed_from_u64(seed),
            clock: Clock::default(),
            bottleneck: Bottleneck::new(config.rate_bps, config.queue_bytes),
            burst: config.burst.map(BurstLoss::new),
            in_flight: BinaryHeap::new(),
            next_seq: 0,
            fifo_tail: 0,
            stats: LinkStats::default(),
            spare: Vec::new(),
            config,
        })
    }

    /// The configuration this link runs.
    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// Offers one UDP datagram (its payload, `datagram.len()` bytes) to the link at time `at`.
    /// The datagram is copied and its fate decided now; the outcome is for statistics.
    pub fn send(&mut self, at: Instant, datagram: &[u8]) -> SendOutcome {
        let len = datagram.len();
        if len > MAX_UDP_PAYLOAD {
            self.clock.ns(at);
            self.stats.offered.add(len);
            self.stats.too_large.add(len);
            return SendOutcome::TooLarge;
        }
        let mtu = self.config.mtu;
        self.offer(at, datagram, fragment_sizes(len, mtu))
    }

    /// Offers one whole IP packet (`packet.len()` wire bytes, headers included) at time `at`:
    /// what a TUN device hands an emulator. Unlike [`send`](Self::send) it adds no headers
    /// and never fragments; a packet larger than the MTU is refused (`TooLarge`), as a router
    /// would refuse a don't-fragment packet. Statistics count IP bytes.
    pub fn send_packet(&mut self, at: Instant, packet: &[u8]) -> SendOutcome {
        let len = packet.len();
        if len > self.config.mtu {
            self.clock.ns(at);
            self.stats.offered.add(len);
            self.stats.too_large.add(len);
            return SendOutcome::TooLarge;
        }
        self.offer(at, packet, std::iter::once(len))
    }

    /// The common path of `send` and `send_packet`: `wire_sizes` are the IP packets that
    /// carry `payload` across the bottleneck.
    fn offer(
        &mut self,
        at: Instant,
        datagram: &[u8],
        wire_sizes: impl Iterator<Item = usize>,
    ) -> SendOutcome {
        let now = self.clock.ns(at);
        let len = datagram.len();
        self.stats.offered.add(len);
        // Every fragment queues and risks loss on its own; the datagram is reassembled when
        // the last one has crossed the bottleneck, and only if none was dropped.
        let (mut fate, mut departure, mut fragments) = (None, now, 0);
        for wire in wire_sizes {
            fragments += 1;
            let Some(end) = self.bottleneck.offer(now, wire, MAX_NS) else {
                fate = fate.or(Some(SendOutcome::DroppedQueue));
                continue;
            };
            departure = end;
            if self.burst.as_mut().is_some_and(|b| b.loses(&mut self.rng)) {
                fate = fate.or(Some(SendOutcome::LostBurst));
            } else if chance(&mut self.rng, self.config.loss) {
                fate = fate.or(Some(SendOutcome::Lost));
            }
        }
        if fragments > 1 {
            self.stats.fragmented.add(len);
            self.stats.fragments += fragments;
        }
        self.update_queue_stats(now);
        if let Some(fate) = fate {
            let count = match fate {
                SendOutcome::DroppedQueue => &mut self.stats.dropped_queue,
                SendOutcome::LostBurst => &mut self.stats.lost_burst,
                _ => &mut self.stats.lost,
            };
            count.add(len);
            return fate;
        }

        let mut arrival = departure + nanos(self.config.delay);
        let jitter = nanos(self.config.jitter);
        if jitter > 0 {
            arrival += self.rng.random_range(0..=jitter);
        }
        if chance(&mut self.rng, self.config.reorder) {
            arrival += nanos(self.config.reorder_delay);
        } else {
            arrival = arrival.max(self.fifo_tail);
            self.fifo_tail = arrival;
        }
        self.schedule(arrival, datagram);
        let duplicated = chance(&mut self.rng, self.config.duplicate);
        if duplicated {
            self.stats.duplicated.add(len);
            self.schedule(arrival, datagram);
        }
        let arrival = self.clock.instant(arrival).unwrap_or(at);
        SendOutcome::Scheduled {
            arrival,
            duplicated,
        }
    }

    /// The next datagram due by `now`, in arrival order (datagrams due at the same instant in
    /// the order they were scheduled), or `None`. Hand the buffer back with
    /// [`recycle`](Self::recycle) to spare an allocation.
    pub fn poll_deliver(&mut self, now: Instant) -> Option<Vec<u8>> {
        let now = self.clock.ns(now);
        self.bottleneck.advance(now);
        self.stats.mean_queue_bytes = self.bottleneck.mean_at(now);
        if self.in_flight.peek()?.arrival > now {
            return None;
        }
        let payload = self.in_flight.pop()?.payload;
        self.stats.delivered.add(payload.len());
        Some(payload)
    }

    /// When the next datagram arrives, or `None` if none is in flight: a virtual clock jumps
    /// there, a real-time relay sleeps until then.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.clock.instant(self.in_flight.peek()?.arrival)
    }

    /// Gives a delivered buffer back for a later `send` to fill.
    pub fn recycle(&mut self, mut buffer: Vec<u8>) {
        if self.spare.len() < SPARE_BUFFERS {
            buffer.clear();
            self.spare.push(buffer);
        }
    }

    /// Datagrams scheduled but not yet delivered (duplicates included).
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Counters so far; see [`LinkStats`].
    pub fn stats(&self) -> &LinkStats {
        &self.stats
    }

    /// Zeroes the counters and restarts the queue measurement at `now`, e.g. after a warm-up.
    pub fn reset_stats(&mut self, now: Instant) {
        let now = self.clock.ns(now);
        self.bottleneck.reset(now);
        self.stats = LinkStats {
            max_queue_bytes: self.bottleneck.max_bytes(),
            mean_queue_bytes: self.bottleneck.mean_at(now),
            ..LinkStats::default()
        };
    }

    /// The bottleneck backlog at `now`: IP bytes waiting, plus the packet being serialized.
    pub fn queue_bytes(&self, now: Instant) -> usize {
        self.bottleneck.backlog_at(self.clock.peek_ns(now))
    }

    /// The time-weighted mean backlog from the first call (or the last `reset_stats`) to
    /// `now`, IP bytes.
    pub fn mean_queue_bytes(&self, now: Instant) -> f64 {
        self.bottleneck.mean_at(self.clock.peek_ns(now))
    }

    fn update_queue_stats(&mut self, now: u64) {
        self.stats.max_queue_bytes = self.bottleneck.max_bytes();
        self.stats.mean_queue_bytes = self.bottleneck.mean_at(now);
    }

    /// Copies `datagram` into flight, corrupting the copy with probability `corrupt`.
    fn schedule(&mut self, arrival: u64, datagram: &[u8]) {
        let mut payload = self.spare.pop().unwrap_or_default();
        payload.extend_from_slice(datagram);
        if !payload.is_empty() && chance(&mut self.rng, self.config.corrupt) {
            let bit = self.rng.random_range(0..payload.len() * 8);
            payload[bit / 8] ^= 1 << (bit % 8);
            self.stats.corrupted.add(payload.len());
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.in_flight.push(InFlight {
            arrival,
            seq,
            payload,
        });
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(MAX_NS).min(MAX_NS)
}

/// Maps `Instant`s to nanoseconds since the first one seen, never going backwards.
#[derive(Debug, Clone, Copy, Default)]
struct Clock {
    epoch: Option<Instant>,
    now: u64,
}

impl Clock {
    fn ns(&mut self, now: Instant) -> u64 {
        let epoch = *self.epoch.get_or_insert(now);
        self.now = self.now.max(nanos(now.saturating_duration_since(epoch)));
        self.now
    }

    fn peek_ns(&self, now: Instant) -> u64 {
        let since = self
            .epoch
            .map_or(0, |e| nanos(now.saturating_duration_since(e)));
        since.max(self.now)
    }

    /// `None` before the first call (when nothing can be in flight yet).
    fn instant(&self, ns: u64) -> Option<Instant> {
        // Times are capped ~146 years past the epoch, which every platform's Instant can hold.
        self.epoch?.checked_add(Duration::from_nanos(ns))
    }
}

/// A datagram copy on its way; ordered so that the `BinaryHeap` pops the earliest arrival,
/// then the lowest sequence number.
#[derive(Debug, Clone)]
struct InFlight {
    arrival: u64,
    seq: u64,
    payload: Vec<u8>,
}

impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.arrival, other.seq).cmp(&(self.arrival, self.seq))
    }
}

impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for InFlight {}
