//! Files as transfer endpoints: [`FileSource`] reads by position, [`FileSink`] writes by
//! position into `NAME.part`, hashes while data flows, resumes, and renames once verified.
//!
//! Both run inside connection calls on the endpoint's I/O thread, so they use plain
//! positional `pread`/`pwrite` (`std::os::unix::fs::FileExt`), with a small read-ahead or
//! write-gathering buffer so a 1.4 KB datagram does not cost a syscall.
//!
//! ```text
//! dest             the verified file, after FileSink::finish (atomic rename)
//! dest.part        the data as it arrives, written in place
//! dest.part.state  resume state: size, expected BLAKE3, ranges durably held (JSON)
//! ```

mod sink;
mod state;

pub use sink::FileSink;

use rudp::Source;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// What went wrong completing a download.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Some bytes never arrived.
    #[error(
        "{part}: only {held} of {size} bytes arrived; run the transfer again to fetch the rest (it resumes)"
    )]
    Incomplete {
        /// The partial file.
        part: PathBuf,
        /// Bytes held, bytes.
        held: u64,
        /// Size of the complete file, bytes.
        size: u64,
    },
    /// The complete file does not have the announced BLAKE3.
    #[error(
        "{part}: the received file does not match its announced BLAKE3 (expected {expected}, got {actual}); the partial file was kept for inspection and the next attempt starts over"
    )]
    HashMismatch {
        /// The partial file, left in place.
        part: PathBuf,
        /// The announced hash, hex.
        expected: String,
        /// The hash of what arrived, hex.
        actual: String,
    },
    /// A disk operation failed.
    #[error("{path}: {source}; check the disk (space, permissions) and retry")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// `finish` was called twice.
    #[error("this download was already finished")]
    Finished,
}

/// `dest` + `.part`: where a download is written until it is verified.
pub fn part_path(dest: &Path) -> PathBuf {
    let mut s = dest.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}

/// `dest` + `.part.state`: the resume state of a download.
pub fn state_path(dest: &Path) -> PathBuf {
    let mut s = dest.as_os_str().to_owned();
    s.push(".part.state");
    PathBuf::from(s)
}

pub(crate) fn hex(hash: &[u8; 32]) -> String {
    blake3::Hash::from_bytes(*hash).to_hex().to_string()
}

/// Size and BLAKE3 of a file, read once (what a sender announces on the control channel).
/// Blocks on the disk.
pub fn hash_file(path: impl AsRef<Path>) -> io::Result<(u64, [u8; 32])> {
    let mut file = File::open(path)?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, *hasher.finalize().as_bytes()))
}

/// Read-ahead window of [`FileSource`], bytes.
const READ_AHEAD: usize = 256 << 10;

/// A [`Source`] reading a file by position. First transmissions are sequential, so reads go
/// through a 256 KiB read-ahead window (one `pread` per ~180 datagrams); retransmissions
/// behind it read directly.
#[derive(Debug)]
pub struct FileSource {
    file: File,
    len: u64,
    buf: Vec<u8>,
    /// File offset of `buf[0]`.
    buf_at: u64,
}

impl FileSource {
    /// Opens `path` for sending. Its length is the transfer size ([`len`](Self::len)).
    pub fn open(path: impl AsRef<Path>) -> io::Result<Self> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Ok(Self {
            file,
            len,
            buf: Vec::new(),
            buf_at: 0,
        })
    }

    /// Length of the file when it was opened, bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// `true` for an empty file.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Source for FileSource {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let end = offset + buf.len() as u64;
        if end > self.len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file shrank while it was being sent",
            ));
        }
        let in_window = |at: u64, len: usize| offset >= at && end <= at + len as u64;
        if !in_window(self.buf_at, self.buf.len()) {
            // Behind the window: a retransmission; keep the window for the sequential reads.
            if buf.len() >= READ_AHEAD || offset < self.buf_at {
                return self.file.read_exact_at(buf, offset);
            }
            let n = (self.len - offset).min(READ_AHEAD as u64) as usize;
            self.buf.resize(n, 0);
            if let Err(e) = self.file.read_exact_at(&mut self.buf, offset) {
                self.buf.clear();
                return Err(e);
            }
            self.buf_at = offset;
        }
        let start = (offset - self.buf_at) as usize;
        buf.copy_from_slice(&self.buf[start..start + buf.len()]);
        Ok(())
    }
}
