//! rudp: confab's reliable-UDP file-transfer engine, as a sans-IO state machine.
//!
//! # The model
//!
//! One [`Connection`] moves one file (a *transfer*) between a data sender and a data receiver,
//! in the manner of `quinn-proto`: it never touches a socket or a clock. The driver feeds it
//! datagrams ([`Connection::handle_datagram`]) and timer expiries
//! ([`Connection::handle_timeout`]), and drains what it wants to send
//! ([`Connection::poll_transmit`]), when it next wants to be woken
//! ([`Connection::poll_timeout`]) and what the application should know
//! ([`Connection::poll_event`]). Time is an argument; randomness is seeded from the config.
//! That is what lets the tests run thousands of transfers through a simulated network
//! (`netsim`) in virtual time, deterministically.
//!
//! The file itself is abstract: a sender pulls bytes by offset from a [`Source`], a receiver
//! pushes each fresh, authenticated byte range to a [`Sink`]. A receiver built with the ranges
//! it already holds (resume) announces them in its HELLO and the sender never sends them.
//!
//! # Calling contract
//!
//! See [`Connection`]: inputs (`handle_*`, application calls), then `poll_transmit` until
//! `None`, then `poll_timeout`, then `poll_event` until `None`. `now` never goes backwards.
//! The client side always sends the first datagram (so transfers work from behind NAT); the
//! server side answers whatever address authenticated packets come from, and follows it when
//! it changes. A driver routes datagrams to connections with [`peek_transfer_id`] before any
//! decryption.
//!
//! # Example: two connections wired back to back
//!
//! ```
//! use rudp::{Config, Connection, Event, RangeSet, Side, TransferId, TransferParams};
//! use std::sync::Arc;
//! use std::time::Instant;
//!
//! let file: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
//! let params = TransferParams { transfer_id: TransferId(7), key: [42; 32], size: file.len() as u64 };
//! let server_addr = "192.0.2.1:50000".parse().unwrap();
//! let client_addr = "198.51.100.7:40000".parse().unwrap();
//! let config = Arc::new(Config::default());
//! let mut now = Instant::now();
//! // A download: the server sends, the client receives (and speaks first).
//! let mut server = Connection::sender(config.clone(), params.clone(), Side::Server, Box::new(file.clone()), now)?;
//! let mut client = Connection::receiver(
//!     config, params, Side::Client { server: server_addr }, Box::new(Vec::new()), RangeSet::new(), now,
//! )?;
//! let mut buf = [0u8; 1500];
//! while !client.is_drained() || !server.is_drained() {
//!     // Deliver everything each side wants to send (a perfect, instant network)...
//!     while let Some(t) = client.poll_transmit(now, &mut buf) {
//!         server.handle_datagram(now, client_addr, &mut buf[..t.size]);
//!     }
//!     while let Some(t) = server.poll_transmit(now, &mut buf) {
//!         assert_eq!(t.destination, client_addr);
//!         client.handle_datagram(now, server_addr, &mut buf[..t.size]);
//!     }
//!     // ...then jump to the next deadline: virtual time.
//!     let next = [client.poll_timeout(), server.poll_timeout()].into_iter().flatten().min();
//!     if let Some(t) = next { now = now.max(t) }
//!     client.handle_timeout(now);
//!     server.handle_timeout(now);
//!     while let Some(e) = client.poll_event() {
//!         assert!(!matches!(e, Event::Failed(_)), "{e:?}");
//!     }
//! }
//! assert!(client.is_completed() && server.is_completed());
//! assert_eq!(client.ranges().total_len(), 100_000);
//! # Ok::<(), rudp::ConfigError>(())
//! ```
//!
//! # For the driver
//!
//! - **Demux**: one socket, many transfers: route each datagram with [`peek_transfer_id`]
//!   (cleartext, no key needed), drop unknown ids, call `handle_datagram` with the source
//!   address. Authentication, replay protection and NAT rebinding are the connection's job.
//! - **Server side**: build the connection ([`Side::Server`]) when the control channel hands
//!   out the transfer; it stays silent until the client's first packet authenticates.
//! - **Batching**: call `poll_transmit` into consecutive buffer slots; full-size datagrams of
//!   one transfer have equal sizes, which suits GSO.
//! - **Files**: [`Source::read_at`] / [`Sink::write_at`] are positional and synchronous, so a
//!   file-backed implementation is `pread`/`pwrite`. Run the state machines on a thread that
//!   may block on the page cache (or put the file behind a buffer filled elsewhere). Persist
//!   [`Connection::ranges`] of a receiver to resume later.
//! - **Observability**: [`Connection::stats`] (rates, RTT, window, losses) for the GUI.
//! - **Timing**: [`Connection::set_initial_rtt`] with the control channel's RTT.
//!
//! # Layout (start reading at `connection/mod.rs`)
//!
//! | module | what |
//! |---|---|
//! | `connection/` | the state machine: API and timers (`mod.rs`), receive path (`receive.rs`), packet building (`transmit.rs`), loss recovery (`recovery.rs`), sender/receiver data state and the `Source`/`Sink` traits (`roles.rs`) |
//! | [`packet`] | cleartext header, AEAD protection (AES-256-GCM), demux |
//! | `frame` | frame encoding and QUIC varints |
//! | [`ranges`] | `RangeSet`, the compact range structure used everywhere |
//! | [`rtt`] | RTT estimation (RFC 9002 §5) |
//! | `pacing` | token-bucket pacer |
//! | [`congestion`] | the controller trait; BBR (default), NewReno, stop-and-wait |
//! | `timer` | the timer enum |
//! | [`Config`], [`Stats`], [`Error`] | configuration, observability, failures |
//!
//! The wire format is documented in `crates/rudp/PROTOCOL.md`.

mod config;
pub mod congestion;
mod connection;
mod error;
mod frame;
#[cfg(test)]
mod fuzz_tests;
mod pacing;
pub mod packet;
pub mod ranges;
pub mod rtt;
mod stats;
mod timer;

pub use config::{Config, LossDetection};
pub use connection::{Connection, Event, Side, Sink, Source, TransferParams, Transmit};
pub use error::{ConfigError, Error, code};
pub use packet::{TransferId, peek_transfer_id};
pub use ranges::RangeSet;
pub use stats::Stats;
