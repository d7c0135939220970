//! Resume: a receiver killed half-way (no clean stop) and restarted from `NAME.part` and its
//! state file fetches only what is missing, plus what arrived after the last checkpoint.

mod common;

use common::{Direction, endpoint, random_file, start_file};
use rudp_tokio::files::{FileSink, part_path, state_path};
use rudp_tokio::{Endpoint, Role, TransferSpec};
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The state file is rewritten every 4 MiB (or 250 ms) of progress with the ranges written so
/// far; a killed process loses nothing that reached the page cache, so a restart on the same
/// boot refetches at most those 4 MiB (plus the sink's 256 KiB write buffer). Bound: 5 MiB.
/// Measured here: 0–200 KB on a 48 MiB file.
fn margin(_size: u64) -> u64 {
    5 << 20
}

/// Counts what reaches the real sink, and tells the test when it has been dropped (that is,
/// when the killed endpoint has let go of the connection).
struct Counting {
    inner: FileSink,
    written: Arc<AtomicU64>,
    _alive: Arc<()>,
}

impl rudp::Sink for Counting {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.inner.write_at(offset, data)?;
        self.written.fetch_add(data.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// Kills the receiving side of a transfer of `size` bytes once at least half has arrived,
/// restarts it, and checks what the second run fetched.
async fn kill_and_resume(direction: Direction, size: u64) {
    let dir = tempfile::tempdir().unwrap();
    let (src, hash) = random_file(dir.path(), "src", size, 77);
    let dest = dir.path().join("dest");
    let stable = endpoint();
    let killed = endpoint();
    let (server, client) = match direction {
        Direction::Download => (&stable, &killed),
        Direction::Upload => (&killed, &stable),
    };

    let sink = FileSink::create(&dest, size, hash).unwrap();
    let written = Arc::new(AtomicU64::new(0));
    let alive = Arc::new(());
    let receive = Role::Receive {
        sink: Box::new(Counting {
            inner: sink.clone(),
            written: written.clone(),
            _alive: alive.clone(),
        }),
        have: rudp::RangeSet::new(),
    };
    let send = Role::Send(Box::new(rudp_tokio::files::FileSource::open(&src).unwrap()));
    let (server_role, client_role) = match direction {
        Direction::Download => (send, receive),
        Direction::Upload => (receive, send),
    };
    let p = common::params(size);
    let _s = server
        .start(TransferSpec::new(
            p.clone(),
            rudp::Side::Server,
            server_role,
        ))
        .unwrap();
    let _c = client
        .start(TransferSpec::new(
            p,
            rudp::Side::Client {
                server: server.local_addr(),
            },
            client_role,
        ))
        .unwrap();
    let deadline = Instant::now() + common::DEADLINE;
    while written.load(Ordering::Relaxed) < size / 2 {
        assert!(Instant::now() < deadline, "the first half never arrived");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    // The kill: the receiving endpoint goes away without a checkpoint.
    let held_at_kill = sink.ranges().total_len();
    drop(killed);
    while Arc::strong_count(&alive) > 1 {
        assert!(
            Instant::now() < deadline,
            "the killed endpoint kept the sink"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    drop(sink);
    assert!(part_path(&dest).exists());
    assert!(state_path(&dest).exists(), "no checkpoint was ever written");
    assert!(!dest.exists());

    // The restart, with a new transfer id and key as the control channel would hand out.
    let restarted: Endpoint = endpoint();
    let (server, client) = match direction {
        Direction::Download => (&stable, &restarted),
        Direction::Upload => (&restarted, &stable),
    };
    let (_, have) = FileSink::resume(&dest, size, hash).unwrap();
    assert!(have.total_len() <= held_at_kill);
    let summary = start_file(server, client, &src, &dest, hash, direction)
        .complete()
        .await;
    let fetched = summary.stats.data_bytes_received;
    let missing = size - held_at_kill;
    eprintln!(
        "{direction:?} of {size} B killed with {held_at_kill} B held; the state file had {} B; \
         the restart fetched {fetched} B = missing {missing} B + {} B again",
        have.total_len(),
        fetched - missing
    );
    assert_eq!(
        fetched + have.total_len(),
        size,
        "fetched {fetched} B with {} B held: {summary:?}",
        have.total_len()
    );
    assert!(
        fetched <= missing + margin(size),
        "fetched {fetched} B, missing {missing} B"
    );
}

/// Both directions in one test, one after the other: run in parallel, four busy endpoints
/// would starve the checkpoint threads of the two cores and measure the machine's load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_download_or_upload_resumes_with_only_the_missing_part() {
    kill_and_resume(Direction::Download, 48 << 20).await;
    kill_and_resume(Direction::Upload, 48 << 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_state_file_restarts_from_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client) = (endpoint(), endpoint());
    let size = 3 << 20;
    let (src, hash) = random_file(dir.path(), "src", size, 5);
    let dest = dir.path().join("dest");
    // Junk where the data would be, and a state file that is not JSON.
    std::fs::write(part_path(&dest), vec![0xee; size as usize]).unwrap();
    std::fs::write(state_path(&dest), b"{\"version\":1,\"size\":").unwrap();
    let (_, have) = FileSink::resume(&dest, size, hash).unwrap();
    assert!(have.is_empty());
    let summary = start_file(&server, &client, &src, &dest, hash, Direction::Download)
        .complete()
        .await;
    assert_eq!(summary.stats.data_bytes_received, size);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_file_for_another_file_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client) = (endpoint(), endpoint());
    let size = 1 << 20;
    let (src, hash) = random_file(dir.path(), "src", size, 6);
    let dest = dir.path().join("dest");
    // An earlier, interrupted download of another file under the same name.
    let other = [9u8; 32];
    let sink = FileSink::create(&dest, size, other).unwrap();
    rudp::Sink::write_at(&mut sink.clone(), 0, &vec![1u8; 500_000]).unwrap();
    sink.checkpoint().unwrap();
    drop(sink);
    assert_eq!(
        FileSink::resume(&dest, size, other).unwrap().1.total_len(),
        500_000
    );
    let (_, have) = FileSink::resume(&dest, size, hash).unwrap();
    assert!(have.is_empty());
    start_file(&server, &client, &src, &dest, hash, Direction::Upload)
        .complete()
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let size = 2_000_000;
    let (src, hash) = random_file(dir.path(), "src", size, 8);
    let data = std::fs::read(&src).unwrap();
    let dest = dir.path().join("dest");
    let sink = FileSink::create(&dest, size, hash).unwrap();
    // Out of order, with holes.
    let mut w = sink.clone();
    for (start, end) in [(1_000_000, 1_500_000), (0, 300_000), (300_000, 700_000)] {
        rudp::Sink::write_at(&mut w, start, &data[start as usize..end as usize]).unwrap();
    }
    sink.checkpoint().unwrap();
    drop((w, sink));
    let (sink, have) = FileSink::resume(&dest, size, hash).unwrap();
    assert_eq!(
        have,
        rudp::RangeSet::from_ranges([0..700_000, 1_000_000..1_500_000])
    );
    let mut w = sink.clone();
    for (start, end) in [(700_000, 1_000_000), (1_500_000, 2_000_000)] {
        rudp::Sink::write_at(&mut w, start, &data[start as usize..end as usize]).unwrap();
    }
    assert_eq!(sink.finish().unwrap(), dest);
    assert_eq!(std::fs::read(&dest).unwrap(), data);
}
