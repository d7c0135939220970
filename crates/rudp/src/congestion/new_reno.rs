//! NewReno as specified by RFC 9002 §7 (slow start, congestion avoidance, one reduction per
//! recovery period, persistent congestion), paced at 1.25 × cwnd / smoothed RTT.

use super::{Controller, ControllerFactory};
use crate::rtt::RttEstimator;
use std::time::Instant;

/// Tunables for [`NewReno`].
#[derive(Debug, Clone)]
pub struct NewRenoConfig {
    /// Initial window, packets (RFC 9002 §7.2: 10).
    pub initial_window_packets: u64,
    /// Minimum window, packets (RFC 9002 §7.2: 2).
    pub minimum_window_packets: u64,
    /// Multiplicative decrease on loss (RFC 9002 §7.3.2 `kLossReductionFactor`: 0.5).
    pub loss_reduction_factor: f64,
}

impl Default for NewRenoConfig {
    fn default() -> Self {
        Self {
            initial_window_packets: 10,
            minimum_window_packets: 2,
            loss_reduction_factor: 0.5,
        }
    }
}

impl ControllerFactory for NewRenoConfig {
    fn build(&self, _now: Instant, mtu: u16) -> Box<dyn Controller> {
        let mtu = u64::from(mtu);
        Box::new(NewReno {
            mtu,
            window: self.initial_window_packets * mtu,
            ssthresh: u64::MAX,
            recovery_start: None,
            bytes_acked: 0,
            config: self.clone(),
        })
    }
}

/// RFC 9002 §7 NewReno.
#[derive(Debug)]
pub struct NewReno {
    /// Maximum datagram size, bytes.
    mtu: u64,
    /// Congestion window, bytes.
    window: u64,
    /// Slow-start threshold, bytes.
    ssthresh: u64,
    /// `congestion_recovery_start_time`: packets sent before it cannot cause another reduction.
    recovery_start: Option<Instant>,
    /// Bytes acknowledged in congestion avoidance since the window last grew, bytes.
    bytes_acked: u64,
    config: NewRenoConfig,
}

impl NewReno {
    fn in_recovery(&self, sent: Instant) -> bool {
        self.recovery_start.is_some_and(|start| sent <= start)
    }
}

impl Controller for NewReno {
    fn on_packet_acked(&mut self, _now: Instant, sent: Instant, bytes: u64, _rtt: &RttEstimator) {
        // RFC 9002 §7.3.2: no growth for packets sent during recovery.
        if self.in_recovery(sent) {
            return;
        }
        if self.window < self.ssthresh {
            // Slow start (§7.3.1).
            self.window += bytes;
        } else {
            // Congestion avoidance (§7.3.3): one datagram per window acknowledged.
            self.bytes_acked += bytes;
            if self.bytes_acked >= self.window {
                self.bytes_acked -= self.window;
                self.window += self.mtu;
            }
        }
    }

    fn on_congestion_event(&mut self, now: Instant, sent: Instant, _lost: u64, persistent: bool) {
        if !self.in_recovery(sent) {
            // §7.3.2: enter recovery, halve.
            self.recovery_start = Some(now);
            self.window = ((self.window as f64 * self.config.loss_reduction_factor) as u64)
                .max(self.config.minimum_window_packets * self.mtu);
            self.ssthresh = self.window;
            self.bytes_acked = 0;
        }
        if persistent {
            // §7.6.2: collapse to the minimum window.
            self.window = self.config.minimum_window_packets * self.mtu;
        }
    }

    fn window(&self) -> u64 {
        self.window
    }

    fn pacing_rate(&self, rtt: &RttEstimator) -> Option<u64> {
        // §7.7: pace at a multiple of cwnd / smoothed_rtt so ACK clocking is not the only limit.
        let srtt = rtt.smoothed().as_secs_f64().max(1e-6);
        Some((1.25 * self.window as f64 / srtt) as u64)
    }

    fn name(&self) -> &'static str {
        "newreno"
    }
}
