//! Results: the runs of each peer reduced to one [`PeerResult`] (the median run), printed as a
//! side-by-side table for people or as JSON lines (one object per peer) for scripts.
//!
//! JSON fields are additive: a run on an emulated link adds `link`, `link_utilization`,
//! `wire_bytes` and `emulator` (null on loopback) without changing the others.

use crate::peer::PeerKind;
use crate::run::RunOutcome;
use crate::size::ByteSize;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// One peer's result in one bench invocation.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct PeerResult {
    /// Peer name (`confab`, `tcp`, `quic`, `quic-bbr`, `saw`).
    pub(crate) peer: String,
    /// Bytes asked for.
    pub(crate) size: u64,
    /// Bytes delivered and checked (less than `size` when the time cap cut the run short).
    pub(crate) bytes: u64,
    /// From the sender's start to the receiver's last checked byte, seconds.
    pub(crate) seconds: f64,
    /// Goodput, 10^6 bytes per second.
    pub(crate) mb_per_s: f64,
    /// Goodput, 10^6 bits per second.
    pub(crate) mbit_per_s: f64,
    /// True only when every received byte was checked against the content and was right, in
    /// every run.
    pub(crate) verified: bool,
    /// Every byte of `size` arrived.
    pub(crate) complete: bool,
    /// The time cap (`--max-seconds`) ended the run first.
    pub(crate) capped: bool,
    /// CPU (user + system) of the sending process over the run, seconds.
    pub(crate) cpu_sender_s: f64,
    /// CPU (user + system) of the receiving process over the run, seconds.
    pub(crate) cpu_receiver_s: f64,
    /// The kernel-mode part of `cpu_sender_s`, seconds.
    pub(crate) cpu_sender_sys_s: f64,
    /// The kernel-mode part of `cpu_receiver_s`, seconds.
    pub(crate) cpu_receiver_sys_s: f64,
    /// Sender CPU per 10^9 bytes delivered, seconds.
    pub(crate) cpu_sender_s_per_gb: f64,
    /// Receiver CPU per 10^9 bytes delivered, seconds.
    pub(crate) cpu_receiver_s_per_gb: f64,
    /// UDP payload bytes the sender sent (null for TCP): ÷ `bytes` is the protocol overhead.
    pub(crate) sender_wire_bytes: Option<u64>,
    /// confab's goodput ÷ this peer's (confab: 1; null without a confab result).
    pub(crate) confab_speedup: Option<f64>,
    /// Runs made; the figures above are from the median one (by goodput; the lower middle
    /// one for an even count).
    pub(crate) runs: usize,
    /// Goodput of every successful run, in run order, Mbit/s.
    pub(crate) runs_mbit_per_s: Vec<f64>,
    /// 1-minute load average when the bench started (other work skews the figures).
    pub(crate) load_avg_1m: Option<f64>,
    /// Why a run failed (the figures come from the runs that did not).
    pub(crate) error: Option<String>,
    /// The emulated link (`rate=…,rtt=…`), null on loopback.
    pub(crate) link: Option<String>,
    /// Goodput ÷ the link's rate (null without a rate cap): 1.0 is impossible, since headers
    /// take their share (a 1500-byte packet carries at most 1448 bytes of TCP payload).
    pub(crate) link_utilization: Option<f64>,
    /// IP bytes the sender's side put on the link (data direction, headers and
    /// retransmissions included, before any loss), as the emulator counted them: ÷ `bytes`
    /// is what a delivered byte cost on the wire, the same measure for every peer.
    pub(crate) wire_bytes: Option<u64>,
    /// What the emulator saw during the median run (null on loopback).
    pub(crate) emulator: Option<LinkMeasure>,
}

/// The emulator's view of one run, to tell whether the emulator itself distorted it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct LinkMeasure {
    /// Data direction: IP packets offered to the link.
    pub(crate) forward_packets: u64,
    /// Data direction: IP bytes offered to the link.
    pub(crate) forward_bytes: u64,
    /// Data direction: packets the bottleneck queue tail-dropped.
    pub(crate) forward_queue_drops: u64,
    /// Data direction: packets lost by the configured random and burst loss.
    pub(crate) forward_lost: u64,
    /// Data direction: the bottleneck's time-weighted mean backlog, bytes.
    pub(crate) forward_mean_queue_bytes: f64,
    /// Data direction: the bottleneck's largest backlog, bytes.
    pub(crate) forward_max_queue_bytes: u64,
    /// Return direction: IP packets offered (ACKs).
    pub(crate) reverse_packets: u64,
    /// Return direction: packets dropped or lost.
    pub(crate) reverse_dropped: u64,
    /// Packets the TUN devices dropped before the emulator read them (it fell behind).
    pub(crate) device_drops: u64,
    /// Packets the kernel refused when the emulator wrote them.
    pub(crate) write_errors: u64,
    /// Mean time a packet was written after it was due, µs.
    pub(crate) late_mean_us: f64,
    /// Longest time a packet was written after it was due, µs.
    pub(crate) late_max_us: f64,
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

/// Reduces the runs of one peer to its median run.
pub(crate) fn summarize(
    peer: PeerKind,
    size: u64,
    runs: &[Result<RunOutcome, String>],
    load_avg_1m: Option<f64>,
) -> PeerResult {
    let ok: Vec<&RunOutcome> = runs.iter().filter_map(|r| r.as_ref().ok()).collect();
    let failures: Vec<&String> = runs.iter().filter_map(|r| r.as_ref().err()).collect();
    let error = failures.first().map(|e| {
        if runs.len() > 1 {
            format!(
                "{} of {} runs failed; first: {e}",
                failures.len(),
                runs.len()
            )
        } else {
            (*e).clone()
        }
    });
    let rate = |r: &RunOutcome| {
        if r.seconds > 0.0 {
            r.bytes as f64 / r.seconds
        } else {
            0.0
        }
    };
    let mut sorted = ok.clone();
    sorted.sort_by(|a, b| rate(a).total_cmp(&rate(b)));
    let median = sorted.get(sorted.len().saturating_sub(1) / 2).copied();
    let per_gb = |cpu: f64, bytes: u64| {
        if bytes > 0 {
            round(cpu / (bytes as f64 / 1e9), 3)
        } else {
            0.0
        }
    };
    let mut result = PeerResult {
        peer: peer.name().to_owned(),
        size,
        bytes: 0,
        seconds: 0.0,
        mb_per_s: 0.0,
        mbit_per_s: 0.0,
        verified: false,
        complete: false,
        capped: false,
        cpu_sender_s: 0.0,
        cpu_receiver_s: 0.0,
        cpu_sender_sys_s: 0.0,
        cpu_receiver_sys_s: 0.0,
        cpu_sender_s_per_gb: 0.0,
        cpu_receiver_s_per_gb: 0.0,
        sender_wire_bytes: None,
        confab_speedup: None,
        runs: runs.len(),
        runs_mbit_per_s: ok.iter().map(|r| round(rate(r) * 8.0 / 1e6, 2)).collect(),
        load_avg_1m,
        error,
        link: None,
        link_utilization: None,
        wire_bytes: None,
        emulator: None,
    };
    if let Some(m) = median {
        let (cpu_s, cpu_r) = (m.cpu_sender.total_s(), m.cpu_receiver.total_s());
        result.bytes = m.bytes;
        result.seconds = round(m.seconds, 6);
        result.mb_per_s = round(rate(m) / 1e6, 2);
        result.mbit_per_s = round(rate(m) * 8.0 / 1e6, 2);
        result.verified = failures.is_empty() && ok.iter().all(|r| r.verified);
        result.complete = m.bytes == size;
        result.capped = m.capped;
        result.cpu_sender_s = round(cpu_s, 4);
        result.cpu_receiver_s = round(cpu_r, 4);
        result.cpu_sender_sys_s = round(m.cpu_sender.sys_s, 4);
        result.cpu_receiver_sys_s = round(m.cpu_receiver.sys_s, 4);
        result.cpu_sender_s_per_gb = per_gb(cpu_s, m.bytes);
        result.cpu_receiver_s_per_gb = per_gb(cpu_r, m.bytes);
        result.sender_wire_bytes = m.sender_wire_bytes;
        if let Some(link) = &m.link {
            result.wire_bytes = Some(link.forward_bytes);
            result.emulator = Some(link.clone());
        }
    }
    result
}

/// Adds the link's description and the utilisation of its `rate_bps` (if capped).
pub(crate) fn with_link(mut result: PeerResult, spec: String, rate_bps: Option<u64>) -> PeerResult {
    result.link_utilization = rate_bps
        .filter(|&r| r > 0)
        .map(|r| round(result.mbit_per_s * 1e6 / r as f64, 4));
    result.link = Some(spec);
    result
}

/// Fills in `confab_speedup` from the confab result, if there is a good one.
pub(crate) fn compare_with_confab(results: &mut [PeerResult]) {
    let confab = results
        .iter()
        .find(|r| r.peer == PeerKind::Confab.name() && r.mbit_per_s > 0.0)
        .map(|r| r.mbit_per_s);
    for r in results.iter_mut() {
        r.confab_speedup = match confab {
            Some(c) if r.mbit_per_s > 0.0 => Some(round(c / r.mbit_per_s, 3)),
            _ => None,
        };
    }
}

/// One JSON object per line.
pub(crate) fn json_lines(results: &[PeerResult]) -> String {
    let mut out = String::new();
    for r in results {
        // Serializing plain fields cannot fail.
        out.push_str(&serde_json::to_string(r).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// The side-by-side table.
pub(crate) fn table(results: &[PeerResult]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<9} {:>9} {:>9} {:>6} {:>9}  {:<8} {:>9} {:>9} {:>6}  {:>8}  note",
        "peer",
        "MB/s",
        "Mbit/s",
        "% link",
        "seconds",
        "verified",
        "send s/GB",
        "recv s/GB",
        "wire÷",
        "confab ×"
    );
    for r in results {
        let speedup = r
            .confab_speedup
            .map_or_else(|| "-".to_owned(), |s| format!("{s:.2}"));
        let wire = match r.wire_bytes.or(r.sender_wire_bytes) {
            Some(w) if r.bytes > 0 => format!("{:.3}", w as f64 / r.bytes as f64),
            _ => "-".to_owned(),
        };
        let link = r
            .link_utilization
            .map_or_else(|| "-".to_owned(), |u| format!("{:.1}", u * 100.0));
        let mut note = String::new();
        if r.capped {
            let _ = write!(
                note,
                "time cap: {} of {}",
                ByteSize(r.bytes),
                ByteSize(r.size)
            );
        }
        if let Some(e) = &r.error {
            if !note.is_empty() {
                note.push_str("; ");
            }
            let _ = write!(note, "FAILED: {e}");
        }
        if r.runs > 1 && !r.runs_mbit_per_s.is_empty() {
            if !note.is_empty() {
                note.push_str("; ");
            }
            let all: Vec<String> = r
                .runs_mbit_per_s
                .iter()
                .map(|m| format!("{m:.0}"))
                .collect();
            let _ = write!(note, "runs (Mbit/s): {}", all.join(" "));
        }
        let _ = writeln!(
            out,
            "{:<9} {:>9.1} {:>9.1} {:>6} {:>9.3}  {:<8} {:>9.2} {:>9.2} {:>6}  {:>8}  {}",
            r.peer,
            r.mb_per_s,
            r.mbit_per_s,
            link,
            r.seconds,
            if r.verified { "yes" } else { "NO" },
            r.cpu_sender_s_per_gb,
            r.cpu_receiver_s_per_gb,
            wire,
            speedup,
            note
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::CpuTime;

    fn run(bytes: u64, seconds: f64) -> RunOutcome {
        RunOutcome {
            bytes,
            seconds,
            verified: true,
            capped: false,
            cpu_sender: CpuTime {
                user_s: 0.25,
                sys_s: 0.25,
            },
            cpu_receiver: CpuTime {
                user_s: 1.0,
                sys_s: 0.0,
            },
            sender_wire_bytes: Some(bytes + bytes / 20),
            link: None,
        }
    }

    #[test]
    fn median_run_and_rates() {
        let size = 1_000_000_000;
        let runs = vec![Ok(run(size, 2.0)), Ok(run(size, 1.0)), Ok(run(size, 4.0))];
        let r = summarize(PeerKind::Tcp, size, &runs, Some(0.5));
        assert_eq!(r.seconds, 2.0);
        assert_eq!(r.mb_per_s, 500.0);
        assert_eq!(r.mbit_per_s, 4000.0);
        assert_eq!(r.runs_mbit_per_s, vec![4000.0, 8000.0, 2000.0]);
        assert_eq!(r.cpu_sender_s_per_gb, 0.5);
        assert_eq!(r.cpu_receiver_s_per_gb, 1.0);
        assert!(r.verified && r.complete && !r.capped);
        // An even count takes the lower middle one.
        let r = summarize(PeerKind::Tcp, size, &runs[..2], None);
        assert_eq!(r.seconds, 2.0);
    }

    #[test]
    fn a_failed_run_is_reported_and_unverified() {
        let runs = vec![Ok(run(100, 1.0)), Err("receiver: boom".to_owned())];
        let r = summarize(PeerKind::Quic, 100, &runs, None);
        assert!(!r.verified);
        assert_eq!(
            r.error.as_deref(),
            Some("1 of 2 runs failed; first: receiver: boom")
        );
        let r = summarize(PeerKind::Quic, 100, &runs[1..], None);
        assert_eq!((r.bytes, r.mbit_per_s, r.verified), (0, 0.0, false));
        assert!(table(&[r]).contains("FAILED: receiver: boom"));
    }

    #[test]
    fn speedups_and_output_shapes() {
        let mut results = vec![
            summarize(PeerKind::Confab, 1 << 30, &[Ok(run(1 << 30, 1.0))], None),
            summarize(PeerKind::Quic, 1 << 30, &[Ok(run(1 << 30, 4.0))], None),
        ];
        compare_with_confab(&mut results);
        assert_eq!(results[0].confab_speedup, Some(1.0));
        assert_eq!(results[1].confab_speedup, Some(4.0));
        let lines = json_lines(&results);
        let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
        for key in [
            "peer",
            "bytes",
            "seconds",
            "mbit_per_s",
            "verified",
            "cpu_sender_s",
            "cpu_receiver_s",
        ] {
            assert!(first.get(key).is_some(), "{key} missing in {first}");
        }
        let text = table(&results);
        assert!(text.lines().nth(2).unwrap().starts_with("quic"), "{text}");
        assert!(text.contains("4.00"), "{text}");
    }
}
