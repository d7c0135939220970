//! How fast the core runs with no network at all: one sender and one receiver connection
//! handing datagrams straight to each other in memory (encryption, decryption, ACKs, loss
//! recovery and congestion bookkeeping, all on one thread).
//! `cargo run --release -p rudp --example core_speed [MiB]`.
use rudp::{Config, Connection, RangeSet, Side, Sink, Source, TransferId, TransferParams};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Zeros;
impl Source for Zeros {
    fn read_at(&mut self, _offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        buf.fill(0x5a);
        Ok(())
    }
}
struct Discard;
impl Sink for Discard {
    fn write_at(&mut self, _offset: u64, _data: &[u8]) -> std::io::Result<()> {
        Ok(())
    }
}

fn main() {
    let mib: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2048);
    let size = mib << 20;
    let params = TransferParams {
        transfer_id: TransferId(1),
        key: [7; 32],
        size,
    };
    let server = "127.0.0.1:50000".parse().unwrap();
    let client = "127.0.0.1:40000".parse().unwrap();
    let config = Arc::new(Config::default());
    // Virtual time advances 1 µs per datagram: a path of ~1.4 GB/s, so pacing and the
    // window stay out of the way and the CPU cost is what is measured.
    let mut now = Instant::now();
    let mut tx = Connection::sender(
        config.clone(),
        params.clone(),
        Side::Server,
        Box::new(Zeros),
        now,
    )
    .unwrap();
    let mut rx = Connection::receiver(
        config,
        params,
        Side::Client { server },
        Box::new(Discard),
        RangeSet::new(),
        now,
    )
    .unwrap();
    let mut buf = vec![0u8; 1500];
    let started = Instant::now();
    let mut datagrams = 0u64;
    while !rx.is_completed() || !tx.is_completed() {
        let mut progressed = false;
        while let Some(t) = rx.poll_transmit(now, &mut buf) {
            tx.handle_datagram(now, client, &mut buf[..t.size]);
            progressed = true;
        }
        while let Some(t) = tx.poll_transmit(now, &mut buf) {
            rx.handle_datagram(now, server, &mut buf[..t.size]);
            datagrams += 1;
            now += Duration::from_micros(1);
            progressed = true;
        }
        if !progressed {
            let next = [tx.poll_timeout(), rx.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            now = now.max(next.unwrap_or(now + Duration::from_micros(1)));
            tx.handle_timeout(now);
            rx.handle_timeout(now);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "core: {mib} MiB in {secs:.2} s wall = {:.0} MB/s ({:.2} M datagrams/s), sender {} B/datagram, both ends on one core",
        size as f64 / secs / 1e6,
        datagrams as f64 / secs / 1e6,
        size / datagrams.max(1)
    );
}
