//! What a link did: [`LinkStats`].

/// A number of datagrams and their total size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count {
    /// Datagrams.
    pub packets: u64,
    /// UDP payload bytes of those datagrams (no IP or UDP headers).
    pub bytes: u64,
}

impl Count {
    pub(crate) fn add(&mut self, bytes: usize) {
        self.packets += 1;
        self.bytes += bytes as u64;
    }
}

/// Counters of one [`Link`](crate::Link), by datagram. Once every datagram has been polled
/// out, `delivered = offered + duplicated − dropped_queue − lost − lost_burst − too_large`
/// (see [`LinkStats::dropped`]).
///
/// A datagram that is lost counts once, under the cause of the first of its fragments to go:
/// tail drop, then burst loss, then random loss.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinkStats {
    /// Every datagram given to `send`.
    pub offered: Count,
    /// Copies handed out by `poll_deliver` (duplicates included).
    pub delivered: Count,
    /// Datagrams with a packet or fragment tail-dropped by the full bottleneck queue.
    pub dropped_queue: Count,
    /// Datagrams with a packet or fragment lost by Bernoulli loss (`loss`).
    pub lost: Count,
    /// Datagrams with a packet or fragment lost by Gilbert–Elliott loss (`burst`).
    pub lost_burst: Count,
    /// Datagrams over 65507 bytes, which no IPv4 packet can carry.
    pub too_large: Count,
    /// Extra copies scheduled by `duplicate`.
    pub duplicated: Count,
    /// Copies with a bit flipped by `corrupt`.
    pub corrupted: Count,
    /// Datagrams larger than the MTU, sent as IP fragments.
    pub fragmented: Count,
    /// IP fragments sent for the `fragmented` datagrams.
    pub fragments: u64,
    /// The largest bottleneck backlog seen, IP bytes.
    pub max_queue_bytes: usize,
    /// Time-weighted mean bottleneck backlog, IP bytes, from the first call (or the last
    /// [`reset_stats`](crate::Link::reset_stats)) up to the latest call into the link; see
    /// [`Link::mean_queue_bytes`](crate::Link::mean_queue_bytes) for an exact value at any time.
    pub mean_queue_bytes: f64,
}

impl LinkStats {
    /// Datagrams that will never be delivered, whatever the cause.
    pub fn dropped(&self) -> u64 {
        self.dropped_queue.packets
            + self.lost.packets
            + self.lost_burst.packets
            + self.too_large.packets
    }
}
