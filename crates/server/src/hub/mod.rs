//! The hub: the one owner of presence, routing and the store.
//!
//! It runs on its own OS thread (SQLite calls block) and takes [`Command`]s from every session
//! over one channel, so there are no locks around shared state and every message gets its id
//! and its place in every member's stream in one total order.
//!
//! Each turn of the loop takes a *batch* of commands (whatever queued up, up to a cap) and works
//! in two phases, an outbox pattern:
//! 1. apply each command to the state (presence changes at once; chat messages are inserted in
//!    one open transaction) and record what should be sent as [`Out`] entries;
//! 2. commit, then deliver the outbox in order. Acks and fan-out of stored messages happen only
//!    after the commit succeeded — so nobody ever sees a message that could still be lost — and
//!    become errors to their senders if it failed.
//!
//! Delivery never blocks: every session has a bounded queue, and a session whose queue is full
//! is disconnected (`too_slow`) rather than allowed to stall everyone else or grow memory.
//!
//! File sharing (catalog, upload decisions, transfer bookkeeping) is in `files.rs`.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use proto::{ChatMessage, ErrorCode, ServerMsg, encode_msg, nick::nick_key};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::files::FileService;
use crate::store::Store;

mod files;

/// Identifies one connection for the life of the server.
pub(crate) type SessionId = u64;

/// A session's bounded queue of encoded frames, drained by its writer task.
pub(crate) type Outbound = mpsc::Sender<Bytes>;

/// The history viewer of a quiet session: no nick matches it, so it sees public messages only.
const PUBLIC_ONLY: &str = "";

/// Most commands handled per turn (and so per transaction).
const MAX_BATCH: usize = 256;

/// A request from a session to the hub.
#[derive(Debug)]
pub(crate) enum Command {
    /// Take `nick`; on success the hub queues `logged_in` and the backlog on `out`.
    Login {
        session: SessionId,
        nick: String,
        since: Option<u64>,
        history: u32,
        quiet: bool,
        out: Outbound,
        /// Cancelled if the hub disconnects this session; its writer then says `bye` and closes.
        kick: CancellationToken,
        /// `Ok` once registered; `Err` after the hub queued the error frame on `out`.
        reply: oneshot::Sender<Result<(), ()>>,
    },
    Say {
        session: SessionId,
        req: Option<u64>,
        text: String,
    },
    Private {
        session: SessionId,
        req: Option<u64>,
        to: String,
        text: String,
    },
    Who {
        session: SessionId,
        req: Option<u64>,
    },
    History {
        session: SessionId,
        req: Option<u64>,
        limit: u32,
        since: Option<u64>,
    },
    Files {
        session: SessionId,
        req: Option<u64>,
    },
    Download {
        session: SessionId,
        req: Option<u64>,
        name: String,
    },
    Upload {
        session: SessionId,
        req: Option<u64>,
        name: String,
        size: u64,
        hash: String,
        replace: bool,
    },
    Cancel {
        session: SessionId,
        transfer: u64,
    },
    /// From the file service: a transfer finished (an upload's body is verified and in place).
    TransferEnded {
        session: SessionId,
        transfer: u64,
        ended: crate::files::Ended,
    },
    /// From the file service: the latest figures of a running download's sender, for the
    /// session that owns it.
    TransferStats {
        session: SessionId,
        transfer: u64,
        sender: proto::SenderStats,
    },
    /// The session ended; `reason` goes into the `left` event.
    Logout {
        session: SessionId,
        reason: &'static str,
    },
}

/// One logged-in session.
#[derive(Debug)]
struct Member {
    nick: String,
    /// Unlisted, read-only, gets no broadcasts, holds no nick (see `ClientMsg::Login::quiet`).
    quiet: bool,
    out: Outbound,
    kick: CancellationToken,
}

/// Something to deliver once the batch's transaction is settled.
#[derive(Debug)]
enum Out {
    /// A frame for one session.
    To(SessionId, Bytes),
    /// A frame for one session that may be dropped: it goes only if the session's queue is
    /// at least half free, so it never crowds out, nor disconnects over, what matters.
    Sample(SessionId, Bytes),
    /// A frame for every logged-in session except one.
    All {
        frame: Bytes,
        except: Option<SessionId>,
    },
    /// A message inserted in this batch: ack + fan-out if the commit holds, else an error.
    Stored {
        sender: SessionId,
        req: Option<u64>,
        recipient: Option<SessionId>,
        msg: ChatMessage,
    },
}

/// The hub's state. Lives on the hub thread only.
pub(crate) struct Hub {
    store: Store,
    members: HashMap<SessionId, Member>,
    /// Lowercase nick → session, for case-insensitive uniqueness and private routing.
    by_nick: HashMap<String, SessionId>,
    last_id: u64,
    max_frame: usize,
    catch_up_limit: u32,
    outbox: Vec<Out>,
    in_txn: bool,
    files: FileService,
    /// Running transfers by id.
    transfers: HashMap<u64, files::Active>,
    limits: files::Limits,
}

impl Hub {
    pub(crate) fn new(
        store: Store,
        files: FileService,
        config: &crate::Config,
    ) -> Result<Self, crate::Error> {
        let last_id = store.last_id()?;
        Ok(Self {
            store,
            members: HashMap::new(),
            by_nick: HashMap::new(),
            last_id,
            max_frame: config.max_frame,
            catch_up_limit: config.catch_up_limit,
            files,
            transfers: HashMap::new(),
            limits: files::Limits::from(config),
            outbox: Vec::new(),
            in_txn: false,
        })
    }

    /// Runs until every sender of `rx` is gone (all sessions and the listener ended).
    pub(crate) fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while let Some(first) = rx.blocking_recv() {
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(cmd) => batch.push(cmd),
                    Err(_) => break,
                }
            }
            for cmd in batch.drain(..) {
                self.apply(cmd);
            }
            self.settle();
        }
        self.files.close();
        debug!("hub stopped: all sessions ended, transfers closed");
    }

    fn apply(&mut self, cmd: Command) {
        match cmd {
            Command::Login {
                session,
                nick,
                since,
                history,
                quiet,
                out,
                kick,
                reply,
            } => self.login(session, nick, since, history, quiet, out, kick, reply),
            Command::Say { session, req, text } => self.chat(session, req, None, text),
            Command::Private {
                session,
                req,
                to,
                text,
            } => self.chat(session, req, Some(to), text),
            Command::Who { session, req } => {
                let frame = self.encode(&ServerMsg::Members {
                    req,
                    nicks: self.nicks(),
                });
                self.outbox.push(Out::To(session, frame));
            }
            Command::History {
                session,
                req,
                limit,
                since,
            } => {
                let Some(viewer) = self.members.get(&session).map(|m| {
                    if m.quiet {
                        PUBLIC_ONLY.into()
                    } else {
                        m.nick.clone()
                    }
                }) else {
                    return;
                };
                let found = match since {
                    Some(since) => self.store.since(&viewer, since, limit),
                    None => self.store.recent(&viewer, limit).map(|m| (m, false)),
                };
                match found {
                    Ok((messages, more)) => self.queue_history(session, req, messages, more),
                    Err(err) => self.queue_error(session, req, ErrorCode::Internal, err),
                }
            }
            Command::Files { session, req } => self.list_files(session, req),
            Command::Download { session, req, name } => self.download(session, req, &name),
            Command::Upload {
                session,
                req,
                name,
                size,
                hash,
                replace,
            } => self.upload(session, req, &name, size, &hash, replace),
            Command::Cancel { session, transfer } => self.cancel_transfer(session, transfer),
            Command::TransferEnded {
                session,
                transfer,
                ended,
            } => self.transfer_ended(session, transfer, ended),
            Command::TransferStats {
                session,
                transfer,
                sender,
            } => self.transfer_stats(session, transfer, sender),
            Command::Logout { session, reason } => self.remove(session, reason),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn login(
        &mut self,
        session: SessionId,
        nick: String,
        since: Option<u64>,
        history: u32,
        quiet: bool,
        out: Outbound,
        kick: CancellationToken,
        reply: oneshot::Sender<Result<(), ()>>,
    ) {
        let key = nick_key(&nick);
        // A quiet session holds no nick, so it is never refused one either.
        if !quiet && self.by_nick.contains_key(&key) {
            let frame = self.encode(&ServerMsg::Error {
                req: None,
                code: ErrorCode::NickTaken,
                message: format!("nick '{nick}' is taken by someone online; choose another"),
            });
            // The session is not registered yet, so this goes straight to its queue; it is
            // idle (waiting for our reply), so the queue has room.
            let _ = out.try_send(frame);
            let _ = reply.send(Err(()));
            return;
        }
        // A quiet session claims no identity, so it sees public messages only.
        let viewer = if quiet { PUBLIC_ONLY } else { nick.as_str() };
        let backlog = match since {
            Some(since) => self.store.since(viewer, since, self.catch_up_limit),
            None => self.store.recent(viewer, history).map(|m| (m, false)),
        };
        let backlog = match backlog {
            Ok(found) => found,
            Err(err) => {
                warn!(%err, "cannot read history for login");
                let frame = self.encode(&ServerMsg::Error {
                    req: None,
                    code: ErrorCode::Internal,
                    message: format!("server cannot read its message store ({err}); try again"),
                });
                let _ = out.try_send(frame);
                let _ = reply.send(Err(()));
                return;
            }
        };
        info!(session, %nick, quiet, "logged in");
        if !quiet {
            self.by_nick.insert(key, session);
        }
        self.members.insert(
            session,
            Member {
                nick: nick.clone(),
                quiet,
                out,
                kick,
            },
        );
        let logged_in = self.encode(&ServerMsg::LoggedIn {
            nick: nick.clone(),
            members: self.nicks(),
            last_id: self.last_id,
        });
        self.outbox.push(Out::To(session, logged_in));
        self.queue_history(session, None, backlog.0, backlog.1);
        if !quiet {
            let joined = self.encode(&ServerMsg::Joined { nick });
            self.outbox.push(Out::All {
                frame: joined,
                except: Some(session),
            });
        }
        let _ = reply.send(Ok(()));
    }

    fn chat(&mut self, session: SessionId, req: Option<u64>, to: Option<String>, text: String) {
        let Some(from) = self.members.get(&session).map(|m| m.nick.clone()) else {
            return;
        };
        // A private message goes to someone online now; the recipient's spelling is theirs.
        let (recipient, to) = match to {
            None => (None, None),
            Some(to) => match self.by_nick.get(&nick_key(&to)) {
                Some(&target) => (Some(target), Some(self.members[&target].nick.clone())),
                None => {
                    let frame = self.encode(&ServerMsg::Error {
                        req,
                        code: ErrorCode::UnknownRecipient,
                        message: format!("'{to}' is not online; /who lists who is"),
                    });
                    self.outbox.push(Out::To(session, frame));
                    return;
                }
            },
        };
        if !self.in_txn {
            if let Err(err) = self.store.begin() {
                self.queue_error(session, req, ErrorCode::Internal, err);
                return;
            }
            self.in_txn = true;
        }
        let ts = now_ms();
        match self.store.insert(ts, &from, to.as_deref(), &text) {
            Ok(id) => self.outbox.push(Out::Stored {
                sender: session,
                req,
                recipient,
                msg: ChatMessage {
                    id,
                    ts,
                    from,
                    to,
                    text,
                },
            }),
            Err(err) => self.queue_error(session, req, ErrorCode::Internal, err),
        }
    }

    /// Commits the batch's transaction, then delivers the outbox in order.
    fn settle(&mut self) {
        let mut committed = true;
        if self.in_txn {
            self.in_txn = false;
            if let Err(err) = self.store.commit() {
                warn!(%err, "commit failed; the batch's messages are refused");
                self.store.rollback();
                committed = false;
            }
        }
        let outbox = std::mem::take(&mut self.outbox);
        for out in outbox {
            match out {
                Out::To(session, frame) => self.deliver(session, frame),
                Out::Sample(session, frame) => self.deliver_sample(session, frame),
                Out::All { frame, except } => self.broadcast(&frame, except),
                Out::Stored {
                    sender,
                    req,
                    recipient,
                    msg,
                } if committed => {
                    self.last_id = self.last_id.max(msg.id);
                    let ack = self.encode(&ServerMsg::Ack {
                        req,
                        id: msg.id,
                        ts: msg.ts,
                    });
                    self.deliver(sender, ack);
                    let private = msg.to.is_some();
                    let frame = self.encode(&ServerMsg::Message(msg));
                    match recipient {
                        None if !private => self.broadcast(&frame, None),
                        recipient => {
                            self.deliver(sender, frame.clone());
                            if let Some(target) = recipient.filter(|t| *t != sender) {
                                self.deliver(target, frame);
                            }
                        }
                    }
                }
                Out::Stored { sender, req, .. } => {
                    let frame = self.encode(&ServerMsg::Error {
                        req,
                        code: ErrorCode::Internal,
                        message: "the server could not store your message (disk full or \
                                  failing?); it was not sent, try again later"
                            .into(),
                    });
                    self.deliver(sender, frame);
                }
            }
        }
    }

    fn broadcast(&mut self, frame: &Bytes, except: Option<SessionId>) {
        // Quiet sessions get answers to their own requests, never broadcasts.
        let targets: Vec<SessionId> = self
            .members
            .iter()
            .filter(|(s, m)| Some(**s) != except && !m.quiet)
            .map(|(s, _)| *s)
            .collect();
        for session in targets {
            self.deliver(session, frame.clone());
        }
    }

    /// Queues a frame for one session without ever waiting; a full queue disconnects it.
    fn deliver(&mut self, session: SessionId, frame: Bytes) {
        let Some(member) = self.members.get(&session) else {
            return;
        };
        match member.out.try_send(frame) {
            Ok(()) => {}
            // The writer is gone; its reader will send Logout shortly.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                info!(session, nick = %member.nick, "disconnecting: not reading fast enough");
                member.kick.cancel();
                self.remove(session, "too_slow");
            }
        }
    }

    /// Queues a droppable frame for one session if its queue is at least half free.
    fn deliver_sample(&mut self, session: SessionId, frame: Bytes) {
        let Some(member) = self.members.get(&session) else {
            return;
        };
        if member.out.capacity() * 2 < member.out.max_capacity() {
            debug!(session, "queue filling up; a sample is skipped");
            return;
        }
        // Should the session's own replies have filled it meanwhile, the sample is just lost.
        let _ = member.out.try_send(frame);
    }

    /// Removes a member and tells everyone else.
    fn remove(&mut self, session: SessionId, reason: &'static str) {
        let Some(member) = self.members.remove(&session) else {
            return;
        };
        self.cancel_transfers_of(session);
        if member.quiet {
            debug!(session, nick = %member.nick, reason, "quiet session ended");
            return;
        }
        self.by_nick.remove(&nick_key(&member.nick));
        info!(session, nick = %member.nick, reason, "left");
        if reason == "shutdown" {
            // Everyone is being disconnected: telling each of N members about the other N-1
            // would cost N² frames for nothing.
            return;
        }
        let left = self.encode(&ServerMsg::Left {
            nick: member.nick,
            reason: reason.into(),
        });
        self.broadcast(&left, None);
    }

    fn queue_history(
        &mut self,
        session: SessionId,
        req: Option<u64>,
        messages: Vec<ChatMessage>,
        more: bool,
    ) {
        for frame in history_frames(req, messages, more, self.max_frame) {
            self.outbox.push(Out::To(session, frame));
        }
    }

    fn queue_error(
        &mut self,
        session: SessionId,
        req: Option<u64>,
        code: ErrorCode,
        err: impl std::fmt::Display,
    ) {
        warn!(session, %err, "request failed");
        let frame = self.encode(&ServerMsg::Error {
            req,
            code,
            message: format!("server error: {err}; try again later"),
        });
        self.outbox.push(Out::To(session, frame));
    }

    fn nicks(&self) -> Vec<String> {
        let mut nicks: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.quiet)
            .map(|m| m.nick.clone())
            .collect();
        nicks.sort_by_key(|n| n.to_ascii_lowercase());
        nicks
    }

    fn encode(&self, msg: &ServerMsg) -> Bytes {
        encode_or_placeholder(msg, self.max_frame)
    }
}

/// Encodes a server message. Our own messages fit the cap by construction (texts are capped far
/// below it, history is split by [`history_frames`]); should one ever not, the client gets an
/// error frame instead of a frame it would refuse.
fn encode_or_placeholder(msg: &ServerMsg, max_frame: usize) -> Bytes {
    encode_msg(msg, max_frame).unwrap_or_else(|err| {
        warn!(%err, "outgoing frame over the cap");
        encode_msg(
            &ServerMsg::Error {
                req: None,
                code: ErrorCode::Internal,
                message: "server reply too large to send".into(),
            },
            max_frame,
        )
        .unwrap_or_default()
    })
}

/// Splits messages into `history` frames that each fit in `max_frame`, the last with `done`.
/// An empty list still yields one (empty, done) frame, so the client knows the answer is complete.
/// `more` goes on the last frame: the answer was cut at its limit.
fn history_frames(
    req: Option<u64>,
    messages: Vec<ChatMessage>,
    more: bool,
    max_frame: usize,
) -> Vec<Bytes> {
    chunked_frames(messages, max_frame, |messages, done| ServerMsg::History {
        req,
        messages,
        done,
        more: done && more,
    })
}

/// Splits a long answer over frames that each fit in `max_frame`: `build(items, done)` makes
/// one frame's message, `done` true on the last. An empty list still yields one frame.
fn chunked_frames<T: serde::Serialize>(
    items: Vec<T>,
    max_frame: usize,
    build: impl Fn(Vec<T>, bool) -> ServerMsg,
) -> Vec<Bytes> {
    // Room for the envelope: type, req, flags, brackets.
    let budget = max_frame.saturating_sub(128);
    let mut frames = Vec::new();
    let mut chunk = Vec::new();
    let mut size = 0;
    for item in items {
        let len = serde_json::to_vec(&item).map_or(usize::MAX / 2, |v| v.len());
        if !chunk.is_empty() && size + len + 1 > budget {
            let full = std::mem::take(&mut chunk);
            frames.push(encode_or_placeholder(&build(full, false), max_frame));
            size = 0;
        }
        size += len + 1;
        chunk.push(item);
    }
    frames.push(encode_or_placeholder(&build(chunk, true), max_frame));
    frames
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::{MAX_FRAME_BYTES, MAX_TEXT_BYTES};

    #[test]
    fn history_frames_respect_the_cap() {
        // Control characters escape to six bytes each: the worst case for JSON size.
        let text = "\u{1}".repeat(MAX_TEXT_BYTES);
        let messages: Vec<ChatMessage> = (1..=40)
            .map(|id| ChatMessage {
                id,
                ts: 0,
                from: "a".into(),
                to: None,
                text: text.clone(),
            })
            .collect();
        let frames = history_frames(Some(1), messages, false, MAX_FRAME_BYTES);
        assert!(frames.len() > 1);
        let mut seen = 0;
        for (i, frame) in frames.iter().enumerate() {
            assert!(frame.len() - 4 <= MAX_FRAME_BYTES);
            match proto::decode_server(&frame[4..]).unwrap() {
                ServerMsg::History { messages, done, .. } => {
                    assert_eq!(done, i + 1 == frames.len());
                    seen += messages.len();
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(seen, 40);
    }
}
