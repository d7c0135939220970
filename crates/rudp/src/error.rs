//! Errors a transfer can end with.

/// Close codes carried in CLOSE frames. Applications may use any other value.
pub mod code {
    /// The transfer finished: every byte delivered and acknowledged.
    pub const DONE: u32 = 0;
    /// The application cancelled the transfer.
    pub const CANCELLED: u32 = 1;
    /// The peer broke the protocol (malformed frame, wrong size, data past the end).
    pub const PROTOCOL_VIOLATION: u32 = 2;
    /// The peer's source or sink failed (disk full, file vanished).
    pub const IO: u32 = 3;
}

/// Why a transfer failed. Reported once through [`Event::Failed`](crate::Event::Failed).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Nothing authenticated arrived from the peer within the idle timeout.
    #[error(
        "the peer went silent: nothing heard within the idle timeout; check the network and retry (the transfer resumes)"
    )]
    TimedOut,
    /// The peer closed the transfer before it completed.
    #[error("the peer closed the transfer (code {code}): {reason}")]
    PeerClosed {
        /// The peer's close code (see [`code`]).
        code: u32,
        /// The peer's reason, lossily decoded as UTF-8.
        reason: String,
    },
    /// The peer sent something the protocol forbids.
    #[error("protocol violation by the peer: {0}")]
    ProtocolViolation(&'static str),
    /// Reading the data to send failed.
    #[error("reading the data to send failed: {0}")]
    Source(#[source] std::io::Error),
    /// Writing received data failed.
    #[error("writing received data failed: {0}")]
    Sink(#[source] std::io::Error),
}

/// A configuration or parameter the connection cannot work with.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// `max_datagram_size` is too small to carry a packet.
    #[error("max_datagram_size {0} is below the minimum of 256 bytes")]
    DatagramTooSmall(u16),
    /// A client connection needs the server's address.
    #[error("a client connection needs the server's address")]
    MissingRemote,
    /// The transfer size is too large to encode (2^62 − 1 bytes at most).
    #[error("transfer size {0} exceeds 2^62 - 1 bytes")]
    SizeTooLarge(u64),
}
