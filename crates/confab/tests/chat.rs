//! End-to-end chat over real loopback sockets: an in-process server on port 0 with a temp data
//! dir, driven through the `client` library (and, for misbehaving peers, raw frames).
//!
//! These are the "Must show" cases of the chat-core issue: fan-out, privacy, presence, nick
//! rules, persistence across restarts, reconnect catch-up, slow readers and bad input.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use client::{Client, ClientError, Connector, ErrorCode, Event};
use common::*;
use proto::{ClientMsg, MAX_TEXT_BYTES, ServerMsg};
use tokio::net::TcpSocket;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_messages_reach_all_three_exactly_once_in_id_order() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(test_config(dir.path())).await;
    let (alice, mut ae, _) = login(server.addr, "alice").await;
    let (bob, mut be, _) = login(server.addr, "bob").await;
    let (carol, mut ce, _) = login(server.addr, "carol").await;
    // A raw observer sees the wire itself, where the client library's de-duplication cannot
    // hide a duplicate.
    let mut wire = Raw::login(server.addr, "wire").await;

    let (a, b, c) = tokio::join!(alice.say("one"), bob.say("two"), carol.say("three"));
    let acked: BTreeSet<u64> = [a.unwrap().id, b.unwrap().id, c.unwrap().id].into();
    assert_eq!(acked.len(), 3);

    for events in [&mut ae, &mut be, &mut ce] {
        let got: Vec<_> = [
            next_message(events).await,
            next_message(events).await,
            next_message(events).await,
        ]
        .into();
        let ids: Vec<u64> = got.iter().map(|m| m.id).collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "ids not increasing: {ids:?}"
        );
        assert_eq!(ids.iter().copied().collect::<BTreeSet<_>>(), acked);
        let texts: BTreeSet<_> = got.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(texts, ["one", "two", "three"].into());
    }
    // Exactly once: the next message everyone sees is the marker, not a repeat.
    let marker = alice.say("marker").await.unwrap();
    for events in [&mut ae, &mut be, &mut ce] {
        assert_eq!(next_message(events).await.id, marker.id);
    }
    let mut wire_ids = Vec::new();
    while wire_ids.len() < 4 {
        if let Some(ServerMsg::Message(m)) = wire.recv().await {
            wire_ids.push(m.id);
        }
    }
    let mut expected: Vec<u64> = acked.into_iter().collect();
    expected.push(marker.id);
    assert_eq!(
        wire_ids, expected,
        "the wire carries each message once, in id order"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_message_reaches_only_its_target() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(test_config(dir.path())).await;
    let (alice, mut ae, _) = login(server.addr, "alice").await;
    let (_bob, mut be, _) = login(server.addr, "bob").await;
    let (carol, mut ce, _) = login(server.addr, "carol").await;

    let ack = alice.private("BOB", "psst").await.unwrap();
    let got = next_message(&mut be).await;
    assert_eq!(
        (got.id, got.from.as_str(), got.text.as_str()),
        (ack.id, "alice", "psst")
    );
    assert!(
        got.to
            .as_deref()
            .is_some_and(|to| to.eq_ignore_ascii_case("bob"))
    );
    // The sender gets its own copy.
    assert_eq!(next_message(&mut ae).await.id, ack.id);

    // Carol's next message is the public one after it: the private one never reached her.
    let public = alice.say("everyone").await.unwrap();
    assert_eq!(next_message(&mut ce).await.id, public.id);
    let carol_history = carol.history(Some(1000), None).await.unwrap();
    assert!(
        carol_history.iter().all(|m| m.id != ack.id),
        "{carol_history:?}"
    );
    assert!(carol_history.iter().any(|m| m.id == public.id));
    let carol_since = carol.history(None, Some(0)).await.unwrap();
    assert!(carol_since.iter().all(|m| m.id != ack.id));
    // A later login as carol does not get it in the backlog either.
    carol.quit().await.unwrap();
    let (_carol2, _, backlog) = login(server.addr, "carol").await;
    assert!(backlog.iter().all(|m| m.id != ack.id));
    assert!(backlog.iter().any(|m| m.id == public.id));

    // To someone offline: a clear error to the sender only.
    match alice.private("nobody", "hello?").await {
        Err(err) => assert_eq!(err.code(), Some(ErrorCode::UnknownRecipient), "{err}"),
        Ok(ack) => panic!("private to an offline nick was stored as {}", ack.id),
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_and_presence_for_login_quit_kill_and_silence() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.ping_interval = Duration::from_millis(200);
    config.idle_timeout = Duration::from_millis(800);
    let server = TestServer::start(config).await;

    let (alice, mut ae, _) = login(server.addr, "alice").await;
    assert_eq!(alice.who().await.unwrap(), ["alice"]);

    // Login → joined.
    let (bob, _be, _) = login(server.addr, "bob").await;
    wait_for(
        &mut ae,
        "bob joined",
        |e| matches!(e, Event::Joined { nick } if nick == "bob"),
    )
    .await;
    let killed = Raw::login(server.addr, "killed").await;
    wait_for(
        &mut ae,
        "killed joined",
        |e| matches!(e, Event::Joined { nick } if nick == "killed"),
    )
    .await;
    let silent = Raw::login(server.addr, "silent").await;
    wait_for(
        &mut ae,
        "silent joined",
        |e| matches!(e, Event::Joined { nick } if nick == "silent"),
    )
    .await;
    assert_eq!(
        alice.who().await.unwrap(),
        ["alice", "bob", "killed", "silent"]
    );

    // Clean quit → left (quit).
    bob.quit().await.unwrap();
    match wait_for(
        &mut ae,
        "bob left",
        |e| matches!(e, Event::Left { nick, .. } if nick == "bob"),
    )
    .await
    {
        Event::Left { reason, .. } => assert_eq!(reason, "quit"),
        _ => unreachable!(),
    }

    // Killed connection (socket dropped, FIN/RST without a quit) → left.
    drop(killed);
    wait_for(
        &mut ae,
        "killed left",
        |e| matches!(e, Event::Left { nick, .. } if nick == "killed"),
    )
    .await;

    // A peer that goes silent (never answers pings, as on a dropped link with no FIN) → left
    // after the idle timeout; its socket stays open on our side the whole time.
    match wait_for(
        &mut ae,
        "silent left",
        |e| matches!(e, Event::Left { nick, .. } if nick == "silent"),
    )
    .await
    {
        Event::Left { reason, .. } => assert_eq!(reason, "timeout"),
        _ => unreachable!(),
    }
    drop(silent);

    // Alice herself answers pings, so she is still there.
    assert_eq!(alice.who().await.unwrap(), ["alice"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_nick_refused_in_any_case_and_retry_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(test_config(dir.path())).await;
    let (alice, _ae, _) = login(server.addr, "Alice").await;

    let mut connector = Connector::connect(options(server.addr, "x")).await.unwrap();
    for taken in ["Alice", "alice", "ALICE"] {
        match connector.login(taken).await {
            Err(ClientError::NickTaken { nick }) => assert_eq!(nick, taken),
            other => panic!("{taken}: expected NickTaken, got {:?}", other.map(|_| ())),
        }
    }
    match connector.login("9lives").await {
        Err(ClientError::InvalidNick { .. }) => {}
        other => panic!("expected InvalidNick, got {:?}", other.map(|_| ())),
    }
    // Same connection, another nick: accepted.
    let (bob, mut be) = connector.login("bob").await.unwrap();
    assert!(matches!(next_event(&mut be).await, Event::LoggedIn { nick, .. } if nick == "bob"));
    assert_eq!(bob.who().await.unwrap(), ["Alice", "bob"]);
    // The connector is spent once logged in.
    assert!(matches!(
        connector.login("carol").await,
        Err(ClientError::Closed)
    ));

    // Client::connect reports the same typed error.
    match Client::connect(options(server.addr, "aLiCe")).await {
        Err(err) => {
            assert!(matches!(err, ClientError::NickTaken { .. }));
            assert_eq!(
                err.to_string(),
                "nick 'aLiCe' is taken — choose another nick"
            );
        }
        Ok(_) => panic!("duplicate nick accepted"),
    }
    drop(alice);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_survives_a_restart_and_ids_keep_increasing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(test_config(dir.path())).await;
    let (alice, _ae, _) = login(server.addr, "alice").await;
    let first = alice.say("persist me").await.unwrap();
    let private = alice.private("alice", "note to self").await;
    server.stop().await;

    let server = TestServer::start(test_config(dir.path())).await;
    let (bob, _be, backlog) = login(server.addr, "bob").await;
    let kept = backlog
        .iter()
        .find(|m| m.id == first.id)
        .expect("message lost in the restart");
    assert_eq!(
        (kept.from.as_str(), kept.text.as_str()),
        ("alice", "persist me")
    );
    let second = bob.say("after restart").await.unwrap();
    assert!(second.id > first.id, "{} after {}", second.id, first.id);
    if let Ok(private) = private {
        assert!(second.id > private.id);
        assert!(
            backlog.iter().all(|m| m.id != private.id),
            "bob sees alice's private note"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_receives_exactly_the_missed_messages() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(test_config(dir.path())).await;
    let proxy = Proxy::start(server.addr).await;
    let (_alice, mut ae, _) = login(proxy.addr, "alice").await;
    let (bob, mut be, _) = login(server.addr, "bob").await;

    let m1 = bob.say("m1").await.unwrap();
    assert_eq!(next_message(&mut ae).await.id, m1.id);

    proxy.cut_and_block();
    wait_for(&mut ae, "disconnected", |e| {
        matches!(e, Event::Disconnected { .. })
    })
    .await;
    wait_for(
        &mut be,
        "alice left",
        |e| matches!(e, Event::Left { nick, .. } if nick == "alice"),
    )
    .await;
    let mut missed = Vec::new();
    for text in ["m2", "m3", "m4"] {
        missed.push(bob.say(text).await.unwrap().id);
    }
    // Include a private one: private and public share the id space.
    let private = bob.private("bob", "to myself").await.unwrap();
    proxy.unblock();

    match wait_for(&mut ae, "reconnected", |e| {
        matches!(e, Event::Reconnected { .. })
    })
    .await
    {
        Event::Reconnected { missed: n, members } => {
            assert_eq!(n, 3, "missed count");
            assert!(members.contains(&"alice".to_owned()) && members.contains(&"bob".to_owned()));
        }
        _ => unreachable!(),
    }
    for id in &missed {
        assert_eq!(
            next_message(&mut ae).await.id,
            *id,
            "missed messages in order, no gaps"
        );
    }
    let m5 = bob.say("m5").await.unwrap();
    let next = next_message(&mut ae).await;
    assert_eq!(next.id, m5.id, "no duplicates after the catch-up");
    assert!(private.id < m5.id);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catch_up_longer_than_the_servers_page_arrives_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    // The server sends at most 2 missed messages with the login; the client pages on for the rest.
    config.catch_up_limit = 2;
    let server = TestServer::start(config).await;
    let proxy = Proxy::start(server.addr).await;
    let (_alice, mut ae, _) = login(proxy.addr, "alice").await;
    let (bob, _be, _) = login(server.addr, "bob").await;
    proxy.cut_and_block();
    wait_for(&mut ae, "disconnected", |e| {
        matches!(e, Event::Disconnected { .. })
    })
    .await;
    let mut missed = Vec::new();
    for i in 0..7 {
        missed.push(bob.say(format!("gap {i}")).await.unwrap().id);
    }
    proxy.unblock();
    match wait_for(&mut ae, "reconnected", |e| {
        matches!(e, Event::Reconnected { .. })
    })
    .await
    {
        Event::Reconnected { missed: n, .. } => assert_eq!(n, 7, "missed count"),
        _ => unreachable!(),
    }
    for id in &missed {
        assert_eq!(
            next_message(&mut ae).await.id,
            *id,
            "every missed message, in order"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_a_server_restart_on_the_same_port() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(test_config(dir.path())).await;
    let addr = server.addr_string();
    let (alice, mut ae, _) = login(&addr, "alice").await;
    let before = alice.say("before").await.unwrap();
    assert_eq!(next_message(&mut ae).await.id, before.id);
    server.stop().await;
    match wait_for(&mut ae, "disconnected", |e| {
        matches!(e, Event::Disconnected { .. })
    })
    .await
    {
        Event::Disconnected { code, .. } => assert_eq!(code, Some(ErrorCode::Shutdown)),
        _ => unreachable!(),
    }
    // While offline, requests fail at once with a clear error.
    assert!(matches!(
        alice.say("lost").await,
        Err(ClientError::Disconnected { .. })
    ));

    let server = TestServer::start_on(&addr, test_config(dir.path())).await;
    wait_for(&mut ae, "reconnected", |e| {
        matches!(e, Event::Reconnected { missed: 0, .. })
    })
    .await;
    let after = alice.say("after").await.unwrap();
    assert!(after.id > before.id);
    assert_eq!(next_message(&mut ae).await.id, after.id);
    alice.quit().await.unwrap();
    wait_for(&mut ae, "closed", |e| matches!(e, Event::Closed { .. })).await;
    assert!(ae.recv().await.is_none(), "the stream ends after Closed");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped_and_others_keep_receiving() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.queue_frames = 32;
    let server = TestServer::start(config).await;
    let (flooder, _fe, _) = login(server.addr, "flooder").await;
    let (_reader, mut re, _) = login(server.addr, "reader").await;

    // The slow client shrinks its receive buffer so the kernel cannot hide its stalling.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(server.addr).await.unwrap();
    let mut slow = Raw::from_stream(stream);
    slow.handshake_and_login("slow").await;
    wait_for(
        &mut re,
        "slow joined",
        |e| matches!(e, Event::Joined { nick } if nick == "slow"),
    )
    .await;

    let slow_gone = Arc::new(AtomicBool::new(false));
    let text = "x".repeat(MAX_TEXT_BYTES);
    let flood = {
        let (flooder, slow_gone, text) = (flooder.clone(), slow_gone.clone(), text.clone());
        tokio::spawn(async move {
            let mut acked = Vec::new();
            while !slow_gone.load(Ordering::SeqCst) && acked.len() < 20_000 {
                let batch: Vec<_> = (0..16)
                    .map(|_| {
                        let (flooder, text) = (flooder.clone(), text.clone());
                        async move { flooder.say(text).await }
                    })
                    .collect();
                for result in futures_join_all(batch).await {
                    acked.push(result.expect("flooder's message refused").id);
                }
            }
            acked
        })
    };
    // The reader keeps receiving every message while the slow one is cut off.
    let mut seen = Vec::new();
    let left_reason = within("slow to be dropped", async {
        loop {
            match re.recv().await.expect("reader's stream ended") {
                Event::Message(m) => seen.push(m.id),
                Event::Left { nick, reason } if nick == "slow" => return reason,
                _ => {}
            }
        }
    })
    .await;
    assert_eq!(left_reason, "too_slow");
    slow_gone.store(true, Ordering::SeqCst);
    let mut acked = within("flood to end", flood).await.unwrap();
    // Concurrent sends are acked in any order; ids say the order they were stored in.
    acked.sort_unstable();
    while seen.len() < acked.len() {
        seen.push(next_message(&mut re).await.id);
    }
    assert!(
        seen == acked,
        "the reader must get every message, in order: {} seen, {} acked",
        seen.len(),
        acked.len()
    );
    // The slow socket ends (after whatever was already in flight).
    within("slow socket to close", slow.recv_to_close()).await;
    let last = flooder.say("still here").await.unwrap();
    assert_eq!(next_message(&mut re).await.id, last.id);
    server.stop().await;
}

/// Awaits all futures concurrently (a tiny `join_all` without a futures dependency).
async fn futures_join_all<F>(futs: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_the_right_error_or_close_and_others_carry_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(test_config(dir.path())).await;
    let (alice, mut ae, _) = login(server.addr, "alice").await;

    // Unknown message type: an error echoing `req`, and the session goes on.
    let mut unknown = Raw::login(server.addr, "unknown").await;
    unknown
        .send_frame(br#"{"type":"shout","req":7,"text":"HI"}"#)
        .await;
    match unknown
        .recv_until("error", |m| matches!(m, ServerMsg::Error { .. }))
        .await
    {
        ServerMsg::Error { req, code, .. } => {
            assert_eq!((req, code), (Some(7), ErrorCode::Malformed));
        }
        _ => unreachable!(),
    }
    unknown.send(&ClientMsg::Who { req: Some(8) }).await;
    assert!(matches!(
        unknown
            .recv_until("members", |m| matches!(m, ServerMsg::Members { .. }))
            .await,
        ServerMsg::Members { req: Some(8), .. }
    ));

    // Garbage bytes (an HTTP request): the prefix reads as a huge length → closed.
    let mut http = Raw::connect(server.addr).await;
    http.send_bytes(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_closed_with(&mut http, ErrorCode::FrameTooLarge).await;

    // A 10 MiB length prefix → refused before reading it, closed.
    let mut huge = Raw::login(server.addr, "huge").await;
    huge.send_bytes(&(10u32 * 1024 * 1024).to_be_bytes()).await;
    assert_closed_with(&mut huge, ErrorCode::FrameTooLarge).await;

    // A frame of non-JSON garbage → closed as undecodable.
    let mut garbage = Raw::login(server.addr, "garbage").await;
    garbage
        .send_frame(b"\x00\x01\x02 not json at all \xff")
        .await;
    assert_closed_with(&mut garbage, ErrorCode::Undecodable).await;

    // Invalid UTF-8 inside a JSON string → closed as undecodable.
    let mut utf8 = Raw::login(server.addr, "utf8").await;
    utf8.send_frame(b"{\"type\":\"say\",\"req\":1,\"text\":\"\xff\xfe\"}")
        .await;
    assert_closed_with(&mut utf8, ErrorCode::Undecodable).await;

    for nick in ["huge", "garbage", "utf8"] {
        wait_for(
            &mut ae,
            "left",
            |e| matches!(e, Event::Left { nick: n, .. } if n == nick),
        )
        .await;
    }
    // Everyone else carries on.
    let ack = alice.say("still fine").await.unwrap();
    assert_eq!(next_message(&mut ae).await.id, ack.id);
    assert_eq!(alice.who().await.unwrap(), ["alice", "unknown"]);
    server.stop().await;
}

/// The server says `bye` (or `error`) with `code`, then closes.
async fn assert_closed_with(raw: &mut Raw, code: ErrorCode) {
    let got = within("close", raw.recv_to_close()).await;
    let said = got.iter().any(|m| {
        matches!(m, ServerMsg::Bye { code: c, .. } | ServerMsg::Error { code: c, .. } if *c == code)
    });
    assert!(said, "expected {code:?} before the close, got {got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlong_message_is_refused_without_a_disconnect() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(test_config(dir.path())).await;
    let (alice, mut ae, _) = login(server.addr, "alice").await;

    // Over the text limit but within a frame: the server refuses it.
    match alice.say("x".repeat(MAX_TEXT_BYTES + 1)).await {
        Err(err) => assert_eq!(err.code(), Some(ErrorCode::MessageTooLong), "{err}"),
        Ok(_) => panic!("over-long message stored"),
    }
    // Over the frame cap: refused locally with the same code; nothing was sent.
    match alice.say("x".repeat(200_000)).await {
        Err(err) => {
            assert_eq!(err.code(), Some(ErrorCode::MessageTooLong));
            assert!(err.to_string().contains("200000 bytes"), "{err}");
        }
        Ok(_) => panic!("huge message stored"),
    }
    // Empty text is refused too.
    assert_eq!(
        alice.say("").await.unwrap_err().code(),
        Some(ErrorCode::EmptyMessage)
    );
    // Still connected: the exact-limit message goes through.
    let ack = alice.say("y".repeat(MAX_TEXT_BYTES)).await.unwrap();
    assert_eq!(next_message(&mut ae).await.id, ack.id);
    assert_quiet(&mut ae, Duration::from_millis(100)).await;
    server.stop().await;
}
