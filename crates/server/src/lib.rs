//! The confab server: sessions, the lobby, presence and the message history.
//!
//! Shaped like tokio's mini-redis: [`run`] takes a bound listener and a shutdown future, accepts
//! connections under a connection cap, and gives each one a session task; a session's failure is
//! logged in that task and never reaches the listener. Unlike mini-redis there is no shared map
//! behind a lock: one **hub** thread owns presence, routing and the SQLite store, and sessions
//! talk to it over a channel (ergo's "one owner per piece of state", without its locks).
//!
//! ```text
//!  TcpListener ─ accept ─► Session (reader task) ──Command──► Hub thread ── SQLite (WAL)
//!                             │ ▲ replies                      │ fan-out: one encoded frame,
//!                             ▼ │                              ▼ cloned to every queue
//!                          writer task ◄──── bounded queue of frames (per session)
//! ```
//!
//! # Layout
//! - [`server`](crate::run): the accept loop, connection cap, graceful shutdown.
//! - `session`: one connection's state machine (hello → login → chat), validation, rate limit,
//!   ping/idle timeout, and its writer task.
//! - `hub`: presence, routing, group commit to the store, fan-out, slow-client eviction.
//! - `store`: the SQLite schema and queries (messages, the file catalog).
//! - `files`: content-addressed bodies under `files/`, and the rudp endpoint (UDP, same port
//!   number as TCP by default) that uploads and downloads travel through.
//! - `connection`, `shutdown`: frame reading and the shutdown notice.
//!
//! Start reading at [`run`], then `session.rs`, then `hub.rs`.

mod connection;
mod files;
mod hub;
mod server;
mod session;
mod shutdown;
mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use files::{FILES_DIR, FileServiceError};
pub use server::run;
pub use store::{DB_FILE, StoreError};

/// Server settings. [`Config::new`] gives the defaults a newcomer wants.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where state lives: `confab.db` (SQLite) and `files/` (file bodies).
    pub data_dir: PathBuf,
    /// Messages sent to a client on a fresh login unless it asks for another number.
    pub history_on_login: u32,
    /// Most messages sent as catch-up after a login with `since`; the last backlog frame then
    /// says `more` and the client pages on with `history` requests.
    pub catch_up_limit: u32,
    /// Each session's outbound queue, in frames. A client whose queue fills is disconnected.
    pub queue_frames: usize,
    /// Silence after which the server sends `ping`.
    pub ping_interval: Duration,
    /// Silence after which the server gives up on a client and disconnects it.
    pub idle_timeout: Duration,
    /// Most simultaneous connections; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// Largest frame payload accepted, in bytes.
    pub max_frame: usize,
    /// Chat messages a session may send per second, sustained.
    pub rate_per_second: u32,
    /// Chat messages a session may send in one burst.
    pub rate_burst: u32,
    /// Where file transfers listen (UDP). `None`: the TCP listener's address, same port number.
    pub udp_addr: Option<SocketAddr>,
    /// Largest file accepted for upload, bytes; checked before any byte moves.
    pub max_file_size: u64,
    /// How long an interrupted upload's partial data is kept for the uploader to resume.
    pub upload_grace: Duration,
    /// Transfers running at once, server-wide.
    pub max_transfers: usize,
    /// Transfers running at once for one session.
    pub max_transfers_per_session: usize,
}

impl Config {
    /// Defaults, with state under `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            history_on_login: proto::DEFAULT_HISTORY,
            catch_up_limit: 10_000,
            queue_frames: 1024,
            ping_interval: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(45),
            max_connections: 10_000,
            max_frame: proto::MAX_FRAME_BYTES,
            rate_per_second: 20,
            rate_burst: 100,
            udp_addr: None,
            max_file_size: 4 << 30,
            upload_grace: Duration::from_secs(3600),
            max_transfers: 64,
            max_transfers_per_session: 8,
        }
    }
}

/// The server could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The message store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The file service (bodies directory, UDP endpoint) could not start.
    #[error(transparent)]
    Files(#[from] FileServiceError),
    /// An OS resource (thread, socket) failed.
    #[error("{what}: {source}")]
    Io {
        /// What the server was doing.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}
