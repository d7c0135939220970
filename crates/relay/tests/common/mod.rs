//! Shared test fixtures: a relay in a task, echo servers and sinks on 127.0.0.1:0.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use relay::{Relay, RelayConfig, RelayError, RelayReport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long any single wait may take before a test gives up (a failure, never a pass).
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A relay running in a task; [`RunningRelay::stop`] ends it and returns its report.
pub struct RunningRelay {
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<RelayReport, RelayError>>,
}

impl RunningRelay {
    pub async fn start(config: RelayConfig) -> Self {
        // RUST_LOG=relay=debug shows the relay's log under `cargo test -- --nocapture`.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let relay = Relay::bind(config).await.expect("relay binds");
        let addr = relay.local_addr();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(relay.run(async {
            let _ = stopped.await;
        }));
        Self { addr, stop, task }
    }

    pub async fn stop(self) -> RelayReport {
        let _ = self.stop.send(());
        tokio::time::timeout(PATIENCE, self.task)
            .await
            .expect("relay stops promptly")
            .expect("relay task joins")
            .expect("relay ran without error")
    }
}

/// A config relaying from 127.0.0.1:0 to `target`, with `spec` both ways.
pub fn config(target: SocketAddr, spec: &str) -> RelayConfig {
    RelayConfig::new(local0(), target)
        .with_link(spec.parse().expect("valid link spec"))
        .with_seed(7)
}

pub fn local0() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A UDP socket on 127.0.0.1:0 with a large receive buffer, so a test's bursts are never
/// dropped by the kernel.
pub async fn udp_socket() -> UdpSocket {
    let socket = UdpSocket::bind(local0()).await.unwrap();
    let _ = socket2::SockRef::from(&socket).set_recv_buffer_size(4 << 20);
    socket
}

/// A UDP echo server; remembers every source address it has seen.
pub struct UdpEcho {
    pub addr: SocketAddr,
    pub peers: Arc<Mutex<HashSet<SocketAddr>>>,
    task: JoinHandle<()>,
}

impl UdpEcho {
    pub async fn start() -> Self {
        let socket = udp_socket().await;
        let addr = socket.local_addr().unwrap();
        let peers = Arc::new(Mutex::new(HashSet::new()));
        let seen = peers.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            while let Ok((n, from)) = socket.recv_from(&mut buf).await {
                seen.lock().unwrap().insert(from);
                let _ = socket.send_to(&buf[..n], from).await;
            }
        });
        Self { addr, peers, task }
    }

    pub fn peer_count(&self) -> usize {
        self.peers.lock().unwrap().len()
    }
}

impl Drop for UdpEcho {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A TCP echo server: echoes each connection until the client half-closes, then closes its own
/// half.
pub async fn tcp_echo() -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind(local0()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut reader, mut writer) = stream.split();
                if tokio::io::copy(&mut reader, &mut writer).await.is_ok() {
                    let _ = writer.shutdown().await;
                }
            });
        }
    });
    (addr, task)
}

/// Receives one datagram, failing the test after [`PATIENCE`].
pub async fn recv(socket: &UdpSocket) -> Vec<u8> {
    let mut buf = vec![0u8; 65536];
    let n = tokio::time::timeout(PATIENCE, socket.recv(&mut buf))
        .await
        .expect("a datagram arrives in time")
        .unwrap();
    buf.truncate(n);
    buf
}

/// Reads a TCP stream to its end.
pub async fn read_all(stream: &mut (impl AsyncReadExt + Unpin)) -> Vec<u8> {
    let mut out = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut out))
        .await
        .expect("stream ends in time")
        .unwrap();
    out
}
