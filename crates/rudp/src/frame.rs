//! Frames: the typed records inside a packet's encrypted payload, and QUIC variable-length
//! integers (RFC 9000 §16) to encode them.
//!
//! | type | frame | fields (all varints unless noted) | ack-eliciting |
//! |---|---|---|---|
//! | 0x00 | PADDING | — (one byte each) | no |
//! | 0x01 | PING | — | yes |
//! | 0x02 | ACK | largest, ack delay (µs), range count, first range, (gap, length)* | no |
//! | 0x03 | HELLO | size, max data, range count, (gap, length)* | yes |
//! | 0x04 | MAX_DATA | maximum offset | no |
//! | 0x05 | ACK_FREQUENCY | sequence, threshold (packets), max ack delay (µs) | yes |
//! | 0x06 | DATA | offset, length, bytes | yes |
//! | 0x07 | CLOSE | error code, reason length, reason bytes | no |
//! | 0x08 | DATA_TO_END | offset, bytes up to the end of the payload | yes |
//!
//! ACK ranges use RFC 9000 §19.3.1's encoding: the first range counts down from the largest
//! acknowledged packet; each following `gap` skips `gap + 1` unacknowledged packet numbers and
//! `length` covers `length + 1` acknowledged ones. HELLO's ranges are byte ranges a resuming
//! receiver already holds, ascending: `gap` is the distance from the previous range's end.

use crate::ranges::RangeSet;
use std::ops::Range;

/// Largest value a varint can carry.
pub(crate) const VARINT_MAX: u64 = (1 << 62) - 1;

pub(crate) mod ty {
    pub(crate) const PADDING: u8 = 0x00;
    pub(crate) const PING: u8 = 0x01;
    pub(crate) const ACK: u8 = 0x02;
    pub(crate) const HELLO: u8 = 0x03;
    pub(crate) const MAX_DATA: u8 = 0x04;
    pub(crate) const ACK_FREQUENCY: u8 = 0x05;
    pub(crate) const DATA: u8 = 0x06;
    pub(crate) const CLOSE: u8 = 0x07;
    pub(crate) const DATA_TO_END: u8 = 0x08;
}

/// Encoded size of a varint, bytes.
pub(crate) fn varint_len(v: u64) -> usize {
    match v {
        0..=63 => 1,
        64..=16383 => 2,
        16384..=1_073_741_823 => 4,
        _ => 8,
    }
}

/// A bounds-checked cursor writing into a caller's buffer.
pub(crate) struct Writer<'a> {
    pub(crate) buf: &'a mut [u8],
    pub(crate) pos: usize,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, pos: 0 }
    }
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    pub(crate) fn u8(&mut self, v: u8) {
        self.buf[self.pos] = v;
        self.pos += 1;
    }
    pub(crate) fn varint(&mut self, v: u64) {
        debug_assert!(v <= VARINT_MAX);
        let len = varint_len(v);
        let bytes = v.to_be_bytes();
        self.buf[self.pos..self.pos + len].copy_from_slice(&bytes[8 - len..]);
        self.buf[self.pos] |= match len {
            1 => 0x00,
            2 => 0x40,
            4 => 0x80,
            _ => 0xc0,
        };
        self.pos += len;
    }
    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.buf[self.pos..self.pos + b.len()].copy_from_slice(b);
        self.pos += b.len();
    }
}

/// A bounds-checked cursor reading a received payload; every read fails softly.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }
    fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }
    fn u8(&mut self) -> Option<u8> {
        let v = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(v)
    }
    pub(crate) fn varint(&mut self) -> Option<u64> {
        let first = *self.buf.get(self.pos)?;
        let len = 1usize << (first >> 6);
        let bytes = self.buf.get(self.pos..self.pos + len)?;
        let mut v = u64::from(first & 0x3f);
        for &b in &bytes[1..] {
            v = (v << 8) | u64::from(b);
        }
        self.pos += len;
        Some(v)
    }
    fn bytes(&mut self, len: u64) -> Option<&'a [u8]> {
        let len = usize::try_from(len).ok()?;
        let end = self.pos.checked_add(len)?;
        let b = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(b)
    }
}

/// A decoded ACK frame. Its ranges were validated when parsed; [`AckFrame::ranges`] walks them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AckFrame<'a> {
    pub(crate) largest: u64,
    pub(crate) delay_us: u64,
    first_range: u64,
    count: u64,
    rest: &'a [u8],
}

impl AckFrame<'_> {
    /// Acknowledged packet numbers as half-open ranges, highest first.
    pub(crate) fn ranges(&self) -> impl Iterator<Item = Range<u64>> + '_ {
        let mut r = Reader::new(self.rest);
        let mut smallest = self.largest - self.first_range;
        let mut first = Some(smallest..self.largest + 1);
        let mut left = self.count;
        std::iter::from_fn(move || {
            if let Some(f) = first.take() {
                return Some(f);
            }
            if left == 0 {
                return None;
            }
            left -= 1;
            let gap = r.varint()?;
            let len = r.varint()?;
            let largest = smallest - gap - 2;
            smallest = largest - len;
            Some(smallest..largest + 1)
        })
    }
}

/// A decoded HELLO frame.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HelloFrame<'a> {
    pub(crate) size: u64,
    pub(crate) max_data: u64,
    count: u64,
    rest: &'a [u8],
}

impl HelloFrame<'_> {
    /// The byte ranges the receiver already holds, ascending.
    pub(crate) fn have(&self) -> impl Iterator<Item = Range<u64>> + '_ {
        let mut r = Reader::new(self.rest);
        let mut end = 0u64;
        (0..self.count).map_while(move |_| {
            let start = end + r.varint()?;
            end = start + r.varint()?;
            Some(start..end)
        })
    }
}

/// One frame of a received payload, borrowing its bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Frame<'a> {
    Padding,
    Ping,
    Ack(AckFrame<'a>),
    Hello(HelloFrame<'a>),
    MaxData(u64),
    AckFrequency {
        seq: u64,
        threshold: u64,
        max_ack_delay_us: u64,
    },
    Data {
        offset: u64,
        data: &'a [u8],
    },
    Close {
        code: u64,
        reason: &'a [u8],
    },
}

impl Frame<'_> {
    pub(crate) fn is_ack_eliciting(&self) -> bool {
        !matches!(
            self,
            Frame::Padding | Frame::Ack(_) | Frame::MaxData(_) | Frame::Close { .. }
        )
    }
}

/// Iterates the frames of a decrypted payload; yields `Err(())` once on malformed input and
/// then stops.
pub(crate) struct Frames<'a> {
    r: Reader<'a>,
    failed: bool,
}

impl<'a> Frames<'a> {
    pub(crate) fn new(payload: &'a [u8]) -> Self {
        Self {
            r: Reader::new(payload),
            failed: false,
        }
    }

    fn next_frame(&mut self) -> Option<Frame<'a>> {
        let r = &mut self.r;
        Some(match r.u8()? {
            ty::PADDING => Frame::Padding,
            ty::PING => Frame::Ping,
            ty::ACK => {
                let largest = r.varint()?;
                let delay_us = r.varint()?;
                let count = r.varint()?;
                let first_range = r.varint()?;
                let mut smallest = largest.checked_sub(first_range)?;
                let start = r.pos;
                for _ in 0..count {
                    let gap = r.varint()?;
                    let len = r.varint()?;
                    let largest = smallest.checked_sub(gap)?.checked_sub(2)?;
                    smallest = largest.checked_sub(len)?;
                }
                Frame::Ack(AckFrame {
                    largest,
                    delay_us,
                    first_range,
                    count,
                    rest: &r.buf[start..r.pos],
                })
            }
            ty::HELLO => {
                let size = r.varint()?;
                let max_data = r.varint()?;
                let count = r.varint()?;
                let start = r.pos;
                let mut end = 0u64;
                for _ in 0..count {
                    let s = end.checked_add(r.varint()?)?;
                    end = s.checked_add(r.varint()?)?;
                }
                Frame::Hello(HelloFrame {
                    size,
                    max_data,
                    count,
                    rest: &r.buf[start..r.pos],
                })
            }
            ty::MAX_DATA => Frame::MaxData(r.varint()?),
            ty::ACK_FREQUENCY => Frame::AckFrequency {
                seq: r.varint()?,
                threshold: r.varint()?,
                max_ack_delay_us: r.varint()?,
            },
            ty::DATA => {
                let offset = r.varint()?;
                let len = r.varint()?;
                offset.checked_add(len)?;
                Frame::Data {
                    offset,
                    data: r.bytes(len)?,
                }
            }
            ty::DATA_TO_END => {
                let offset = r.varint()?;
                let data = &r.buf[r.pos..];
                r.pos = r.buf.len();
                offset.checked_add(data.len() as u64)?;
                Frame::Data { offset, data }
            }
            ty::CLOSE => {
                let code = r.varint()?;
                let len = r.varint()?;
                Frame::Close {
                    code,
                    reason: r.bytes(len)?,
                }
            }
            _ => return None,
        })
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<Frame<'a>, ()>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.r.is_empty() {
            return None;
        }
        match self.next_frame() {
            Some(f) => Some(Ok(f)),
            None => {
                self.failed = true;
                Some(Err(()))
            }
        }
    }
}

/// Writes an ACK frame for the highest `max_ranges` ranges of `received` (packet numbers),
/// fitting what `w` has room for. Returns `false` (writing nothing) if not even one range fits.
pub(crate) fn write_ack(
    w: &mut Writer<'_>,
    received: &RangeSet,
    delay_us: u64,
    max_ranges: usize,
) -> bool {
    let mut iter = received.iter().rev();
    let Some(first) = iter.next() else {
        return false;
    };
    let largest = first.end - 1;
    let first_range = largest - first.start;
    // Count how many further ranges fit in the space left.
    let fixed = 1 + varint_len(largest) + varint_len(delay_us) + varint_len(first_range) + 1;
    if fixed > w.remaining() {
        return false;
    }
    let mut budget = w.remaining() - fixed;
    let mut count = 0usize;
    let mut smallest = first.start;
    for r in received
        .iter()
        .rev()
        .skip(1)
        .take(max_ranges.saturating_sub(1))
    {
        let gap = smallest - r.end - 1;
        let len = r.end - 1 - r.start;
        let need = varint_len(gap) + varint_len(len);
        if need > budget {
            break;
        }
        budget -= need;
        count += 1;
        smallest = r.start;
    }
    w.u8(ty::ACK);
    w.varint(largest);
    w.varint(delay_us);
    w.varint(count as u64);
    w.varint(first_range);
    let mut smallest = first.start;
    for r in iter.take(count) {
        w.varint(smallest - r.end - 1);
        w.varint(r.end - 1 - r.start);
        smallest = r.start;
    }
    true
}

/// Writes a HELLO frame with as many of `have`'s ranges as fit (largest ranges first when not
/// all fit: omitted ranges are merely sent again).
pub(crate) fn write_hello(w: &mut Writer<'_>, size: u64, max_data: u64, have: &RangeSet) {
    let fixed = 1 + varint_len(size) + varint_len(max_data) + 4;
    let budget = w.remaining().saturating_sub(fixed);
    // Worst case 16 bytes per range; keep it simple and bounded.
    let fit = budget / 16;
    w.u8(ty::HELLO);
    w.varint(size);
    w.varint(max_data);
    if have.range_count() <= fit {
        write_byte_ranges(w, have.iter());
    } else {
        let mut chosen: Vec<Range<u64>> = have.iter().collect();
        chosen.sort_by_key(|r| std::cmp::Reverse(r.end - r.start));
        chosen.truncate(fit);
        chosen.sort_by_key(|r| r.start);
        write_byte_ranges(w, chosen.into_iter());
    }
}

fn write_byte_ranges(w: &mut Writer<'_>, ranges: impl Iterator<Item = Range<u64>>) {
    let count_pos = w.pos;
    w.bytes(&[0x80, 0, 0, 0]); // 4-byte varint placeholder for the count
    let mut count = 0u32;
    let mut end = 0;
    for r in ranges {
        w.varint(r.start - end);
        w.varint(r.end - r.start);
        end = r.end;
        count += 1;
    }
    w.buf[count_pos..count_pos + 4].copy_from_slice(&(count | 0x8000_0000).to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trip() {
        for v in [
            0,
            1,
            63,
            64,
            16383,
            16384,
            1 << 30,
            (1 << 30) - 1,
            VARINT_MAX,
        ] {
            let mut buf = [0u8; 8];
            let mut w = Writer::new(&mut buf);
            w.varint(v);
            assert_eq!(w.pos, varint_len(v));
            assert_eq!(Reader::new(&buf).varint(), Some(v));
        }
    }

    #[test]
    fn ack_round_trip_and_truncation() {
        let set = RangeSet::from_ranges([0..5, 7..8, 10..20, 100..101]);
        let mut buf = [0u8; 200];
        let mut w = Writer::new(&mut buf);
        assert!(write_ack(&mut w, &set, 77, 64));
        let n = w.pos;
        let Some(Ok(Frame::Ack(a))) = Frames::new(&buf[..n]).next() else {
            panic!()
        };
        assert_eq!((a.largest, a.delay_us), (100, 77));
        let got: Vec<_> = a.ranges().collect();
        assert_eq!(got, vec![100..101, 10..20, 7..8, 0..5]);
        let mut w = Writer::new(&mut buf);
        assert!(write_ack(&mut w, &set, 0, 2));
        let n = w.pos;
        let Some(Ok(Frame::Ack(a))) = Frames::new(&buf[..n]).next() else {
            panic!()
        };
        assert_eq!(a.ranges().collect::<Vec<_>>(), vec![100..101, 10..20]);
    }

    #[test]
    fn hello_round_trip() {
        let set = RangeSet::from_ranges([0..5, 7..8, 1 << 33..(1 << 33) + 9]);
        let mut buf = [0u8; 200];
        let mut w = Writer::new(&mut buf);
        write_hello(&mut w, 1 << 34, 1000, &set);
        let n = w.pos;
        let Some(Ok(Frame::Hello(h))) = Frames::new(&buf[..n]).next() else {
            panic!()
        };
        assert_eq!((h.size, h.max_data), (1 << 34, 1000));
        assert_eq!(RangeSet::from_ranges(h.have()), set);
    }
}
