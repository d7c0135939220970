//! Pacing: a token bucket refilled at the congestion controller's pacing rate.
//!
//! Every ack-eliciting packet that is not a probe waits for tokens (RFC 9002 §7.7). The bucket
//! holds one `Config::pacing_granularity` of sending (at least two packets, at most 1024): a
//! driver whose timers fire a millisecond late finds a millisecond of tokens waiting, so timer
//! resolution never caps the rate (at 1.5 GB/s that is ~1000 datagrams per wake-up, one GSO
//! batch after another), while the bottleneck never sees a larger burst.

use std::time::{Duration, Instant};

/// Token bucket state.
#[derive(Debug, Clone)]
pub(crate) struct Pacer {
    /// Tokens available, bytes (fractional: refills are exact at any rate).
    tokens: f64,
    /// When `tokens` was last refilled.
    last: Option<Instant>,
}

/// Burst allowance for a pacing rate (bytes/s) and packet size (bytes), bytes: the rate times
/// `horizon`, 2 to 1024 packets.
fn capacity(rate: u64, mtu: u64, horizon: Duration) -> f64 {
    let bytes = rate as f64 * horizon.as_secs_f64();
    bytes.clamp(2.0 * mtu as f64, 1024.0 * mtu as f64)
}

impl Pacer {
    pub(crate) fn new() -> Self {
        Self {
            tokens: 0.0,
            last: None,
        }
    }

    fn refill(&mut self, now: Instant, rate: u64, mtu: u64, horizon: Duration) {
        let cap = capacity(rate, mtu, horizon);
        match self.last {
            None => self.tokens = cap,
            Some(last) => {
                let dt = now.saturating_duration_since(last).as_secs_f64();
                self.tokens = (self.tokens + dt * rate as f64).min(cap);
            }
        }
        self.last = Some(now);
    }

    /// `None` when a packet of `size` bytes may leave now at `rate` bytes/s (`None` rate: no
    /// pacing); otherwise the instant at which it may.
    pub(crate) fn delay(
        &mut self,
        now: Instant,
        rate: Option<u64>,
        mtu: u64,
        size: u64,
        horizon: Duration,
    ) -> Option<Instant> {
        let rate = rate?.max(1);
        self.refill(now, rate, mtu, horizon);
        let need = size as f64 - self.tokens;
        if need <= 0.0 {
            return None;
        }
        // Round up to the next nanosecond so the wake-up really has the tokens.
        let nanos = (need / rate as f64 * 1e9).ceil() as u64 + 1;
        Some(now + Duration::from_nanos(nanos))
    }

    /// Spends tokens for a packet that left.
    pub(crate) fn on_sent(&mut self, size: u64) {
        self.tokens -= size as f64;
    }
}
