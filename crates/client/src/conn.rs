//! One TCP connection speaking frames: `read_msg` / `write_msg`, nothing more (the shape of
//! mini-redis's `Connection`).

use std::net::SocketAddr;

use bytes::BytesMut;
use proto::{ClientMsg, MAX_FRAME_BYTES, ServerMsg};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::error::ClientError;

/// A framed connection to the server.
#[derive(Debug)]
pub(crate) struct Conn {
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    /// Bytes read but not yet decoded into frames.
    buf: BytesMut,
    /// The address we reached the server at: file transfers go to its host.
    peer: Option<SocketAddr>,
}

/// Why a frame could not be sent.
#[derive(Debug)]
pub(crate) enum WriteError {
    /// The message does not fit in one frame; nothing was written and the connection is fine.
    TooLarge,
    /// The socket failed; the connection is gone.
    Io(std::io::Error),
}

impl Conn {
    pub(crate) fn new(stream: TcpStream) -> Self {
        // Chat frames are small and latency matters more than packet count.
        let _ = stream.set_nodelay(true);
        let peer = stream.peer_addr().ok();
        let (reader, writer) = stream.into_split();
        Conn {
            reader,
            writer,
            buf: BytesMut::with_capacity(8 * 1024),
            peer,
        }
    }

    /// The server's address as this connection reached it (a relay's, if one is in between).
    pub(crate) fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// Reads the next message. `Ok(None)` means the server closed the connection cleanly.
    ///
    /// Cancel-safe: bytes already read stay in the buffer, so this can sit in a `select!`.
    pub(crate) async fn read_msg(&mut self) -> Result<Option<ServerMsg>, ClientError> {
        loop {
            let frame = proto::decode_frame(&mut self.buf, MAX_FRAME_BYTES)
                .map_err(|e| ClientError::Protocol(e.to_string()))?;
            if let Some(payload) = frame {
                return match proto::decode_server(&payload) {
                    Ok(msg) => Ok(Some(msg)),
                    // A newer server may send messages we do not know yet: skip them rather
                    // than drop a working session.
                    Err(proto::DecodeError::Malformed { reason, .. }) => {
                        tracing::debug!(%reason, "skipping a server message we do not understand");
                        continue;
                    }
                    Err(err) => Err(ClientError::Protocol(err.to_string())),
                };
            }
            if self.reader.read_buf(&mut self.buf).await? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(ClientError::Io(std::io::ErrorKind::UnexpectedEof.into()))
                };
            }
        }
    }

    /// Writes one message as one frame. Not cancel-safe: await it to completion.
    pub(crate) async fn write_msg(&mut self, msg: &ClientMsg) -> Result<(), WriteError> {
        let frame = proto::encode_msg(msg, MAX_FRAME_BYTES).map_err(|_| WriteError::TooLarge)?;
        self.writer.write_all(&frame).await.map_err(WriteError::Io)
    }

    /// Writes one message, treating any failure as a failed connection (for small control
    /// messages that always fit in a frame).
    pub(crate) async fn send(&mut self, msg: &ClientMsg) -> Result<(), ClientError> {
        match self.write_msg(msg).await {
            Ok(()) => Ok(()),
            Err(WriteError::TooLarge) => Err(ClientError::Protocol(
                "a control message did not fit in one frame".into(),
            )),
            Err(WriteError::Io(err)) => Err(ClientError::Io(err)),
        }
    }
}
