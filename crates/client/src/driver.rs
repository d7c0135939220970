//! The background task that owns the connection.
//!
//! One task per session reads frames, writes requests, answers the server's pings, matches each
//! answer to its request by `req` number, and turns everything else into [`Event`]s. When the
//! connection drops it fails the requests in flight, and — if reconnect is on — dials again with
//! backoff and logs in with `since` = the last message id it emitted, so the messages missed in
//! between arrive exactly once.
//!
//! The [`crate::Client`] handles talk to it over a command channel; when every handle is dropped
//! the task says `quit` to the server and ends.
//!
//! File-sharing frames (`file_list`, `transfer`, `upload_done`, `transfer_failed`,
//! `transfer_stats`, `file_added`) are routed in `driver/files.rs`.

mod files;

use std::collections::HashMap;
use std::time::Duration;

use proto::{ChatMessage, ClientMsg, ErrorCode, FileInfo, ServerMsg};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep, sleep_until, timeout};

use crate::client::Ack;
use crate::conn::{Conn, WriteError};
use crate::error::ClientError;
use crate::event::Event;
use crate::handshake::{self, LoginOk};
use crate::options::ConnectOptions;
use crate::transfers::offer::{Offer, SenderFigures, UploadAnswer, Verdict};

/// Longest wait for the server's `bye` after we said `quit`.
const QUIT_GRACE: Duration = Duration::from_secs(5);

/// The answer channel of one request.
type Reply<T> = oneshot::Sender<Result<T, ClientError>>;

/// A request from a [`crate::Client`] handle.
#[derive(Debug)]
pub(crate) enum Command {
    Say {
        text: String,
        reply: Reply<Ack>,
    },
    Private {
        to: String,
        text: String,
        reply: Reply<Ack>,
    },
    Who {
        reply: Reply<Vec<String>>,
    },
    History {
        limit: Option<u32>,
        since: Option<u64>,
        reply: Reply<Vec<ChatMessage>>,
    },
    Ping {
        reply: Reply<Duration>,
    },
    Quit {
        reply: Reply<()>,
    },
    Files {
        reply: Reply<Vec<FileInfo>>,
    },
    Download {
        name: String,
        reply: Reply<Offer>,
    },
    Upload {
        name: String,
        size: u64,
        hash: String,
        replace: bool,
        reply: Reply<UploadAnswer>,
    },
    /// Abandon a transfer; no answer is awaited.
    Cancel {
        transfer: u64,
    },
}

/// A request sent to the server, waiting for its answer.
#[derive(Debug)]
enum Pending {
    Ack(Reply<Ack>),
    Members(Reply<Vec<String>>),
    History {
        messages: Vec<ChatMessage>,
        reply: Reply<Vec<ChatMessage>>,
    },
    Pong {
        sent: Instant,
        reply: Reply<Duration>,
    },
    Files {
        files: Vec<FileInfo>,
        reply: Reply<Vec<FileInfo>>,
    },
    Download(Reply<Offer>),
    Upload(Reply<UploadAnswer>),
}

impl Pending {
    fn fail(self, err: ClientError) {
        // A requester that gave up (timed out, dropped) no longer listens; nothing to do then.
        match self {
            Pending::Ack(reply) => drop(reply.send(Err(err))),
            Pending::Members(reply) => drop(reply.send(Err(err))),
            Pending::History { reply, .. } => drop(reply.send(Err(err))),
            Pending::Pong { reply, .. } => drop(reply.send(Err(err))),
            Pending::Files { reply, .. } => drop(reply.send(Err(err))),
            Pending::Download(reply) => drop(reply.send(Err(err))),
            Pending::Upload(reply) => drop(reply.send(Err(err))),
        }
    }
}

/// Why one connection's service loop ended.
enum End {
    /// We said `quit` (the reply is `None` when the last handle was dropped instead).
    Quit(Option<Reply<()>>),
    /// The connection is gone.
    Lost {
        reason: String,
        code: Option<ErrorCode>,
    },
}

/// The session's state that outlives any one connection.
pub(crate) struct Driver {
    options: ConnectOptions,
    /// The nick as registered (reconnects log in with it again).
    nick: String,
    /// The server's text limit, in bytes, for the error when a text cannot even be framed.
    max_text: usize,
    cmds: mpsc::Receiver<Command>,
    events: mpsc::UnboundedSender<Event>,
    /// The highest message id emitted (or known to predate us); the `since` of a reconnect.
    last_id: u64,
    next_req: u64,
    pending: HashMap<u64, Pending>,
    /// Transfers set up on this connection, by transfer id: where their `upload_done` or
    /// `transfer_failed` goes.
    verdicts: HashMap<u64, Verdict>,
    /// Downloads set up on this connection, by transfer id: where their `transfer_stats` go.
    sender_figures: HashMap<u64, SenderFigures>,
}

impl Driver {
    /// Builds the driver for a fresh login and emits its first events: `LoggedIn` with the
    /// backlog, then whatever arrived live during the login.
    pub(crate) fn start(
        options: ConnectOptions,
        max_text: usize,
        login: LoginOk,
        cmds: mpsc::Receiver<Command>,
        events: mpsc::UnboundedSender<Event>,
    ) -> Self {
        let (history, live): (Vec<_>, Vec<_>) = login
            .messages
            .into_iter()
            .partition(|m| m.id <= login.last_id);
        let mut driver = Driver {
            options,
            nick: login.nick.clone(),
            max_text,
            cmds,
            events,
            // Messages at or below `last_id` predate this session: the backlog holds the ones
            // we asked for, and a reconnect must not fetch the rest.
            last_id: login.last_id.max(history.last().map_or(0, |m| m.id)),
            next_req: 1,
            pending: HashMap::new(),
            verdicts: HashMap::new(),
            sender_figures: HashMap::new(),
        };
        driver.emit(Event::LoggedIn {
            nick: login.nick,
            members: login.members,
            history,
        });
        driver.emit_presence(login.presence);
        for msg in live {
            driver.emit_message(msg);
        }
        driver
    }

    /// Serves `conn`, then reconnects as long as the policy allows. Ends after `Event::Closed`.
    pub(crate) async fn run(mut self, mut conn: Conn) {
        loop {
            match self.serve(&mut conn).await {
                End::Quit(reply) => {
                    drop(conn);
                    self.fail_pending(|| ClientError::Closed);
                    self.emit(Event::Closed {
                        reason: "you quit".into(),
                    });
                    if let Some(reply) = reply {
                        let _ = reply.send(Ok(()));
                    }
                    return;
                }
                End::Lost { reason, code } => {
                    drop(conn);
                    tracing::info!(%reason, ?code, "connection to the server lost");
                    self.fail_pending(|| ClientError::Disconnected {
                        reason: reason.clone(),
                    });
                    self.emit(Event::Disconnected {
                        reason: reason.clone(),
                        code,
                    });
                    // A `bye` for our own mistake (or a version mismatch) would only repeat.
                    let worth_retrying = matches!(
                        code,
                        None | Some(
                            ErrorCode::Shutdown
                                | ErrorCode::TooSlow
                                | ErrorCode::IdleTimeout
                                | ErrorCode::Internal
                        )
                    );
                    if !worth_retrying || self.options.reconnect.is_none() {
                        self.emit(Event::Closed { reason });
                        return;
                    }
                    match self.reconnect().await {
                        Some(new_conn) => conn = new_conn,
                        None => return,
                    }
                }
            }
        }
    }

    /// The service loop for one connection.
    async fn serve(&mut self, conn: &mut Conn) -> End {
        let timeouts = self.options.timeouts;
        let mut last_heard = Instant::now();
        let mut probed = false;
        loop {
            tokio::select! {
                read = conn.read_msg() => match read {
                    Ok(Some(msg)) => {
                        last_heard = Instant::now();
                        probed = false;
                        if let Some(end) = self.handle_msg(conn, msg).await {
                            return end;
                        }
                    }
                    Ok(None) => return lost("the server closed the connection"),
                    Err(err) => return lost(err.to_string()),
                },
                cmd = self.cmds.recv() => match cmd {
                    None => {
                        self.goodbye(conn).await;
                        return End::Quit(None);
                    }
                    Some(Command::Quit { reply }) => {
                        self.goodbye(conn).await;
                        return End::Quit(Some(reply));
                    }
                    Some(cmd) => {
                        if let Err(err) = self.send_request(conn, cmd).await {
                            return lost(err.to_string());
                        }
                    }
                },
                _ = sleep_until(last_heard + timeouts.keepalive), if !probed => {
                    probed = true;
                    let req = self.take_req();
                    if let Err(err) = conn.send(&ClientMsg::Ping { req: Some(req) }).await {
                        return lost(err.to_string());
                    }
                }
                _ = sleep_until(last_heard + timeouts.idle) => {
                    return lost(format!(
                        "no word from the server for {} s",
                        timeouts.idle.as_secs_f64()
                    ));
                }
            }
        }
    }

    /// Handles one frame from the server; `Some` when it ends the connection.
    async fn handle_msg(&mut self, conn: &mut Conn, msg: ServerMsg) -> Option<End> {
        match msg {
            ServerMsg::Message(msg) => self.emit_message(msg),
            msg @ (ServerMsg::Joined { .. } | ServerMsg::Left { .. }) => {
                self.emit_presence(vec![msg]);
            }
            ServerMsg::Ping {} => {
                if let Err(err) = conn.send(&ClientMsg::Pong {}).await {
                    return Some(lost(err.to_string()));
                }
            }
            ServerMsg::Ack { req, id, ts } => match self.take_pending(req) {
                Some(Pending::Ack(reply)) => {
                    let _ = reply.send(Ok(Ack { id, ts }));
                }
                other => self.unmatched("ack", req, other),
            },
            ServerMsg::Members { req, nicks } => match self.take_pending(req) {
                Some(Pending::Members(reply)) => {
                    let _ = reply.send(Ok(nicks));
                }
                other => self.unmatched("members", req, other),
            },
            ServerMsg::History {
                req,
                messages: batch,
                done,
                ..
            } => match self.take_pending(req) {
                Some(Pending::History {
                    mut messages,
                    reply,
                }) => {
                    messages.extend(batch);
                    if done {
                        let _ = reply.send(Ok(messages));
                    } else if let Some(req) = req {
                        self.pending
                            .insert(req, Pending::History { messages, reply });
                    }
                }
                other => self.unmatched("history", req, other),
            },
            ServerMsg::Pong { req } => match self.take_pending(req) {
                Some(Pending::Pong { sent, reply }) => {
                    let _ = reply.send(Ok(sent.elapsed()));
                }
                // Our own keepalive probes have no pending entry.
                None => {}
                other => self.unmatched("pong", req, other),
            },
            ServerMsg::Error { req, code, message } => match self.take_pending(req) {
                Some(pending) => pending.fail(ClientError::from_server(code, message)),
                None => self.emit(Event::Error { code, message }),
            },
            ServerMsg::Bye { code, message } => {
                return Some(End::Lost {
                    reason: message,
                    code: Some(code),
                });
            }
            msg @ (ServerMsg::FileList { .. }
            | ServerMsg::FileAdded { .. }
            | ServerMsg::Transfer { .. }
            | ServerMsg::UploadDone { .. }
            | ServerMsg::TransferFailed { .. }
            | ServerMsg::TransferStats { .. }) => {
                return self.handle_file_msg(conn, msg).await;
            }
            other @ (ServerMsg::Welcome { .. } | ServerMsg::LoggedIn { .. }) => {
                tracing::debug!(?other, "ignoring an unexpected handshake frame");
            }
        }
        None
    }

    fn take_pending(&mut self, req: Option<u64>) -> Option<Pending> {
        req.and_then(|req| self.pending.remove(&req))
    }

    fn unmatched(&mut self, what: &str, req: Option<u64>, pending: Option<Pending>) {
        tracing::debug!(what, ?req, "answer matches no request of that kind");
        if let (Some(req), Some(pending)) = (req, pending) {
            pending.fail(ClientError::Protocol(format!(
                "the server answered request {req} with `{what}`"
            )));
        }
    }

    /// Sends one request. `Err` only when the connection failed.
    async fn send_request(&mut self, conn: &mut Conn, cmd: Command) -> Result<(), ClientError> {
        let req = self.take_req();
        let mut text_len = 0;
        let (msg, pending) = match cmd {
            Command::Say { text, reply } => {
                text_len = text.len();
                (
                    ClientMsg::Say {
                        req: Some(req),
                        text,
                    },
                    Pending::Ack(reply),
                )
            }
            Command::Private { to, text, reply } => {
                text_len = text.len();
                let msg = ClientMsg::Private {
                    req: Some(req),
                    to,
                    text,
                };
                (msg, Pending::Ack(reply))
            }
            Command::Who { reply } => (ClientMsg::Who { req: Some(req) }, Pending::Members(reply)),
            Command::History {
                limit,
                since,
                reply,
            } => (
                ClientMsg::History {
                    req: Some(req),
                    limit,
                    since,
                },
                Pending::History {
                    messages: Vec::new(),
                    reply,
                },
            ),
            Command::Ping { reply } => (
                ClientMsg::Ping { req: Some(req) },
                Pending::Pong {
                    sent: Instant::now(),
                    reply,
                },
            ),
            Command::Quit { reply } => {
                // `serve` handles quit itself; answer rather than leave the caller waiting.
                let _ = reply.send(Ok(()));
                return Ok(());
            }
            Command::Files { reply } => (
                ClientMsg::Files { req: Some(req) },
                Pending::Files {
                    files: Vec::new(),
                    reply,
                },
            ),
            Command::Download { name, reply } => (
                ClientMsg::Download {
                    req: Some(req),
                    name,
                },
                Pending::Download(reply),
            ),
            Command::Upload {
                name,
                size,
                hash,
                replace,
                reply,
            } => (
                ClientMsg::Upload {
                    req: Some(req),
                    name,
                    size,
                    hash,
                    replace,
                },
                Pending::Upload(reply),
            ),
            Command::Cancel { transfer } => {
                self.verdicts.remove(&transfer);
                self.sender_figures.remove(&transfer);
                return conn.send(&ClientMsg::Cancel { transfer }).await;
            }
        };
        match conn.write_msg(&msg).await {
            Ok(()) => {
                self.pending.insert(req, pending);
                Ok(())
            }
            // Too big for a frame, so far over the server's text limit: refuse it here with the
            // error the server would have sent.
            Err(WriteError::TooLarge) => {
                pending.fail(ClientError::MessageTooLong {
                    len: text_len,
                    max: self.max_text,
                });
                Ok(())
            }
            Err(WriteError::Io(err)) => {
                let err = ClientError::Io(err);
                pending.fail(ClientError::Disconnected {
                    reason: err.to_string(),
                });
                Err(err)
            }
        }
    }

    /// Says `quit` and waits (briefly) for the server's `bye`, still delivering what arrives
    /// before it — such as the fan-out of our own last message.
    async fn goodbye(&mut self, conn: &mut Conn) {
        if conn.send(&ClientMsg::Quit {}).await.is_err() {
            return;
        }
        let drain = async {
            while let Ok(Some(msg)) = conn.read_msg().await {
                if let ServerMsg::Bye { .. } = msg {
                    return;
                }
                if self.handle_msg(conn, msg).await.is_some() {
                    return;
                }
            }
        };
        let _ = timeout(QUIT_GRACE, drain).await;
    }

    /// Dials again with backoff until logged in (`Some`), or until the session must end
    /// (`None`, after emitting `Closed`).
    async fn reconnect(&mut self) -> Option<Conn> {
        let policy = self.options.reconnect?;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            if policy.max_attempts.is_some_and(|max| attempt > max) {
                self.emit(Event::Closed {
                    reason: format!("gave up reconnecting after {} attempts", attempt - 1),
                });
                return None;
            }
            let delay = policy.delay(attempt);
            self.emit(Event::Reconnecting { attempt, delay });
            if !self.wait_offline(delay).await {
                return None;
            }
            let options = &self.options;
            let attempt_result = async {
                let (mut conn, _) = handshake::open(
                    &options.server,
                    &options.client_name,
                    options.timeouts.connect,
                )
                .await?;
                let login = handshake::login(
                    &mut conn,
                    &self.nick,
                    Some(self.last_id),
                    None,
                    options.quiet,
                    options.timeouts.request,
                )
                .await?;
                Ok::<_, ClientError>((conn, login))
            }
            .await;
            match attempt_result {
                Ok((conn, login)) => {
                    let missed: Vec<_> = login
                        .messages
                        .into_iter()
                        .filter(|m| m.id > self.last_id)
                        .collect();
                    self.emit(Event::Reconnected {
                        members: login.members,
                        missed: missed.len(),
                    });
                    for msg in missed {
                        self.emit_message(msg);
                    }
                    self.emit_presence(login.presence);
                    return Some(conn);
                }
                Err(err @ (ClientError::NickTaken { .. } | ClientError::InvalidNick { .. })) => {
                    // Someone took our nick while we were away: retrying cannot help.
                    let code = err.code().unwrap_or(ErrorCode::NickTaken);
                    let message = err.to_string();
                    self.emit(Event::Error {
                        code,
                        message: message.clone(),
                    });
                    self.emit(Event::Closed { reason: message });
                    return None;
                }
                Err(err) => {
                    tracing::info!(attempt, %err, "reconnect attempt failed");
                }
            }
        }
    }

    /// Sleeps `delay` while refusing requests (we are offline). `false` if the session should
    /// end instead (quit, or every handle dropped).
    async fn wait_offline(&mut self, delay: Duration) -> bool {
        let wake = Instant::now() + delay;
        loop {
            tokio::select! {
                _ = sleep(wake.saturating_duration_since(Instant::now())) => return true,
                cmd = self.cmds.recv() => match cmd {
                    None => {
                        self.emit(Event::Closed { reason: "the client was dropped".into() });
                        return false;
                    }
                    Some(Command::Quit { reply }) => {
                        self.emit(Event::Closed { reason: "you quit".into() });
                        let _ = reply.send(Ok(()));
                        return false;
                    }
                    Some(cmd) => fail_command(cmd, || ClientError::Disconnected {
                        reason: "reconnecting".into(),
                    }),
                },
            }
        }
    }

    fn take_req(&mut self) -> u64 {
        let req = self.next_req;
        self.next_req += 1;
        req
    }

    fn fail_pending(&mut self, err: impl Fn() -> ClientError) {
        for (_, pending) in self.pending.drain() {
            pending.fail(err());
        }
        // The server forgets a connection's transfers with it, so their verdicts never come.
        for (_, verdict) in self.verdicts.drain() {
            let _ = verdict.send(Err(err()));
        }
        // Dropping the senders leaves each download's last figures in place.
        self.sender_figures.clear();
    }

    /// Emits a chat message unless it is not newer than the last one emitted (a duplicate from
    /// a catch-up overlapping live delivery).
    fn emit_message(&mut self, msg: ChatMessage) {
        if msg.id > self.last_id {
            self.last_id = msg.id;
            self.emit(Event::Message(msg));
        }
    }

    fn emit_presence(&mut self, msgs: Vec<ServerMsg>) {
        for msg in msgs {
            match msg {
                ServerMsg::Joined { nick } => self.emit(Event::Joined { nick }),
                ServerMsg::Left { nick, reason } => self.emit(Event::Left { nick, reason }),
                _ => {}
            }
        }
    }

    fn emit(&self, event: Event) {
        // The application dropped its EventStream: it does not want events, which is its right.
        let _ = self.events.send(event);
    }
}

fn lost(reason: impl Into<String>) -> End {
    End::Lost {
        reason: reason.into(),
        code: None,
    }
}

fn fail_command(cmd: Command, err: impl Fn() -> ClientError) {
    // Requesters that stopped listening need no answer.
    match cmd {
        Command::Say { reply, .. } | Command::Private { reply, .. } => drop(reply.send(Err(err()))),
        Command::Who { reply } => drop(reply.send(Err(err()))),
        Command::History { reply, .. } => drop(reply.send(Err(err()))),
        Command::Ping { reply } => drop(reply.send(Err(err()))),
        Command::Quit { reply } => drop(reply.send(Ok(()))),
        Command::Files { reply } => drop(reply.send(Err(err()))),
        Command::Download { reply, .. } => drop(reply.send(Err(err()))),
        Command::Upload { reply, .. } => drop(reply.send(Err(err()))),
        Command::Cancel { .. } => {}
    }
}
