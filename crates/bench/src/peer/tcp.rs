//! TCP through tokio: one connection, 1 MiB application buffers, and the kernel's own socket
//! buffer autotuning and default congestion control (`net.ipv4.tcp_congestion_control`), or
//! — the `tcp-cubic` peer — Cubic chosen per socket (`TCP_CONGESTION`), since kernels differ
//! in their default (Cubic on most; BBR on some, this machine's among them).
//!
//! The socket buffers are deliberately not set: `SO_SNDBUF`/`SO_RCVBUF` would switch
//! autotuning off and be capped at `net.core.[rw]mem_max`, while autotuning grows them up to
//! `net.ipv4.tcp_[rw]mem`'s maximum, which is what a tuned TCP application gets.

use super::{Peer, ReceiveCtx, Received, SendCtx, Sent, await_confirmation, write_content};
use crate::content::StreamChecker;
use anyhow::{Context, bail};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// Application read and write size, bytes.
const CHUNK: usize = 1 << 20;

/// The TCP peer: `congestion` names the controller (`cubic`), `None` is the kernel's default.
pub(crate) struct Tcp {
    pub(crate) congestion: Option<&'static str>,
}

impl Tcp {
    fn set_congestion(&self, socket: &impl std::os::fd::AsFd) -> anyhow::Result<()> {
        if let Some(name) = self.congestion {
            nix::sys::socket::setsockopt(
                socket,
                nix::sys::socket::sockopt::TcpCongestion,
                &std::ffi::OsString::from(name),
            )
            .with_context(|| format!("choosing TCP congestion control {name}"))?;
        }
        Ok(())
    }
}

impl Peer for Tcp {
    async fn receive(&self, ctx: &mut ReceiveCtx) -> anyhow::Result<Received> {
        let listener = TcpListener::bind(SocketAddr::new(ctx.bind, 0))
            .await
            .context("binding the TCP listener")?;
        ctx.announce(listener.local_addr()?, None);
        let (mut stream, _) = listener.accept().await.context("accepting the sender")?;
        // The receiver's controller only governs its one-byte confirmation, but both ends
        // alike keeps the run unambiguous.
        self.set_congestion(&stream)?;
        let mut checker = StreamChecker::new(ctx.size, ctx.verified.clone());
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = stream
                .read(&mut buf)
                .await
                .context("reading from the sender")?;
            if n == 0 {
                break;
            }
            checker.check(&buf[..n])?;
        }
        if !checker.is_complete() {
            bail!(
                "the sender closed after {} of {} bytes",
                checker.offset(),
                ctx.size
            );
        }
        // One byte back: the sender's clock (and CPU) stop only once everything was checked.
        stream.write_all(&[1]).await.context("acknowledging")?;
        Ok(Received {
            wire_bytes_sent: None,
            keep_alive: Box::new(stream),
        })
    }

    async fn send(&self, ctx: &SendCtx) -> anyhow::Result<Sent> {
        let socket = if ctx.target.addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .context("creating the TCP socket")?;
        self.set_congestion(&socket)?;
        let mut stream: TcpStream = socket
            .connect(ctx.target.addr)
            .await
            .with_context(|| format!("connecting to {}", ctx.target.addr))?;
        write_content(&mut stream, ctx.size, CHUNK).await?;
        stream.shutdown().await.context("closing the send side")?;
        await_confirmation(&mut stream).await?;
        Ok(Sent::default())
    }
}
