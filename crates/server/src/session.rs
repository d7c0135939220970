//! One connection: its reader (this task) and its writer (a task of its own).
//!
//! The reader decodes requests, answers what it can alone (handshake, validation, ping) and
//! passes chat requests to the hub. The writer drains the session's bounded queue into the
//! socket; it is the only thing that ever blocks on a slow client, so a client that stops reading
//! only ever stalls itself until the hub notices its full queue and disconnects it.
//!
//! A session goes `AwaitHello` → `AwaitLogin` → `LoggedIn`; a refused login stays in
//! `AwaitLogin` so the client can try another nick on the same connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use proto::{ClientMsg, DecodeError, ErrorCode, MAX_TEXT_BYTES, PROTOCOL_VERSION, ServerMsg};
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::Config;
use crate::connection::{FrameReader, ReadError};
use crate::hub::{Command, Outbound, SessionId};
use crate::shutdown::Shutdown;

/// Longest a `history` request may ask for, in messages.
const MAX_HISTORY_LIMIT: u32 = 10_000;

/// How long a closing session waits for its writer to flush the last frames.
const FLUSH_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug, PartialEq, Eq)]
enum State {
    AwaitHello,
    AwaitLogin,
    LoggedIn,
}

/// What to do after a request.
enum Flow {
    Continue,
    /// Say `bye` with this code and message, then close; `reason` goes into `left`.
    Close(ErrorCode, String, &'static str),
}

pub(crate) struct Session {
    id: SessionId,
    peer: SocketAddr,
    config: Arc<Config>,
    hub: mpsc::Sender<Command>,
    out: Outbound,
    /// Cancelled by the hub to disconnect a slow client; the writer then closes.
    kicked: CancellationToken,
    /// Cancelled by the writer when it stops (kicked, or the socket failed).
    writer_done: CancellationToken,
    reader: FrameReader,
    state: State,
    /// A quiet session (see `ClientMsg::Login::quiet`): read-only, unlisted.
    quiet: bool,
    bucket: TokenBucket,
}

impl Session {
    /// Runs a connection to its end. Errors are logged here and never reach the listener.
    pub(crate) async fn run(
        id: SessionId,
        stream: TcpStream,
        peer: SocketAddr,
        config: Arc<Config>,
        hub: mpsc::Sender<Command>,
        mut shutdown: Shutdown,
    ) {
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let (out, rx) = mpsc::channel(config.queue_frames);
        let kicked = CancellationToken::new();
        let writer_done = CancellationToken::new();
        let writer = tokio::spawn(write_loop(
            write,
            rx,
            kicked.clone(),
            writer_done.clone(),
            config.max_frame,
        ));
        let mut session = Session {
            id,
            peer,
            bucket: TokenBucket::new(config.rate_per_second, config.rate_burst),
            reader: FrameReader::new(read, config.max_frame),
            config,
            hub,
            out,
            kicked,
            writer_done,
            state: State::AwaitHello,
            quiet: false,
        };
        let reason = session.read_loop(&mut shutdown).await;
        debug!(id, %peer, reason, "session ending");
        if session.state == State::LoggedIn {
            let _ = session
                .hub
                .send(Command::Logout {
                    session: id,
                    reason,
                })
                .await;
        }
        // Dropping our queue handle lets the writer finish once the hub has dropped its own.
        drop(session);
        let mut writer = writer;
        if timeout(FLUSH_GRACE, &mut writer).await.is_err() {
            writer.abort();
        }
    }

    /// Reads and handles requests until the connection should end; returns why.
    async fn read_loop(&mut self, shutdown: &mut Shutdown) -> &'static str {
        let mut last_heard = Instant::now();
        let mut pinged = false;
        loop {
            let deadline = if pinged {
                last_heard + self.config.idle_timeout
            } else {
                last_heard + self.config.ping_interval
            };
            let flow = tokio::select! {
                read = self.reader.read_frame() => match read {
                    Ok(Some(payload)) => {
                        last_heard = Instant::now();
                        pinged = false;
                        self.handle_frame(&payload).await
                    }
                    Ok(None) => return "closed",
                    Err(ReadError::Frame(err)) => Flow::Close(
                        ErrorCode::FrameTooLarge,
                        format!("{err}; closing the connection"),
                        "protocol_error",
                    ),
                    Err(err) => {
                        debug!(id = self.id, %err, "read failed");
                        return "closed";
                    }
                },
                () = sleep_until(deadline) => {
                    if pinged {
                        Flow::Close(
                            ErrorCode::IdleTimeout,
                            format!(
                                "nothing heard from you for {} s; closing",
                                self.config.idle_timeout.as_secs()
                            ),
                            "timeout",
                        )
                    } else {
                        pinged = true;
                        self.reply(&ServerMsg::Ping {})
                    }
                }
                () = shutdown.recv() => Flow::Close(
                    ErrorCode::Shutdown,
                    "the server is shutting down; reconnect in a moment".into(),
                    "shutdown",
                ),
                () = self.writer_done.cancelled() => {
                    return if self.kicked.is_cancelled() { "too_slow" } else { "closed" };
                }
            };
            if let Flow::Close(code, message, reason) = flow {
                info!(id = self.id, peer = %self.peer, ?code, %message, "closing connection");
                // Best effort: a full queue means the client is not reading anyway.
                let _ = self
                    .out
                    .try_send(self.encode(&ServerMsg::Bye { code, message }));
                return reason;
            }
        }
    }

    async fn handle_frame(&mut self, payload: &[u8]) -> Flow {
        let msg = match proto::decode_client(payload) {
            Ok(msg) => msg,
            Err(DecodeError::Malformed { req, reason }) => {
                return self.error(
                    req,
                    ErrorCode::Malformed,
                    format!("{reason}; see PROTOCOL.md"),
                );
            }
            Err(DecodeError::Undecodable(reason)) => {
                return Flow::Close(
                    ErrorCode::Undecodable,
                    format!("frame is not a JSON message ({reason}); closing the connection"),
                    "protocol_error",
                );
            }
        };
        match (&self.state, msg) {
            (_, ClientMsg::Ping { req }) => self.reply(&ServerMsg::Pong { req }),
            (_, ClientMsg::Pong {}) => Flow::Continue,
            (_, ClientMsg::Quit {}) => Flow::Close(ErrorCode::Quit, "goodbye".into(), "quit"),
            (State::AwaitHello, ClientMsg::Hello { version, client }) => {
                if version != PROTOCOL_VERSION {
                    return Flow::Close(
                        ErrorCode::UnsupportedVersion,
                        format!(
                            "this server speaks protocol version {PROTOCOL_VERSION}, you sent \
                             {version}; upgrade your client"
                        ),
                        "protocol_error",
                    );
                }
                debug!(id = self.id, %client, "hello");
                self.state = State::AwaitLogin;
                self.reply(&ServerMsg::Welcome {
                    version: PROTOCOL_VERSION,
                    server: concat!("confab/", env!("CARGO_PKG_VERSION")).into(),
                    max_frame: self.config.max_frame as u32,
                    max_text: MAX_TEXT_BYTES as u32,
                })
            }
            (State::AwaitHello, _) => self.error(
                None,
                ErrorCode::HelloRequired,
                "send hello with the protocol version first".into(),
            ),
            (_, ClientMsg::Hello { .. }) => self.error(
                None,
                ErrorCode::Malformed,
                "hello was already accepted".into(),
            ),
            (
                State::AwaitLogin,
                ClientMsg::Login {
                    nick,
                    since,
                    history,
                    quiet,
                },
            ) => self.login(nick, since, history, quiet).await,
            (State::LoggedIn, ClientMsg::Login { .. }) => self.error(
                None,
                ErrorCode::AlreadyLoggedIn,
                "this connection is already logged in; open another to use a second nick".into(),
            ),
            (State::AwaitLogin, msg) => self.error(
                request_number(&msg),
                ErrorCode::NotLoggedIn,
                "log in with a nickname first".into(),
            ),
            (State::LoggedIn, ClientMsg::Say { req, text }) => match self.check_text(req, &text) {
                Some(flow) => flow,
                None => {
                    self.to_hub(Command::Say {
                        session: self.id,
                        req,
                        text,
                    })
                    .await
                }
            },
            (State::LoggedIn, ClientMsg::Private { req, to, text }) => {
                match self.check_text(req, &text) {
                    Some(flow) => flow,
                    None => {
                        self.to_hub(Command::Private {
                            session: self.id,
                            req,
                            to,
                            text,
                        })
                        .await
                    }
                }
            }
            (State::LoggedIn, ClientMsg::Files { req }) => {
                self.to_hub(Command::Files {
                    session: self.id,
                    req,
                })
                .await
            }
            (State::LoggedIn, ClientMsg::Download { req, name }) => {
                self.to_hub(Command::Download {
                    session: self.id,
                    req,
                    name,
                })
                .await
            }
            (
                State::LoggedIn,
                ClientMsg::Upload {
                    req,
                    name,
                    size,
                    hash,
                    replace,
                },
            ) => {
                self.to_hub(Command::Upload {
                    session: self.id,
                    req,
                    name,
                    size,
                    hash,
                    replace,
                })
                .await
            }
            (State::LoggedIn, ClientMsg::Cancel { transfer }) => {
                self.to_hub(Command::Cancel {
                    session: self.id,
                    transfer,
                })
                .await
            }
            (State::LoggedIn, ClientMsg::Who { req }) => {
                self.to_hub(Command::Who {
                    session: self.id,
                    req,
                })
                .await
            }
            (State::LoggedIn, ClientMsg::History { req, limit, since }) => {
                let limit = limit
                    .unwrap_or(self.config.history_on_login)
                    .min(MAX_HISTORY_LIMIT);
                self.to_hub(Command::History {
                    session: self.id,
                    req,
                    limit,
                    since,
                })
                .await
            }
        }
    }

    async fn login(
        &mut self,
        nick: String,
        since: Option<u64>,
        history: Option<u32>,
        quiet: bool,
    ) -> Flow {
        if let Err(err) = proto::validate_nick(&nick) {
            return self.error(None, ErrorCode::InvalidNick, format!("{err}; try another"));
        }
        let (reply, answer) = oneshot::channel();
        let cmd = Command::Login {
            session: self.id,
            nick,
            since,
            history: history
                .unwrap_or(self.config.history_on_login)
                .min(MAX_HISTORY_LIMIT),
            quiet,
            out: self.out.clone(),
            kick: self.kicked.clone(),
            reply,
        };
        if self.hub.send(cmd).await.is_err() {
            return shutting_down();
        }
        match answer.await {
            Ok(Ok(())) => {
                self.state = State::LoggedIn;
                self.quiet = quiet;
                Flow::Continue
            }
            // The hub already queued the error frame; the client may try again.
            Ok(Err(())) => Flow::Continue,
            Err(_) => shutting_down(),
        }
    }

    /// Refuses empty, over-long or too-frequent messages — and any from a quiet session —
    /// before they cost the hub anything.
    fn check_text(&mut self, req: Option<u64>, text: &str) -> Option<Flow> {
        if self.quiet {
            return Some(self.error(
                req,
                ErrorCode::ReadOnly,
                "this is a quiet (read-only) session; log in without quiet to talk".into(),
            ));
        }
        if text.trim().is_empty() {
            return Some(self.error(req, ErrorCode::EmptyMessage, "message is empty".into()));
        }
        if text.len() > MAX_TEXT_BYTES {
            return Some(self.error(
                req,
                ErrorCode::MessageTooLong,
                format!(
                    "message is {} bytes; the limit is {MAX_TEXT_BYTES}: split it or share it as a file",
                    text.len()
                ),
            ));
        }
        if !self.bucket.take(Instant::now()) {
            return Some(self.error(
                req,
                ErrorCode::RateLimited,
                format!(
                    "too many messages: at most {} a second (bursts of {}); this one was not sent",
                    self.config.rate_per_second, self.config.rate_burst
                ),
            ));
        }
        None
    }

    async fn to_hub(&self, cmd: Command) -> Flow {
        // A bounded channel: if the hub is behind, this session waits (and stops reading),
        // which pushes back on the client through TCP instead of queueing without limit.
        match self.hub.send(cmd).await {
            Ok(()) => Flow::Continue,
            Err(_) => shutting_down(),
        }
    }

    fn error(&self, req: Option<u64>, code: ErrorCode, message: String) -> Flow {
        self.reply(&ServerMsg::Error { req, code, message })
    }

    /// Queues a frame for this client alone.
    fn reply(&self, msg: &ServerMsg) -> Flow {
        match self.out.try_send(self.encode(msg)) {
            Ok(()) => Flow::Continue,
            Err(mpsc::error::TrySendError::Full(_)) => Flow::Close(
                ErrorCode::TooSlow,
                "you were not reading replies fast enough".into(),
                "too_slow",
            ),
            Err(mpsc::error::TrySendError::Closed(_)) => Flow::Close(
                ErrorCode::Internal,
                "connection writer stopped".into(),
                "closed",
            ),
        }
    }

    fn encode(&self, msg: &ServerMsg) -> Bytes {
        // Replies built here carry short server texts: they always fit the frame cap.
        proto::encode_msg(msg, usize::MAX).unwrap_or_default()
    }
}

fn shutting_down() -> Flow {
    Flow::Close(
        ErrorCode::Shutdown,
        "the server is shutting down; reconnect in a moment".into(),
        "shutdown",
    )
}

fn request_number(msg: &ClientMsg) -> Option<u64> {
    match msg {
        ClientMsg::Say { req, .. }
        | ClientMsg::Private { req, .. }
        | ClientMsg::Who { req }
        | ClientMsg::History { req, .. }
        | ClientMsg::Files { req }
        | ClientMsg::Download { req, .. }
        | ClientMsg::Upload { req, .. }
        | ClientMsg::Ping { req } => *req,
        _ => None,
    }
}

/// Drains the session's queue into the socket, batching whatever is queued into one write.
async fn write_loop(
    stream: OwnedWriteHalf,
    mut rx: mpsc::Receiver<Bytes>,
    kicked: CancellationToken,
    done: CancellationToken,
    max_frame: usize,
) {
    let mut stream = BufWriter::new(stream);
    loop {
        let frame = tokio::select! {
            biased;
            () = kicked.cancelled() => {
                let bye = proto::encode_msg(
                    &ServerMsg::Bye {
                        code: ErrorCode::TooSlow,
                        message: "you were not reading messages fast enough; reconnect to catch up"
                            .into(),
                    },
                    max_frame,
                )
                .unwrap_or_default();
                // The client is not reading, so this may well not fit; try briefly.
                let _ = timeout(Duration::from_secs(1), async {
                    stream.write_all(&bye).await?;
                    stream.flush().await
                })
                .await;
                break;
            }
            frame = rx.recv() => frame,
        };
        let Some(frame) = frame else { break };
        let written = tokio::select! {
            biased;
            () = kicked.cancelled() => continue,
            res = async {
                stream.write_all(&frame).await?;
                // Coalesce everything already queued into the same syscall.
                while let Ok(more) = rx.try_recv() {
                    stream.write_all(&more).await?;
                }
                stream.flush().await
            } => res,
        };
        if written.is_err() {
            break;
        }
    }
    let _ = timeout(Duration::from_secs(1), stream.shutdown()).await;
    done.cancel();
}

/// A token bucket for chat messages: `per_second` sustained, up to `burst` at once.
#[derive(Debug)]
struct TokenBucket {
    /// Tokens available now (fractional, so slow rates refill smoothly).
    tokens: f64,
    /// Refill rate, in tokens per second.
    per_second: f64,
    /// Bucket size, in tokens.
    burst: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(per_second: u32, burst: u32) -> Self {
        Self {
            tokens: f64::from(burst),
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(1)),
            last: Instant::now(),
        }
    }

    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}
