//! confab's control channel: the typed messages and the frame codec, with no I/O.
//!
//! The control channel is a TCP stream of **frames**: a 4-byte big-endian length, then that many
//! bytes of a JSON object whose `type` field names the message. `PROTOCOL.md` at the repository
//! root is the language-neutral description; this crate is its Rust form, shared by the server and
//! the client so the two can never disagree.
//!
//! # Layout
//! - [`message`]: [`ClientMsg`] (client → server requests) and [`ServerMsg`] (server → client
//!   replies and events), [`ChatMessage`], [`SenderStats`] (a download's sender, as the
//!   server reports it), and the typed [`ErrorCode`]s.
//! - [`codec`]: framing ([`encode_frame`], [`decode_frame`]) and message decoding that tells a
//!   *malformed* message (answer with an error, keep the session) from *undecodable* bytes (close).
//! - [`nick`]: the nickname rules, so a client can check before it asks.
//! - [`file_name`]: what a shared file may be called (a bare name, never a path).
//! - [`hex`]: the wire form of transfer keys and hashes.
//!
//! Start at [`ClientMsg`]: every request a client can make, in the order a session uses them.

pub mod codec;
pub mod file_name;
pub mod hex;
pub mod message;
pub mod nick;

pub use codec::{
    DecodeError, FrameError, MAX_FRAME_BYTES, decode_client, decode_frame, decode_server,
    encode_frame, encode_msg,
};
pub use file_name::{FileNameError, validate_file_name};
pub use message::{ChatMessage, ClientMsg, Direction, ErrorCode, FileInfo, SenderStats, ServerMsg};
pub use nick::{NickError, validate_nick};

/// The control-protocol version this build speaks; sent in `hello` and `welcome`.
pub const PROTOCOL_VERSION: u32 = 1;

/// Longest chat message text the server accepts, in bytes of UTF-8.
///
/// Far below the frame cap so a message always fits in one frame with its envelope.
pub const MAX_TEXT_BYTES: usize = 4096;

/// How many recent messages a client receives on login unless it asks for another number.
pub const DEFAULT_HISTORY: u32 = 100;

/// The one room everyone is in.
pub const LOBBY: &str = "lobby";
