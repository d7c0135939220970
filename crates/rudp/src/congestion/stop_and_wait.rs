//! The reference scheme confab replaces: exactly one packet in flight, no pacing.

use super::{Controller, ControllerFactory};
use crate::rtt::RttEstimator;
use std::time::Instant;

/// Factory for [`StopAndWait`].
#[derive(Debug, Clone, Default)]
pub struct StopAndWaitConfig;

impl ControllerFactory for StopAndWaitConfig {
    fn build(&self, _now: Instant, mtu: u16) -> Box<dyn Controller> {
        Box::new(StopAndWait {
            mtu: u64::from(mtu),
        })
    }
}

/// A window of one datagram.
#[derive(Debug)]
pub struct StopAndWait {
    /// Datagram size, bytes.
    mtu: u64,
}

impl Controller for StopAndWait {
    fn on_congestion_event(&mut self, _: Instant, _: Instant, _: u64, _: bool) {}
    fn window(&self) -> u64 {
        self.mtu
    }
    fn pacing_rate(&self, _: &RttEstimator) -> Option<u64> {
        None
    }
    fn name(&self) -> &'static str {
        "stop-and-wait"
    }
}
