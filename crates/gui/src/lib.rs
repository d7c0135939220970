//! confab's desktop client (egui/eframe), started by `confab gui`.
//!
//! # Model
//! Three parts, with data flowing one way through each:
//!
//! ```text
//!   net thread (tokio)            UI thread (eframe)
//!   client::Client ──Update──►  App::apply ──► App (state) ──► ui::show ──► pixels
//!        ▲                                                        │ clicks, keys
//!        └────────────────────── Command ◄── App::take_commands ◄─┘
//! ```
//!
//! - [`app`]: the state — login form, session, conversations, unread counts, notices — and
//!   every rule about it (which tab a message goes to, duplicates, what an error says). Plain
//!   data, no egui, no I/O: unit-tested directly.
//! - [`ui`]: draws the state and turns input into calls on it. Holds no session state.
//! - [`net`]: the network thread. It runs the `client` library on its own tokio runtime,
//!   executes [`net::Command`]s and posts [`net::Update`]s, waking the UI for each. The UI
//!   never blocks on it; the GUI holds no protocol logic at all.
//! - [`saved`]: the last server and nick, remembered for the login screen.
//! - [`picker`]: the in-app file picker's model (a folder's entries, sorted and filtered);
//!   plain data and `std::fs`, unit-tested on temporary folders.
//!
//! [`GuiApp`] ties them together per frame: drain updates → draw → hand queued commands to
//! the network thread. [`run`] opens the window.
//!
//! # Where to start
//! [`GuiApp::show`], then `App::apply_event` in `app/mod.rs` and `Session::apply_event` in
//! `app/session.rs`, then `ui/chat.rs`; for file sharing `app/files.rs`, `ui/files.rs` and
//! `run_transfer` in `net.rs`.
//!
//! Times are shown in the computer's local time zone (the tooltip on a message shows the
//! full date, time and UTC offset).
//!
//! File sharing: the right-hand panel switches between People and Files (the server's files,
//! a Download button each, an upload box with a Browse… button opening the in-app file picker;
//! files dropped on the window are uploaded). Download first asks where to save: a small dialog
//! prefilled with the Downloads folder and the file's name (`app/save.rs`). Each
//! transfer gets a row above the input line (`ui/files.rs`); the transfers themselves run on
//! the network thread, which reports their progress as updates like any other.

pub mod app;
pub mod net;
pub mod picker;
pub mod saved;
pub mod ui;

use std::path::PathBuf;

use client::ConnectOptions;
use eframe::egui;

use crate::app::App;
use crate::net::Net;

/// The server address used when neither a flag nor a saved session names one.
pub const DEFAULT_SERVER: &str = "127.0.0.1:50000";

/// Messages of backlog loaded on login.
const HISTORY_ON_LOGIN: u32 = 200;

/// How the window starts.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    /// Server address given on the command line; wins over the saved one.
    pub server: Option<String>,
    /// Nick given on the command line; wins over the saved one.
    pub nick: Option<String>,
    /// Connect at once with the prefilled server and nick instead of waiting for a click.
    pub connect: bool,
    /// Where to read and save the last session (`None`: neither).
    pub saved_login: Option<PathBuf>,
}

/// The connect options the GUI uses: the library's defaults, a bigger backlog, our name.
pub fn connect_options(server: &str, nick: &str) -> ConnectOptions {
    let mut options = ConnectOptions::new(server, nick);
    options.history = Some(HISTORY_ON_LOGIN);
    options.client_name = concat!("confab-gui/", env!("CARGO_PKG_VERSION")).into();
    options
}

/// The application: state, widget state, and the network thread (started on the first frame,
/// when the egui context to wake is known).
pub struct GuiApp {
    app: App,
    ui_state: ui::UiState,
    net: Option<Net>,
    connect_options: fn(&str, &str) -> ConnectOptions,
    saved_login: Option<PathBuf>,
    connect_on_start: bool,
    title: String,
}

impl GuiApp {
    /// The login screen, prefilled from `launch`, else the saved session, else defaults.
    pub fn new(launch: Launch) -> Self {
        let saved = launch.saved_login.as_deref().and_then(saved::load);
        let server = launch
            .server
            .or_else(|| saved.as_ref().map(|s| s.server.clone()))
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
        let nick = launch
            .nick
            .or_else(|| saved.map(|s| s.nick))
            .or_else(|| {
                std::env::var("USER")
                    .ok()
                    .filter(|user| proto::nick::validate_nick(user).is_ok())
            })
            .unwrap_or_default();
        GuiApp {
            app: App::new(server, nick),
            ui_state: ui::UiState::default(),
            net: None,
            connect_options,
            saved_login: launch.saved_login,
            connect_on_start: launch.connect,
            title: String::new(),
        }
    }

    /// Uses `options` to build the client's connect options (tests shorten timeouts).
    pub fn with_connect_options(mut self, options: fn(&str, &str) -> ConnectOptions) -> Self {
        self.connect_options = options;
        self
    }

    /// Saves downloads in `dir` instead of the user's Downloads folder (tests use a temporary
    /// directory).
    pub fn with_download_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.app.download_dir = dir.into();
        self
    }

    /// The state, for tests and inspection.
    pub fn app(&self) -> &App {
        &self.app
    }

    /// Runs one frame: apply what the network reported, draw, send what the user asked for.
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let options = self.connect_options;
        let net = self
            .net
            .get_or_insert_with(|| Net::start(ui.ctx().clone(), options));
        while let Some(update) = net.try_recv() {
            self.app.apply(update);
        }
        if let (Some((server, nick)), Some(path)) = (self.app.remember.take(), &self.saved_login) {
            saved::store(path, &saved::SavedLogin { server, nick });
        }
        if std::mem::take(&mut self.connect_on_start) {
            self.app.connect();
        }

        ui::show(ui, &mut self.app, &mut self.ui_state);

        for command in self.app.take_commands() {
            net.send(command);
        }
        self.update_title(ui.ctx());
    }

    /// `confab — alice (3)`: who you are and how much is unread, visible in the task bar.
    fn update_title(&mut self, ctx: &egui::Context) {
        let title = match self.app.session() {
            None => "confab".to_owned(),
            Some(s) => match s.total_unread() {
                0 => format!("confab — {}", s.me),
                n => format!("confab — {} ({n})", s.me),
            },
        };
        if title != self.title {
            ctx.send_viewport_cmd(egui::ViewportCommand::Title(title.clone()));
            self.title = title;
        }
    }
}

impl eframe::App for GuiApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }
}

/// Opens the window and runs until it is closed. The session (if any) quits cleanly on close.
pub fn run(launch: Launch) -> Result<(), eframe::Error> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("confab")
            .with_app_id("confab")
            .with_inner_size([980.0, 640.0])
            .with_min_inner_size([560.0, 360.0]),
        ..eframe::NativeOptions::default()
    };
    let app = GuiApp::new(launch);
    eframe::run_native("confab", options, Box::new(|_cc| Ok(Box::new(app))))
}
