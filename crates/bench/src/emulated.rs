//! Runs through the link emulator (`transfer --link`, `--fairness`): calibration first, then
//! each peer on a fresh copy of the link, with the emulator's own counters attached to every
//! result; or the fairness run (confab and TCP at once).

use crate::TransferArgs;
use crate::emu::{ADDR_A, ADDR_B, Emulator};
use crate::peer::PeerKind;
use crate::report::{self, LinkMeasure, PeerResult};
use crate::run::{self, Launcher, Place, Plan, RunOutcome};
use crate::size::ByteSize;
use anyhow::Context;
use netsim::LinkConfig;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, UdpSocket};
use std::time::{Duration, Instant};

/// The fairness run's link when `--link` is not given.
pub(crate) const FAIRNESS_LINK: &str = "rate=100mbit,rtt=50ms,queue=1bdp";
/// How long the calibration's TCP transfer keeps the link busy, seconds of its rate.
const CALIBRATION_SECONDS: f64 = 5.0;
/// Pings the calibration sends.
const PINGS: usize = 20;
/// Seconds of the link's rate a run moves when `--size` is not given.
const DEFAULT_LINK_SECONDS: f64 = 4.0;
/// Size when the link has no rate cap.
const UNCAPPED_SIZE: u64 = 256 << 20;
/// The most TCP payload a 1500-byte packet carries (20 IP + 20 TCP + 12 timestamp option).
pub(crate) const TCP_PAYLOAD_SHARE: f64 = 1448.0 / 1500.0;

/// The emulator itself, measured on the lossless version of the link.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Calibration {
    /// The link as configured (with its loss).
    pub(crate) link: String,
    /// Configured round-trip time (twice the one-way delay), ms.
    pub(crate) configured_rtt_ms: f64,
    /// Smallest measured UDP ping round trip, ms.
    pub(crate) rtt_min_ms: f64,
    /// Median measured UDP ping round trip, ms.
    pub(crate) rtt_median_ms: f64,
    /// Configured rate, Mbit/s (null: uncapped).
    pub(crate) rate_mbit: Option<f64>,
    /// TCP's goodput on the lossless link, Mbit/s.
    pub(crate) tcp_mbit_per_s: f64,
    /// TCP's goodput ÷ the rate TCP payload can reach on it (rate × 1448/1500).
    pub(crate) tcp_of_payload_ceiling: Option<f64>,
    /// Whether the TCP transfer arrived intact *and* whole within its time cap.
    pub(crate) tcp_verified: bool,
    /// Whether every byte of the TCP transfer arrived within its time cap (absent in results
    /// written before this field existed).
    #[serde(default)]
    pub(crate) tcp_complete: Option<bool>,
}

impl Calibration {
    /// The line printed at the top of a run.
    pub(crate) fn line(&self) -> String {
        let rate = match (self.rate_mbit, self.tcp_of_payload_ceiling) {
            (Some(r), Some(f)) => format!(
                "TCP on the lossless link {:.1} Mbit/s of {r} ({:.1}% of the {:.1} Mbit/s TCP \
                 payload can carry)",
                self.tcp_mbit_per_s,
                f * 100.0,
                r * TCP_PAYLOAD_SHARE
            ),
            _ => format!("TCP on the lossless link {:.1} Mbit/s", self.tcp_mbit_per_s),
        };
        format!(
            "calibration: RTT {:.2} ms measured (min {:.2}) for {:.1} configured; {rate}{}",
            self.rtt_median_ms,
            self.rtt_min_ms,
            self.configured_rtt_ms,
            match (self.tcp_verified, self.tcp_complete) {
                (true, _) => "",
                (false, Some(false)) =>
                    " (TCP had not finished at its time cap: the rate it reached)",
                (false, _) => " — TCP DID NOT VERIFY",
            }
        )
    }
}

/// Side processes placed in the emulator's namespaces: senders in A, receivers in B.
pub(crate) fn launcher(emu: &Emulator) -> anyhow::Result<Launcher> {
    Launcher::placed(
        Place {
            bind: IpAddr::V4(ADDR_A),
            netns: Some(emu.a().path()),
        },
        Place {
            bind: IpAddr::V4(ADDR_B),
            netns: Some(emu.b().path()),
        },
    )
}

/// The flow-control window peers that need one get: twice the BDP (without a rate cap, that
/// of 10 Gbit/s).
pub(crate) fn window_for(config: &LinkConfig) -> u64 {
    let bdp = config
        .bdp_bytes()
        .unwrap_or_else(|| netsim::bdp_bytes(10_000_000_000, config.delay * 2));
    (bdp as u64).saturating_mul(2)
}

/// A plan for a run on `config`: windows and datagram sizes fitted to the link.
pub(crate) fn plan(config: &LinkConfig, size: u64, max_seconds: f64) -> Plan {
    Plan {
        size,
        max_seconds,
        window: Some(window_for(config)),
        max_datagram: u16::try_from(config.mtu.saturating_sub(28)).ok(),
    }
}

/// `seconds` of the link's rate, in bytes (at least 1 MiB).
pub(crate) fn size_for(config: &LinkConfig, seconds: f64) -> u64 {
    config.rate_bps.map_or(UNCAPPED_SIZE, |r| {
        ((r as f64 / 8.0 * seconds) as u64).max(1 << 20)
    })
}

/// `config` without its random and burst loss: what calibration measures.
pub(crate) fn lossless(config: &LinkConfig) -> LinkConfig {
    LinkConfig {
        loss: 0.0,
        burst: None,
        ..config.clone()
    }
}

/// Runs `peer` once on a fresh copy of `config` and attaches the emulator's counters.
pub(crate) fn run_on_link(
    emu: &mut Emulator,
    launcher: &Launcher,
    peer: PeerKind,
    plan: &Plan,
    config: &LinkConfig,
    seed: u64,
) -> anyhow::Result<RunOutcome> {
    emu.set_link(config.clone(), seed)?;
    let before = emu.device_drops().unwrap_or_default();
    let mut outcome = run::run_once(launcher, peer, plan)?;
    outcome.link = Some(measure(emu, before));
    Ok(outcome)
}

fn measure(emu: &Emulator, before: (u64, u64)) -> LinkMeasure {
    let r = emu.report();
    let after = emu.device_drops().unwrap_or(before);
    LinkMeasure {
        forward_packets: r.forward.offered.packets,
        forward_bytes: r.forward.offered.bytes,
        forward_queue_drops: r.forward.dropped_queue.packets,
        forward_lost: r.forward.lost.packets + r.forward.lost_burst.packets,
        forward_mean_queue_bytes: (r.forward.mean_queue_bytes * 10.0).round() / 10.0,
        forward_max_queue_bytes: r.forward.max_queue_bytes as u64,
        reverse_packets: r.reverse.offered.packets,
        reverse_dropped: r.reverse.dropped(),
        device_drops: after.0.saturating_sub(before.0) + after.1.saturating_sub(before.1),
        write_errors: r.write_errors,
        late_mean_us: (r.late_mean_us * 10.0).round() / 10.0,
        late_max_us: r.late_max_us.round(),
    }
}

/// Measures the emulator on the lossless version of `config`: UDP ping round trips, then a
/// TCP transfer of [`CALIBRATION_SECONDS`] of the link's rate. Leaves the emulator on the
/// lossless link.
pub(crate) fn calibrate(
    emu: &mut Emulator,
    launcher: &Launcher,
    config: &LinkConfig,
    seed: u64,
) -> anyhow::Result<Calibration> {
    let clean = lossless(config);
    emu.set_link(clean.clone(), seed)?;
    let mut rtts = ping(emu)?;
    rtts.sort_by(f64::total_cmp);
    let plan = plan(
        &clean,
        size_for(&clean, CALIBRATION_SECONDS),
        CALIBRATION_SECONDS * 4.0 + 10.0,
    );
    let tcp = run_on_link(emu, launcher, PeerKind::Tcp, &plan, &clean, seed)?;
    let tcp_mbit = tcp.bytes as f64 * 8.0 / tcp.seconds.max(1e-9) / 1e6;
    let rate_mbit = config.rate_bps.map(|r| r as f64 / 1e6);
    Ok(Calibration {
        link: config.to_string(),
        configured_rtt_ms: config.delay.as_secs_f64() * 2e3,
        rtt_min_ms: rtts.first().copied().unwrap_or(f64::NAN),
        rtt_median_ms: rtts.get(rtts.len() / 2).copied().unwrap_or(f64::NAN),
        rate_mbit,
        tcp_mbit_per_s: (tcp_mbit * 100.0).round() / 100.0,
        tcp_of_payload_ceiling: rate_mbit
            .map(|r| ((tcp_mbit / (r * TCP_PAYLOAD_SHARE)) * 1e4).round() / 1e4),
        tcp_verified: tcp.verified && tcp.bytes == plan.size,
        tcp_complete: Some(tcp.bytes == plan.size),
    })
}

/// Round trips of small UDP datagrams from A to an echo in B, ms (lost pings are skipped).
fn ping(emu: &Emulator) -> anyhow::Result<Vec<f64>> {
    // Each socket is bound on a thread inside its namespace: a socket belongs to the
    // namespace of the thread that creates it.
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let echo = emu.b().run(move || -> anyhow::Result<()> {
        let socket = UdpSocket::bind((ADDR_B, 0))?;
        socket.set_read_timeout(Some(Duration::from_secs(2)))?;
        addr_tx.send(socket.local_addr()?)?;
        let mut buf = [0u8; 64];
        for _ in 0..PINGS {
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                break;
            };
            socket.send_to(&buf[..n], from)?;
        }
        Ok(())
    })?;
    let target = addr_rx
        .recv_timeout(Duration::from_secs(5))
        .context("the ping echo did not start")?;
    let pinger = emu.a().run(move || -> anyhow::Result<Vec<f64>> {
        let socket = UdpSocket::bind((ADDR_A, 0))?;
        socket.set_read_timeout(Some(Duration::from_secs(2)))?;
        let mut rtts = Vec::new();
        let mut buf = [0u8; 64];
        for i in 0..PINGS {
            let sent = Instant::now();
            socket.send_to(&(i as u64).to_be_bytes(), target)?;
            if socket.recv_from(&mut buf).is_ok() {
                rtts.push(sent.elapsed().as_secs_f64() * 1e3);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(rtts)
    })?;
    let rtts = pinger
        .join()
        .map_err(|_| anyhow::anyhow!("the pinger panicked"))??;
    let _ = echo.join();
    anyhow::ensure!(!rtts.is_empty(), "no ping came back through the emulator");
    Ok(rtts)
}

/// One flow's part in the fairness run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct FlowShare {
    /// Peer name.
    pub(crate) peer: String,
    /// Goodput, Mbit/s.
    pub(crate) mbit_per_s: f64,
    /// Share of the two flows' total goodput.
    pub(crate) share: f64,
    /// Every received byte was right.
    pub(crate) verified: bool,
}

/// The fairness run's outcome.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Fairness {
    /// The link.
    pub(crate) link: String,
    /// How long both flows ran, seconds.
    pub(crate) seconds: f64,
    /// The flows.
    pub(crate) flows: Vec<FlowShare>,
    /// Jain's index over the flows' goodputs: 1 is a perfectly even split, 0.5 one flow
    /// taking everything (for two flows).
    pub(crate) jain: f64,
}

/// Jain's fairness index, (Σx)² / (n·Σx²).
pub(crate) fn jain(xs: &[f64]) -> f64 {
    let (sum, squares) = xs.iter().fold((0.0, 0.0), |(s, q), x| (s + x, q + x * x));
    if squares == 0.0 {
        0.0
    } else {
        sum * sum / (xs.len() as f64 * squares)
    }
}

/// One confab flow and one `against` flow at once for `seconds` through `config`.
pub(crate) fn fairness(
    emu: &mut Emulator,
    launcher: &Launcher,
    config: &LinkConfig,
    against: PeerKind,
    seconds: f64,
    seed: u64,
) -> anyhow::Result<Fairness> {
    emu.set_link(config.clone(), seed)?;
    // More than either flow can move: the time cap ends both.
    let plan = plan(
        config,
        size_for(config, seconds * 2.0).max(1 << 30),
        seconds,
    );
    let peers = [PeerKind::Confab, against];
    let outcomes = run::run_together(launcher, &peers, &plan)?;
    let mut flows = Vec::new();
    for (peer, outcome) in peers.iter().zip(outcomes) {
        let o = outcome.with_context(|| format!("the {} flow", peer.name()))?;
        flows.push(FlowShare {
            peer: peer.name().to_owned(),
            mbit_per_s: o.bytes as f64 * 8.0 / o.seconds.max(1e-9) / 1e6,
            share: 0.0,
            verified: o.verified,
        });
    }
    let total: f64 = flows.iter().map(|f| f.mbit_per_s).sum();
    for f in &mut flows {
        f.share = if total > 0.0 {
            f.mbit_per_s / total
        } else {
            0.0
        };
    }
    let rates: Vec<f64> = flows.iter().map(|f| f.mbit_per_s).collect();
    Ok(Fairness {
        link: config.to_string(),
        seconds,
        jain: jain(&rates),
        flows,
    })
}

impl Fairness {
    /// One line for people.
    pub(crate) fn line(&self) -> String {
        let flows: Vec<String> = self
            .flows
            .iter()
            .map(|f| {
                format!(
                    "{} {:.1} Mbit/s ({:.0}%){}",
                    f.peer,
                    f.mbit_per_s,
                    f.share * 100.0,
                    if f.verified { "" } else { " NOT VERIFIED" }
                )
            })
            .collect();
        format!(
            "fairness over {} for {} s: {}; Jain index {:.3}",
            self.link,
            self.seconds,
            flows.join(", "),
            self.jain
        )
    }
}

/// Prints a JSON value as one line on stdout.
fn print_json(value: &impl Serialize) {
    if let Ok(line) = serde_json::to_string(value) {
        println!("{line}");
    }
}

/// `transfer --link …` and `transfer --fairness`.
pub(crate) fn run(args: &TransferArgs) -> anyhow::Result<bool> {
    let config = match &args.link {
        Some(c) => c.clone(),
        None => FAIRNESS_LINK.parse().context("the fairness link")?,
    };
    let mut emu = Emulator::start(config.clone(), args.seed)?;
    let launcher = launcher(&emu)?;
    eprintln!(
        "confab-bench transfer through an emulated link: {config}; load average {}; TCP \
         congestion control in the namespaces: {}",
        crate::load_average().map_or_else(|| "unknown".to_owned(), |l| format!("{l:.2}")),
        crate::tcp_congestion_control()
    );
    let calibration = calibrate(&mut emu, &launcher, &config, args.seed)?;
    eprintln!("{}", calibration.line());
    if args.json {
        print_json(&serde_json::json!({ "calibration": calibration }));
    }
    if args.fairness {
        let f = fairness(
            &mut emu,
            &launcher,
            &config,
            args.against,
            args.fairness_seconds,
            args.seed,
        )?;
        eprintln!("{}", f.line());
        if args.json {
            print_json(&serde_json::json!({ "fairness": f }));
        }
        return Ok(f.flows.iter().all(|f| f.verified));
    }
    let size = args
        .size
        .map_or_else(|| size_for(&config, DEFAULT_LINK_SECONDS), |s| s.0);
    let plan = plan(&config, size, args.max_seconds);
    let mut runs: Vec<Vec<Result<RunOutcome, String>>> = vec![Vec::new(); args.peers.len()];
    for n in 1..=args.runs {
        for (i, &peer) in args.peers.iter().enumerate() {
            eprint!("  {} run {n}/{}: ", peer.name(), args.runs);
            let seed = args.seed.wrapping_add(u64::from(n));
            let outcome = run_on_link(&mut emu, &launcher, peer, &plan, &config, seed)
                .map_err(|e| format!("{e:#}"));
            match &outcome {
                Ok(o) => eprintln!(
                    "{} in {:.3} s ({:.1} Mbit/s){}",
                    ByteSize(o.bytes),
                    o.seconds,
                    o.bytes as f64 * 8.0 / o.seconds.max(1e-9) / 1e6,
                    if o.capped { ", time cap" } else { "" }
                ),
                Err(e) => eprintln!("failed: {e}"),
            }
            runs[i].push(outcome);
        }
    }
    let load = crate::load_average();
    let mut results: Vec<PeerResult> = args
        .peers
        .iter()
        .zip(&runs)
        .map(|(&peer, r)| {
            report::with_link(
                report::summarize(peer, size, r, load),
                config.to_string(),
                config.rate_bps,
            )
        })
        .collect();
    report::compare_with_confab(&mut results);
    if args.json {
        print!("{}", report::json_lines(&results));
    } else {
        println!();
        print!("{}", report::table(&results));
        println!(
            "Mbit/s = 10^6 bits/s of checked data; % link = that ÷ the link's rate; wire÷ = IP \
             bytes the sender's side offered the link ÷ bytes delivered; s/GB = CPU seconds \
             per 10^9 bytes on each end."
        );
        for r in &results {
            if let Some(e) = &r.emulator {
                println!(
                    "  {:<9} emulator: {} data packets, {} queue drops, {} lost, mean queue {:.0} \
                     B, late mean {:.0} µs max {:.0} µs, device drops {}",
                    r.peer,
                    e.forward_packets,
                    e.forward_queue_drops,
                    e.forward_lost,
                    e.forward_mean_queue_bytes,
                    e.late_mean_us,
                    e.late_max_us,
                    e.device_drops
                );
            }
        }
    }
    Ok(results.iter().all(|r| r.verified && r.error.is_none()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jain_index() {
        assert_eq!(jain(&[50.0, 50.0]), 1.0);
        assert!((jain(&[100.0, 0.0]) - 0.5).abs() < 1e-12);
        assert!((jain(&[75.0, 25.0]) - 0.8).abs() < 1e-12);
        assert_eq!(jain(&[0.0, 0.0]), 0.0);
    }

    #[test]
    fn windows_and_sizes_follow_the_link() {
        let c: LinkConfig = "rate=100mbit,rtt=50ms".parse().unwrap();
        assert_eq!(window_for(&c), 1_250_000);
        let long: LinkConfig = "rate=1gbit,rtt=200ms".parse().unwrap();
        assert_eq!(window_for(&long), 50_000_000);
        assert_eq!(size_for(&c, 4.0), 50_000_000);
        assert_eq!(
            lossless(&"loss=5%,burst=gilbert".parse().unwrap()).loss,
            0.0
        );
    }
}
