//! The two data roles: the sender pulls bytes from a [`Source`], the receiver pushes fresh
//! bytes into a [`Sink`].
//!
//! Both are positional, so a file-backed driver implements them with `pread`/`pwrite`
//! (`std::os::unix::fs::FileExt`) and can run the state machine on a blocking thread; tests
//! plug in synthetic sources that compute bytes from the offset and sinks that check them
//! without storing anything.

use crate::ranges::RangeSet;
use std::io;
use std::time::Duration;

/// Where a sender gets the bytes of the transfer.
pub trait Source: Send {
    /// Fills `buf` with the bytes at `offset..offset + buf.len()`. The connection only asks
    /// for bytes inside the transfer's size, possibly more than once (retransmissions).
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
}

/// Where a receiver puts the bytes it receives.
pub trait Sink: Send {
    /// Stores `data` at `offset`. Called once per fresh byte: duplicates, corrupted and
    /// unauthenticated data never get here.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()>;
}

impl Source for Vec<u8> {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::InvalidInput)?;
        let src = self
            .get(start..start + buf.len())
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

impl Sink for Vec<u8> {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::InvalidInput)?;
        let end = start + data.len();
        if self.len() < end {
            self.resize(end, 0);
        }
        self[start..end].copy_from_slice(data);
        Ok(())
    }
}

/// Sender-side transfer state.
pub(super) struct Sending {
    pub(super) source: Box<dyn Source>,
    /// Bytes the receiver acknowledged (or already held, from its HELLO).
    pub(super) acked: RangeSet,
    /// Bytes declared lost and not acknowledged since: retransmitted first.
    pub(super) lost: RangeSet,
    /// Every byte below this was sent at least once (or was held by the receiver).
    pub(super) next_offset: u64,
    /// The receiver's flow-control limit: bytes at or past it are not sent.
    pub(super) max_data: u64,
    /// ACK_FREQUENCY sequence number and values last sent.
    pub(super) ack_freq_seq: u64,
    pub(super) ack_freq_sent: Option<(u64, Duration)>,
    pub(super) ack_freq_pending: bool,
    /// The max ack delay we asked the receiver for.
    pub(super) requested_ack_delay: Option<Duration>,
}

impl Sending {
    pub(super) fn new(source: Box<dyn Source>) -> Self {
        Self {
            source,
            acked: RangeSet::new(),
            lost: RangeSet::new(),
            next_offset: 0,
            max_data: 0,
            ack_freq_seq: 0,
            ack_freq_sent: None,
            ack_freq_pending: false,
            requested_ack_delay: None,
        }
    }

    /// Picks the next bytes to send, at most `max_len`: lost bytes first (RFC 9002 puts
    /// retransmitted data in new packets), then new bytes below the flow-control limit,
    /// skipping what the receiver already holds. Returns `(offset, len, is_retransmission)`.
    pub(super) fn next_chunk(&mut self, size: u64, max_len: usize) -> Option<(u64, usize, bool)> {
        if let Some(r) = self.lost.first() {
            let len = (r.end - r.start).min(max_len as u64);
            self.lost.remove(r.start..r.start + len);
            return Some((r.start, len as usize, true));
        }
        let (start, gap_end) = self.acked.gap_at_or_after(self.next_offset);
        let end = gap_end
            .min(size)
            .min(self.max_data)
            .min(start + max_len as u64);
        if start >= end {
            return None;
        }
        self.next_offset = end;
        Some((start, (end - start) as usize, false))
    }

    /// Whether `next_chunk` would return something (without taking it).
    pub(super) fn has_data(&self, size: u64) -> bool {
        if !self.lost.is_empty() {
            return true;
        }
        let (start, gap_end) = self.acked.gap_at_or_after(self.next_offset);
        start < gap_end.min(size).min(self.max_data)
    }

    /// Re-queues bytes of a lost packet that have not been acknowledged since.
    pub(super) fn on_lost(&mut self, offset: u64, len: u64) {
        let end = offset + len;
        let mut at = offset;
        while at < end {
            let (gap, gap_end) = self.acked.gap_at_or_after(at);
            if gap >= end {
                break;
            }
            let e = gap_end.min(end);
            self.lost.insert(gap..e);
            at = e;
        }
    }

    /// Records acknowledged bytes; returns how many were new.
    pub(super) fn on_acked(&mut self, offset: u64, len: u64) -> u64 {
        let mut fresh = 0;
        let lost = &mut self.lost;
        self.acked.insert_with(offset..offset + len, |n| {
            fresh += n.end - n.start;
            lost.remove(n);
        });
        fresh
    }
}

/// Receiver-side transfer state.
pub(super) struct Receiving {
    sink: Box<dyn Sink>,
    /// Bytes held (written to the sink, or already there when resuming).
    pub(super) have: RangeSet,
    /// Flow-control window beyond the lowest missing byte, bytes.
    pub(super) window: u64,
    /// Highest flow-control limit advertised, bytes: DATA past it is a protocol violation.
    pub(super) advertised: u64,
}

impl Receiving {
    pub(super) fn new(sink: Box<dyn Sink>, have: RangeSet, window: u64) -> Self {
        Self {
            sink,
            have,
            window,
            advertised: 0,
        }
    }

    /// Writes the fresh parts of `data` to the sink; returns how many bytes were fresh.
    pub(super) fn write(&mut self, offset: u64, data: &[u8]) -> io::Result<u64> {
        let mut fresh = 0;
        let mut result = Ok(());
        let sink = &mut self.sink;
        self.have
            .insert_with(offset..offset + data.len() as u64, |n| {
                if result.is_ok() {
                    let a = (n.start - offset) as usize;
                    let b = (n.end - offset) as usize;
                    result = sink.write_at(n.start, &data[a..b]);
                    fresh += n.end - n.start;
                }
            });
        if let Err(e) = result {
            // Forget bytes the sink did not take.
            self.have.remove(offset..offset + data.len() as u64);
            return Err(e);
        }
        Ok(fresh)
    }

    pub(super) fn is_complete(&self, size: u64) -> bool {
        self.have.covers(0..size)
    }

    /// The flow-control limit to advertise now: lowest missing byte + window, capped at
    /// `size`, and never below what was advertised before (a limit only grows).
    pub(super) fn advertise(&mut self, size: u64) -> u64 {
        let (lowest_missing, _) = self.have.gap_at_or_after(0);
        let limit = lowest_missing.saturating_add(self.window).min(size);
        self.advertised = self.advertised.max(limit);
        self.advertised
    }
}
