//! The GUI's state, free of egui and of I/O: what is on screen, and how updates from the
//! network and actions of the user change it.
//!
//! Everything here is plain data plus methods, so it is unit-tested without a window or a
//! server. Actions that need the network (connect, send, disconnect) queue a [`Command`]
//! that the caller drains with [`App::take_commands`] and hands to the network thread.

mod files;
mod save;
mod session;

use std::path::{Path, PathBuf};

use proto::nick::{MAX_NICK_LEN, validate_nick};

pub use files::{
    Files, MAX_SAMPLES, Sample, SenderFigures, SideView, Transfer, TransferState, human_bytes,
    human_duration,
};
pub use save::{SaveCheck, SaveDialog};
pub use session::{ConnState, ConvKey, Conversation, Line, Session, TabView};

use crate::net::{Command, LoginError, Update};

/// The nickname rule, shown whenever a nick is refused.
pub const NICK_RULE: &str = "A nick is 1 to 24 letters, digits, '_' or '-', starting with a \
                             letter or '_'.";

// Keep the sentence above in step with the protocol's limit.
const _: () = assert!(MAX_NICK_LEN == 24);

/// The whole GUI state.
#[derive(Debug)]
pub struct App {
    /// Which screen is up.
    pub screen: Screen,
    /// Non-blocking notices (errors the user should see but need not act on), oldest first.
    pub notices: Vec<Notice>,
    /// Set when a login succeeded: the server and nick worth remembering for next time.
    pub remember: Option<(String, String)>,
    /// Where downloads are saved (see [`default_download_dir`]).
    pub download_dir: PathBuf,
    commands: Vec<Command>,
    next_notice: u64,
}

/// The two screens.
#[derive(Debug)]
pub enum Screen {
    /// Server address and nick, before a session.
    Login(LoginForm),
    /// A logged-in session: the lobby, private tabs, the online list.
    Chat(Box<Session>),
}

/// The login screen's fields and state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginForm {
    /// The server address being edited.
    pub server: String,
    /// The nick being edited.
    pub nick: String,
    /// Whether a connect is in flight.
    pub connecting: bool,
    /// Why the last attempt failed, worded for the user.
    pub error: Option<LoginProblem>,
}

/// A failed login, ready to display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginProblem {
    /// One line: what happened.
    pub headline: String,
    /// What to do about it.
    pub hint: String,
}

impl From<&LoginError> for LoginProblem {
    fn from(err: &LoginError) -> Self {
        match err {
            LoginError::Unreachable { server, detail } => LoginProblem {
                headline: format!("Cannot reach a confab server at {server} ({detail})."),
                hint: "Check the address, or start a server with `confab server` and press \
                       Connect again."
                    .into(),
            },
            LoginError::NickTaken { nick } => LoginProblem {
                headline: format!("The nick '{nick}' is taken: someone online is using it."),
                hint: "Choose another nick and press Connect again.".into(),
            },
            LoginError::InvalidNick { nick, reason } => LoginProblem {
                headline: format!("'{nick}' is not a valid nick: {reason}."),
                hint: NICK_RULE.into(),
            },
            LoginError::Other { message } => LoginProblem {
                headline: format!("Could not log in: {message}."),
                hint: "Press Connect to try again.".into(),
            },
        }
    }
}

/// A notice shown for a while, then dismissed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Unique per app run, so the UI can track when it first showed it.
    pub id: u64,
    /// The text.
    pub text: String,
}

impl App {
    /// The login screen, prefilled with `server` and `nick`.
    pub fn new(server: String, nick: String) -> Self {
        App {
            screen: Screen::Login(LoginForm {
                server,
                nick,
                ..LoginForm::default()
            }),
            notices: Vec::new(),
            remember: None,
            download_dir: default_download_dir(),
            commands: Vec::new(),
            next_notice: 0,
        }
    }

    /// The commands queued since the last call, for the network thread.
    pub fn take_commands(&mut self) -> Vec<Command> {
        std::mem::take(&mut self.commands)
    }

    /// Starts connecting with the login form's fields, after checking the nick locally (the
    /// server checks again). Does nothing if not on the login screen or already connecting.
    pub fn connect(&mut self) {
        let Screen::Login(form) = &mut self.screen else {
            return;
        };
        if form.connecting {
            return;
        }
        let server = form.server.trim().to_owned();
        let nick = form.nick.trim().to_owned();
        if server.is_empty() {
            form.error = Some(LoginProblem {
                headline: "The server address is empty.".into(),
                hint: "Enter host:port, e.g. 127.0.0.1:50000.".into(),
            });
            return;
        }
        if let Err(err) = validate_nick(&nick) {
            form.error = Some(LoginProblem {
                headline: format!("'{nick}' is not a valid nick: {err}."),
                hint: NICK_RULE.into(),
            });
            return;
        }
        form.connecting = true;
        form.error = None;
        self.commands.push(Command::Connect { server, nick });
    }

    /// Leaves the session: back to the login screen (prefilled) at once; the network side quits
    /// in the background.
    pub fn disconnect(&mut self) {
        if let Screen::Chat(session) = &self.screen {
            let form = LoginForm {
                server: session.server.clone(),
                nick: session.me.clone(),
                ..LoginForm::default()
            };
            self.screen = Screen::Login(form);
            self.commands.push(Command::Disconnect);
        }
    }

    /// Sends the active conversation's draft, if there is one to send.
    pub fn send_draft(&mut self) {
        if let Screen::Chat(session) = &mut self.screen
            && let Some(command) = session.take_draft()
        {
            self.commands.push(command);
        }
    }

    /// Adds a notice.
    pub fn notify(&mut self, text: impl Into<String>) {
        self.next_notice += 1;
        self.notices.push(Notice {
            id: self.next_notice,
            text: text.into(),
        });
    }

    /// Removes the notice with `id`.
    pub fn dismiss(&mut self, id: u64) {
        self.notices.retain(|notice| notice.id != id);
    }

    /// Applies an update from the network thread.
    pub fn apply(&mut self, update: Update) {
        match update {
            Update::LoginFailed(err) => {
                if let Screen::Login(form) = &mut self.screen {
                    form.connecting = false;
                    form.error = Some(LoginProblem::from(&err));
                }
            }
            Update::Session(event) => self.apply_event(event),
            Update::SendFailed { to, text, error } => match &mut self.screen {
                Screen::Chat(session) => session.send_failed(to.as_deref(), text, error),
                Screen::Login(_) => {}
            },
            Update::Files(list) => {
                if let Some(session) = self.session_mut() {
                    session.files.set_list(list);
                }
            }
            Update::Transfer { id, event } => {
                if let Some(session) = self.session_mut() {
                    session.files.apply(id, event);
                }
            }
        }
    }

    /// Downloads the shared file `name` into the download folder (a new transfer row).
    pub fn download(&mut self, name: &str) {
        let Some(session) = self.session_mut() else {
            return;
        };
        match session.files.download(name) {
            Ok(command) => self.commands.push(command),
            Err(error) => self.notify(format!("Cannot download {name}: {error}")),
        }
    }

    /// Download pressed for `name`: opens the "save as" dialog (nothing starts yet).
    pub fn ask_download(&mut self, name: &str) {
        if let Some(session) = self.session_mut() {
            session.files.ask_download(name);
        }
    }

    /// Save (or, with `replace`, Replace) pressed in the save dialog: starts the download if
    /// the dialog's target is fine; otherwise the dialog shows why.
    pub fn confirm_save(&mut self, replace: bool) {
        if let Some(command) = self
            .session_mut()
            .and_then(|s| s.files.confirm_save(replace))
        {
            self.commands.push(command);
        }
    }

    /// The picker chose `path`: uploads it (file mode) or fills the save dialog's folder.
    pub fn picked(&mut self, path: PathBuf) {
        let Some(result) = self.session_mut().and_then(|s| s.files.picked(path)) else {
            return;
        };
        match result {
            Ok(command) => self.commands.push(command),
            Err(error) => self.notify(format!("Cannot upload: {error}")),
        }
    }

    /// Uploads the file at `path` under its file name (a new transfer row).
    pub fn upload(&mut self, path: &Path) {
        let Some(session) = self.session_mut() else {
            return;
        };
        match session.files.upload(path) {
            Ok(command) => self.commands.push(command),
            Err(error) => self.notify(format!("Cannot upload: {error}")),
        }
    }

    /// Uploads the path typed into the upload box, if any.
    pub fn upload_typed(&mut self) {
        if let Some(path) = self
            .session_mut()
            .and_then(|session| session.files.take_upload_path())
        {
            self.upload(&path);
        }
    }

    /// Cancels transfer `id` if it is still under way.
    pub fn cancel_transfer(&mut self, id: u64) {
        if let Some(command) = self.session().and_then(|s| s.files.cancel(id)) {
            self.commands.push(command);
        }
    }

    /// Starts a cancelled or failed download again, resuming from its `.part` file.
    pub fn resume_transfer(&mut self, id: u64) {
        if let Some(command) = self.session_mut().and_then(|s| s.files.resume(id)) {
            self.commands.push(command);
        }
    }

    /// Applies an event of the session. Events while not logged in belong to a session the user
    /// already left and are ignored, except `LoggedIn` after a connect.
    pub fn apply_event(&mut self, event: client::Event) {
        match (&mut self.screen, event) {
            (
                Screen::Login(form),
                client::Event::LoggedIn {
                    nick,
                    members,
                    history,
                },
            ) if form.connecting => {
                let server = form.server.trim().to_owned();
                self.remember = Some((server.clone(), nick.clone()));
                let mut session = Session::new(server, nick, members, history);
                session.files.download_dir = self.download_dir.clone();
                self.screen = Screen::Chat(Box::new(session));
            }
            (Screen::Login(_), _) => {}
            (Screen::Chat(session), event) => {
                if let Some(text) = session.apply_event(event) {
                    self.notify(text);
                }
            }
        }
    }

    /// The session, if logged in.
    pub fn session(&self) -> Option<&Session> {
        match &self.screen {
            Screen::Chat(session) => Some(session),
            Screen::Login(_) => None,
        }
    }

    /// The session, if logged in, for changes.
    pub fn session_mut(&mut self) -> Option<&mut Session> {
        match &mut self.screen {
            Screen::Chat(session) => Some(session),
            Screen::Login(_) => None,
        }
    }
}

/// The user's Downloads folder: `$XDG_DOWNLOAD_DIR`, else `~/Downloads`, else the current
/// directory. (Created when the first download starts.)
pub fn default_download_dir() -> PathBuf {
    let env = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = env("XDG_DOWNLOAD_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(home) = env("HOME") {
        return PathBuf::from(home).join("Downloads");
    }
    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
}

#[cfg(test)]
mod tests;
