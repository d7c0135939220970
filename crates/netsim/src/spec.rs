//! Link specs (`rate=100mbit,rtt=50ms,loss=1%,queue=1bdp`) and the value parsers behind them,
//! which also suit clap's `value_parser`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use thiserror::Error;

use crate::config::{ConfigError, GilbertElliott, LinkConfig, bdp_bytes};

/// The keys a link spec accepts, for error messages.
const KEYS: &str = "rate, delay, rtt, jitter, loss, burst, reorder, reorder_delay, duplicate (or dup), \
                    corrupt, queue, mtu";

const RATE: &str = "a bit rate like 100mbit, 1.5g or 64000 (bit/s; k, m, g, t are powers of 1000)";
const BYTES: &str = "a size like 1500, 64k or 1.5m (bytes; k, m, g are powers of 1024)";
const DURATION: &str = "a duration like 20ms, 1.5s, 250us or 0";
const PROBABILITY: &str = "a probability like 1% or 0.01, between 0 and 1";
const QUEUE: &str = "a size like 64k, a multiple of the bandwidth-delay product like 1bdp, or none";
const BURST: &str = "gilbert (bursts of 4, 3.8% loss), none, or p:r[:bad_loss[:good_loss]] \
                     like 1%:25%:100%";

/// A value that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("'{value}' is not {expected}")]
pub struct ValueError {
    /// The text given.
    pub value: String,
    /// What was expected, with examples.
    pub expected: &'static str,
}

/// Why a link spec was rejected.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SpecError {
    /// A key the spec does not know.
    #[error("unknown key '{0}' in link spec; expected one of {KEYS}")]
    UnknownKey(String),
    /// An item without `=`.
    #[error("'{0}' in link spec has no value; write key=value, e.g. rate=100mbit")]
    MissingValue(String),
    /// The same setting twice (`delay` and `rtt` are one setting).
    #[error("'{0}' is set twice in link spec")]
    Repeated(String),
    /// A value that does not parse.
    #[error("bad value for '{key}' in link spec: {source}")]
    Value {
        /// The key whose value is wrong.
        key: String,
        /// What is wrong with it.
        source: ValueError,
    },
    /// `queue=Nbdp` without the rate and delay it is a multiple of.
    #[error(
        "queue={0} is relative to the bandwidth-delay product, so it needs rate= and rtt= (or delay=) too"
    )]
    BdpNeedsRateAndDelay(String),
    /// Parsed, but not a valid link.
    #[error(transparent)]
    Invalid(#[from] ConfigError),
}

impl FromStr for LinkConfig {
    type Err = SpecError;

    /// Parses `key=value` items separated by commas; the empty spec is a perfect link.
    fn from_str(spec: &str) -> Result<Self, SpecError> {
        let mut config = LinkConfig::default();
        let mut seen: Vec<&str> = Vec::new();
        let (mut rtt, mut bdp_queue) = (None, None);
        for item in spec
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
        {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| SpecError::MissingValue(item.into()))?;
            let (key, value) = (key.trim(), value.trim());
            let canonical = match key {
                "rtt" => "delay",
                "dup" => "duplicate",
                "rate" | "delay" | "jitter" | "loss" | "burst" | "reorder" | "reorder_delay"
                | "duplicate" | "corrupt" | "mtu" | "queue" => key,
                _ => return Err(SpecError::UnknownKey(key.into())),
            };
            if seen.contains(&canonical) {
                return Err(SpecError::Repeated(canonical.into()));
            }
            seen.push(canonical);
            let bad = |source| SpecError::Value {
                key: key.into(),
                source,
            };
            match key {
                "rate" => config.rate_bps = none_or(value, parse_rate).map_err(bad)?,
                "delay" => config.delay = parse_duration(value).map_err(bad)?,
                "rtt" => {
                    let value = parse_duration(value).map_err(bad)?;
                    (config.delay, rtt) = (value / 2, Some(value));
                }
                "jitter" => config.jitter = parse_duration(value).map_err(bad)?,
                "loss" => config.loss = parse_probability(value).map_err(bad)?,
                "burst" => config.burst = parse_burst(value).map_err(bad)?,
                "reorder" => config.reorder = parse_probability(value).map_err(bad)?,
                "reorder_delay" => config.reorder_delay = parse_duration(value).map_err(bad)?,
                "duplicate" | "dup" => config.duplicate = parse_probability(value).map_err(bad)?,
                "corrupt" => config.corrupt = parse_probability(value).map_err(bad)?,
                "mtu" => config.mtu = parse_bytes(value).map_err(bad)?,
                "queue" => {
                    let queue_error = || bad(expected(value, QUEUE));
                    match value.to_ascii_lowercase().strip_suffix("bdp") {
                        Some(n) => {
                            let n = parse_fixed(n.trim(), 1_000_000).ok_or_else(queue_error)?;
                            bdp_queue = Some((n, value));
                        }
                        None => {
                            let bytes = none_or(value, parse_bytes).map_err(|_| queue_error());
                            config.queue_bytes = bytes?;
                        }
                    }
                }
                _ => return Err(SpecError::UnknownKey(key.into())),
            }
        }
        if let Some((millionths, text)) = bdp_queue {
            let (Some(rate), false) = (config.rate_bps, config.delay.is_zero()) else {
                return Err(SpecError::BdpNeedsRateAndDelay(text.into()));
            };
            let bdp = bdp_bytes(rate, rtt.unwrap_or(config.delay.saturating_mul(2))) as u128;
            config.queue_bytes = Some(
                usize::try_from(bdp.saturating_mul(millionths) / 1_000_000).unwrap_or(usize::MAX),
            );
        }
        config.validate()?;
        Ok(config)
    }
}

impl fmt::Display for LinkConfig {
    /// The spec form, listing only what differs from a perfect link (plus `delay`, always):
    /// parsing it gives this config back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let default = LinkConfig::default();
        if let Some(rate) = self.rate_bps {
            let (n, unit) = largest_unit(
                u128::from(rate),
                &[(1_000_000_000, "gbit"), (1_000_000, "mbit"), (1000, "kbit")],
            );
            write!(f, "rate={n}{},", if unit.is_empty() { "bit" } else { unit })?;
        }
        if let Some(queue) = self.queue_bytes {
            let (n, unit) = largest_unit(
                queue as u128,
                &[(1 << 30, "g"), (1 << 20, "m"), (1 << 10, "k")],
            );
            write!(f, "queue={n}{unit},")?;
        }
        write!(f, "delay={}", DisplayDuration(self.delay))?;
        if self.jitter != default.jitter {
            write!(f, ",jitter={}", DisplayDuration(self.jitter))?;
        }
        if self.loss != 0.0 {
            write!(f, ",loss={}", DisplayProbability(self.loss))?;
        }
        if let Some(ge) = self.burst {
            write!(
                f,
                ",burst={}:{}:{}",
                DisplayProbability(ge.p),
                DisplayProbability(ge.r),
                DisplayProbability(ge.loss_bad)
            )?;
            if ge.loss_good != 0.0 {
                write!(f, ":{}", DisplayProbability(ge.loss_good))?;
            }
        }
        if self.reorder != 0.0 {
            write!(f, ",reorder={}", DisplayProbability(self.reorder))?;
        }
        if self.reorder_delay != default.reorder_delay {
            write!(f, ",reorder_delay={}", DisplayDuration(self.reorder_delay))?;
        }
        if self.duplicate != 0.0 {
            write!(f, ",duplicate={}", DisplayProbability(self.duplicate))?;
        }
        if self.corrupt != 0.0 {
            write!(f, ",corrupt={}", DisplayProbability(self.corrupt))?;
        }
        if self.mtu != default.mtu {
            write!(f, ",mtu={}", self.mtu)?;
        }
        Ok(())
    }
}

/// Parses a bit rate in bits per second: `64000`, `100mbit`, `1.5g`, `10kbit` (k, m, g, t are
/// powers of 1000, as in `tc`).
pub fn parse_rate(s: &str) -> Result<u64, ValueError> {
    let (number, unit) = split_unit(s);
    let scale = match unit.strip_suffix("bit").unwrap_or(&unit) {
        "" => 1,
        "k" => 1_000,
        "m" => 1_000_000,
        "g" => 1_000_000_000,
        "t" => 1_000_000_000_000,
        _ => return Err(expected(s, RATE)),
    };
    parse_fixed(number, scale)
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| expected(s, RATE))
}

/// Parses a size in bytes: `1500`, `64k`, `1.5m`, `64KiB` (k, m, g are powers of 1024, as in
/// `tc`; `kb`, `kib` and so on are accepted too).
pub fn parse_bytes(s: &str) -> Result<usize, ValueError> {
    let (number, unit) = split_unit(s);
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b'))
        .unwrap_or(&unit);
    let scale = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => return Err(expected(s, BYTES)),
    };
    parse_fixed(number, scale)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| expected(s, BYTES))
}

/// Parses a duration: `20ms`, `1.5s`, `250us` (or `µs`), `100ns`, `0`. A number needs a unit,
/// except zero.
pub fn parse_duration(s: &str) -> Result<Duration, ValueError> {
    let (number, unit) = split_unit(s);
    let scale = match unit.as_str() {
        "s" => 1_000_000_000,
        "ms" => 1_000_000,
        "us" | "µs" => 1_000,
        "ns" => 1,
        "" if parse_fixed(number, 1) == Some(0) => 1,
        _ => return Err(expected(s, DURATION)),
    };
    parse_fixed(number, scale)
        .and_then(|n| u64::try_from(n).ok())
        .map(Duration::from_nanos)
        .ok_or_else(|| expected(s, DURATION))
}

/// Parses a probability: `1%`, `0.01`, `0`, `100%`.
pub fn parse_probability(s: &str) -> Result<f64, ValueError> {
    let text = s.trim();
    let value = match text.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().map(|p| p / 100.0),
        None => text.parse::<f64>(),
    };
    value
        .ok()
        .filter(|p| (0.0..=1.0).contains(p))
        .ok_or_else(|| expected(s, PROBABILITY))
}

/// `burst=gilbert`, `burst=none` or `burst=p:r[:bad_loss[:good_loss]]`.
fn parse_burst(s: &str) -> Result<Option<GilbertElliott>, ValueError> {
    match s.to_ascii_lowercase().as_str() {
        "none" | "off" => return Ok(None),
        "gilbert" | "gilbert-elliott" | "ge" | "on" => return Ok(Some(GilbertElliott::default())),
        _ => {}
    }
    let parts = s
        .split(':')
        .map(parse_probability)
        .collect::<Result<Vec<_>, _>>();
    match parts.map_err(|_| expected(s, BURST))?[..] {
        [p, r] => Ok(Some(GilbertElliott {
            p,
            r,
            loss_bad: 1.0,
            loss_good: 0.0,
        })),
        [p, r, loss_bad] => Ok(Some(GilbertElliott {
            p,
            r,
            loss_bad,
            loss_good: 0.0,
        })),
        [p, r, loss_bad, loss_good] => Ok(Some(GilbertElliott {
            p,
            r,
            loss_bad,
            loss_good,
        })),
        _ => Err(expected(s, BURST)),
    }
}

fn none_or<T>(s: &str, parse: fn(&str) -> Result<T, ValueError>) -> Result<Option<T>, ValueError> {
    match s.to_ascii_lowercase().as_str() {
        "none" | "unlimited" => Ok(None),
        _ => parse(s).map(Some),
    }
}

fn expected(value: &str, expected: &'static str) -> ValueError {
    ValueError {
        value: value.into(),
        expected,
    }
}

/// Splits `"1.5 MBit"` into `("1.5", "mbit")`.
fn split_unit(s: &str) -> (&str, String) {
    let s = s.trim();
    let at = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    (&s[..at], s[at..].trim().to_lowercase())
}

/// `number × scale`, rounded to the nearest integer, in exact integer arithmetic: `"1.5"` at
/// scale 1000 is 1500. Digits and at most one point only; `None` on overflow.
fn parse_fixed(number: &str, scale: u128) -> Option<u128> {
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) || frac.len() > 18 {
        return None;
    }
    let whole = if int.is_empty() {
        0
    } else {
        int.parse::<u128>().ok()?
    };
    let (frac_value, denominator) = (
        frac.parse::<u128>().unwrap_or(0),
        10u128.pow(frac.len() as u32),
    );
    let part = (frac_value.checked_mul(scale)? + denominator / 2) / denominator;
    whole.checked_mul(scale)?.checked_add(part)
}

/// `(n / unit, suffix)` for the largest unit dividing `n` exactly, else `(n, "")`.
fn largest_unit(n: u128, units: &[(u128, &'static str)]) -> (u128, &'static str) {
    units
        .iter()
        .find(|(size, _)| n != 0 && n.is_multiple_of(*size))
        .map_or((n, ""), |&(size, suffix)| (n / size, suffix))
}

/// A duration in the largest unit that keeps it exact.
struct DisplayDuration(Duration);

impl fmt::Display for DisplayDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let units = [(1_000_000_000, "s"), (1_000_000, "ms"), (1_000, "us")];
        match largest_unit(self.0.as_nanos(), &units) {
            (0, _) => f.write_str("0s"),
            (n, "") => write!(f, "{n}ns"),
            (n, unit) => write!(f, "{n}{unit}"),
        }
    }
}

/// A probability as the shortest percentage that parses back to the same `f64`, else as a
/// fraction.
struct DisplayProbability(f64);

impl fmt::Display for DisplayProbability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let percent = self.0 * 100.0;
        let exact = (0..=12)
            .map(|digits| format!("{percent:.digits$}"))
            .find(|text| text.parse::<f64>().is_ok_and(|p| p / 100.0 == self.0));
        match exact {
            Some(text) => write!(f, "{text}%"),
            None => write!(f, "{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_point_is_exact() {
        assert_eq!(parse_fixed("1.5", 1000), Some(1500));
        assert_eq!(parse_fixed(".25", 100), Some(25));
        assert_eq!(parse_fixed("0.0000005", 1_000_000), Some(1)); // rounds half up
        assert_eq!(parse_fixed("1.2.3", 1), None);
        assert_eq!(parse_fixed(".", 1), None);
        assert_eq!(parse_fixed("", 1), None);
        assert_eq!(
            parse_fixed("999999999999999999999999999999999999999", 1000),
            None
        );
    }

    #[test]
    fn value_parsers() {
        assert_eq!(parse_rate("100mbit"), Ok(100_000_000));
        assert_eq!(parse_rate("1.5G"), Ok(1_500_000_000));
        assert_eq!(parse_rate("64000"), Ok(64_000));
        assert_eq!(parse_rate("10 kbit"), Ok(10_000));
        assert!(
            parse_rate("10mbps").is_err(),
            "bps is ambiguous (tc reads it as bytes)"
        );
        assert_eq!(parse_bytes("64k"), Ok(65_536));
        assert_eq!(parse_bytes("1.5MiB"), Ok(1_572_864));
        assert_eq!(parse_bytes("1500"), Ok(1500));
        assert_eq!(parse_duration("20ms"), Ok(Duration::from_millis(20)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250µs"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("20").is_err());
        assert_eq!(parse_probability("1%"), Ok(0.01));
        assert_eq!(parse_probability("0.25"), Ok(0.25));
        assert!(parse_probability("101%").is_err());
        assert!(parse_probability("NaN").is_err());
        assert_eq!(
            parse_rate("fast").unwrap_err().to_string(),
            format!("'fast' is not {RATE}")
        );
    }
}
