//! Link specs: what they parse to, how they print, and what users are told when they are wrong.

use std::time::Duration;

use netsim::{ConfigError, GilbertElliott, LinkConfig, SpecError};

fn parse(spec: &str) -> Result<LinkConfig, SpecError> {
    spec.parse()
}

fn error(spec: &str) -> String {
    parse(spec).expect_err(spec).to_string()
}

#[test]
fn the_example_spec() {
    let config = parse("rate=100mbit,rtt=50ms,loss=1%,queue=1bdp").unwrap();
    let expected = LinkConfig {
        rate_bps: Some(100_000_000),
        queue_bytes: Some(625_000),
        delay: Duration::from_millis(25),
        loss: 0.01,
        ..LinkConfig::default()
    };
    assert_eq!(config, expected);
    assert_eq!(
        config.to_string(),
        "rate=100mbit,queue=625000,delay=25ms,loss=1%"
    );
}

#[test]
fn every_key() {
    let spec = " rate=1.5g, delay=10ms, jitter=2ms, loss=0.5%, burst=2%:20%:90%:1%, reorder=3%, \
                reorder_delay=4ms, dup=1%, corrupt=0.1%, queue=64k, mtu=9000 ";
    let config = parse(spec).unwrap();
    assert_eq!(config.rate_bps, Some(1_500_000_000));
    assert_eq!(config.jitter, Duration::from_millis(2));
    assert_eq!(
        config.burst,
        Some(GilbertElliott {
            p: 0.02,
            r: 0.2,
            loss_bad: 0.9,
            loss_good: 0.01
        })
    );
    assert_eq!((config.queue_bytes, config.mtu), (Some(65_536), 9000));
    assert_eq!((config.duplicate, config.corrupt), (0.01, 0.001));
    assert_eq!(parse(&config.to_string()), Ok(config));
}

#[test]
fn shorthands_and_defaults() {
    assert_eq!(parse(""), Ok(LinkConfig::default()));
    assert_eq!(
        parse(&LinkConfig::default().to_string()),
        Ok(LinkConfig::default())
    );
    assert_eq!(
        parse("burst=gilbert").unwrap().burst,
        Some(GilbertElliott::default())
    );
    let two = parse("burst=1%:30%").unwrap().burst.unwrap();
    assert_eq!((two.loss_bad, two.loss_good), (1.0, 0.0));
    assert_eq!(
        parse("rate=none,queue=unlimited,burst=none"),
        Ok(LinkConfig::default())
    );
    assert_eq!(parse("duplicate=0.5").unwrap().duplicate, 0.5);
    // Half a BDP, from a one-way delay: 10 Mbit/s × 40 ms / 8 / 2.
    let config = parse("queue=0.5bdp,delay=20ms,rate=10mbit").unwrap();
    assert_eq!(config.queue_bytes, Some(25_000));
    assert_eq!(config.bdp_bytes(), Some(50_000));
}

#[test]
fn display_round_trips() {
    let configs = [
        LinkConfig {
            rate_bps: Some(1_234_567),
            delay: Duration::from_nanos(1_000_001),
            ..Default::default()
        },
        LinkConfig {
            queue_bytes: Some(3 << 20),
            jitter: Duration::from_micros(15),
            ..Default::default()
        },
        LinkConfig {
            loss: 0.1,
            reorder: 1.0 / 3.0,
            duplicate: 1e-9,
            corrupt: 0.07,
            ..Default::default()
        },
        LinkConfig {
            reorder_delay: Duration::ZERO,
            mtu: 68,
            ..Default::default()
        },
    ];
    for config in configs {
        let text = config.to_string();
        assert_eq!(parse(&text), Ok(config), "{text}");
    }
    let text = LinkConfig {
        loss: 0.1,
        reorder: 1.0 / 3.0,
        ..Default::default()
    }
    .to_string();
    assert_eq!(text, "delay=0s,loss=10%,reorder=0.3333333333333333");
}

#[test]
fn errors_say_what_is_wrong() {
    assert_eq!(
        error("rate=1mbit,foo=3"),
        "unknown key 'foo' in link spec; expected one of rate, delay, rtt, jitter, loss, burst, \
         reorder, reorder_delay, duplicate (or dup), corrupt, queue, mtu"
    );
    assert_eq!(
        error("rate"),
        "'rate' in link spec has no value; write key=value, e.g. rate=100mbit"
    );
    assert_eq!(
        error("delay=5ms,rtt=10ms"),
        "'delay' is set twice in link spec"
    );
    assert_eq!(
        error("rate=fast"),
        "bad value for 'rate' in link spec: 'fast' is not a bit rate like 100mbit, 1.5g or 64000 \
         (bit/s; k, m, g, t are powers of 1000)"
    );
    assert_eq!(
        error("loss=150%"),
        "bad value for 'loss' in link spec: '150%' is not a probability like 1% or 0.01, between 0 and 1"
    );
    assert_eq!(
        error("queue=2bdp,rate=1mbit"),
        "queue=2bdp is relative to the bandwidth-delay product, so it needs rate= and rtt= (or delay=) too"
    );
    assert!(error("delay=20").contains("is not a duration like 20ms"));
    assert!(error("burst=1%:2%:3%:4%:5%").contains("p:r[:bad_loss[:good_loss]]"));
    assert!(error("queue=xbdp").contains("bandwidth-delay product like 1bdp"));
    assert_eq!(
        parse("mtu=60"),
        Err(SpecError::Invalid(ConfigError::Mtu(60)))
    );
    assert_eq!(
        error("mtu=60"),
        "mtu must be between 68 and 65535 bytes (IPv4), got 60"
    );
    assert!(error("rate=0").contains("rate must be more than 0 bit/s"));
    assert!(error("delay=2h").contains("not a duration"));
    assert!(error("delay=7200s").contains("too long"));
}

#[test]
fn queue_forms() {
    let config = parse("rate=8mbit,rtt=10ms,queue=2BDP").unwrap();
    assert_eq!(config.queue_bytes, Some(20_000));
    assert_eq!(parse("queue=1.5k").unwrap().queue_bytes, Some(1536));
    assert!(error("queue=lots").contains("a size like 64k, a multiple of the bandwidth-delay"));
    assert!(error("foo=1,foo=2").starts_with("unknown key 'foo'"));
}
