//! The client library's own duties, where the server is a bystander or a fake: detecting a dead
//! link by silence, giving up when its nick was taken while it was away, and failing requests
//! clearly once closed.

mod common;

use std::time::Duration;

use bytes::BytesMut;
use client::{Client, ClientError, ErrorCode, Event, Timeouts};
use common::*;
use proto::{ClientMsg, MAX_FRAME_BYTES, PROTOCOL_VERSION, ServerMsg};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A fake server that completes the handshake and login, then never says another word (a
/// link that died without a FIN looks exactly like this).
async fn silent_server() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buf = BytesMut::new();
        let hello = read_client(&mut stream, &mut buf).await;
        assert!(matches!(
            hello,
            ClientMsg::Hello {
                version: PROTOCOL_VERSION,
                ..
            }
        ));
        write_server(
            &mut stream,
            &ServerMsg::Welcome {
                version: PROTOCOL_VERSION,
                server: "fake".into(),
                max_frame: MAX_FRAME_BYTES as u32,
                max_text: 4096,
            },
        )
        .await;
        let ClientMsg::Login { nick, .. } = read_client(&mut stream, &mut buf).await else {
            panic!("expected login");
        };
        write_server(
            &mut stream,
            &ServerMsg::LoggedIn {
                nick: nick.clone(),
                members: vec![nick],
                last_id: 0,
            },
        )
        .await;
        write_server(
            &mut stream,
            &ServerMsg::History {
                req: None,
                messages: vec![],
                done: true,
                more: false,
            },
        )
        .await;
        // Swallow whatever comes (the client's keepalive pings) and never answer.
        let mut sink = [0u8; 1024];
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    });
    (addr, task)
}

async fn read_client(stream: &mut TcpStream, buf: &mut BytesMut) -> ClientMsg {
    loop {
        if let Some(payload) = proto::decode_frame(buf, MAX_FRAME_BYTES).unwrap() {
            return proto::decode_client(&payload).unwrap();
        }
        assert!(stream.read_buf(buf).await.unwrap() > 0, "client hung up");
    }
}

async fn write_server(stream: &mut TcpStream, msg: &ServerMsg) {
    let frame = proto::encode_msg(msg, MAX_FRAME_BYTES).unwrap();
    stream.write_all(&frame).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_is_detected_by_the_idle_timeout() {
    let (addr, fake) = silent_server().await;
    let mut opts = options(addr, "alice");
    opts.reconnect = None;
    opts.timeouts = Timeouts {
        keepalive: Duration::from_millis(100),
        idle: Duration::from_millis(500),
        ..opts.timeouts
    };
    let (client, mut events) = within("connect", Client::connect(opts)).await.unwrap();
    assert!(matches!(
        next_event(&mut events).await,
        Event::LoggedIn { .. }
    ));
    match next_event(&mut events).await {
        Event::Disconnected { reason, code } => {
            assert!(reason.contains("no word from the server"), "{reason}");
            assert_eq!(code, None);
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
    assert!(matches!(
        next_event(&mut events).await,
        Event::Closed { .. }
    ));
    assert!(events.recv().await.is_none());
    assert!(matches!(
        client.say("anyone?").await,
        Err(ClientError::Closed)
    ));
    // Quitting a closed session is fine.
    client.quit().await.unwrap();
    fake.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nick_taken_while_away_ends_the_session_with_an_error_event() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(test_config(dir.path())).await;
    let proxy = Proxy::start(server.addr).await;
    let (alice, mut ae, _) = login(proxy.addr, "alice").await;
    let (_bob, mut be, _) = login(server.addr, "bob").await;

    proxy.cut_and_block();
    wait_for(
        &mut be,
        "alice left",
        |e| matches!(e, Event::Left { nick, .. } if nick == "alice"),
    )
    .await;
    let (_thief, _te, _) = login(server.addr, "ALICE").await;
    proxy.unblock();

    match wait_for(&mut ae, "error", |e| matches!(e, Event::Error { .. })).await {
        Event::Error { code, message } => {
            assert_eq!(code, ErrorCode::NickTaken);
            assert!(message.contains("'alice' is taken"), "{message}");
        }
        _ => unreachable!(),
    }
    assert!(matches!(next_event(&mut ae).await, Event::Closed { .. }));
    assert!(matches!(alice.who().await, Err(ClientError::Closed)));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_serialize_as_tagged_json() {
    let event = Event::Reconnecting {
        attempt: 2,
        delay: Duration::from_millis(1500),
    };
    assert_eq!(
        serde_json::to_string(&event).unwrap(),
        r#"{"type":"reconnecting","attempt":2,"delay_ms":1500}"#
    );
    let msg = Event::Message(client::ChatMessage {
        id: 7,
        ts: 1,
        from: "a".into(),
        to: None,
        text: "hi".into(),
    });
    assert_eq!(
        serde_json::to_string(&msg).unwrap(),
        r#"{"type":"message","id":7,"ts":1,"from":"a","text":"hi"}"#
    );
}
