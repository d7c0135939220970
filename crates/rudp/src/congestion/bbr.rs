//! A BBR-style model-based controller, after the BBR draft
//! (draft-cheng-iccrg-bbr-congestion-control-00, "BBRv1"), with three additions.
//!
//! The model is two numbers: the bottleneck bandwidth `btl_bw` (windowed max of delivery-rate
//! samples over 10 round trips, §4.1.1) and the round-trip propagation time `rt_prop` (windowed
//! min RTT over 10 s, §4.1.2). The sender paces at `pacing_gain × btl_bw` and caps the data in
//! flight at `cwnd_gain × btl_bw × rt_prop`. The state machine (§4.3) is Startup (pacing gain
//! 2.885 until the bandwidth stops growing 25 % per round for 3 rounds) → Drain (inverse gain
//! until the queue Startup built is gone) → ProbeBW (gain cycle 1.25, 0.75, 1 ×6, each phase one
//! `rt_prop`) with ProbeRTT (4 packets for 200 ms) when `rt_prop` has not been refreshed for
//! 10 s.
//!
//! **Random loss is not congestion.** BBRv1 ignores loss; that is what keeps a randomly lossy
//! link full, where loss-based controllers collapse. What it needs instead is a way to tell a
//! queue it built itself, and the additions all key on one signal that random loss does not
//! produce: a *standing queue*, i.e. a round whose smallest RTT sample sits well above
//! `rt_prop` (plus 1 ms, so one packet queued on a 1 ms path is not a queue).
//!
//! 1. **Startup exit** (besides the plateau test): HyStart++'s delay-increase test (RFC 9406),
//!    a loss while the RTT shows a queue, or a whole round with a 25 % standing queue; and
//!    Startup's window gain is 2 (as in BBRv3), which is exactly pipe + a 1-BDP buffer.
//! 2. **Loss guard** (in the spirit of BBRv2's `inflight_hi`): when a ProbeBW round loses ≥ 1 %
//!    of its packets *and* has a 50 % standing queue, the data in flight is capped at 0.7 × what
//!    was in flight (once per episode); the cap then grows by 1, 2, 4 … packets per round, the
//!    same for every flow. Random loss on an empty queue never meets both conditions.
//! 3. **Queue guard**: a 25 % standing queue that lasts two ProbeBW rounds means the flows at
//!    the bottleneck together pace faster than it drains (each max filter keeps its own best
//!    probe), where BBRv1 would sit window-limited with its share frozen. The rate is re-aimed
//!    as FAST TCP aims its window, toward keeping 64 packets of its own queued; every flow aims
//!    at the same amount, so shares converge and the queue drains (see `update_loss_guard`).
//! 4. **Loss-compensated bandwidth samples.** A delivery-rate sample counts only what arrived;
//!    a packet lost *after* the bottleneck (a lossy radio hop, the model our link emulator and
//!    simulator use) crossed it all the same. On a link losing p of its packets at random the
//!    max filter therefore settles at (1 − p) of the bottleneck and the flow leaves p of the
//!    link idle on top of the p it loses. While the path shows no standing queue (so the loss
//!    is not our own overflow), samples are divided by (1 − p̄), p̄ a smoothed loss rate of
//!    the rounds without a standing queue, capped at [`MAX_LOSS_COMPENSATION`]. A queue — the
//!    one sign of overflow loss — switches the compensation off for the next round, and its
//!    round's losses never enter p̄.
//! 5. **Competitive mode.** Items 2 and 3 make flows yield to delay, which converges among
//!    flows that all do — and starves against one that does not (a loss-based TCP filling the
//!    buffer, or Linux's BBRv1 with its 2-BDP window): the queue never drains, however far we
//!    back off. When a standing queue has outlived [`COMPETE_ROUNDS`] rounds of the guards
//!    acting (and holds more of our bytes than half the queue guard's aim), both guards switch off and
//!    the flow runs as BBRv1 — its window sized for the RTT it sees, queue included, so that
//!    ProbeBW's probes can win back a share — until a round shows the queue gone (Copa's
//!    competitive mode, Arun & Balakrishnan, NSDI 2018, reasons alike).

use super::{AckSample, Controller, ControllerFactory};
use crate::rtt::RttEstimator;
use std::time::{Duration, Instant};

/// Startup gain, 2/ln 2 (§4.3.1.1).
const HIGH_GAIN: f64 = 2.885;
/// Startup's window gain. BBRv1 uses `HIGH_GAIN`; BBRv3 (draft-ietf-ccwg-bbr §5.3.1.1)
/// lowered it to 2: once the bandwidth estimate reaches the bottleneck rate, 2 × BDP in flight
/// is one BDP in the pipe and one in a 1-BDP buffer, where 2.885 overflows it.
const STARTUP_CWND_GAIN: f64 = 2.0;
/// ProbeBW pacing-gain cycle (§4.3.3).
const CYCLE: [f64; 8] = [1.25, 0.75, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
/// Bandwidth filter length, rounds (§4.1.1: `BtlBwFilterLen`).
const BTL_BW_FILTER_ROUNDS: u64 = 10;
/// `RTpropFilterLen` (§4.1.2).
const RT_PROP_FILTER: Duration = Duration::from_secs(10);
/// `ProbeRTTDuration` (§4.3.4).
const PROBE_RTT_DURATION: Duration = Duration::from_millis(200);
/// Minimum window, packets (`BBRMinPipeCwnd`, §4.2.3.1).
const MIN_PIPE_CWND_PACKETS: u64 = 4;

/// The shortest time the window is sized for (see `Bbr::bdp`): one timer granularity.
const MIN_BDP_TIME: Duration = Duration::from_millis(1);

/// Tunables for [`Bbr`].
#[derive(Debug, Clone)]
pub struct BbrConfig {
    /// Initial window, packets.
    pub initial_window_packets: u64,
    /// Round loss rate above which the loss guard may engage (with a filling queue), 0..1.
    pub loss_guard_rate: f64,
    /// Smoothed RTT / `rt_prop` above which the queue counts as filling.
    pub loss_guard_rtt_ratio: f64,
    /// Seed for the ProbeBW phase randomisation (§4.3.3 starts at a random phase).
    pub seed: u64,
}

impl Default for BbrConfig {
    fn default() -> Self {
        Self {
            initial_window_packets: 10,
            loss_guard_rate: 0.01,
            loss_guard_rtt_ratio: 1.5,
            seed: 0x5eed,
        }
    }
}

impl ControllerFactory for BbrConfig {
    fn build(&self, now: Instant, mtu: u16) -> Box<dyn Controller> {
        let mtu = u64::from(mtu);
        Box::new(Bbr {
            mtu,
            state: State::Startup,
            btl_bw: MaxFilter::default(),
            rt_prop: None,
            rt_prop_stamp: now,
            rt_prop_expired: false,
            round_count: 0,
            next_round_delivered: 0,
            round_start: false,
            pacing_gain: HIGH_GAIN,
            cwnd_gain: STARTUP_CWND_GAIN,
            filled_pipe: false,
            full_bw: 0,
            full_bw_count: 0,
            cycle_index: 0,
            cycle_stamp: now,
            probe_rtt_done: None,
            probe_rtt_round_done: false,
            prior_cwnd: 0,
            cwnd: self.initial_window_packets * mtu,
            pacing_rate: 0,
            round_lost: 0,
            loss_rate_avg: 0.0,
            loss_compensation: 1.0,
            round_delivered_start: 0,
            inflight_hi: u64::MAX,
            probe_up_packets: 1,
            round_min_rtt: Duration::MAX,
            guard_armed_at: now,
            standing_rounds: 0,
            queue_rounds: 0,
            competitive: false,
            last_round_min_rtt: Duration::ZERO,
            round_start_time: now,
            bw_lo: u64::MAX,
            hs_cur_min: Duration::MAX,
            hs_prev_min: Duration::MAX,
            hs_samples: 0,
            rng: self.seed | 1,
            config: self.clone(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Startup,
    Drain,
    ProbeBw,
    ProbeRtt,
}

/// Windowed max over rounds (Kathleen Nichols' three-sample running max, as in Linux's
/// `win_minmax`).
#[derive(Debug, Default, Clone, Copy)]
struct MaxFilter {
    /// `(round, value)`, best first.
    s: [(u64, u64); 3],
}

impl MaxFilter {
    fn get(&self) -> u64 {
        self.s[0].1
    }
    fn update(&mut self, round: u64, v: u64) {
        if v >= self.s[0].1 || round.saturating_sub(self.s[2].0) > BTL_BW_FILTER_ROUNDS {
            self.s = [(round, v); 3];
            return;
        }
        if v >= self.s[1].1 {
            self.s[1] = (round, v);
            self.s[2] = (round, v);
        } else if v >= self.s[2].1 {
            self.s[2] = (round, v);
        }
        // Age out expired samples.
        if round.saturating_sub(self.s[0].0) > BTL_BW_FILTER_ROUNDS {
            self.s[0] = self.s[1];
            self.s[1] = self.s[2];
            self.s[2] = (round, v);
            if round.saturating_sub(self.s[0].0) > BTL_BW_FILTER_ROUNDS {
                self.s[0] = self.s[1];
                self.s[1] = self.s[2];
            }
        } else if self.s[1].0 == self.s[0].0
            && round.saturating_sub(self.s[1].0) > BTL_BW_FILTER_ROUNDS / 4
        {
            self.s[1] = (round, v);
            self.s[2] = (round, v);
        } else if self.s[2].0 == self.s[1].0
            && round.saturating_sub(self.s[2].0) > BTL_BW_FILTER_ROUNDS / 2
        {
            self.s[2] = (round, v);
        }
    }
}

/// BBR state (§4). Units: bytes, bytes per second.
#[derive(Debug)]
pub struct Bbr {
    /// Datagram size, bytes.
    mtu: u64,
    state: State,
    /// `BtlBwFilter`, bytes/s.
    btl_bw: MaxFilter,
    /// `RTprop`; `None` until the first RTT sample.
    rt_prop: Option<Duration>,
    rt_prop_stamp: Instant,
    rt_prop_expired: bool,
    /// Round trips counted by delivered data (§4.1.1.3).
    round_count: u64,
    next_round_delivered: u64,
    round_start: bool,
    pacing_gain: f64,
    cwnd_gain: f64,
    /// Startup found the pipe full (§4.3.2.2).
    filled_pipe: bool,
    /// Bandwidth at the last 25 % step, bytes/s.
    full_bw: u64,
    full_bw_count: u32,
    cycle_index: usize,
    cycle_stamp: Instant,
    probe_rtt_done: Option<Instant>,
    probe_rtt_round_done: bool,
    /// Window saved when entering ProbeRTT, bytes.
    prior_cwnd: u64,
    /// Congestion window, bytes.
    cwnd: u64,
    /// Current pacing rate, bytes/s.
    pacing_rate: u64,
    /// Bytes lost in the current round (ProbeBW, since the loss guard was armed).
    round_lost: u64,
    /// Smoothed per-round loss rate (EWMA, gain 1/8), 0..1.
    loss_rate_avg: f64,
    /// What bandwidth samples are divided by: 1 − the smoothed loss rate while the path shows
    /// no standing queue, else 1.
    loss_compensation: f64,
    /// `delivered` when the current round began, bytes.
    round_delivered_start: u64,
    /// Loss-guard cap on data in flight, bytes (`u64::MAX` when inactive).
    inflight_hi: u64,
    /// Packets the cap grows by after the next clean round.
    probe_up_packets: u64,
    /// Smallest RTT sample of the current round.
    round_min_rtt: Duration,
    /// Losses of packets sent before this instant do not count for the loss guard.
    guard_armed_at: Instant,
    /// Consecutive ProbeBW rounds with a standing queue (the queue guard).
    standing_rounds: u32,
    /// Consecutive ProbeBW rounds with a standing queue, guard actions notwithstanding.
    queue_rounds: u32,
    /// Competitive mode: the guards are off while a queue we cannot drain stands.
    competitive: bool,
    /// The last complete round's smallest RTT sample (`Duration::ZERO` before one).
    last_round_min_rtt: Duration,
    /// When the current round began.
    round_start_time: Instant,
    /// The queue guard's cap on the bandwidth estimate while a standing queue lasts, bytes/s
    /// (`u64::MAX`: none; like BBRv2's `bw_lo`).
    bw_lo: u64,
    /// HyStart++ state: this round's and last round's minimum RTT, samples this round.
    hs_cur_min: Duration,
    hs_prev_min: Duration,
    hs_samples: u32,
    rng: u64,
    config: BbrConfig,
}

/// The most loss the bandwidth samples are compensated for, 0..1: beyond this, loss is not
/// believed to be random (and a sample is never inflated by more than 1/(1 − this)).
const MAX_LOSS_COMPENSATION: f64 = 0.2;

/// Rounds of standing queue, the guards acting all along, before competitive mode.
const COMPETE_ROUNDS: u32 = 30;

/// Rounds of standing queue before the queue guard acts.
const QUEUE_GUARD_ROUNDS: u32 = 2;
/// Bytes of its own each flow aims to keep queued, in packets (FAST TCP's α).
const QUEUE_GUARD_ALPHA_PACKETS: u64 = 64;
/// How far one queue-guard step moves the rate toward its aim (FAST TCP's γ).
const QUEUE_GUARD_GAIN: f64 = 0.75;

/// Queueing delay below this never counts as a queue: on a path of a millisecond or two, one
/// packet waiting at the bottleneck is already a large fraction of the RTT.
const QUEUE_SLACK: Duration = Duration::from_millis(1);

impl Bbr {
    /// The bandwidth the model uses: the max filter, capped by the queue guard, bytes/s.
    fn bw(&self) -> u64 {
        self.btl_bw.get().min(self.bw_lo)
    }

    /// Whether `rtt` sits at least `ratio × rt_prop` (plus [`QUEUE_SLACK`]) high: a queue.
    fn queued(&self, rtt: Duration, ratio: f64) -> bool {
        self.rt_prop.is_some_and(|p| {
            rtt.as_secs_f64() >= ratio * p.as_secs_f64() + QUEUE_SLACK.as_secs_f64()
        })
    }

    fn bdp(&self, gain: f64) -> u64 {
        match self.rt_prop {
            // §4.2.3.2: no RTT sample yet: the initial window.
            None => self.config.initial_window_packets * self.mtu,
            Some(rtt) => {
                // On loopback and fast LANs rt_prop is tens of µs, shorter than the host's own
                // batching (GSO/GRO, the driver's 1 ms timer, scheduling) delays ACKs by; a
                // window of bw × rt_prop then starves the pipe. BBR's draft covers this with
                // an ack-aggregation allowance (§4.2.3.2, `extra_acked`); its simplest form is
                // a floor of one timer granularity. Paths of 1 ms and more are unaffected.
                let mut rtt = rtt.max(MIN_BDP_TIME);
                // In competitive mode the queue someone else keeps is part of our path: sized
                // for rt_prop alone, the window would cap ProbeBW's probes and freeze our share
                // (BBRv1's known starvation); sized for the RTT we actually see, probing works.
                if self.competitive {
                    rtt = rtt.max(self.last_round_min_rtt);
                }
                let bdp = self.bw() as f64 * rtt.as_secs_f64();
                (gain * bdp) as u64
            }
        }
    }

    /// `BBRInflight(gain)` plus the quantum headroom for delayed/aggregated ACKs (§4.2.3.2).
    fn target_inflight(&self, gain: f64) -> u64 {
        self.bdp(gain) + 3 * self.send_quantum()
    }

    fn send_quantum(&self) -> u64 {
        // §4.2.2: one packet below 1.2 Mbit/s, two below 24 Mbit/s, else ~1 ms, capped at 64 KB.
        // On a path whose RTT is itself about a millisecond, a 1 ms quantum is a whole BDP;
        // we cap it at an eighth of rt_prop's worth.
        let rate = self.pacing_rate;
        if rate < 150_000 {
            self.mtu
        } else if rate < 3_000_000 {
            2 * self.mtu
        } else {
            let horizon = self
                .rt_prop
                .map_or(0.001, |p| (p.as_secs_f64() / 8.0).min(0.001));
            ((rate as f64 * horizon) as u64).clamp(2 * self.mtu, 64 * 1024)
        }
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64: the phase choice needs no more than this.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn enter_probe_bw(&mut self, now: Instant) {
        self.state = State::ProbeBw;
        self.guard_armed_at = now;
        self.cwnd_gain = 2.0;
        // §4.3.3: start at a random phase other than the 0.75 drain phase.
        let r = (self.next_random() % 7) as usize;
        self.cycle_index = if r == 0 { 0 } else { r + 1 };
        self.pacing_gain = CYCLE[self.cycle_index];
        self.cycle_stamp = now;
    }

    fn update_round(&mut self, sample: &AckSample) {
        self.round_start = false;
        if let Some(rs) = &sample.rate
            && rs.prior_delivered >= self.next_round_delivered
        {
            self.next_round_delivered = sample.delivered;
            self.round_count += 1;
            self.round_start = true;
        }
    }

    fn update_btl_bw(&mut self, sample: &AckSample) {
        if let Some(rs) = &sample.rate {
            let rate = (rs.delivery_rate as f64 / self.loss_compensation) as u64;
            if rate >= self.btl_bw.get() || !rs.is_app_limited {
                self.btl_bw.update(self.round_count, rate);
            }
        }
    }

    fn check_cycle_phase(&mut self, now: Instant, sample: &AckSample, prior_in_flight: u64) {
        if self.state != State::ProbeBw {
            return;
        }
        let rt_prop = self.rt_prop.unwrap_or(Duration::from_millis(1));
        let full_length = now.saturating_duration_since(self.cycle_stamp) > rt_prop;
        let next = if self.pacing_gain > 1.0 {
            full_length
                && (sample.newly_lost > 0
                    || prior_in_flight >= self.target_inflight(self.pacing_gain))
        } else if self.pacing_gain < 1.0 {
            full_length || prior_in_flight <= self.target_inflight(1.0)
        } else {
            full_length
        };
        if next {
            self.cycle_index = (self.cycle_index + 1) % CYCLE.len();
            self.pacing_gain = CYCLE[self.cycle_index];
            self.cycle_stamp = now;
        }
    }

    fn check_full_pipe(&mut self, sample: &AckSample, rtt: &RttEstimator) {
        if self.filled_pipe {
            return;
        }
        // Like BBRv2's startup exit on loss, but only when the RTT says a queue is filling:
        // loss on an empty queue is random loss and must not end Startup early.
        if sample.newly_lost > 0 && self.queued(rtt.latest(), self.config.loss_guard_rtt_ratio) {
            self.filled_pipe = true;
            return;
        }
        // HyStart++'s delay-increase test (RFC 9406 §4.2): once a round has 8 RTT samples, a
        // minimum above last round's by η = clamp(min/8, 4 ms, 16 ms) means Startup's excess
        // rate is now queueing. It fires within a round of the queue forming, before a
        // 1-BDP buffer overflows; comparing with the previous round, not with rt_prop, keeps
        // a flow that starts behind another's queue from mistaking that queue for its own.
        if self.round_start {
            self.hs_prev_min = self.hs_cur_min;
            self.hs_cur_min = Duration::MAX;
            self.hs_samples = 0;
        }
        if sample.newly_acked > 0 {
            self.hs_cur_min = self.hs_cur_min.min(rtt.latest());
            self.hs_samples += 1;
        }
        if self.hs_samples >= 8 && self.hs_prev_min != Duration::MAX {
            let eta =
                (self.hs_prev_min / 8).clamp(Duration::from_millis(4), Duration::from_millis(16));
            if self.hs_cur_min >= self.hs_prev_min + eta {
                self.filled_pipe = true;
                return;
            }
        }
        if !self.round_start || sample.rate.is_some_and(|r| r.is_app_limited) {
            return;
        }
        // A whole round whose smallest RTT sits 25 % above rt_prop: Startup's excess rate is
        // queueing, so the pipe is full (the delay signal arrives a round before the loss).
        if self.round_count >= 3 && self.queued(self.round_min_rtt, 1.25) {
            self.filled_pipe = true;
            return;
        }
        let bw = self.bw();
        if bw as f64 >= self.full_bw as f64 * 1.25 {
            self.full_bw = bw;
            self.full_bw_count = 0;
            return;
        }
        self.full_bw_count += 1;
        if self.full_bw_count >= 3 {
            self.filled_pipe = true;
        }
    }

    fn check_drain(&mut self, now: Instant, in_flight: u64) {
        if self.state == State::Startup && self.filled_pipe {
            self.state = State::Drain;
            self.pacing_gain = 1.0 / HIGH_GAIN;
            self.cwnd_gain = HIGH_GAIN;
        }
        if self.state == State::Drain && in_flight <= self.target_inflight(1.0) {
            self.enter_probe_bw(now);
        }
    }

    fn update_rt_prop(&mut self, now: Instant, rtt: &RttEstimator, new_sample: bool) {
        self.rt_prop_expired = now > self.rt_prop_stamp + RT_PROP_FILTER;
        if !new_sample {
            return;
        }
        let latest = rtt.latest();
        if self.rt_prop.is_none_or(|p| latest <= p) || self.rt_prop_expired {
            self.rt_prop = Some(latest);
            self.rt_prop_stamp = now;
        }
    }

    fn check_probe_rtt(&mut self, now: Instant, sample: &AckSample) {
        if self.state != State::ProbeRtt && self.rt_prop_expired {
            self.state = State::ProbeRtt;
            self.pacing_gain = 1.0;
            self.cwnd_gain = 1.0;
            self.prior_cwnd = self.cwnd;
            self.probe_rtt_done = None;
        }
        if self.state != State::ProbeRtt {
            return;
        }
        let min_pipe = MIN_PIPE_CWND_PACKETS * self.mtu;
        match self.probe_rtt_done {
            None if sample.in_flight <= min_pipe => {
                self.probe_rtt_done = Some(now + PROBE_RTT_DURATION);
                self.probe_rtt_round_done = false;
                self.next_round_delivered = sample.delivered;
            }
            Some(done) => {
                if self.round_start {
                    self.probe_rtt_round_done = true;
                }
                if self.probe_rtt_round_done && now > done {
                    self.rt_prop_stamp = now;
                    self.cwnd = self.cwnd.max(self.prior_cwnd);
                    if self.filled_pipe {
                        self.enter_probe_bw(now);
                    } else {
                        self.state = State::Startup;
                        self.pacing_gain = HIGH_GAIN;
                        self.cwnd_gain = STARTUP_CWND_GAIN;
                    }
                }
            }
            None => {}
        }
    }

    /// The loss guard: see the module documentation.
    fn update_loss_guard(&mut self, now: Instant, sample: &AckSample, rtt: &RttEstimator) {
        if sample.newly_acked > 0 {
            self.round_min_rtt = self.round_min_rtt.min(rtt.latest());
        }
        if !self.round_start {
            return;
        }
        let delivered = sample.delivered - self.round_delivered_start;
        // Loss compensation for the next round's bandwidth samples (module doc, item 4).
        // A round with a standing queue may have lost to overflow: its losses say nothing
        // about the random loss rate, and it gets no compensation.
        // Strictly: without `QUEUE_SLACK`, so that on a 1 ms path a full 1-BDP buffer (which
        // doubles the RTT but adds only 1 ms) still counts as a queue here.
        let sent_any = delivered + self.round_lost;
        let queue = self
            .rt_prop
            .is_none_or(|p| self.round_min_rtt.as_secs_f64() >= 1.25 * p.as_secs_f64());
        if queue {
            self.loss_compensation = 1.0;
        } else {
            // Only ProbeBW's losses of packets sent since the loss guard was armed count
            // (`round_lost`): Startup's overflow, and the echo of one the guard reacted to,
            // would pass for random loss.
            if sent_any > 0 && self.state == State::ProbeBw {
                let p = self.round_lost as f64 / sent_any as f64;
                self.loss_rate_avg += (p - self.loss_rate_avg) / 8.0;
            }
            self.loss_compensation = 1.0 - self.loss_rate_avg.min(MAX_LOSS_COMPENSATION);
        }
        let total = delivered + self.round_lost;
        let loss_rate = if total == 0 {
            0.0
        } else {
            self.round_lost as f64 / total as f64
        };
        // A standing queue: even the round's smallest RTT sample sits well above rt_prop.
        let standing_queue = self.queued(self.round_min_rtt, self.config.loss_guard_rtt_ratio);
        let min_pipe = MIN_PIPE_CWND_PACKETS * self.mtu;
        if self.state == State::ProbeBw
            && !self.competitive
            && self.round_lost > 0
            && loss_rate >= self.config.loss_guard_rate
            && standing_queue
        {
            // Multiplicative decrease of the cap (BBRv2 beta = 0.7): the larger flow gives
            // back more, which is what makes competing flows converge.
            let base = sample.in_flight.max(self.cwnd.min(self.inflight_hi) / 2);
            self.inflight_hi = ((base.min(self.inflight_hi) as f64 * 0.7) as u64).max(min_pipe);
            self.probe_up_packets = 1;
            // One reaction per episode: losses of packets sent before now are its echo.
            self.guard_armed_at = now;
        } else if self.inflight_hi != u64::MAX {
            // Additive-then-doubling growth in absolute packets, the same for every flow
            // (BBRv2's ProbeBW_UP): equal growth plus proportional decrease converges.
            self.inflight_hi += self.probe_up_packets * self.mtu;
            self.probe_up_packets = (self.probe_up_packets * 2).min(1 << 16);
            if self.inflight_hi > 2 * self.target_inflight(2.0) {
                self.inflight_hi = u64::MAX;
            }
        }
        // The queue guard. A standing queue that survives `QUEUE_GUARD_ROUNDS` rounds of
        // ProbeBW means the flows sharing the bottleneck together pace faster than it drains
        // (each max filter keeps its own best probe), and BBRv1 alone would sit there,
        // window-limited, with shares frozen. We then re-aim the rate as FAST TCP aims its
        // window (Wei et al., 2006): toward the rate at which this flow keeps only
        // `QUEUE_GUARD_ALPHA` bytes of its own in the queue,
        //     rate ← (1 − γ)·rate + γ·(rate·rt_prop + α) / rtt,
        // with `rate` what we delivered over the round and `rtt` the round's smallest RTT.
        // Every flow aims at the same α, so at equilibrium all hold equal shares of the queue,
        // hence equal shares of the link; and the queue itself shrinks to a few packets.
        let standing = self.queued(self.round_min_rtt, 1.25);
        let round_time = now.saturating_duration_since(self.round_start_time);
        let round_rate = if round_time.is_zero() {
            0.0
        } else {
            delivered as f64 / round_time.as_secs_f64()
        };
        let queue_delay = self
            .round_min_rtt
            .saturating_sub(self.rt_prop.unwrap_or(self.round_min_rtt));
        if self.state == State::ProbeBw && standing {
            self.standing_rounds += 1;
            self.queue_rounds += 1;
        } else {
            // The queue is gone: lift the cap and let ProbeBW probe again.
            self.standing_rounds = 0;
            self.bw_lo = u64::MAX;
            self.queue_rounds = 0;
            self.competitive = false;
        }
        // Competitive mode (module doc, item 5): for `COMPETE_ROUNDS` rounds the guards have
        // acted and the queue still stands, holding more of our bytes than the queue guard's
        // own aim could explain away as small: someone who does not yield to delay holds it,
        // and yielding further would only hand them the link. (The second test keeps out a
        // flow alone on a path whose BDP is below the minimum window, where the few packets
        // the floor keeps queued are a "standing queue" nobody can drain.)
        let own_queue_bytes = queue_delay.as_secs_f64() * round_rate;
        if !self.competitive
            && self.queue_rounds >= COMPETE_ROUNDS
            && own_queue_bytes >= (QUEUE_GUARD_ALPHA_PACKETS * self.mtu) as f64 / 2.0
        {
            self.competitive = true;
            self.bw_lo = u64::MAX;
            self.inflight_hi = u64::MAX;
        }
        if !self.competitive
            && self.standing_rounds >= QUEUE_GUARD_ROUNDS
            && !round_time.is_zero()
            && let Some(rt_prop) = self.rt_prop
        {
            let rate = round_rate;
            let rtt = self.round_min_rtt.as_secs_f64();
            let alpha = (QUEUE_GUARD_ALPHA_PACKETS * self.mtu) as f64;
            let aim = (rate * rt_prop.as_secs_f64() + alpha) / rtt;
            let new = ((1.0 - QUEUE_GUARD_GAIN) * rate + QUEUE_GUARD_GAIN * aim) as u64;
            if new > 0 && new < self.bw() {
                self.bw_lo = new;
                // Forget the probes that built the queue, or lifting the cap would restore
                // the old shares.
                self.btl_bw = MaxFilter::default();
                self.btl_bw.update(self.round_count, new);
            }
            self.standing_rounds = 0;
        }
        self.round_start_time = now;
        self.round_lost = 0;
        if self.round_min_rtt != Duration::MAX {
            self.last_round_min_rtt = self.round_min_rtt;
        }
        self.round_min_rtt = Duration::MAX;
        self.round_delivered_start = sample.delivered;
    }

    fn set_pacing_rate(&mut self) {
        let bw = self.bw();
        if bw == 0 {
            return;
        }
        let rate = (self.pacing_gain * bw as f64) as u64;
        // §4.2.1: during Startup only ever raise the rate.
        if self.filled_pipe || rate > self.pacing_rate {
            self.pacing_rate = rate;
        }
    }

    fn set_cwnd(&mut self, sample: &AckSample) {
        let target = self.target_inflight(self.cwnd_gain);
        let acked = sample.newly_acked;
        if self.filled_pipe {
            self.cwnd = (self.cwnd + acked).min(target);
        } else if self.cwnd < target
            || sample.delivered < self.config.initial_window_packets * self.mtu
        {
            self.cwnd += acked;
        }
        self.cwnd = self.cwnd.max(MIN_PIPE_CWND_PACKETS * self.mtu);
        if self.state == State::ProbeRtt {
            self.cwnd = self.cwnd.min(MIN_PIPE_CWND_PACKETS * self.mtu);
        }
    }
}

impl Controller for Bbr {
    fn on_ack(&mut self, now: Instant, sample: &AckSample, rtt: &RttEstimator) {
        let prior_in_flight = sample.in_flight + sample.newly_acked + sample.newly_lost;
        if self.pacing_rate == 0 && rtt.has_sample() {
            // §4.2.1 BBRInitPacingRate: high gain × initial window / RTT.
            let srtt = rtt.smoothed().as_secs_f64().max(1e-6);
            self.pacing_rate = (HIGH_GAIN * self.cwnd as f64 / srtt) as u64;
        }
        self.update_round(sample);
        self.update_btl_bw(sample);
        self.check_cycle_phase(now, sample, prior_in_flight);
        self.check_full_pipe(sample, rtt);
        self.check_drain(now, sample.in_flight);
        self.update_rt_prop(now, rtt, sample.newly_acked > 0);
        self.check_probe_rtt(now, sample);
        self.update_loss_guard(now, sample, rtt);
        self.set_pacing_rate();
        self.set_cwnd(sample);
    }

    fn on_congestion_event(&mut self, _now: Instant, sent: Instant, lost: u64, _persistent: bool) {
        // A lost packet on its own says nothing about congestion; the loss guard weighs the
        // losses of packets sent since it was armed (entering ProbeBW, or its last reaction).
        if self.state == State::ProbeBw && sent > self.guard_armed_at {
            self.round_lost += lost;
        }
    }

    fn window(&self) -> u64 {
        self.cwnd.min(self.inflight_hi)
    }

    fn pacing_rate(&self, rtt: &RttEstimator) -> Option<u64> {
        if self.pacing_rate == 0 {
            // Before the first RTT sample the initial window may leave as a burst (as TCP and
            // QUIC send theirs): pacing it over the 333 ms default RTT would waste a round.
            let _ = rtt;
            return None;
        }
        Some(self.pacing_rate)
    }

    fn bandwidth_estimate(&self) -> Option<u64> {
        Some(self.bw())
    }

    fn name(&self) -> &'static str {
        "bbr"
    }
}
