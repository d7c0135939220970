//! Lowercase hex, the wire form of the 32-byte values the protocol carries: transfer keys and
//! BLAKE3 hashes.

use std::fmt::Write;

/// `bytes` as lowercase hex digits, two per byte.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The 32 bytes spelled by exactly 64 hex digits (either case), or `None`.
pub fn from_hex32(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let digit = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *byte = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_non_hex() {
        let mut key = [0u8; 32];
        key[0] = 0x00;
        key[1] = 0xff;
        key[31] = 0xa5;
        let text = to_hex(&key);
        assert_eq!(text.len(), 64);
        assert!(text.starts_with("00ff"));
        assert_eq!(from_hex32(&text), Some(key));
        assert_eq!(from_hex32(&text.to_uppercase()), Some(key));
        assert_eq!(from_hex32("zz"), None);
        assert_eq!(from_hex32(&"g".repeat(64)), None);
        assert_eq!(from_hex32(&"0".repeat(63)), None);
        assert_eq!(from_hex32(&format!("{}zz", &text[..62])), None);
        assert_eq!(
            from_hex32(&"é".repeat(32)),
            None,
            "64 bytes, but not digits"
        );
    }
}
