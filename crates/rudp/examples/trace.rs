//! Prints a timeline of one simulated transfer: `cargo run --example trace -- SPEC [MiB] [bbr|newreno|saw]`.
#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use rudp::Config;
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let spec = args
        .get(1)
        .map_or("rate=100mbit,rtt=50ms,queue=1bdp", |s| s.as_str());
    // Size in MiB, or in bytes with a `b` suffix.
    let size: u64 = match args.get(2) {
        Some(s) if s.ends_with('b') => s.trim_end_matches('b').parse().unwrap_or(64 << 20),
        Some(s) => s.parse::<u64>().map_or(64 << 20, |m| m << 20),
        None => 64 << 20,
    };
    let config = match args.get(3).map(|s| s.as_str()) {
        Some("newreno") => Config::new_reno(),
        Some("saw") => Config::stop_and_wait(),
        _ => Config::default(),
    };
    let flows: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(1);
    let seed: u64 = args.get(5).and_then(|s| s.parse().ok()).unwrap_or(1);
    let mut sim = Sim::symmetric(spec, seed);
    for i in 0..flows {
        let mut f = FlowSpec::new(size, config.clone());
        f.seed = i as u64 + 1;
        f.start = Duration::from_secs(i as u64);
        sim.add_flow(f);
    }
    let mut last = vec![0u64; flows];
    for step in 1..=600u64 {
        let t = Duration::from_millis(100 * step);
        let done = sim.run_until(t, |s| s.flows.iter().all(|f| f.receiver_done.is_some()));
        for (i, f) in sim.flows.iter().enumerate() {
            let Some(r) = &f.receiver else { continue };
            let got = r.ranges().total_len();
            let st = f.sender().stats();
            let cc = f.sender().congestion_state();
            let cc: String = cc.chars().take(400).collect();
            if std::env::var("TRACE_STATS").is_ok() {
                let rs = r.stats();
                println!(
                    "      ptos {} lost {} spurious {} sent {} acks_rx {} dgrams {} dup {} auth {} | rx: pkts {} dup {} auth {} acks_sent {}",
                    st.ptos,
                    st.packets_lost,
                    st.spurious_losses,
                    st.packets_sent,
                    st.packets_received,
                    st.datagrams_received,
                    st.duplicates,
                    st.dropped_auth,
                    rs.packets_received,
                    rs.duplicates,
                    rs.dropped_auth,
                    rs.acks_sent
                );
                let fs = sim.fwd.stats();
                println!(
                    "      fwd: offered {} delivered {} lost {} burst {} queue-drop {} | rx dgrams {} events {:?} fail {:?}",
                    fs.offered.packets,
                    fs.delivered.packets,
                    fs.lost.packets,
                    fs.lost_burst.packets,
                    fs.dropped_queue.packets,
                    rs.datagrams_received,
                    f.receiver_events,
                    f.receiver_failed.as_ref().map(|e| e.1.to_string())
                );
            }
            println!(
                "{:>5.1}s f{i} {:>7.1} Mbit/s q {:>7} srtt {:>6.1?} cwnd {:>9} infl {:>9} lost {:>6} | {cc}",
                t.as_secs_f64(),
                (got - last[i]) as f64 * 8.0 / 0.1 / 1e6,
                sim.fwd.queue_bytes(sim.now),
                st.smoothed_rtt,
                st.cwnd,
                st.bytes_in_flight,
                st.packets_lost,
            );
            last[i] = got;
        }
        if done {
            break;
        }
    }
}
