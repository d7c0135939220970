//! The server seen from a client written against PROTOCOL.md alone: raw frames over a real
//! loopback socket, no confab client library. Covers hostile and broken input.

mod common;

use std::time::Duration;

use common::{Raw, TestServer, WAIT};
use proto::{ClientMsg, ErrorCode, ServerMsg};
use tokio::time::timeout;

/// After any abuse, a fresh client still gets served and sees a message stored.
async fn still_serving(addr: std::net::SocketAddr, nick: &str) {
    let mut fresh = Raw::login(addr, nick).await;
    assert!(matches!(
        fresh.say(1, "still here").await,
        ServerMsg::Ack { req: Some(1), .. }
    ));
}

#[tokio::test]
async fn garbage_bytes_close_only_that_connection() {
    let server = TestServer::start(|_| {}).await;
    let mut bystander = Raw::login(server.addr, "bystander").await;
    let mut bad = Raw::connect(server.addr).await;
    bad.send_payload(b"\x00\x01\x02 definitely not json").await;
    bad.expect_bye_and_close(ErrorCode::Undecodable).await;
    still_serving(server.addr, "fresh").await;
    // The bystander saw fresh's message go by, then gets its own request answered.
    assert!(matches!(
        bystander.recv_skipping_presence().await,
        ServerMsg::Message(_)
    ));
    assert!(matches!(
        bystander.say(9, "fine").await,
        ServerMsg::Ack { req: Some(9), .. }
    ));
    server.stop().await;
}

#[tokio::test]
async fn ten_mib_length_prefix_is_refused_without_reading_it() {
    let server = TestServer::start(|_| {}).await;
    let mut bad = Raw::connect(server.addr).await;
    bad.send_bytes(&(10u32 * 1024 * 1024).to_be_bytes()).await;
    bad.expect_bye_and_close(ErrorCode::FrameTooLarge).await;
    still_serving(server.addr, "fresh").await;
    server.stop().await;
}

#[tokio::test]
async fn unknown_type_gets_an_error_and_the_session_goes_on() {
    let server = TestServer::start(|_| {}).await;
    let mut client = Raw::login(server.addr, "alice").await;
    client.send_payload(br#"{"type":"shout","req":42}"#).await;
    match client.recv().await {
        ServerMsg::Error { req, code, .. } => {
            assert_eq!((req, code), (Some(42), ErrorCode::Malformed));
        }
        other => panic!("{other:?}"),
    }
    client.send_payload(br#"{"type":"say","req":43}"#).await; // missing text
    assert!(matches!(
        client.recv().await,
        ServerMsg::Error {
            req: Some(43),
            code: ErrorCode::Malformed,
            ..
        }
    ));
    assert!(matches!(
        client.say(44, "after").await,
        ServerMsg::Ack { req: Some(44), .. }
    ));
    server.stop().await;
}

#[tokio::test]
async fn invalid_utf8_closes_that_connection() {
    let server = TestServer::start(|_| {}).await;
    let mut client = Raw::login(server.addr, "alice").await;
    client
        .send_payload(b"{\"type\":\"say\",\"text\":\"bad \xff\xfe\"}")
        .await;
    client.expect_bye_and_close(ErrorCode::Undecodable).await;
    still_serving(server.addr, "fresh").await;
    server.stop().await;
}

#[tokio::test]
async fn handshake_rules() {
    let server = TestServer::start(|_| {}).await;
    let mut client = Raw::connect(server.addr).await;
    client.send(&ClientMsg::Who { req: Some(1) }).await;
    assert!(matches!(
        client.recv().await,
        ServerMsg::Error {
            code: ErrorCode::HelloRequired,
            ..
        }
    ));
    client
        .send(&ClientMsg::Hello {
            version: 99,
            client: String::new(),
        })
        .await;
    client
        .expect_bye_and_close(ErrorCode::UnsupportedVersion)
        .await;
    server.stop().await;
}

#[tokio::test]
async fn over_long_and_empty_messages_are_refused_not_disconnected() {
    let server = TestServer::start(|_| {}).await;
    let mut client = Raw::login(server.addr, "alice").await;
    let long = "x".repeat(proto::MAX_TEXT_BYTES + 1);
    assert!(matches!(
        client.say(1, &long).await,
        ServerMsg::Error {
            req: Some(1),
            code: ErrorCode::MessageTooLong,
            ..
        }
    ));
    assert!(matches!(
        client.say(2, "   ").await,
        ServerMsg::Error {
            req: Some(2),
            code: ErrorCode::EmptyMessage,
            ..
        }
    ));
    let exact = "y".repeat(proto::MAX_TEXT_BYTES);
    assert!(matches!(
        client.say(3, &exact).await,
        ServerMsg::Ack { req: Some(3), .. }
    ));
    server.stop().await;
}

#[tokio::test]
async fn flood_is_rate_limited_and_the_session_survives() {
    let server = TestServer::start(|c| {
        c.rate_per_second = 1;
        c.rate_burst = 3;
    })
    .await;
    let mut client = Raw::login(server.addr, "flooder").await;
    let mut acks = 0;
    let mut limited = 0;
    for req in 0..10 {
        client
            .send(&ClientMsg::Say {
                req: Some(req),
                text: "spam".into(),
            })
            .await;
    }
    // Each request yields exactly one ack or error; acked ones also come back as messages.
    while acks + limited < 10 {
        match client.recv().await {
            ServerMsg::Ack { .. } => acks += 1,
            ServerMsg::Error {
                code: ErrorCode::RateLimited,
                ..
            } => limited += 1,
            ServerMsg::Message(_) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(acks, 3, "the burst allowance");
    assert_eq!(limited, 7);
    server.stop().await;
}

#[tokio::test]
async fn shutdown_says_bye_to_clients() {
    let server = TestServer::start(|_| {}).await;
    let mut client = Raw::login(server.addr, "alice").await;
    let stop = tokio::spawn(server.stop());
    client.expect_bye_and_close(ErrorCode::Shutdown).await;
    stop.await.unwrap();
}

#[tokio::test]
async fn silent_client_is_pinged_then_dropped() {
    let server = TestServer::start(|c| {
        c.ping_interval = Duration::from_millis(200);
        c.idle_timeout = Duration::from_millis(600);
    })
    .await;
    let mut watcher = Raw::login(server.addr, "watcher").await;
    // The watcher answers pings and so stays; the silent one only reads.
    let watching = tokio::spawn(async move {
        loop {
            match watcher.recv().await {
                ServerMsg::Ping {} => watcher.send(&ClientMsg::Pong {}).await,
                ServerMsg::Joined { .. } => {}
                ServerMsg::Left { nick, reason } => return (nick, reason),
                other => panic!("{other:?}"),
            }
        }
    });
    let mut silent = Raw::login(server.addr, "silent").await;
    assert!(matches!(silent.recv().await, ServerMsg::Ping {}));
    silent.expect_bye_and_close(ErrorCode::IdleTimeout).await;
    let (nick, reason) = timeout(WAIT, watching).await.unwrap().unwrap();
    assert_eq!((nick.as_str(), reason.as_str()), ("silent", "timeout"));
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_and_others_keep_receiving() {
    let server = TestServer::start(|c| {
        c.queue_frames = 16;
        c.rate_per_second = 100_000;
        c.rate_burst = 100_000;
    })
    .await;
    let mut talker = Raw::login(server.addr, "talker").await;
    let mut listener = Raw::login(server.addr, "listener").await;
    // The listener keeps reading throughout, collecting ids until the END marker.
    let listening = tokio::spawn(async move {
        let mut ids = Vec::new();
        let mut saw_left = false;
        loop {
            match listener.recv().await {
                ServerMsg::Message(m) if m.text == "END" => return (ids, saw_left),
                ServerMsg::Message(m) => ids.push(m.id),
                ServerMsg::Left { nick, .. } => saw_left |= nick == "stuck",
                ServerMsg::Joined { .. } => {}
                other => panic!("{other:?}"),
            }
        }
    });
    // Logs in, then never reads another byte.
    let _stuck = Raw::login(server.addr, "stuck").await;
    let text = "z".repeat(4000);
    let mut sent = 0u64;
    let mut stuck_left = false;
    // Loopback socket buffers hold a few MiB, so some thousands of 4 kB messages fill them;
    // the bound keeps the test finite if eviction were broken.
    while !stuck_left && sent < 20_000 {
        sent += 1;
        talker
            .send(&ClientMsg::Say {
                req: Some(sent),
                text: text.clone(),
            })
            .await;
        // The talker reads its own stream (ack + echo) so it is never the slow one.
        loop {
            match talker.recv().await {
                ServerMsg::Ack { req, .. } => assert_eq!(req, Some(sent)),
                ServerMsg::Message(m) => {
                    assert_eq!(m.from, "talker");
                    break;
                }
                ServerMsg::Left { nick, reason } => {
                    assert_eq!((nick.as_str(), reason.as_str()), ("stuck", "too_slow"));
                    stuck_left = true;
                }
                ServerMsg::Joined { .. } => {}
                other => panic!("{other:?}"),
            }
        }
    }
    assert!(
        stuck_left,
        "stuck client never evicted after {sent} messages"
    );
    talker.say(0, "END").await;
    let (ids, saw_left) = timeout(WAIT, listening).await.unwrap().unwrap();
    assert_eq!(ids.len() as u64, sent, "the listener missed messages");
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids out of order");
    assert!(saw_left);
    server.stop().await;
}

#[tokio::test]
async fn a_quiet_session_is_unlisted_read_only_and_sees_public_history_only() {
    let server = TestServer::start(|_| {}).await;
    let mut alice = Raw::login(server.addr, "alice").await;
    let mut bob = Raw::login(server.addr, "bob").await;
    assert!(matches!(alice.recv().await, ServerMsg::Joined { .. }));
    assert!(matches!(
        alice.say(1, "public").await,
        ServerMsg::Ack { .. }
    ));
    alice
        .send(&ClientMsg::Private {
            req: Some(2),
            to: "bob".into(),
            text: "secret".into(),
        })
        .await;
    assert!(matches!(
        alice.recv_skipping_presence().await,
        ServerMsg::Message(_)
    ));
    assert!(matches!(
        alice.recv_skipping_presence().await,
        ServerMsg::Ack { .. }
    ));
    assert!(matches!(
        alice.recv_skipping_presence().await,
        ServerMsg::Message(_)
    ));

    // A quiet login as "bob" while bob is online: allowed, since it claims nothing.
    let mut quiet = Raw::connect(server.addr).await;
    quiet
        .send(&ClientMsg::Hello {
            version: proto::PROTOCOL_VERSION,
            client: "script".into(),
        })
        .await;
    assert!(matches!(quiet.recv().await, ServerMsg::Welcome { .. }));
    quiet
        .send(&ClientMsg::Login {
            nick: "bob".into(),
            since: None,
            history: None,
            quiet: true,
        })
        .await;
    match quiet.recv().await {
        ServerMsg::LoggedIn { members, .. } => assert_eq!(members, ["alice", "bob"]),
        other => panic!("{other:?}"),
    }
    match quiet.recv().await {
        ServerMsg::History { messages, .. } => {
            let texts: Vec<_> = messages.iter().map(|m| m.text.as_str()).collect();
            assert_eq!(texts, ["public"], "bob's private message stays private");
        }
        other => panic!("{other:?}"),
    }
    // Read-only.
    assert!(matches!(
        quiet.say(3, "hello?").await,
        ServerMsg::Error {
            req: Some(3),
            code: ErrorCode::ReadOnly,
            ..
        }
    ));
    // Unlisted, and nobody saw it come: the next thing alice and bob get is alice's message.
    quiet.send(&ClientMsg::Who { req: Some(4) }).await;
    match quiet.recv().await {
        ServerMsg::Members { nicks, .. } => assert_eq!(nicks, ["alice", "bob"]),
        other => panic!("{other:?}"),
    }
    assert!(matches!(alice.say(5, "after").await, ServerMsg::Ack { .. }));
    loop {
        match bob.recv().await {
            ServerMsg::Message(m) if m.text == "after" => break,
            ServerMsg::Message(_) => {}
            other => panic!("bob saw {other:?}"),
        }
    }
    // No live events for the quiet session: its next frame answers its own ping.
    quiet.send(&ClientMsg::Ping { req: Some(6) }).await;
    assert!(matches!(
        quiet.recv().await,
        ServerMsg::Pong { req: Some(6) }
    ));
    // And it leaves without a trace.
    quiet.send(&ClientMsg::Quit {}).await;
    quiet.expect_bye_and_close(ErrorCode::Quit).await;
    bob.send(&ClientMsg::Ping { req: Some(7) }).await;
    assert!(matches!(bob.recv().await, ServerMsg::Pong { req: Some(7) }));
    server.stop().await;
}
