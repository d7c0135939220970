//! Configuration shared by every connection of an endpoint.

use crate::congestion::{BbrConfig, ControllerFactory, NewRenoConfig, StopAndWaitConfig};
use std::sync::Arc;
use std::time::Duration;

/// How lost packets are detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossDetection {
    /// RFC 9002 §6: packet threshold 3, time threshold 9/8 · max(smoothed, latest RTT), probe
    /// timeouts with exponential backoff.
    Rfc9002,
    /// The old scheme: an unacknowledged packet is resent after this fixed time, whatever the
    /// RTT; no thresholds, no backoff.
    FixedTimeout(Duration),
}

/// Endpoint configuration. Build one, wrap it in an [`Arc`], and hand it to every
/// [`Connection`](crate::Connection).
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest datagram written by `poll_transmit`, bytes (header and tag included). Default
    /// 1452: a 1500-byte IPv4 MTU minus IP and UDP headers. Must be at least 1200 unless
    /// stop-and-wait needs otherwise; anything ≥ 256 works.
    pub max_datagram_size: u16,
    /// Builds the congestion controller of each connection.
    pub congestion: Arc<dyn ControllerFactory>,
    /// Loss detection scheme.
    pub loss_detection: LossDetection,
    /// RTT assumed before the first sample (RFC 9002 §6.2.2: 333 ms).
    pub initial_rtt: Duration,
    /// Longest a receiver delays an ACK, unless the sender asks for less (RFC 9000 §13.2.1).
    /// Default 25 ms.
    pub max_ack_delay: Duration,
    /// Ack-eliciting packets a receiver lets arrive before it acknowledges, until the sender
    /// sends ACK_FREQUENCY (RFC 9000 §13.2.2 recommends 2).
    pub ack_eliciting_threshold: u64,
    /// Highest threshold a sender asks its receiver for (it asks for about an eighth of a
    /// window, so a 1 Gbit/s flow does not cause tens of thousands of ACKs per second).
    pub max_ack_eliciting_threshold: u64,
    /// A connection that hears nothing authenticated for this long fails with
    /// [`Error::TimedOut`](crate::Error::TimedOut). Default 10 s.
    pub idle_timeout: Duration,
    /// Receive window: bytes beyond the lowest missing offset a receiver accepts (flow
    /// control). Default 256 MiB: neither end buffers that much (the sink writes in place), and
    /// at 10 % loss on 1 Gbit/s × 200 ms the lowest hole lags the newest byte by ~3 BDP (75 MB).
    pub receive_window: u64,
    /// The pacer's burst, as time at the pacing rate: set it to the driver's timer resolution
    /// (a timer that fires this late must find this much sending allowed). Default 1 ms.
    pub pacing_granularity: Duration,
    /// Most ACK ranges in one ACK frame.
    pub max_ack_ranges: usize,
    /// Most packet-number ranges remembered for ACKs and replay detection; packets below the
    /// oldest are dropped as replays.
    pub max_tracked_ranges: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_datagram_size: 1452,
            congestion: Arc::new(BbrConfig::default()),
            loss_detection: LossDetection::Rfc9002,
            initial_rtt: Duration::from_millis(333),
            max_ack_delay: Duration::from_millis(25),
            ack_eliciting_threshold: 2,
            max_ack_eliciting_threshold: 32,
            idle_timeout: Duration::from_secs(10),
            receive_window: 256 << 20,
            pacing_granularity: Duration::from_millis(1),
            max_ack_ranges: 32,
            max_tracked_ranges: 512,
        }
    }
}

impl Config {
    /// The default: BBR-style congestion control, RFC 9002 loss recovery.
    pub fn bbr() -> Self {
        Self::default()
    }

    /// NewReno (RFC 9002 §7) instead of BBR.
    pub fn new_reno() -> Self {
        Self {
            congestion: Arc::new(NewRenoConfig::default()),
            ..Self::default()
        }
    }

    /// The scheme confab replaces: 2048-byte datagrams (they fragment on a 1500-byte MTU), one
    /// in flight, resent after a fixed 1 s (the old Python client used a fixed socket
    /// timeout; one second is the conventional value for such timers and RFC 6298's minimum
    /// RTO). Every packet is acknowledged immediately.
    pub fn stop_and_wait() -> Self {
        Self {
            max_datagram_size: 2048,
            congestion: Arc::new(StopAndWaitConfig),
            loss_detection: LossDetection::FixedTimeout(Duration::from_secs(1)),
            ack_eliciting_threshold: 1,
            max_ack_eliciting_threshold: 1,
            ..Self::default()
        }
    }
}
