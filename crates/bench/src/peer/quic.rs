//! QUIC through quinn: one unidirectional stream carrying the whole file, TLS 1.3 with a
//! self-signed certificate (rcgen) that the receiver hands its sender through the bench, and
//! rustls on the ring provider. Transport settings are quinn's defaults (MTU discovery, GSO);
//! only the controller changes between `quic` (Cubic, quinn's default) and `quic-bbr`. On an
//! emulated link the flow-control windows are raised to the bench's `--window` (twice the
//! path's BDP) where quinn's defaults (1.25 MB per stream) are smaller, so that the
//! congestion controller, not flow control, sets the pace — as it does for TCP's autotuning.

use super::{Peer, ReceiveCtx, Received, SendCtx, Sent};
use crate::content::{StreamChecker, fill};
use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use std::net::SocketAddr;
use std::sync::Arc;

/// Bytes handed to quinn per write (it takes ownership: no copy).
const CHUNK: usize = 1 << 20;
/// quinn's default stream receive window, bytes.
const DEFAULT_STREAM_WINDOW: u64 = 1_250_000;
/// TLS server name in the certificate, and ALPN.
const SERVER_NAME: &str = "confab-bench";

/// The QUIC peer; `bbr` picks quinn's BBR instead of its default Cubic.
pub(crate) struct Quic {
    pub(crate) bbr: bool,
}

impl Quic {
    fn transport(&self, window: Option<u64>) -> Arc<quinn::TransportConfig> {
        let mut transport = quinn::TransportConfig::default();
        if let Some(window) = window.filter(|&w| w > DEFAULT_STREAM_WINDOW) {
            let varint = quinn::VarInt::from_u64(window).unwrap_or(quinn::VarInt::MAX);
            transport
                .stream_receive_window(varint)
                .receive_window(varint)
                .send_window(window);
        }
        if self.bbr {
            transport
                .congestion_controller_factory(Arc::new(quinn::congestion::BbrConfig::default()));
        }
        Arc::new(transport)
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl Peer for Quic {
    async fn receive(&self, ctx: &mut ReceiveCtx) -> anyhow::Result<Received> {
        let certified = rcgen::generate_simple_self_signed(vec![SERVER_NAME.to_owned()])
            .context("generating a self-signed certificate")?;
        let cert = certified.cert.der().clone();
        let key = PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der());
        let mut tls = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key.into())?;
        tls.alpn_protocols = vec![SERVER_NAME.as_bytes().to_vec()];
        let mut server =
            quinn::ServerConfig::with_crypto(Arc::new(QuicServerConfig::try_from(tls)?));
        server.transport_config(self.transport(ctx.window));
        let endpoint = quinn::Endpoint::server(server, SocketAddr::new(ctx.bind, 0))
            .context("binding the QUIC endpoint")?;
        ctx.announce(endpoint.local_addr()?, Some(to_hex(&cert)));

        let incoming = endpoint
            .accept()
            .await
            .ok_or_else(|| anyhow!("the QUIC endpoint closed before the sender connected"))?;
        let connection = incoming.await.context("QUIC handshake")?;
        let mut stream = connection
            .accept_uni()
            .await
            .context("waiting for the sender's stream")?;
        let mut checker = StreamChecker::new(ctx.size, ctx.verified.clone());
        while let Some(chunk) = stream
            .read_chunk(usize::MAX, true)
            .await
            .context("reading the stream")?
        {
            checker.check(&chunk.bytes)?;
        }
        if !checker.is_complete() {
            bail!(
                "the sender finished its stream after {} of {} bytes",
                checker.offset(),
                ctx.size
            );
        }
        // Closing tells the sender everything was checked (it waits for this close).
        connection.close(0u32.into(), b"verified");
        let wire = connection.stats().udp_tx.bytes;
        Ok(Received {
            wire_bytes_sent: Some(wire),
            keep_alive: Box::new((endpoint, connection)),
        })
    }

    async fn send(&self, ctx: &SendCtx) -> anyhow::Result<Sent> {
        let cert = from_hex(ctx.target.extra.as_deref().unwrap_or_default())
            .context("the receiver's certificate")?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(cert))?;
        let mut tls = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![SERVER_NAME.as_bytes().to_vec()];
        let mut client = quinn::ClientConfig::new(Arc::new(QuicClientConfig::try_from(tls)?));
        client.transport_config(self.transport(ctx.window));
        let endpoint = quinn::Endpoint::client(SocketAddr::new(ctx.bind, 0))
            .context("binding the QUIC endpoint")?;
        let connection = endpoint
            .connect_with(client, ctx.target.addr, SERVER_NAME)?
            .await
            .with_context(|| format!("QUIC handshake with {}", ctx.target.addr))?;
        let mut stream = connection.open_uni().await?;
        let mut offset = 0u64;
        while offset < ctx.size {
            let n = (ctx.size - offset).min(CHUNK as u64) as usize;
            let mut buf = vec![0u8; n];
            fill(offset, &mut buf);
            stream
                .write_chunk(Bytes::from(buf))
                .await
                .context("sending")?;
            offset += n as u64;
        }
        stream.finish()?;
        // The receiver closes the connection once it has checked the last byte.
        match connection.closed().await {
            quinn::ConnectionError::ApplicationClosed(_) => {}
            e => return Err(e).context("waiting for the receiver to confirm"),
        }
        let wire = connection.stats().udp_tx.bytes;
        Ok(Sent {
            wire_bytes_sent: Some(wire),
        })
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(s: &str) -> anyhow::Result<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.is_empty() {
        bail!("expected an even, non-empty number of hex digits");
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).context("not hex"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let bytes = [0u8, 1, 0xab, 0xff];
        assert_eq!(to_hex(&bytes), "0001abff");
        assert_eq!(from_hex("0001abff").unwrap(), bytes);
        assert!(from_hex("abc").is_err());
        assert!(from_hex("zz").is_err());
    }
}
