//! Building outgoing packets: what goes into the next datagram, under the congestion window,
//! flow control and the pacer.

use super::recovery::flags;
use super::{Connection, Role, State, Transmit};
use crate::config::LossDetection;
use crate::frame::{self, Writer, ty};
use crate::packet::{HEADER_LEN, Header, OVERHEAD, TAG_LEN};
use crate::timer::Timer;
use std::time::{Duration, Instant};

impl Connection {
    /// Writes the next datagram into `buf` (which must hold `max_datagram_size` bytes, or
    /// whatever smaller size the caller can send) and says where it goes. `None`: nothing to
    /// send now; consult `poll_timeout`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let destination = self.remote?;
        let max = buf.len().min(usize::from(self.config.max_datagram_size));
        if max < OVERHEAD + 64 {
            return None;
        }
        match self.state {
            State::Drained => return None,
            State::Closing => {
                if !self.close_pending {
                    return None;
                }
                self.close_pending = false;
                let size = self.write_close_packet(&mut buf[..max]);
                return Some(Transmit { destination, size });
            }
            State::Open => {}
        }

        let mtu = u64::from(self.config.max_datagram_size);
        let probe = self.probes > 0;
        let ack_due = self.acks.immediate && self.acks.unacked;
        let mut want_data = match &self.role {
            Role::Send(s) => self.peer_hello && s.has_data(self.size),
            Role::Receive(_) => false,
        };
        if want_data && !probe {
            let cwnd_ok = self.recovery.in_flight + max as u64 <= self.cc.window().max(mtu);
            if !cwnd_ok {
                want_data = false;
            } else if let Some(at) = self.pacer.delay(
                now,
                self.cc.pacing_rate(&self.rtt),
                mtu,
                max as u64,
                self.config.pacing_granularity,
            ) {
                self.timers.set(Timer::Pacing, at);
                want_data = false;
            }
        }
        if let Role::Send(s) = &self.role
            && self.peer_hello
            && !s.has_data(self.size)
            && self.recovery.in_flight < self.cc.window()
        {
            // Nothing to send with room in the window: rate samples taken now understate
            // the path (delivery-rate estimation §3.4).
            self.recovery.app_limited = (self.recovery.delivered + self.recovery.in_flight).max(1);
            self.cc.on_app_limited();
        }
        let ack_freq =
            matches!(&self.role, Role::Send(s) if s.ack_freq_pending) && (want_data || probe);
        let control = self.hello_pending || ack_freq;
        if !(want_data || probe || control || ack_due) {
            return None;
        }

        let pn = self.next_pn;
        let header = Header {
            ty: self.local_ty,
            transfer_id: self.id,
            pn,
        };
        header.encode(buf);
        let payload_end = max - TAG_LEN;
        let mut w = Writer::new(&mut buf[HEADER_LEN..payload_end]);
        let mut pflags = 0u8;
        let mut data = None;

        if self.acks.unacked {
            let delay = self.acks.largest.map_or(0, |(_, t)| {
                now.saturating_duration_since(t).as_micros() as u64
            });
            if frame::write_ack(
                &mut w,
                &self.acks.received,
                delay,
                self.config.max_ack_ranges,
            ) {
                if self.acks.extra_copies > 0 {
                    // Answering a probe: one more copy follows at once.
                    self.acks.extra_copies -= 1;
                } else {
                    self.acks.unacked = false;
                    self.acks.immediate = false;
                }
                self.acks.eliciting_unacked = 0;
                self.timers.stop(Timer::Ack);
                self.stats.acks_sent += 1;
            }
        }
        let mut max_data = 0;
        if let Role::Receive(r) = &mut self.role {
            max_data = r.advertise(self.size);
            w.u8(ty::MAX_DATA);
            w.varint(max_data);
        }
        if self.hello_pending {
            let empty;
            let have = match &self.role {
                Role::Receive(r) => &r.have,
                Role::Send(_) => {
                    empty = crate::ranges::RangeSet::new();
                    &empty
                }
            };
            frame::write_hello(&mut w, self.size, max_data, have);
            if self.hello_copies > 0 && !self.hello_acked {
                self.hello_copies -= 1;
            } else {
                self.hello_pending = false;
            }
            pflags |= flags::ACK_ELICITING | flags::HELLO;
        }
        if ack_freq && let Role::Send(s) = &mut self.role {
            let (threshold, delay) = s.ack_freq_sent.unwrap_or((2, self.config.max_ack_delay));
            w.u8(ty::ACK_FREQUENCY);
            w.varint(s.ack_freq_seq);
            w.varint(threshold);
            w.varint(delay.as_micros() as u64);
            s.ack_freq_pending = false;
            pflags |= flags::ACK_ELICITING | flags::ACK_FREQUENCY;
        }
        if probe {
            // Marks the packet as a probe, which the peer acknowledges at once (twice).
            w.u8(ty::PING);
            pflags |= flags::ACK_ELICITING;
        }
        // DATA goes last, as DATA_TO_END: no length field. Its header is the type byte and
        // an offset no longer than the largest offset's varint.
        let data_overhead = 1 + frame::varint_len(self.size.saturating_sub(1));
        if want_data
            && w.remaining() > data_overhead
            && let Role::Send(s) = &mut self.role
        {
            let room = w.remaining() - data_overhead;
            if let Some((offset, len, retransmit)) = s.next_chunk(self.size, room) {
                w.u8(ty::DATA_TO_END);
                w.varint(offset);
                let at = w.pos;
                if let Err(e) = s.source.read_at(offset, &mut w.buf[at..at + len]) {
                    self.fail(now, crate::Error::Source(e));
                    return None;
                }
                w.pos += len;
                data = Some((offset, len));
                pflags |= flags::ACK_ELICITING;
                self.stats.data_bytes_sent += len as u64;
                if retransmit {
                    self.stats.data_bytes_retransmitted += len as u64;
                }
            }
        }
        if probe {
            self.probes -= 1;
        }
        let size = HEADER_LEN + w.pos + TAG_LEN;
        self.key.seal(&header, &mut buf[..size]);
        self.next_pn += 1;
        self.stats.packets_sent += 1;
        self.stats.bytes_sent += size as u64;
        if pflags & flags::ACK_ELICITING != 0 && !probe {
            self.pacer.on_sent(size as u64);
        }
        self.on_packet_sent(now, pn, size, pflags, data);
        Some(Transmit { destination, size })
    }

    fn write_close_packet(&mut self, buf: &mut [u8]) -> usize {
        let pn = self.next_pn;
        self.next_pn += 1;
        let header = Header {
            ty: self.local_ty,
            transfer_id: self.id,
            pn,
        };
        header.encode(buf);
        let payload_end = buf.len() - TAG_LEN;
        let mut w = Writer::new(&mut buf[HEADER_LEN..payload_end]);
        let (code, reason) = self.close.clone().unwrap_or_default();
        let reason = &reason[..reason.len().min(w.remaining().saturating_sub(20))];
        w.u8(ty::CLOSE);
        w.varint(u64::from(code));
        w.varint(reason.len() as u64);
        w.bytes(reason);
        let size = HEADER_LEN + w.pos + TAG_LEN;
        self.key.seal(&header, &mut buf[..size]);
        self.stats.packets_sent += 1;
        self.stats.bytes_sent += size as u64;
        size
    }

    /// Sender: ask the receiver to acknowledge about an eighth of a window at a time and
    /// within a quarter of the minimum RTT (draft-ietf-quic-ack-frequency), so fast flows do
    /// not drown in ACKs while loss detection stays within a fraction of an RTT.
    pub(super) fn update_ack_frequency(&mut self) {
        let mtu = u64::from(self.config.max_datagram_size);
        let window_packets = self.cc.window() / mtu;
        let fixed = matches!(self.config.loss_detection, LossDetection::FixedTimeout(_));
        let Role::Send(s) = &mut self.role else {
            return;
        };
        let threshold = if fixed || window_packets < 4 {
            1
        } else {
            (window_packets / 8).clamp(2, self.config.max_ack_eliciting_threshold.max(2))
        };
        let delay = if fixed {
            Duration::ZERO
        } else {
            (self.rtt.min() / 4).clamp(Duration::from_millis(1), self.config.max_ack_delay)
        };
        let change = match s.ack_freq_sent {
            None => true,
            Some((t, d)) => {
                // Only worth a frame when the request moves by a factor of two.
                threshold >= 2 * t || 2 * threshold <= t || delay >= 2 * d || 2 * delay <= d
            }
        };
        if change {
            s.ack_freq_seq += 1;
            s.ack_freq_sent = Some((threshold, delay));
            s.ack_freq_pending = true;
            s.requested_ack_delay = Some(delay);
        }
    }
}
