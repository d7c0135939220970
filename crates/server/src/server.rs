//! The accept loop and graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, broadcast, mpsc, oneshot};
use tracing::{info, warn};

use crate::files::FileService;
use crate::hub::{Command, Hub};
use crate::session::Session;
use crate::shutdown::Shutdown;
use crate::store::Store;
use crate::{Config, Error};

/// Commands that may wait for the hub before sessions have to wait too.
const HUB_QUEUE: usize = 4096;

/// Serves `listener` until `shutdown` completes, then tells every client, waits for every
/// session to end and for the store to be flushed and closed.
///
/// Opening the store happens first, so a bad data directory is an error here rather than a
/// failure on the first message.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let store = Store::open(&config.data_dir)?;
    let (hub_tx, hub_rx) = mpsc::channel(HUB_QUEUE);
    let tcp_addr = listener.local_addr().map_err(|source| Error::Io {
        what: "cannot read the listening address",
        source,
    })?;
    let files = FileService::open(
        &config.data_dir,
        config.udp_addr.unwrap_or(tcp_addr),
        tcp_addr.port(),
        config.upload_grace,
        tokio::runtime::Handle::current(),
        hub_tx.downgrade(),
    )?;
    let hub = Hub::new(store, files, &config)?;
    let (hub_done_tx, hub_done_rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("confab-hub".into())
        .spawn(move || {
            hub.run(hub_rx);
            let _ = hub_done_tx.send(());
        })
        .map_err(|source| Error::Io {
            what: "cannot start the hub thread",
            source,
        })?;

    let (notify_shutdown, _) = broadcast::channel(1);
    let (shutdown_complete_tx, mut shutdown_complete_rx) = mpsc::channel::<()>(1);
    let config = Arc::new(config);
    let limit = Arc::new(Semaphore::new(config.max_connections));
    let accept = accept_loop(
        &listener,
        &config,
        &limit,
        &hub_tx,
        &notify_shutdown,
        &shutdown_complete_tx,
    );
    tokio::select! {
        () = accept => {}
        () = shutdown => info!("shutting down: telling clients and flushing the store"),
    }
    // Dropping the notice wakes every session; dropping our completion and hub handles means the
    // receivers below return once the last session has finished with them.
    drop(notify_shutdown);
    drop(shutdown_complete_tx);
    drop(hub_tx);
    let _ = shutdown_complete_rx.recv().await;
    let _ = hub_done_rx.await;
    info!("shutdown complete");
    Ok(())
}

/// Accepts forever. Errors such as running out of file descriptors are logged and retried
/// after a pause: one bad moment must not take the server down.
async fn accept_loop(
    listener: &TcpListener,
    config: &Arc<Config>,
    limit: &Arc<Semaphore>,
    hub: &mpsc::Sender<Command>,
    notify_shutdown: &broadcast::Sender<()>,
    shutdown_complete: &mpsc::Sender<()>,
) {
    let mut next_id = 0u64;
    loop {
        // Wait for a free slot before accepting, so excess clients queue in the kernel backlog
        // instead of costing us a task each.
        let Ok(permit) = limit.clone().acquire_owned().await else {
            return;
        };
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                warn!(%err, "accept failed; retrying shortly");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        next_id += 1;
        let id = next_id;
        let config = config.clone();
        let hub = hub.clone();
        let shutdown = Shutdown::new(notify_shutdown.subscribe());
        let complete = shutdown_complete.clone();
        tokio::spawn(async move {
            Session::run(id, stream, peer, config, hub, shutdown).await;
            drop(permit);
            drop(complete);
        });
    }
}
