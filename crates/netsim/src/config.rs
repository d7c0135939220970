//! What a link does: [`LinkConfig`], its burst-loss part [`GilbertElliott`], and validation.

use std::time::Duration;

use thiserror::Error;

/// The smallest IPv4 MTU every host must accept (RFC 791), bytes.
pub const MIN_MTU: usize = 68;
/// The largest IPv4 packet the 16-bit total-length field can describe, bytes.
pub const MAX_MTU: usize = 65_535;
/// The longest `delay`, `jitter` or `reorder_delay` a link accepts.
pub const MAX_DELAY: Duration = Duration::from_secs(3600);

/// One direction of a network path. [`LinkConfig::default`] is a perfect link: no rate limit,
/// no delay, no impairment, a 1500-byte MTU.
///
/// Parse one from a spec like `rate=100mbit,rtt=50ms,loss=1%,queue=1bdp` (see the crate doc);
/// its `Display` prints that form back.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkConfig {
    /// Bottleneck rate in bits per second of IP bytes (headers included, no link-layer
    /// framing); `None` is unlimited.
    pub rate_bps: Option<u64>,
    /// Drop-tail buffer ahead of the bottleneck, in IP bytes, counting the packet being
    /// serialized; `None` is unbounded. Only meaningful with a `rate_bps`.
    pub queue_bytes: Option<usize>,
    /// One-way propagation delay added after serialization.
    pub delay: Duration,
    /// Extra random delay, uniform in `[0, jitter]`, drawn per datagram. Jitter alone never
    /// reorders: a datagram is never delivered before one sent ahead of it (unless that one was
    /// picked by `reorder`).
    pub jitter: Duration,
    /// Probability (0..=1) that an IP packet or fragment is lost on the wire, independently
    /// of the others (Bernoulli loss).
    pub loss: f64,
    /// Bursty loss on top of `loss`; `None` is off.
    pub burst: Option<GilbertElliott>,
    /// Probability (0..=1) that a datagram is held back by an extra `reorder_delay`, letting
    /// the datagrams behind it overtake.
    pub reorder: f64,
    /// How long a reordered datagram is held back.
    pub reorder_delay: Duration,
    /// Probability (0..=1) that a datagram is delivered twice.
    pub duplicate: f64,
    /// Probability (0..=1) that a delivered copy has one random bit of its payload flipped.
    pub corrupt: f64,
    /// IP MTU in bytes: a UDP datagram of `n` bytes is an IPv4 packet of `n + 28` bytes, and
    /// travels as several fragments when that exceeds the MTU.
    pub mtu: usize,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            rate_bps: None,
            queue_bytes: None,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            loss: 0.0,
            burst: None,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(10),
            duplicate: 0.0,
            corrupt: 0.0,
            mtu: 1500,
        }
    }
}

/// The Gilbert–Elliott two-state burst-loss model, with the parameters of netem's `gemodel`
/// (`p r 1-h 1-k`). Each packet is lost with the probability of the current state, then the
/// state may change. With `loss_good = 0` and `loss_bad = 1` (Gilbert's original model), bursts
/// last `1/r` packets on average and the overall loss rate is `p / (p + r)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GilbertElliott {
    /// Probability (0..=1) per packet of moving from the good state to the bad state.
    pub p: f64,
    /// Probability (0..=1) per packet of moving from the bad state back to the good state.
    pub r: f64,
    /// Probability (0..=1) that a packet is lost while in the bad state (netem's `1-h`).
    pub loss_bad: f64,
    /// Probability (0..=1) that a packet is lost while in the good state (netem's `1-k`).
    pub loss_good: f64,
}

impl Default for GilbertElliott {
    /// Bursts of 4 packets on average, about 3.8% loss overall.
    fn default() -> Self {
        Self {
            p: 0.01,
            r: 0.25,
            loss_bad: 1.0,
            loss_good: 0.0,
        }
    }
}

/// A [`LinkConfig`] that cannot describe a link.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ConfigError {
    /// A probability outside 0..=1 (or NaN).
    #[error("{name} must be a probability between 0 and 1 (0% to 100%), got {value}")]
    Probability {
        /// The field, as named in a link spec.
        name: &'static str,
        /// The rejected value.
        value: f64,
    },
    /// An MTU IPv4 cannot have.
    #[error("mtu must be between {MIN_MTU} and {MAX_MTU} bytes (IPv4), got {0}")]
    Mtu(usize),
    /// `rate_bps` of zero.
    #[error("rate must be more than 0 bit/s; leave it out (or write rate=none) for no limit")]
    ZeroRate,
    /// `queue_bytes` of zero.
    #[error("queue must hold at least 1 byte; leave it out (or write queue=none) for no limit")]
    ZeroQueue,
    /// A delay longer than [`MAX_DELAY`].
    #[error("{name} of {value:?} is too long; the most a link accepts is {MAX_DELAY:?}")]
    DelayTooLong {
        /// The field, as named in a link spec.
        name: &'static str,
        /// The rejected value.
        value: Duration,
    },
}

impl LinkConfig {
    /// Checks that every field is in range; [`Link::new`](crate::Link::new) calls this.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut probabilities = vec![
            ("loss", self.loss),
            ("reorder", self.reorder),
            ("duplicate", self.duplicate),
            ("corrupt", self.corrupt),
        ];
        if let Some(ge) = &self.burst {
            probabilities.extend([
                ("burst p", ge.p),
                ("burst r", ge.r),
                ("burst bad-state loss", ge.loss_bad),
                ("burst good-state loss", ge.loss_good),
            ]);
        }
        for (name, value) in probabilities {
            if !(0.0..=1.0).contains(&value) {
                return Err(ConfigError::Probability { name, value });
            }
        }
        for (name, value) in [
            ("delay", self.delay),
            ("jitter", self.jitter),
            ("reorder_delay", self.reorder_delay),
        ] {
            if value > MAX_DELAY {
                return Err(ConfigError::DelayTooLong { name, value });
            }
        }
        if !(MIN_MTU..=MAX_MTU).contains(&self.mtu) {
            return Err(ConfigError::Mtu(self.mtu));
        }
        if self.rate_bps == Some(0) {
            return Err(ConfigError::ZeroRate);
        }
        if self.queue_bytes == Some(0) {
            return Err(ConfigError::ZeroQueue);
        }
        Ok(())
    }

    /// The bandwidth-delay product of this link for its own round trip (`2 × delay`), bytes;
    /// `None` without a rate.
    pub fn bdp_bytes(&self) -> Option<usize> {
        self.rate_bps
            .map(|rate| bdp_bytes(rate, self.delay.saturating_mul(2)))
    }
}

/// Bandwidth-delay product: how many bytes are in flight on a path of `rate_bps` bits/s and
/// round-trip time `rtt` when it is kept exactly full. Saturates instead of overflowing.
pub fn bdp_bytes(rate_bps: u64, rtt: Duration) -> usize {
    let bits = u128::from(rate_bps).saturating_mul(rtt.as_nanos()) / 1_000_000_000;
    usize::try_from(bits / 8).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bdp_of_100mbit_50ms_is_625k() {
        assert_eq!(bdp_bytes(100_000_000, Duration::from_millis(50)), 625_000);
        assert_eq!(bdp_bytes(u64::MAX, Duration::MAX), usize::MAX);
    }

    #[test]
    fn validation_rejects_out_of_range() {
        let bad = |f: fn(&mut LinkConfig)| {
            let mut c = LinkConfig::default();
            f(&mut c);
            c.validate().unwrap_err()
        };
        assert!(LinkConfig::default().validate().is_ok());
        assert_eq!(bad(|c| c.mtu = 67), ConfigError::Mtu(67));
        assert_eq!(bad(|c| c.rate_bps = Some(0)), ConfigError::ZeroRate);
        assert_eq!(bad(|c| c.queue_bytes = Some(0)), ConfigError::ZeroQueue);
        assert!(matches!(
            bad(|c| c.loss = f64::NAN),
            ConfigError::Probability { name: "loss", .. }
        ));
        assert!(matches!(
            bad(|c| c.duplicate = 1.5),
            ConfigError::Probability { .. }
        ));
        assert!(matches!(
            bad(|c| c.burst = Some(GilbertElliott {
                r: -0.1,
                ..Default::default()
            })),
            ConfigError::Probability {
                name: "burst r",
                ..
            }
        ));
        assert!(matches!(
            bad(|c| c.jitter = Duration::MAX),
            ConfigError::DelayTooLong { .. }
        ));
    }
}
