//! The state logic on its own: routing, unread counts, tabs, dedupe, login and send errors.

use std::time::Duration;

use client::{ChatMessage, ErrorCode, Event};

use super::*;

fn public(id: u64, from: &str, text: &str) -> ChatMessage {
    ChatMessage {
        id,
        ts: 1_795_000_000_000 + id,
        from: from.into(),
        to: None,
        text: text.into(),
    }
}

fn private(id: u64, from: &str, to: &str, text: &str) -> ChatMessage {
    ChatMessage {
        to: Some(to.into()),
        ..public(id, from, text)
    }
}

/// An app logged in as alice with bob and carol online and `history` as backlog.
fn logged_in(history: Vec<ChatMessage>) -> App {
    let mut app = App::new("127.0.0.1:50000".into(), "alice".into());
    app.connect();
    assert_eq!(
        app.take_commands(),
        [Command::Connect {
            server: "127.0.0.1:50000".into(),
            nick: "alice".into()
        }]
    );
    app.apply_event(Event::LoggedIn {
        nick: "alice".into(),
        members: vec!["carol".into(), "alice".into(), "Bob".into()],
        history,
    });
    app
}

fn session(app: &App) -> &Session {
    app.session().expect("logged in")
}

fn texts(conv: &Conversation) -> Vec<&str> {
    conv.lines
        .iter()
        .filter_map(|line| match line {
            Line::Message(m) => Some(m.text.as_str()),
            Line::Note(_) => None,
        })
        .collect()
}

fn tab<'a>(tabs: &'a [TabView], title: &str) -> &'a TabView {
    tabs.iter()
        .find(|t| t.title == title)
        .unwrap_or_else(|| panic!("no tab {title}"))
}

#[test]
fn login_loads_history_into_lobby_and_private_tabs_without_unread() {
    let app = logged_in(vec![
        public(1, "bob", "hi all"),
        private(2, "bob", "alice", "psst"),
        private(3, "alice", "carol", "hey carol"),
    ]);
    assert_eq!(
        app.remember,
        Some(("127.0.0.1:50000".into(), "alice".into()))
    );
    let s = session(&app);
    assert_eq!(s.members, ["alice", "Bob", "carol"], "sorted ignoring case");
    let tabs = s.tabs();
    assert_eq!(
        tabs.iter().map(|t| t.title.as_str()).collect::<Vec<_>>(),
        ["# lobby", "bob", "carol"]
    );
    assert!(tabs.iter().all(|t| t.unread == 0), "backlog is not unread");
    assert!(tab(&tabs, "# lobby").active);
    assert_eq!(texts(&s.conversations[0]), ["hi all"]);
}

#[test]
fn incoming_private_message_opens_a_badged_tab_without_stealing_focus() {
    let mut app = logged_in(vec![]);
    app.apply_event(Event::Message(private(10, "Bob", "alice", "one")));
    app.apply_event(Event::Message(private(11, "bob", "alice", "two")));
    let s = session(&app);
    assert_eq!(s.active, ConvKey::Lobby, "the lobby stays on screen");
    let tabs = s.tabs();
    assert_eq!(tabs.len(), 2);
    assert_eq!(tab(&tabs, "bob").unread, 2, "one tab per peer, any case");

    app.session_mut().unwrap().select(&ConvKey::private("BOB"));
    let s = session(&app);
    assert_eq!(tab(&s.tabs(), "bob").unread, 0, "reading clears the badge");
    assert_eq!(texts(s.active_conversation()), ["one", "two"]);
}

#[test]
fn unread_counts_only_other_peoples_messages_in_hidden_tabs() {
    let mut app = logged_in(vec![]);
    app.session_mut().unwrap().open_private("carol");
    app.apply_event(Event::Message(public(5, "bob", "in the lobby")));
    app.apply_event(Event::Message(public(6, "alice", "mine")));
    app.apply_event(Event::Message(private(7, "carol", "alice", "seen at once")));
    let s = session(&app);
    let tabs = s.tabs();
    assert_eq!(
        tab(&tabs, "# lobby").unread,
        1,
        "our own message is not unread"
    );
    assert_eq!(
        tab(&tabs, "carol").unread,
        0,
        "the active tab is being read"
    );
    assert_eq!(s.total_unread(), 1);
}

#[test]
fn our_private_message_files_under_the_recipient() {
    let mut app = logged_in(vec![]);
    app.apply_event(Event::Message(private(3, "alice", "carol", "to carol")));
    let s = session(&app);
    let conv = &s.conversations[1];
    assert_eq!(conv.key, ConvKey::private("carol"));
    assert_eq!(conv.unread, 0);
    assert_eq!(texts(conv), ["to carol"]);
}

#[test]
fn duplicates_and_replays_are_dropped() {
    let mut app = logged_in(vec![public(1, "bob", "old")]);
    app.apply_event(Event::Message(public(1, "bob", "old")));
    app.apply_event(Event::Message(public(2, "bob", "new")));
    app.apply_event(Event::Message(public(2, "bob", "new")));
    app.apply_event(Event::Message(public(1, "bob", "old")));
    let s = session(&app);
    assert_eq!(texts(&s.conversations[0]), ["old", "new"]);
    assert_eq!(s.conversations[0].unread, 0, "lobby is active");
}

#[test]
fn presence_is_live_and_noted() {
    let mut app = logged_in(vec![]);
    app.session_mut().unwrap().open_private("bob");
    app.apply_event(Event::Joined {
        nick: "dave".into(),
    });
    app.apply_event(Event::Left {
        nick: "BOB".into(),
        reason: "timeout".into(),
    });
    let s = session(&app);
    assert_eq!(s.members, ["alice", "carol", "dave"]);
    assert!(
        !tab(&s.tabs(), "bob").online,
        "the private tab shows bob offline"
    );
    let lobby_notes: Vec<_> = s.conversations[0]
        .lines
        .iter()
        .filter_map(|l| match l {
            Line::Note(n) => Some(n.as_str()),
            Line::Message(_) => None,
        })
        .collect();
    assert_eq!(lobby_notes, ["dave joined", "BOB left (connection lost)"]);
    assert_eq!(
        s.active_conversation().lines,
        [Line::Note("BOB left (connection lost)".into())]
    );
}

#[test]
fn a_shared_file_is_announced_in_the_lobby() {
    let mut app = logged_in(vec![]);
    app.apply_event(Event::FileAdded(client::FileInfo {
        name: "slides.pdf".into(),
        size: 3 * 1024 * 1024 + 512 * 1024,
        hash: "0".repeat(64),
        uploader: "bob".into(),
        ts: 0,
    }));
    assert_eq!(
        session(&app).conversations[0].lines.last(),
        Some(&Line::Note("bob shared slides.pdf (3.5 MiB)".into()))
    );
}

#[test]
fn connection_state_follows_reconnects() {
    let mut app = logged_in(vec![public(1, "bob", "before")]);
    app.apply_event(Event::Disconnected {
        reason: "the server closed the connection".into(),
        code: None,
    });
    assert!(matches!(session(&app).conn, ConnState::Lost { .. }));
    app.apply_event(Event::Reconnecting {
        attempt: 2,
        delay: Duration::from_millis(500),
    });
    assert_eq!(
        session(&app).conn,
        ConnState::Reconnecting {
            attempt: 2,
            delay_ms: 500
        }
    );
    app.apply_event(Event::Reconnected {
        members: vec!["alice".into()],
        missed: 2,
    });
    app.apply_event(Event::Message(public(2, "bob", "missed one")));
    app.apply_event(Event::Message(public(3, "bob", "missed two")));
    let s = session(&app);
    assert_eq!(s.conn, ConnState::Connected);
    assert_eq!(s.caught_up, Some(2));
    assert_eq!(s.members, ["alice"]);
    assert_eq!(
        texts(&s.conversations[0]),
        ["before", "missed one", "missed two"]
    );
}

#[test]
fn server_errors_become_notices_and_closed_sessions_say_so() {
    let mut app = logged_in(vec![]);
    app.apply_event(Event::Error {
        code: ErrorCode::Internal,
        message: "could not store".into(),
    });
    assert_eq!(app.notices.len(), 1);
    assert_eq!(app.notices[0].text, "could not store");
    let id = app.notices[0].id;
    app.dismiss(id);
    assert!(app.notices.is_empty());
    app.apply_event(Event::Closed {
        reason: "nick 'alice' is taken".into(),
    });
    assert!(matches!(session(&app).conn, ConnState::Closed { .. }));
}

#[test]
fn sending_takes_the_draft_and_a_failure_gives_it_back() {
    let mut app = logged_in(vec![]);
    app.session_mut().unwrap().active_conversation_mut().draft = "   ".into();
    app.send_draft();
    assert!(app.take_commands().is_empty(), "blank drafts are not sent");

    app.session_mut().unwrap().open_private("Bob");
    app.session_mut().unwrap().active_conversation_mut().draft = "psst".into();
    app.send_draft();
    assert_eq!(
        app.take_commands(),
        [Command::Send {
            to: Some("Bob".into()),
            text: "psst".into()
        }]
    );
    assert_eq!(session(&app).active_conversation().draft, "");

    app.apply(Update::SendFailed {
        to: Some("bob".into()),
        text: "psst".into(),
        error: "message is too long".into(),
    });
    let conv = session(&app).active_conversation();
    assert_eq!(conv.draft, "psst");
    assert_eq!(conv.send_error.as_deref(), Some("message is too long"));
}

#[test]
fn tabs_cycle_close_and_clicking_yourself_goes_to_the_lobby() {
    let mut app = logged_in(vec![]);
    let s = app.session_mut().unwrap();
    s.open_private("bob");
    s.open_private("carol");
    s.cycle(1);
    assert_eq!(s.active, ConvKey::Lobby, "wraps around");
    s.cycle(-1);
    assert_eq!(s.active, ConvKey::private("carol"));
    s.close(&ConvKey::private("carol"));
    assert_eq!(s.active, ConvKey::Lobby);
    s.close(&ConvKey::Lobby);
    assert_eq!(s.conversations.len(), 2, "the lobby cannot be closed");
    s.open_private("ALICE");
    assert_eq!(s.active, ConvKey::Lobby);
    assert_eq!(s.conversations.len(), 2, "no tab with yourself");
}

#[test]
fn login_errors_explain_what_to_do_and_allow_a_retry() {
    let mut app = App::new("127.0.0.1:1".into(), "9lives".into());
    app.connect();
    assert!(app.take_commands().is_empty(), "checked before connecting");
    let Screen::Login(form) = &app.screen else {
        panic!()
    };
    assert!(form.error.as_ref().unwrap().hint.contains("1 to 24"));

    if let Screen::Login(form) = &mut app.screen {
        form.nick = "bob".into();
    }
    app.connect();
    assert_eq!(app.take_commands().len(), 1);
    app.connect();
    assert!(app.take_commands().is_empty(), "one connect at a time");
    app.apply(Update::LoginFailed(LoginError::Unreachable {
        server: "127.0.0.1:1".into(),
        detail: "connection refused".into(),
    }));
    let Screen::Login(form) = &app.screen else {
        panic!()
    };
    assert!(!form.connecting);
    let problem = form.error.as_ref().unwrap();
    assert!(problem.headline.contains("127.0.0.1:1"), "{problem:?}");
    assert!(problem.hint.contains("confab server"), "{problem:?}");

    app.connect();
    app.apply(Update::LoginFailed(LoginError::NickTaken {
        nick: "bob".into(),
    }));
    let Screen::Login(form) = &app.screen else {
        panic!()
    };
    assert!(form.error.as_ref().unwrap().headline.contains("taken"));
}

#[test]
fn disconnect_returns_to_a_prefilled_login_and_ignores_the_old_session() {
    let mut app = logged_in(vec![]);
    app.disconnect();
    assert_eq!(app.take_commands(), [Command::Disconnect]);
    let Screen::Login(form) = &app.screen else {
        panic!("back on the login screen")
    };
    assert_eq!(form.nick, "alice");
    assert_eq!(form.server, "127.0.0.1:50000");
    // Late events of the session we left change nothing.
    app.apply_event(Event::Message(public(9, "bob", "late")));
    app.apply_event(Event::LoggedIn {
        nick: "alice".into(),
        members: vec![],
        history: vec![],
    });
    assert!(app.session().is_none());
}

fn file(name: &str, size: u64, uploader: &str) -> client::FileInfo {
    client::FileInfo {
        name: name.into(),
        size,
        hash: "ab".repeat(32),
        uploader: uploader.into(),
        ts: 1_795_000_000_000,
    }
}

fn progress(done: u64, size: u64, rate: f64) -> client::TransferProgress {
    client::TransferProgress {
        bytes_done: done,
        size,
        rate,
        elapsed: Duration::from_millis(done),
        ..client::TransferProgress::default()
    }
}

fn transfer_update(id: u64, event: crate::net::TransferEvent) -> Update {
    Update::Transfer { id, event }
}

#[test]
fn the_file_list_loads_then_grows_and_replaces_live() {
    let mut app = logged_in(vec![]);
    app.apply(Update::Files(vec![
        file("zeta.bin", 10, "bob"),
        file("alpha.txt", 3, "carol"),
    ]));
    app.apply_event(Event::FileAdded(file("middle.ogg", 2048, "bob")));
    app.apply_event(Event::FileAdded(file("alpha.txt", 99, "alice")));
    let files = &session(&app).files;
    let names: Vec<_> = files.list.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["alpha.txt", "middle.ogg", "zeta.bin"], "sorted");
    assert_eq!(
        files.list[0].size, 99,
        "a re-shared name replaces its entry"
    );
    assert_eq!(files.list[0].uploader, "alice");
}

#[test]
fn a_download_row_follows_progress_to_a_verified_file() {
    use crate::net::{TransferEnd, TransferEvent};
    let mut app = logged_in(vec![]);
    app.session_mut().unwrap().files.download_dir = "/tmp/dl".into();
    app.apply(Update::Files(vec![file("notes.txt", 1000, "bob")]));
    app.download("notes.txt");
    let commands = app.take_commands();
    let [Command::Download { id, name, dest }] = commands.as_slice() else {
        panic!("{commands:?}");
    };
    assert_eq!(name, "notes.txt");
    assert_eq!(dest, std::path::Path::new("/tmp/dl/notes.txt"));
    let id = *id;
    let row = session(&app).files.transfer(id).unwrap();
    assert_eq!(row.state, TransferState::Starting);
    assert_eq!(
        row.progress.size, 1000,
        "the size is known from the listing"
    );

    app.apply(transfer_update(
        id,
        TransferEvent::Progress(Box::new(progress(250, 1000, 500.0))),
    ));
    app.apply(transfer_update(
        id,
        TransferEvent::Progress(Box::new(progress(500, 1000, 500.0))),
    ));
    let row = session(&app).files.transfer(id).unwrap();
    assert_eq!(row.state, TransferState::Running);
    assert_eq!(row.progress.bytes_done, 500);
    assert_eq!(row.samples.len(), 2, "the inspector's history");
    let status = row.status();
    assert!(status.starts_with("50%"), "{status}");
    assert!(
        status.contains("500 B/s") && status.contains("1 s left"),
        "{status}"
    );
    assert!(!row.can_resume(), "a running download cannot be resumed");

    app.cancel_transfer(id);
    assert_eq!(app.take_commands(), [Command::Cancel { id }]);

    app.apply(transfer_update(
        id,
        TransferEvent::Ended(TransferEnd::Completed {
            path: "/tmp/dl/notes.txt".into(),
            file: file("notes.txt", 1000, "bob"),
            bytes_resumed: 0,
        }),
    ));
    let row = session(&app).files.transfer(id).unwrap();
    assert!(row.is_over() && !row.can_resume());
    assert_eq!(row.status(), "saved to /tmp/dl/notes.txt, verified");
    assert_eq!(row.progress.fraction(), 1.0);
    app.cancel_transfer(id);
    assert!(
        app.take_commands().is_empty(),
        "nothing to cancel once over"
    );

    app.session_mut().unwrap().files.clear_finished();
    assert!(session(&app).files.transfers.is_empty());
}

#[test]
fn failed_and_cancelled_downloads_offer_a_resume_uploads_do_not() {
    use crate::net::{TransferEnd, TransferEvent};
    let mut app = logged_in(vec![]);
    app.session_mut().unwrap().files.download_dir = "/tmp/dl".into();
    app.download("big.iso");
    app.upload(std::path::Path::new("/home/alice/song.ogg"));
    let commands = app.take_commands();
    let [
        Command::Download { id: down, .. },
        Command::Upload { id: up, path },
    ] = commands.as_slice()
    else {
        panic!("{commands:?}");
    };
    let (down, up) = (*down, *up);
    assert_ne!(down, up);
    assert_eq!(path, std::path::Path::new("/home/alice/song.ogg"));
    assert_eq!(session(&app).files.transfer(up).unwrap().name, "song.ogg");

    app.apply(transfer_update(
        down,
        TransferEvent::Ended(TransferEnd::Failed("connection lost".into())),
    ));
    app.apply(transfer_update(
        up,
        TransferEvent::Ended(TransferEnd::Cancelled),
    ));
    let files = &session(&app).files;
    let failed = files.transfer(down).unwrap();
    assert_eq!(failed.status(), "failed: connection lost");
    assert!(failed.can_resume());
    assert!(!files.transfer(up).unwrap().can_resume());

    app.resume_transfer(down);
    assert_eq!(
        app.take_commands(),
        [Command::Download {
            id: down,
            name: "big.iso".into(),
            dest: "/tmp/dl/big.iso".into()
        }],
        "the same destination, so the library resumes from the .part file"
    );
    assert_eq!(
        session(&app).files.transfer(down).unwrap().state,
        TransferState::Starting
    );
    app.resume_transfer(up);
    assert!(app.take_commands().is_empty());
}

#[test]
fn the_inspector_takes_a_downloads_window_and_losses_from_the_servers_sender() {
    use crate::net::TransferEvent;
    let mut app = logged_in(vec![]);
    app.session_mut().unwrap().files.download_dir = "/tmp/dl".into();
    app.download("big.iso");
    app.upload(std::path::Path::new("/home/alice/song.ogg"));
    let commands = app.take_commands();
    let [
        Command::Download { id: down, .. },
        Command::Upload { id: up, .. },
    ] = commands.as_slice()
    else {
        panic!("{commands:?}");
    };
    let (down, up) = (*down, *up);
    // The receiver's own engine has a window too, but it says nothing about this transfer.
    let mut receiving = progress(100, 1000, 50.0);
    receiving.stats.cwnd = 14_520;
    receiving.stats.packets_lost = 0;
    app.apply(transfer_update(
        down,
        TransferEvent::Progress(Box::new(receiving.clone())),
    ));
    let row = session(&app).files.transfer(down).unwrap();
    assert_eq!(row.sender(), None, "no report from the server yet");
    let first = row.samples.back().unwrap();
    assert_eq!(
        (first.cwnd, first.lost),
        (None, None),
        "nothing to plot yet"
    );

    let mut reported = progress(200, 1000, 50.0);
    reported.stats = receiving.stats.clone();
    reported.sender = Some(client::SenderStats {
        cwnd: 96_000,
        bytes_in_flight: 48_000,
        packets_sent: 400,
        packets_lost: 7,
        data_bytes_retransmitted: 10_164,
        smoothed_rtt_us: 41_800,
        min_rtt_us: 40_000,
        pacing_rate: 2_000_000,
        delivery_rate: 1_900_000,
    });
    app.apply(transfer_update(
        down,
        TransferEvent::Progress(Box::new(reported)),
    ));
    let row = session(&app).files.transfer(down).unwrap();
    assert_eq!(
        row.sender(),
        Some(SenderFigures {
            cwnd: 96_000,
            bytes_in_flight: 48_000,
            pacing_rate: 2_000_000,
            packets_lost: 7,
            data_bytes_retransmitted: 10_164,
            smoothed_rtt: Duration::from_micros(41_800),
            min_rtt: Duration::from_micros(40_000),
        })
    );
    let last = row.samples.back().unwrap();
    assert_eq!((last.cwnd, last.lost), (Some(96_000), Some(7)));
    assert_eq!(row.samples.len(), 2);

    // An upload's sender is this client: its own engine's figures, whatever else is set.
    let mut sending = progress(300, 1000, 50.0);
    sending.stats.cwnd = 64_000;
    sending.stats.packets_lost = 2;
    app.apply(transfer_update(
        up,
        TransferEvent::Progress(Box::new(sending)),
    ));
    let row = session(&app).files.transfer(up).unwrap();
    let figures = row.sender().unwrap();
    assert_eq!((figures.cwnd, figures.packets_lost), (64_000, 2));
    let last = row.samples.back().unwrap();
    assert_eq!((last.cwnd, last.lost), (Some(64_000), Some(2)));
}

#[test]
fn a_downloads_rtt_history_is_the_servers_smoothed_rtt_not_the_receivers_estimate() {
    use crate::net::TransferEvent;
    let mut app = logged_in(vec![]);
    app.session_mut().unwrap().files.download_dir = "/tmp/dl".into();
    app.download("big.iso");
    app.upload(std::path::Path::new("/home/alice/song.ogg"));
    let commands = app.take_commands();
    let [
        Command::Download { id: down, .. },
        Command::Upload { id: up, .. },
    ] = commands.as_slice()
    else {
        panic!("{commands:?}");
    };
    let (down, up) = (*down, *up);
    // The receiver has an RTT estimate of its own, but the server's window does not follow it.
    let mut receiving = progress(100, 1000, 50.0);
    receiving.stats.smoothed_rtt = Duration::from_millis(40);
    app.apply(transfer_update(
        down,
        TransferEvent::Progress(Box::new(receiving.clone())),
    ));
    let row = session(&app).files.transfer(down).unwrap();
    assert_eq!(
        row.samples.back().unwrap().rtt_ms,
        None,
        "no RTT to plot before the server's first report, not the receiver's"
    );

    for (ms, server_rtt_us) in [(200, 52_500), (250, 61_000)] {
        let mut reported = progress(ms, 1000, 50.0);
        reported.stats = receiving.stats.clone();
        reported.sender = Some(client::SenderStats {
            cwnd: 96_000,
            smoothed_rtt_us: server_rtt_us,
            min_rtt_us: 40_100,
            ..client::SenderStats::default()
        });
        app.apply(transfer_update(
            down,
            TransferEvent::Progress(Box::new(reported)),
        ));
    }
    let row = session(&app).files.transfer(down).unwrap();
    let rtts: Vec<_> = row
        .samples
        .iter()
        .map(|s| s.rtt_ms.map(|ms| (ms * 1000.0).round() / 1000.0))
        .collect();
    assert_eq!(rtts, [None, Some(52.5), Some(61.0)]);
    let sender = row.sender().unwrap();
    assert_eq!(
        (sender.smoothed_rtt, sender.min_rtt),
        (Duration::from_micros(61_000), Duration::from_micros(40_100))
    );

    // An upload's RTT is this client's own: it is the sender.
    let mut sending = progress(300, 1000, 50.0);
    sending.stats.smoothed_rtt = Duration::from_micros(47_250);
    sending.stats.min_rtt = Duration::from_millis(40);
    app.apply(transfer_update(
        up,
        TransferEvent::Progress(Box::new(sending)),
    ));
    let row = session(&app).files.transfer(up).unwrap();
    let rtt = row.samples.back().unwrap().rtt_ms.unwrap();
    assert!((rtt - 47.25).abs() < 1e-9, "{rtt}");
    assert_eq!(row.sender().unwrap().min_rtt, Duration::from_millis(40));
}

#[test]
fn unsafe_names_and_blank_paths_start_nothing() {
    let mut app = logged_in(vec![]);
    app.download("../etc/passwd");
    assert!(app.take_commands().is_empty());
    assert_eq!(app.notices.len(), 1, "{:?}", app.notices);
    app.upload_typed();
    assert!(app.take_commands().is_empty(), "nothing typed");
    app.session_mut().unwrap().files.upload_path = "  /tmp/x.txt ".into();
    app.upload_typed();
    assert!(matches!(
        app.take_commands().as_slice(),
        [Command::Upload { path, .. }] if path == std::path::Path::new("/tmp/x.txt")
    ));
    assert_eq!(session(&app).files.upload_path, "", "the box is cleared");
}

#[test]
fn download_asks_first_and_starts_only_on_a_valid_save() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = logged_in(vec![]);
    app.session_mut().unwrap().files.download_dir = dir.path().to_owned();
    app.apply(Update::Files(vec![file("notes.txt", 1000, "bob")]));
    app.ask_download("notes.txt");
    assert!(app.take_commands().is_empty(), "nothing starts before Save");
    let dialog = session(&app).files.save.clone().unwrap();
    assert_eq!(dialog.folder, dir.path().display().to_string());
    assert_eq!((dialog.name.as_str(), dialog.size), ("notes.txt", 1000));

    // A bad name: the dialog stays with a message.
    app.session_mut().unwrap().files.save.as_mut().unwrap().name = "a/b".into();
    app.confirm_save(false);
    assert!(app.take_commands().is_empty());
    let dialog = session(&app).files.save.as_ref().unwrap();
    assert!(dialog.problem.as_deref().unwrap().contains("a/b"));

    // The target exists: Save asks, Replace goes ahead.
    std::fs::write(dir.path().join("mine.txt"), b"x").unwrap();
    app.session_mut().unwrap().files.save.as_mut().unwrap().name = "mine.txt".into();
    app.confirm_save(false);
    assert!(app.take_commands().is_empty());
    assert!(session(&app).files.save.as_ref().unwrap().exists.is_some());
    app.confirm_save(true);
    let commands = app.take_commands();
    let [Command::Download { name, dest, .. }] = commands.as_slice() else {
        panic!("{commands:?}");
    };
    assert_eq!(name, "notes.txt", "the server's name is downloaded");
    assert_eq!(
        dest,
        &dir.path().join("mine.txt"),
        "saved as the chosen name"
    );
    assert_eq!(session(&app).files.save, None, "the dialog closed");
    assert_eq!(session(&app).files.transfers.len(), 1);
}

#[test]
fn the_picker_uploads_a_file_or_fills_the_save_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("song.ogg"), b"la").unwrap();
    let mut app = logged_in(vec![]);
    app.apply(Update::Files(vec![file("notes.txt", 10, "bob")]));

    app.session_mut().unwrap().files.open_upload_picker();
    let files = &mut app.session_mut().unwrap().files;
    let picker = files.picker.as_mut().unwrap();
    assert_eq!(picker.mode, crate::picker::PickMode::File);
    picker.go(dir.path().to_owned());
    app.picked(dir.path().join("song.ogg"));
    assert!(matches!(
        app.take_commands().as_slice(),
        [Command::Upload { path, .. }] if path == &dir.path().join("song.ogg")
    ));
    let files = &session(&app).files;
    assert_eq!(files.picker, None, "the picker closed");
    assert_eq!(files.last_upload_dir.as_deref(), Some(dir.path()));

    // From the save dialog: the folder picker, its choice goes into the folder field.
    app.ask_download("notes.txt");
    let files = &mut app.session_mut().unwrap().files;
    files.save.as_mut().unwrap().folder = dir.path().join("not/yet").display().to_string();
    files.browse_save_folder();
    let picker = files.picker.as_ref().unwrap();
    assert_eq!(picker.mode, crate::picker::PickMode::Folder);
    assert_eq!(
        picker.dir,
        dir.path(),
        "opens at the nearest existing folder"
    );
    app.picked(dir.path().to_owned());
    assert!(app.take_commands().is_empty());
    let files = &session(&app).files;
    assert_eq!(files.picker, None);
    assert_eq!(
        files.save.as_ref().unwrap().folder,
        dir.path().display().to_string()
    );
}
