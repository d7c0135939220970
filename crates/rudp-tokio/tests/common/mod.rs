//! Shared helpers: endpoint pairs on 127.0.0.1, random files, and a file transfer driven from
//! both ends with a deadline.
#![allow(dead_code, unreachable_pub)]

use rand::{Rng, RngCore, SeedableRng};
use rudp::{Side, TransferId, TransferParams};
use rudp_tokio::files::{FileSink, FileSource, hash_file};
use rudp_tokio::{Endpoint, EndpointConfig, Role, Summary, Transfer, TransferError, TransferSpec};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Longest any single transfer in these tests may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(60);

pub fn endpoint() -> Endpoint {
    Endpoint::bind("127.0.0.1:0".parse().unwrap(), EndpointConfig::default()).unwrap()
}

/// Fresh, distinct parameters for a transfer of `size` bytes.
pub fn params(size: u64) -> TransferParams {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let clock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut rng = rand::rngs::SmallRng::seed_from_u64(clock ^ n.rotate_left(40));
    let mut key = [0u8; 32];
    rng.fill_bytes(&mut key);
    TransferParams {
        transfer_id: TransferId((rng.random::<u64>() & !0xffff) | n),
        key,
        size,
    }
}

/// Writes `size` pseudo-random bytes (seeded) to `dir/name`; returns the path and BLAKE3.
pub fn random_file(dir: &Path, name: &str, size: u64, seed: u64) -> (PathBuf, [u8; 32]) {
    let path = dir.join(name);
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let mut data = vec![0u8; size as usize];
    rng.fill_bytes(&mut data);
    std::fs::write(&path, &data).unwrap();
    let (len, hash) = hash_file(&path).unwrap();
    assert_eq!(len, size);
    (path, hash)
}

/// Awaits `f`, failing the test after [`DEADLINE`].
pub async fn within<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(DEADLINE, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no outcome within {DEADLINE:?}"),
    }
}

/// Which end receives the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The client receives (the server sends).
    Download,
    /// The client sends (the server receives).
    Upload,
}

/// Both ends of one file transfer, started but not awaited.
pub struct FileTransfer {
    pub server: Transfer,
    pub client: Transfer,
    pub sink: FileSink,
    pub src: PathBuf,
    pub dest: PathBuf,
    pub direction: Direction,
}

/// Starts sending `src` to `dest` (resuming whatever `dest.part` holds) between the two
/// endpoints.
pub fn start_file(
    server: &Endpoint,
    client: &Endpoint,
    src: &Path,
    dest: &Path,
    hash: [u8; 32],
    direction: Direction,
) -> FileTransfer {
    let source = FileSource::open(src).unwrap();
    let size = source.len();
    let (sink, have) = FileSink::resume(dest, size, hash).unwrap();
    let send = Role::Send(Box::new(source));
    let receive = Role::Receive {
        sink: Box::new(sink.clone()),
        have,
    };
    let (server_role, client_role) = match direction {
        Direction::Download => (send, receive),
        Direction::Upload => (receive, send),
    };
    let p = params(size);
    let server_t = server
        .start(TransferSpec::new(p.clone(), Side::Server, server_role))
        .unwrap();
    let client_t = client
        .start(TransferSpec::new(
            p,
            Side::Client {
                server: server.local_addr(),
            },
            client_role,
        ))
        .unwrap();
    FileTransfer {
        server: server_t,
        client: client_t,
        sink,
        src: src.to_path_buf(),
        dest: dest.to_path_buf(),
        direction,
    }
}

impl FileTransfer {
    /// Waits for both ends, verifies and renames the file, checks it byte for byte; returns
    /// the receiver's summary.
    pub async fn complete(mut self) -> Summary {
        let what = format!("{:?} of {}", self.direction, self.src.display());
        let (s, c) = within(&what, async {
            tokio::join!(self.server.finished(), self.client.finished())
        })
        .await;
        let (sent, received) = match self.direction {
            Direction::Download => (s, c),
            Direction::Upload => (c, s),
        };
        let received = received.unwrap_or_else(|e| panic!("{what}: receiver: {e}"));
        let sent = sent.unwrap_or_else(|e| panic!("{what}: sender: {e}"));
        if std::env::var_os("RUDP_TEST_VERBOSE").is_some() {
            eprintln!("{what}: sender {:?}", sent.stats);
        }
        let path = self.sink.finish().unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(path, self.dest);
        assert!(
            std::fs::read(&self.src).unwrap() == std::fs::read(&self.dest).unwrap(),
            "{what}: content differs"
        );
        assert!(!rudp_tokio::files::part_path(&self.dest).exists());
        assert!(!rudp_tokio::files::state_path(&self.dest).exists());
        received
    }
}

/// Awaits one transfer's outcome with the deadline.
pub async fn outcome(t: &mut Transfer) -> Result<Summary, TransferError> {
    within("transfer", t.finished()).await
}
