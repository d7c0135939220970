//! `confab-bench`: confab's benchmarks, a separate binary so the user-facing `confab` stays
//! small.
//!
//! `confab-bench transfer --size 1GiB` moves the same synthetic file with each peer — confab
//! (rudp through rudp-tokio), TCP (tokio; the kernel's default controller, and Cubic), QUIC
//! (quinn, Cubic and BBR), KCP (tokio_kcp, fast mode) and the old stop-and-wait scheme — over
//! real sockets, checks every received byte, and prints goodput, CPU per GB on each end and
//! confab's speed-up over each peer, side by side (or `--json`: one object per peer per line).
//!
//! By default the path is loopback. `--link rate=100mbit,rtt=50ms,loss=1%` runs every peer
//! through the **link emulator** instead (root only): two network namespaces joined by TUN
//! devices and a user-space forwarder driving `netsim`'s link model, so TCP suffers exactly
//! what the UDP protocols suffer; each run starts with a calibration (measured RTT, TCP's rate
//! on the lossless link). `--fairness` runs confab and TCP at once; `--matrix` runs the whole
//! grid and writes `BENCHMARKS.md` with its plots.
//!
//! # How a run is measured
//!
//! Each end of each peer runs in **its own child process** of this binary (the hidden
//! `side` subcommand): CPU is `getrusage(RUSAGE_SELF)` of that process between start and end
//! (every thread it has, nothing of the other end); time is from the sender's start to the
//! receiver's last checked byte, on `CLOCK_MONOTONIC`, which both processes share. On
//! loopback the kernel charges part of the receive path to the sending process (the packet is
//! delivered in the sender's system call), so compare the sum of both ends as well. Through
//! the emulator, wire bytes are what the emulator counted (IP bytes, the same for every peer).
//!
//! # Layout (start at `run.rs`)
//!
//! | module | what |
//! |---|---|
//! | `main` | the command line (clap): `transfer`, and the internal `side` |
//! | `run` | the parent: starts receiver and sender processes (`Launcher`, placed in namespaces or not), collects their reports |
//! | `side` | one end in its own process: namespace, runtime, time cap, clocks, JSON-line reports to the parent |
//! | `peer/` | the `Peer` contract and one module per protocol: `confab` (also `saw`), `tcp` (also `tcp-cubic`), `quic` (also `quic-bbr`), `kcp` |
//! | `emu` | the link emulator: namespaces, TUN devices, forwarding threads, its own counters |
//! | `emulated` | runs through the emulator: calibration, per-peer runs with the emulator's counters, fairness |
//! | `matrix` | the grid, `BENCHMARKS.md` and the SVG plots |
//! | `content` | the synthetic file: bytes computed from their offset, checkers for streams and for rudp's sink |
//! | `measure` | `getrusage` and the monotonic clock |
//! | `report` | median of runs, the table, the JSON lines |
//! | `size` | `1GiB` / `64MiB` / `100M` parsing and printing |

mod content;
mod emu;
mod emulated;
mod matrix;
mod measure;
mod peer;
mod report;
mod run;
mod side;
mod size;

use clap::{Parser, Subcommand};
use peer::PeerKind;
use run::{Launcher, Plan};
use side::SideArgs;
use size::ByteSize;
use std::net::IpAddr;
use std::process::ExitCode;

/// confab's benchmarks.
#[derive(Debug, Parser)]
#[command(name = "confab-bench", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Move one synthetic file with each peer over loopback (or an emulated link) and compare
    /// goodput and CPU.
    Transfer(Box<TransferArgs>),
    /// Internal: one end of one peer (started by `transfer`).
    #[command(hide = true)]
    Side(SideArgs),
}

/// `confab-bench transfer`.
#[derive(Debug, clap::Args)]
pub(crate) struct TransferArgs {
    /// Bytes to move per run: a number with an optional unit (1GiB, 64MiB, 100M, 4096).
    /// Default: 1GiB on loopback; on an emulated link, 4 seconds of the link's rate.
    #[arg(long)]
    size: Option<ByteSize>,
    /// Peers to run, in order, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "confab,tcp,tcp-cubic,quic,quic-bbr,kcp,saw"
    )]
    peers: Vec<PeerKind>,
    /// Run through an emulated link between two network namespaces (needs root), e.g.
    /// `rate=100mbit,rtt=50ms,loss=1%,queue=1bdp` (keys: rate, rtt or delay, jitter, loss,
    /// burst, reorder, reorder_delay, dup, corrupt, queue, mtu). Without it: loopback.
    #[arg(long, value_parser = parse_link)]
    link: Option<netsim::LinkConfig>,
    /// Run the whole grid (rates × RTTs × losses) through the emulator and write
    /// BENCHMARKS.md, the plots and the raw JSON lines to --out-dir.
    #[arg(long)]
    matrix: bool,
    /// Run one confab flow and one --against flow (TCP) at once through the link (default:
    /// lossless 100 Mbit/s, 50 ms) and report each one's share and Jain's fairness index.
    #[arg(long)]
    fairness: bool,
    /// The flow confab shares the link with in the fairness run.
    #[arg(long, default_value = "tcp")]
    against: PeerKind,
    /// Length of the fairness run, seconds.
    #[arg(long, default_value_t = 30.0)]
    fairness_seconds: f64,
    /// Where --matrix writes its files.
    #[arg(long, default_value = ".")]
    out_dir: std::path::PathBuf,
    /// --matrix: rates to try, Mbit/s.
    #[arg(long, value_delimiter = ',', default_value = "10,100,1000")]
    rates: Vec<u64>,
    /// --matrix: round-trip times to try, ms.
    #[arg(long, value_delimiter = ',', default_value = "1,20,50,200")]
    rtts: Vec<u64>,
    /// --matrix: losses to try: percentages, or `burst` (Gilbert–Elliott, bursts of 4, 3.8%).
    #[arg(long, value_delimiter = ',', default_value = "0,0.1,1,5,10,burst")]
    losses: Vec<String>,
    /// --matrix: only redraw BENCHMARKS.md and the plots from --out-dir's benchmarks.jsonl.
    #[arg(long, requires = "matrix")]
    report_only: bool,
    /// Seed of the emulated link's random draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// One JSON object per peer per line on stdout instead of the table.
    #[arg(long)]
    json: bool,
    /// Runs per peer (interleaved across peers); the median run is reported.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Time cap per run, seconds: a slow peer (stop-and-wait) reports the rate it reached.
    #[arg(long, default_value_t = 20.0)]
    max_seconds: f64,
    /// Address both ends bind on loopback (must be local; ignored with --link).
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
}

fn parse_link(s: &str) -> Result<netsim::LinkConfig, String> {
    s.parse().map_err(|e: netsim::SpecError| e.to_string())
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Transfer(args) => transfer(*args),
        Command::Side(args) => side::run(args).map(|()| true),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("confab-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the transfer bench; `Ok(false)` when a peer failed or did not verify.
fn transfer(mut args: TransferArgs) -> anyhow::Result<bool> {
    anyhow::ensure!(
        args.max_seconds > 0.0 && args.max_seconds.is_finite(),
        "--max-seconds must be a positive number of seconds"
    );
    let mut seen = std::collections::HashSet::new();
    args.peers.retain(|p| seen.insert(*p));
    if args.matrix {
        return matrix::run(&args);
    }
    if args.fairness || args.link.is_some() {
        return emulated::run(&args);
    }
    let peers = args.peers.clone();
    let size = args.size.unwrap_or(ByteSize(1 << 30));
    let plan = Plan {
        size: size.0,
        max_seconds: args.max_seconds,
        window: None,
        max_datagram: None,
    };
    let launcher = Launcher::local(args.bind)?;
    let load = load_average();
    eprintln!(
        "confab-bench transfer: {} ({} bytes) over {} per peer, {} run(s), cap {} s; \
         load average {}; TCP congestion control: {}",
        size,
        size.0,
        args.bind,
        args.runs,
        args.max_seconds,
        load.map_or_else(|| "unknown".to_owned(), |l| format!("{l:.2}")),
        tcp_congestion_control()
    );
    let mut runs: Vec<Vec<Result<run::RunOutcome, String>>> = vec![Vec::new(); peers.len()];
    for n in 1..=args.runs {
        for (i, &peer) in peers.iter().enumerate() {
            eprint!("  {} run {n}/{}: ", peer.name(), args.runs);
            let outcome = run::run_once(&launcher, peer, &plan).map_err(|e| format!("{e:#}"));
            match &outcome {
                Ok(o) => eprintln!(
                    "{} in {:.3} s ({:.1} MB/s){}",
                    ByteSize(o.bytes),
                    o.seconds,
                    o.bytes as f64 / o.seconds.max(1e-9) / 1e6,
                    if o.capped { ", time cap" } else { "" }
                ),
                Err(e) => eprintln!("failed: {e}"),
            }
            runs[i].push(outcome);
        }
    }
    let mut results: Vec<_> = peers
        .iter()
        .zip(&runs)
        .map(|(&peer, r)| report::summarize(peer, plan.size, r, load))
        .collect();
    report::compare_with_confab(&mut results);
    if args.json {
        print!("{}", report::json_lines(&results));
    } else {
        println!();
        print!("{}", report::table(&results));
        println!(
            "MB/s = 10^6 bytes/s of checked data; s/GB = CPU seconds (user+sys) per 10^9 bytes, \
             each end in its own process; wire÷ = UDP bytes the sender sent ÷ bytes delivered; \
             confab × = confab's goodput ÷ the peer's."
        );
    }
    Ok(results.iter().all(|r| r.verified && r.error.is_none()))
}

/// The 1-minute load average, from `/proc/loadavg`.
pub(crate) fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

pub(crate) fn tcp_congestion_control() -> String {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_congestion_control")
        .map_or_else(|_| "unknown".to_owned(), |s| s.trim().to_owned())
}
