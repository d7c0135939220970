//! The synthetic file every peer moves: pseudo-random bytes computed from their offset
//! ([`rudp_tokio::memory::fill_pattern`]), so a sender needs no file and a receiver checks
//! every byte against the same formula without storing anything.
//!
//! Streams (TCP, QUIC) are checked in order with [`StreamChecker`]; confab's engine hands its
//! sink byte ranges in any order, checked by [`CheckingSink`]. Both count verified bytes in a
//! shared [`Verified`] counter that the side harness reads when a run is cut short by time.

use rudp_tokio::memory::fill_pattern;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Selects the pattern; the same for every peer, so they all move the same bytes.
pub(crate) const SEED: u64 = 0xC0F_FAB;

/// Fills `buf` with the content at `offset..offset + buf.len()`.
pub(crate) fn fill(offset: u64, buf: &mut [u8]) {
    fill_pattern(SEED, offset, buf);
}

/// Bytes received and found correct so far; clones share the count.
#[derive(Clone, Debug, Default)]
pub(crate) struct Verified(Arc<AtomicU64>);

impl Verified {
    /// Bytes verified so far.
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
}

/// Checks bytes that arrive at `offset`: a mismatch is an error naming where.
fn check_at(scratch: &mut Vec<u8>, offset: u64, data: &[u8]) -> io::Result<()> {
    scratch.resize(data.len(), 0);
    fill(offset, scratch);
    if scratch.as_slice() != data {
        let at = scratch
            .iter()
            .zip(data)
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("received a wrong byte at offset {}", offset + at as u64),
        ));
    }
    Ok(())
}

/// Verifies an in-order byte stream of `size` bytes.
#[derive(Debug)]
pub(crate) struct StreamChecker {
    size: u64,
    offset: u64,
    scratch: Vec<u8>,
    verified: Verified,
}

impl StreamChecker {
    /// A checker expecting `size` bytes, counting into `verified`.
    pub(crate) fn new(size: u64, verified: Verified) -> Self {
        Self {
            size,
            offset: 0,
            scratch: Vec::new(),
            verified,
        }
    }

    /// Checks the next bytes of the stream.
    pub(crate) fn check(&mut self, data: &[u8]) -> io::Result<()> {
        if self.offset + data.len() as u64 > self.size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("received more than the {} bytes announced", self.size),
            ));
        }
        check_at(&mut self.scratch, self.offset, data)?;
        self.offset += data.len() as u64;
        self.verified.add(data.len() as u64);
        Ok(())
    }

    /// Whether every byte has arrived.
    pub(crate) fn is_complete(&self) -> bool {
        self.offset == self.size
    }

    /// Bytes checked so far.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }
}

/// A [`rudp::Source`] of the content.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ContentSource;

impl rudp::Source for ContentSource {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        fill(offset, buf);
        Ok(())
    }
}

/// A [`rudp::Sink`] that checks every byte range it is given (the engine writes each fresh
/// byte exactly once, so the count reaching the size means every byte was checked).
#[derive(Debug)]
pub(crate) struct CheckingSink {
    scratch: Vec<u8>,
    verified: Verified,
}

impl CheckingSink {
    /// A sink counting into `verified`.
    pub(crate) fn new(verified: Verified) -> Self {
        Self {
            scratch: Vec::new(),
            verified,
        }
    }
}

impl rudp::Sink for CheckingSink {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        check_at(&mut self.scratch, offset, data)?;
        self.verified.add(data.len() as u64);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rudp::Sink;

    #[test]
    fn stream_checker_accepts_the_content_in_any_chunking() {
        let mut all = vec![0u8; 10_000];
        fill(0, &mut all);
        let verified = Verified::default();
        let mut checker = StreamChecker::new(10_000, verified.clone());
        for chunk in all.chunks(777) {
            checker.check(chunk).unwrap();
        }
        assert!(checker.is_complete());
        assert_eq!(verified.get(), 10_000);
        assert!(checker.check(&[0]).is_err(), "more than announced");
    }

    #[test]
    fn a_wrong_byte_is_found() {
        let mut all = vec![0u8; 4096];
        fill(0, &mut all);
        all[1234] ^= 1;
        let mut checker = StreamChecker::new(4096, Verified::default());
        let err = checker.check(&all).unwrap_err();
        assert!(err.to_string().contains("offset 1234"), "{err}");
        let mut sink = CheckingSink::new(Verified::default());
        assert!(sink.write_at(1000, &all[1000..2000]).is_err());
        assert!(sink.write_at(0, &all[..1000]).is_ok());
    }
}
