//! TCP through the relay: untouched, half-closes passed on, failures contained.

mod common;

use common::{RunningRelay, config, read_all, tcp_echo};
use rand::{Rng, SeedableRng, rngs::SmallRng};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[tokio::test]
async fn one_mib_comes_back_identical_and_half_close_passes() {
    let (echo, _server) = tcp_echo().await;
    // UDP impairments must not touch TCP.
    let relay = RunningRelay::start(config(echo, "loss=50%,delay=20ms,corrupt=100%")).await;

    let mut data = vec![0u8; 1 << 20];
    SmallRng::seed_from_u64(1).fill(&mut data[..]);
    let stream = TcpStream::connect(relay.addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let to_send = data.clone();
    let writing = tokio::spawn(async move {
        writer.write_all(&to_send).await.unwrap();
        // Half-close: the echo server sees EOF only if the relay passes it on, and only then
        // closes its side, which we see as the end of our read.
        writer.shutdown().await.unwrap();
        writer
    });
    let echoed = read_all(&mut reader).await;
    let _writer = writing.await.unwrap();
    assert!(echoed == data, "echoed bytes differ from those sent");

    let report = relay.stop().await;
    assert_eq!(report.tcp.accepted, 1);
    assert_eq!(report.tcp.failed, 0);
    assert_eq!(report.tcp.bytes_up, 1 << 20);
    assert_eq!(report.tcp.bytes_down, 1 << 20);
}

#[tokio::test]
async fn server_half_close_lets_the_client_keep_sending() {
    // A server that greets, closes its sending half at once, then reads to the end.
    let listener = tokio::net::TcpListener::bind(common::local0())
        .await
        .unwrap();
    let target = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        stream.write_all(b"hello").await.unwrap();
        stream.shutdown().await.unwrap();
        read_all(&mut stream).await
    });
    let relay = RunningRelay::start(config(target, "")).await;

    let mut client = TcpStream::connect(relay.addr).await.unwrap();
    assert_eq!(read_all(&mut client).await, b"hello");
    client.write_all(b"still talking").await.unwrap();
    client.shutdown().await.unwrap();
    assert_eq!(server.await.unwrap(), b"still talking");
    relay.stop().await;
}

#[tokio::test]
async fn a_dead_target_fails_one_connection_not_the_relay() {
    // A port with nothing listening: bind, note, drop.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let relay = RunningRelay::start(config(dead, "")).await;
    for _ in 0..3 {
        let mut client = TcpStream::connect(relay.addr).await.unwrap();
        // The relay closes the connection it could not forward.
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(
            common::PATIENCE,
            tokio::io::AsyncReadExt::read_to_end(&mut client, &mut buf),
        )
        .await
        .expect("the relay closes the connection");
        assert!(buf.is_empty());
    }
    let report = relay.stop().await;
    assert_eq!((report.tcp.accepted, report.tcp.failed), (3, 3));
}
