//! Reading frames from a TCP stream (the mini-redis `Connection`, read side).
//!
//! Writes go through the session's writer task, which owns the other half of the socket.

use bytes::{Bytes, BytesMut};
use proto::{FrameError, decode_frame};
use tokio::io::AsyncReadExt;
use tokio::net::tcp::OwnedReadHalf;

/// Why reading stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("connection reset in the middle of a frame")]
    Truncated,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Buffers bytes from the socket and hands out whole frame payloads.
#[derive(Debug)]
pub(crate) struct FrameReader {
    stream: OwnedReadHalf,
    buf: BytesMut,
    max_frame: usize,
}

impl FrameReader {
    pub(crate) fn new(stream: OwnedReadHalf, max_frame: usize) -> Self {
        Self {
            stream,
            buf: BytesMut::with_capacity(4096),
            max_frame,
        }
    }

    /// The next frame's payload; `Ok(None)` when the peer closed cleanly between frames.
    ///
    /// Cancel-safe: bytes already read stay in the buffer, so this can race other futures in
    /// `select!` without losing data.
    pub(crate) async fn read_frame(&mut self) -> Result<Option<Bytes>, ReadError> {
        loop {
            if let Some(payload) = decode_frame(&mut self.buf, self.max_frame)? {
                return Ok(Some(payload));
            }
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(ReadError::Truncated)
                };
            }
        }
    }
}
