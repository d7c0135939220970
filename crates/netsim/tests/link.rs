//! The link model, driven in virtual time: each test sets up a link, offers traffic, drains
//! it, and checks one property against what the model promises.

use std::time::{Duration, Instant};

use netsim::{Duplex, GilbertElliott, Link, LinkConfig, SendOutcome};

const MS: Duration = Duration::from_millis(1);

fn link(config: LinkConfig, seed: u64) -> Link {
    Link::new(config, seed).expect("valid config")
}

/// Polls every remaining datagram out, jumping the clock to each arrival.
fn drain(link: &mut Link, mut now: Instant) -> Vec<(Instant, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some(at) = link.poll_timeout() {
        now = now.max(at);
        while let Some(datagram) = link.poll_deliver(now) {
            out.push((now, datagram));
        }
    }
    out
}

/// A datagram of `len` bytes starting with sequence number `seq`.
fn numbered(seq: u32, len: usize) -> Vec<u8> {
    let mut datagram = vec![0xAA; len.max(4)];
    datagram[..4].copy_from_slice(&seq.to_be_bytes());
    datagram
}

fn seq_of(datagram: &[u8]) -> u32 {
    u32::from_be_bytes(datagram[..4].try_into().unwrap())
}

#[test]
fn rate_limit_delivers_the_configured_throughput() {
    // Offer 20 Mbit/s of 1500-byte IP packets (1472 + 28) to a 10 Mbit/s bottleneck for 1 s.
    let config = LinkConfig {
        rate_bps: Some(10_000_000),
        queue_bytes: Some(64_000),
        ..LinkConfig::default()
    };
    let mut link = link(config, 1);
    let t0 = Instant::now();
    let (mut wire_bytes, mut t) = (0, Duration::ZERO);
    while t < Duration::from_secs(1) {
        link.send(t0 + t, &[0; 1472]);
        while let Some(datagram) = link.poll_deliver(t0 + t) {
            wire_bytes += datagram.len() + 28;
        }
        t += Duration::from_micros(600);
    }
    while let Some(datagram) = link.poll_deliver(t0 + Duration::from_secs(1)) {
        wire_bytes += datagram.len() + 28;
    }
    let expected = 10_000_000 / 8;
    assert!(
        wire_bytes.abs_diff(expected) <= 1500,
        "{wire_bytes} bytes in 1 s, expected {expected}"
    );
    let stats = link.stats();
    assert!(
        stats.dropped_queue.packets > 700,
        "half the offered load is tail-dropped"
    );
    assert!(stats.max_queue_bytes <= 64_000);
}

#[test]
fn delay_is_exact() {
    let mut link = link(
        LinkConfig {
            delay: 25 * MS,
            ..LinkConfig::default()
        },
        1,
    );
    let t0 = Instant::now();
    let outcome = link.send(t0, b"hello");
    assert_eq!(
        outcome,
        SendOutcome::Scheduled {
            arrival: t0 + 25 * MS,
            duplicated: false
        }
    );
    assert_eq!(link.poll_timeout(), Some(t0 + 25 * MS));
    assert_eq!(
        link.poll_deliver(t0 + 25 * MS - Duration::from_nanos(1)),
        None
    );
    assert_eq!(
        link.poll_deliver(t0 + 25 * MS).as_deref(),
        Some(&b"hello"[..])
    );
    assert_eq!(link.poll_timeout(), None);

    // With a bottleneck, serialization comes first: 100 + 28 bytes at 1 Mbit/s is 1.024 ms.
    let config = LinkConfig {
        rate_bps: Some(1_000_000),
        delay: 25 * MS,
        ..LinkConfig::default()
    };
    let mut link = self::link(config, 1);
    let arrival = t0 + Duration::from_micros(26_024);
    assert!(
        matches!(link.send(t0, &[0; 100]), SendOutcome::Scheduled { arrival: a, .. } if a == arrival)
    );
    assert!(
        matches!(link.send(t0, &[0; 100]), SendOutcome::Scheduled { arrival: a, .. } if a == arrival + Duration::from_micros(1024))
    );
}

#[test]
fn queue_tail_drops_at_the_configured_bytes() {
    // 972-byte datagrams are 1000-byte packets, 8 ms each at 1 Mbit/s.
    let config = LinkConfig {
        rate_bps: Some(1_000_000),
        queue_bytes: Some(10_000),
        ..LinkConfig::default()
    };
    let mut link = link(config, 1);
    let t0 = Instant::now();
    let outcomes: Vec<_> = (0..20).map(|_| link.send(t0, &[0; 972])).collect();
    assert!(
        outcomes[..10]
            .iter()
            .all(|o| matches!(o, SendOutcome::Scheduled { .. }))
    );
    assert!(
        outcomes[10..]
            .iter()
            .all(|o| *o == SendOutcome::DroppedQueue)
    );
    assert_eq!(link.queue_bytes(t0), 10_000);
    assert_eq!(
        link.queue_bytes(t0 + 8 * MS - Duration::from_nanos(1)),
        10_000
    );
    assert_eq!(
        link.queue_bytes(t0 + 8 * MS),
        9_000,
        "the first packet has left"
    );
    assert!(matches!(
        link.send(t0 + 8 * MS, &[0; 972]),
        SendOutcome::Scheduled { .. }
    ));
    assert_eq!(link.send(t0 + 8 * MS, &[0; 972]), SendOutcome::DroppedQueue);
    let stats = link.stats();
    assert_eq!(
        (stats.dropped_queue.packets, stats.max_queue_bytes),
        (11, 10_000)
    );
    assert_eq!(drain(&mut link, t0).len(), 11);
    assert_eq!(link.queue_bytes(t0 + Duration::from_secs(1)), 0);
}

#[test]
fn standing_queue_is_measured() {
    // Packets offered exactly at the bottleneck rate: one packet in the queue at all times.
    let config = LinkConfig {
        rate_bps: Some(10_000_000),
        queue_bytes: Some(100_000),
        ..LinkConfig::default()
    };
    let mut paced = link(config.clone(), 1);
    let t0 = Instant::now();
    for i in 0..1000 {
        paced.send(t0 + i * Duration::from_micros(1200), &[0; 1472]);
    }
    let mean = paced.mean_queue_bytes(t0 + Duration::from_micros(1_200_000));
    assert!((1499.0..=1500.0).contains(&mean), "mean queue {mean}");

    // Twice the rate fills the buffer and keeps it full.
    let mut flooding = link(config, 1);
    for i in 0..2000 {
        flooding.send(t0 + i * Duration::from_micros(600), &[0; 1472]);
    }
    let mean = flooding.mean_queue_bytes(t0 + Duration::from_micros(1_200_000));
    assert!(mean > 90_000.0, "mean queue {mean}");
    assert!(flooding.stats().mean_queue_bytes > 90_000.0);
    flooding.reset_stats(t0 + Duration::from_micros(1_200_000));
    assert_eq!(flooding.stats().offered.packets, 0);
}

#[test]
fn random_loss_rate_is_within_tolerance() {
    let mut link = link(
        LinkConfig {
            loss: 0.05,
            ..LinkConfig::default()
        },
        7,
    );
    let t0 = Instant::now();
    for _ in 0..100_000 {
        link.send(t0, &[0; 100]);
    }
    let lost = link.stats().lost.packets;
    // σ = √(100000 · 0.05 · 0.95) ≈ 69: ±300 is over 4σ.
    assert!((4_700..=5_300).contains(&lost), "{lost} lost");
    assert_eq!(drain(&mut link, t0).len() as u64, 100_000 - lost);
}

#[test]
fn gilbert_elliott_loses_in_bursts_of_one_over_r() {
    let burst = GilbertElliott {
        p: 0.01,
        r: 0.25,
        loss_bad: 1.0,
        loss_good: 0.0,
    };
    let mut link = link(
        LinkConfig {
            burst: Some(burst),
            ..LinkConfig::default()
        },
        3,
    );
    let t0 = Instant::now();
    for seq in 0..100_000 {
        link.send(t0, &numbered(seq, 8));
    }
    let seqs: Vec<u32> = drain(&mut link, t0)
        .iter()
        .map(|(_, d)| seq_of(d))
        .collect();
    let mut bursts = Vec::new();
    let mut expected = 0;
    for seq in seqs.into_iter().chain([100_000]) {
        if seq > expected {
            bursts.push(seq - expected);
        }
        expected = seq + 1;
    }
    let lost: u32 = bursts.iter().sum();
    let mean = f64::from(lost) / bursts.len() as f64;
    assert!(
        (3.5..=4.5).contains(&mean),
        "mean burst {mean} packets, expected 1/r = 4"
    );
    let stats = link.stats();
    assert_eq!(
        (stats.lost_burst.packets, stats.lost.packets),
        (u64::from(lost), 0)
    );
    let rate = f64::from(lost) / 100_000.0;
    assert!(
        (0.033..=0.044).contains(&rate),
        "loss rate {rate}, expected p/(p+r) = 3.85%"
    );
}

/// Runs a virtual clock over `sends` (in time order): polls every arrival at its exact instant,
/// interleaved with the sends. Returns (arrival, datagram) in delivery order.
fn simulate(link: &mut Link, sends: Vec<(Instant, Vec<u8>)>) -> Vec<(Instant, Vec<u8>)> {
    let mut out = Vec::new();
    let mut sends = sends.into_iter().peekable();
    loop {
        let next_send = sends.peek().map(|(at, _)| *at);
        match (next_send, link.poll_timeout()) {
            (None, None) => return out,
            (Some(send), Some(arrival)) if arrival <= send => {
                while let Some(datagram) = link.poll_deliver(arrival) {
                    out.push((arrival, datagram));
                }
            }
            (None, Some(arrival)) => {
                while let Some(datagram) = link.poll_deliver(arrival) {
                    out.push((arrival, datagram));
                }
            }
            (Some(_), _) => {
                let (at, datagram) = sends.next().unwrap();
                link.send(at, &datagram);
            }
        }
    }
}

/// (one-way delay, sequence number) of every delivery of 1000 datagrams sent 1 ms apart, in
/// delivery order.
fn deliveries(config: LinkConfig) -> Vec<(Duration, u32)> {
    let mut link = link(config, 11);
    let t0 = Instant::now();
    let sends = (0..1000)
        .map(|seq| (t0 + seq * MS, numbered(seq, 50)))
        .collect();
    let delivered = simulate(&mut link, sends);
    assert_eq!(delivered.len(), 1000);
    delivered
        .into_iter()
        .map(|(at, d)| (at - (t0 + seq_of(&d) * MS), seq_of(&d)))
        .collect()
}

#[test]
fn jitter_varies_delay_without_reordering() {
    let config = LinkConfig {
        delay: 20 * MS,
        jitter: 15 * MS,
        ..LinkConfig::default()
    };
    let timed = deliveries(config);
    assert!(
        timed.windows(2).all(|w| w[0].1 < w[1].1),
        "jitter alone must keep order"
    );
    let (min, max) = (timed.iter().min().unwrap().0, timed.iter().max().unwrap().0);
    assert!(
        min >= 20 * MS && max > 30 * MS,
        "delays from {min:?} to {max:?}"
    );
}

#[test]
fn reorder_lets_later_datagrams_overtake() {
    let config = LinkConfig {
        delay: 20 * MS,
        reorder: 0.1,
        reorder_delay: 5 * MS,
        ..LinkConfig::default()
    };
    let timed = deliveries(config);
    let overtaken = timed.windows(2).filter(|w| w[0].1 > w[1].1).count();
    assert!(
        (50..=150).contains(&overtaken),
        "{overtaken} out-of-order deliveries"
    );
}

#[test]
fn duplicates_are_counted_and_delivered() {
    let mut link = link(
        LinkConfig {
            duplicate: 0.1,
            ..LinkConfig::default()
        },
        5,
    );
    let t0 = Instant::now();
    for seq in 0..10_000 {
        link.send(t0, &numbered(seq, 20));
    }
    let delivered = drain(&mut link, t0);
    let stats = link.stats();
    assert!(
        (900..=1100).contains(&stats.duplicated.packets),
        "{:?}",
        stats.duplicated
    );
    assert_eq!(delivered.len() as u64, 10_000 + stats.duplicated.packets);
    assert_eq!(stats.delivered.packets, delivered.len() as u64);
    // A copy comes right after its original.
    let twins = delivered.windows(2).filter(|w| w[0].1 == w[1].1).count() as u64;
    assert_eq!(twins, stats.duplicated.packets);
}

#[test]
fn corruption_flips_exactly_one_bit() {
    let mut link = link(
        LinkConfig {
            corrupt: 0.2,
            ..LinkConfig::default()
        },
        9,
    );
    let t0 = Instant::now();
    let original = [0x5Au8; 64];
    for _ in 0..5_000 {
        link.send(t0, &original);
    }
    let mut corrupted = 0;
    for (_, datagram) in drain(&mut link, t0) {
        let flipped: u32 = datagram
            .iter()
            .zip(&original)
            .map(|(a, b)| (a ^ b).count_ones())
            .sum();
        assert!(flipped <= 1, "{flipped} bits flipped");
        corrupted += u64::from(flipped);
    }
    assert_eq!(corrupted, link.stats().corrupted.packets);
    assert!((900..=1100).contains(&corrupted), "{corrupted} corrupted");
    // An empty datagram has no bit to flip.
    let mut link = self::link(
        LinkConfig {
            corrupt: 1.0,
            ..LinkConfig::default()
        },
        9,
    );
    link.send(t0, &[]);
    assert_eq!(link.poll_deliver(t0), Some(Vec::new()));
}

#[test]
fn fragments_are_lost_independently() {
    // 2048 bytes over a 1500-byte MTU: two fragments, delivered only if both are: 1 − 0.9².
    let mut link = link(
        LinkConfig {
            loss: 0.1,
            ..LinkConfig::default()
        },
        13,
    );
    let t0 = Instant::now();
    for _ in 0..100_000 {
        link.send(t0, &[0; 2048]);
    }
    let stats = link.stats();
    assert_eq!(
        (stats.fragmented.packets, stats.fragments),
        (100_000, 200_000)
    );
    let lost = stats.lost.packets;
    assert!(
        (18_500..=19_500).contains(&lost),
        "{lost} of 100000 lost, expected 19%"
    );

    // Both fragments cross the bottleneck: 1500 + 596 bytes at 1 Mbit/s is 16.768 ms.
    let config = LinkConfig {
        rate_bps: Some(1_000_000),
        ..LinkConfig::default()
    };
    let mut link = self::link(config, 1);
    let arrival = t0 + Duration::from_micros(16_768);
    assert_eq!(
        link.send(t0, &[0; 2048]),
        SendOutcome::Scheduled {
            arrival,
            duplicated: false
        }
    );
    // A datagram IPv4 cannot carry is refused.
    assert_eq!(link.send(t0, &vec![0; 65_508]), SendOutcome::TooLarge);
    assert!(matches!(
        link.send(t0, &vec![0; 65_507]),
        SendOutcome::Scheduled { .. }
    ));
}

fn everything_on() -> LinkConfig {
    "rate=20mbit,rtt=30ms,jitter=3ms,loss=2%,burst=gilbert,reorder=5%,dup=2%,corrupt=1%,queue=0.5bdp"
        .parse()
        .unwrap()
}

fn run(seed: u64) -> Vec<(Duration, Vec<u8>)> {
    let mut link = link(everything_on(), seed);
    let t0 = Instant::now();
    let sends = (0..5_000)
        .map(|seq| (t0 + seq * Duration::from_micros(600), numbered(seq, 1200)))
        .collect();
    let out = simulate(&mut link, sends);
    assert!(out.len() > 4_000);
    out.into_iter().map(|(at, d)| (at - t0, d)).collect()
}

#[test]
fn same_seed_same_deliveries() {
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

#[test]
fn time_going_backwards_is_read_as_now() {
    let mut link = link(
        LinkConfig {
            delay: 10 * MS,
            ..LinkConfig::default()
        },
        1,
    );
    let t0 = Instant::now();
    link.send(t0 + Duration::from_secs(1), b"a");
    let outcome = link.send(t0, b"b");
    assert!(
        matches!(outcome, SendOutcome::Scheduled { arrival, .. } if arrival == t0 + Duration::from_secs(1) + 10 * MS)
    );
    assert_eq!(drain(&mut link, t0).len(), 2);
}

#[test]
fn duplex_directions_are_independent_and_share_the_rtt() {
    let config: LinkConfig = "rtt=50ms,loss=50%".parse().unwrap();
    let mut path = Duplex::symmetric(config, 4).unwrap();
    let t0 = Instant::now();
    let mut fates = (Vec::new(), Vec::new());
    for _ in 0..64 {
        fates.0.push(matches!(
            path.a_to_b.send(t0, b"ping"),
            SendOutcome::Scheduled { .. }
        ));
        fates.1.push(matches!(
            path.b_to_a.send(t0, b"pong"),
            SendOutcome::Scheduled { .. }
        ));
    }
    assert_ne!(fates.0, fates.1, "each direction has its own seed");
    assert_eq!(path.poll_timeout(), Some(t0 + 25 * MS));
}

#[test]
fn send_packet_counts_whole_ip_packets_and_refuses_oversize() {
    // 8 Mbit/s: one wire byte takes 1 µs. A 1000-byte IP packet through `send_packet` must
    // take exactly as long as a 972-byte UDP payload (972 + 28 headers) through `send`.
    let config = LinkConfig {
        rate_bps: Some(8_000_000),
        delay: 5 * MS,
        mtu: 1500,
        ..LinkConfig::default()
    };
    let start = Instant::now();
    let mut by_packet = link(config.clone(), 1);
    let mut by_datagram = link(config, 1);
    let a = by_packet.send_packet(start, &numbered(1, 1000));
    let b = by_datagram.send(start, &numbered(1, 972));
    assert_eq!(a, b);
    let SendOutcome::Scheduled { arrival, .. } = a else {
        panic!("dropped: {a:?}")
    };
    assert_eq!(arrival - start, 5 * MS + Duration::from_micros(1000));
    let delivered = drain(&mut by_packet, start);
    assert_eq!(delivered.len(), 1);
    assert_eq!(
        delivered[0].1.len(),
        1000,
        "the packet itself, no headers added"
    );

    // Larger than the MTU: refused, never fragmented.
    assert_eq!(
        by_packet.send_packet(start, &numbered(2, 1501)),
        SendOutcome::TooLarge
    );
    assert_eq!(by_packet.stats().too_large.packets, 1);
    assert!(drain(&mut by_packet, start).is_empty());
}
