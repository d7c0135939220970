//! The connection's timers.

use std::time::Instant;

/// One timer of a connection; `poll_timeout` reports the earliest armed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum Timer {
    /// Nothing authenticated heard for `idle_timeout` (or the linger after completion): fail
    /// or drain.
    Idle = 0,
    /// Time-threshold loss detection or probe timeout (RFC 9002 §6.2), whichever is armed.
    LossDetection = 1,
    /// A delayed ACK is due (max_ack_delay elapsed).
    Ack = 2,
    /// The pacer will have tokens for the next packet.
    Pacing = 3,
    /// The closing period ends; the connection is drained.
    Close = 4,
}

const COUNT: usize = 5;

/// Deadlines for every [`Timer`].
#[derive(Debug, Default, Clone)]
pub(crate) struct TimerTable {
    at: [Option<Instant>; COUNT],
}

impl TimerTable {
    pub(crate) fn set(&mut self, t: Timer, at: Instant) {
        self.at[t as usize] = Some(at);
    }
    pub(crate) fn stop(&mut self, t: Timer) {
        self.at[t as usize] = None;
    }
    pub(crate) fn get(&self, t: Timer) -> Option<Instant> {
        self.at[t as usize]
    }
    pub(crate) fn next(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }
    /// Clears and returns whether `t` had expired at `now`.
    pub(crate) fn expire(&mut self, t: Timer, now: Instant) -> bool {
        match self.at[t as usize] {
            Some(at) if at <= now => {
                self.at[t as usize] = None;
                true
            }
            _ => false,
        }
    }
}
