//! The resume sidecar `NAME.part.state` and the thread that keeps it current.
//!
//! The state file says which byte ranges of `NAME.part` hold data, at two levels of trust:
//!
//! - `have`: **durable** ranges, listed only once an `fdatasync` of the data file covered
//!   them, so they survive a power loss. The `fdatasync` waits for the disk (hundreds of
//!   milliseconds when other processes write a lot), so a small helper thread per sink runs
//!   it, never the endpoint's I/O thread; it publishes what became durable, and the next state
//!   write lists it.
//! - `written`: ranges merely written (`pwrite`) to the file, with the kernel's **boot id**. A
//!   killed process (even SIGKILL) loses nothing that reached the page cache; only a crash or
//!   power loss of the machine does, and that changes the boot id. So on resume `written` is
//!   trusted when the boot id is the same and ignored otherwise. This keeps the refetch after a
//!   kill small however slow the disk is to sync.
//!
//! The state is written by the sink's owner alone (every few MiB of progress, on the I/O
//! thread: a small file, no `fsync`), always as a temporary file renamed over the old one, so
//! it is one version or the next, never a mix; if a crash loses the rename the file is merely
//! older, or unreadable and ignored. Should a range ever be wrong anyway, the whole-file BLAKE3
//! at the end catches it and the download starts over.

use rudp::RangeSet;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Format version of the state file; another version is treated as absent.
const VERSION: u32 = 1;

/// Largest state file accepted, bytes: a hostile or corrupt file is never read whole.
const MAX_STATE_LEN: u64 = 16 << 20;

/// What `NAME.part.state` holds.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct State {
    pub(crate) version: u32,
    /// Size of the complete file, bytes.
    pub(crate) size: u64,
    /// Expected BLAKE3 of the complete file, hex.
    pub(crate) blake3: String,
    /// Byte ranges `[start, end)` durably held in the `.part` file, ascending.
    pub(crate) have: Vec<(u64, u64)>,
    /// Byte ranges written to the `.part` file (a superset of `have`), valid while the
    /// machine has not rebooted.
    #[serde(default)]
    pub(crate) written: Vec<(u64, u64)>,
    /// The kernel boot id when `written` was recorded.
    #[serde(default)]
    pub(crate) boot_id: Option<String>,
}

fn pairs(set: &RangeSet) -> Vec<(u64, u64)> {
    set.iter().map(|r| (r.start, r.end)).collect()
}

/// This boot of the machine (Linux: `/proc/sys/kernel/random/boot_id`); `None` elsewhere.
fn boot_id() -> Option<String> {
    static ID: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    })
    .clone()
}

/// The state file of one sink and what it last said.
#[derive(Debug)]
pub(crate) struct StateFile {
    path: PathBuf,
    state: State,
}

impl StateFile {
    pub(crate) fn new(path: PathBuf, size: u64, hash: &[u8; 32], have: &RangeSet) -> Self {
        Self {
            path,
            state: State {
                version: VERSION,
                size,
                blake3: blake3::Hash::from_bytes(*hash).to_hex().to_string(),
                have: pairs(have),
                written: pairs(have),
                boot_id: boot_id(),
            },
        }
    }

    /// Records the ranges written to the data file and those known durable. With `sync`, the
    /// state file itself is flushed to disk too (a clean stop); otherwise it is cheap.
    pub(crate) fn record(
        &mut self,
        written: &RangeSet,
        durable: &RangeSet,
        sync: bool,
    ) -> io::Result<()> {
        self.state.written = pairs(written);
        self.state.have = pairs(durable);
        save(&self.path, &self.state, sync)
    }
}

/// Why a state file was not used (logged; the download then starts over).
#[derive(Debug, thiserror::Error)]
pub(crate) enum Invalid {
    #[error("unreadable: {0}")]
    Io(#[from] io::Error),
    #[error("not valid state JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("written by another version ({0})")]
    Version(u32),
    #[error("it describes another file (size or hash differ)")]
    OtherFile,
    #[error("its ranges are out of order or past the end")]
    BadRanges,
    #[error("the .part file is shorter than the ranges it claims")]
    PartTooShort,
    #[error("larger than {MAX_STATE_LEN} bytes")]
    TooLarge,
}

/// Loads and validates the state for a file of `size` bytes with BLAKE3 `hash`, whose data
/// file currently is `part_len` bytes long. Never panics on hostile content.
pub(crate) fn load(
    path: &Path,
    size: u64,
    hash: &[u8; 32],
    part_len: u64,
) -> Result<RangeSet, Invalid> {
    let file = File::open(path)?;
    if file.metadata()?.len() > MAX_STATE_LEN {
        return Err(Invalid::TooLarge);
    }
    let state: State = serde_json::from_reader(io::BufReader::new(file))?;
    if state.version != VERSION {
        return Err(Invalid::Version(state.version));
    }
    let expected = blake3::Hash::from_bytes(*hash).to_hex();
    if state.size != size || !state.blake3.eq_ignore_ascii_case(expected.as_str()) {
        return Err(Invalid::OtherFile);
    }
    let have = ranges(&state.have, size)?;
    // Written-but-unsynced ranges survive a killed process, not a rebooted machine.
    let same_boot = state.boot_id.is_some() && state.boot_id == boot_id();
    let held = if same_boot {
        let mut held = ranges(&state.written, size)?;
        for r in have.iter() {
            held.insert(r);
        }
        held
    } else {
        have
    };
    if held.max().is_some_and(|last| last >= part_len) {
        return Err(Invalid::PartTooShort);
    }
    Ok(held)
}

/// Validates a list of ranges: ascending, disjoint, non-empty, within `size`.
fn ranges(list: &[(u64, u64)], size: u64) -> Result<RangeSet, Invalid> {
    let mut set = RangeSet::new();
    let mut prev_end = 0;
    for (i, &(start, end)) in list.iter().enumerate() {
        if start >= end || end > size || (i > 0 && start <= prev_end) {
            return Err(Invalid::BadRanges);
        }
        prev_end = end;
        set.insert(start..end);
    }
    Ok(set)
}

/// Writes `state` to `path` atomically: a temporary file (flushed to disk if `durable`),
/// renamed over it.
fn save(path: &Path, state: &State, durable: bool) -> io::Result<()> {
    let tmp = tmp_path(path);
    let mut file = io::BufWriter::new(File::create(&tmp)?);
    serde_json::to_writer(&mut file, state).map_err(io::Error::other)?;
    let file = file.into_inner().map_err(|e| e.into_error())?;
    if durable {
        file.sync_data()?;
    }
    std::fs::rename(&tmp, path)
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

/// Removes the state file (and a leftover temporary one); absent files are fine.
pub(crate) fn remove(path: &Path) -> io::Result<()> {
    for p in [path.to_path_buf(), tmp_path(path)] {
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// The helper thread that makes written data durable: `fdatasync(part)`, then publishes the
/// ranges it covered.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    tx: Option<SyncSender<RangeSet>>,
    /// `true` while the helper has no snapshot to work on: a new one is only built then, so
    /// the network loop never queues work behind a slow disk.
    idle: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the helper for the data file `part` (a handle of its own); it publishes the
    /// ranges it made durable in `durable`. A std `Mutex`: held to copy a range list.
    pub(crate) fn start(part: File, durable: Arc<Mutex<RangeSet>>) -> io::Result<Self> {
        let (tx, rx) = sync_channel::<RangeSet>(1);
        let idle = Arc::new(AtomicBool::new(true));
        let flag = idle.clone();
        let thread = std::thread::Builder::new()
            .name("rudp-checkpoint".into())
            .spawn(move || run(part, &durable, rx, &flag))?;
        Ok(Self {
            tx: Some(tx),
            idle,
            thread: Some(thread),
        })
    }

    /// `true` when a snapshot handed over now would be worked on at once.
    pub(crate) fn is_idle(&self) -> bool {
        self.idle.load(Ordering::Acquire)
    }

    /// Hands a snapshot over; `false` if the helper is still busy with the previous one.
    /// Every range in `have` must already be written to the data file (not just buffered).
    pub(crate) fn submit(&self, have: RangeSet) -> bool {
        let Some(tx) = &self.tx else { return false };
        self.idle.store(false, Ordering::Release);
        match tx.try_send(have) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
        }
    }

    /// Waits (up to `limit`) until the helper has no snapshot in hand.
    pub(crate) fn wait_idle(&self, limit: std::time::Duration) {
        let deadline = std::time::Instant::now() + limit;
        while !self.is_idle() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// Lets the helper finish what it holds and waits for it.
    pub(crate) fn stop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        // Waits for at most one fdatasync: once a sink is gone, nothing writes its files, so a
        // new sink may reopen them at once.
        self.stop();
    }
}

fn run(part: File, durable: &Mutex<RangeSet>, rx: Receiver<RangeSet>, idle: &AtomicBool) {
    for written in rx {
        match part.sync_data() {
            Ok(()) => *durable.lock().unwrap_or_else(|e| e.into_inner()) = written,
            // Not fatal: after a crash a resume merely fetches more again.
            Err(e) => tracing::warn!(error = %e, "fdatasync for the resume state failed"),
        }
        idle.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state_file(path: &Path, have: &RangeSet) -> StateFile {
        StateFile::new(path.to_path_buf(), 100, &[3; 32], have)
    }

    #[test]
    fn round_trip_and_rejections() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.part.state");
        let hash = [3u8; 32];
        let have = RangeSet::from_ranges([0..10, 20..30]);
        state_file(&path, &RangeSet::new())
            .record(&have, &have, true)
            .unwrap();
        assert_eq!(load(&path, 100, &hash, 30).unwrap(), have);
        assert!(matches!(
            load(&path, 101, &hash, 30),
            Err(Invalid::OtherFile)
        ));
        assert!(matches!(
            load(&path, 100, &[4; 32], 30),
            Err(Invalid::OtherFile)
        ));
        assert!(matches!(
            load(&path, 100, &hash, 29),
            Err(Invalid::PartTooShort)
        ));
        for junk in [
            &b""[..],
            b"{",
            b"\xff\xfe",
            b"[]",
            b"{\"version\":1}",
            b"{\"version\":1,\"size\":100,\"blake3\":\"00\",\"have\":[[5,1]]}",
        ] {
            std::fs::write(&path, junk).unwrap();
            assert!(load(&path, 100, &hash, 100).is_err());
        }
        let mut bad = state_file(&path, &have);
        bad.state.have = vec![(0, 10), (5, 30)];
        save(&path, &bad.state, false).unwrap();
        assert!(matches!(
            load(&path, 100, &hash, 100),
            Err(Invalid::BadRanges)
        ));
        bad.state.have = vec![(0, 101)];
        save(&path, &bad.state, false).unwrap();
        assert!(matches!(
            load(&path, 100, &hash, 200),
            Err(Invalid::BadRanges)
        ));
    }

    #[test]
    fn written_ranges_count_only_within_the_same_boot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.part.state");
        let hash = [3u8; 32];
        let mut sf = state_file(&path, &RangeSet::new());
        sf.record(
            &RangeSet::from_ranges(Some(0..40)),
            &RangeSet::from_ranges(Some(0..10)),
            false,
        )
        .unwrap();
        if boot_id().is_some() {
            assert_eq!(
                load(&path, 100, &hash, 40).unwrap(),
                RangeSet::from_ranges(Some(0..40))
            );
        }
        // After a reboot only the durable part is trusted.
        sf.state.boot_id = Some("another boot".into());
        save(&path, &sf.state, false).unwrap();
        assert_eq!(
            load(&path, 100, &hash, 40).unwrap(),
            RangeSet::from_ranges(Some(0..10))
        );
    }
}
