//! [`Duplex`]: both directions of a path.

use std::time::Instant;

use crate::config::{ConfigError, LinkConfig};
use crate::link::Link;

/// A path between two endpoints, A and B: one [`Link`] per direction, each with its own seed
/// derived from the path's, so the directions draw independent randomness.
#[derive(Debug, Clone)]
pub struct Duplex {
    /// Carries what A sends to B.
    pub a_to_b: Link,
    /// Carries what B sends to A.
    pub b_to_a: Link,
}

impl Duplex {
    /// A path whose directions may differ (e.g. an asymmetric access link).
    pub fn new(a_to_b: LinkConfig, b_to_a: LinkConfig, seed: u64) -> Result<Self, ConfigError> {
        Ok(Self {
            a_to_b: Link::new(a_to_b, splitmix64(seed))?,
            b_to_a: Link::new(b_to_a, splitmix64(seed ^ 0x5851_f42d_4c95_7f2d))?,
        })
    }

    /// A path that behaves the same both ways. A spec's `rtt` is the round trip of such a
    /// path: each direction gets half of it.
    pub fn symmetric(config: LinkConfig, seed: u64) -> Result<Self, ConfigError> {
        Self::new(config.clone(), config, seed)
    }

    /// The earlier of the two directions' next arrivals.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.a_to_b.poll_timeout(), self.b_to_a.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// SplitMix64's finalizer: spreads nearby seeds (0, 1, 2…) far apart.
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
