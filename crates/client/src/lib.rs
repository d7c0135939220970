//! confab's client library: the one place that speaks the control protocol on the client side.
//! The terminal client, the GUI, the tests and the benchmarks all go through it.
//!
//! # Model
//! A session is a [`Client`] handle plus an [`EventStream`]. Behind them one background task
//! owns the TCP connection: it writes requests, reads frames, answers the server's pings, hands
//! each answer to the request that asked for it (matched by `req` number), and turns everything
//! else — messages, `joined` / `left`, disconnects — into [`Event`]s.
//!
//! Requests are `async fn`s that resolve when the server has answered: [`Client::say`] returns
//! once the message is **stored** (the server's `ack`). The message itself comes back on the
//! event stream like everyone else's, so there is one place to display from.
//!
//! With reconnect on (the default), a lost connection — EOF, a socket error, a `bye` for a
//! server shutdown, or silence past [`Timeouts::idle`] — is followed by attempts with
//! exponential backoff and jitter; each logs in again with `since` = the last message id seen,
//! so the messages missed in between arrive exactly once, in id order. Requests made while
//! offline fail at once with [`ClientError::Disconnected`] rather than wait unboundedly.
//!
//! File sharing rides on the same session: [`Client::files`] lists the server's files,
//! [`Client::download`] and [`Client::upload`] set a transfer up on the control channel and
//! move the bytes over confab's reliable UDP ([`rudp`], driven by `rudp-tokio`) from one UDP
//! endpoint per client, bound on first use. Each returns a [`TransferHandle`]: progress
//! ([`TransferProgress`], with the engine's RTT, window and loss figures — for a download also
//! the server's sender's, [`SenderStats`]), cancel, and the [`TransferOutcome`]. Interrupted
//! transfers resume in both directions. Files added by anyone arrive as [`Event::FileAdded`].
//!
//! # Layout
//! - [`client`](Client) — [`Connector`] (connect, then log in; retry another nick on the same
//!   connection) and [`Client`] (say, private, who, history, quit).
//! - `transfers` — [`Client::files`], [`Client::download`], [`Client::upload`],
//!   [`TransferHandle`], [`save_path`] (the safe way from a listed name to a local path).
//! - [`Event`] / [`EventStream`] — what the session reports.
//! - [`ConnectOptions`], [`ReconnectPolicy`], [`Timeouts`] — how to connect.
//! - [`ClientError`] — every failure, worded for the person who will read it.
//! - internals: `driver` (the background task and reconnect; `driver/files.rs` routes the
//!   file-sharing frames), `handshake` (`hello`, `login`, backlog), `conn` (framed socket I/O),
//!   `transfers/task.rs` (one transfer seen through: progress, cancel, verify, verdict).
//!
//! # Where to start
//! [`Client::connect`], then the loop in `driver.rs` (`Driver::serve`); for files,
//! `transfers/mod.rs`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), client::ClientError> {
//! use client::{Client, ConnectOptions, Event};
//! let (client, mut events) = Client::connect(ConnectOptions::new("127.0.0.1:50000", "alice")).await?;
//! client.say("hi all").await?;
//! while let Some(event) = events.recv().await {
//!     if let Event::Message(msg) = event {
//!         println!("<{}> {}", msg.from, msg.text);
//!     }
//! }
//! # Ok(()) }
//! ```

mod client;
mod conn;
mod driver;
mod error;
mod event;
mod handshake;
mod options;
mod transfers;

pub use client::{Ack, Client, Connector};
pub use error::ClientError;
pub use event::{Event, EventStream};
pub use handshake::ServerInfo;
pub use options::{ConnectOptions, ReconnectPolicy, Timeouts};
pub use proto::{ChatMessage, Direction, ErrorCode, FileInfo, SenderStats};

/// A size for people, in binary units: `0 B`, `1452 B` → `1.4 KiB`, `64.0 MiB`, `5.0 GiB`.
/// Shared by every front end so sizes read the same in the terminal and the GUI.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}
pub use transfers::{
    TransferCanceller, TransferHandle, TransferOutcome, TransferProgress, TransferStats, save_path,
};
