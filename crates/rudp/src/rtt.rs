//! Round-trip time estimation (RFC 9002 §5).

use std::time::Duration;

/// Timer granularity (RFC 9002 §6.1.2: `kGranularity`, 1 ms).
pub const GRANULARITY: Duration = Duration::from_millis(1);

/// Smoothed RTT, RTT variation and minimum RTT of one path (RFC 9002 §5).
#[derive(Clone, Copy, Debug)]
pub struct RttEstimator {
    /// Most recent sample, unadjusted.
    latest: Duration,
    /// `smoothed_rtt`; the configured initial RTT until the first sample.
    smoothed: Duration,
    /// `rttvar`.
    var: Duration,
    /// Minimum over the connection's lifetime, unadjusted (RFC 9002 §5.2).
    min: Duration,
    /// Whether a sample has arrived yet.
    has_sample: bool,
}

impl RttEstimator {
    /// Starts from `initial_rtt` (RFC 9002 §6.2.2 recommends 333 ms).
    pub fn new(initial_rtt: Duration) -> Self {
        Self {
            latest: initial_rtt,
            smoothed: initial_rtt,
            var: initial_rtt / 2,
            min: initial_rtt,
            has_sample: false,
        }
    }

    /// Feeds a sample: `rtt` is now minus the largest newly-acknowledged packet's send time,
    /// `ack_delay` the peer's reported delay, already capped at its max_ack_delay
    /// (RFC 9002 §5.3).
    pub fn update(&mut self, ack_delay: Duration, rtt: Duration) {
        self.latest = rtt;
        if !self.has_sample {
            self.has_sample = true;
            self.min = rtt;
            self.smoothed = rtt;
            self.var = rtt / 2;
            return;
        }
        self.min = self.min.min(rtt);
        // Subtract the ack delay only if what remains is not below min_rtt.
        let adjusted = if rtt >= self.min + ack_delay {
            rtt - ack_delay
        } else {
            rtt
        };
        let diff = self.smoothed.abs_diff(adjusted);
        self.var = (3 * self.var + diff) / 4;
        self.smoothed = (7 * self.smoothed + adjusted) / 8;
    }

    /// `smoothed_rtt`.
    pub fn smoothed(&self) -> Duration {
        self.smoothed
    }

    /// `latest_rtt`.
    pub fn latest(&self) -> Duration {
        self.latest
    }

    /// `min_rtt` (the initial RTT until the first sample).
    pub fn min(&self) -> Duration {
        self.min
    }

    /// `rttvar`.
    pub fn var(&self) -> Duration {
        self.var
    }

    /// Whether any sample has been taken.
    pub fn has_sample(&self) -> bool {
        self.has_sample
    }

    /// `smoothed_rtt + max(4·rttvar, kGranularity)`: the PTO before max_ack_delay and backoff
    /// (RFC 9002 §6.2.1).
    pub fn pto_base(&self) -> Duration {
        self.smoothed + (4 * self.var).max(GRANULARITY)
    }
}
