//! Congestion control behind a trait, built by a factory that lives in the [`Config`].
//!
//! The connection tells its controller about every packet sent, every packet acknowledged and
//! every congestion event, then asks it for a window (bytes in flight allowed) and a pacing
//! rate. Three controllers ship:
//!
//! - [`Bbr`] (default): model-based after the BBR draft (draft-cheng-iccrg-bbr-congestion-control);
//!   random loss is not congestion.
//! - [`NewReno`]: RFC 9002 §7, the reference loss-based controller.
//! - [`StopAndWait`]: one packet in flight, to reproduce the system confab replaces.
//!
//! [`Config`]: crate::Config

mod bbr;
mod new_reno;
mod stop_and_wait;

pub use bbr::{Bbr, BbrConfig};
pub use new_reno::{NewReno, NewRenoConfig};
pub use stop_and_wait::{StopAndWait, StopAndWaitConfig};

use crate::rtt::RttEstimator;
use std::fmt::Debug;
use std::time::{Duration, Instant};

/// A delivery-rate sample (draft-cheng-iccrg-delivery-rate-estimation §3.3), taken from the
/// most recently sent packet acknowledged by one ACK.
#[derive(Clone, Copy, Debug)]
pub struct RateSample {
    /// Bytes delivered over `interval`.
    pub delivered: u64,
    /// The sampling interval: the longer of the send and the ack elapsed times.
    pub interval: Duration,
    /// `delivered / interval`, bytes per second.
    pub delivery_rate: u64,
    /// Connection-wide delivered count (bytes) when the sampled packet was sent.
    pub prior_delivered: u64,
    /// Whether the sender was application-limited when the sampled packet left: such a sample
    /// understates the path and only counts if it raises the estimate.
    pub is_app_limited: bool,
}

/// Everything one ACK frame taught the sender, handed to [`Controller::on_ack`] after the
/// per-packet calls.
#[derive(Clone, Copy, Debug)]
pub struct AckSample {
    /// Connection-wide bytes delivered (acknowledged) so far, including this ACK.
    pub delivered: u64,
    /// Bytes newly acknowledged by this ACK.
    pub newly_acked: u64,
    /// Bytes newly declared lost while processing this ACK.
    pub newly_lost: u64,
    /// Bytes in flight after processing this ACK.
    pub in_flight: u64,
    /// The delivery-rate sample, if this ACK produced a valid one.
    pub rate: Option<RateSample>,
    /// Send time of the largest newly acknowledged packet.
    pub largest_acked_sent: Instant,
}

/// A congestion controller. Units: bytes and bytes per second.
pub trait Controller: Send + Debug {
    /// A packet of `bytes` that counts in flight left; `in_flight` includes it.
    fn on_sent(&mut self, now: Instant, bytes: u64, in_flight: u64) {
        let _ = (now, bytes, in_flight);
    }

    /// One in-flight packet, sent at `sent`, was acknowledged.
    fn on_packet_acked(&mut self, now: Instant, sent: Instant, bytes: u64, rtt: &RttEstimator) {
        let _ = (now, sent, bytes, rtt);
    }

    /// The end of one ACK frame's processing, with its aggregate sample.
    fn on_ack(&mut self, now: Instant, sample: &AckSample, rtt: &RttEstimator) {
        let _ = (now, sample, rtt);
    }

    /// Packets were declared lost; the latest of them was sent at `largest_lost_sent`.
    /// `persistent` is RFC 9002 §7.6 persistent congestion.
    fn on_congestion_event(
        &mut self,
        now: Instant,
        largest_lost_sent: Instant,
        lost_bytes: u64,
        persistent: bool,
    );

    /// A packet declared lost was acknowledged after all (RFC 9002 §7.3.2 allows undoing).
    fn on_spurious_loss(&mut self) {}

    /// The sender ran out of data to send while the window had room (app-limited).
    fn on_app_limited(&mut self) {}

    /// Congestion window: bytes that may be in flight.
    fn window(&self) -> u64;

    /// Pacing rate in bytes per second; `None` sends as fast as the window allows.
    fn pacing_rate(&self, rtt: &RttEstimator) -> Option<u64>;

    /// The controller's own bottleneck-bandwidth estimate, bytes per second, if it keeps one.
    fn bandwidth_estimate(&self) -> Option<u64> {
        None
    }

    /// A short name for tables and logs.
    fn name(&self) -> &'static str;
}

/// Builds a fresh controller for each connection.
pub trait ControllerFactory: Send + Sync + Debug {
    /// A controller for a path whose datagrams are `mtu` bytes.
    fn build(&self, now: Instant, mtu: u16) -> Box<dyn Controller>;
}
