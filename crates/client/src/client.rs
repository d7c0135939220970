//! The application's side of a session: [`Connector`] to log in, [`Client`] to act.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use proto::ChatMessage;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;

use crate::conn::Conn;
use crate::driver::{Command, Driver};
use crate::error::ClientError;
use crate::event::EventStream;
use crate::handshake::{self, ServerInfo};
use crate::options::ConnectOptions;

/// How many requests may queue for the background task before callers wait.
const COMMAND_QUEUE: usize = 64;

/// The server stored a message: its id and timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Ack {
    /// The id the message was stored under.
    pub id: u64,
    /// When the server stored it, in milliseconds since the Unix epoch.
    pub ts: u64,
}

/// A connection that has said `hello` but is not logged in yet.
///
/// It exists so a caller can retry the login with another nick on the same connection:
///
/// ```no_run
/// # async fn demo() -> Result<(), client::ClientError> {
/// use client::{ClientError, ConnectOptions, Connector};
/// let mut connector = Connector::connect(ConnectOptions::new("127.0.0.1:50000", "bob")).await?;
/// let (client, events) = match connector.login("bob").await {
///     Err(ClientError::NickTaken { .. }) => connector.login("bob2").await?,
///     other => other?,
/// };
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Connector {
    /// `None` once a login succeeded (the connection moved into the session) or failed in a
    /// way that leaves the connection unusable.
    conn: Option<Conn>,
    info: ServerInfo,
    options: ConnectOptions,
}

impl Connector {
    /// Connects to `options.server` and completes the handshake. `options.nick` is not used
    /// until [`Connector::login`].
    pub async fn connect(options: ConnectOptions) -> Result<Self, ClientError> {
        let (conn, info) = handshake::open(
            &options.server,
            &options.client_name,
            options.timeouts.connect,
        )
        .await?;
        Ok(Connector {
            conn: Some(conn),
            info,
            options,
        })
    }

    /// What the server said about itself.
    pub fn server_info(&self) -> &ServerInfo {
        &self.info
    }

    /// Logs in as `nick` and starts the session.
    ///
    /// On [`ClientError::NickTaken`] or [`ClientError::InvalidNick`] the connection stays open:
    /// call `login` again with another nick. After success (or any other error) the connector
    /// is spent and further calls fail with [`ClientError::Closed`].
    pub async fn login(&mut self, nick: &str) -> Result<(Client, EventStream), ClientError> {
        let conn = self.conn.as_mut().ok_or(ClientError::Closed)?;
        let result = handshake::login(
            conn,
            nick,
            None,
            self.options.history,
            self.options.quiet,
            self.options.timeouts.request,
        )
        .await;
        let login = match result {
            Ok(login) => login,
            Err(err @ (ClientError::NickTaken { .. } | ClientError::InvalidNick { .. })) => {
                return Err(err);
            }
            Err(err) => {
                self.conn = None;
                return Err(err);
            }
        };
        let conn = self.conn.take().ok_or(ClientError::Closed)?;
        let mut options = self.options.clone();
        options.nick = login.nick.clone();

        let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
        let (event_tx, event_rx) = mpsc::unbounded_channel();
        let client = Client {
            shared: Arc::new(Shared {
                nick: login.nick.clone(),
                info: self.info.clone(),
                request_timeout: options.timeouts.request,
                endpoint: Mutex::new(None),
            }),
            cmds: cmd_tx,
        };
        let driver = Driver::start(
            options,
            self.info.max_text as usize,
            login,
            cmd_rx,
            event_tx,
        );
        tokio::spawn(driver.run(conn));
        Ok((client, EventStream::new(event_rx)))
    }
}

/// What every handle of one session shares.
#[derive(Debug)]
pub(crate) struct Shared {
    nick: String,
    info: ServerInfo,
    pub(crate) request_timeout: Duration,
    /// The UDP endpoint for file transfers, bound on first use (see `transfers`). A std
    /// `Mutex`: held only to read or set it, never across an `.await`.
    pub(crate) endpoint: Mutex<Option<rudp_tokio::Endpoint>>,
}

/// A handle to a logged-in session. Cheap to clone; the session ends when [`Client::quit`] is
/// called or the last handle is dropped (which also says `quit` to the server).
///
/// Requests resolve when the server answered; while the client is reconnecting they fail at
/// once with [`ClientError::Disconnected`].
#[derive(Debug, Clone)]
pub struct Client {
    pub(crate) shared: Arc<Shared>,
    pub(crate) cmds: mpsc::Sender<Command>,
}

impl Client {
    /// Connects, says hello and logs in as `options.nick`. The returned stream starts with
    /// [`crate::Event::LoggedIn`].
    ///
    /// To retry with another nick on the same connection after
    /// [`ClientError::NickTaken`], use [`Connector`] instead.
    pub async fn connect(options: ConnectOptions) -> Result<(Client, EventStream), ClientError> {
        let nick = options.nick.clone();
        Connector::connect(options).await?.login(&nick).await
    }

    /// The nick this session is logged in as.
    pub fn nick(&self) -> &str {
        &self.shared.nick
    }

    /// What the server said about itself when this session connected.
    pub fn server_info(&self) -> &ServerInfo {
        &self.shared.info
    }

    /// Sends a public message; resolves once the server has stored it. The message itself also
    /// comes back as an [`crate::Event::Message`], like everyone else's.
    pub async fn say(&self, text: impl Into<String>) -> Result<Ack, ClientError> {
        let text = text.into();
        self.request("say", |reply| Command::Say { text, reply })
            .await
    }

    /// Sends a private message to `to` (who must be online); resolves once stored.
    pub async fn private(
        &self,
        to: impl Into<String>,
        text: impl Into<String>,
    ) -> Result<Ack, ClientError> {
        let (to, text) = (to.into(), text.into());
        self.request("private", |reply| Command::Private { to, text, reply })
            .await
    }

    /// Who is online (this session included), sorted case-insensitively.
    pub async fn who(&self) -> Result<Vec<String>, ClientError> {
        self.request("who", |reply| Command::Who { reply }).await
    }

    /// Stored messages visible to us, oldest first: the `limit` most recent (server default
    /// 100), or only those after id `since`.
    pub async fn history(
        &self,
        limit: Option<u32>,
        since: Option<u64>,
    ) -> Result<Vec<ChatMessage>, ClientError> {
        self.request("history", |reply| Command::History {
            limit,
            since,
            reply,
        })
        .await
    }

    /// Round-trip time to the server.
    pub async fn ping(&self) -> Result<Duration, ClientError> {
        self.request("ping", |reply| Command::Ping { reply }).await
    }

    /// Leaves cleanly: says `quit`, waits for the server's `bye`, and closes. The event stream
    /// ends with [`crate::Event::Closed`]. Quitting a closed session is not an error.
    pub async fn quit(&self) -> Result<(), ClientError> {
        match self.request("quit", |reply| Command::Quit { reply }).await {
            Err(ClientError::Closed) => Ok(()),
            other => other,
        }
    }

    pub(crate) async fn request<T>(
        &self,
        what: &'static str,
        make: impl FnOnce(oneshot::Sender<Result<T, ClientError>>) -> Command,
    ) -> Result<T, ClientError> {
        let (tx, rx) = oneshot::channel();
        self.cmds
            .send(make(tx))
            .await
            .map_err(|_| ClientError::Closed)?;
        let after = self.shared.request_timeout;
        match timeout(after, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ClientError::Closed),
            Err(_) => Err(ClientError::Timeout { what, after }),
        }
    }
}
