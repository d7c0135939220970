//! Measures how fast the relay forwards UDP on loopback:
//!
//! ```text
//! cargo run --release -p relay --example throughput -- --mbit 200 --seconds 5
//! cargo run --release -p relay --example throughput -- --mbit 0      # as fast as possible
//! ```
//!
//! A sender thread paces 1452-byte datagrams at `--mbit` (payload bits per second; 0 is
//! unpaced) through a relay running `--link` (default: a perfect link) to a sink thread, which
//! counts what arrives. The relay is not the bottleneck while the delivered rate matches the
//! offered one and the loss stays 0.

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use relay::{Relay, RelayConfig};

#[derive(Debug, Parser)]
struct Cli {
    /// Offered load, payload Mbit/s; 0 sends as fast as the sender can.
    #[arg(long, default_value_t = 200.0)]
    mbit: f64,
    /// How long to send, seconds.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Datagram payload, bytes.
    #[arg(long, default_value_t = 1452)]
    size: usize,
    /// The relay's link both ways, as a netsim spec.
    #[arg(long, default_value = "")]
    link: String,
    /// The target echoes every datagram and the sender counts the echoes: both directions
    /// through the relay.
    #[arg(long)]
    echo: bool,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let sink = UdpSocket::bind("127.0.0.1:0")?;
    let _ = socket2::SockRef::from(&sink).set_recv_buffer_size(4 << 20);
    sink.set_read_timeout(Some(Duration::from_millis(200)))?;
    let target = sink.local_addr()?;

    let runtime = tokio::runtime::Runtime::new()?;
    let config = RelayConfig::new("127.0.0.1:0".parse()?, target).with_link(cli.link.parse()?);
    let relay = runtime.block_on(Relay::bind(config))?;
    let relay_addr = relay.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let relay_task = runtime.spawn(relay.run(async {
        let _ = stopped.await;
    }));

    let received = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let client = UdpSocket::bind("127.0.0.1:0")?;
    let _ = socket2::SockRef::from(&client).set_recv_buffer_size(4 << 20);
    client.connect(relay_addr)?;
    client.set_read_timeout(Some(Duration::from_millis(200)))?;
    let counted = if cli.echo {
        let echo = sink;
        let done = done.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while !done.load(Ordering::Relaxed) {
                if let Ok((n, from)) = echo.recv_from(&mut buf) {
                    let _ = echo.send_to(&buf[..n], from);
                }
            }
        });
        client.try_clone()?
    } else {
        sink
    };
    let sink_thread = {
        let (received, done) = (received.clone(), done.clone());
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            let mut first_last: Option<(Instant, Instant)> = None;
            loop {
                match counted.recv(&mut buf) {
                    Ok(_) => {
                        received.fetch_add(1, Ordering::Relaxed);
                        let now = Instant::now();
                        first_last = Some((first_last.map_or(now, |(f, _)| f), now));
                    }
                    Err(_) if done.load(Ordering::Relaxed) => return first_last,
                    Err(_) => {}
                }
            }
        })
    };

    let sent = send(&client, &cli)?;
    // Let the relay drain what it still holds.
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_secs(2) && received.load(Ordering::Relaxed) < sent.0 {
        std::thread::sleep(Duration::from_millis(10));
    }
    done.store(true, Ordering::Relaxed);
    let window = sink_thread.join().expect("sink thread");
    let _ = stop.send(());
    let report = runtime.block_on(relay_task)??;

    let got = received.load(Ordering::Relaxed);
    let (count, elapsed) = sent;
    let bits = |n: u64| (n * cli.size as u64 * 8) as f64;
    let offered = bits(count) / elapsed.as_secs_f64() / 1e6;
    let delivered = window.map_or(0.0, |(first, last)| {
        bits(got) / last.duration_since(first).as_secs_f64().max(1e-9) / 1e6
    });
    println!(
        "sent {count} × {} B in {:.2} s: offered {offered:.0} Mbit/s, delivered {got} at {delivered:.0} Mbit/s, lost {:.3}%",
        cli.size,
        elapsed.as_secs_f64(),
        100.0 * (count - got.min(count)) as f64 / count as f64
    );
    println!("{report}");
    Ok(())
}

/// Sends paced datagrams to the relay; returns how many and over how long.
fn send(socket: &UdpSocket, cli: &Cli) -> anyhow::Result<(u64, Duration)> {
    let payload = vec![0x5a; cli.size];
    let gap =
        (cli.mbit > 0.0).then(|| Duration::from_secs_f64(cli.size as f64 * 8.0 / (cli.mbit * 1e6)));
    let (start, run) = (Instant::now(), Duration::from_secs_f64(cli.seconds));
    let mut count = 0u64;
    while start.elapsed() < run {
        if let Some(gap) = gap {
            let due = start + gap.mul_f64(count as f64);
            let now = Instant::now();
            if due > now {
                let wait = due - now;
                if wait > Duration::from_micros(200) {
                    std::thread::sleep(wait);
                } else {
                    std::thread::yield_now();
                    continue;
                }
            }
        }
        // A full socket buffer (unpaced) is not the relay's doing: retry.
        if socket.send(&payload).is_ok() {
            count += 1;
        }
    }
    Ok((count, start.elapsed()))
}
