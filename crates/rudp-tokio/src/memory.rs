//! Sources and sinks without a disk, for tests and benchmarks: bytes in memory, or a
//! deterministic pattern computed from the offset (any size, no memory, checkable anywhere).

use rudp::{Sink, Source};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A [`Source`] over bytes in memory, shared without copying (clone it for several transfers).
#[derive(Clone, Debug)]
pub struct MemorySource {
    data: Arc<[u8]>,
}

impl MemorySource {
    /// Serves `data`.
    pub fn new(data: impl Into<Arc<[u8]>>) -> Self {
        Self { data: data.into() }
    }

    /// The transfer size, bytes.
    pub fn len(&self) -> u64 {
        self.data.len() as u64
    }

    /// `true` when there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

impl Source for MemorySource {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::InvalidInput)?;
        let src = self
            .data
            .get(start..start + buf.len())
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

/// A [`Sink`] collecting bytes in memory; clones share the buffer, so keep one to read the
/// result with [`contents`](Self::contents).
#[derive(Clone, Debug, Default)]
pub struct MemorySink {
    data: Arc<Mutex<Vec<u8>>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of what was written so far (gaps read as zeros).
    pub fn contents(&self) -> Vec<u8> {
        self.data.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Sink for MemorySink {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut v = self.data.lock().unwrap_or_else(|e| e.into_inner());
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::InvalidInput)?;
        let end = start + data.len();
        if v.len() < end {
            v.resize(end, 0);
        }
        v[start..end].copy_from_slice(data);
        Ok(())
    }
}

/// Step between consecutive pattern words: odd, so distinct words never repeat within 2^64
/// words, and a byte misplaced by any offset does not match.
const STEP: u64 = 0x9E37_79B9_7F4A_7C15;

/// The pattern word with index `index` (covering bytes `8 * index .. 8 * index + 8`).
#[inline]
fn word(seed: u64, index: u64) -> u64 {
    seed.wrapping_mul(0xD6E8_FEB8_6659_FD93)
        .wrapping_add(index.wrapping_mul(STEP))
}

/// Fills `buf` with the pattern bytes at `offset..offset + buf.len()` for `seed`: word `i`
/// (bytes `8i..8i+8`, little endian) is `seed' + i × STEP`, an arithmetic sequence the
/// compiler vectorizes, so the pattern costs far less than the transport it feeds.
pub fn fill_pattern(seed: u64, offset: u64, buf: &mut [u8]) {
    let mut at = offset;
    let mut rest = buf;
    // Unaligned head.
    while !at.is_multiple_of(8) && !rest.is_empty() {
        rest[0] = word(seed, at / 8).to_le_bytes()[(at % 8) as usize];
        rest = &mut rest[1..];
        at += 1;
    }
    let mut w = word(seed, at / 8);
    let mut chunks = rest.chunks_exact_mut(8);
    for c in &mut chunks {
        c.copy_from_slice(&w.to_le_bytes());
        w = w.wrapping_add(STEP);
    }
    let tail = chunks.into_remainder();
    if !tail.is_empty() {
        tail.copy_from_slice(&w.to_le_bytes()[..tail.len()]);
    }
}

/// BLAKE3 of the first `size` pattern bytes for `seed` (what a [`PatternSource`] would
/// announce).
pub fn pattern_hash(seed: u64, size: u64) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0;
    while at < size {
        let n = (size - at).min(buf.len() as u64) as usize;
        fill_pattern(seed, at, &mut buf[..n]);
        hasher.update(&buf[..n]);
        at += n as u64;
    }
    *hasher.finalize().as_bytes()
}

/// A [`Source`] of any size whose bytes are computed from their offset ([`fill_pattern`]).
#[derive(Clone, Copy, Debug)]
pub struct PatternSource {
    /// Selects the pattern.
    pub seed: u64,
}

impl Source for PatternSource {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        fill_pattern(self.seed, offset, buf);
        Ok(())
    }
}

/// A [`Sink`] that checks every byte against the pattern of a [`PatternSource`] with the same
/// seed and counts them, storing nothing. A wrong byte fails the write (and the transfer).
/// Clones share the counters.
#[derive(Clone, Debug)]
pub struct PatternSink {
    seed: u64,
    bytes: Arc<AtomicU64>,
    scratch: Vec<u8>,
}

impl PatternSink {
    /// A sink expecting the pattern of `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            bytes: Arc::new(AtomicU64::new(0)),
            scratch: Vec::new(),
        }
    }

    /// Bytes written and verified so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

impl Sink for PatternSink {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.scratch.resize(data.len(), 0);
        fill_pattern(self.seed, offset, &mut self.scratch);
        if self.scratch != data {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "pattern mismatch in {} bytes at offset {offset}",
                    data.len()
                ),
            ));
        }
        self.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_is_offset_consistent() {
        let mut whole = vec![0u8; 100];
        fill_pattern(7, 3, &mut whole);
        for start in 0..100 {
            for len in [0, 1, 5, 8, 13] {
                let len = len.min(100 - start);
                let mut part = vec![0u8; len];
                fill_pattern(7, 3 + start as u64, &mut part);
                assert_eq!(part, whole[start..start + len]);
            }
        }
        let mut other = vec![0u8; 100];
        fill_pattern(8, 3, &mut other);
        assert_ne!(other, whole);
        let mut sink = PatternSink::new(7);
        assert!(sink.write_at(3, &whole).is_ok());
        assert!(sink.write_at(4, &whole).is_err());
        assert_eq!(sink.bytes(), 100);
    }
}
