//! `RelayArgs`: flags parse as documented and bad values say what to write instead.

use std::time::Duration;

use clap::Parser;
use netsim::GilbertElliott;
use relay::{ArgsError, QueueLimit, RateLimit, RelayArgs, RelayConfig};

/// How the binary embeds the flags.
#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    relay: RelayArgs,
}

fn parse(extra: &[&str]) -> Result<RelayArgs, clap::Error> {
    let base = [
        "relay",
        "--listen",
        "127.0.0.1:50001",
        "--to",
        "127.0.0.1:50000",
    ];
    Cli::try_parse_from(base.iter().chain(extra)).map(|cli| cli.relay)
}

fn config(extra: &[&str]) -> Result<RelayConfig, ArgsError> {
    RelayConfig::try_from(parse(extra).expect("flags parse"))
}

#[test]
fn percentages_are_percent_with_or_without_the_sign() {
    assert_eq!(parse(&["--loss", "5"]).unwrap().loss, Some(0.05));
    assert_eq!(parse(&["--loss", "5%"]).unwrap().loss, Some(0.05));
    assert_eq!(parse(&["--loss", "0.5"]).unwrap().loss, Some(0.005));
    let config = config(&[
        "--loss",
        "5",
        "--duplicate",
        "1",
        "--reorder",
        "2",
        "--corrupt",
        "0.1",
    ])
    .unwrap();
    assert_eq!(config.up.loss, 0.05);
    assert_eq!(config.up.duplicate, 0.01);
    assert_eq!(config.up.reorder, 0.02);
    assert_eq!(config.up.corrupt, 0.001);
    assert_eq!(config.up, config.down, "the same link both ways by default");
}

#[test]
fn rates_delays_and_sizes() {
    let config = config(&[
        "--rate", "100mbit", "--delay", "20", "--jitter", "1.5ms", "--mtu", "1400",
    ])
    .unwrap();
    assert_eq!(config.up.rate_bps, Some(100_000_000));
    assert_eq!(config.up.delay, Duration::from_millis(20));
    assert_eq!(config.up.jitter, Duration::from_micros(1500));
    assert_eq!(config.up.mtu, 1400);
    assert_eq!(
        parse(&["--rate", "unlimited"]).unwrap().rate,
        Some(RateLimit::Unlimited)
    );
    assert_eq!(
        parse(&["--queue", "256k"]).unwrap().queue,
        Some(QueueLimit::Bytes(256 * 1024))
    );
}

#[test]
fn a_bdp_queue_is_computed_from_rate_and_delay() {
    // 100 Mbit/s × 2 × 25 ms = 625 000 bytes.
    let config = config(&["--rate", "100mbit", "--delay", "25ms", "--queue", "1bdp"]).unwrap();
    assert_eq!(config.up.queue_bytes, Some(625_000));
    let half = self::config(&["--rate", "100mbit", "--delay", "25", "--queue", "0.5bdp"]).unwrap();
    assert_eq!(half.up.queue_bytes, Some(312_500));

    let error = self::config(&["--rate", "100mbit", "--queue", "1bdp"]).unwrap_err();
    assert!(matches!(error, ArgsError::QueueNeedsRateAndDelay(_)));
    assert!(
        error.to_string().contains("needs a --rate and a --delay"),
        "{error}"
    );
}

#[test]
fn flags_override_the_link_spec() {
    let config = config(&[
        "--link",
        "rate=10mbit,delay=5ms,loss=1%",
        "--delay",
        "30",
        "--seed",
        "9",
    ])
    .unwrap();
    assert_eq!(config.up.rate_bps, Some(10_000_000));
    assert_eq!(config.up.delay, Duration::from_millis(30));
    assert_eq!(config.up.loss, 0.01);
    assert_eq!(config.seed, 9);
}

#[test]
fn burst_loss_with_and_without_parameters() {
    let default = config(&["--burst-loss"]).unwrap();
    assert_eq!(default.up.burst, Some(GilbertElliott::default()));
    let custom = config(&["--burst-loss", "1:25", "--loss", "1"]).unwrap();
    let burst = custom.up.burst.unwrap();
    assert_eq!(
        (burst.p, burst.r, burst.loss_bad, burst.loss_good),
        (0.01, 0.25, 1.0, 0.0)
    );
    assert_eq!(custom.up.loss, 0.01);
}

#[test]
fn bad_values_say_what_to_write() {
    let cases: [(&[&str], &str); 7] = [
        (&["--loss", "150"], "a percentage between 0 and 100"),
        (&["--loss", "lots"], "a bare number is a percent"),
        (&["--delay", "soon"], "a bare number is milliseconds"),
        (&["--rate", "fast"], "a bit rate like 100mbit"),
        (&["--rate", "0"], "a bit rate like 100mbit"),
        (&["--queue", "big"], "1bdp"),
        (&["--burst-loss", "1:2:3:4:5"], "P:R[:BAD[:GOOD]]"),
    ];
    for (flags, expected) in cases {
        let error = parse(flags).unwrap_err().to_string();
        assert!(error.contains(expected), "{flags:?}: {error}");
    }
    assert!(parse(&["--mtu", "10"]).is_err());
    let error = parse(&["--link", "loss=5"]).unwrap_err().to_string();
    assert!(error.contains("probability"), "{error}");
}

#[test]
fn addresses_must_resolve() {
    let args = Cli::try_parse_from(["relay", "--listen", "127.0.0.1:0", "--to", "no-port-here"])
        .unwrap()
        .relay;
    let error = RelayConfig::try_from(args).unwrap_err().to_string();
    assert!(error.starts_with("cannot use --to no-port-here"), "{error}");
    assert!(error.contains("e.g. 127.0.0.1:50000"), "{error}");
    let missing = Cli::try_parse_from(["relay", "--listen", "127.0.0.1:0"]).unwrap_err();
    assert!(missing.to_string().contains("--to"), "{missing}");
}

#[test]
fn defaults() {
    let config = config(&[]).unwrap();
    assert_eq!(config.listen.to_string(), "127.0.0.1:50001");
    assert_eq!(config.target.to_string(), "127.0.0.1:50000");
    assert_eq!(config.up, netsim::LinkConfig::default());
    assert_eq!(config.udp_idle_timeout, Duration::from_secs(60));
    assert_eq!(config.max_udp_mappings, 4096);
    assert_eq!(config.stats_interval, None);
    assert_eq!(config.seed, 0);
}
