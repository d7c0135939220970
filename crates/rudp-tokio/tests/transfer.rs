//! File transfers between two real endpoints on 127.0.0.1: every size that matters, both
//! directions, several at once, and the endpoint's own bookkeeping.

mod common;

use common::{Direction, endpoint, random_file, start_file};
use std::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_of_every_size_both_directions() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client) = (endpoint(), endpoint());
    for (i, size) in [0u64, 1, 1452, 5 << 20, 64 << 20].into_iter().enumerate() {
        let (src, hash) = random_file(dir.path(), &format!("src{i}"), size, i as u64);
        for direction in [Direction::Download, Direction::Upload] {
            let dest = dir.path().join(format!("dst{i}-{direction:?}"));
            let started = Instant::now();
            let summary = start_file(&server, &client, &src, &dest, hash, direction)
                .complete()
                .await;
            assert_eq!(summary.bytes, size);
            assert_eq!(summary.stats.data_bytes_received, size);
            eprintln!(
                "{direction:?} {size} B: {:?} ({} packets sent by the receiver)",
                started.elapsed(),
                summary.stats.packets_sent
            );
        }
    }
    let s = server.stats();
    assert_eq!(s.dropped_unknown_transfer, 0);
    assert_eq!(s.dropped_malformed, 0);
    assert!(s.datagrams_sent > 0 && s.datagrams_received > 0);
    assert!(s.send_calls <= s.datagrams_sent);
    eprintln!("server endpoint: {s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_downloads_and_one_upload_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client) = (endpoint(), endpoint());
    let mut running = Vec::new();
    for i in 0..5u64 {
        let size = (3 << 20) + i * 12_345;
        let (src, hash) = random_file(dir.path(), &format!("src{i}"), size, 100 + i);
        let direction = if i == 4 {
            Direction::Upload
        } else {
            Direction::Download
        };
        let dest = dir.path().join(format!("dst{i}"));
        running.push(start_file(&server, &client, &src, &dest, hash, direction));
    }
    let results = futures_join_all(running.into_iter().map(|t| tokio::spawn(t.complete()))).await;
    for r in results {
        let summary = r.unwrap();
        assert!(summary.bytes >= 3 << 20);
    }
}

/// Awaits every task (a tiny `join_all`, to avoid a dependency).
async fn futures_join_all<T>(
    tasks: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<Result<T, tokio::task::JoinError>> {
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await);
    }
    out
}

#[tokio::test]
async fn a_transfer_id_cannot_be_registered_twice() {
    let ep = endpoint();
    let p = common::params(10);
    let spec = || {
        rudp_tokio::TransferSpec::new(
            p.clone(),
            rudp::Side::Server,
            rudp_tokio::Role::Send(Box::new(vec![0u8; 10])),
        )
    };
    let _first = ep.start(spec()).unwrap();
    assert!(matches!(
        ep.start(spec()),
        Err(rudp_tokio::EndpointError::DuplicateTransfer(id)) if id == p.transfer_id
    ));
}

#[tokio::test]
async fn binding_a_busy_port_is_a_clear_error() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = rudp_tokio::Endpoint::bind(addr, rudp_tokio::EndpointConfig::default()).unwrap_err();
    assert!(
        matches!(err, rudp_tokio::EndpointError::Bind { .. }),
        "{err}"
    );
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[tokio::test]
async fn the_endpoint_reports_its_socket() {
    let ep = endpoint();
    let s = ep.stats();
    assert!(ep.local_addr().port() != 0);
    assert!(s.recv_buffer > 0 && s.send_buffer > 0);
    assert!(s.gso_segments >= 1 && s.gro_segments >= 1);
    eprintln!(
        "buffers: recv {} B, send {} B; GSO {} segments; GRO {} segments",
        s.recv_buffer, s.send_buffer, s.gso_segments, s.gro_segments
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_gso_or_busy_polling_the_plain_path_works() {
    let dir = tempfile::tempdir().unwrap();
    let config = rudp_tokio::EndpointConfig {
        gso: false,
        busy_poll: std::time::Duration::ZERO,
        ..rudp_tokio::EndpointConfig::default()
    };
    let bind =
        || rudp_tokio::Endpoint::bind("127.0.0.1:0".parse().unwrap(), config.clone()).unwrap();
    let (server, client) = (bind(), bind());
    let (src, hash) = random_file(dir.path(), "src", 5 << 20, 11);
    for direction in [Direction::Download, Direction::Upload] {
        let dest = dir.path().join(format!("dst-{direction:?}"));
        start_file(&server, &client, &src, &dest, hash, direction)
            .complete()
            .await;
    }
    let s = server.stats();
    assert_eq!(s.gso_segments, 1);
    assert_eq!(
        s.send_calls, s.datagrams_sent,
        "one datagram per sendmsg without GSO"
    );
}
