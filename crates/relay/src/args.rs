//! [`RelayArgs`]: the `confab relay` command line, and its conversion into a [`RelayConfig`].
//!
//! The flags follow `tc netem`'s habits with units spelled out. Two conventions differ from a
//! netsim link spec (`--link`), and the help says so: a bare percentage is a percent (`--loss 5`
//! is 5 %, where `loss=5` in a spec is refused and `loss=0.05` is 5 %), and a bare delay is
//! milliseconds (`--delay 20` is 20 ms).

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use netsim::{ConfigError, GilbertElliott, LinkConfig, ValueError, parse_duration, parse_rate};
use thiserror::Error;

use crate::config::{DEFAULT_MAX_UDP_MAPPINGS, RelayConfig};

const PERCENT: &str = "a percentage between 0 and 100, like 5 or 5% (a bare number is a percent)";
const MILLIS: &str = "a duration like 20ms, 1.5s or 20 (a bare number is milliseconds)";
const SECONDS: &str = "a duration like 10s, 500ms or 10 (a bare number is seconds)";
const RATE: &str =
    "a bit rate like 100mbit, 1.5gbit or 64000 (bit/s; k, m, g are powers of 1000), or unlimited";
const QUEUE: &str = "a size like 256k or 1500 (bytes; k, m, g are powers of 1024), \
                     a multiple of the bandwidth-delay product like 1bdp or 0.5bdp, or unlimited";
const BURST: &str = "Gilbert–Elliott percentages P:R[:BAD[:GOOD]] like 1:25 or 1%:25%:100%, \
                     or nothing for netsim's default (bursts of 4, about 3.8% loss)";

/// `confab relay`'s flags: flatten into the binary's subcommand with `#[command(flatten)]`,
/// then convert with [`RelayConfig::try_from`].
///
/// Every impairment applies to UDP only, the same way in both directions (each direction
/// draws its own randomness); TCP is forwarded untouched.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct RelayArgs {
    /// Where clients connect: TCP and UDP on this IP and port, e.g. 127.0.0.1:50001 (port 0
    /// picks a free one).
    #[arg(long, value_name = "ADDR")]
    pub listen: String,
    /// The server to forward to, TCP and UDP on this IP and port, e.g. 127.0.0.1:50000.
    #[arg(long, value_name = "ADDR")]
    pub to: String,
    /// A whole link as a netsim spec, e.g. rate=100mbit,rtt=50ms,loss=1%,queue=1bdp (delay= is
    /// one-way, rtt= is twice it; probabilities are 1% or 0.01). The flags below override its
    /// fields.
    #[arg(long, value_name = "SPEC")]
    pub link: Option<LinkConfig>,
    /// Random loss per packet, percent: 5 or 5% is 5%.
    #[arg(long, value_name = "PCT", value_parser = parse_percent)]
    pub loss: Option<f64>,
    /// Bursty (Gilbert–Elliott) loss on top of --loss. Alone: bursts of 4 packets, about 3.8%
    /// loss. With a value P:R, P:R:BAD or P:R:BAD:GOOD in percent, e.g. 1:25: P = chance per packet to
    /// enter a burst, R = to leave it, BAD/GOOD = loss in/out of a burst (default 100/0).
    #[arg(long, value_name = "P:R", num_args = 0..=1, value_parser = parse_burst)]
    pub burst_loss: Option<Option<GilbertElliott>>,
    /// One-way delay, e.g. 20ms or 20 (milliseconds); a round trip gets it twice.
    #[arg(long, value_name = "MS", value_parser = parse_millis)]
    pub delay: Option<Duration>,
    /// Extra random delay per datagram, uniform in 0..=MS, e.g. 5ms or 5. Jitter alone keeps
    /// order; use --reorder to reorder.
    #[arg(long, value_name = "MS", value_parser = parse_millis)]
    pub jitter: Option<Duration>,
    /// Datagrams held back by --reorder-delay so later ones overtake them, percent, e.g. 2.
    #[arg(long, value_name = "PCT", value_parser = parse_percent)]
    pub reorder: Option<f64>,
    /// How long a reordered datagram is held back, e.g. 10ms or 10 (default 10 ms).
    #[arg(long, value_name = "MS", value_parser = parse_millis)]
    pub reorder_delay: Option<Duration>,
    /// Datagrams delivered twice, percent, e.g. 1.
    #[arg(long, value_name = "PCT", value_parser = parse_percent)]
    pub duplicate: Option<f64>,
    /// Datagrams delivered with one random bit flipped, percent, e.g. 0.1.
    #[arg(long, value_name = "PCT", value_parser = parse_percent)]
    pub corrupt: Option<f64>,
    /// Bottleneck rate of IP bytes (headers included), bits per second, e.g. 100mbit, 1.5gbit
    /// or 64000; default unlimited.
    #[arg(long, value_name = "BITS", value_parser = parse_rate_limit)]
    pub rate: Option<RateLimit>,
    /// Drop-tail queue ahead of the --rate bottleneck, bytes (256k, 1500) or a multiple of
    /// the bandwidth-delay product rate × 2 × delay (1bdp, 0.5bdp); default unlimited.
    #[arg(long, value_name = "BYTES", value_parser = parse_queue)]
    pub queue: Option<QueueLimit>,
    /// IP MTU, bytes (default 1500): a UDP datagram of n bytes is an IPv4 packet of n + 28
    /// bytes, fragmented when larger (all fragments must arrive).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(68..))]
    pub mtu: Option<u16>,
    /// Seed of the random impairments; the same seed draws the same fates for the same
    /// sequence of datagrams.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
    /// Log the counters at info level this often, e.g. 10s or 10 (seconds); default only at
    /// the end.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub stats_every: Option<Duration>,
    /// A UDP client silent this long (both ways) loses its mapping, e.g. 60s or 60 (seconds).
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, default_value = "60")]
    pub udp_idle_timeout: Duration,
    /// The most UDP clients (source addresses) mapped at once; the least recently active is
    /// evicted beyond it.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_UDP_MAPPINGS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_udp_clients: usize,
}

/// A `--rate` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimit {
    /// No bottleneck.
    Unlimited,
    /// Bits per second.
    BitsPerSecond(u64),
}

/// A `--queue` value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QueueLimit {
    /// No limit.
    Unlimited,
    /// Bytes of IP packets.
    Bytes(usize),
    /// This many bandwidth-delay products (rate × 2 × one-way delay).
    Bdp(f64),
}

/// Command-line values that parse but do not make a relay.
#[derive(Debug, Error)]
pub enum ArgsError {
    /// An address that does not resolve.
    #[error(
        "cannot use {flag} {value}: {source} — give IP:PORT or HOST:PORT, e.g. 127.0.0.1:50000"
    )]
    Address {
        /// `--listen` or `--to`.
        flag: &'static str,
        /// The text given.
        value: String,
        /// Why it does not resolve.
        source: io::Error,
    },
    /// `--queue NbdP` without a rate and a delay to multiply.
    #[error(
        "--queue {0}bdp is a multiple of the bandwidth-delay product, so it needs a --rate and a \
         --delay (or rate= and delay= in --link); or give the queue in bytes, e.g. --queue 256k"
    )]
    QueueNeedsRateAndDelay(f64),
    /// The flags together describe a link netsim refuses.
    #[error("the link is not valid: {0}")]
    Link(#[from] ConfigError),
}

impl RelayArgs {
    /// The link both directions run: `--link` (or a perfect link), then each flag given.
    pub fn link_config(&self) -> Result<LinkConfig, ArgsError> {
        let mut link = self.link.clone().unwrap_or_default();
        let set = |field: &mut f64, value: Option<f64>| *field = value.unwrap_or(*field);
        set(&mut link.loss, self.loss);
        set(&mut link.reorder, self.reorder);
        set(&mut link.duplicate, self.duplicate);
        set(&mut link.corrupt, self.corrupt);
        if let Some(burst) = self.burst_loss {
            link.burst = Some(burst.unwrap_or_default());
        }
        link.delay = self.delay.unwrap_or(link.delay);
        link.jitter = self.jitter.unwrap_or(link.jitter);
        link.reorder_delay = self.reorder_delay.unwrap_or(link.reorder_delay);
        link.mtu = self.mtu.map_or(link.mtu, usize::from);
        match self.rate {
            Some(RateLimit::Unlimited) => link.rate_bps = None,
            Some(RateLimit::BitsPerSecond(bps)) => link.rate_bps = Some(bps),
            None => {}
        }
        match self.queue {
            Some(QueueLimit::Unlimited) => link.queue_bytes = None,
            Some(QueueLimit::Bytes(bytes)) => link.queue_bytes = Some(bytes),
            Some(QueueLimit::Bdp(multiple)) => {
                let bdp = link
                    .bdp_bytes()
                    .filter(|_| !link.delay.is_zero())
                    .ok_or(ArgsError::QueueNeedsRateAndDelay(multiple))?;
                link.queue_bytes = Some(((bdp as f64 * multiple).round() as usize).max(1));
            }
            None => {}
        }
        link.validate()?;
        Ok(link)
    }
}

impl TryFrom<RelayArgs> for RelayConfig {
    type Error = ArgsError;

    fn try_from(args: RelayArgs) -> Result<Self, ArgsError> {
        let link = args.link_config()?;
        let mut config = RelayConfig::new(
            resolve("--listen", &args.listen)?,
            resolve("--to", &args.to)?,
        )
        .with_link(link)
        .with_seed(args.seed);
        config.stats_interval = args.stats_every;
        config.udp_idle_timeout = args.udp_idle_timeout;
        config.max_udp_mappings = args.max_udp_clients;
        Ok(config)
    }
}

/// The first address `value` resolves to.
fn resolve(flag: &'static str, value: &str) -> Result<SocketAddr, ArgsError> {
    let error = |source| ArgsError::Address {
        flag,
        value: value.into(),
        source,
    };
    value
        .to_socket_addrs()
        .map_err(error)?
        .next()
        .ok_or_else(|| error(io::Error::new(io::ErrorKind::NotFound, "no address found")))
}

fn invalid(value: &str, expected: &'static str) -> ValueError {
    ValueError {
        value: value.into(),
        expected,
    }
}

/// Parses a percentage into a probability: `5`, `5%` and `5 %` are all 0.05.
pub fn parse_percent(s: &str) -> Result<f64, ValueError> {
    let text = s.trim();
    let number = text.strip_suffix('%').unwrap_or(text).trim();
    number
        .parse::<f64>()
        .ok()
        .filter(|p| (0.0..=100.0).contains(p))
        .map(|p| p / 100.0)
        .ok_or_else(|| invalid(s, PERCENT))
}

/// Parses a duration where a bare number is milliseconds: `20`, `20ms`, `1.5s`.
pub fn parse_millis(s: &str) -> Result<Duration, ValueError> {
    parse_duration_or(s, "ms").map_err(|_| invalid(s, MILLIS))
}

/// Parses a duration where a bare number is seconds: `10`, `10s`, `500ms`.
pub fn parse_seconds(s: &str) -> Result<Duration, ValueError> {
    parse_duration_or(s, "s").map_err(|_| invalid(s, SECONDS))
}

fn parse_duration_or(s: &str, bare_unit: &str) -> Result<Duration, ValueError> {
    let text = s.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        parse_duration(&format!("{text}{bare_unit}"))
    } else {
        parse_duration(text)
    }
}

/// Parses `--rate`: `100mbit`, `1.5gbit`, `64000`, or `unlimited`/`none`.
pub fn parse_rate_limit(s: &str) -> Result<RateLimit, ValueError> {
    match s.trim().to_ascii_lowercase().as_str() {
        "unlimited" | "none" => Ok(RateLimit::Unlimited),
        _ => match parse_rate(s) {
            Ok(0) | Err(_) => Err(invalid(s, RATE)),
            Ok(bps) => Ok(RateLimit::BitsPerSecond(bps)),
        },
    }
}

/// Parses `--queue`: `256k`, `1500`, `1bdp`, `0.5bdp`, or `unlimited`/`none`.
pub fn parse_queue(s: &str) -> Result<QueueLimit, ValueError> {
    let text = s.trim().to_ascii_lowercase();
    match text.as_str() {
        "unlimited" | "none" => return Ok(QueueLimit::Unlimited),
        _ => {}
    }
    let parsed = match text.strip_suffix("bdp") {
        Some(multiple) => multiple
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|m| m.is_finite() && *m > 0.0)
            .map(QueueLimit::Bdp),
        None => netsim::parse_bytes(&text)
            .ok()
            .filter(|&bytes| bytes > 0)
            .map(QueueLimit::Bytes),
    };
    parsed.ok_or_else(|| invalid(s, QUEUE))
}

/// Parses `--burst-loss`'s value: `P:R[:BAD[:GOOD]]` in percent, or `on`/`gilbert` for the
/// defaults.
pub fn parse_burst(s: &str) -> Result<GilbertElliott, ValueError> {
    let text = s.trim();
    if matches!(
        text.to_ascii_lowercase().as_str(),
        "" | "on" | "gilbert" | "default"
    ) {
        return Ok(GilbertElliott::default());
    }
    let parts = text
        .split(':')
        .map(parse_percent)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| invalid(s, BURST))?;
    let (p, r, loss_bad, loss_good) = match parts[..] {
        [p, r] => (p, r, 1.0, 0.0),
        [p, r, bad] => (p, r, bad, 0.0),
        [p, r, bad, good] => (p, r, bad, good),
        _ => return Err(invalid(s, BURST)),
    };
    Ok(GilbertElliott {
        p,
        r,
        loss_bad,
        loss_good,
    })
}
