//! Loss recovery after RFC 9002: sent-packet tracking, ACK processing, RTT samples,
//! packet- and time-threshold loss detection, probe timeouts, delivery-rate samples
//! (draft-cheng-iccrg-delivery-rate-estimation) for the congestion controller.

use super::{Connection, Role};
use crate::config::LossDetection;
use crate::congestion::{AckSample, RateSample};
use crate::frame::AckFrame;
use crate::ranges::RangeSet;
use crate::rtt::GRANULARITY;
use crate::timer::Timer;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// RFC 9002 §6.1.1 `kPacketThreshold`, the starting packet-reordering threshold.
const PACKET_THRESHOLD: u64 = 3;
/// RFC 9002 §6.1.2 `kTimeThreshold` = 9/8, in eighths of an RTT; the starting value.
const TIME_THRESHOLD_EIGHTHS: u32 = 9;
/// Largest time threshold reordering can push us to: two RTTs.
const MAX_TIME_THRESHOLD_EIGHTHS: u32 = 16;
/// Most PTO doublings. RFC 9002 §6.2.1 backs off without bound; we stop at 16× so a path
/// whose ACKs vanish in a burst recovers within a bounded multiple of its RTT (the idle
/// timeout still bounds a dead path).
const MAX_PTO_BACKOFF: u32 = 4;
/// Longest wait between probes once backed off, unless one PTO is longer.
const MAX_PTO_INTERVAL: Duration = Duration::from_secs(1);

pub(super) mod flags {
    pub(crate) const ACK_ELICITING: u8 = 1;
    pub(crate) const HELLO: u8 = 2;
    pub(crate) const ACK_FREQUENCY: u8 = 4;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PacketState {
    /// In flight, unresolved.
    Unacked,
    Acked,
    Lost,
    /// Not ack-eliciting: never in flight, nothing to resolve.
    Untracked,
}

/// One sent packet (RFC 9002 Appendix A.1.1), plus the delivery-rate snapshot.
#[derive(Debug, Clone)]
pub(super) struct SentPacket {
    pub(super) time_sent: Instant,
    /// Datagram size, bytes.
    pub(super) size: u16,
    pub(super) flags: u8,
    pub(super) state: PacketState,
    /// File bytes carried (`data_len == 0`: none).
    pub(super) data_offset: u64,
    pub(super) data_len: u16,
    /// `C.delivered` when sent, bytes.
    pub(super) delivered: u64,
    pub(super) delivered_time: Instant,
    pub(super) first_sent_time: Instant,
    pub(super) is_app_limited: bool,
}

/// Sender-side recovery state.
#[derive(Debug)]
pub(super) struct Recovery {
    /// Sent packets from packet number `base` on, in order.
    pub(super) sent: VecDeque<SentPacket>,
    pub(super) base: u64,
    /// Packet numbers the peer acknowledged at or above `base` (finds newly acked ones fast).
    acked_pns: RangeSet,
    /// Everything below this packet number is resolved (acked, lost or untracked).
    loss_scan: u64,
    pub(super) largest_acked: Option<u64>,
    /// Bytes in flight (RFC 9002 `bytes_in_flight`).
    pub(super) in_flight: u64,
    /// Ack-eliciting packets in flight.
    pub(super) eliciting_in_flight: u64,
    pub(super) time_of_last_eliciting: Option<Instant>,
    pub(super) loss_time: Option<Instant>,
    pub(super) pto_count: u32,
    /// Delivery-rate estimation state (`C.delivered`, bytes; `C.delivered_time`, …).
    pub(super) delivered: u64,
    pub(super) delivered_time: Instant,
    pub(super) first_sent_time: Instant,
    /// `C.app_limited`: non-zero while the delivered count has not passed this mark.
    pub(super) app_limited: u64,
    /// Latest valid delivery-rate sample, bytes/s.
    pub(super) last_delivery_rate: u64,
    /// Packet threshold in use. RFC 9002 §6.1.1 lets it grow: every spurious loss raises it
    /// to the reordering distance seen (as RACK, RFC 8985 §6.2, adapts its window).
    packet_threshold: u64,
    /// Time threshold in use, eighths of an RTT (raised by 2 per spurious loss, up to 16).
    time_threshold_eighths: u32,
}

impl Recovery {
    pub(super) fn new(now: Instant) -> Self {
        Self {
            sent: VecDeque::new(),
            base: 0,
            acked_pns: RangeSet::new(),
            loss_scan: 0,
            largest_acked: None,
            in_flight: 0,
            eliciting_in_flight: 0,
            time_of_last_eliciting: None,
            loss_time: None,
            pto_count: 0,
            delivered: 0,
            delivered_time: now,
            first_sent_time: now,
            app_limited: 0,
            last_delivery_rate: 0,
            packet_threshold: PACKET_THRESHOLD,
            time_threshold_eighths: TIME_THRESHOLD_EIGHTHS,
        }
    }

    fn get_mut(&mut self, pn: u64) -> Option<&mut SentPacket> {
        let i = usize::try_from(pn.checked_sub(self.base)?).ok()?;
        self.sent.get_mut(i)
    }
}

impl Connection {
    /// Records a packet that just left (RFC 9002 A.5 `OnPacketSent`).
    pub(super) fn on_packet_sent(
        &mut self,
        now: Instant,
        pn: u64,
        size: usize,
        flags: u8,
        data: Option<(u64, usize)>,
    ) {
        let r = &mut self.recovery;
        debug_assert_eq!(pn, r.base + r.sent.len() as u64);
        let eliciting = flags & flags::ACK_ELICITING != 0;
        if eliciting && r.in_flight == 0 {
            // Delivery-rate estimation §3.2: a new flight starts the clocks.
            r.first_sent_time = now;
            r.delivered_time = now;
        }
        let (data_offset, data_len) = data.map_or((0, 0), |(o, l)| (o, l as u16));
        r.sent.push_back(SentPacket {
            time_sent: now,
            size: size as u16,
            flags,
            state: if eliciting {
                PacketState::Unacked
            } else {
                PacketState::Untracked
            },
            data_offset,
            data_len,
            delivered: r.delivered,
            delivered_time: r.delivered_time,
            first_sent_time: r.first_sent_time,
            is_app_limited: r.app_limited != 0,
        });
        if eliciting {
            r.in_flight += size as u64;
            r.eliciting_in_flight += 1;
            r.time_of_last_eliciting = Some(now);
            self.cc.on_sent(now, size as u64, r.in_flight);
            self.set_loss_detection_timer();
        }
        self.pop_resolved(now);
    }

    /// Drops resolved packets from the front of the ring. Lost packets stay a few RTTs so a
    /// late ACK can still reveal a spurious loss (RFC 9002 §6.2's "declared lost" state).
    fn pop_resolved(&mut self, now: Instant) {
        let keep_lost = 4 * self.rtt.smoothed().max(GRANULARITY);
        let r = &mut self.recovery;
        while let Some(p) = r.sent.front() {
            let pn = r.base;
            let done = pn < r.loss_scan
                && match p.state {
                    PacketState::Acked | PacketState::Untracked => true,
                    PacketState::Lost => now.saturating_duration_since(p.time_sent) > keep_lost,
                    PacketState::Unacked => false,
                };
            if !done {
                break;
            }
            r.sent.pop_front();
            r.base += 1;
        }
        if r.acked_pns.min().is_some_and(|m| m < r.base) {
            r.acked_pns.remove_below(r.base);
        }
    }

    /// RFC 9002 A.7 `OnAckReceived`.
    pub(super) fn on_ack_frame(&mut self, now: Instant, ack: &AckFrame<'_>) {
        let peer_delay = self.acks_max_delay_of_peer();
        let mut largest_newly_acked: Option<(u64, Instant, bool)> = None;
        let mut newly_acked = 0u64;
        let mut rate: Option<(u64, Instant, Instant, Instant, bool)> = None; // delivered, delivered_time, first_sent, sent, app_limited
        let mut spurious = 0u64;
        let mut hello_acked = false;
        let mut freq_acked = false;
        let base = self.recovery.base;
        for range in ack.ranges() {
            let range = range.start.max(base)..range.end;
            if range.is_empty() {
                continue;
            }
            // Collect newly acked pns first (the closure cannot borrow `self` mutably twice).
            let mut news: smallvec_lite::Stack = smallvec_lite::Stack::new();
            self.recovery.acked_pns.insert_with(range, |n| news.push(n));
            for n in news.drain() {
                for pn in n {
                    let Some(p) = self.recovery.get_mut(pn) else {
                        continue;
                    };
                    let prev = p.state;
                    if prev == PacketState::Acked || prev == PacketState::Untracked {
                        continue;
                    }
                    p.state = PacketState::Acked;
                    let p = p.clone();
                    if largest_newly_acked.is_none_or(|(l, _, _)| pn > l) {
                        largest_newly_acked =
                            Some((pn, p.time_sent, p.flags & flags::ACK_ELICITING != 0));
                    }
                    if p.flags & flags::HELLO != 0 {
                        hello_acked = true;
                    }
                    if p.flags & flags::ACK_FREQUENCY != 0 {
                        freq_acked = true;
                    }
                    if p.data_len > 0
                        && let Role::Send(s) = &mut self.role
                    {
                        self.stats.data_bytes_acked +=
                            s.on_acked(p.data_offset, u64::from(p.data_len));
                    }
                    let size = u64::from(p.size);
                    if prev == PacketState::Lost {
                        // Declared lost, yet it arrived (RFC 9002 §6.1: spurious): the path
                        // reorders more than the thresholds allow for; widen them.
                        spurious += 1;
                        let r = &mut self.recovery;
                        let distance = r.largest_acked.unwrap_or(pn).max(ack.largest) - pn + 1;
                        r.packet_threshold = r.packet_threshold.max(distance);
                        r.time_threshold_eighths =
                            (r.time_threshold_eighths + 2).min(MAX_TIME_THRESHOLD_EIGHTHS);
                        continue;
                    }
                    let r = &mut self.recovery;
                    r.in_flight -= size;
                    r.eliciting_in_flight -= 1;
                    newly_acked += size;
                    self.cc.on_packet_acked(now, p.time_sent, size, &self.rtt);
                    // Delivery-rate estimation §3.3 UpdateRateSample.
                    r.delivered += size;
                    r.delivered_time = now;
                    if rate.is_none_or(|(d, ..)| p.delivered >= d) {
                        rate = Some((
                            p.delivered,
                            p.delivered_time,
                            p.first_sent_time,
                            p.time_sent,
                            p.is_app_limited,
                        ));
                        r.first_sent_time = p.time_sent;
                    }
                }
            }
        }
        if hello_acked {
            self.hello_acked = true;
        }
        if freq_acked && let Role::Send(s) = &mut self.role {
            s.ack_freq_pending = false;
        }
        self.stats.spurious_losses += spurious;
        for _ in 0..spurious {
            self.cc.on_spurious_loss();
        }
        let Some((largest_pn, largest_sent, largest_eliciting)) = largest_newly_acked else {
            return;
        };
        if self.recovery.largest_acked.is_none_or(|l| ack.largest > l) {
            self.recovery.largest_acked = Some(ack.largest);
        }
        // RFC 9002 §5.1: an RTT sample when the largest acknowledged is newly acked.
        if largest_pn == ack.largest && largest_eliciting {
            let delay = Duration::from_micros(ack.delay_us).min(peer_delay);
            self.rtt
                .update(delay, now.saturating_duration_since(largest_sent));
        }
        let lost_before = self.stats.bytes_lost;
        self.detect_lost(now);
        let newly_lost = self.stats.bytes_lost - lost_before;
        let r = &mut self.recovery;
        if r.app_limited != 0 && r.delivered > r.app_limited {
            r.app_limited = 0;
        }
        let sample = rate.and_then(
            |(prior_delivered, prior_time, first_sent, sent, app_limited)| {
                let send_elapsed = sent.saturating_duration_since(first_sent);
                let ack_elapsed = r.delivered_time.saturating_duration_since(prior_time);
                let interval = send_elapsed.max(ack_elapsed);
                let delivered = r.delivered - prior_delivered;
                // §3.3: an interval shorter than min_rtt would overstate the rate.
                if interval < self.rtt.min() || interval.is_zero() {
                    return None;
                }
                let delivery_rate = (delivered as f64 / interval.as_secs_f64()) as u64;
                Some(RateSample {
                    delivered,
                    interval,
                    delivery_rate,
                    prior_delivered,
                    is_app_limited: app_limited,
                })
            },
        );
        if let Some(s) = &sample {
            r.last_delivery_rate = s.delivery_rate;
        }
        if newly_acked > 0 {
            // RFC 9002 §6.2.1: the PTO backoff resets on an acknowledgement.
            r.pto_count = 0;
        }
        let ack_sample = AckSample {
            delivered: r.delivered,
            newly_acked,
            newly_lost,
            in_flight: r.in_flight,
            rate: sample,
            largest_acked_sent: largest_sent,
        };
        self.cc.on_ack(now, &ack_sample, &self.rtt);
        self.update_ack_frequency();
        self.pop_resolved(now);
    }

    /// RFC 9002 A.10 `DetectAndRemoveLostPackets`, scanning each packet once.
    fn detect_lost(&mut self, now: Instant) {
        if matches!(self.config.loss_detection, LossDetection::FixedTimeout(_)) {
            return;
        }
        let Some(largest) = self.recovery.largest_acked else {
            return;
        };
        self.recovery.loss_time = None;
        let eighths = self.recovery.time_threshold_eighths;
        let loss_delay =
            (self.rtt.smoothed().max(self.rtt.latest()) * eighths / 8).max(GRANULARITY);
        let packet_threshold = self.recovery.packet_threshold;
        let lost_send_time = now.checked_sub(loss_delay);
        let mut pn = self.recovery.loss_scan.max(self.recovery.base);
        let mut lost_bytes = 0u64;
        let mut largest_lost_sent = None;
        // RFC 9002 §7.6: persistent congestion is a run of lost ack-eliciting packets, with
        // none acknowledged in between, spanning more than three PTOs (without backoff).
        let persistent_span = 3 * self.pto_duration();
        let mut run_start: Option<Instant> = None;
        let mut persistent = false;
        while pn <= largest {
            let Some(p) = self.recovery.get_mut(pn) else {
                break;
            };
            match p.state {
                PacketState::Unacked => {
                    let by_time = lost_send_time.is_some_and(|t| p.time_sent <= t);
                    if by_time || largest >= pn + packet_threshold {
                        let sent = p.time_sent;
                        lost_bytes += u64::from(p.size);
                        largest_lost_sent = Some(sent);
                        let start = *run_start.get_or_insert(sent);
                        persistent |= sent.saturating_duration_since(start) > persistent_span;
                        self.declare_lost(pn);
                    } else {
                        self.recovery.loss_time = Some(p.time_sent + loss_delay);
                        break;
                    }
                }
                PacketState::Acked => run_start = None,
                PacketState::Lost | PacketState::Untracked => {}
            }
            pn += 1;
        }
        self.recovery.loss_scan = pn;
        if let Some(sent) = largest_lost_sent {
            let persistent = persistent && self.rtt.has_sample();
            self.cc
                .on_congestion_event(now, sent, lost_bytes, persistent);
        }
    }

    /// Marks one packet lost and queues what it carried for retransmission.
    fn declare_lost(&mut self, pn: u64) {
        let Some(p) = self.recovery.get_mut(pn) else {
            return;
        };
        p.state = PacketState::Lost;
        let p = p.clone();
        let r = &mut self.recovery;
        r.in_flight -= u64::from(p.size);
        r.eliciting_in_flight -= 1;
        self.stats.packets_lost += 1;
        self.stats.bytes_lost += u64::from(p.size);
        if p.flags & flags::HELLO != 0 && !self.hello_acked {
            self.hello_pending = true;
        }
        if let Role::Send(s) = &mut self.role {
            if p.data_len > 0 {
                s.on_lost(p.data_offset, u64::from(p.data_len));
            }
            if p.flags & flags::ACK_FREQUENCY != 0 {
                s.ack_freq_pending = true;
            }
        }
    }

    /// RFC 9002 A.8 `SetLossDetectionTimer`.
    pub(super) fn set_loss_detection_timer(&mut self) {
        let r = &self.recovery;
        if let Some(t) = r.loss_time {
            self.timers.set(Timer::LossDetection, t);
            return;
        }
        let Some(last) = r
            .time_of_last_eliciting
            .filter(|_| r.eliciting_in_flight > 0)
        else {
            self.timers.stop(Timer::LossDetection);
            return;
        };
        let at = match self.config.loss_detection {
            LossDetection::FixedTimeout(t) => {
                // The oldest unresolved packet's fixed resend time.
                let oldest = r
                    .sent
                    .iter()
                    .find(|p| p.state == PacketState::Unacked)
                    .map_or(last, |p| p.time_sent);
                oldest + t
            }
            LossDetection::Rfc9002 => {
                let pto = self.pto_duration();
                let backed_off = pto * (1 << r.pto_count.min(MAX_PTO_BACKOFF));
                // Never more than a second between probes (or one PTO, if longer): on a
                // path that loses packets in bursts, sparse probes can sit in one burst
                // for many seconds.
                last + backed_off.min(pto.max(MAX_PTO_INTERVAL))
            }
        };
        self.timers.set(Timer::LossDetection, at);
    }

    /// RFC 9002 A.9 `OnLossDetectionTimeout`.
    pub(super) fn on_loss_detection_timeout(&mut self, now: Instant) {
        if self.recovery.loss_time.is_some_and(|t| t <= now) {
            self.detect_lost(now);
            self.set_loss_detection_timer();
            return;
        }
        match self.config.loss_detection {
            LossDetection::FixedTimeout(t) => {
                // Resend everything older than the fixed timeout.
                let mut lost = 0;
                let mut last_sent = None;
                let base = self.recovery.base;
                for i in 0..self.recovery.sent.len() {
                    let p = &self.recovery.sent[i];
                    if p.state == PacketState::Unacked && p.time_sent + t <= now {
                        lost += u64::from(p.size);
                        last_sent = Some(p.time_sent);
                        self.declare_lost(base + i as u64);
                    }
                }
                if let Some(sent) = last_sent {
                    self.cc.on_congestion_event(now, sent, lost, false);
                }
            }
            LossDetection::Rfc9002 => {
                // RFC 9002 §6.2.4: send one or two probes; resend unacknowledged control frames.
                self.recovery.pto_count += 1;
                self.stats.ptos += 1;
                self.probes = 2;
                if !self.hello_acked {
                    self.hello_pending = true;
                }
                // §6.2.4: with no new data to send, the probes carry the oldest unacknowledged
                // data again, so one probe getting through can finish a transfer's tail.
                if let Role::Send(s) = &mut self.role
                    && !s.has_data(self.size)
                    && let Some(p) = self
                        .recovery
                        .sent
                        .iter()
                        .find(|p| p.state == PacketState::Unacked && p.data_len > 0)
                {
                    s.on_lost(p.data_offset, u64::from(p.data_len));
                }
            }
        }
        self.set_loss_detection_timer();
    }
}

/// A tiny fixed-capacity stack of ranges that spills into a reusable heap buffer, so ACK
/// processing allocates nothing in the common case.
mod smallvec_lite {
    use std::ops::Range;

    const INLINE: usize = 8;

    pub(super) struct Stack {
        inline: [Range<u64>; INLINE],
        len: usize,
        spill: Vec<Range<u64>>,
    }

    impl Stack {
        pub(super) fn new() -> Self {
            Self {
                inline: Default::default(),
                len: 0,
                spill: Vec::new(),
            }
        }
        pub(super) fn push(&mut self, r: Range<u64>) {
            if self.len < INLINE {
                self.inline[self.len] = r;
                self.len += 1;
            } else {
                self.spill.push(r);
            }
        }
        pub(super) fn drain(&mut self) -> impl Iterator<Item = Range<u64>> + '_ {
            let n = self.len;
            self.len = 0;
            self.inline[..n].iter().cloned().chain(self.spill.drain(..))
        }
    }
}
