//! Opening a connection: TCP connect, `hello` → `welcome`, then `login` → `logged_in` and the
//! backlog. Used for the first connection and for every reconnect.

use std::time::Duration;

use proto::{ChatMessage, ClientMsg, ErrorCode, PROTOCOL_VERSION, ServerMsg};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::conn::Conn;
use crate::error::ClientError;

/// What the server said about itself in `welcome`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// Server software and version, e.g. `confab/0.1.0`.
    pub software: String,
    /// The protocol version both sides speak.
    pub version: u32,
    /// Largest frame payload the server accepts, in bytes.
    pub max_frame: u32,
    /// Longest message text the server accepts, in bytes.
    pub max_text: u32,
}

/// A successful login, with everything that arrived until the backlog was complete.
#[derive(Debug)]
pub(crate) struct LoginOk {
    /// The nick as registered.
    pub(crate) nick: String,
    /// Everyone online, this client included.
    pub(crate) members: Vec<String>,
    /// The highest message id stored when we logged in.
    pub(crate) last_id: u64,
    /// Backlog and any live messages that came with it, sorted by id, without duplicates.
    pub(crate) messages: Vec<ChatMessage>,
    /// `joined` / `left` events that arrived while the backlog was coming in, in order.
    pub(crate) presence: Vec<ServerMsg>,
}

/// Connects to `server` and completes the `hello` → `welcome` handshake.
pub(crate) async fn open(
    server: &str,
    client_name: &str,
    limit: Duration,
) -> Result<(Conn, ServerInfo), ClientError> {
    let connect = async {
        let addrs = tokio::net::lookup_host(server)
            .await
            .map_err(|err| ClientError::Resolve {
                server: server.into(),
                reason: crate::error::describe_io(&err),
            })?;
        let mut last_err = None;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(stream) => return Ok(Conn::new(stream)),
                Err(err) => last_err = Some(err),
            }
        }
        Err(match last_err {
            Some(error) => ClientError::Connect {
                server: server.into(),
                error,
            },
            None => ClientError::Resolve {
                server: server.into(),
                reason: "no addresses found".into(),
            },
        })
    };
    let mut conn = timeout(limit, connect)
        .await
        .map_err(|_| ClientError::Connect {
            server: server.into(),
            error: std::io::ErrorKind::TimedOut.into(),
        })??;

    let handshake = async {
        conn.send(&ClientMsg::Hello {
            version: PROTOCOL_VERSION,
            client: client_name.into(),
        })
        .await?;
        loop {
            match conn.read_msg().await? {
                Some(ServerMsg::Welcome {
                    version,
                    server: software,
                    max_frame,
                    max_text,
                }) => {
                    return Ok(ServerInfo {
                        software,
                        version,
                        max_frame,
                        max_text,
                    });
                }
                Some(ServerMsg::Ping {}) => conn.send(&ClientMsg::Pong {}).await?,
                Some(ServerMsg::Error { message, .. } | ServerMsg::Bye { message, .. }) => {
                    return Err(ClientError::Handshake {
                        server: server.into(),
                        message,
                    });
                }
                Some(other) => {
                    return Err(ClientError::Protocol(format!(
                        "expected `welcome`, got {other:?}"
                    )));
                }
                None => {
                    return Err(ClientError::Handshake {
                        server: server.into(),
                        message: "it closed the connection".into(),
                    });
                }
            }
        }
    };
    let info = timeout(limit, handshake)
        .await
        .map_err(|_| ClientError::Timeout {
            what: "hello",
            after: limit,
        })??;
    Ok((conn, info))
}

/// Request numbers for catch-up pages during login; far above the driver's own numbering,
/// which starts once login is over.
const BACKLOG_PAGE_REQ: u64 = 1 << 62;

/// Messages asked for per catch-up page: the most a `history` request may ask for.
const CATCH_UP_PAGE: u32 = 10_000;

/// Logs in as `nick` on an open connection and collects the backlog.
///
/// On `nick_taken` / `invalid_nick` the connection stays usable for another attempt.
pub(crate) async fn login(
    conn: &mut Conn,
    nick: &str,
    since: Option<u64>,
    history: Option<u32>,
    quiet: bool,
    limit: Duration,
) -> Result<LoginOk, ClientError> {
    let exchange = async {
        conn.send(&ClientMsg::Login {
            nick: nick.into(),
            since,
            history,
            quiet,
        })
        .await?;
        let (nick, members, last_id) = loop {
            match read_or_closed(conn).await? {
                ServerMsg::LoggedIn {
                    nick,
                    members,
                    last_id,
                } => break (nick, members, last_id),
                ServerMsg::Ping {} => conn.send(&ClientMsg::Pong {}).await?,
                ServerMsg::Error { code, message, .. } => {
                    return Err(match code {
                        ErrorCode::NickTaken => ClientError::NickTaken { nick: nick.into() },
                        ErrorCode::InvalidNick => ClientError::InvalidNick {
                            nick: nick.into(),
                            reason: message,
                        },
                        code => ClientError::from_server(code, message),
                    });
                }
                ServerMsg::Bye { message, .. } => {
                    return Err(ClientError::Disconnected { reason: message });
                }
                other => tracing::debug!(?other, "ignoring a frame before logged_in"),
            }
        };
        let mut messages = Vec::new();
        let mut presence = Vec::new();
        // The backlog arrives unasked (`req` absent). A catch-up longer than the server sends at
        // once ends with `more`; we then page on with `history` requests of our own (`req`
        // set) until the gap is closed, so a long absence still loses nothing.
        let mut backlog_req = None;
        loop {
            match read_or_closed(conn).await? {
                ServerMsg::History {
                    req,
                    messages: batch,
                    done,
                    more,
                } if req == backlog_req => {
                    let last = batch.last().map(|m| m.id);
                    messages.extend(batch);
                    if done && more {
                        let since = last.or(since).unwrap_or(0);
                        let req = backlog_req.map_or(BACKLOG_PAGE_REQ, |r| r + 1);
                        backlog_req = Some(req);
                        conn.send(&ClientMsg::History {
                            req: Some(req),
                            limit: Some(CATCH_UP_PAGE),
                            since: Some(since),
                        })
                        .await?;
                    } else if done {
                        break;
                    }
                }
                ServerMsg::Message(msg) => messages.push(msg),
                msg @ (ServerMsg::Joined { .. } | ServerMsg::Left { .. }) => presence.push(msg),
                ServerMsg::Ping {} => conn.send(&ClientMsg::Pong {}).await?,
                ServerMsg::Bye { message, .. } => {
                    return Err(ClientError::Disconnected { reason: message });
                }
                other => tracing::debug!(?other, "ignoring a frame during the login backlog"),
            }
        }
        messages.sort_by_key(|m| m.id);
        messages.dedup_by_key(|m| m.id);
        Ok(LoginOk {
            nick,
            members,
            last_id,
            messages,
            presence,
        })
    };
    timeout(limit, exchange)
        .await
        .map_err(|_| ClientError::Timeout {
            what: "login",
            after: limit,
        })?
}

async fn read_or_closed(conn: &mut Conn) -> Result<ServerMsg, ClientError> {
    conn.read_msg()
        .await?
        .ok_or_else(|| ClientError::Disconnected {
            reason: "the server closed the connection".into(),
        })
}
