//! Properties over arbitrary input: no panics, no datagram created or lost unaccounted.

use std::time::{Duration, Instant};

use netsim::{GilbertElliott, Link, LinkConfig};
use proptest::prelude::*;

const KEYS: &[&str] = &[
    "rate",
    "delay",
    "rtt",
    "jitter",
    "loss",
    "burst",
    "reorder",
    "reorder_delay",
    "dup",
    "corrupt",
    "queue",
    "mtu",
    "foo",
    "",
];

/// `key=value` items with plausible keys and arbitrary or plausible values.
fn spec_like() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        any::<String>(),
        "[0-9.]{0,25}(|%|k|m|g|t|bit|kbit|ms|us|µs|s|ns|bdp|kib)",
        "[0-9%.:]{0,12}",
        Just("gilbert".to_owned()),
        Just("none".to_owned()),
    ];
    prop::collection::vec((prop::sample::select(KEYS), value), 0..8).prop_map(|items| {
        items
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    })
}

fn probability() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), Just(1.0), 0.0..=1.0]
}

fn config() -> impl Strategy<Value = LinkConfig> {
    let delay = || (0u64..=3_600_000_000_000).prop_map(Duration::from_nanos);
    let burst = prop::option::of((probability(), probability(), probability(), probability()))
        .prop_map(|ge| {
            ge.map(|(p, r, loss_bad, loss_good)| GilbertElliott {
                p,
                r,
                loss_bad,
                loss_good,
            })
        });
    (
        (
            prop::option::of(1u64..),
            prop::option::of(1usize..),
            delay(),
            delay(),
        ),
        (probability(), burst, probability(), delay()),
        (probability(), probability(), 68usize..=65_535),
    )
        .prop_map(
            |(
                (rate_bps, queue_bytes, delay, jitter),
                (loss, burst, reorder, reorder_delay),
                (duplicate, corrupt, mtu),
            )| {
                LinkConfig {
                    rate_bps,
                    queue_bytes,
                    delay,
                    jitter,
                    loss,
                    burst,
                    reorder,
                    reorder_delay,
                    duplicate,
                    corrupt,
                    mtu,
                }
            },
        )
}

/// A link that does something in a short run: small delays, real rates, small queues.
fn busy_config() -> impl Strategy<Value = LinkConfig> {
    let small_delay = || (0u64..50_000_000).prop_map(Duration::from_nanos);
    (
        config(),
        prop::option::of(1_000u64..1_000_000_000),
        prop::option::of(1usize..200_000),
        small_delay(),
        small_delay(),
        small_delay(),
    )
        .prop_map(
            |(config, rate_bps, queue_bytes, delay, jitter, reorder_delay)| LinkConfig {
                rate_bps,
                queue_bytes,
                delay,
                jitter,
                reorder_delay,
                ..config
            },
        )
}

proptest! {
    #[test]
    fn parsing_never_panics(spec in any::<String>(), structured in spec_like()) {
        let _ = spec.parse::<LinkConfig>();
        if let Ok(config) = structured.parse::<LinkConfig>() {
            prop_assert!(config.validate().is_ok());
            prop_assert_eq!(config.to_string().parse::<LinkConfig>(), Ok(config));
        }
    }

    #[test]
    fn display_round_trips(config in config()) {
        prop_assert_eq!(config.to_string().parse::<LinkConfig>(), Ok(config));
    }

    #[test]
    fn sends_conserve_datagrams(
        config in busy_config(),
        seed in any::<u64>(),
        sends in prop::collection::vec((0u64..5_000_000, 0usize..70_000, any::<bool>()), 0..200),
    ) {
        let buffer = vec![0x3Cu8; 70_000];
        let mut link = Link::new(config, seed).unwrap();
        let t0 = Instant::now();
        let mut now = t0;
        let mut delivered = 0u64;
        for (gap_ns, len, backwards) in sends {
            // Small datagrams mostly, some huge; sometimes time appears to go backwards.
            let len = if len % 7 == 0 { len } else { len % 1500 };
            now += Duration::from_nanos(gap_ns);
            let at = if backwards { now - Duration::from_nanos(gap_ns / 2) } else { now };
            link.send(at, &buffer[..len]);
            while let Some(datagram) = link.poll_deliver(now) {
                delivered += 1;
                link.recycle(datagram);
            }
            prop_assert!(link.poll_timeout().is_none_or(|t| t > now));
        }
        while let Some(at) = link.poll_timeout() {
            now = now.max(at);
            while let Some(datagram) = link.poll_deliver(now) {
                delivered += 1;
                link.recycle(datagram);
            }
        }
        let stats = link.stats();
        prop_assert_eq!(link.in_flight(), 0);
        prop_assert_eq!(stats.delivered.packets, delivered);
        prop_assert_eq!(delivered + stats.dropped(), stats.offered.packets + stats.duplicated.packets);
    }
}
