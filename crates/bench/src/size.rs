//! Byte sizes on the command line (`1GiB`, `64MiB`, `100M`, `4096`) and in reports.

use std::fmt;
use std::str::FromStr;

/// A size in bytes, parsed from a number with an optional unit: none or `B` (bytes),
/// `K`/`KB`, `M`/`MB`, `G`/`GB`, `T`/`TB` (powers of 1000) or `KiB`, `MiB`, `GiB`, `TiB`
/// (powers of 1024); units are case-insensitive, a fraction is allowed (`1.5GiB`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ByteSize(pub(crate) u64);

/// Why a size did not parse.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ParseSizeError(String);

impl fmt::Display for ParseSizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseSizeError {}

impl FromStr for ByteSize {
    type Err = ParseSizeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| {
            ParseSizeError(format!(
                "bad size {s:?}: {why}; write a number with an optional unit, e.g. 1GiB, 64MiB, 100M, 4096"
            ))
        };
        let s_trim = s.trim();
        let split = s_trim
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s_trim.len());
        let (number, unit) = s_trim.split_at(split);
        if number.is_empty() {
            return Err(bad("no number"));
        }
        let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" => 1_000,
            "m" | "mb" => 1_000_000,
            "g" | "gb" => 1_000_000_000,
            "t" | "tb" => 1_000_000_000_000,
            "kib" => 1 << 10,
            "mib" => 1 << 20,
            "gib" => 1 << 30,
            "tib" => 1 << 40,
            _ => return Err(bad("unknown unit")),
        };
        if let Ok(n) = number.parse::<u64>() {
            return n
                .checked_mul(multiplier)
                .map(ByteSize)
                .ok_or_else(|| bad("too large"));
        }
        let x: f64 = number.parse().map_err(|_| bad("not a number"))?;
        let bytes = (x * multiplier as f64).round();
        if !(0.0..=u64::MAX as f64).contains(&bytes) {
            return Err(bad("too large"));
        }
        Ok(ByteSize(bytes as u64))
    }
}

impl fmt::Display for ByteSize {
    /// Binary units with two decimals (`1.00 GiB`), plain bytes below 1 KiB.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
        let mut value = self.0 as f64;
        if self.0 < 1024 {
            return write!(f, "{} B", self.0);
        }
        let mut unit = "B";
        for u in UNITS {
            if value < 1024.0 {
                break;
            }
            value /= 1024.0;
            unit = u;
        }
        write!(f, "{value:.2} {unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<u64, ParseSizeError> {
        s.parse::<ByteSize>().map(|b| b.0)
    }

    #[test]
    fn binary_and_decimal_units() {
        assert_eq!(parse("1GiB"), Ok(1 << 30));
        assert_eq!(parse("64MiB"), Ok(64 << 20));
        assert_eq!(parse("4KiB"), Ok(4096));
        assert_eq!(parse("100M"), Ok(100_000_000));
        assert_eq!(parse("100MB"), Ok(100_000_000));
        assert_eq!(parse("2G"), Ok(2_000_000_000));
        assert_eq!(parse("3k"), Ok(3_000));
        assert_eq!(parse("1tib"), Ok(1 << 40));
    }

    #[test]
    fn plain_numbers_fractions_and_spaces() {
        assert_eq!(parse("4096"), Ok(4096));
        assert_eq!(parse("0"), Ok(0));
        assert_eq!(parse("7B"), Ok(7));
        assert_eq!(parse("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse(" 8 MiB "), Ok(8 << 20));
    }

    #[test]
    fn rejects_nonsense() {
        for s in [
            "",
            "GiB",
            "1XB",
            "1.2.3M",
            "-1M",
            "99999999999999999999TiB",
            "1e9",
        ] {
            let err = parse(s).expect_err(s);
            assert!(err.to_string().contains("e.g. 1GiB"), "{err}");
        }
    }

    #[test]
    fn displays_in_binary_units() {
        assert_eq!(ByteSize(1 << 30).to_string(), "1.00 GiB");
        assert_eq!(ByteSize(3 << 19).to_string(), "1.50 MiB");
        assert_eq!(ByteSize(1000).to_string(), "1000 B");
    }
}
