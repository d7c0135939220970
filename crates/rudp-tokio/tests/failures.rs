//! What goes wrong, and how it is reported: spoofed datagrams, a silent peer, a full disk,
//! a wrong hash, a cancelled transfer.

mod common;

use common::{Direction, endpoint, outcome, params, random_file, start_file};
use rudp::{Side, TransferParams};
use rudp_tokio::files::{FileError, FileSink, FileSource, part_path};
use rudp_tokio::memory::MemorySink;
use rudp_tokio::{Role, TransferError, TransferSpec};
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A datagram with a valid-looking header for `p`'s transfer (from the data receiver, so a
/// sender takes it for its peer's) and garbage where the ciphertext and tag belong.
fn spoof(p: &TransferParams, pn: u32) -> Vec<u8> {
    let mut d = vec![0xa5u8; 14 + 64 + 16];
    d[0] = rudp::packet::VERSION;
    d[1] = 2;
    d[2..10].copy_from_slice(&p.transfer_id.0.to_be_bytes());
    d[10..14].copy_from_slice(&pn.to_be_bytes());
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_datagrams_are_dropped_and_the_transfer_completes() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client) = (endpoint(), endpoint());
    let attacker = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let (src, hash) = random_file(dir.path(), "src", 4 << 20, 9);
    let size = 4 << 20;
    let p = params(size);
    let mut sending = server
        .start(TransferSpec::new(
            p.clone(),
            Side::Server,
            Role::Send(Box::new(FileSource::open(&src).unwrap())),
        ))
        .unwrap();
    // Before the client shows up: the spoof must not authenticate, so the server neither
    // answers it nor adopts the attacker's address.
    for pn in 0..5 {
        attacker
            .send_to(&spoof(&p, 1_000 + pn), server.local_addr())
            .unwrap();
    }
    // A datagram for a transfer nobody runs.
    let mut other = params(1);
    other.transfer_id = rudp::TransferId(p.transfer_id.0 ^ 1);
    attacker
        .send_to(&spoof(&other, 0), server.local_addr())
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while sending.current().stats.dropped_auth < 5 || server.stats().dropped_unknown_transfer < 1 {
        assert!(Instant::now() < deadline, "spoofs never counted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(sending.current().stats.packets_sent, 0, "answered a spoof");

    let dest = dir.path().join("dest");
    let sink = FileSink::create(&dest, size, hash).unwrap();
    let mut receiving = client
        .start(TransferSpec::new(
            p.clone(),
            Side::Client {
                server: server.local_addr(),
            },
            Role::Receive {
                sink: Box::new(sink.clone()),
                have: rudp::RangeSet::new(),
            },
        ))
        .unwrap();
    // More spoofs while data flows.
    for pn in 0..20 {
        attacker
            .send_to(&spoof(&p, 2_000_000 + pn), server.local_addr())
            .unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let received = outcome(&mut receiving).await.unwrap();
    let sent = outcome(&mut sending).await.unwrap();
    assert!(sent.stats.dropped_auth >= 5, "{:?}", sent.stats);
    assert_eq!(sent.stats.path_changes, 0);
    assert_eq!(received.stats.data_bytes_received, size);
    sink.finish().unwrap();
    assert_eq!(std::fs::read(&src).unwrap(), std::fs::read(&dest).unwrap());
}

#[tokio::test]
async fn a_silent_peer_fails_the_transfer_within_the_idle_timeout() {
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let client = endpoint();
    let idle = Duration::from_secs(1);
    let config = Arc::new(rudp::Config {
        idle_timeout: idle,
        ..rudp::Config::default()
    });
    let started = Instant::now();
    let mut t = client
        .start(TransferSpec {
            config,
            ..TransferSpec::new(
                params(1 << 20),
                Side::Client {
                    server: silent.local_addr().unwrap(),
                },
                Role::Receive {
                    sink: Box::new(MemorySink::new()),
                    have: rudp::RangeSet::new(),
                },
            )
        })
        .unwrap();
    let err = outcome(&mut t).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        matches!(
            err,
            TransferError::Failed {
                source: rudp::Error::TimedOut,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("went silent"), "{err}");
    assert!(elapsed >= idle, "{elapsed:?}");
    assert!(elapsed < idle + Duration::from_secs(5), "{elapsed:?}");
    assert!(t.current().finished);
}

/// A sink whose disk is full after `room` bytes.
struct FullDisk {
    inner: FileSink,
    room: u64,
}

impl rudp::Sink for FullDisk {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        if data.len() as u64 > self.room {
            return Err(io::Error::from(io::ErrorKind::StorageFull));
        }
        self.room -= data.len() as u64;
        self.inner.write_at(offset, data)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_the_transfer_and_keeps_the_part_file() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client) = (endpoint(), endpoint());
    let size = 2 << 20;
    let (src, hash) = random_file(dir.path(), "src", size, 3);
    let dest = dir.path().join("dest");
    let sink = FileSink::create(&dest, size, hash).unwrap();
    let p = params(size);
    let mut sending = server
        .start(TransferSpec::new(
            p.clone(),
            Side::Server,
            Role::Send(Box::new(FileSource::open(&src).unwrap())),
        ))
        .unwrap();
    let mut receiving = client
        .start(TransferSpec::new(
            p,
            Side::Client {
                server: server.local_addr(),
            },
            Role::Receive {
                sink: Box::new(FullDisk {
                    inner: sink.clone(),
                    room: size / 2,
                }),
                have: rudp::RangeSet::new(),
            },
        ))
        .unwrap();
    let err = outcome(&mut receiving).await.unwrap_err();
    assert!(
        matches!(&err, TransferError::Failed { source: rudp::Error::Sink(e), .. } if e.kind() == io::ErrorKind::StorageFull),
        "{err}"
    );
    assert!(
        err.to_string().contains("writing received data failed"),
        "{err}"
    );
    // The sender learns why from the CLOSE.
    let err = outcome(&mut sending).await.unwrap_err();
    assert!(
        matches!(&err, TransferError::Failed { source: rudp::Error::PeerClosed { code, .. }, .. } if *code == rudp::code::IO),
        "{err}"
    );
    assert!(matches!(sink.finish(), Err(FileError::Incomplete { .. })));
    assert!(part_path(&dest).exists());
    assert!(!dest.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_hash_fails_finish_and_leaves_no_final_file() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client) = (endpoint(), endpoint());
    let (src, mut hash) = random_file(dir.path(), "src", 100_000, 4);
    hash[0] ^= 1;
    let dest = dir.path().join("dest");
    let mut t = start_file(&server, &client, &src, &dest, hash, Direction::Download);
    outcome(&mut t.client).await.unwrap();
    let err = t.sink.finish().unwrap_err();
    assert!(matches!(err, FileError::HashMismatch { .. }), "{err}");
    assert!(err.to_string().contains("does not match"), "{err}");
    assert!(!dest.exists());
    assert!(part_path(&dest).exists());
    // The next attempt starts over rather than trusting the bad bytes.
    let (_, have) = FileSink::resume(&dest, 100_000, hash).unwrap();
    assert!(have.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_ends_both_sides() {
    let (server, client) = (endpoint(), endpoint());
    let size = 1 << 40; // never finishes on its own
    let p = params(size);
    let mut sending = server
        .start(TransferSpec::new(
            p.clone(),
            Side::Server,
            Role::Send(Box::new(rudp_tokio::memory::PatternSource { seed: 1 })),
        ))
        .unwrap();
    let mut receiving = client
        .start(TransferSpec::new(
            p,
            Side::Client {
                server: server.local_addr(),
            },
            Role::Receive {
                sink: Box::new(rudp_tokio::memory::PatternSink::new(1)),
                have: rudp::RangeSet::new(),
            },
        ))
        .unwrap();
    let mut progress = receiving.progress();
    common::within("progress", async {
        while progress.borrow().bytes_done < 1 << 20 {
            progress.changed().await.unwrap();
        }
    })
    .await;
    receiving.cancel();
    assert!(matches!(
        outcome(&mut receiving).await,
        Err(TransferError::Cancelled { .. })
    ));
    let err = outcome(&mut sending).await.unwrap_err();
    assert!(
        matches!(&err, TransferError::Failed { source: rudp::Error::PeerClosed { code, .. }, .. } if *code == rudp::code::CANCELLED),
        "{err}"
    );
    assert!(matches!(
        receiving.finished().await,
        Err(TransferError::OutcomeTaken)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_endpoint_ends_its_transfers() {
    let (server, client) = (endpoint(), endpoint());
    let p = params(1 << 40);
    let mut sending = server
        .start(TransferSpec::new(
            p.clone(),
            Side::Server,
            Role::Send(Box::new(rudp_tokio::memory::PatternSource { seed: 1 })),
        ))
        .unwrap();
    let mut receiving = client
        .start(TransferSpec::new(
            p,
            Side::Client {
                server: server.local_addr(),
            },
            Role::Receive {
                sink: Box::new(rudp_tokio::memory::PatternSink::new(1)),
                have: rudp::RangeSet::new(),
            },
        ))
        .unwrap();
    let mut progress = receiving.progress();
    common::within("progress", async {
        while progress.borrow().bytes_done < 1 << 20 {
            progress.changed().await.unwrap();
        }
    })
    .await;
    drop(client);
    assert!(matches!(
        outcome(&mut receiving).await,
        Err(TransferError::EndpointClosed)
    ));
    // The dropped endpoint still told the peer.
    assert!(matches!(
        outcome(&mut sending).await,
        Err(TransferError::Failed {
            source: rudp::Error::PeerClosed { .. },
            ..
        })
    ));
}
