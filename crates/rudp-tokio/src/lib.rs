//! rudp-tokio: the driver that puts confab's [`rudp`] engine on a real UDP socket, and the
//! file-backed sources and sinks transfers read from and write to.
//!
//! # The model
//!
//! An [`Endpoint`] owns one UDP socket and carries any number of transfers on it. Its I/O
//! loop runs on **its own OS thread**, inside a current-thread tokio runtime that belongs to
//! that thread alone. The reason is the file I/O: [`rudp::Source::read_at`] and
//! [`rudp::Sink::write_at`] are synchronous and run inside connection calls, so a `pread` that
//! misses the page cache (or a `pwrite` into a full disk) stalls only this thread, never the
//! application's async runtime. The runtime (rather than blocking sockets) gives the loop
//! immediate wake-ups from both the socket and the application's channels.
//!
//! The application talks to the thread over channels:
//!
//! ```text
//!  app (any runtime)                         endpoint thread (current-thread tokio)
//!  Endpoint::start(spec) --Command::Start-->  Table: TransferId -> rudp::Connection
//!  Transfer::cancel()    --Command::Cancel->     | recvmmsg/GRO -> peek_transfer_id -> handle_datagram
//!  Transfer::progress()  <--watch(Progress)--    | timers -> handle_timeout
//!  Transfer::finished()  <--oneshot(outcome)-    | round-robin poll_transmit -> GSO sendmsg
//!  Endpoint::stats()     <--atomics-----------   | poll_event -> outcome, progress
//! ```
//!
//! Datagrams are routed by the cleartext transfer id ([`rudp::peek_transfer_id`]) before any
//! decryption; unknown ids are dropped and counted ([`EndpointStats`]). Authentication,
//! replay protection and NAT rebinding are the connection's business.
//!
//! Socket I/O is batched: GSO sends up to ~44 datagrams per `sendmsg`, GRO and `recvmmsg`
//! receive many per call (`quinn-udp`); a connection's timers come from its `poll_timeout`,
//! slept precisely on the thread when they are closer than tokio's 1 ms timer resolution; and
//! for [`EndpointConfig::busy_poll`] after traffic the loop polls instead of sleeping, since
//! a thread wake-up costs as much as a loopback round trip.
//!
//! # Layout
//!
//! | module | what |
//! |---|---|
//! | `endpoint` | [`Endpoint`] (the handle), [`EndpointConfig`], [`EndpointStats`], [`EndpointError`] |
//! | `transfer` | [`TransferSpec`], [`Role`], [`Transfer`] (the handle of one transfer), [`Progress`], [`Summary`], [`TransferError`] |
//! | `driver` | the I/O loop: demux, timers, round-robin transmit, events (start reading here) |
//! | `socket` | batched socket I/O (GSO, GRO, `recvmmsg`) through `quinn-udp` |
//! | [`files`] | [`FileSource`](files::FileSource), [`FileSink`](files::FileSink) (`.part`, BLAKE3 while data flows, resume state, atomic rename) |
//! | [`memory`] | in-memory and synthetic (pattern) sources and sinks for tests and benchmarks |
//!
//! # Where to start
//!
//! A download, client side:
//!
//! ```no_run
//! # async fn demo(server: std::net::SocketAddr, params: rudp::TransferParams, hash: [u8; 32]) -> Result<(), Box<dyn std::error::Error>> {
//! use rudp_tokio::{Endpoint, EndpointConfig, Role, TransferSpec, files::FileSink};
//! let endpoint = Endpoint::bind("0.0.0.0:0".parse()?, EndpointConfig::default())?;
//! let (sink, have) = FileSink::resume("report.pdf", params.size, hash)?;
//! let role = Role::Receive { sink: Box::new(sink.clone()), have };
//! let mut transfer = endpoint.start(TransferSpec::new(params, rudp::Side::Client { server }, role))?;
//! let summary = transfer.finished().await?;
//! let path = tokio::task::spawn_blocking(move || sink.finish()).await??;
//! println!("{} bytes in {:?} -> {}", summary.bytes, summary.elapsed, path.display());
//! # Ok(()) }
//! ```

mod driver;
mod endpoint;
pub mod files;
pub mod memory;
mod socket;
mod transfer;

pub use endpoint::{Endpoint, EndpointConfig, EndpointError, EndpointStats};
pub use transfer::{Progress, Role, Summary, Transfer, TransferError, TransferSpec};
