//! The file service seen from a client written against the two protocol documents: control
//! frames by hand, bytes through a plain `rudp-tokio` endpoint.

mod common;

use std::net::SocketAddr;
use std::path::Path;

use common::{Raw, TestServer};
use proto::{ClientMsg, Direction, ErrorCode, FileInfo, ServerMsg};
use rudp::{Side, TransferId, TransferParams};
use rudp_tokio::files::{FileSink, FileSource};
use rudp_tokio::{Endpoint, EndpointConfig, Role, TransferSpec};

struct Offer {
    transfer: u64,
    key: [u8; 32],
    server: SocketAddr,
    file: FileInfo,
}

fn offer(msg: ServerMsg, tcp: SocketAddr, want: Direction) -> Offer {
    match msg {
        ServerMsg::Transfer {
            transfer,
            direction,
            key,
            udp_port,
            file,
            ..
        } => {
            assert_eq!(direction, want);
            Offer {
                transfer,
                key: proto::hex::from_hex32(&key).expect("64 hex digits"),
                server: SocketAddr::new(tcp.ip(), udp_port.unwrap_or(tcp.port())),
                file,
            }
        }
        other => panic!("expected a transfer offer, got {other:?}"),
    }
}

fn params(offer: &Offer) -> TransferParams {
    TransferParams {
        transfer_id: TransferId(offer.transfer),
        key: offer.key,
        size: offer.file.size,
    }
}

async fn upload(
    raw: &mut Raw,
    endpoint: &Endpoint,
    tcp: SocketAddr,
    path: &Path,
    name: &str,
) -> u64 {
    let (size, hash) = rudp_tokio::files::hash_file(path).unwrap();
    raw.send(&ClientMsg::Upload {
        req: Some(1),
        name: name.into(),
        size,
        hash: blake3::Hash::from(hash).to_hex().to_string(),
        replace: false,
    })
    .await;
    let offer = offer(raw.recv_skipping_presence().await, tcp, Direction::Upload);
    let role = Role::Send(Box::new(FileSource::open(path).unwrap()));
    let mut transfer = endpoint
        .start(TransferSpec::new(
            params(&offer),
            Side::Client {
                server: offer.server,
            },
            role,
        ))
        .unwrap();
    transfer.finished().await.unwrap();
    offer.transfer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_then_download_round_trip_verified() {
    let server = TestServer::start(|_| {}).await;
    let mut alice = Raw::login(server.addr, "alice").await;
    let mut bob = Raw::login(server.addr, "bob").await;
    let endpoint =
        Endpoint::bind("127.0.0.1:0".parse().unwrap(), EndpointConfig::default()).unwrap();
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("notes.bin");
    let body: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&src, &body).unwrap();

    let transfer = upload(&mut alice, &endpoint, server.addr, &src, "notes.bin").await;
    // Listed only after the server verified it: upload_done to alice, file_added to everyone.
    match alice.recv_skipping_presence().await {
        ServerMsg::UploadDone {
            transfer: t, file, ..
        } => {
            assert_eq!(
                (t, file.name.as_str(), file.size),
                (Some(transfer), "notes.bin", 3_000_000)
            );
        }
        other => panic!("{other:?}"),
    }
    match bob.recv_skipping_presence().await {
        ServerMsg::FileAdded { file } => assert_eq!(file.uploader, "alice"),
        other => panic!("{other:?}"),
    }
    assert!(
        server
            .dir
            .path()
            .join("files")
            .join(blake3::hash(&body).to_hex().as_str())
            .is_file()
    );

    bob.send(&ClientMsg::Files { req: Some(5) }).await;
    match bob.recv_skipping_presence().await {
        ServerMsg::FileList { req, files, done } => {
            assert_eq!((req, done, files.len()), (Some(5), true, 1));
        }
        other => panic!("{other:?}"),
    }

    bob.send(&ClientMsg::Download {
        req: Some(6),
        name: "notes.bin".into(),
    })
    .await;
    let offer = offer(
        bob.recv_skipping_presence().await,
        server.addr,
        Direction::Download,
    );
    let dest = work.path().join("fetched.bin");
    let hash = *blake3::hash(&body).as_bytes();
    let (sink, have) = FileSink::resume(&dest, offer.file.size, hash).unwrap();
    let role = Role::Receive {
        sink: Box::new(sink.clone()),
        have,
    };
    let mut transfer = endpoint
        .start(TransferSpec::new(
            params(&offer),
            Side::Client {
                server: offer.server,
            },
            role,
        ))
        .unwrap();
    transfer.finished().await.unwrap();
    tokio::task::spawn_blocking(move || sink.finish())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_content_is_listed_without_moving_bytes() {
    let server = TestServer::start(|_| {}).await;
    let mut alice = Raw::login(server.addr, "alice").await;
    let endpoint =
        Endpoint::bind("127.0.0.1:0".parse().unwrap(), EndpointConfig::default()).unwrap();
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("a.txt");
    std::fs::write(&src, b"same bytes").unwrap();
    upload(&mut alice, &endpoint, server.addr, &src, "a.txt").await;
    assert!(matches!(
        alice.recv_skipping_presence().await,
        ServerMsg::UploadDone { .. }
    ));
    assert!(matches!(
        alice.recv_skipping_presence().await,
        ServerMsg::FileAdded { .. }
    ));
    let hash = blake3::hash(b"same bytes").to_hex().to_string();
    for name in ["a.txt", "copy.txt"] {
        alice
            .send(&ClientMsg::Upload {
                req: Some(2),
                name: name.into(),
                size: 10,
                hash: hash.clone(),
                replace: false,
            })
            .await;
        match alice.recv_skipping_presence().await {
            ServerMsg::UploadDone {
                transfer: None,
                file,
                ..
            } => assert_eq!(file.name, name),
            other => panic!("{name}: {other:?}"),
        }
    }
    // Same name, other content: refused unless replace.
    alice
        .send(&ClientMsg::Upload {
            req: Some(3),
            name: "a.txt".into(),
            size: 3,
            hash: "0".repeat(64),
            replace: false,
        })
        .await;
    loop {
        match alice.recv_skipping_presence().await {
            ServerMsg::FileAdded { .. } => {}
            ServerMsg::Error { req, code, .. } => {
                assert_eq!((req, code), (Some(3), ErrorCode::FileExists));
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_and_oversized_uploads_are_refused_before_any_byte_moves() {
    let server = TestServer::start(|c| c.max_file_size = 1000).await;
    let mut alice = Raw::login(server.addr, "alice").await;
    let long = "n".repeat(300);
    for (i, name) in ["../x", "/etc/passwd", "a/b", "con\0", long.as_str(), ".."]
        .into_iter()
        .enumerate()
    {
        alice
            .send(&ClientMsg::Upload {
                req: Some(i as u64),
                name: name.into(),
                size: 1,
                hash: "a".repeat(64),
                replace: false,
            })
            .await;
        match alice.recv_skipping_presence().await {
            ServerMsg::Error { code, .. } => {
                assert_eq!(code, ErrorCode::InvalidFileName, "{name:?}")
            }
            other => panic!("{name:?}: {other:?}"),
        }
    }
    alice
        .send(&ClientMsg::Upload {
            req: Some(9),
            name: "big.iso".into(),
            size: 1001,
            hash: "a".repeat(64),
            replace: false,
        })
        .await;
    assert!(matches!(
        alice.recv_skipping_presence().await,
        ServerMsg::Error {
            code: ErrorCode::FileTooLarge,
            ..
        }
    ));
    alice
        .send(&ClientMsg::Upload {
            req: Some(10),
            name: "x".into(),
            size: 1,
            hash: "../../etc/passwd".into(),
            replace: false,
        })
        .await;
    assert!(matches!(
        alice.recv_skipping_presence().await,
        ServerMsg::Error {
            code: ErrorCode::Malformed,
            ..
        }
    ));
    alice
        .send(&ClientMsg::Download {
            req: Some(11),
            name: "nope".into(),
        })
        .await;
    assert!(matches!(
        alice.recv_skipping_presence().await,
        ServerMsg::Error {
            code: ErrorCode::NoSuchFile,
            ..
        }
    ));
    // Nothing was written: the bodies directory is empty, nothing appeared beside the data dir.
    let files: Vec<_> = std::fs::read_dir(server.dir.path().join("files"))
        .unwrap()
        .collect();
    assert!(files.is_empty(), "{files:?}");
    let mut top: Vec<_> = std::fs::read_dir(server.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    top.sort();
    assert!(
        top.iter()
            .all(|n| n.to_string_lossy().starts_with("confab.db") || n == "files"),
        "{top:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_upload_is_not_listed() {
    let server = TestServer::start(|_| {}).await;
    let mut alice = Raw::login(server.addr, "alice").await;
    let endpoint =
        Endpoint::bind("127.0.0.1:0".parse().unwrap(), EndpointConfig::default()).unwrap();
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("real.bin");
    std::fs::write(&src, vec![7u8; 50_000]).unwrap();
    // Announce another file's hash for these bytes.
    alice
        .send(&ClientMsg::Upload {
            req: Some(1),
            name: "lie.bin".into(),
            size: 50_000,
            hash: blake3::hash(b"other").to_hex().to_string(),
            replace: false,
        })
        .await;
    let offer = offer(
        alice.recv_skipping_presence().await,
        server.addr,
        Direction::Upload,
    );
    let role = Role::Send(Box::new(FileSource::open(&src).unwrap()));
    let mut transfer = endpoint
        .start(TransferSpec::new(
            params(&offer),
            Side::Client {
                server: offer.server,
            },
            role,
        ))
        .unwrap();
    transfer.finished().await.unwrap();
    match alice.recv_skipping_presence().await {
        ServerMsg::TransferFailed { transfer, code, .. } => {
            assert_eq!((transfer, code), (offer.transfer, ErrorCode::HashMismatch));
        }
        other => panic!("{other:?}"),
    }
    alice.send(&ClientMsg::Files { req: Some(2) }).await;
    assert!(
        matches!(alice.recv_skipping_presence().await, ServerMsg::FileList { files, .. } if files.is_empty())
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_releases_its_udp_port_at_once() {
    // A download is running when the server stops: the transfer is closed and the port freed
    // before `run` returns, so a restart on the same address succeeds immediately.
    let server = TestServer::start(|_| {}).await;
    let addr = server.addr;
    let mut alice = Raw::login(addr, "alice").await;
    let endpoint =
        Endpoint::bind("127.0.0.1:0".parse().unwrap(), EndpointConfig::default()).unwrap();
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("big.bin");
    std::fs::write(&src, vec![1u8; 2_000_000]).unwrap();
    upload(&mut alice, &endpoint, addr, &src, "big.bin").await;
    server.stop().await;
    for _ in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server::run(
            listener,
            server::Config::new(dir.path()),
            async {
                let _ = stopped.await;
            },
        ));
        // Fails with a bind error if the UDP port were still held.
        let mut bob = Raw::login(addr, "bob").await;
        bob.send(&ClientMsg::Files { req: Some(1) }).await;
        assert!(matches!(
            bob.recv_skipping_presence().await,
            ServerMsg::FileList { .. }
        ));
        stop.send(()).unwrap();
        tokio::time::timeout(common::WAIT, task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}

/// A receiver that takes its time over every write, so that a download lasts for seconds even
/// on loopback.
struct SlowSink;

impl rudp::Sink for SlowSink {
    fn write_at(&mut self, _offset: u64, _data: &[u8]) -> std::io::Result<()> {
        std::thread::sleep(std::time::Duration::from_millis(2));
        Ok(())
    }
}

/// Sends a `ping` and reads up to its `pong`, returning the `transfer_stats` read meanwhile
/// (a barrier: everything the server queued before the ping has been read).
async fn stats_until_pong(raw: &mut Raw, req: u64) -> Vec<(u64, proto::SenderStats)> {
    raw.send(&ClientMsg::Ping { req: Some(req) }).await;
    let mut seen = Vec::new();
    loop {
        match raw.recv().await {
            ServerMsg::Pong { req: Some(r) } if r == req => return seen,
            ServerMsg::TransferStats { transfer, sender } => seen.push((transfer, sender)),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_downloader_gets_sender_stats_and_none_after_the_end() {
    let server = TestServer::start(|_| {}).await;
    let mut alice = Raw::login(server.addr, "alice").await;
    let mut bob = Raw::login(server.addr, "bob").await;
    let endpoint =
        Endpoint::bind("127.0.0.1:0".parse().unwrap(), EndpointConfig::default()).unwrap();
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("big.bin");
    std::fs::write(&src, vec![7u8; 2_000_000]).unwrap();
    upload(&mut alice, &endpoint, server.addr, &src, "big.bin").await;
    assert!(matches!(
        alice.recv_skipping_presence().await,
        ServerMsg::UploadDone { .. }
    ));

    bob.send(&ClientMsg::Download {
        req: Some(1),
        name: "big.bin".into(),
    })
    .await;
    let offer = loop {
        // bob may see the file_added of alice's upload first.
        match bob.recv_skipping_presence().await {
            ServerMsg::FileAdded { .. } => {}
            other => break offer(other, server.addr, Direction::Download),
        }
    };
    // About 1400 packets at 2 ms each: the server's sender runs for seconds.
    let role = Role::Receive {
        sink: Box::new(SlowSink),
        have: rudp::RangeSet::new(),
    };
    let transfer = endpoint
        .start(TransferSpec::new(
            params(&offer),
            Side::Client {
                server: offer.server,
            },
            role,
        ))
        .unwrap();

    let (id, first) = loop {
        if let ServerMsg::TransferStats { transfer, sender } = bob.recv().await {
            break (transfer, sender);
        }
    };
    assert_eq!(id, offer.transfer, "the stats name bob's download");
    assert!(first.cwnd > 0, "{first:?}");
    assert!(first.packets_sent > 0, "{first:?}");
    assert!(first.smoothed_rtt_us > 0, "{first:?}");
    let more = stats_until_pong(&mut bob, 2).await;
    assert!(more.iter().all(|(t, _)| *t == offer.transfer));

    bob.send(&ClientMsg::Cancel {
        transfer: offer.transfer,
    })
    .await;
    transfer.cancel();
    // The cancel reaches the sender within milliseconds; let a sample that raced it drain.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    stats_until_pong(&mut bob, 3).await;
    // Several sampling intervals later: nothing more came for the ended transfer.
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let late = stats_until_pong(&mut bob, 4).await;
    assert!(late.is_empty(), "stats after the end: {late:?}");

    let seen_by_alice = stats_until_pong(&mut alice, 5).await;
    assert!(
        seen_by_alice.is_empty(),
        "another session got bob's figures: {seen_by_alice:?}"
    );
    server.stop().await;
}
