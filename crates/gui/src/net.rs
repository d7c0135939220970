//! The network side: a thread running a tokio runtime that owns the `client` session.
//!
//! The UI thread never waits on the network. It hands [`Command`]s to [`Net::send`] (an
//! unbounded channel, so sending never blocks) and drains [`Update`]s with [`Net::try_recv`]
//! once per frame. Every update posted here is followed by `ctx.request_repaint()`, so an idle
//! window wakes up exactly when something arrived.
//!
//! All protocol knowledge stays in the `client` library; this module only sequences its calls:
//! connect → log in (retrying another nick on the same connection after a refusal), forward the
//! session's events, send the user's messages one at a time (so they are stored in the order
//! typed), and quit cleanly on Disconnect or when the window closes.

use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use client::{Client, ClientError, ConnectOptions, Connector, Event, EventStream};
use eframe::egui;
use tokio::sync::mpsc;

/// How long a clean `quit` may take before the session is simply dropped (which closes the
/// socket; the server then reports us as gone).
const QUIT_GRACE: Duration = Duration::from_secs(2);

/// What the UI asks the network side to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Connect to `server` and log in as `nick`, replacing any current session.
    Connect {
        /// `host:port` of the server's control channel.
        server: String,
        /// The nickname to log in with.
        nick: String,
    },
    /// Send `text` to the lobby (`to: None`) or privately to `to`.
    Send {
        /// The recipient of a private message; `None` for the lobby.
        to: Option<String>,
        /// The message text.
        text: String,
    },
    /// Quit the current session cleanly (the UI has already gone back to the login screen).
    Disconnect,
}

/// What the network side reports to the UI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// A [`Command::Connect`] did not produce a session.
    LoginFailed(LoginError),
    /// An event of the current session, [`Event::LoggedIn`] first.
    Session(Event),
    /// The server refused (or never answered) a message the user sent.
    SendFailed {
        /// The recipient it was for; `None` for the lobby.
        to: Option<String>,
        /// The text that was not sent, so the user can fix and resend it.
        text: String,
        /// Why, for people (e.g. "message is 5000 bytes long; …").
        error: String,
    },
}

/// Why a login attempt failed, sorted by what the user should do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginError {
    /// Nothing answered at the address: wrong address, or no server running.
    Unreachable {
        /// The address as typed.
        server: String,
        /// The underlying reason (e.g. `connection refused`).
        detail: String,
    },
    /// Someone online already uses the nick.
    NickTaken {
        /// The refused nick.
        nick: String,
    },
    /// The nick breaks the nickname rules.
    InvalidNick {
        /// The refused nick.
        nick: String,
        /// The rule it breaks.
        reason: String,
    },
    /// Anything else (a server speaking another protocol version, a timeout after connecting…).
    Other {
        /// The client library's explanation.
        message: String,
    },
}

impl LoginError {
    /// Sorts a client-library error into what the login screen shows.
    pub fn from_client(server: &str, err: ClientError) -> Self {
        match err {
            ClientError::NickTaken { nick } => LoginError::NickTaken { nick },
            ClientError::InvalidNick { nick, reason } => LoginError::InvalidNick { nick, reason },
            ClientError::Resolve { reason, .. } => LoginError::Unreachable {
                server: server.to_owned(),
                detail: reason,
            },
            ClientError::Connect { .. } | ClientError::Timeout { what: "hello", .. } => {
                // The library's text already names the address and the cause; keep the cause.
                let text = err.to_string();
                let detail = text
                    .split_once(": ")
                    .map(|(_, rest)| rest.split(" — ").next().unwrap_or(rest).to_owned())
                    .unwrap_or(text);
                LoginError::Unreachable {
                    server: server.to_owned(),
                    detail,
                }
            }
            other => LoginError::Other {
                message: other.to_string(),
            },
        }
    }
}

/// The UI's handle on the network thread. Dropping it quits the session and joins the thread.
#[derive(Debug)]
pub struct Net {
    commands: Option<mpsc::UnboundedSender<Command>>,
    updates: std_mpsc::Receiver<Update>,
    thread: Option<JoinHandle<()>>,
}

impl Net {
    /// Starts the network thread. `ctx` is asked to repaint whenever an update is posted;
    /// `options` builds the connect options for a server and nick.
    pub fn start(ctx: egui::Context, options: fn(&str, &str) -> ConnectOptions) -> Self {
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (update_tx, updates) = std_mpsc::channel();
        let post = Post { tx: update_tx, ctx };
        let thread = std::thread::Builder::new()
            .name("confab-net".into())
            .spawn(move || {
                // One thread is plenty for one chat session; the UI thread stays free.
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(serve(command_rx, post, options)),
                    Err(err) => post.update(Update::LoginFailed(LoginError::Other {
                        message: format!("cannot start the network runtime: {err}"),
                    })),
                }
            });
        let thread = match thread {
            Ok(thread) => Some(thread),
            Err(err) => {
                tracing::error!(%err, "cannot start the network thread");
                None
            }
        };
        Net {
            commands: Some(commands),
            updates,
            thread,
        }
    }

    /// Queues a command; never blocks.
    pub fn send(&self, command: Command) {
        if let Some(commands) = &self.commands
            && commands.send(command).is_err()
        {
            tracing::warn!("the network thread has stopped; command dropped");
        }
    }

    /// The next update, if one is ready.
    pub fn try_recv(&self) -> Option<Update> {
        self.updates.try_recv().ok()
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        // Closing the command channel tells the thread to quit the session and stop; the quit
        // is bounded by QUIT_GRACE, so this join is too.
        self.commands = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Posts updates to the UI and wakes it.
#[derive(Debug, Clone)]
struct Post {
    tx: std_mpsc::Sender<Update>,
    ctx: egui::Context,
}

impl Post {
    fn update(&self, update: Update) {
        if self.tx.send(update).is_ok() {
            self.ctx.request_repaint();
        }
    }
}

/// A message waiting to be sent.
#[derive(Debug)]
struct Outgoing {
    to: Option<String>,
    text: String,
}

/// The session in progress.
struct Live {
    client: Client,
    events: EventStream,
    outbox: mpsc::UnboundedSender<Outgoing>,
}

impl Live {
    /// Starts the sender task: one message at a time, so messages are stored in the order typed
    /// (two concurrent requests could overtake each other).
    fn start(client: Client, events: EventStream, post: Post) -> Self {
        let (outbox, mut queue) = mpsc::unbounded_channel::<Outgoing>();
        let sender = client.clone();
        tokio::spawn(async move {
            while let Some(Outgoing { to, text }) = queue.recv().await {
                let result = match &to {
                    None => sender.say(text.clone()).await,
                    Some(peer) => sender.private(peer.clone(), text.clone()).await,
                };
                if let Err(err) = result {
                    post.update(Update::SendFailed {
                        to,
                        text,
                        error: err.to_string(),
                    });
                }
            }
        });
        Live {
            client,
            events,
            outbox,
        }
    }

    async fn quit(self) {
        if tokio::time::timeout(QUIT_GRACE, self.client.quit())
            .await
            .is_err()
        {
            tracing::info!("quit took too long; dropping the connection");
        }
    }
}

/// The network thread's loop: commands in, events out, until the UI goes away.
async fn serve(
    mut commands: mpsc::UnboundedReceiver<Command>,
    post: Post,
    options: fn(&str, &str) -> ConnectOptions,
) {
    // A connection whose login was refused (nick taken or invalid), kept so the next try with
    // another nick reuses it, as the protocol allows.
    let mut refused: Option<(String, Connector)> = None;
    let mut live: Option<Live> = None;
    loop {
        let command = tokio::select! {
            command = commands.recv() => command,
            event = next_event(&mut live) => {
                match event {
                    Some(event) => post.update(Update::Session(event)),
                    // The stream ended after `Closed`, which was forwarded.
                    None => live = None,
                }
                continue;
            }
        };
        match command {
            None => {
                if let Some(session) = live.take() {
                    session.quit().await;
                }
                return;
            }
            Some(Command::Connect { server, nick }) => {
                if let Some(session) = live.take() {
                    session.quit().await;
                }
                match login(&mut refused, &server, &nick, options).await {
                    Ok((client, events)) => {
                        refused = None;
                        live = Some(Live::start(client, events, post.clone()));
                    }
                    Err(err) => post.update(Update::LoginFailed(err)),
                }
            }
            Some(Command::Send { to, text }) => match &live {
                Some(session) => {
                    let _ = session.outbox.send(Outgoing { to, text });
                }
                None => post.update(Update::SendFailed {
                    to,
                    text,
                    error: "not connected — connect again first".into(),
                }),
            },
            Some(Command::Disconnect) => {
                refused = None;
                if let Some(session) = live.take() {
                    session.quit().await;
                }
            }
        }
    }
}

/// The next event of the live session; never resolves while there is none.
async fn next_event(live: &mut Option<Live>) -> Option<Event> {
    match live {
        Some(session) => session.events.recv().await,
        None => std::future::pending().await,
    }
}

/// Logs in as `nick` at `server`, on the refused connection kept from the last try if it is to
/// the same server and still usable, else on a new one.
async fn login(
    refused: &mut Option<(String, Connector)>,
    server: &str,
    nick: &str,
    options: fn(&str, &str) -> ConnectOptions,
) -> Result<(Client, EventStream), LoginError> {
    if let Some((kept_server, mut connector)) = refused.take()
        && kept_server == server
    {
        match connector.login(nick).await {
            Ok(session) => return Ok(session),
            Err(err @ (ClientError::NickTaken { .. } | ClientError::InvalidNick { .. })) => {
                *refused = Some((kept_server, connector));
                return Err(LoginError::from_client(server, err));
            }
            // The kept connection went stale (the server closes idle ones): dial again.
            Err(err) => tracing::debug!(%err, "kept connection unusable; reconnecting"),
        }
    }
    let mut connector = Connector::connect(options(server, nick))
        .await
        .map_err(|err| LoginError::from_client(server, err))?;
    match connector.login(nick).await {
        Ok(session) => Ok(session),
        Err(err) => {
            if matches!(
                err,
                ClientError::NickTaken { .. } | ClientError::InvalidNick { .. }
            ) {
                *refused = Some((server.to_owned(), connector));
            }
            Err(LoginError::from_client(server, err))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    #[test]
    fn connect_errors_read_as_unreachable() {
        let err = ClientError::Connect {
            server: "127.0.0.1:1".into(),
            error: io::Error::from(io::ErrorKind::ConnectionRefused),
        };
        assert_eq!(
            LoginError::from_client("127.0.0.1:1", err),
            LoginError::Unreachable {
                server: "127.0.0.1:1".into(),
                detail: "connection refused".into()
            }
        );
    }
}
