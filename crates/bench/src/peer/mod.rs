//! The peers: each protocol the bench compares, behind one contract ([`Peer`]).
//!
//! A peer knows how to be the **receiver** (bind, announce where it listens, check every
//! byte) and the **sender** (connect to the announced address, push `size` bytes of the
//! content). It knows nothing of processes, clocks or time caps: the side harness
//! (`side.rs`) runs one end of one peer in its own process and does all the measuring.
//!
//! Adding a peer: a module here with a type implementing [`Peer`], a
//! [`PeerKind`] variant, and one arm in [`PeerKind::run_receiver`] / [`PeerKind::run_sender`].

mod confab;
mod kcp;
mod quic;
mod tcp;

use crate::content::Verified;
use serde::{Deserialize, Serialize};
use std::any::Any;
use std::net::{IpAddr, SocketAddr};

/// The protocols the bench can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum PeerKind {
    /// confab's reliable UDP (rudp through rudp-tokio), default config (BBR-style).
    Confab,
    /// TCP through tokio, the kernel's default congestion control.
    Tcp,
    /// TCP through tokio with Cubic (`TCP_CONGESTION`), the most common default.
    TcpCubic,
    /// QUIC through quinn, one unidirectional stream, quinn's default controller (Cubic).
    Quic,
    /// QUIC through quinn with quinn's (experimental) BBR controller.
    QuicBbr,
    /// KCP (tokio_kcp) in its fastest no-delay mode, window at least the path's BDP.
    Kcp,
    /// The old stop-and-wait scheme: rudp's reference mode (`rudp::Config::stop_and_wait`).
    Saw,
}

impl PeerKind {
    /// The name used on the command line and in reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            PeerKind::Confab => "confab",
            PeerKind::Tcp => "tcp",
            PeerKind::TcpCubic => "tcp-cubic",
            PeerKind::Quic => "quic",
            PeerKind::QuicBbr => "quic-bbr",
            PeerKind::Kcp => "kcp",
            PeerKind::Saw => "saw",
        }
    }

    /// Runs the receiving end of this peer.
    pub(crate) async fn run_receiver(self, ctx: &mut ReceiveCtx) -> anyhow::Result<Received> {
        match self {
            PeerKind::Confab => confab::Confab::default_config().receive(ctx).await,
            PeerKind::Saw => confab::Confab::stop_and_wait().receive(ctx).await,
            PeerKind::Tcp => tcp::Tcp { congestion: None }.receive(ctx).await,
            PeerKind::TcpCubic => {
                tcp::Tcp {
                    congestion: Some("cubic"),
                }
                .receive(ctx)
                .await
            }
            PeerKind::Quic => quic::Quic { bbr: false }.receive(ctx).await,
            PeerKind::QuicBbr => quic::Quic { bbr: true }.receive(ctx).await,
            PeerKind::Kcp => kcp::Kcp.receive(ctx).await,
        }
    }

    /// Runs the sending end of this peer.
    pub(crate) async fn run_sender(self, ctx: &SendCtx) -> anyhow::Result<Sent> {
        match self {
            PeerKind::Confab => confab::Confab::default_config().send(ctx).await,
            PeerKind::Saw => confab::Confab::stop_and_wait().send(ctx).await,
            PeerKind::Tcp => tcp::Tcp { congestion: None }.send(ctx).await,
            PeerKind::TcpCubic => {
                tcp::Tcp {
                    congestion: Some("cubic"),
                }
                .send(ctx)
                .await
            }
            PeerKind::Quic => quic::Quic { bbr: false }.send(ctx).await,
            PeerKind::QuicBbr => quic::Quic { bbr: true }.send(ctx).await,
            PeerKind::Kcp => kcp::Kcp.send(ctx).await,
        }
    }
}

/// Where a receiver listens, as it announces it to its sender (through the bench parent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Target {
    /// The receiver's socket address.
    pub(crate) addr: SocketAddr,
    /// Anything else the sender needs, peer-specific (QUIC: the receiver's self-signed
    /// certificate, hex DER, for the sender to trust).
    pub(crate) extra: Option<String>,
}

/// What a receiver is given.
pub(crate) struct ReceiveCtx {
    /// Bytes to expect.
    pub(crate) size: u64,
    /// Address to bind (port 0); `127.0.0.1` on loopback, namespace B's address on an
    /// emulated link.
    pub(crate) bind: IpAddr,
    /// Flow-control window to use where the peer needs one set by hand, bytes.
    pub(crate) window: Option<u64>,
    /// The largest UDP payload the path carries unfragmented, bytes, if known.
    pub(crate) max_datagram: Option<u16>,
    /// Count of bytes checked so far: bump it as bytes are verified (the checkers in
    /// `content` do), so a run cut short by time still reports what arrived.
    pub(crate) verified: Verified,
    announce: Option<Box<dyn FnOnce(Target)>>,
}

impl ReceiveCtx {
    /// A context that calls `announce` once the receiver can accept its sender.
    pub(crate) fn new(
        size: u64,
        bind: IpAddr,
        verified: Verified,
        announce: impl FnOnce(Target) + 'static,
    ) -> Self {
        Self {
            size,
            bind,
            window: None,
            max_datagram: None,
            verified,
            announce: Some(Box::new(announce)),
        }
    }

    /// Tells the sender where to connect. Call it once, only when a datagram or connection
    /// from the sender will be accepted (the sender starts right away). Measuring (CPU and the
    /// time cap) starts here.
    pub(crate) fn announce(&mut self, addr: SocketAddr, extra: Option<String>) {
        if let Some(f) = self.announce.take() {
            f(Target { addr, extra });
        }
    }
}

/// What a sender is given.
#[derive(Clone, Debug)]
pub(crate) struct SendCtx {
    /// Bytes to send.
    pub(crate) size: u64,
    /// Address to bind (port 0).
    pub(crate) bind: IpAddr,
    /// Flow-control window to use where the peer needs one set by hand, bytes.
    pub(crate) window: Option<u64>,
    /// The largest UDP payload the path carries unfragmented, bytes, if known.
    pub(crate) max_datagram: Option<u16>,
    /// Where the receiver listens.
    pub(crate) target: Target,
}

/// A receiver's outcome: every byte has arrived and was checked.
pub(crate) struct Received {
    /// UDP/IP payload bytes this end put on the wire (ACKs), where the peer can tell.
    pub(crate) wire_bytes_sent: Option<u64>,
    /// Sockets and endpoints to keep open until the sender is done too (so its last
    /// retransmissions and close get answered); dropped when the parent says so.
    pub(crate) keep_alive: Box<dyn Any>,
}

/// A sender's outcome: the receiver has acknowledged everything.
#[derive(Debug, Default)]
pub(crate) struct Sent {
    /// UDP payload bytes this end put on the wire (data, headers, retransmissions), where
    /// the peer can tell: divided by the size, the protocol's overhead.
    pub(crate) wire_bytes_sent: Option<u64>,
}

/// Writes `size` bytes of the content to a byte stream in `chunk`-sized writes (TCP, KCP).
pub(crate) async fn write_content(
    stream: &mut (impl tokio::io::AsyncWrite + Unpin),
    size: u64,
    chunk: usize,
) -> anyhow::Result<()> {
    use anyhow::Context;
    use tokio::io::AsyncWriteExt;
    let mut buf = vec![0u8; chunk];
    let mut offset = 0u64;
    while offset < size {
        let n = (size - offset).min(chunk as u64) as usize;
        crate::content::fill(offset, &mut buf[..n]);
        stream.write_all(&buf[..n]).await.context("sending")?;
        offset += n as u64;
    }
    Ok(())
}

/// Waits for the receiver's one byte saying every byte was checked: a stream sender's clock
/// (and CPU) stop only then.
pub(crate) async fn await_confirmation(
    stream: &mut (impl tokio::io::AsyncRead + Unpin),
) -> anyhow::Result<()> {
    use anyhow::Context;
    use tokio::io::AsyncReadExt;
    let mut ack = [0u8; 1];
    stream
        .read_exact(&mut ack)
        .await
        .context("waiting for the receiver to confirm")?;
    Ok(())
}

/// One protocol, both ends. Errors say what failed; a wrong byte is an error.
pub(crate) trait Peer {
    /// Binds, [`announce`](ReceiveCtx::announce)s, receives and checks `ctx.size` bytes.
    async fn receive(&self, ctx: &mut ReceiveCtx) -> anyhow::Result<Received>;

    /// Connects to `ctx.target` and sends `ctx.size` bytes of the content; returns once the
    /// receiver has everything (acknowledged, or closed the connection after checking).
    async fn send(&self, ctx: &SendCtx) -> anyhow::Result<Sent>;
}
