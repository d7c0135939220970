//! `transfer --matrix`: every peer over the grid of emulated links (rate × RTT × loss), then
//! the fairness runs; writes into `--out-dir` `BENCHMARKS.md` (tables) and, under
//! [`DATA_DIR`], `benchmarks.jsonl` (every result as it is measured, so a long grid cut short
//! keeps what it had) and one SVG plot per rate (goodput against loss, a line per peer, a
//! panel per RTT).
//!
//! Each (rate, RTT) pair is calibrated on its lossless link first; the bottleneck queue is
//! one BDP but at least [`MIN_QUEUE`] (a 10 Mbit/s × 1 ms path has a BDP of 1250 bytes, less
//! than one packet). Runs move [`LINK_SECONDS`] of the link's rate and are capped by
//! `--max-seconds`; stop-and-wait, whose rate is one datagram per round trip whatever the
//! link, is capped at [`SAW_CAP`] and reports the rate it reached.

use crate::TransferArgs;
use crate::emu::Emulator;
use crate::emulated::{self, Calibration, Fairness};
use crate::peer::PeerKind;
use crate::report::{self, PeerResult};
use crate::run::RunOutcome;
use anyhow::Context;
use netsim::LinkConfig;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

/// Smallest bottleneck queue, bytes.
const MIN_QUEUE: usize = 64 << 10;
/// Seconds of the link's rate each run moves.
const LINK_SECONDS: f64 = 4.0;
/// Time cap of stop-and-wait runs, seconds.
const SAW_CAP: f64 = 3.0;
/// The raw results file, in [`DATA_DIR`].
const JSONL: &str = "benchmarks.jsonl";
/// Where the raw results and the plots go, under `--out-dir`.
const DATA_DIR: &str = "docs/benchmarks";

/// One line of `benchmarks.jsonl`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Line {
    /// Who, where, when.
    Meta(Meta),
    /// A (rate, RTT) pair's calibration.
    Calibration {
        rate_mbit: u64,
        rtt_ms: u64,
        calibration: serde_json::Value,
    },
    /// One peer on one link.
    Result {
        rate_mbit: u64,
        rtt_ms: u64,
        loss: String,
        result: serde_json::Value,
    },
    /// The fairness run.
    Fairness(serde_json::Value),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Meta {
    date: String,
    machine: String,
    kernel: String,
    tcp_default: String,
    command: String,
    peers: Vec<String>,
    rates: Vec<u64>,
    rtts: Vec<u64>,
    losses: Vec<String>,
    max_seconds: f64,
}

/// The link of one grid cell.
fn link(rate_mbit: u64, rtt_ms: u64, loss: &str) -> anyhow::Result<LinkConfig> {
    let mut config: LinkConfig = format!("rate={rate_mbit}mbit,rtt={rtt_ms}ms")
        .parse()
        .context("grid link")?;
    config.queue_bytes = Some(config.bdp_bytes().unwrap_or(0).max(MIN_QUEUE));
    match loss {
        "burst" => config.burst = Some(netsim::GilbertElliott::default()),
        pct => {
            let p: f64 = pct
                .trim_end_matches('%')
                .parse()
                .with_context(|| format!("loss '{pct}': a percentage or 'burst'"))?;
            anyhow::ensure!((0.0..100.0).contains(&p), "loss '{pct}' out of range");
            config.loss = p / 100.0;
        }
    }
    config.validate()?;
    Ok(config)
}

fn shell(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal"))?
                .split_whitespace()
                .nth(1)?
                .parse::<f64>()
                .ok()
        })
        .map_or(0.0, |kb| kb / (1 << 20) as f64);
    format!("{cores} cores ({cpu}), {mem_gib:.0} GiB")
}

/// Runs the grid and the fairness run, then writes the report.
pub(crate) fn run(args: &TransferArgs) -> anyhow::Result<bool> {
    if args.report_only {
        write_report(&args.out_dir)?;
        return Ok(true);
    }
    let data_dir = args.out_dir.join(DATA_DIR);
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let path = data_dir.join(JSONL);
    let mut out =
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let mut write = |line: &Line| -> anyhow::Result<()> {
        writeln!(out, "{}", serde_json::to_string(line)?)?;
        out.flush()?;
        Ok(())
    };
    let meta = Meta {
        date: shell("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        machine: machine(),
        kernel: shell("uname", &["-sr"]),
        tcp_default: crate::tcp_congestion_control(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        peers: args.peers.iter().map(|p| p.name().to_owned()).collect(),
        rates: args.rates.clone(),
        rtts: args.rtts.clone(),
        losses: args.losses.clone(),
        max_seconds: args.max_seconds,
    };
    write(&Line::Meta(meta))?;
    // Validate the whole grid before spending an hour on it.
    for &r in &args.rates {
        for &t in &args.rtts {
            for l in &args.losses {
                link(r, t, l)?;
            }
        }
    }
    let first = link(args.rates[0], args.rtts[0], "0")?;
    let mut emu = Emulator::start(first, args.seed)?;
    let launcher = emulated::launcher(&emu)?;
    let mut all_ok = true;
    let cells = args.rates.len() * args.rtts.len() * args.losses.len();
    let mut cell = 0;
    for &rate in &args.rates {
        for &rtt in &args.rtts {
            let base = link(rate, rtt, "0")?;
            match emulated::calibrate(&mut emu, &launcher, &base, args.seed) {
                Ok(c) => {
                    eprintln!("{rate} Mbit/s, {rtt} ms: {}", c.line());
                    write(&Line::Calibration {
                        rate_mbit: rate,
                        rtt_ms: rtt,
                        calibration: serde_json::to_value(&c)?,
                    })?;
                }
                Err(e) => eprintln!("{rate} Mbit/s, {rtt} ms: calibration failed: {e:#}"),
            }
            for loss in &args.losses {
                cell += 1;
                let config = link(rate, rtt, loss)?;
                let size = args
                    .size
                    .map_or_else(|| emulated::size_for(&config, LINK_SECONDS), |s| s.0);
                let mut results = Vec::new();
                for &peer in &args.peers {
                    let cap = if peer == PeerKind::Saw {
                        args.max_seconds.min(SAW_CAP)
                    } else {
                        args.max_seconds
                    };
                    let plan = emulated::plan(&config, size, cap);
                    let outcome: Result<RunOutcome, String> =
                        emulated::run_on_link(&mut emu, &launcher, peer, &plan, &config, args.seed)
                            .map_err(|e| format!("{e:#}"));
                    let r = report::with_link(
                        report::summarize(peer, size, &[outcome], crate::load_average()),
                        config.to_string(),
                        config.rate_bps,
                    );
                    all_ok &= r.verified;
                    results.push(r);
                }
                report::compare_with_confab(&mut results);
                let summary: Vec<String> = results
                    .iter()
                    .map(|r| {
                        format!(
                            "{} {:.0}%{}",
                            r.peer,
                            r.link_utilization.unwrap_or(0.0) * 100.0,
                            if r.error.is_some() { "!" } else { "" }
                        )
                    })
                    .collect();
                eprintln!(
                    "[{cell}/{cells}] {rate} Mbit/s {rtt} ms loss {loss}: {}",
                    summary.join(", ")
                );
                for r in &results {
                    write(&Line::Result {
                        rate_mbit: rate,
                        rtt_ms: rtt,
                        loss: loss.clone(),
                        result: serde_json::to_value(r)?,
                    })?;
                }
            }
        }
    }
    let fair_link: LinkConfig = emulated::FAIRNESS_LINK.parse()?;
    for against in [PeerKind::Tcp, PeerKind::TcpCubic] {
        match emulated::fairness(
            &mut emu,
            &launcher,
            &fair_link,
            against,
            args.fairness_seconds,
            args.seed,
        ) {
            Ok(f) => {
                eprintln!("{}", f.line());
                write(&Line::Fairness(serde_json::to_value(&f)?))?;
            }
            Err(e) => eprintln!("fairness run against {} failed: {e:#}", against.name()),
        }
    }
    drop(emu);
    write_report(&args.out_dir)?;
    Ok(all_ok)
}

/// What the report is made from, read back from `benchmarks.jsonl`.
struct Data {
    meta: Meta,
    calibrations: Vec<(u64, u64, Calibration)>,
    results: Vec<(u64, u64, String, PeerResult)>,
    fairness: Vec<Fairness>,
}

fn read_data(dir: &Path) -> anyhow::Result<Data> {
    let path = dir.join(DATA_DIR).join(JSONL);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut meta = None;
    let (mut calibrations, mut results, mut fairness) = (Vec::new(), Vec::new(), Vec::new());
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<Line>(line).context("a line of benchmarks.jsonl")? {
            Line::Meta(m) => meta = Some(m),
            Line::Calibration {
                rate_mbit,
                rtt_ms,
                calibration,
            } => calibrations.push((rate_mbit, rtt_ms, serde_json::from_value(calibration)?)),
            Line::Result {
                rate_mbit,
                rtt_ms,
                loss,
                result,
            } => results.push((rate_mbit, rtt_ms, loss, serde_json::from_value(result)?)),
            Line::Fairness(f) => fairness.push(serde_json::from_value(f)?),
        }
    }
    Ok(Data {
        meta: meta.context("benchmarks.jsonl has no meta line")?,
        calibrations,
        results,
        fairness,
    })
}

/// Writes `BENCHMARKS.md` and the plots from `benchmarks.jsonl` in `dir`.
pub(crate) fn write_report(dir: &Path) -> anyhow::Result<()> {
    let data = read_data(dir)?;
    let md = markdown(&data);
    std::fs::write(dir.join("BENCHMARKS.md"), md).context("writing BENCHMARKS.md")?;
    for &rate in &data.meta.rates {
        let name = format!("goodput-{rate}mbit.svg");
        plot(&data, rate, &dir.join(DATA_DIR).join(name))?;
    }
    Ok(())
}

fn find<'a>(data: &'a Data, rate: u64, rtt: u64, loss: &str, peer: &str) -> Option<&'a PeerResult> {
    data.results
        .iter()
        .find(|(r, t, l, p)| *r == rate && *t == rtt && l == loss && p.peer == peer)
        .map(|(_, _, _, p)| p)
}

fn loss_label(loss: &str) -> String {
    if loss == "burst" {
        "burst".into()
    } else {
        format!("{}%", loss.trim_end_matches('%'))
    }
}

fn markdown(data: &Data) -> String {
    let m = &data.meta;
    let mut s = String::new();
    let _ = writeln!(s, "# confab transfer benchmarks through an emulated link\n");
    let _ = writeln!(
        s,
        "Measured {} on {} ({}; TCP's default congestion control: `{}`), with\n\n    {}\n",
        m.date, m.machine, m.kernel, m.tcp_default, m.command
    );
    let _ = writeln!(
        s,
        "Every peer moves the same synthetic file from one network namespace to another through \
         `confab-bench`'s TUN link emulator (`crates/bench/src/emu.rs`): a drop-tail bottleneck \
         of the given rate with a queue of one BDP (at least 64 KiB), the given round-trip time \
         split evenly between the directions, and random loss (or Gilbert–Elliott bursts: \
         bursts of 4, 3.8 % loss) after the bottleneck, the same in both directions. Each cell \
         is one run moving {LINK_SECONDS} s of the link's rate, checked byte for byte, capped \
         at {} s (stop-and-wait at {SAW_CAP} s): a `*` marks a run the cap cut short, its \
         figure the rate it reached. Figures are goodput as a percentage of the link's rate; \
         headers alone keep every protocol below 100 % (TCP's payload is at most 96.5 % of a \
         1500-byte packet, confab's 96.8 %). Peers: {}.\n",
        m.max_seconds,
        m.peers
            .iter()
            .map(|p| format!("`{p}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        s,
        "`tcp` is the kernel's default controller (`{}` here), `tcp-cubic` the same with Cubic \
         chosen per socket; `quic` is quinn with its default (Cubic), `quic-bbr` with its BBR; \
         `kcp` is tokio_kcp in its fastest mode (no congestion control, window twice the BDP); \
         `saw` is the student project's stop-and-wait scheme. QUIC's and KCP's windows are \
         raised to twice the BDP where their defaults are smaller.\n",
        m.tcp_default
    );
    let _ = writeln!(s, "## Calibration (lossless link)\n");
    let _ = writeln!(
        s,
        "| rate | RTT set | RTT measured (median / min) | TCP on the lossless link | of TCP's payload ceiling |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|");
    for (rate, rtt, c) in &data.calibrations {
        let _ = writeln!(
            s,
            "| {rate} Mbit/s | {rtt} ms | {:.2} / {:.2} ms | {:.1} Mbit/s{} | {} |",
            c.rtt_median_ms,
            c.rtt_min_ms,
            c.tcp_mbit_per_s,
            match (c.tcp_verified, c.tcp_complete) {
                (true, _) => "",
                (false, Some(false)) => " (time cap: the rate it reached)",
                (false, Some(true)) => " (NOT VERIFIED)",
                (false, None) => " (not complete at its cap, or not verified)",
            },
            c.tcp_of_payload_ceiling
                .map_or_else(|| "-".into(), |f| format!("{:.1} %", f * 100.0))
        );
    }
    for &rate in &m.rates {
        let _ = writeln!(s, "\n## {rate} Mbit/s: goodput, % of the link\n");
        let _ = write!(s, "| RTT | loss |");
        for p in &m.peers {
            let _ = write!(s, " {p} |");
        }
        let _ = writeln!(s, " confab ÷ tcp | confab ÷ tcp-cubic | confab ÷ quic |");
        let _ = write!(s, "|---|---|");
        for _ in &m.peers {
            let _ = write!(s, "---:|");
        }
        let _ = writeln!(s, "---:|---:|---:|");
        for &rtt in &m.rtts {
            for loss in &m.losses {
                let _ = write!(s, "| {rtt} ms | {} |", loss_label(loss));
                for p in &m.peers {
                    let cell = match find(data, rate, rtt, loss, p) {
                        Some(r) if r.error.is_some() && r.bytes == 0 => "failed".to_owned(),
                        Some(r) => format!(
                            "{:.1}{}{}",
                            r.link_utilization.unwrap_or(0.0) * 100.0,
                            if r.capped { "*" } else { "" },
                            if r.verified { "" } else { " ✗" }
                        ),
                        None => "-".to_owned(),
                    };
                    let _ = write!(s, " {cell} |");
                }
                let ratio = |other: &str| {
                    let c = find(data, rate, rtt, loss, "confab")?;
                    let o = find(data, rate, rtt, loss, other)?;
                    (o.mbit_per_s > 0.0).then(|| format!("{:.1}×", c.mbit_per_s / o.mbit_per_s))
                };
                let _ = writeln!(
                    s,
                    " {} | {} | {} |",
                    ratio("tcp").unwrap_or_else(|| "-".into()),
                    ratio("tcp-cubic").unwrap_or_else(|| "-".into()),
                    ratio("quic").unwrap_or_else(|| "-".into())
                );
            }
        }
    }
    let _ = writeln!(
        s,
        "\n## Cost per delivered byte, and the emulator's health\n"
    );
    let _ = writeln!(
        s,
        "Wire bytes ÷ delivered bytes (IP bytes the sender's side offered the link, headers and \
         retransmissions included) and sender CPU, median over the grid's cells per peer, and \
         the emulator's own figures over all runs: packets written after their due time (mean \
         of the per-run means, worst single packet) and packets the TUN devices dropped because \
         the emulator fell behind (a run with such drops suffered more loss than configured).\n"
    );
    let _ = writeln!(
        s,
        "| peer | wire ÷ delivered (median) | sender CPU s/GB (median) | emulator late, mean / max | device drops |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|");
    for p in &m.peers {
        let rows: Vec<&PeerResult> = data
            .results
            .iter()
            .filter(|(_, _, _, r)| &r.peer == p && r.bytes > 0)
            .map(|(_, _, _, r)| r)
            .collect();
        let median = |mut v: Vec<f64>| -> f64 {
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
        };
        let wire = median(
            rows.iter()
                .filter_map(|r| r.wire_bytes.map(|w| w as f64 / r.bytes as f64))
                .collect(),
        );
        let cpu = median(rows.iter().map(|r| r.cpu_sender_s_per_gb).collect());
        let emus: Vec<_> = rows.iter().filter_map(|r| r.emulator.as_ref()).collect();
        let late_mean = emus.iter().map(|e| e.late_mean_us).sum::<f64>() / emus.len().max(1) as f64;
        let late_max = emus.iter().map(|e| e.late_max_us).fold(0.0, f64::max);
        let drops: u64 = emus.iter().map(|e| e.device_drops).sum();
        let _ = writeln!(
            s,
            "| {p} | {wire:.3} | {cpu:.1} | {late_mean:.0} µs / {:.1} ms | {drops} |",
            late_max / 1e3
        );
    }
    if !data.fairness.is_empty() {
        let _ = writeln!(s, "\n## Fairness\n");
        let _ = writeln!(
            s,
            "One confab flow and one TCP flow at once through `{}` for {} s, both starting \
             together (`tcp` uses the kernel's default, `{}` here):\n",
            data.fairness[0].link, data.fairness[0].seconds, m.tcp_default
        );
        let _ = writeln!(
            s,
            "| against | confab | the other | confab's share | Jain's index |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|");
        for f in &data.fairness {
            let (Some(c), Some(o)) = (f.flows.first(), f.flows.get(1)) else {
                continue;
            };
            let _ = writeln!(
                s,
                "| {} | {:.1} Mbit/s | {:.1} Mbit/s | {:.1} % | **{:.3}** |",
                o.peer,
                c.mbit_per_s,
                o.mbit_per_s,
                c.share * 100.0,
                f.jain
            );
        }
        let _ = writeln!(
            s,
            "\nJain's index: 1 = an even split, 0.5 = one flow takes all."
        );
    }
    let _ = writeln!(s, "\n## Plots\n");
    for &rate in &m.rates {
        let _ = writeln!(
            s,
            "![goodput against loss at {rate} Mbit/s]({DATA_DIR}/goodput-{rate}mbit.svg)\n"
        );
    }
    let _ = writeln!(
        s,
        "Raw results, one JSON object per run: [`{DATA_DIR}/{JSONL}`]({DATA_DIR}/{JSONL}). \
         Redraw this page from it with `confab-bench transfer --matrix --report-only \
         --out-dir DIR`."
    );
    s
}

const COLOURS: [RGBColor; 8] = [
    RGBColor(214, 39, 40),
    RGBColor(31, 119, 180),
    RGBColor(23, 190, 207),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(127, 127, 127),
    RGBColor(140, 86, 75),
];

fn plot(data: &Data, rate: u64, path: &Path) -> anyhow::Result<()> {
    let m = &data.meta;
    let root = SVGBackend::new(path, (1200, 860)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (title, body) = root.split_vertically(64);
    title
        .draw(&Text::new(
            format!("goodput vs loss at {rate} Mbit/s (% of the link), one panel per RTT"),
            (20, 8),
            ("sans-serif", 22),
        ))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    // The legend once, above the panels, where it hides no line.
    for (i, peer) in m.peers.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let x = 20 + 150 * i as i32;
        title
            .draw(&PathElement::new(
                vec![(x, 46), (x + 26, 46)],
                colour.stroke_width(if peer == "confab" { 4 } else { 3 }),
            ))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        title
            .draw(&Text::new(peer.clone(), (x + 32, 38), ("sans-serif", 16)))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let columns = if m.rtts.len() > 1 { 2 } else { 1 };
    let rows = m.rtts.len().div_ceil(columns);
    let panels = body.split_evenly((rows, columns));
    let losses = &m.losses;
    for (panel, &rtt) in panels.iter().zip(&m.rtts) {
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("RTT {rtt} ms"), ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(44)
            .build_cartesian_2d(-0.2f64..(losses.len() as f64 - 0.8), 0f64..100f64)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        chart
            .configure_mesh()
            .x_labels(losses.len())
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 {
                    losses
                        .get(i as usize)
                        .map(|l| loss_label(l))
                        .unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc("% of link")
            .draw()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        for (i, peer) in m.peers.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            let points: Vec<(f64, f64)> = losses
                .iter()
                .enumerate()
                .filter_map(|(x, loss)| {
                    find(data, rate, rtt, loss, peer)
                        .map(|r| (x as f64, r.link_utilization.unwrap_or(0.0) * 100.0))
                })
                .collect();
            let width = if peer == "confab" { 3 } else { 2 };
            chart
                .draw_series(LineSeries::new(points.clone(), colour.stroke_width(width)))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled())))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
    }
    root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}
