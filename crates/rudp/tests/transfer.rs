//! End-to-end transfers through the simulated network: correctness under impairments.

mod common;

use common::*;
use rudp::{Config, RangeSet};
use std::time::Duration;

const LINK: &str = "rate=20mbit,rtt=20ms,queue=1bdp";

fn scenarios() -> Vec<(&'static str, String)> {
    vec![
        ("clean", LINK.to_string()),
        ("loss 1%", format!("{LINK},loss=1%")),
        ("loss 5%", format!("{LINK},loss=5%")),
        ("loss 10%", format!("{LINK},loss=10%")),
        ("loss 30%", format!("{LINK},loss=30%")),
        ("burst", format!("{LINK},burst=1%:30%:80%")),
        (
            "reorder",
            format!("{LINK},reorder=10%,reorder_delay=5ms,jitter=2ms"),
        ),
        ("duplicate", format!("{LINK},duplicate=10%")),
        ("corrupt", format!("{LINK},corrupt=10%")),
    ]
}

fn run_one(size: u64, spec: &str, seed: u64, direction: Direction, config: Config) -> Sim {
    let mut sim = Sim::symmetric(spec, seed);
    let mut f = FlowSpec::new(size, config);
    f.seed = seed;
    f.direction = direction;
    sim.add_flow(f);
    sim.run(Duration::from_secs(300));
    sim
}

#[test]
fn exact_delivery_across_sizes_and_impairments() {
    let sizes = [0u64, 1, 1451, 1452, 1453, 1 << 20];
    for (name, spec) in scenarios() {
        for &size in &sizes {
            let seeds = if size == 1 << 20 { 6 } else { 12 };
            for seed in 0..seeds {
                let dir = if seed % 2 == 0 {
                    Direction::Download
                } else {
                    Direction::Upload
                };
                let sim = run_one(size, &spec, seed, dir, Config::default());
                let f = &sim.flows[0];
                f.assert_exact(&format!("{name} size {size} seed {seed} {dir:?}"));
                assert!(f.sender().is_drained() && f.receiver().is_drained());
                if name == "corrupt" && size == 1 << 20 {
                    let dropped =
                        f.sender().stats().dropped_auth + f.receiver().stats().dropped_auth;
                    assert!(dropped > 0, "corruption must be seen and dropped");
                }
            }
        }
    }
}

#[test]
fn other_modes_deliver_exactly() {
    for (mode, config) in [
        ("newreno", Config::new_reno()),
        ("stop-and-wait", Config::stop_and_wait()),
    ] {
        for spec in [
            format!("{LINK},loss=5%"),
            format!("{LINK},reorder=5%,reorder_delay=5ms,duplicate=5%,corrupt=5%"),
        ] {
            for seed in 0..2 {
                let size = if mode == "stop-and-wait" {
                    100_000
                } else {
                    1 << 20
                };
                let sim = run_one(size, &spec, seed, Direction::Download, config.clone());
                sim.flows[0].assert_exact(&format!("{mode} {spec} seed {seed}"));
            }
        }
    }
}

#[test]
fn datagram_size_1200_works() {
    let config = Config {
        max_datagram_size: 1200,
        ..Config::default()
    };
    for seed in 0..3 {
        let mut sim = Sim::symmetric(&format!("{LINK},loss=2%,mtu=1228"), seed);
        sim.capture_limit = 10_000;
        sim.add_flow(FlowSpec::new(1 << 20, config.clone()));
        assert!(sim.run(Duration::from_secs(60)));
        sim.flows[0].assert_exact("1200");
        assert!(sim.captured.iter().all(|d| d.len() <= 1200));
        assert!(sim.fwd.stats().fragmented.packets == 0);
    }
}

#[test]
fn offsets_past_4_gib() {
    // A 4 GiB + 1 MiB file of which the receiver already holds everything below
    // 4 GiB − 1 MiB: the transfer crosses the 2^32 boundary without allocating the file.
    let size = (4u64 << 30) + (1 << 20) + 7;
    let held = (4u64 << 30) - (1 << 20);
    for seed in 0..3 {
        let mut sim = Sim::symmetric(&format!("{LINK},loss=5%"), seed);
        let mut f = FlowSpec::new(size, Config::default());
        f.seed = seed;
        f.have = RangeSet::from_ranges(std::iter::once(0..held));
        f.direction = if seed == 1 {
            Direction::Upload
        } else {
            Direction::Download
        };
        sim.add_flow(f);
        assert!(sim.run(Duration::from_secs(60)));
        let f = &sim.flows[0];
        f.assert_exact("past 4 GiB");
        let st = f.sender().stats();
        assert_eq!(st.data_bytes_acked + st.bytes_resumed, size);
        assert!(f.sink.lock().unwrap().written.max().unwrap() > 1 << 32);
    }
}

#[test]
fn resume_sends_only_missing_ranges() {
    let size = 4u64 << 20;
    let have = RangeSet::from_ranges([
        0..1 << 20,
        2 << 20..(2 << 20) + 500_000,
        3 << 20..(3 << 20) + 100,
        size - 1..size,
    ]);
    let missing = size - have.total_len();
    for direction in [Direction::Download, Direction::Upload] {
        let mut sim = Sim::symmetric(LINK, 3);
        let mut f = FlowSpec::new(size, Config::default());
        f.have = have.clone();
        f.direction = direction;
        sim.add_flow(f);
        assert!(sim.run(Duration::from_secs(60)));
        let f = &sim.flows[0];
        f.assert_exact("resume");
        let st = f.sender().stats();
        // Not one held byte is sent: first transmissions cover exactly the missing bytes
        // (retransmissions after queue drops come on top).
        assert_eq!(
            st.data_bytes_sent - st.data_bytes_retransmitted,
            missing,
            "{direction:?}"
        );
        assert_eq!(st.bytes_resumed, have.total_len());
    }
}

#[test]
fn silent_peer_fails_within_bounded_time() {
    let idle = Duration::from_secs(3);
    let config = Config {
        idle_timeout: idle,
        ..Config::default()
    };
    // (a) Nobody ever answers the client.
    for direction in [Direction::Download, Direction::Upload] {
        let mut sim = Sim::symmetric(LINK, 1);
        sim.blackout_from = Some(sim.start);
        let mut f = FlowSpec::new(1 << 20, config.clone());
        f.direction = direction;
        sim.add_flow(f);
        sim.run(Duration::from_secs(60));
        let f = &sim.flows[0];
        let client_failed = match direction {
            Direction::Download => &f.receiver_failed,
            Direction::Upload => &f.sender_failed,
        };
        let (at, err) = client_failed.as_ref().expect("client must fail");
        assert!(matches!(err, rudp::Error::TimedOut), "{err}");
        assert!(
            *at - sim.start <= idle + Duration::from_millis(1),
            "failed after {:?}",
            *at - sim.start
        );
    }
    // (b) The path dies mid-transfer: both ends fail, neither hangs.
    let mut sim = Sim::symmetric(LINK, 2);
    sim.add_flow(FlowSpec::new(64 << 20, config));
    sim.run_until(Duration::from_secs(60), |s| s.flows[0].received() > 1 << 20);
    let dark = sim.now;
    sim.blackout_from = Some(dark);
    sim.run(Duration::from_secs(60));
    let f = &sim.flows[0];
    for (who, failed) in [
        ("sender", &f.sender_failed),
        ("receiver", &f.receiver_failed),
    ] {
        let (at, err) = failed.as_ref().unwrap_or_else(|| panic!("{who} must fail"));
        assert!(matches!(err, rudp::Error::TimedOut), "{who}: {err}");
        assert!(
            *at - dark <= idle + Duration::from_millis(1),
            "{who} failed after {:?}",
            *at - dark
        );
    }
    assert!(f.sender().is_drained() && f.receiver().is_drained());
}

#[test]
fn cancel_by_either_side_reaches_the_peer() {
    for cancel_receiver in [false, true] {
        let mut sim = Sim::symmetric(LINK, 4);
        sim.add_flow(FlowSpec::new(64 << 20, Config::default()));
        sim.run_until(Duration::from_secs(60), |s| s.flows[0].received() > 1 << 20);
        let now = sim.now;
        let f = &mut sim.flows[0];
        let c = if cancel_receiver {
            f.receiver.as_mut()
        } else {
            f.sender.as_mut()
        };
        c.unwrap()
            .close(now, rudp::code::CANCELLED, b"user cancelled");
        sim.run(Duration::from_secs(60));
        let f = &sim.flows[0];
        let peer_failed = if cancel_receiver {
            &f.sender_failed
        } else {
            &f.receiver_failed
        };
        match peer_failed {
            Some((_, rudp::Error::PeerClosed { code, reason })) => {
                assert_eq!(*code, rudp::code::CANCELLED);
                assert_eq!(reason, "user cancelled");
            }
            other => panic!("peer saw {other:?}"),
        }
        assert!(f.sender().is_drained() && f.receiver().is_drained());
    }
}

#[test]
fn flow_control_bounds_the_sender() {
    // A 64 KiB receive window on a 100 Mbit/s, 50 ms path: the window, not the link, sets the
    // pace (≈ 64 KiB per RTT), and the receiver (which treats DATA past its advertised limit
    // as a protocol violation) never sees the sender overrun it.
    let window = 64 * 1024;
    let config = Config {
        receive_window: window,
        ..Config::default()
    };
    for direction in [Direction::Download, Direction::Upload] {
        let mut sim = Sim::symmetric("rate=100mbit,rtt=50ms,queue=1bdp,loss=1%", 8);
        let mut f = FlowSpec::new(4 << 20, config.clone());
        f.direction = direction;
        sim.add_flow(f);
        assert!(sim.run(Duration::from_secs(60)));
        let f = &sim.flows[0];
        f.assert_exact("small window");
        let took = f.receiver_done.unwrap() - f.first_send.unwrap();
        let floor = (4 << 20) as f64 / (window as f64 / 0.05);
        assert!(
            took.as_secs_f64() >= 0.8 * floor,
            "{direction:?}: {took:?} < {floor} s: window ignored?"
        );
    }
}

#[test]
fn stop_and_wait_reproduces_the_old_system() {
    // One 2048-byte datagram per round trip, IP-fragmented on a 1500-byte path: at 50 ms that
    // is ~40 KB/s whatever the link rate.
    let mut sim = Sim::symmetric("rate=100mbit,rtt=50ms,queue=1bdp", 1);
    sim.add_flow(FlowSpec::new(200_000, Config::stop_and_wait()));
    assert!(sim.run(Duration::from_secs(120)));
    let f = &sim.flows[0];
    f.assert_exact("stop-and-wait");
    let took = (f.receiver_done.unwrap() - f.first_send.unwrap()).as_secs_f64();
    let per_packet: f64 = 2048.0 - 30.0 - 5.0;
    let expected = (200_000.0 / per_packet).ceil() * 0.05;
    assert!(
        took > 0.95 * expected && took < 1.1 * expected,
        "{took} s, expected ≈ {expected} s"
    );
    assert!(
        sim.fwd.stats().fragmented.packets > 0,
        "2048-byte datagrams must fragment"
    );
    assert_eq!(f.sender().stats().packets_lost, 0);
}
