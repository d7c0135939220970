//! The transfer inspector drawn headless from a given state, no network: what it says about a
//! download's congestion window, losses and RTT before and after the server reports its
//! sender's figures.

use std::time::Duration;

use client::{Event, FileInfo, SenderStats, TransferProgress};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use gui::app::App;
use gui::net::{Command, TransferEvent, Update};
use gui::ui::UiState;

type State = (App, UiState);

/// The chat screen of alice, with one download of `big.iso` under way and inspected.
fn downloading() -> (Harness<'static, State>, u64) {
    let mut app = App::new("127.0.0.1:50000".into(), "alice".into());
    app.connect();
    app.take_commands();
    app.apply_event(Event::LoggedIn {
        nick: "alice".into(),
        members: vec!["alice".into()],
        history: vec![],
    });
    app.apply(Update::Files(vec![FileInfo {
        name: "big.iso".into(),
        size: 1 << 20,
        hash: "ab".repeat(32),
        uploader: "bob".into(),
        ts: 1_795_000_000_000,
    }]));
    app.session_mut().unwrap().files.download_dir = "/tmp/dl".into();
    app.download("big.iso");
    let commands = app.take_commands();
    let [Command::Download { id, .. }] = commands.as_slice() else {
        panic!("{commands:?}");
    };
    let id = *id;
    app.session_mut().unwrap().files.inspected = Some(id);
    let harness = Harness::builder()
        .with_size(eframe::egui::vec2(1000.0, 700.0))
        .build_ui_state(
            |ui, (app, state): &mut State| gui::ui::show(ui, app, state),
            (app, UiState::default()),
        );
    (harness, id)
}

fn progress(ms: u64, sender: Option<SenderStats>) -> TransferProgress {
    let mut progress = TransferProgress {
        bytes_done: ms * 1000,
        size: 1 << 20,
        elapsed: Duration::from_millis(ms),
        rate: 1e6,
        sender,
        ..TransferProgress::default()
    };
    // The receiver's own window: meaningless for this transfer, so it must not be shown.
    progress.stats.cwnd = 14_520;
    progress
}

fn report(harness: &mut Harness<'static, State>, id: u64, progress: TransferProgress) {
    harness.state_mut().0.apply(Update::Transfer {
        id,
        event: TransferEvent::Progress(Box::new(progress)),
    });
    harness.run_steps(2);
}

/// Whether some label contains `text` (the inspector repeats some texts, e.g. in a grid cell
/// and in place of a plot).
fn shows(harness: &Harness<'static, State>, text: &str) -> bool {
    harness.query_all_by_label_contains(text).next().is_some()
}

#[test]
fn a_download_waits_for_then_shows_the_servers_window_and_losses() {
    let (mut harness, id) = downloading();
    report(&mut harness, id, progress(100, None));
    report(&mut harness, id, progress(200, None));
    assert!(shows(&harness, "big.iso — network figures"));
    assert!(shows(&harness, "from the server's sender"));
    assert!(shows(
        &harness,
        "Congestion window / in flight (server's sender)"
    ));
    assert!(shows(&harness, "waiting for the server's figures"));
    assert!(
        !shows(&harness, "14.2 KiB"),
        "the receiver's own window is not the transfer's"
    );

    let sender = SenderStats {
        cwnd: 96_000,
        bytes_in_flight: 48_000,
        packets_sent: 400,
        packets_lost: 7,
        data_bytes_retransmitted: 10_164,
        smoothed_rtt_us: 41_800,
        min_rtt_us: 40_000,
        pacing_rate: 2_000_000,
        delivery_rate: 1_900_000,
    };
    report(&mut harness, id, progress(300, Some(sender.clone())));
    report(&mut harness, id, progress(400, Some(sender)));
    assert!(shows(&harness, "93.8 KiB / 46.9 KiB"), "window / in flight");
    assert!(shows(&harness, "server's congestion window, KiB"));
    assert!(shows(&harness, "packets the server lost"));
    assert!(
        !shows(&harness, "waiting for the server's figures"),
        "every figure and plot has data now"
    );
}

#[test]
fn a_downloads_rtt_is_the_servers_smoothed_rtt_and_the_receivers_own_is_labelled_apart() {
    let (mut harness, id) = downloading();
    let mut mine = progress(100, None);
    mine.stats.smoothed_rtt = Duration::from_micros(40_300);
    mine.stats.min_rtt = Duration::from_micros(40_300);
    mine.stats.latest_rtt = Duration::from_micros(40_300);
    report(&mut harness, id, mine.clone());
    mine.elapsed = Duration::from_millis(200);
    report(&mut harness, id, mine.clone());
    assert!(shows(&harness, "RTT (smoothed / min) (server's sender)"));
    assert!(shows(&harness, "server's smoothed RTT, ms"));
    assert!(
        !shows(&harness, "RTT (smoothed / min / latest)"),
        "the receiver's estimate is not offered as the transfer's RTT"
    );
    assert!(shows(&harness, "RTT estimated here (smoothed)"));
    assert_eq!(
        harness.query_all_by_label("40.3 ms").count(),
        1,
        "the receiver's own estimate appears once, on its own line"
    );

    let sender = SenderStats {
        cwnd: 96_000,
        smoothed_rtt_us: 63_700,
        min_rtt_us: 40_100,
        ..SenderStats::default()
    };
    for ms in [300, 400] {
        let mut reported = mine.clone();
        reported.elapsed = Duration::from_millis(ms);
        reported.sender = Some(sender.clone());
        report(&mut harness, id, reported);
    }
    assert!(
        shows(&harness, "63.7 ms / 40.1 ms"),
        "the server's smoothed / min RTT"
    );
    assert!(shows(&harness, "server's smoothed RTT, ms"));
    assert!(
        !shows(&harness, "waiting for the server's figures"),
        "the RTT plot has the server's figures now"
    );
}
