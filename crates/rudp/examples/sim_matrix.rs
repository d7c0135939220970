//! The benchmark table: `cargo run --release -p rudp --example sim_matrix [quick]`.
//!
//! One row per scenario (rate × RTT × loss, queue = 1 BDP but at least 16 packets, the same
//! impairment both ways), with BBR (default), NewReno and stop-and-wait side by side. Each run
//! moves `rate × (4 s + 20 RTT)` of file and is capped at 30 s of virtual time (stop-and-wait never gets
//! far: the table reports what it reached). Columns per controller:
//! goodput as % of the link rate (file bytes ÷ time from first packet to completion, or to the
//! cap), file bytes sent ÷ file bytes delivered, spurious retransmissions, and the mean
//! bottleneck queue as % of the buffer.
#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use rudp::Config;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Clone, Copy)]
struct Scenario {
    rate_mbit: u64,
    rtt_ms: u64,
    loss: &'static str,
}

struct Outcome {
    goodput: f64,
    overhead: f64,
    spurious: u64,
    queue: f64,
    complete: bool,
}

fn run(sc: Scenario, mode: &str) -> Outcome {
    let rate = sc.rate_mbit * 1_000_000;
    let bdp = (rate / 8) * sc.rtt_ms / 1000;
    let queue = bdp.max(16 * 1500);
    let loss = match sc.loss {
        "burst" => "burst=gilbert".to_string(),
        l => format!("loss={l}%"),
    };
    let spec = format!(
        "rate={}mbit,rtt={}ms,queue={queue},{loss}",
        sc.rate_mbit, sc.rtt_ms
    );
    let config = match mode {
        "newreno" => Config::new_reno(),
        "saw" => Config::stop_and_wait(),
        _ => Config::default(),
    };
    // Four seconds of data plus twenty round trips, so long paths are not all startup.
    let size = rate / 8 * (4000 + 20 * sc.rtt_ms) / 1000;
    let mut sim = Sim::symmetric(&spec, 1);
    sim.add_flow(FlowSpec::new(size, config));
    let cap = Duration::from_secs(30);
    sim.run_until(cap, |s| s.flows[0].receiver_done.is_some());
    let f = &sim.flows[0];
    let r = f.receiver().stats();
    let s = f.sender().stats();
    let end = f.receiver_done.unwrap_or(sim.now);
    let elapsed = end - f.first_send.unwrap_or(sim.start);
    let delivered = r.data_bytes_received;
    Outcome {
        goodput: delivered as f64 * 8.0 / elapsed.as_secs_f64() / rate as f64 * 100.0,
        overhead: s.data_bytes_sent as f64 / delivered.max(1) as f64,
        spurious: s.spurious_losses,
        queue: sim.fwd.mean_queue_bytes(end) / queue as f64 * 100.0,
        complete: f.receiver_done.is_some(),
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    let rates: &[u64] = if quick { &[100] } else { &[10, 100, 1000] };
    let rtts: &[u64] = if quick { &[50] } else { &[1, 20, 50, 200] };
    let losses = ["0", "0.1", "1", "5", "10", "burst"];
    let mut scenarios = Vec::new();
    for &rate_mbit in rates {
        for &rtt_ms in rtts {
            for loss in losses {
                scenarios.push(Scenario {
                    rate_mbit,
                    rtt_ms,
                    loss,
                });
            }
        }
    }
    let started = std::time::Instant::now();
    let results: Mutex<Vec<Option<[Outcome; 3]>>> =
        Mutex::new((0..scenarios.len()).map(|_| None).collect());
    let next = Mutex::new(0usize);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                loop {
                    let i = {
                        let mut n = next.lock().unwrap();
                        let i = *n;
                        *n += 1;
                        i
                    };
                    let Some(&sc) = scenarios.get(i) else { break };
                    let out = [run(sc, "bbr"), run(sc, "newreno"), run(sc, "saw")];
                    results.lock().unwrap()[i] = Some(out);
                }
            });
        }
    });
    println!(
        "| rate | RTT | loss | BBR goodput | sent/dlv | spur | queue | NewReno goodput | sent/dlv | spur | queue | S&W goodput | sent/dlv | spur | queue |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (sc, out) in scenarios.iter().zip(results.into_inner().unwrap()) {
        let out = out.unwrap();
        let mut row = format!(
            "| {} Mbit/s | {} ms | {}{} |",
            sc.rate_mbit,
            sc.rtt_ms,
            sc.loss,
            if sc.loss == "burst" { "" } else { "%" }
        );
        for o in &out {
            row += &format!(
                " {:.1}%{} | {:.3} | {} | {:.0}% |",
                o.goodput,
                if o.complete { "" } else { "*" },
                o.overhead,
                o.spurious,
                o.queue
            );
        }
        println!("{row}");
    }
    println!(
        "\n`*`: not complete at the 30 s virtual-time cap (goodput over the time run). Wall time {:.1?}.",
        started.elapsed()
    );
}
