//! How a UDP datagram travels as IPv4: header sizes and fragmentation (RFC 791).

/// IPv4 header without options, bytes.
pub const IPV4_HEADER: usize = 20;
/// UDP header, bytes.
pub const UDP_HEADER: usize = 8;
/// The largest UDP payload IPv4 can carry (65535 − 20 − 8), bytes.
pub const MAX_UDP_PAYLOAD: usize = 65_507;

/// The IP packets a UDP datagram of `payload` bytes becomes on a path of `mtu` bytes: their
/// sizes in wire bytes (IP header included), in the order they are sent. A datagram that fits
/// is one packet of `payload + 28` bytes; otherwise every fragment but the last carries the
/// largest multiple of 8 bytes that fits beside its own 20-byte header.
///
/// An `mtu` below 28 is treated as 28 (validated configs have at least 68).
pub fn fragment_sizes(payload: usize, mtu: usize) -> impl Iterator<Item = usize> {
    let ip_payload = payload.saturating_add(UDP_HEADER);
    let per_fragment = (mtu.saturating_sub(IPV4_HEADER) / 8 * 8).max(8);
    let count = if ip_payload <= mtu.saturating_sub(IPV4_HEADER) {
        1
    } else {
        ip_payload.div_ceil(per_fragment)
    };
    (0..count).map(move |i| {
        let carried = if count == 1 {
            ip_payload
        } else {
            per_fragment.min(ip_payload - i * per_fragment)
        };
        IPV4_HEADER + carried
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(payload: usize, mtu: usize) -> Vec<usize> {
        fragment_sizes(payload, mtu).collect()
    }

    #[test]
    fn fits_or_fragments_like_ipv4() {
        assert_eq!(sizes(1472, 1500), [1500]);
        assert_eq!(sizes(0, 1500), [28]);
        assert_eq!(sizes(1473, 1500), [1500, 21]);
        assert_eq!(sizes(2048, 1500), [1500, 596]);
        // mtu 1499: fragment payload rounds down to 1472, a multiple of 8.
        assert_eq!(sizes(2048, 1499), [1492, 604]);
        let frags = sizes(MAX_UDP_PAYLOAD, 68);
        assert_eq!(frags.len(), 1365);
        assert_eq!(
            frags.iter().map(|f| f - IPV4_HEADER).sum::<usize>(),
            MAX_UDP_PAYLOAD + 8
        );
        assert!(frags.iter().all(|&f| f <= 68));
    }
}
