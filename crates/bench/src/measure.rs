//! The two clocks a run is measured with: CPU time of this process (`getrusage`) and the
//! system-wide monotonic clock, which both side processes share, so the receiver's end and
//! the sender's start can be subtracted across processes.

use nix::sys::resource::{UsageWho, getrusage};
use nix::time::{ClockId, clock_gettime};

/// CPU time consumed so far by this process, all threads (live and exited) together.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct CpuTime {
    /// User-mode CPU, seconds.
    pub(crate) user_s: f64,
    /// Kernel-mode CPU (system calls, and on loopback part of the network stack), seconds.
    pub(crate) sys_s: f64,
}

impl CpuTime {
    /// `getrusage(RUSAGE_SELF)` now. Every side runs in its own process, so this is exactly
    /// that side's cost (its async runtime, any I/O threads such as rudp-tokio's, its crypto).
    pub(crate) fn now() -> Self {
        match getrusage(UsageWho::RUSAGE_SELF) {
            Ok(u) => {
                let secs =
                    |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
                Self {
                    user_s: secs(u.user_time()),
                    sys_s: secs(u.system_time()),
                }
            }
            Err(_) => Self::default(),
        }
    }

    /// CPU used since `earlier`.
    pub(crate) fn since(self, earlier: CpuTime) -> CpuTime {
        CpuTime {
            user_s: self.user_s - earlier.user_s,
            sys_s: self.sys_s - earlier.sys_s,
        }
    }

    /// User + system, seconds.
    pub(crate) fn total_s(self) -> f64 {
        self.user_s + self.sys_s
    }
}

/// `CLOCK_MONOTONIC` in nanoseconds: comparable between processes of this machine.
pub(crate) fn monotonic_ns() -> u64 {
    clock_gettime(ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}
