//! TCP: forwarded untouched, one upstream connection per client connection.
//!
//! Shaped like mini-redis's listener: an accept loop raced against shutdown, one task per
//! connection, and a connection's error logged in its own task, never reaching the listener.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::report::TcpCounters;

/// How long to wait after an accept error (e.g. out of file descriptors) before trying again,
/// so the loop does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Accepts until `shutdown` flips, then aborts the connections still open.
pub(crate) async fn serve(
    listener: TcpListener,
    target: SocketAddr,
    counters: Arc<TcpCounters>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((client, peer)) => {
                    counters.accepted.fetch_add(1, Ordering::Relaxed);
                    connections.spawn(forward(client, peer, target, counters.clone()));
                }
                Err(error) => {
                    warn!(%error, "TCP accept failed; retrying shortly");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            // Reap finished tasks so the set does not grow with every connection ever made.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    if !connections.is_empty() {
        info!(
            open = connections.len(),
            "relay stopping: closing open TCP connections"
        );
    }
    connections.shutdown().await;
}

/// Copies both ways until each side has closed its half; a half-close is passed on as one.
async fn forward(
    mut client: TcpStream,
    peer: SocketAddr,
    target: SocketAddr,
    counters: Arc<TcpCounters>,
) {
    let result = async {
        let mut server = TcpStream::connect(target).await.map_err(|error| {
            io::Error::new(
                error.kind(),
                format!("cannot connect to target {target}: {error}"),
            )
        })?;
        // The relay must not add Nagle delays of its own: the endpoints chose their settings.
        client.set_nodelay(true)?;
        server.set_nodelay(true)?;
        tokio::io::copy_bidirectional(&mut client, &mut server).await
    }
    .await;
    match result {
        Ok((up, down)) => {
            counters.bytes_up.fetch_add(up, Ordering::Relaxed);
            counters.bytes_down.fetch_add(down, Ordering::Relaxed);
            debug!(%peer, up, down, "TCP connection closed");
        }
        Err(error) => {
            counters.failed.fetch_add(1, Ordering::Relaxed);
            info!(%peer, %error, "TCP connection ended with an error");
        }
    }
}
