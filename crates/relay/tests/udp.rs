//! UDP through the relay: mappings, and each impairment seen from real sockets.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{PATIENCE, RunningRelay, UdpEcho, config, recv, udp_socket};
use relay::RelayConfig;
use tokio::net::UdpSocket;

/// Datagram `seq` of a test: its number, then bytes that depend on it, 16..1452 bytes long.
fn payload(seq: u32) -> Vec<u8> {
    let len = 16 + (seq as usize * 97) % (1452 - 16);
    let mut bytes: Vec<u8> = (0..len)
        .map(|i| (i as u32 ^ seq.wrapping_mul(31)) as u8)
        .collect();
    bytes[..4].copy_from_slice(&seq.to_be_bytes());
    bytes
}

fn seq_of(datagram: &[u8]) -> u32 {
    u32::from_be_bytes(datagram[..4].try_into().unwrap())
}

async fn client_of(relay: SocketAddr) -> UdpSocket {
    let socket = udp_socket().await;
    socket.connect(relay).await.unwrap();
    socket
}

/// A one-way sink: the relay's target, counting what arrives.
async fn sink() -> (UdpSocket, SocketAddr) {
    let socket = udp_socket().await;
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

#[tokio::test]
async fn lossless_round_trips_are_identical() {
    let echo = UdpEcho::start().await;
    let relay = RunningRelay::start(config(echo.addr, "")).await;
    let client = client_of(relay.addr).await;

    // Windows of 100 keep every socket buffer far from full.
    for window in 0..10u32 {
        let seqs = window * 100..(window + 1) * 100;
        for seq in seqs.clone() {
            client.send(&payload(seq)).await.unwrap();
        }
        for _ in seqs {
            let got = recv(&client).await;
            assert_eq!(got, payload(seq_of(&got)));
        }
    }
    let report = relay.stop().await;
    assert_eq!(report.up.offered.packets, 1000);
    assert_eq!(report.up.delivered.packets, 1000);
    assert_eq!(report.down.delivered.packets, 1000);
    assert_eq!(report.udp.mappings_created, 1);
    assert_eq!(report.udp.forward_failures, 0);
}

#[tokio::test]
async fn each_client_gets_its_own_mapping_and_only_its_replies() {
    let echo = UdpEcho::start().await;
    let relay = RunningRelay::start(config(echo.addr, "jitter=2ms")).await;
    let clients = [client_of(relay.addr).await, client_of(relay.addr).await];

    for round in 0..50u32 {
        for (who, client) in clients.iter().enumerate() {
            let tag = format!("client {who} round {round}");
            client.send(tag.as_bytes()).await.unwrap();
        }
    }
    for (who, client) in clients.iter().enumerate() {
        for round in 0..50u32 {
            let got = String::from_utf8(recv(client).await).unwrap();
            assert_eq!(got, format!("client {who} round {round}"));
        }
    }
    assert_eq!(
        echo.peer_count(),
        2,
        "the server sees one address per client"
    );
    let report = relay.stop().await;
    assert_eq!(report.udp.mappings_created, 2);
}

#[tokio::test]
async fn a_50ms_delay_makes_round_trips_at_least_100ms() {
    let echo = UdpEcho::start().await;
    let relay = RunningRelay::start(config(echo.addr, "delay=50ms")).await;
    let client = client_of(relay.addr).await;
    for seq in 0..5 {
        let sent = Instant::now();
        client.send(&payload(seq)).await.unwrap();
        assert_eq!(recv(&client).await, payload(seq));
        let rtt = sent.elapsed();
        assert!(rtt >= Duration::from_millis(100), "round trip took {rtt:?}");
    }
    relay.stop().await;
}

#[tokio::test]
async fn a_rate_limit_spaces_datagrams_out() {
    // 1222 bytes of payload are 1250 IP bytes: 10 ms each at 1 Mbit/s.
    let (sink, target) = sink().await;
    let relay = RunningRelay::start(config(target, "rate=1mbit")).await;
    let client = client_of(relay.addr).await;
    let started = Instant::now();
    for _ in 0..30 {
        client.send(&[0u8; 1222]).await.unwrap();
    }
    for _ in 0..30 {
        assert_eq!(recv(&sink).await.len(), 1222);
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(300),
        "30 × 10 ms took {elapsed:?}"
    );
    relay.stop().await;
}

/// Sends `count` numbered datagrams one way, then markers (numbered `u32::MAX`) until one gets
/// through: with no delay, jitter or reordering the relay forwards in order, so by then every
/// earlier datagram has arrived or been dropped. Returns the numbers that arrived, in order.
async fn send_one_way_then_mark(
    client: &UdpSocket,
    sink: &UdpSocket,
    count: u32,
) -> (Vec<u32>, u64) {
    for seq in 0..count {
        client.send(&payload(seq)).await.unwrap();
    }
    let mut arrived = Vec::new();
    let mut buf = vec![0u8; 65536];
    for markers in 1..=100 {
        client.send(&u32::MAX.to_be_bytes()).await.unwrap();
        while let Ok(received) =
            tokio::time::timeout(Duration::from_millis(200), sink.recv(&mut buf)).await
        {
            match seq_of(&buf[..received.unwrap()]) {
                u32::MAX => return (arrived, markers),
                seq => arrived.push(seq),
            }
        }
    }
    panic!("no marker got through 100 tries");
}

#[tokio::test]
async fn loss_of_30_percent_drops_about_30_percent() {
    let (sink, target) = sink().await;
    let relay = RunningRelay::start(config(target, "loss=30%")).await;
    let client = client_of(relay.addr).await;
    let (arrived, markers) = send_one_way_then_mark(&client, &sink, 2000).await;

    let fraction = arrived.len() as f64 / 2000.0;
    assert!((0.6..=0.8).contains(&fraction), "delivered {fraction}");
    assert!(
        arrived.windows(2).all(|w| w[0] < w[1]),
        "in order, no copies"
    );
    let report = relay.stop().await;
    // Everything the link delivered reached the sink, plus one or more markers.
    let delivered = report.up.delivered.packets - arrived.len() as u64;
    assert!((1..=markers).contains(&delivered), "{report}");
    assert_eq!(
        report.up.lost.packets + report.up.delivered.packets,
        report.up.offered.packets
    );
}

#[tokio::test]
async fn the_same_seed_loses_the_same_datagrams() {
    let mut runs = Vec::new();
    for _ in 0..2 {
        let (sink, target) = sink().await;
        let relay = RunningRelay::start(config(target, "loss=30%")).await;
        let client = client_of(relay.addr).await;
        runs.push(send_one_way_then_mark(&client, &sink, 300).await.0);
        relay.stop().await;
    }
    assert_eq!(runs[0], runs[1]);
}

#[tokio::test]
async fn duplicate_100_percent_delivers_everything_twice() {
    let (sink, target) = sink().await;
    let relay = RunningRelay::start(config(target, "duplicate=100%")).await;
    let client = client_of(relay.addr).await;
    for seq in 0..200 {
        client.send(&payload(seq)).await.unwrap();
    }
    let mut copies: HashMap<u32, u32> = HashMap::new();
    for _ in 0..400 {
        let got = recv(&sink).await;
        assert_eq!(got, payload(seq_of(&got)));
        *copies.entry(seq_of(&got)).or_default() += 1;
    }
    assert_eq!(copies.len(), 200);
    assert!(copies.values().all(|&n| n == 2), "{copies:?}");
    let report = relay.stop().await;
    assert_eq!(report.up.duplicated.packets, 200);
}

#[tokio::test]
async fn corrupt_100_percent_flips_exactly_one_bit_of_each() {
    let (sink, target) = sink().await;
    let relay = RunningRelay::start(config(target, "corrupt=100%")).await;
    let client = client_of(relay.addr).await;
    for seq in 0..300 {
        client.send(&payload(seq)).await.unwrap();
    }
    // No reordering: the n-th to arrive is the n-th sent (its number may be the flipped bit).
    for seq in 0..300 {
        let got = recv(&sink).await;
        let sent = payload(seq);
        assert_eq!(got.len(), sent.len());
        let flipped: u32 = got
            .iter()
            .zip(&sent)
            .map(|(a, b)| (a ^ b).count_ones())
            .sum();
        assert_eq!(flipped, 1, "datagram {seq}");
    }
    let report = relay.stop().await;
    assert_eq!(report.up.corrupted.packets, 300);
}

#[tokio::test]
async fn idle_mappings_expire() {
    let echo = UdpEcho::start().await;
    let mut config = config(echo.addr, "");
    config.udp_idle_timeout = Duration::from_millis(100);
    let relay = RunningRelay::start(config).await;

    let client = client_of(relay.addr).await;
    client.send(b"first").await.unwrap();
    assert_eq!(recv(&client).await, b"first");
    // Silent well past the timeout (a precondition, not a pass condition): the next datagram
    // gets a fresh mapping, which the server sees as a new address.
    tokio::time::sleep(Duration::from_millis(400)).await;
    client.send(b"second").await.unwrap();
    assert_eq!(recv(&client).await, b"second");
    assert_eq!(echo.peer_count(), 2);
    let report = relay.stop().await;
    assert!(report.udp.mappings_expired >= 1, "{report}");
    assert_eq!(report.udp.mappings_created, 2);
}

#[tokio::test]
async fn a_full_table_evicts_the_least_recently_active() {
    let echo = UdpEcho::start().await;
    let mut config = config(echo.addr, "");
    config.max_udp_mappings = 2;
    let relay = RunningRelay::start(config).await;

    let clients = [
        client_of(relay.addr).await,
        client_of(relay.addr).await,
        client_of(relay.addr).await,
    ];
    for client in &clients {
        client.send(b"hello").await.unwrap();
        assert_eq!(recv(client).await, b"hello");
    }
    // The first client was evicted by the third: it comes back as a new address.
    clients[0].send(b"again").await.unwrap();
    assert_eq!(recv(&clients[0]).await, b"again");
    assert_eq!(echo.peer_count(), 4);
    let report = relay.stop().await;
    assert_eq!(report.udp.mappings_evicted, 2, "{report}");
    assert_eq!(report.udp.mappings_created, 4);
    assert_eq!(report.udp.peak_mappings, 2);
}

#[tokio::test]
async fn shutdown_returns_the_report_and_a_taken_port_is_a_clear_error() {
    let echo = UdpEcho::start().await;
    let relay = RunningRelay::start(config(echo.addr, "")).await;
    let clash = relay::Relay::bind(RelayConfig::new(relay.addr, echo.addr)).await;
    let message = clash.unwrap_err().to_string();
    assert!(
        message.contains(&relay.addr.to_string()) && message.contains("pick another --listen port"),
        "{message}"
    );

    let client = client_of(relay.addr).await;
    client.send(b"ping").await.unwrap();
    assert_eq!(recv(&client).await, b"ping");
    let report = tokio::time::timeout(PATIENCE, relay.stop()).await.unwrap();
    assert_eq!(report.up.delivered.packets, 1);
    let text = report.to_string();
    assert!(text.contains("up   (client→server): offered 1"), "{text}");
}
