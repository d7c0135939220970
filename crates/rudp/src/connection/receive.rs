//! The receive path: authenticating a datagram, following the peer's address, and acting on
//! each frame.

use super::{Connection, Event, Role, State};
use crate::error::{Error, code};
use crate::frame::{Frame, Frames};
use crate::packet::{HEADER_LEN, Header, PacketType, TAG_LEN};
use crate::timer::Timer;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

impl Connection {
    /// Processes one datagram that arrived from `remote`. `datagram` is decrypted in place (its
    /// content is unspecified afterwards). Anything that does not authenticate is dropped and
    /// counted; only authenticated packets move the remote address.
    pub fn handle_datagram(&mut self, now: Instant, remote: SocketAddr, datagram: &mut [u8]) {
        if self.state == State::Drained {
            return;
        }
        self.stats.datagrams_received += 1;
        let Some(header) = Header::decode(datagram, self.acks.largest.map(|(l, _)| l)) else {
            self.stats.dropped_malformed += 1;
            return;
        };
        let peer_ty = match self.local_ty {
            PacketType::FromSender => PacketType::FromReceiver,
            PacketType::FromReceiver => PacketType::FromSender,
        };
        if header.transfer_id != self.id || header.ty != peer_ty {
            self.stats.dropped_auth += 1;
            return;
        }
        let pn = header.pn;
        if pn < self.acks.floor || self.acks.received.contains(pn) {
            self.stats.duplicates += 1;
            return;
        }
        if !self.key.open(&header, datagram) {
            self.stats.dropped_auth += 1;
            return;
        }
        // Authenticated from here on.
        self.stats.packets_received += 1;
        self.stats.bytes_received += datagram.len() as u64;
        self.last_heard = now;
        self.acks.received.insert(pn..pn + 1);
        if self.acks.received.range_count() > self.config.max_tracked_ranges
            && let Some(r) = self.acks.received.drop_lowest_range()
        {
            self.acks.floor = r.end;
        }
        let largest = self.acks.largest.map(|(l, _)| l);
        let in_order = largest.is_none_or(|l| pn == l + 1);
        if largest.is_none_or(|l| pn > l) {
            self.acks.largest = Some((pn, now));
            self.follow_path(remote);
        }
        if self.state == State::Closing {
            self.close_pending = true;
            return;
        }
        if largest.is_none() {
            self.events.push_back(Event::Connected);
        }
        let payload_end = datagram.len() - TAG_LEN;
        let payload = &datagram[HEADER_LEN..payload_end];
        let mut eliciting = false;
        let mut ping = false;
        let mut ack_seen = false;
        for frame in Frames::new(payload) {
            let Ok(frame) = frame else {
                self.fail(now, Error::ProtocolViolation("malformed frame"));
                return;
            };
            eliciting |= frame.is_ack_eliciting();
            ping |= matches!(frame, Frame::Ping);
            if let Err(e) = self.handle_frame(now, frame, &mut ack_seen) {
                self.fail(now, e);
                return;
            }
            if self.state != State::Open {
                return;
            }
        }
        if ack_seen {
            self.after_ack(now);
        }
        self.acks.unacked = true;
        if eliciting {
            self.acks.eliciting_unacked += 1;
            // RFC 9000 §13.2.1: acknowledge out-of-order packets at once, so the sender's loss
            // detection is timely; otherwise every `threshold` packets or max_ack_delay.
            // A PING is a probe (RFC 9002 §6.2.4): its sender is stalled until it hears back.
            if ping {
                self.acks.extra_copies = 1;
            }
            if !in_order
                || ping
                || self.acks.eliciting_unacked >= self.acks.threshold
                || self.completed
            {
                self.acks.immediate = true;
            } else if self.timers.get(Timer::Ack).is_none() {
                self.timers.set(Timer::Ack, now + self.acks.max_delay);
            }
        }
        self.reset_idle_timer(now);
    }

    fn reset_idle_timer(&mut self, now: Instant) {
        if self.state != State::Open {
            return;
        }
        // A finished receiver stays until the sender's CLOSE (or the idle timeout, should that
        // CLOSE be lost): its final ACKs may be lost and the sender must still learn it is done.
        self.timers.set(
            Timer::Idle,
            self.last_heard.max(now) + self.config.idle_timeout,
        );
    }

    fn follow_path(&mut self, remote: SocketAddr) {
        match self.remote {
            None => self.remote = Some(remote),
            Some(old) if old != remote => {
                // The packet authenticated and is the newest we have seen: the peer moved
                // (NAT rebinding). A replayed old packet cannot get here (replay check).
                self.remote = Some(remote);
                self.stats.path_changes += 1;
                self.events.push_back(Event::PathChanged { remote });
            }
            Some(_) => {}
        }
    }

    fn handle_frame(
        &mut self,
        now: Instant,
        frame: Frame<'_>,
        ack_seen: &mut bool,
    ) -> Result<(), Error> {
        match frame {
            Frame::Padding | Frame::Ping => {}
            Frame::Ack(ack) => {
                if ack.largest >= self.next_pn {
                    return Err(Error::ProtocolViolation("ACK for a packet never sent"));
                }
                self.on_ack_frame(now, &ack);
                *ack_seen = true;
            }
            Frame::Hello(hello) => {
                if hello.size != self.size {
                    return Err(Error::ProtocolViolation("HELLO announces another size"));
                }
                if let Role::Send(s) = &mut self.role {
                    s.max_data = s.max_data.max(hello.max_data);
                    for r in hello.have() {
                        let r = r.start.min(self.size)..r.end.min(self.size);
                        s.acked
                            .insert_with(r, |n| self.stats.bytes_resumed += n.end - n.start);
                    }
                    *ack_seen = true;
                }
                self.peer_hello = true;
            }
            Frame::MaxData(max) => {
                if let Role::Send(s) = &mut self.role {
                    s.max_data = s.max_data.max(max);
                }
            }
            Frame::AckFrequency {
                seq,
                threshold,
                max_ack_delay_us,
            } => {
                if self.acks.freq_seq.is_none_or(|s| seq > s) {
                    self.acks.freq_seq = Some(seq);
                    self.acks.threshold = threshold.clamp(1, 1024);
                    self.acks.max_delay =
                        Duration::from_micros(max_ack_delay_us).min(self.config.max_ack_delay);
                }
            }
            Frame::Data { offset, data } => {
                let Role::Receive(r) = &mut self.role else {
                    return Err(Error::ProtocolViolation("DATA sent to the sender"));
                };
                let end = offset + data.len() as u64;
                if end > self.size {
                    return Err(Error::ProtocolViolation(
                        "DATA past the end of the transfer",
                    ));
                }
                // Flow control (RFC 9000 §4.1): nothing at or past the limit we advertised.
                if end > r.advertised && !r.have.covers(offset..end) {
                    return Err(Error::ProtocolViolation(
                        "DATA past the advertised flow-control limit",
                    ));
                }
                let fresh = r.write(offset, data).map_err(Error::Sink)?;
                self.stats.data_bytes_received += fresh;
                if fresh == 0 && !data.is_empty() {
                    self.stats.data_bytes_duplicate += data.len() as u64;
                }
                if !self.completed && r.is_complete(self.size) {
                    self.completed = true;
                    self.acks.immediate = true;
                    self.events.push_back(Event::Completed);
                }
            }
            Frame::Close { code: c, reason } => {
                let done = c == u64::from(code::DONE) && self.completed;
                if done {
                    self.drain();
                } else {
                    let code = u32::try_from(c).unwrap_or(u32::MAX);
                    let reason = String::from_utf8_lossy(reason).into_owned();
                    self.fail(now, Error::PeerClosed { code, reason });
                }
            }
        }
        Ok(())
    }

    /// After an ACK (or HELLO) was processed: check for sender completion.
    fn after_ack(&mut self, now: Instant) {
        self.set_loss_detection_timer();
        if let Role::Send(s) = &self.role
            && s.ack_freq_sent.is_none()
            && self.peer_hello
        {
            // Tell the receiver how to acknowledge before the first DATA frame.
            self.update_ack_frequency();
        }
        if let Role::Send(s) = &self.role
            && !self.completed
            && self.peer_hello
            && s.acked.covers(0..self.size)
        {
            self.completed = true;
            self.events.push_back(Event::Completed);
            self.start_closing(now, code::DONE, b"");
        }
    }
}
