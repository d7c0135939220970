//! The performance claims, checked in virtual time: goodput, fairness, queueing, window
//! growth on a long fat path, and robustness to reordering.

mod common;

use common::*;
use rudp::Config;
use std::time::Duration;

const MBIT100: &str = "rate=100mbit,rtt=50ms,queue=1bdp";

/// Runs one flow to the end; returns the simulation and the mean bottleneck queue (bytes) up
/// to the receiver's completion.
fn bulk(spec: &str, size: u64, seed: u64) -> (Sim, f64) {
    let mut sim = Sim::symmetric(spec, seed);
    sim.add_flow(FlowSpec::new(size, Config::default()));
    sim.run_until(Duration::from_secs(120), |s| {
        s.flows[0].receiver_done.is_some()
    });
    let mean_queue = sim.fwd.mean_queue_bytes(sim.now);
    sim.run(Duration::from_secs(120));
    (sim, mean_queue)
}

fn report(name: &str, (sim, mean_queue): &(Sim, f64), link_bps: f64) -> f64 {
    let f = &sim.flows[0];
    f.assert_exact(name);
    let goodput = f.goodput_bps().unwrap() / link_bps;
    let st = f.sender().stats();
    eprintln!(
        "{name}: goodput {:.1}% of link, sent/delivered {:.3}, lost {}, spurious {}, mean queue {:.0} B (max {}), srtt {:?}",
        goodput * 100.0,
        st.data_bytes_sent as f64 / f.spec.size as f64,
        st.packets_lost,
        st.spurious_losses,
        mean_queue,
        sim.fwd.stats().max_queue_bytes,
        st.smoothed_rtt,
    );
    goodput
}

#[test]
fn goodput_100mbit_50ms_clean_and_queue_stays_short() {
    let run = bulk(MBIT100, 64 << 20, 1);
    let g = report("100mbit 0%", &run, 100e6);
    assert!(g >= 0.90, "goodput {g}");
    let buffer = 625_000.0;
    let mean_queue = run.1;
    assert!(
        mean_queue < buffer / 2.0,
        "mean queue {mean_queue} B of {buffer}"
    );
}

#[test]
fn goodput_100mbit_50ms_one_percent_loss() {
    for seed in 1..3 {
        let run = bulk(&format!("{MBIT100},loss=1%"), 64 << 20, seed);
        let g = report("100mbit 1%", &run, 100e6);
        assert!(g >= 0.85, "goodput {g}");
    }
}

/// Random loss after the bottleneck must not leave the link idle: the bandwidth samples are
/// compensated for it (module doc of `congestion::bbr`, item 4). Without the compensation
/// (`MAX_LOSS_COMPENSATION = 0`) seed 1 reaches 81.9 %; with it, 84.1 %.
#[test]
fn goodput_100mbit_50ms_five_percent_loss_is_compensated() {
    for seed in 1..3 {
        let run = bulk(&format!("{MBIT100},loss=5%"), 64 << 20, seed);
        let g = report("100mbit 5%", &run, 100e6);
        assert!(g >= 0.83, "goodput {g}");
        let sent = run.0.flows[0].sender().stats().data_bytes_sent as f64 / (64 << 20) as f64;
        assert!(
            sent < 1.06,
            "sent/delivered {sent}: more than the loss accounts for"
        );
    }
}

/// The compensation must not mistake overflow for random loss where a full buffer adds less
/// than the queue test's slack (a 1 ms path): lossless, nothing may be resent beyond the
/// overflow of Startup. (A first draft that also counted Startup's losses resent 25 % on this
/// path in `sim_matrix`.)
#[test]
fn overflow_on_a_1ms_gigabit_path_is_not_compensated() {
    let run = bulk("rate=1gbit,rtt=1ms,queue=1bdp", 256 << 20, 1);
    let g = report("1gbit 1ms 0%", &run, 1e9);
    assert!(g >= 0.90, "goodput {g}");
    let sent = run.0.flows[0].sender().stats().data_bytes_sent as f64 / (256 << 20) as f64;
    assert!(sent < 1.01, "sent/delivered {sent}");
}

/// Two flows, the second joining 0.3 s, 1 s or 3 s after the first; Jain's index of their
/// goodputs over the last two seconds of the first ten.
#[test]
fn two_flows_share_fairly() {
    for start_ms in [300, 1000, 3000] {
        let mut sim = Sim::symmetric(MBIT100, 7);
        let mut a = FlowSpec::new(1 << 40, Config::default());
        a.seed = 1;
        let mut b = a.clone();
        b.seed = 2;
        b.start = Duration::from_millis(start_ms);
        sim.add_flow(a);
        sim.add_flow(b);
        let mut marks = Vec::new();
        for t in [8u64, 10] {
            sim.run_until(Duration::from_secs(t), |_| false);
            marks.push([sim.flows[0].received(), sim.flows[1].received()]);
        }
        let rates: Vec<f64> = (0..2)
            .map(|i| (marks[1][i] - marks[0][i]) as f64 * 8.0 / 2.0)
            .collect();
        let j = jain(&rates);
        eprintln!(
            "second flow at {start_ms} ms: rates {:.1} / {:.1} Mbit/s, Jain {j:.3}, mean queue {:.0} B",
            rates[0] / 1e6,
            rates[1] / 1e6,
            sim.fwd.mean_queue_bytes(sim.now)
        );
        assert!(j >= 0.9, "Jain {j}");
        assert!(
            rates.iter().sum::<f64>() > 0.8 * 100e6,
            "link underused: {rates:?}"
        );
    }
}

#[test]
fn gigabit_200ms_fills_within_10s() {
    let mut sim = Sim::symmetric("rate=1gbit,rtt=200ms,queue=1bdp", 3);
    sim.add_flow(FlowSpec::new(1 << 40, Config::default()));
    // Goodput over a sliding 1 s window, checked every 100 ms.
    let mut history = vec![(Duration::ZERO, 0u64)];
    let mut reached = None;
    for step in 1..=100u64 {
        let t = Duration::from_millis(100 * step);
        sim.run_until(t, |_| false);
        let got = sim.flows[0].received();
        history.push((t, got));
        if step >= 10 {
            let (t0, b0) = history[history.len() - 11];
            let rate = (got - b0) as f64 * 8.0 / (t - t0).as_secs_f64();
            if rate >= 0.8e9 {
                reached = Some((t, rate));
                break;
            }
        }
    }
    let st = sim.flows[0].sender().stats();
    let rx = sim.flows[0].receiver().stats();
    // ACK frequency: the receiver acknowledges a slice of the window at a time, not every
    // other packet (RFC 9000's default would be one ACK per two packets).
    eprintln!(
        "acks: {} for {} data packets",
        rx.acks_sent, rx.packets_received
    );
    assert!(rx.acks_sent * 8 < rx.packets_received, "too many ACKs");
    eprintln!(
        "1gbit×200ms: reached {reached:?}, cwnd {} B, bw {} B/s, srtt {:?}",
        st.cwnd, st.bandwidth_estimate, st.smoothed_rtt
    );
    let (t, _) = reached.expect("never reached 80% of 1 Gbit/s within 10 s");
    assert!(t <= Duration::from_secs(10));
}

#[test]
fn reordering_within_a_quarter_rtt_is_not_loss() {
    for seed in 1..3 {
        let run = bulk(
            &format!("{MBIT100},reorder=5%,reorder_delay=12ms"),
            16 << 20,
            seed,
        );
        report("reorder 5% by rtt/4", &run, 100e6);
        let st = run.0.flows[0].sender().stats();
        let ratio = st.spurious_losses as f64 / st.packets_sent as f64;
        assert!(
            ratio < 0.01,
            "spurious {} of {} packets",
            st.spurious_losses,
            st.packets_sent
        );
    }
}

/// confab against a loss-based flow (NewReno, which fills the buffer until it overflows)
/// through a lossless 1-BDP bottleneck: shares over seconds 20–30.
fn against_new_reno(seed: u64) -> (f64, f64) {
    let mut sim = Sim::symmetric(MBIT100, seed);
    let mut a = FlowSpec::new(1 << 40, Config::default());
    a.seed = 1;
    let mut b = FlowSpec::new(1 << 40, Config::new_reno());
    b.seed = 2;
    b.start = Duration::from_millis(500);
    sim.add_flow(a);
    sim.add_flow(b);
    let mut marks = Vec::new();
    for t in [20u64, 30] {
        sim.run_until(Duration::from_secs(t), |_| false);
        marks.push([sim.flows[0].received(), sim.flows[1].received()]);
    }
    let rate = |i: usize| (marks[1][i] - marks[0][i]) as f64 * 8.0 / 10.0;
    (rate(0), rate(1))
}

/// Competitive mode (module doc of `congestion::bbr`, item 5): without it confab yields to the
/// queue NewReno keeps and gets 25 of 100 Mbit/s (Jain 0.816); with it, an even split.
#[test]
fn holds_its_own_against_a_buffer_filling_flow() {
    let (confab, reno) = against_new_reno(7);
    let j = jain(&[confab, reno]);
    eprintln!(
        "confab {:.1} Mbit/s, NewReno {:.1} Mbit/s, Jain {j:.3}",
        confab / 1e6,
        reno / 1e6
    );
    assert!(j >= 0.9, "Jain {j}");
    assert!(confab + reno > 0.8 * 100e6, "link underused");
}
