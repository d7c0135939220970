//! The bottleneck: a drop-tail FIFO drained at a fixed bit rate, and its occupancy integral.
//!
//! A FIFO served at a constant rate needs no timer: when a packet joins, the time its
//! serialization ends is already known (`max(now, transmitter free) + size / rate`). So the
//! queue only keeps, in order, the end times of packets not yet fully sent; they fall off the
//! front as time passes. Time is kept as nanoseconds × rate (integers), so a packet of 1500
//! bytes at 3 Mbit/s is exactly 4 ms and a long run does not drift.

use std::collections::VecDeque;

/// Nanoseconds in a second.
const NANOS: u128 = 1_000_000_000;

/// A rate-limited drop-tail queue, in nanoseconds since the link's epoch.
#[derive(Debug, Clone)]
pub(crate) struct Bottleneck {
    /// Bits per second; `None` sends everything at once.
    rate_bps: Option<u64>,
    /// Bytes the backlog may hold; `None` is unbounded.
    capacity: Option<usize>,
    /// When the transmitter is next free, in ns × `rate_bps`.
    free_at: u128,
    /// Packets not yet fully serialized, in order: (ns their serialization ends, wire bytes).
    backlog: VecDeque<(u64, usize)>,
    /// Sum of the sizes in `backlog`, bytes.
    backlog_bytes: usize,
    /// ∫ backlog dt from `since` to `last`, byte·ns.
    area: u128,
    /// Start of the occupancy measurement, ns.
    since: u64,
    /// How far `area` and `backlog` have been brought, ns.
    last: u64,
    /// Largest backlog since `since`, bytes.
    max_bytes: usize,
}

impl Bottleneck {
    pub(crate) fn new(rate_bps: Option<u64>, capacity: Option<usize>) -> Self {
        Self {
            rate_bps,
            capacity,
            free_at: 0,
            backlog: VecDeque::new(),
            backlog_bytes: 0,
            area: 0,
            since: 0,
            last: 0,
            max_bytes: 0,
        }
    }

    /// Offers a packet of `wire` bytes at `now`: the ns its serialization ends, or `None` if
    /// the backlog plus this packet would exceed the capacity (tail drop). `now` must not go
    /// backwards and caps arithmetic at `max_ns`.
    pub(crate) fn offer(&mut self, now: u64, wire: usize, max_ns: u64) -> Option<u64> {
        let Some(rate) = self.rate_bps else {
            return Some(now);
        };
        self.advance(now);
        if self
            .capacity
            .is_some_and(|cap| self.backlog_bytes.saturating_add(wire) > cap)
        {
            return None;
        }
        let rate = u128::from(rate);
        let start = self.free_at.max(u128::from(now) * rate);
        let bits = wire as u128 * 8;
        self.free_at = (start + bits * NANOS).min(u128::from(max_ns) * rate);
        let end = u64::try_from(self.free_at.div_ceil(rate)).unwrap_or(max_ns);
        self.backlog.push_back((end, wire));
        self.backlog_bytes += wire;
        self.max_bytes = self.max_bytes.max(self.backlog_bytes);
        Some(end)
    }

    /// Brings the backlog and the occupancy integral up to `now`.
    pub(crate) fn advance(&mut self, now: u64) {
        let (area, backlog, finished) = self.settle(now);
        self.backlog.drain(..finished);
        (self.area, self.backlog_bytes, self.last) = (area, backlog, now.max(self.last));
    }

    /// What `advance(now)` would make of (area, backlog bytes), and how many packets leave.
    fn settle(&self, now: u64) -> (u128, usize, usize) {
        let (mut area, mut backlog, mut last) = (self.area, self.backlog_bytes, self.last);
        let mut finished = 0;
        for &(end, bytes) in self.backlog.iter().take_while(|(end, _)| *end <= now) {
            area += backlog as u128 * u128::from(end.saturating_sub(last));
            (last, backlog, finished) = (last.max(end), backlog - bytes, finished + 1);
        }
        area += backlog as u128 * u128::from(now.saturating_sub(last));
        (area, backlog, finished)
    }

    /// Bytes waiting or in serialization at `now`.
    pub(crate) fn backlog_at(&self, now: u64) -> usize {
        self.settle(now).1
    }

    /// Time-weighted mean backlog from `since` to `now`, bytes.
    pub(crate) fn mean_at(&self, now: u64) -> f64 {
        let (area, backlog, _) = self.settle(now);
        match now.saturating_sub(self.since) {
            0 => backlog as f64,
            elapsed => area as f64 / elapsed as f64,
        }
    }

    /// Largest backlog since the last reset, bytes.
    pub(crate) fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Restarts the occupancy measurement at `now`.
    pub(crate) fn reset(&mut self, now: u64) {
        self.advance(now);
        (self.area, self.since, self.max_bytes) = (0, self.last, self.backlog_bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: u64 = u64::MAX / 4;

    #[test]
    fn serializes_back_to_back_and_tail_drops() {
        // 1500 bytes at 3 Mbit/s take exactly 4 ms.
        let mut q = Bottleneck::new(Some(3_000_000), Some(3000));
        assert_eq!(q.offer(0, 1500, MAX), Some(4_000_000));
        assert_eq!(q.offer(0, 1500, MAX), Some(8_000_000));
        assert_eq!(
            q.offer(0, 1, MAX),
            None,
            "3000 bytes queued, no room for one more"
        );
        assert_eq!(q.backlog_at(4_000_000), 1500);
        assert_eq!(q.offer(4_000_000, 1500, MAX), Some(12_000_000));
        // 3000 bytes from 0 to 8 ms (one left at 4 ms, one joined), then 1500 until 12 ms.
        assert_eq!(q.mean_at(12_000_000), (3000.0 * 8.0 + 1500.0 * 4.0) / 12.0);
        assert_eq!(q.max_bytes(), 3000);
    }

    #[test]
    fn no_drift_over_a_million_packets() {
        // 1 byte at 3 bit/s is 8/3 s: rounding each packet would drift by a second.
        let mut q = Bottleneck::new(Some(3), None);
        let mut end = 0;
        for _ in 0..1_000_000 {
            end = q.offer(0, 1, MAX).unwrap();
            q.backlog.clear();
        }
        assert_eq!(end, (8_000_000u128 * NANOS).div_ceil(3) as u64);
    }
}
