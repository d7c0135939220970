//! A download's sender figures — the server's congestion window and losses, which the
//! downloading client cannot see for itself — reach the downloader's `TransferProgress`, and
//! nobody else.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use client::{ClientError, SenderStats, TransferProgress};
use common::*;
use proto::{ClientMsg, Direction, FileInfo, ServerMsg};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Reads `raw` up to the `pong` of a fresh `ping`, returning the `transfer_stats` met on the way.
async fn stats_until_pong(raw: &mut Raw, req: u64) -> Vec<ServerMsg> {
    raw.send(&ClientMsg::Ping { req: Some(req) }).await;
    let mut stats = Vec::new();
    loop {
        match raw.recv().await.expect("the server closed the connection") {
            ServerMsg::Pong { req: Some(r) } if r == req => return stats,
            msg @ ServerMsg::TransferStats { .. } => stats.push(msg),
            _ => {}
        }
    }
}

/// Every distinct `sender` a progress watch shows until the transfer's last snapshot.
async fn watch_sender_reports(mut progress: watch::Receiver<TransferProgress>) -> Vec<SenderStats> {
    let mut reports: Vec<SenderStats> = Vec::new();
    loop {
        let snapshot = progress.borrow_and_update().clone();
        if let Some(sender) = snapshot.sender
            && reports.last() != Some(&sender)
        {
            reports.push(sender);
        }
        if snapshot.finished || progress.changed().await.is_err() {
            return reports;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lossy_download_shows_the_servers_window_and_losses_to_the_downloader_only() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(test_config(&tmp.path().join("data"))).await;
    let size = 4 << 20;
    let bytes = pattern(size, 5);
    let src = tmp.path().join("big.bin");
    std::fs::write(&src, &bytes).unwrap();
    let (uploader, _uploader_events, _) = login(server.addr, "alice").await;
    let put = within("upload setup", uploader.upload(&src, None, false))
        .await
        .unwrap();
    within("upload", put.finished()).await.unwrap();
    let mut bystander = Raw::login(server.addr, "carol").await;

    // 40 Mbit/s makes 4 MiB last about a second (several reports); 3% loss makes losses.
    let relay = start_relay(server.addr, "loss=3%,delay=10ms,rate=40mbit").await;
    let (downloader, _events, _) = login(relay.addr, "bob").await;
    let dest = tmp.path().join("copy.bin");
    let handle = within("download setup", downloader.download("big.bin", &dest))
        .await
        .unwrap();
    let reports = tokio::spawn(watch_sender_reports(handle.progress()));
    let outcome = tokio::time::timeout(Duration::from_secs(60), handle.finished())
        .await
        .expect("the download timed out")
        .expect("the download failed");
    assert!(
        std::fs::read(&dest).unwrap() == bytes,
        "downloaded bytes differ"
    );
    let reports = within("the progress watch", reports).await.unwrap();
    let relay_report = relay.stop().await;
    eprintln!(
        "{} sender reports; last {:?}; relay lost {} of {} datagrams downstream",
        reports.len(),
        reports.last(),
        relay_report.down.lost.packets,
        relay_report.down.offered.packets
    );

    let last = reports
        .last()
        .expect("the downloader got no figures from the server's sender");
    assert!(reports.iter().all(|r| r.cwnd > 0), "{reports:?}");
    assert!(
        last.packets_sent > 0 && last.smoothed_rtt_us > 0,
        "{last:?}"
    );
    assert!(
        last.packets_lost > 0,
        "3% loss, yet the server's sender reported no loss: {last:?}"
    );
    assert!(
        reports
            .windows(2)
            .all(|w| w[1].packets_lost >= w[0].packets_lost),
        "the loss counter only grows"
    );
    // The receiver's own engine never declares data lost: the figure really is the server's.
    assert_eq!(outcome.stats.packets_lost, 0);

    let seen = stats_until_pong(&mut bystander, 1).await;
    assert!(seen.is_empty(), "carol got bob's figures: {seen:?}");
    let _ = uploader.quit().await;
    let _ = downloader.quit().await;
    server.stop().await;
}

/// What the fake server reports, as (transfer, figures): the first batch right after its
/// `transfer` answer, each later one before the `pong` of the client's next `ping`.
type Script = Vec<Vec<(u64, SenderStats)>>;

/// Plays a server that offers every download as transfer 41 (its UDP side swallows the
/// datagrams, so no byte ever moves) and sends `transfer_stats` as `script` says.
async fn stats_server(script: Script) -> (SocketAddr, JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let udp_port = udp.local_addr().unwrap().port();
        let (stream, _) = listener.accept().await.unwrap();
        let mut raw = Raw::from_stream(stream);
        let mut script = script.into_iter();
        while let Some(frame) = raw.recv_client().await {
            if let Some(reply) = raw.answer_login(&frame, "fake/1").await {
                raw.send_server(&reply).await;
                continue;
            }
            let reply = match frame {
                ClientMsg::Download { req, name } => ServerMsg::Transfer {
                    req,
                    transfer: 41,
                    direction: Direction::Download,
                    key: "00".repeat(32),
                    udp_port: Some(udp_port),
                    file: FileInfo {
                        name,
                        size: 100_000,
                        hash: "ab".repeat(32),
                        uploader: "mallory".into(),
                        ts: 0,
                    },
                },
                ClientMsg::Ping { req } => ServerMsg::Pong { req },
                ClientMsg::Quit {} => return,
                _ => continue,
            };
            // The `transfer` answer must come before any report on it; a ping's reports come
            // before its `pong`, so the client has read them once `ping()` returns.
            let reports = match reply {
                ServerMsg::Transfer { .. } | ServerMsg::Pong { .. } => {
                    script.next().unwrap_or_default()
                }
                _ => vec![],
            };
            if matches!(reply, ServerMsg::Transfer { .. }) {
                raw.send_server(&reply).await;
            }
            for (transfer, sender) in reports {
                raw.send_server(&ServerMsg::TransferStats { transfer, sender })
                    .await;
            }
            if !matches!(reply, ServerMsg::Transfer { .. }) {
                raw.send_server(&reply).await;
            }
        }
        drop(udp);
    });
    (addr, task)
}

fn figures(cwnd: u64, packets_lost: u64) -> SenderStats {
    SenderStats {
        cwnd,
        bytes_in_flight: cwnd / 2,
        packets_sent: 100 + packets_lost,
        packets_lost,
        data_bytes_retransmitted: packets_lost * 1400,
        smoothed_rtt_us: 20_000,
        min_rtt_us: 18_000,
        pacing_rate: 1_000_000,
        delivery_rate: 900_000,
    }
}

/// Waits until the download's progress shows `want` as its sender.
async fn progress_shows(progress: &mut watch::Receiver<TransferProgress>, want: &SenderStats) {
    within("the sender figures in the progress", async {
        loop {
            if progress.borrow_and_update().sender.as_ref() == Some(want) {
                return;
            }
            progress.changed().await.expect("the transfer task ended");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_downloads_progress_carries_the_figures_reported_for_it() {
    let (first, second, decoy) = (figures(30_000, 2), figures(45_000, 5), figures(1, 999));
    let (addr, server) = stats_server(vec![
        vec![(41, first.clone())],
        vec![(41, second.clone())],
        vec![(40, decoy)],
    ])
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let (client, _events, _) = login(addr, "bob").await;
    let handle = within(
        "download setup",
        client.download("x.bin", tmp.path().join("x.bin")),
    )
    .await
    .unwrap();
    let mut progress = handle.progress();
    progress_shows(&mut progress, &first).await;
    within("ping", client.ping()).await.unwrap();
    progress_shows(&mut progress, &second).await;
    assert_eq!(
        progress.borrow().bytes_done,
        0,
        "the figures alone move nothing"
    );

    // A report for a transfer that is not ours changes nothing.
    within("ping", client.ping()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(progress.borrow().sender.as_ref(), Some(&second));

    handle.cancel();
    let err = within("the cancel", handle.finished()).await.unwrap_err();
    assert!(matches!(err, ClientError::Cancelled { .. }), "{err}");
    assert_eq!(
        progress.borrow().sender.as_ref(),
        Some(&second),
        "the last report stays once the transfer is over"
    );
    let _ = client.quit().await;
    server.abort();
    assert!(!Path::new(&tmp.path().join("x.bin")).exists());
}
