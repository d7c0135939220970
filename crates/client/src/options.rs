//! How to connect: address, nick, history, reconnect policy and timeouts.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// Everything [`crate::Client::connect`] needs. Build with [`ConnectOptions::new`] and adjust
/// the public fields; every field has a sensible default.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The server's control address, `host:port` (e.g. `127.0.0.1:50000`).
    pub server: String,
    /// The nickname to log in with.
    pub nick: String,
    /// Reconnect automatically after a lost connection (`None`: a lost connection ends the
    /// session with [`crate::Event::Closed`]).
    pub reconnect: Option<ReconnectPolicy>,
    /// How many recent messages to receive on login (`None`: the server's default, 100;
    /// `Some(0)`: none).
    pub history: Option<u32>,
    /// Client software name and version, sent in `hello` for the server's logs.
    pub client_name: String,
    /// Timeouts for connecting, logging in and answering requests.
    pub timeouts: Timeouts,
    /// Log in as a quiet session, for scripts: unlisted, no join/leave seen by others, no live
    /// events, public history only, and no chat messages (`say`/`private` fail with
    /// `read_only`); files, `who` and `history` work. The nick is not reserved (it labels
    /// uploads), so it may be the nick your own chat session holds.
    pub quiet: bool,
}

impl ConnectOptions {
    /// Options for `nick` at `server`, with reconnect on and default history and timeouts.
    pub fn new(server: impl Into<String>, nick: impl Into<String>) -> Self {
        ConnectOptions {
            server: server.into(),
            nick: nick.into(),
            reconnect: Some(ReconnectPolicy::default()),
            history: None,
            client_name: concat!("confab-client/", env!("CARGO_PKG_VERSION")).into(),
            timeouts: Timeouts::default(),
            quiet: false,
        }
    }
}

/// Timeouts the client applies; the defaults suit a person on a real network, tests shorten them.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Longest wait for the TCP connection and the `hello` → `welcome` handshake.
    pub connect: Duration,
    /// Longest wait for `logged_in` and the login backlog, and for the answer to any request.
    pub request: Duration,
    /// After this long without a frame from the server, the client sends a `ping` of its own.
    pub keepalive: Duration,
    /// After this long without a frame from the server, the connection is considered dead
    /// (a dropped link may never deliver a FIN). Must exceed `keepalive`.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(15),
            // The server pings a silent client every ~15 s, so a healthy link is never quiet for
            // long; our own ping covers a server that stops talking while we talk.
            keepalive: Duration::from_secs(20),
            idle: Duration::from_secs(60),
        }
    }
}

/// Exponential backoff with jitter between reconnect attempts.
///
/// Attempt `n` (from 1) waits `min(initial · 2^(n-1), max)`, scaled by a random factor in
/// `[0.5, 1.0]` so that many clients cut off by one server restart do not all come back in the
/// same millisecond.
#[derive(Debug, Clone, Copy)]
pub struct ReconnectPolicy {
    /// Delay before the first attempt.
    pub initial: Duration,
    /// Longest delay between attempts.
    pub max: Duration,
    /// Give up after this many failed attempts (`None`: never give up).
    pub max_attempts: Option<u32>,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(10),
            max_attempts: None,
        }
    }
}

impl ReconnectPolicy {
    /// The delay before attempt `attempt` (counting from 1), jitter included.
    pub fn delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(30);
        let base = self.initial.saturating_mul(1 << doublings).min(self.max);
        // A fresh std RandomState is seeded from the OS; good enough for jitter, and it keeps
        // a random-number crate out of the client.
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(attempt);
        let unit = (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64;
        base.mul_f64(0.5 + 0.5 * unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        let policy = ReconnectPolicy::default();
        for attempt in 1..40 {
            let base = Duration::from_millis(250)
                .saturating_mul(1 << (attempt - 1).min(30))
                .min(Duration::from_secs(10));
            let d = policy.delay(attempt);
            assert!(
                d >= base / 2 && d <= base,
                "attempt {attempt}: {d:?} vs {base:?}"
            );
        }
    }
}
