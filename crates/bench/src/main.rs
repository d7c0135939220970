//! `confab-bench`: confab's benchmarks, a separate binary so the user-facing `confab` stays
//! small.
//!
//! `confab-bench transfer --size 1GiB` moves the same synthetic file with each peer — confab
//! (rudp through rudp-tokio), TCP (tokio), QUIC (quinn, Cubic and BBR) and the old
//! stop-and-wait scheme — over real sockets on loopback, checks every received byte, and
//! prints goodput, CPU per GB on each end and confab's speed-up over each peer, side by side
//! (or `--json`: one object per peer per line).
//!
//! # How a run is measured
//!
//! Each end of each peer runs in **its own child process** of this binary (the hidden
//! `side` subcommand): CPU is `getrusage(RUSAGE_SELF)` of that process between start and end
//! (every thread it has, nothing of the other end); time is from the sender's start to the
//! receiver's last checked byte, on `CLOCK_MONOTONIC`, which both processes share. On
//! loopback the kernel charges part of the receive path to the sending process (the packet is
//! delivered in the sender's system call), so compare the sum of both ends as well.
//!
//! # Layout (start at `run.rs`)
//!
//! | module | what |
//! |---|---|
//! | `main` | the command line (clap): `transfer`, and the internal `side` |
//! | `run` | the parent: starts a receiver and a sender process per run (`Launcher`), collects their reports |
//! | `side` | one end in its own process: runtime, time cap, clocks, JSON-line reports to the parent |
//! | `peer/` | the `Peer` contract and one module per protocol: `confab` (also `saw`), `tcp`, `quic` (also `quic-bbr`) |
//! | `content` | the synthetic file: bytes computed from their offset, checkers for streams and for rudp's sink |
//! | `measure` | `getrusage` and the monotonic clock |
//! | `report` | median of runs, the table, the JSON lines |
//! | `size` | `1GiB` / `64MiB` / `100M` parsing and printing |
//!
//! Issue 6 (emulated links) plugs in at `run::Launcher` (sides in network namespaces),
//! `--link` on [`TransferArgs`], new `peer/` modules (kcp), and fields added to the report.

mod content;
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
    /// Move one synthetic file with each peer over loopback and compare goodput and CPU.
    Transfer(TransferArgs),
    /// Internal: one end of one peer (started by `transfer`).
    #[command(hide = true)]
    Side(SideArgs),
}

/// `confab-bench transfer`.
#[derive(Debug, clap::Args)]
struct TransferArgs {
    /// Bytes to move per run: a number with an optional unit (1GiB, 64MiB, 100M, 4096).
    #[arg(long, default_value = "1GiB")]
    size: ByteSize,
    /// Peers to run, in order, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "confab,tcp,quic,quic-bbr,saw"
    )]
    peers: Vec<PeerKind>,
    /// One JSON object per peer per line on stdout instead of the table.
    #[arg(long)]
    json: bool,
    /// Runs per peer (interleaved across peers); the median run is reported.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Time cap per run, seconds: a slow peer (stop-and-wait) reports the rate it reached.
    #[arg(long, default_value_t = 20.0)]
    max_seconds: f64,
    /// Address both ends bind (loopback; must be local).
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
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
        Command::Transfer(args) => transfer(args),
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
fn transfer(args: TransferArgs) -> anyhow::Result<bool> {
    anyhow::ensure!(
        args.max_seconds > 0.0 && args.max_seconds.is_finite(),
        "--max-seconds must be a positive number of seconds"
    );
    let mut peers = args.peers.clone();
    let mut seen = std::collections::HashSet::new();
    peers.retain(|p| seen.insert(*p));
    let plan = Plan {
        size: args.size.0,
        max_seconds: args.max_seconds,
        bind: args.bind,
    };
    let launcher = Launcher::current_exe()?;
    let load = load_average();
    eprintln!(
        "confab-bench transfer: {} ({} bytes) over {} per peer, {} run(s), cap {} s; \
         load average {}; TCP congestion control: {}",
        args.size,
        args.size.0,
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
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn tcp_congestion_control() -> String {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_congestion_control")
        .map_or_else(|_| "unknown".to_owned(), |s| s.trim().to_owned())
}
