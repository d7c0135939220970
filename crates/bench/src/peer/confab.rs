//! confab's own transfer protocol: the rudp engine on a real UDP socket through its tokio
//! driver (rudp-tokio: own I/O thread, GSO/GRO, `recvmmsg`), exactly as the client and server
//! use it, minus the control channel (the bench hands out the transfer id and key itself).
//!
//! The same code runs the `saw` peer with `rudp::Config::stop_and_wait()`: the project's
//! reference for the scheme confab replaces (2048-byte datagrams, one in flight, an ACK per
//! datagram, a fixed 1 s resend timer) on the same driver, so the comparison isolates the
//! protocol. On an emulated link its datagrams shrink to what the MTU carries (1472 bytes at
//! 1500): our sockets set don't-fragment, as QUIC's do, so a 2048-byte datagram would not
//! leave the host; the student project's sockets let the kernel fragment them instead.
//!
//! The transfer is an upload: the sender is the rudp client (it speaks first), the receiver
//! the server side, which answers whatever address authenticates.

use super::{Peer, ReceiveCtx, Received, SendCtx, Sent};
use crate::content::{CheckingSink, ContentSource};
use anyhow::Context;
use rudp::{Config, RangeSet, Side, TransferId, TransferParams};
use rudp_tokio::{Endpoint, EndpointConfig, Role, TransferSpec};
use std::net::SocketAddr;
use std::sync::Arc;

/// Transfer id and key of the bench's one transfer (on the control channel in real use).
const TRANSFER_ID: TransferId = TransferId(0xBE7C);
const KEY: [u8; 32] = *b"confab-bench/loopback-fixed-key!";

/// The confab peer with a given engine configuration.
pub(crate) struct Confab {
    config: Arc<Config>,
}

impl Confab {
    /// The engine's default configuration: what `confab get`/`put` use.
    pub(crate) fn default_config() -> Self {
        Self {
            config: Arc::new(Config::default()),
        }
    }

    /// The stop-and-wait reference mode.
    pub(crate) fn stop_and_wait() -> Self {
        Self {
            config: Arc::new(Config::stop_and_wait()),
        }
    }

    fn spec(&self, size: u64, side: Side, role: Role, max_datagram: Option<u16>) -> TransferSpec {
        let params = TransferParams {
            transfer_id: TRANSFER_ID,
            key: KEY,
            size,
        };
        let config = match max_datagram {
            Some(limit) if limit < self.config.max_datagram_size => Arc::new(Config {
                max_datagram_size: limit,
                ..(*self.config).clone()
            }),
            _ => self.config.clone(),
        };
        TransferSpec {
            config,
            ..TransferSpec::new(params, side, role)
        }
    }
}

impl Peer for Confab {
    async fn receive(&self, ctx: &mut ReceiveCtx) -> anyhow::Result<Received> {
        let addr = SocketAddr::new(ctx.bind, 0);
        let endpoint = Endpoint::bind(addr, EndpointConfig::default())?;
        let sink = CheckingSink::new(ctx.verified.clone());
        let role = Role::Receive {
            sink: Box::new(sink),
            have: RangeSet::new(),
        };
        // Registered before the sender hears where to send: its first datagram must find it.
        let mut transfer =
            endpoint.start(self.spec(ctx.size, Side::Server, role, ctx.max_datagram))?;
        ctx.announce(endpoint.local_addr(), None);
        transfer.finished().await.context("receiving")?;
        let wire = endpoint.stats().bytes_sent;
        Ok(Received {
            wire_bytes_sent: Some(wire),
            keep_alive: Box::new(endpoint),
        })
    }

    async fn send(&self, ctx: &SendCtx) -> anyhow::Result<Sent> {
        let endpoint = Endpoint::bind(SocketAddr::new(ctx.bind, 0), EndpointConfig::default())?;
        let side = Side::Client {
            server: ctx.target.addr,
        };
        let role = Role::Send(Box::new(ContentSource));
        let mut transfer = endpoint.start(self.spec(ctx.size, side, role, ctx.max_datagram))?;
        transfer.finished().await.context("sending")?;
        Ok(Sent {
            wire_bytes_sent: Some(endpoint.stats().bytes_sent),
        })
    }
}
