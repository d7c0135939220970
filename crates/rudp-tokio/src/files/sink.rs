//! [`FileSink`]: received bytes go into `NAME.part`, hashed as they arrive, renamed to `NAME`
//! once complete and verified.

use super::state::{self, Checkpointer, StateFile};
use super::{FileError, hex, part_path, state_path};
use rudp::{RangeSet, Sink};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Contiguous writes are gathered up to this many bytes before one `pwrite`, bytes: a
/// syscall per 1.4 KB datagram would cost more than the network does.
const WRITE_BUFFER: usize = 256 << 10;
/// Most bytes read back from disk to hash per `write_at` call, bytes. Bounds the pause an
/// out-of-order fill (or a resume's held prefix) costs the network loop; the lag is made up
/// over the next writes (each allows far more than it adds) and at `finish`.
const HASH_CATCH_UP_PER_WRITE: u64 = 1 << 20;
/// Checkpoint after this many fresh bytes, bytes.
const CHECKPOINT_BYTES: u64 = 4 << 20;
/// Checkpoint at least this often while data flows.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(250);

/// A [`Sink`] that writes a download into `NAME.part`, computes its BLAKE3 while the data
/// flows, keeps a resume state in `NAME.part.state`, and on [`finish`](Self::finish)
/// verifies the hash and renames the file to `NAME`.
///
/// # Hashing without a second pass
///
/// Bytes that arrive in order are hashed from memory (in 256 KiB batches, as they are written
/// to the file). When a retransmission
/// closes a gap, the bytes after it (already on disk, usually still in the page cache) are
/// read back once and hashed. A resumed download hashes the prefix it already held from disk,
/// once. So each byte is hashed exactly once, and `finish` only hashes what is still lagging.
///
/// # Resume
///
/// Every 4 MiB or 250 ms of progress the state file is rewritten (temporary file + rename)
/// with the ranges written so far, tagged with the kernel's boot id, and those a helper
/// thread's `fdatasync` of the data file has made durable. A receiver killed
/// (even with SIGKILL) and restarted with [`FileSink::resume`] on the same boot fetches what
/// is missing plus at most ~4 MiB; after a machine crash, what is missing plus whatever was not
/// yet synced. Call [`checkpoint`](Self::checkpoint) on a clean stop to lose nothing. Dropping
/// the sink does not checkpoint (it models a kill).
///
/// # Sharing
///
/// The sink is a cheap handle (`Clone`): give one clone to the transfer (it is moved into the
/// connection) and keep another to call [`finish`](Self::finish) once the transfer completed.
/// The lock inside is uncontended: only the endpoint thread writes while the transfer runs.
#[derive(Clone, Debug)]
pub struct FileSink {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    file: File,
    dest: PathBuf,
    part: PathBuf,
    state: PathBuf,
    /// Size of the complete file, bytes.
    size: u64,
    expected: [u8; 32],
    /// Bytes written (or buffered for writing) to the part file.
    have: RangeSet,
    hasher: blake3::Hasher,
    /// Every byte below this offset has been hashed; nothing at or above it has.
    hashed: u64,
    /// Pending contiguous bytes and the file offset of their first byte.
    wbuf: Vec<u8>,
    wbuf_at: u64,
    /// Buffer for reading back bytes to hash (allocated on first use).
    scratch: Vec<u8>,
    state_file: StateFile,
    /// Ranges the checkpoint helper has made durable (`fdatasync`).
    durable: Arc<Mutex<RangeSet>>,
    checkpointer: Checkpointer,
    /// Fresh bytes since the last checkpoint handed to the helper.
    since_checkpoint: u64,
    last_checkpoint: Instant,
    finished: bool,
}

impl FileSink {
    /// Starts a fresh download of `size` bytes with BLAKE3 `hash` towards `dest`: creates (or
    /// truncates) `dest.part` and removes any stale state.
    pub fn create(dest: impl AsRef<Path>, size: u64, hash: [u8; 32]) -> io::Result<Self> {
        let dest = dest.as_ref().to_path_buf();
        state::remove(&state_path(&dest))?;
        Self::open(dest, size, hash, RangeSet::new(), true)
    }

    /// Resumes a download into `dest`: reloads `dest.part` and the ranges its state file says
    /// are on disk, and returns them for [`Connection::receiver`](rudp::Connection::receiver)'s
    /// `have`. Starts over (empty ranges) when there is no state, when it is corrupt, or when
    /// it describes another file (size or hash differ: a different file under the same name).
    /// Never panics on hostile state content.
    pub fn resume(
        dest: impl AsRef<Path>,
        size: u64,
        hash: [u8; 32],
    ) -> io::Result<(Self, RangeSet)> {
        let dest = dest.as_ref().to_path_buf();
        let part = part_path(&dest);
        let state_file = state_path(&dest);
        let part_len = std::fs::metadata(&part).map_or(0, |m| m.len());
        let have = match state::load(&state_file, size, &hash, part_len) {
            Ok(have) => have,
            Err(state::Invalid::Io(e)) if e.kind() == io::ErrorKind::NotFound => RangeSet::new(),
            Err(why) => {
                tracing::warn!(state = %state_file.display(), %why, "ignoring resume state; starting over");
                RangeSet::new()
            }
        };
        let fresh = have.is_empty();
        if fresh {
            state::remove(&state_file)?;
        }
        let sink = Self::open(dest, size, hash, have.clone(), fresh)?;
        Ok((sink, have))
    }

    fn open(
        dest: PathBuf,
        size: u64,
        expected: [u8; 32],
        have: RangeSet,
        truncate: bool,
    ) -> io::Result<Self> {
        let part = part_path(&dest);
        let state = state_path(&dest);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(truncate)
            .open(&part)?;
        let state_file = StateFile::new(state.clone(), size, &expected, &have);
        // What a resume starts from was on disk already (or is rechecked by the hash).
        let durable = Arc::new(Mutex::new(have.clone()));
        let checkpointer = Checkpointer::start(file.try_clone()?, durable.clone())?;
        let inner = Inner {
            file,
            dest,
            part,
            state,
            size,
            expected,
            have,
            hasher: blake3::Hasher::new(),
            hashed: 0,
            wbuf: Vec::with_capacity(WRITE_BUFFER),
            wbuf_at: 0,
            scratch: Vec::new(),
            state_file,
            durable,
            checkpointer,
            since_checkpoint: 0,
            last_checkpoint: Instant::now(),
            finished: false,
        };
        Ok(Self {
            inner: Arc::new(Mutex::new(inner)),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent-enough state for an error path.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where the verified file will be.
    pub fn dest(&self) -> PathBuf {
        self.lock().dest.clone()
    }

    /// The partial file, `dest` + `.part`.
    pub fn part_path(&self) -> PathBuf {
        self.lock().part.clone()
    }

    /// Byte ranges written so far (including those not yet checkpointed).
    pub fn ranges(&self) -> RangeSet {
        self.lock().have.clone()
    }

    /// Makes everything written so far durable and records it in the state file, now (a
    /// clean stop: call it after cancelling a download you mean to resume).
    pub fn checkpoint(&self) -> io::Result<()> {
        let mut inner = self.lock();
        inner.flush()?;
        // The helper writes the same files: let it finish first.
        inner.checkpointer.wait_idle(Duration::from_secs(10));
        inner.file.sync_data()?;
        let inner = &mut *inner;
        inner.state_file.record(&inner.have, &inner.have, true)?;
        inner.since_checkpoint = 0;
        inner.last_checkpoint = Instant::now();
        Ok(())
    }

    /// Completes the download: checks every byte is there, flushes and `fsync`s the file,
    /// compares its BLAKE3 with the expected one and renames `NAME.part` to `NAME` (atomically,
    /// replacing any file there). Returns the final path.
    ///
    /// On [`FileError::HashMismatch`] the `.part` file is left for inspection and its state
    /// file is removed, so the next attempt starts over. Blocks on the disk (and hashes any
    /// bytes not hashed yet): call it from a blocking context.
    pub fn finish(&self) -> Result<PathBuf, FileError> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        if inner.finished {
            return Err(FileError::Finished);
        }
        if !inner.have.covers(0..inner.size) {
            return Err(FileError::Incomplete {
                part: inner.part.clone(),
                held: inner.have.total_len(),
                size: inner.size,
            });
        }
        let io_err = |part: &Path| {
            let part = part.to_path_buf();
            move |source| FileError::Io { path: part, source }
        };
        inner.flush().map_err(io_err(&inner.part))?;
        inner.catch_up(u64::MAX).map_err(io_err(&inner.part))?;
        inner.file.sync_all().map_err(io_err(&inner.part))?;
        inner.checkpointer.stop();
        inner.finished = true;
        let actual = *inner.hasher.finalize().as_bytes();
        if actual != inner.expected {
            let _ = state::remove(&inner.state);
            return Err(FileError::HashMismatch {
                part: inner.part.clone(),
                expected: hex(&inner.expected),
                actual: hex(&actual),
            });
        }
        std::fs::rename(&inner.part, &inner.dest).map_err(io_err(&inner.dest))?;
        let _ = state::remove(&inner.state);
        if let Some(dir) = inner.dest.parent() {
            // Make the rename itself durable.
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(inner.dest.clone())
    }
}

impl Sink for FileSink {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.lock().write_at(offset, data)
    }
}

impl Inner {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        if self.finished {
            return Err(io::Error::other("the download was already finished"));
        }
        let end = offset + data.len() as u64;
        if end > self.size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "write past the end of the file",
            ));
        }
        self.buffered_write(offset, data)?;
        self.have.insert(offset..end);
        self.catch_up(HASH_CATCH_UP_PER_WRITE)?;
        self.since_checkpoint += data.len() as u64;
        if self.since_checkpoint >= CHECKPOINT_BYTES
            || self.last_checkpoint.elapsed() >= CHECKPOINT_INTERVAL
        {
            self.maybe_checkpoint()?;
        }
        Ok(())
    }

    fn buffered_write(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        let contiguous = self.wbuf_at + self.wbuf.len() as u64 == offset;
        if !self.wbuf.is_empty() && (!contiguous || self.wbuf.len() + data.len() > WRITE_BUFFER) {
            self.flush()?;
        }
        if data.len() >= WRITE_BUFFER {
            self.file.write_all_at(data, offset)?;
            if offset == self.hashed {
                self.hasher.update(data);
                self.hashed += data.len() as u64;
            }
            return Ok(());
        }
        if self.wbuf.is_empty() {
            self.wbuf_at = offset;
        }
        self.wbuf.extend_from_slice(data);
        Ok(())
    }

    /// Writes the gathered bytes to the file, and hashes them if they continue the hashed
    /// prefix: in-order data is hashed here, 256 KiB at a time, where BLAKE3's SIMD
    /// many-chunk path runs (hashing each 1.4 KB datagram alone is several times slower).
    /// On failure the bytes are forgotten (no longer held).
    fn flush(&mut self) -> io::Result<()> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let result = self.file.write_all_at(&self.wbuf, self.wbuf_at);
        if result.is_err() {
            let end = self.wbuf_at + self.wbuf.len() as u64;
            self.have.remove(self.wbuf_at..end);
        } else if self.wbuf_at == self.hashed {
            self.hasher.update(&self.wbuf);
            self.hashed += self.wbuf.len() as u64;
        }
        self.wbuf.clear();
        result
    }

    /// Hashes up to `budget` bytes of the held prefix that is not hashed yet, reading them
    /// back from the file.
    fn catch_up(&mut self, budget: u64) -> io::Result<()> {
        let (contiguous, _) = self.have.gap_at_or_after(0);
        if self.hashed >= contiguous || (!self.wbuf.is_empty() && self.wbuf_at == self.hashed) {
            // Nothing to do, or the gathered bytes continue the hashed prefix: they are
            // hashed from memory when flushed.
            return Ok(());
        }
        self.flush()?;
        let target = contiguous.min(self.hashed.saturating_add(budget));
        if self.scratch.is_empty() {
            self.scratch = vec![0; 256 << 10];
        }
        while self.hashed < target {
            let n = (target - self.hashed).min(self.scratch.len() as u64) as usize;
            self.file
                .read_exact_at(&mut self.scratch[..n], self.hashed)?;
            self.hasher.update(&self.scratch[..n]);
            self.hashed += n as u64;
        }
        Ok(())
    }

    /// Records what is written and what the helper made durable (a small file write, no
    /// `fsync`) and, when the helper is free, hands it a snapshot to make durable.
    fn maybe_checkpoint(&mut self) -> io::Result<()> {
        // Every recorded range must be in the file, not in the write buffer.
        self.flush()?;
        let durable = self
            .durable
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Err(e) = self.state_file.record(&self.have, &durable, false) {
            tracing::warn!(error = %e, "recording resume state failed");
        }
        if self.checkpointer.is_idle() {
            self.checkpointer.submit(self.have.clone());
        }
        self.since_checkpoint = 0;
        self.last_checkpoint = Instant::now();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, RngCore, SeedableRng, seq::SliceRandom};

    /// Writes `data` in chunks, in an order that is mostly sequential with some chunks held
    /// back (like retransmissions), optionally resuming half-way; the hash must come out right.
    #[test]
    fn any_write_order_hashes_correctly() {
        for seed in 0..6u64 {
            let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
            let size = rng.random_range(0..3_000_000u64);
            let mut data = vec![0u8; size as usize];
            rng.fill_bytes(&mut data);
            let hash = *blake3::hash(&data).as_bytes();
            let dir = tempfile::tempdir().unwrap();
            let dest = dir.path().join("f");
            let mut chunks: Vec<(u64, u64)> = Vec::new();
            let mut at = 0;
            while at < size {
                let len = rng.random_range(1..=1452u64).min(size - at);
                chunks.push((at, at + len));
                at += len;
            }
            // Hold back every chunk with probability 1/8 and send them at the end, shuffled.
            let (mut late, early): (Vec<_>, Vec<_>) =
                chunks.into_iter().partition(|_| rng.random_ratio(1, 8));
            late.shuffle(&mut rng);
            let order: Vec<_> = early.into_iter().chain(late).collect();
            let resume_at = if seed % 2 == 0 {
                order.len() / 2
            } else {
                usize::MAX
            };
            let mut sink = FileSink::create(&dest, size, hash).unwrap();
            for (i, &(s, e)) in order.iter().enumerate() {
                if i == resume_at {
                    sink.checkpoint().unwrap();
                    drop(sink);
                    let (again, have) = FileSink::resume(&dest, size, hash).unwrap();
                    let held: u64 = order[..i].iter().map(|(s, e)| e - s).sum();
                    assert_eq!(have.total_len(), held);
                    sink = again;
                }
                sink.write_at(s, &data[s as usize..e as usize]).unwrap();
            }
            assert_eq!(sink.finish().unwrap(), dest, "seed {seed}");
            assert_eq!(std::fs::read(&dest).unwrap(), data);
        }
    }
}
