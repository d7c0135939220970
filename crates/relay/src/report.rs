//! [`RelayReport`]: what a relay did, printed at the end and logged along the way.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use netsim::{Count, LinkStats};

/// What a relay did, returned by [`Relay::run`](crate::Relay::run). Its `Display` is a short
/// multi-line summary for people.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RelayReport {
    /// How long the relay ran.
    pub elapsed: Duration,
    /// TCP connections forwarded.
    pub tcp: TcpStats,
    /// UDP mappings and delivery troubles.
    pub udp: UdpStats,
    /// The client→server UDP link's counters (every client together).
    pub up: LinkStats,
    /// The server→client UDP link's counters (every client together).
    pub down: LinkStats,
}

/// TCP counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpStats {
    /// Connections accepted from clients.
    pub accepted: u64,
    /// Connections that ended with an error (the target refused, a reset, …).
    pub failed: u64,
    /// Bytes copied client→server by connections that have ended.
    pub bytes_up: u64,
    /// Bytes copied server→client by connections that have ended.
    pub bytes_down: u64,
}

/// UDP counters beyond the links' own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UdpStats {
    /// Client mappings created (one per client source address, again after expiry).
    pub mappings_created: u64,
    /// Mappings removed for being idle.
    pub mappings_expired: u64,
    /// Mappings evicted because the table was full.
    pub mappings_evicted: u64,
    /// The most mappings held at once.
    pub peak_mappings: u64,
    /// Datagrams the link delivered but the relay could not forward: their mapping was gone,
    /// or the socket refused them (its buffer was full, or an error).
    pub forward_failures: u64,
}

/// TCP counters shared between the connection tasks and the periodic stats log.
#[derive(Debug, Default)]
pub(crate) struct TcpCounters {
    pub(crate) accepted: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) bytes_up: AtomicU64,
    pub(crate) bytes_down: AtomicU64,
}

impl TcpCounters {
    pub(crate) fn snapshot(&self) -> TcpStats {
        TcpStats {
            accepted: self.accepted.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            bytes_up: self.bytes_up.load(Ordering::Relaxed),
            bytes_down: self.bytes_down.load(Ordering::Relaxed),
        }
    }
}

impl fmt::Display for RelayReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "relay ran {:.1} s", self.elapsed.as_secs_f64())?;
        let tcp = &self.tcp;
        writeln!(
            f,
            "  TCP: {} connections ({} failed), {} up, {} down",
            tcp.accepted,
            tcp.failed,
            Bytes(tcp.bytes_up),
            Bytes(tcp.bytes_down)
        )?;
        let udp = &self.udp;
        writeln!(
            f,
            "  UDP: {} client mappings ({} expired, {} evicted, at most {} at once), {} not forwardable",
            udp.mappings_created,
            udp.mappings_expired,
            udp.mappings_evicted,
            udp.peak_mappings,
            udp.forward_failures
        )?;
        writeln!(f, "  up   (client→server): {}", DisplayLink(&self.up))?;
        write!(f, "  down (server→client): {}", DisplayLink(&self.down))
    }
}

/// One link's counters on one line.
pub(crate) struct DisplayLink<'a>(pub(crate) &'a LinkStats);

impl fmt::Display for DisplayLink<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        let count = |c: &Count| format!("{} ({})", c.packets, Bytes(c.bytes));
        write!(
            f,
            "offered {}, delivered {}, queue-dropped {}, lost {}, burst-lost {}, \
             duplicated {}, corrupted {}, mean queue {}, max queue {}",
            count(&s.offered),
            count(&s.delivered),
            s.dropped_queue.packets,
            s.lost.packets,
            s.lost_burst.packets,
            s.duplicated.packets,
            s.corrupted.packets,
            Bytes(s.mean_queue_bytes as u64),
            Bytes(s.max_queue_bytes as u64),
        )
    }
}

/// A byte count in B, KiB, MiB or GiB.
struct Bytes(u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0 as f64;
        match self.0 {
            0..1024 => write!(f, "{} B", self.0),
            1024..0x10_0000 => write!(f, "{:.1} KiB", n / 1024.0),
            0x10_0000..0x4000_0000 => write!(f, "{:.1} MiB", n / 1048576.0),
            _ => write!(f, "{:.2} GiB", n / 1073741824.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_pick_a_unit() {
        assert_eq!(Bytes(0).to_string(), "0 B");
        assert_eq!(Bytes(1536).to_string(), "1.5 KiB");
        assert_eq!(Bytes(3 << 20).to_string(), "3.0 MiB");
        assert_eq!(Bytes(5 << 30).to_string(), "5.00 GiB");
    }

    #[test]
    fn report_displays_every_section() {
        let text = RelayReport::default().to_string();
        for part in [
            "TCP:",
            "UDP:",
            "up   (client→server)",
            "down (server→client)",
        ] {
            assert!(text.contains(part), "{text}");
        }
    }
}
