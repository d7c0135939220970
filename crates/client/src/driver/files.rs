//! Routing of the file-sharing frames.
//!
//! Listings and transfer offers answer a request by `req`, like chat answers. What follows an
//! offer — `upload_done` once the server verified an upload, or `transfer_failed` — names the
//! transfer instead, and goes to the [`Verdict`] channel registered when the offer was handed
//! out (registered first, so no verdict can arrive before anyone listens for it). A download's
//! `transfer_stats` (its sender's figures, from the server) go the same way, to the watch
//! channel its task reads.

use proto::{ClientMsg, Direction, ServerMsg, validate_file_name};
use tokio::sync::{oneshot, watch};

use super::{Driver, End, Pending, lost};
use crate::conn::Conn;
use crate::error::ClientError;
use crate::event::Event;
use crate::transfers::offer::{Offer, UploadAnswer};

impl Driver {
    /// Handles a file-sharing frame; `Some` when the connection failed.
    pub(super) async fn handle_file_msg(&mut self, conn: &mut Conn, msg: ServerMsg) -> Option<End> {
        match msg {
            ServerMsg::FileList {
                req,
                files: batch,
                done,
            } => match self.take_pending(req) {
                Some(Pending::Files { mut files, reply }) => {
                    files.extend(batch);
                    if done {
                        let _ = reply.send(Ok(files));
                    } else if let Some(req) = req {
                        self.pending.insert(req, Pending::Files { files, reply });
                    }
                }
                other => self.unmatched("file_list", req, other),
            },
            ServerMsg::FileAdded { file } => {
                // A name we could never save under is not worth showing (and a conforming
                // server never lists one).
                match validate_file_name(&file.name) {
                    Ok(()) => self.emit(Event::FileAdded(file)),
                    Err(err) => tracing::warn!(%err, "ignoring a file_added with an unsafe name"),
                }
            }
            ServerMsg::Transfer {
                req,
                transfer,
                direction,
                key,
                udp_port,
                file,
            } => {
                let pending = self.take_pending(req);
                if !matches!(pending, Some(Pending::Download(_) | Pending::Upload(_))) {
                    self.unmatched("transfer", req, pending);
                    return self.cancel_transfer(conn, transfer).await;
                }
                // Routes of transfers whose task has ended are dead weight: drop them first.
                self.verdicts.retain(|_, verdict| !verdict.is_closed());
                self.sender_figures
                    .retain(|_, figures| !figures.is_closed());
                let (verdict_tx, verdict_rx) = oneshot::channel();
                self.verdicts.insert(transfer, verdict_tx);
                let (figures_tx, figures_rx) = watch::channel(None);
                if direction == Direction::Download {
                    self.sender_figures.insert(transfer, figures_tx);
                }
                let offer = Offer {
                    transfer,
                    direction,
                    key,
                    udp_port,
                    file,
                    peer: conn.peer(),
                    verdict: verdict_rx,
                    sender: figures_rx,
                };
                let delivered = match pending {
                    Some(Pending::Download(reply)) => reply.send(Ok(offer)).is_ok(),
                    Some(Pending::Upload(reply)) => {
                        reply.send(Ok(UploadAnswer::Transfer(offer))).is_ok()
                    }
                    _ => false,
                };
                if !delivered {
                    // Whoever asked gave up waiting: tell the server not to wait either.
                    return self.cancel_transfer(conn, transfer).await;
                }
            }
            ServerMsg::UploadDone {
                req,
                transfer,
                file,
            } => {
                if let Some(verdict) = transfer.and_then(|id| self.verdicts.remove(&id)) {
                    let _ = verdict.send(Ok(file));
                    return None;
                }
                match self.take_pending(req) {
                    Some(Pending::Upload(reply)) => {
                        let _ = reply.send(Ok(UploadAnswer::Listed(file)));
                    }
                    other => self.unmatched("upload_done", req, other),
                }
            }
            ServerMsg::TransferStats { transfer, sender } => {
                match self.sender_figures.get(&transfer) {
                    Some(figures) => {
                        // The download's task has ended: nobody will want its figures again.
                        if figures.send(Some(sender)).is_err() {
                            self.sender_figures.remove(&transfer);
                        }
                    }
                    None => tracing::debug!(transfer, "transfer_stats for no download of ours"),
                }
            }
            ServerMsg::TransferFailed {
                transfer,
                code,
                message,
            } => {
                self.sender_figures.remove(&transfer);
                match self.verdicts.remove(&transfer) {
                    Some(verdict) => {
                        let _ = verdict.send(Err(ClientError::TransferFailed { code, message }));
                    }
                    None => {
                        tracing::debug!(transfer, %message, "transfer_failed for no transfer of ours")
                    }
                }
            }
            other => tracing::debug!(?other, "not a file-sharing frame"),
        }
        None
    }

    async fn cancel_transfer(&mut self, conn: &mut Conn, transfer: u64) -> Option<End> {
        self.verdicts.remove(&transfer);
        self.sender_figures.remove(&transfer);
        match conn.send(&ClientMsg::Cancel { transfer }).await {
            Ok(()) => None,
            Err(err) => Some(lost(err.to_string())),
        }
    }
}
