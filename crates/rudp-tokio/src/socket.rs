//! The UDP socket with batched I/O: GSO on send and GRO + `recvmmsg` on receive where the
//! kernel has them (through `quinn-udp`), single datagrams otherwise.
//!
//! Sends and receives are direct non-blocking syscalls, not tokio's `try_io`: the I/O loop
//! only yields to the reactor when it has nothing to do, so tokio's readiness flags go stale
//! while it works. When a syscall says "would block", [`Socket::clear_readable`] /
//! [`Socket::clear_writable`] clear the flag so the next `readable().await` really waits (the
//! reactor is edge-triggered, so a datagram arriving after the syscall still wakes it).

use crate::endpoint::{Counters, EndpointConfig};
use quinn_udp::{RecvMeta, UdpSocketState};
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use tokio::io::Interest;

/// Datagrams per `recvmmsg`.
pub(crate) const RECV_BATCH: usize = quinn_udp::BATCH_SIZE;
/// Bytes per receive slot: one GRO super-datagram can hold up to 64 KiB.
pub(crate) const RECV_SLOT: usize = 64 << 10;
/// Largest GSO send, bytes: all segments together must fit one IP packet (64 KiB less the IP
/// and UDP headers).
pub(crate) const MAX_GSO_BYTES: usize = 65_000;

#[derive(Debug)]
pub(crate) struct Socket {
    io: tokio::net::UdpSocket,
    state: UdpSocketState,
    gso: bool,
    /// An IPv6 socket (possibly dual-stack): IPv4 destinations are sent as IPv4-mapped.
    ipv6: bool,
}

impl Socket {
    /// Binds, enlarges the buffers as far as the kernel allows and records what it granted.
    /// Must run inside the runtime that will drive the socket.
    pub(crate) fn bind(
        addr: SocketAddr,
        config: &EndpointConfig,
        counters: &Counters,
    ) -> io::Result<Self> {
        let std_sock = std::net::UdpSocket::bind(addr)?;
        let state = UdpSocketState::new((&std_sock).into())?;
        // The kernel silently caps at rmem_max / wmem_max; failures here are not fatal.
        let _ = state.set_recv_buffer_size((&std_sock).into(), config.socket_buffer);
        let _ = state.set_send_buffer_size((&std_sock).into(), config.socket_buffer);
        let rbuf = state.recv_buffer_size((&std_sock).into()).unwrap_or(0);
        let sbuf = state.send_buffer_size((&std_sock).into()).unwrap_or(0);
        counters.recv_buffer.store(rbuf as u64, Ordering::Relaxed);
        counters.send_buffer.store(sbuf as u64, Ordering::Relaxed);
        counters
            .gro_segments
            .store(state.gro_segments() as u64, Ordering::Relaxed);
        let ipv6 = std_sock.local_addr()?.is_ipv6();
        let socket = Self {
            io: tokio::net::UdpSocket::from_std(std_sock)?,
            state,
            gso: config.gso,
            ipv6,
        };
        counters
            .gso_segments
            .store(socket.max_gso_segments(1452) as u64, Ordering::Relaxed);
        tracing::debug!(
            recv_buffer = rbuf,
            send_buffer = sbuf,
            gso = socket.max_gso_segments(1452),
            gro = socket.state.gro_segments(),
            "socket ready"
        );
        Ok(socket)
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.local_addr()
    }

    /// Most segments of `segment` bytes one send may carry (1 without GSO).
    pub(crate) fn max_gso_segments(&self, segment: usize) -> usize {
        if !self.gso {
            return 1;
        }
        self.state
            .max_gso_segments()
            .min(MAX_GSO_BYTES / segment.max(1))
            .max(1)
    }

    /// One `recvmmsg` into `buf` (`RECV_BATCH` slots of `RECV_SLOT` bytes); returns how many
    /// slots were filled, described by `meta`.
    pub(crate) fn recv(&self, buf: &mut [u8], meta: &mut [RecvMeta]) -> io::Result<usize> {
        let mut chunks = buf.chunks_mut(RECV_SLOT);
        let mut iovs: [IoSliceMut<'_>; RECV_BATCH] = std::array::from_fn(|_| {
            IoSliceMut::new(
                chunks
                    .next()
                    .expect("the receive buffer holds RECV_BATCH slots"),
            )
        });
        self.state.recv((&self.io).into(), &mut iovs, meta)
    }

    /// Sends `contents` to `destination`: one datagram, or with `segment` several of that size
    /// (the last may be shorter) in one GSO call.
    pub(crate) fn send(
        &self,
        destination: SocketAddr,
        contents: &[u8],
        segment: Option<usize>,
    ) -> io::Result<()> {
        let destination = match destination {
            SocketAddr::V4(v4) if self.ipv6 => {
                SocketAddr::new(v4.ip().to_ipv6_mapped().into(), v4.port())
            }
            other => other,
        };
        let transmit = quinn_udp::Transmit {
            destination,
            ecn: None,
            contents,
            segment_size: segment.filter(|&s| s < contents.len()),
            src_ip: None,
        };
        self.state.try_send((&self.io).into(), &transmit)
    }

    /// The source address of a received datagram as the application knows it: IPv4-mapped
    /// IPv6 addresses (from a dual-stack socket) become plain IPv4.
    pub(crate) fn canonical(addr: SocketAddr) -> SocketAddr {
        match addr {
            SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
                Some(v4) => SocketAddr::new(v4.into(), v6.port()),
                None => addr,
            },
            v4 => v4,
        }
    }

    /// After a receive said "would block": make `readable()` wait for the next datagram.
    pub(crate) fn clear_readable(&self) {
        let _ = self.io.try_io(Interest::READABLE, || {
            Err::<(), _>(io::ErrorKind::WouldBlock.into())
        });
    }

    /// After a send said "would block": make `writable()` wait for room.
    pub(crate) fn clear_writable(&self) {
        let _ = self.io.try_io(Interest::WRITABLE, || {
            Err::<(), _>(io::ErrorKind::WouldBlock.into())
        });
    }

    pub(crate) async fn readable(&self) -> io::Result<()> {
        self.io.readable().await
    }

    pub(crate) async fn writable(&self) -> io::Result<()> {
        self.io.writable().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_addresses_become_ipv4() {
        let v4: SocketAddr = "127.0.0.1:5".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:5".parse().unwrap();
        let v6: SocketAddr = "[::1]:5".parse().unwrap();
        assert_eq!(Socket::canonical(mapped), v4);
        assert_eq!(Socket::canonical(v4), v4);
        assert_eq!(Socket::canonical(v6), v6);
    }
}
