//! Listens for the server's shutdown notice (the mini-redis pattern).
//!
//! The listener holds a `broadcast::Sender`; dropping it tells every session at once. Each
//! session also holds a clone of an `mpsc::Sender` it never uses: when the last one is dropped the
//! listener's receiver returns, which is how it knows every session has finished.

use tokio::sync::broadcast;

/// One session's view of the shutdown notice.
#[derive(Debug)]
pub(crate) struct Shutdown {
    notified: bool,
    notify: broadcast::Receiver<()>,
}

impl Shutdown {
    pub(crate) fn new(notify: broadcast::Receiver<()>) -> Self {
        Self {
            notified: false,
            notify,
        }
    }

    /// Waits for the notice; returns at once if it has already been received.
    /// Cancel-safe, so it can sit in a `select!` loop.
    pub(crate) async fn recv(&mut self) {
        if self.notified {
            return;
        }
        // Either a value or `Closed` (the sender was dropped) means the same thing: stop.
        let _ = self.notify.recv().await;
        self.notified = true;
    }
}
