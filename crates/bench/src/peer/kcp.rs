//! KCP through `tokio_kcp` (the port shadowsocks-rust uses): one stream-mode session in KCP's
//! "fastest" no-delay mode (`nodelay=1, interval=10 ms, resend=2, nc=1`: no congestion
//! window, fast retransmit after two duplicate ACKs) — the way KCP is deployed to fight loss.
//!
//! KCP's windows are counted in segments and default to 256 (about 350 KB); here both are the
//! bench's `--window` (twice the path's BDP) in segments, at least 256, up to KCP's 16-bit
//! limit. Without congestion control (`nc=1`) KCP keeps that whole window in flight, so a
//! window far above the BDP would only overflow the bottleneck queue.

use super::{Peer, ReceiveCtx, Received, SendCtx, Sent, await_confirmation, write_content};
use crate::content::StreamChecker;
use anyhow::{Context, bail};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_kcp::{KcpConfig, KcpListener, KcpNoDelayConfig, KcpStream};

/// Application read and write size, bytes.
const CHUNK: usize = 64 << 10;
/// KCP's MTU (its datagrams' size), bytes: tokio_kcp's default.
const KCP_MTU: usize = 1400;
/// KCP's segment header, bytes.
const KCP_OVERHEAD: usize = 24;
/// Window without a `--window`, segments (4096 × 1376 B ≈ 5.6 MB, beyond loopback's needs).
const DEFAULT_WINDOW: u16 = 4096;
/// The smallest window used, segments (KCP's own default is 256).
const MIN_WINDOW: u16 = 256;

/// The KCP peer.
pub(crate) struct Kcp;

fn config(window: Option<u64>) -> KcpConfig {
    let segments = window.map_or(DEFAULT_WINDOW, |w| {
        let n = w.div_ceil((KCP_MTU - KCP_OVERHEAD) as u64);
        u16::try_from(n).unwrap_or(u16::MAX).max(MIN_WINDOW)
    });
    KcpConfig {
        mtu: KCP_MTU,
        nodelay: KcpNoDelayConfig::fastest(),
        wnd_size: (segments, segments),
        stream: true,
        ..KcpConfig::default()
    }
}

impl Peer for Kcp {
    async fn receive(&self, ctx: &mut ReceiveCtx) -> anyhow::Result<Received> {
        let mut listener = KcpListener::bind(config(ctx.window), SocketAddr::new(ctx.bind, 0))
            .await
            .context("binding the KCP listener")?;
        ctx.announce(listener.local_addr()?, None);
        let (mut stream, _) = listener.accept().await.context("accepting the sender")?;
        let mut checker = StreamChecker::new(ctx.size, ctx.verified.clone());
        let mut buf = vec![0u8; CHUNK];
        while !checker.is_complete() {
            let n = stream
                .read(&mut buf)
                .await
                .context("reading from the sender")?;
            if n == 0 {
                bail!(
                    "the sender went away after {} of {} bytes",
                    checker.offset(),
                    ctx.size
                );
            }
            checker.check(&buf[..n])?;
        }
        // KCP has no end of stream: one byte back tells the sender everything was checked.
        stream.write_all(&[1]).await.context("acknowledging")?;
        stream.flush().await.context("acknowledging")?;
        Ok(Received {
            wire_bytes_sent: None,
            keep_alive: Box::new((listener, stream)),
        })
    }

    async fn send(&self, ctx: &SendCtx) -> anyhow::Result<Sent> {
        let mut stream = KcpStream::connect(&config(ctx.window), ctx.target.addr)
            .await
            .with_context(|| format!("connecting to {}", ctx.target.addr))?;
        write_content(&mut stream, ctx.size, CHUNK).await?;
        stream.flush().await.context("sending")?;
        await_confirmation(&mut stream).await?;
        Ok(Sent::default())
    }
}
