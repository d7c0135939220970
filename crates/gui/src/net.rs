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
//!
//! File sharing runs here too: the file list is fetched after login and after each reconnect
//! ([`Update::Files`]), and every download or upload is a task of its own that relays the
//! library's progress snapshots and its outcome as [`Update::Transfer`] under the number the UI
//! gave it. A transfer is cancelled by [`Command::Cancel`], and also when its session ends
//! (Disconnect, or the window closing); a cancelled download keeps its `.part` file, so starting
//! it again resumes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use client::{
    Client, ClientError, ConnectOptions, Connector, Event, EventStream, FileInfo, TransferHandle,
    TransferProgress,
};
use eframe::egui;
use tokio::sync::{mpsc, oneshot};

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
    /// Download the shared file `name` to `dest` (its folder is created if missing); progress
    /// and the end are reported as [`Update::Transfer`] with `id`. Resumes from `dest.part`.
    Download {
        /// The UI's number for this transfer.
        id: u64,
        /// The file as listed.
        name: String,
        /// Where to save it.
        dest: PathBuf,
    },
    /// Upload the file at `path` under its own file name; reported as [`Update::Transfer`].
    Upload {
        /// The UI's number for this transfer.
        id: u64,
        /// The local file.
        path: PathBuf,
    },
    /// Cancel transfer `id` (a no-op if it already ended).
    Cancel {
        /// The UI's number for the transfer.
        id: u64,
    },
}

/// What happened to a transfer.
#[derive(Debug, Clone, PartialEq)]
pub enum TransferEvent {
    /// A progress snapshot (the library's, about every 50 ms; boxed, it is big).
    Progress(Box<TransferProgress>),
    /// The transfer is over.
    Ended(TransferEnd),
}

/// How a transfer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferEnd {
    /// Done: a download complete, its BLAKE3 checked against the listing and renamed into
    /// place; an upload verified and listed by the server.
    Completed {
        /// The downloaded file, or the uploaded one.
        path: PathBuf,
        /// The file as the server lists it.
        file: FileInfo,
        /// Bytes that an earlier attempt had already moved.
        bytes_resumed: u64,
    },
    /// Stopped by the user. A download keeps its `.part` file for a resume.
    Cancelled,
    /// Failed, with the library's explanation.
    Failed(String),
}

/// What the network side reports to the UI.
#[derive(Debug, Clone, PartialEq)]
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
    /// The server's list of shared files (after login and after each reconnect).
    Files(Vec<FileInfo>),
    /// News of transfer `id` (the number the UI gave it).
    Transfer {
        /// The UI's number for the transfer.
        id: u64,
        /// What happened.
        event: TransferEvent,
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
    /// One cancel trigger per transfer started in this session. Dropping the session drops
    /// them, which cancels whatever is still running.
    cancels: HashMap<u64, oneshot::Sender<()>>,
    post: Post,
}

impl Live {
    /// Starts the sender task: one message at a time, so messages are stored in the order typed
    /// (two concurrent requests could overtake each other).
    fn start(client: Client, events: EventStream, post: Post) -> Self {
        let (outbox, mut queue) = mpsc::unbounded_channel::<Outgoing>();
        let sender = client.clone();
        let live_post = post.clone();
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
        let live = Live {
            client,
            events,
            outbox,
            cancels: HashMap::new(),
            post: live_post,
        };
        live.load_files();
        live
    }

    /// Fetches the file list in the background and posts it.
    fn load_files(&self) {
        let client = self.client.clone();
        let post = self.post.clone();
        tokio::spawn(async move {
            match client.files().await {
                Ok(files) => post.update(Update::Files(files)),
                Err(err) => tracing::info!(%err, "cannot list the server's files"),
            }
        });
    }

    /// Starts a download or upload in the background; it reports through `post`.
    fn transfer(&mut self, id: u64, job: Job) {
        let (cancel_tx, cancel_rx) = oneshot::channel();
        self.cancels.insert(id, cancel_tx);
        tokio::spawn(run_transfer(
            self.client.clone(),
            id,
            job,
            cancel_rx,
            self.post.clone(),
        ));
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
                    Some(event) => {
                        if let (Event::Reconnected { .. }, Some(session)) = (&event, &live) {
                            // Files may have been added while we were away.
                            session.load_files();
                        }
                        post.update(Update::Session(event));
                    }
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
            Some(Command::Download { id, name, dest }) => {
                start_transfer(&mut live, &post, id, Job::Download { name, dest });
            }
            Some(Command::Upload { id, path }) => {
                start_transfer(&mut live, &post, id, Job::Upload { path });
            }
            Some(Command::Cancel { id }) => {
                if let Some(cancel) = live.as_mut().and_then(|s| s.cancels.remove(&id)) {
                    let _ = cancel.send(());
                }
            }
        }
    }
}

/// A transfer to start.
#[derive(Debug)]
enum Job {
    Download { name: String, dest: PathBuf },
    Upload { path: PathBuf },
}

fn start_transfer(live: &mut Option<Live>, post: &Post, id: u64, job: Job) {
    match live {
        Some(session) => session.transfer(id, job),
        None => post.update(Update::Transfer {
            id,
            event: TransferEvent::Ended(TransferEnd::Failed(
                "not connected — connect again first".into(),
            )),
        }),
    }
}

/// Sets a transfer up, relays its progress, honours a cancel, and reports how it ended.
async fn run_transfer(
    client: Client,
    id: u64,
    job: Job,
    mut cancel: oneshot::Receiver<()>,
    post: Post,
) {
    let report = |event| post.update(Update::Transfer { id, event });
    let setup = async {
        match job {
            Job::Download { name, dest } => {
                if let Some(dir) = dest.parent().map(Path::to_owned) {
                    tokio::task::spawn_blocking(move || {
                        std::fs::create_dir_all(&dir)
                            .map_err(|err| format!("cannot create {}: {err}", dir.display()))
                    })
                    .await
                    .map_err(|err| format!("the disk task failed: {err}"))??;
                }
                client
                    .download(&name, dest)
                    .await
                    .map_err(|err| err.to_string())
            }
            Job::Upload { path } => client
                .upload(path, None, false)
                .await
                .map_err(|err| err.to_string()),
        }
    };
    let handle: TransferHandle = tokio::select! {
        handle = setup => match handle {
            Ok(handle) => handle,
            Err(err) => return report(TransferEvent::Ended(TransferEnd::Failed(err))),
        },
        _ = &mut cancel => return report(TransferEvent::Ended(TransferEnd::Cancelled)),
    };
    let direction = handle.direction();
    let canceller = handle.canceller();
    let mut progress = handle.progress();
    report(TransferEvent::Progress(Box::new(
        progress.borrow_and_update().clone(),
    )));
    let finished = handle.finished();
    tokio::pin!(finished);
    let mut cancelled = false;
    let mut watching = true;
    let result = loop {
        tokio::select! {
            result = &mut finished => break result,
            changed = progress.changed(), if watching => match changed {
                Ok(()) => report(TransferEvent::Progress(Box::new(progress.borrow_and_update().clone()))),
                Err(_) => watching = false,
            },
            // A send or a dropped sender (the session ended): either way, stop.
            _ = &mut cancel, if !cancelled => {
                cancelled = true;
                canceller.cancel();
            }
        }
    };
    let last = progress.borrow().clone();
    report(TransferEvent::Progress(Box::new(last)));
    let end = match result {
        Ok(outcome) => TransferEnd::Completed {
            path: outcome.path,
            file: outcome.file,
            bytes_resumed: outcome.bytes_resumed,
        },
        Err(ClientError::Cancelled { .. }) => TransferEnd::Cancelled,
        Err(err) => TransferEnd::Failed(err.to_string()),
    };
    tracing::debug!(id, ?direction, ?end, "transfer ended");
    report(TransferEvent::Ended(end));
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
