//! Counters and estimates a GUI plots and tests assert on.

use std::time::Duration;

/// A snapshot of one connection's counters and estimates ([`Connection::stats`]).
///
/// [`Connection::stats`]: crate::Connection::stats
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Datagrams sent (all packets, including ACK-only and CLOSE).
    pub packets_sent: u64,
    /// Bytes sent on the wire (datagram sizes).
    pub bytes_sent: u64,
    /// Datagrams handed to `handle_datagram`, authenticated or not.
    pub datagrams_received: u64,
    /// Authenticated packets received.
    pub packets_received: u64,
    /// Bytes of authenticated datagrams received.
    pub bytes_received: u64,
    /// ACK frames sent.
    pub acks_sent: u64,
    /// File bytes put into DATA frames, retransmissions included (sender).
    pub data_bytes_sent: u64,
    /// File bytes sent again after a loss (sender).
    pub data_bytes_retransmitted: u64,
    /// Distinct file bytes acknowledged by the receiver (sender).
    pub data_bytes_acked: u64,
    /// File bytes the receiver said it already held (resume), never sent (sender).
    pub bytes_resumed: u64,
    /// Distinct file bytes written to the sink (receiver).
    pub data_bytes_received: u64,
    /// File bytes that arrived again and were ignored (receiver).
    pub data_bytes_duplicate: u64,
    /// Packets declared lost.
    pub packets_lost: u64,
    /// Bytes of packets declared lost (datagram sizes).
    pub bytes_lost: u64,
    /// Packets declared lost that were acknowledged later (RFC 9002 spurious retransmission).
    pub spurious_losses: u64,
    /// Probe timeouts that fired.
    pub ptos: u64,
    /// Datagrams dropped because they did not authenticate (wrong key, corrupted, spoofed,
    /// reflected, or for another transfer).
    pub dropped_auth: u64,
    /// Datagrams too short or of an unknown version.
    pub dropped_malformed: u64,
    /// Datagrams dropped as replays (packet number already seen or below the window).
    pub duplicates: u64,
    /// Times the peer's address changed (NAT rebinding).
    pub path_changes: u64,
    /// Smoothed RTT.
    pub smoothed_rtt: Duration,
    /// Minimum RTT.
    pub min_rtt: Duration,
    /// Latest RTT sample.
    pub latest_rtt: Duration,
    /// Congestion window, bytes.
    pub cwnd: u64,
    /// Pacing rate, bytes per second (0: not paced).
    pub pacing_rate: u64,
    /// Latest delivery-rate sample, bytes per second.
    pub delivery_rate: u64,
    /// The controller's bottleneck-bandwidth estimate, bytes per second (0 if it keeps none).
    pub bandwidth_estimate: u64,
    /// Bytes in flight.
    pub bytes_in_flight: u64,
}
