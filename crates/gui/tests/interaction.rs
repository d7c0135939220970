//! The GUI driven like a person would, headless (egui_kittest, no renderer), against a real
//! server started in this process on 127.0.0.1:0 with a temporary data directory. Other people
//! are `client` library sessions.
//!
//! Network events arrive on the GUI's own thread, so every wait steps the harness and sleeps a
//! little in a loop, failing after [`WAIT`] instead of hanging.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use client::{Client, ConnectOptions, Event, EventStream, ReconnectPolicy, Timeouts};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use gui::app::{ConvKey, Screen};
use gui::{GuiApp, Launch};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Longest wait for anything network-related.
const WAIT: Duration = Duration::from_secs(10);

/// A server on a free loopback port, and the runtime it (and the library clients) run on.
struct World {
    runtime: Runtime,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), server::Error>>>,
    dir: tempfile::TempDir,
}

impl World {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let mut world = World {
            runtime,
            addr: "127.0.0.1:0".parse().unwrap(),
            stop: None,
            task: None,
            dir: tempfile::tempdir().unwrap(),
        };
        world.serve();
        world
    }

    /// Starts the server on `self.addr` (port 0 the first time).
    fn serve(&mut self) {
        let mut config = server::Config::new(self.dir.path());
        config.rate_per_second = 10_000;
        config.rate_burst = 10_000;
        let (stop, stopped) = oneshot::channel::<()>();
        let addr = self.addr;
        let (addr, task) = self.runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
            let addr = listener.local_addr().unwrap();
            let task = tokio::spawn(server::run(listener, config, async {
                let _ = stopped.await;
            }));
            (addr, task)
        });
        self.addr = addr;
        self.stop = Some(stop);
        self.task = Some(task);
    }

    /// Shuts the server down (clients get `bye shutdown`) and starts it again on the same port
    /// with the same data.
    fn restart(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            self.runtime
                .block_on(async { tokio::time::timeout(WAIT, task).await })
                .expect("server shutdown timed out")
                .expect("server task panicked")
                .expect("server failed");
        }
        self.serve();
    }

    /// A library client logged in as `nick`, its `LoggedIn` event consumed.
    fn person(&self, nick: &str) -> (Client, EventStream) {
        self.runtime.block_on(async {
            let (client, mut events) =
                tokio::time::timeout(WAIT, Client::connect(options(&self.addr.to_string(), nick)))
                    .await
                    .expect("connect timed out")
                    .unwrap_or_else(|err| panic!("{nick} cannot log in: {err}"));
            let first = events.recv().await;
            assert!(matches!(first, Some(Event::LoggedIn { .. })), "{first:?}");
            (client, events)
        })
    }

    /// The next event matching `pred` on a library client's stream.
    fn wait_event(
        &self,
        events: &mut EventStream,
        what: &str,
        pred: impl Fn(&Event) -> bool,
    ) -> Event {
        self.runtime.block_on(async {
            tokio::time::timeout(WAIT, async {
                loop {
                    let event = events.recv().await.expect("event stream ended");
                    if pred(&event) {
                        return event;
                    }
                }
            })
            .await
            .unwrap_or_else(|_| panic!("timed out after {WAIT:?} waiting for {what}"))
        })
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Test-sized timeouts, quick reconnects.
fn options(server: &str, nick: &str) -> ConnectOptions {
    let mut options = gui::connect_options(server, nick);
    options.timeouts = Timeouts {
        connect: Duration::from_secs(5),
        request: Duration::from_secs(10),
        keepalive: Duration::from_secs(5),
        idle: Duration::from_secs(20),
    };
    options.reconnect = Some(ReconnectPolicy {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(400),
        max_attempts: None,
    });
    options
}

/// The real GUI on the login screen, server prefilled (as `--server` does), nick empty, no
/// saved session.
fn gui(server: &str) -> Harness<'static, GuiApp> {
    let app = GuiApp::new(Launch {
        server: Some(server.to_owned()),
        nick: Some(String::new()),
        connect: false,
        saved_login: None,
    })
    .with_connect_options(options);
    Harness::builder()
        .with_size(egui::vec2(1000.0, 700.0))
        .build_ui_state(|ui, app: &mut GuiApp| app.show(ui), app)
}

/// The real GUI as [`gui`] makes it, saving downloads in `dir`.
fn gui_saving_to(server: &str, dir: &std::path::Path) -> Harness<'static, GuiApp> {
    let app = GuiApp::new(Launch {
        server: Some(server.to_owned()),
        nick: Some(String::new()),
        connect: false,
        saved_login: None,
    })
    .with_connect_options(options)
    .with_download_dir(dir);
    Harness::builder()
        .with_size(egui::vec2(1000.0, 700.0))
        .build_ui_state(|ui, app: &mut GuiApp| app.show(ui), app)
}

/// Some bytes that are not all alike, `len` long.
fn content(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// Whether the GUI's Files panel state lists `name`.
fn listed(harness: &Harness<'_, GuiApp>, name: &str) -> bool {
    harness
        .state()
        .app()
        .session()
        .is_some_and(|s| s.files.list.iter().any(|f| f.name == name))
}

/// Steps the GUI until `done` holds, failing after [`WAIT`].
fn wait_until(
    harness: &mut Harness<'_, GuiApp>,
    what: &str,
    done: impl Fn(&Harness<'_, GuiApp>) -> bool,
) {
    let deadline = Instant::now() + WAIT;
    loop {
        harness.step();
        if done(harness) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {WAIT:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether some widget's label contains `text`.
fn shows(harness: &Harness<'_, GuiApp>, text: &str) -> bool {
    harness.query_by_label_contains(text).is_some()
}

/// Clicks a text box, then types into it (kittest needs the focus first).
fn type_into(harness: &mut Harness<'_, GuiApp>, label: &str, text: &str) {
    harness.get_by_label(label).click();
    harness.step();
    harness.get_by_label(label).type_text(text);
    harness.step();
}

/// Clicks a text box, selects all it holds, and types `text` over it.
fn replace_text(harness: &mut Harness<'_, GuiApp>, label: &str, text: &str) {
    harness.get_by_label(label).click();
    harness.step();
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    harness.step();
    harness.get_by_label(label).type_text(text);
    harness.step();
}

/// Clicks Download for `name` and waits for the save dialog.
fn ask_download(harness: &mut Harness<'_, GuiApp>, name: &str) {
    harness.get_by_label(&format!("Download {name}")).click();
    wait_until(harness, "the save dialog", |h| {
        shows(h, &format!("Save {name}")) && h.query_by_label("Save as").is_some()
    });
}

/// Downloads `name` into the prefilled folder under its own name: Download, then Save.
fn download(harness: &mut Harness<'_, GuiApp>, name: &str) {
    ask_download(harness, name);
    harness.get_by_label("Save").click();
    wait_until(harness, "the save dialog to close", |h| {
        h.query_by_label("Save as").is_none()
    });
}

/// Logs in through the login screen as `nick` and waits for the chat screen.
fn log_in(harness: &mut Harness<'_, GuiApp>, nick: &str) {
    type_into(harness, "Nickname", nick);
    harness.get_by_label("Connect").click();
    wait_until(harness, "the chat screen", |h| {
        h.state().app().session().is_some()
    });
    wait_until(harness, "the status bar", |h| {
        shows(h, &format!("connected as {nick}"))
    });
}

/// Types `text` into the message input and presses Enter.
fn send(harness: &mut Harness<'_, GuiApp>, text: &str) {
    type_into(harness, "Message", text);
    harness.key_press(egui::Key::Enter);
    harness.step();
}

#[test]
fn log_in_and_chat_in_the_lobby_with_a_library_client() {
    let world = World::start();
    let mut harness = gui(&world.addr.to_string());
    log_in(&mut harness, "alice");

    send(&mut harness, "hello from the gui");
    wait_until(&mut harness, "our message in the room", |h| {
        shows(h, "hello from the gui")
    });
    assert!(
        harness.get_by_label("Message").is_focused(),
        "focus stays in the input after sending"
    );
    let session = harness.state().app().session().unwrap();
    assert_eq!(session.active_conversation().draft, "", "input cleared");

    let (bob, _bob_events) = world.person("bob");
    wait_until(&mut harness, "bob in the online list", |h| {
        h.state().app().session().unwrap().is_online("bob")
    });
    world.runtime.block_on(bob.say("hi from bob")).unwrap();
    wait_until(&mut harness, "bob's message in the room", |h| {
        shows(h, "hi from bob")
    });
    world.runtime.block_on(bob.quit()).unwrap();
}

#[test]
fn clicking_a_member_opens_a_private_tab_and_the_message_reaches_only_them() {
    let world = World::start();
    let (bob, mut bob_events) = world.person("bob");
    let mut harness = gui(&world.addr.to_string());
    log_in(&mut harness, "alice");

    harness.get_by_label("bob").click();
    wait_until(&mut harness, "the private tab with bob", |h| {
        h.state().app().session().unwrap().active == ConvKey::private("bob")
    });
    send(&mut harness, "psst bob");

    let event = world.wait_event(
        &mut bob_events,
        "alice's private message",
        |e| matches!(e, Event::Message(m) if m.text == "psst bob"),
    );
    let Event::Message(msg) = event else {
        unreachable!()
    };
    assert_eq!(msg.from, "alice");
    assert_eq!(msg.to.as_deref(), Some("bob"));
    wait_until(&mut harness, "the message in the private tab", |h| {
        shows(h, "psst bob")
    });

    // bob answers privately while alice looks at the lobby: the tab gets a badge.
    harness.get_by_label_contains("# lobby").click();
    harness.step();
    world
        .runtime
        .block_on(bob.private("alice", "got it"))
        .unwrap();
    wait_until(&mut harness, "an unread badge on bob's tab", |h| {
        let tabs = h.state().app().session().unwrap().tabs();
        tabs.iter()
            .any(|t| t.key == ConvKey::private("bob") && t.unread == 1)
    });
}

#[test]
fn a_taken_nick_is_explained_and_another_nick_works_on_retry() {
    let world = World::start();
    let (_bob, mut bob_events) = world.person("bob");
    let mut harness = gui(&world.addr.to_string());

    type_into(&mut harness, "Nickname", "bob");
    harness.get_by_label("Connect").click();
    wait_until(&mut harness, "the nick-taken message", |h| {
        shows(h, "The nick 'bob' is taken")
    });
    assert!(shows(&harness, "Choose another nick"));
    assert!(harness.state().app().session().is_none());

    // Retry: make it "bob2" and connect again, this time with Enter.
    type_into(&mut harness, "Nickname", "2");
    harness.key_press(egui::Key::Enter);
    wait_until(&mut harness, "the chat screen", |h| {
        h.state().app().session().is_some()
    });
    world.wait_event(
        &mut bob_events,
        "bob2 joining",
        |e| matches!(e, Event::Joined { nick } if nick == "bob2"),
    );
}

#[test]
fn an_unreachable_server_says_to_start_one() {
    // A port that was free a moment ago: nothing listens there now.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut harness = gui(&addr.to_string());
    type_into(&mut harness, "Nickname", "alice");
    harness.get_by_label("Connect").click();
    wait_until(&mut harness, "the unreachable message", |h| {
        shows(h, "Cannot reach a confab server")
    });
    assert!(shows(&harness, "start a server with `confab server`"));
    let Screen::Login(form) = &harness.state().app().screen else {
        panic!("still on the login screen");
    };
    assert!(!form.connecting, "Connect can be pressed again");
}

#[test]
fn disconnect_returns_to_the_login_screen_and_quits_cleanly() {
    let world = World::start();
    let (_bob, mut bob_events) = world.person("bob");
    let mut harness = gui(&world.addr.to_string());
    log_in(&mut harness, "alice");

    harness.get_by_label("Disconnect").click();
    wait_until(&mut harness, "the login screen", |h| {
        h.state().app().session().is_none()
    });
    world.wait_event(
        &mut bob_events,
        "alice leaving",
        |e| matches!(e, Event::Left { nick, reason } if nick == "alice" && reason == "quit"),
    );
    harness.step();
    assert_eq!(
        harness.get_by_label("Nickname").value().as_deref(),
        Some("alice"),
        "the login screen is prefilled with the nick we had"
    );

    // And back in, with the prefilled nick.
    harness.get_by_label("Connect").click();
    wait_until(&mut harness, "the chat screen again", |h| {
        h.state().app().session().is_some()
    });
}

#[test]
fn a_server_restart_shows_reconnecting_then_catches_up() {
    let mut world = World::start();
    let mut harness = gui(&world.addr.to_string());
    log_in(&mut harness, "alice");

    world.restart();
    wait_until(&mut harness, "the status bar to show the reconnect", |h| {
        h.state().app().session().unwrap().caught_up.is_some()
    });
    wait_until(&mut harness, "connected again", |h| {
        shows(h, "connected as alice") && shows(h, "caught up on")
    });
    let (carol, _events) = world.person("carol");
    world
        .runtime
        .block_on(carol.say("after the restart"))
        .unwrap();
    wait_until(&mut harness, "a message after the restart", |h| {
        shows(h, "after the restart")
    });
    send(&mut harness, "still here");
    wait_until(&mut harness, "our own message after the restart", |h| {
        shows(h, "still here")
    });
}

#[test]
fn upload_by_path_then_download_it_verified_into_the_download_folder() {
    let world = World::start();
    let local = tempfile::tempdir().unwrap();
    let source = local.path().join("notes.txt");
    let bytes = content(300_000);
    std::fs::write(&source, &bytes).unwrap();
    // Not created yet: the first download creates it.
    let downloads = local.path().join("Downloads");
    let mut harness = gui_saving_to(&world.addr.to_string(), &downloads);
    log_in(&mut harness, "alice");

    harness.get_by_label_contains("Files (").click();
    harness.step();
    assert!(shows(&harness, "No files shared yet"));
    type_into(&mut harness, "File to upload", source.to_str().unwrap());
    harness.get_by_label("Upload").click();
    wait_until(&mut harness, "the upload to complete", |h| {
        shows(h, "uploaded, verified and listed by the server")
    });
    wait_until(&mut harness, "notes.txt in the Files panel", |h| {
        listed(h, "notes.txt") && shows(h, "Download notes.txt")
    });
    assert!(
        shows(&harness, "293.0 KiB · alice"),
        "size and uploader shown"
    );

    download(&mut harness, "notes.txt");
    let saved = downloads.join("notes.txt");
    let done = format!("saved to {}, verified", saved.display());
    wait_until(&mut harness, "the download to complete", |h| {
        shows(h, &done)
    });
    assert_eq!(
        std::fs::read(&saved).unwrap(),
        bytes,
        "the same bytes on disk"
    );
    assert!(
        !downloads.join("notes.txt.part").exists(),
        "no partial file left behind"
    );

    // The inspector of the download: its figures as text, its history as plots.
    // The transfer list scrolls to its newest row over a frame or two: let it settle first.
    for _ in 0..4 {
        harness.step();
    }
    harness.get_all_by_label("Details").last().unwrap().click();
    wait_until(&mut harness, "the inspector", |h| {
        shows(h, "notes.txt — network figures")
    });
    assert!(shows(&harness, "RTT (smoothed / min) (server's sender)"));
    assert!(
        shows(&harness, "from the server's sender"),
        "a download's window, losses and RTT are labelled as the server's"
    );
}

/// A file dropped on the window, as the windowing backend would hand it over.
#[derive(Debug)]
struct Dropped(std::path::PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &std::path::Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|err| err.to_string())
    }
}

#[test]
fn files_shared_by_others_appear_live_and_a_dropped_file_is_uploaded() {
    let world = World::start();
    let local = tempfile::tempdir().unwrap();
    let mut harness = gui_saving_to(&world.addr.to_string(), &local.path().join("dl"));
    log_in(&mut harness, "alice");
    harness.get_by_label_contains("Files (").click();
    harness.step();

    let (bob, _bob_events) = world.person("bob");
    let shared = local.path().join("from-bob.bin");
    std::fs::write(&shared, content(5_000)).unwrap();
    world.runtime.block_on(async {
        let handle = bob.upload(&shared, None, false).await.unwrap();
        tokio::time::timeout(WAIT, handle.finished())
            .await
            .expect("bob's upload timed out")
            .unwrap();
    });
    wait_until(&mut harness, "bob's file in the Files panel", |h| {
        listed(h, "from-bob.bin") && shows(h, "4.9 KiB · bob")
    });

    let dropped = local.path().join("dropped.txt");
    std::fs::write(&dropped, b"dropped onto the window").unwrap();
    harness
        .input_mut()
        .dropped_files
        .push(std::sync::Arc::new(Dropped(dropped)));
    wait_until(
        &mut harness,
        "the dropped file to be uploaded and listed",
        |h| listed(h, "dropped.txt") && shows(h, "uploaded, verified and listed"),
    );
    world.runtime.block_on(bob.quit()).unwrap();
}

#[test]
fn a_cancelled_download_says_so_and_resume_finishes_it_verified() {
    let world = World::start();
    // A 16 Mbit/s link between the GUI and the server: the 4 MiB download takes about 2 s,
    // long enough to cancel half-way.
    let link: netsim::LinkConfig = "rate=16mbit,delay=5ms".parse().unwrap();
    let relay_addr = world.runtime.block_on(async {
        let config =
            relay::RelayConfig::new("127.0.0.1:0".parse().unwrap(), world.addr).with_link(link);
        let relay = relay::Relay::bind(config).await.unwrap();
        let addr = relay.local_addr();
        tokio::spawn(relay.run(std::future::pending()));
        addr
    });
    let local = tempfile::tempdir().unwrap();
    let bytes = content(4 << 20);
    let shared = local.path().join("big.bin");
    std::fs::write(&shared, &bytes).unwrap();
    let (bob, _bob_events) = world.person("bob");
    world.runtime.block_on(async {
        let handle = bob.upload(&shared, None, false).await.unwrap();
        tokio::time::timeout(WAIT, handle.finished())
            .await
            .expect("bob's upload timed out")
            .unwrap();
    });

    let downloads = local.path().join("dl");
    let mut harness = gui_saving_to(&relay_addr.to_string(), &downloads);
    log_in(&mut harness, "alice");
    harness.get_by_label_contains("Files (").click();
    wait_until(&mut harness, "big.bin in the Files panel", |h| {
        shows(h, "Download big.bin")
    });
    download(&mut harness, "big.bin");
    wait_until(&mut harness, "the download under way", |h| {
        let files = &h.state().app().session().unwrap().files;
        files.transfers[0].progress.bytes_done > 256 << 10
    });
    harness.get_by_label("Cancel big.bin").click();
    wait_until(&mut harness, "the cancel to show", |h| {
        shows(h, "cancelled — Resume picks up where it stopped")
    });
    assert!(
        downloads.join("big.bin.part").exists(),
        "the partial file is kept for the resume"
    );
    assert!(!downloads.join("big.bin").exists());

    harness.get_by_label("Resume big.bin").click();
    let saved = downloads.join("big.bin");
    let done = format!("saved to {}, verified (", saved.display());
    wait_until(&mut harness, "the resumed download to complete", |h| {
        shows(h, &done)
    });
    assert!(shows(&harness, "resumed)"), "it says how much was resumed");
    assert_eq!(
        std::fs::read(&saved).unwrap(),
        bytes,
        "the same bytes on disk"
    );
    world.runtime.block_on(bob.quit()).unwrap();
}

#[test]
fn download_asks_where_to_save_refuses_bad_names_and_saves_under_the_chosen_name() {
    let world = World::start();
    let local = tempfile::tempdir().unwrap();
    let bytes = content(100_000);
    let shared = local.path().join("report.pdf");
    std::fs::write(&shared, &bytes).unwrap();
    let (bob, _bob_events) = world.person("bob");
    world.runtime.block_on(async {
        let handle = bob.upload(&shared, None, false).await.unwrap();
        tokio::time::timeout(WAIT, handle.finished())
            .await
            .expect("bob's upload timed out")
            .unwrap();
    });
    // A file of that name is already in the download folder.
    let downloads = local.path().join("dl");
    std::fs::create_dir(&downloads).unwrap();
    std::fs::write(downloads.join("report.pdf"), b"mine, keep it").unwrap();

    let mut harness = gui_saving_to(&world.addr.to_string(), &downloads);
    log_in(&mut harness, "alice");
    harness.get_by_label_contains("Files (").click();
    wait_until(&mut harness, "report.pdf in the Files panel", |h| {
        shows(h, "Download report.pdf")
    });
    ask_download(&mut harness, "report.pdf");
    assert_eq!(
        harness.get_by_label("Save in folder").value().as_deref(),
        Some(downloads.to_str().unwrap()),
        "prefilled with the download folder"
    );
    assert_eq!(
        harness.get_by_label("Save as").value().as_deref(),
        Some("report.pdf"),
        "prefilled with the file's name"
    );

    // The name is taken: the dialog says so and offers Replace; nothing starts.
    harness.get_by_label("Save").click();
    wait_until(&mut harness, "the already-exists message", |h| {
        shows(h, "already exists. Replace it, or choose another name.")
    });
    assert!(harness.query_by_label("Replace").is_some());
    assert!(
        harness
            .state()
            .app()
            .session()
            .unwrap()
            .files
            .transfers
            .is_empty()
    );

    // A name with a slash is refused inline.
    replace_text(&mut harness, "Save as", "../escape.pdf");
    assert!(
        harness.query_by_label("Replace").is_none(),
        "editing the name withdraws the Replace offer"
    );
    harness.get_by_label("Save").click();
    wait_until(&mut harness, "the refusal", |h| {
        shows(h, "Cannot save as '../escape.pdf'")
    });
    assert!(
        harness
            .state()
            .app()
            .session()
            .unwrap()
            .files
            .transfers
            .is_empty()
    );

    // Another name: saved there, verified.
    replace_text(&mut harness, "Save as", "bob's report.pdf");
    harness.key_press(egui::Key::Enter);
    wait_until(&mut harness, "the save dialog to close", |h| {
        h.query_by_label("Save as").is_none()
    });
    let saved = downloads.join("bob's report.pdf");
    let done = format!("saved to {}, verified", saved.display());
    wait_until(&mut harness, "the download to complete", |h| {
        shows(h, &done)
    });
    assert_eq!(
        std::fs::read(&saved).unwrap(),
        bytes,
        "the same bytes on disk"
    );
    assert_eq!(
        std::fs::read(downloads.join("report.pdf")).unwrap(),
        b"mine, keep it",
        "the existing file is untouched"
    );
    world.runtime.block_on(bob.quit()).unwrap();
}

#[test]
fn the_file_picker_browses_to_a_file_and_uploads_it() {
    let world = World::start();
    let local = tempfile::tempdir().unwrap();
    let folder = local.path().join("music");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("song.ogg"), content(20_000)).unwrap();
    std::fs::write(local.path().join("other.txt"), b"not this one").unwrap();
    let mut harness = gui_saving_to(&world.addr.to_string(), &local.path().join("dl"));
    log_in(&mut harness, "alice");
    harness.get_by_label_contains("Files (").click();
    harness.step();

    harness.get_by_label("Browse for a file to upload").click();
    wait_until(&mut harness, "the file picker", |h| {
        shows(h, "Choose a file to upload")
    });
    // Type the folder into the path field; folders come first, with a `..` row.
    replace_text(&mut harness, "Folder path", local.path().to_str().unwrap());
    harness.key_press(egui::Key::Enter);
    wait_until(&mut harness, "the folder's entries", |h| {
        h.query_by_label("music").is_some() && h.query_by_label("other.txt").is_some()
    });
    assert!(harness.query_by_label("..").is_some());
    // Into the folder by keyboard: select `music`, Enter.
    harness.get_by_label("music").click();
    harness.step();
    harness.key_press(egui::Key::Enter);
    wait_until(&mut harness, "inside music", |h| {
        h.query_by_label("song.ogg").is_some()
    });
    harness.get_by_label("song.ogg").click();
    harness.step();
    harness.get_by_label("Upload the selected file").click();
    wait_until(&mut harness, "song.ogg uploaded and listed", |h| {
        listed(h, "song.ogg") && shows(h, "uploaded, verified and listed")
    });
    assert!(
        harness.query_by_label("Choose a file to upload").is_none(),
        "the picker closed"
    );
}

#[test]
fn the_save_dialog_can_browse_for_its_folder() {
    let world = World::start();
    let local = tempfile::tempdir().unwrap();
    let shared = local.path().join("a.txt");
    std::fs::write(&shared, b"alpha").unwrap();
    let target = local.path().join("elsewhere");
    std::fs::create_dir(&target).unwrap();
    let mut harness = gui_saving_to(&world.addr.to_string(), &local.path().join("dl"));
    log_in(&mut harness, "alice");
    harness.get_by_label_contains("Files (").click();
    harness.step();
    type_into(&mut harness, "File to upload", shared.to_str().unwrap());
    harness.get_by_label("Upload").click();
    wait_until(&mut harness, "a.txt listed", |h| {
        listed(h, "a.txt") && shows(h, "Download a.txt")
    });

    ask_download(&mut harness, "a.txt");
    harness.get_by_label("Browse…").click();
    wait_until(&mut harness, "the folder picker", |h| {
        shows(h, "Choose a folder to save in")
    });
    // It opens at the nearest existing folder of the one typed (dl does not exist yet).
    assert!(harness.query_by_label("elsewhere").is_some());
    harness.get_by_label("elsewhere").click();
    harness.step();
    harness.get_by_label("Choose this folder").click();
    wait_until(&mut harness, "the folder filled in", |h| {
        h.query_by_label("Choose a folder to save in").is_none()
            && h.get_by_label("Save in folder").value().as_deref() == target.to_str()
    });
    harness.get_by_label("Save").click();
    let saved = target.join("a.txt");
    let done = format!("saved to {}, verified", saved.display());
    wait_until(&mut harness, "the download to complete", |h| {
        shows(h, &done)
    });
    assert_eq!(std::fs::read(&saved).unwrap(), b"alpha");
}
