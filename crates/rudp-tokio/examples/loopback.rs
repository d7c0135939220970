//! Throughput on loopback: two endpoints on 127.0.0.1 (each with its own I/O thread), one
//! transfer of N bytes from a synthetic source into a sink that checks every byte (no disk).
//!
//! `cargo run --release -p rudp-tokio --example loopback [SIZE_MIB] [--no-gso] [--new-reno] [--files DIR]`
//!
//! Prints MB/s, datagrams/s, whether GSO/GRO were used and the CPU time of the process.
//! `--files DIR` instead sends a file written to DIR into a `FileSink` there (positional
//! reads and writes, BLAKE3 while the data flows, verify and rename): the disk path.
use rudp::{Side, TransferId, TransferParams};
use rudp_tokio::memory::{PatternSink, PatternSource};
use rudp_tokio::{Endpoint, EndpointConfig, Role, TransferSpec};
use std::time::Instant;

/// User + system CPU time of this process so far, seconds (from /proc/self/stat).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mib: u64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(1024);
    let gso = !args.iter().any(|a| a == "--no-gso");
    let rudp_config = std::sync::Arc::new(if args.iter().any(|a| a == "--new-reno") {
        rudp::Config::new_reno()
    } else {
        rudp::Config::default()
    });
    let size = mib << 20;
    let config = EndpointConfig {
        gso,
        ..EndpointConfig::default()
    };
    let server = Endpoint::bind("127.0.0.1:0".parse()?, config.clone())?;
    let client = Endpoint::bind("127.0.0.1:0".parse()?, config)?;
    let params = TransferParams {
        transfer_id: TransferId(0x5eed),
        key: [42; 32],
        size,
    };
    let files = args
        .iter()
        .position(|a| a == "--files")
        .and_then(|i| args.get(i + 1))
        .map(std::path::PathBuf::from);
    let sink = PatternSink::new(7);
    let (source, receive, file_sink): (Box<dyn rudp::Source>, Box<dyn rudp::Sink>, _) = match &files
    {
        None => (
            Box::new(PatternSource { seed: 7 }),
            Box::new(sink.clone()),
            None,
        ),
        Some(dir) => {
            let src = dir.join("loopback-src");
            let dest = dir.join("loopback-dest");
            let mut f = std::io::BufWriter::new(std::fs::File::create(&src)?);
            let mut chunk = vec![0u8; 1 << 20];
            let mut at = 0;
            while at < size {
                let n = (size - at).min(chunk.len() as u64) as usize;
                rudp_tokio::memory::fill_pattern(7, at, &mut chunk[..n]);
                std::io::Write::write_all(&mut f, &chunk[..n])?;
                at += n as u64;
            }
            drop(f);
            let hash = rudp_tokio::memory::pattern_hash(7, size);
            let file_sink = rudp_tokio::files::FileSink::create(&dest, size, hash)?;
            (
                Box::new(rudp_tokio::files::FileSource::open(&src)?),
                Box::new(file_sink.clone()),
                Some((file_sink, src)),
            )
        }
    };
    let cpu0 = cpu_seconds();
    let started = Instant::now();
    // A download: the server sends, the client receives (and speaks first).
    let spec = |side, role| TransferSpec {
        config: rudp_config.clone(),
        ..TransferSpec::new(params.clone(), side, role)
    };
    let mut tx = server.start(spec(Side::Server, Role::Send(source)))?;
    let mut rx = client.start(spec(
        Side::Client {
            server: server.local_addr(),
        },
        Role::Receive {
            sink: receive,
            have: rudp::RangeSet::new(),
        },
    ))?;
    let received = rx.finished().await?;
    if let Some((file_sink, src)) = &file_sink {
        // Part of the download: flush, fsync, compare the BLAKE3, rename.
        let dest = file_sink.finish()?;
        println!("verified and renamed to {}", dest.display());
        std::fs::remove_file(dest)?;
        std::fs::remove_file(src)?;
    }
    let secs = started.elapsed().as_secs_f64();
    let sent = tx.finished().await?;
    let cpu = cpu_seconds() - cpu0;
    if file_sink.is_none() {
        assert_eq!(sink.bytes(), size, "every byte verified");
    }
    let s = &sent.stats;
    let (es, ec) = (server.stats(), client.stats());
    println!(
        "{mib} MiB in {secs:.3} s: {:.0} MB/s ({:.2} Gbit/s), {:.0} datagrams/s sent",
        size as f64 / secs / 1e6,
        size as f64 * 8.0 / secs / 1e9,
        s.packets_sent as f64 / secs
    );
    println!(
        "sender: {} packets, {} retransmitted bytes ({:.2}%), {} lost packets, {} PTOs, srtt {:?}, cwnd {} B",
        s.packets_sent,
        s.data_bytes_retransmitted,
        100.0 * s.data_bytes_retransmitted as f64 / size.max(1) as f64,
        s.packets_lost,
        s.ptos,
        s.smoothed_rtt,
        s.cwnd
    );
    println!(
        "receiver: {} ACKs sent, {} duplicate bytes",
        received.stats.acks_sent, received.stats.data_bytes_duplicate
    );
    println!(
        "GSO: {} segments/sendmsg max ({:.1} datagrams per send call); GRO: {} segments max ({:.1} datagrams per recv call)",
        es.gso_segments,
        es.datagrams_sent as f64 / es.send_calls.max(1) as f64,
        ec.gro_segments,
        ec.datagrams_received as f64 / ec.recv_calls.max(1) as f64,
    );
    println!(
        "socket buffers: recv {} B, send {} B (as reported by the kernel)",
        ec.recv_buffer, ec.send_buffer
    );
    println!(
        "CPU: {cpu:.2} s user+sys for {secs:.2} s wall ({:.0}% of one core)",
        100.0 * cpu / secs
    );
    Ok(())
}
