//! The cleartext packet header, packet protection, and the transfer id used for demux.
//!
//! ```text
//! 0        1        2                        10                14
//! +--------+--------+------------------------+-----------------+---------------+------------+
//! |version |  type  |  transfer id (u64 BE)  | pn (low 32 bits)| frames (AEAD) | tag (16 B) |
//! +--------+--------+------------------------+-----------------+---------------+------------+
//! ```
//!
//! The packet number is a 62-bit counter of which the header carries the low 32 bits; the
//! receiver reconstructs the rest from the largest number it has received, as RFC 9000
//! §17.1 / Appendix A.3 does (unambiguous while reordering stays below 2^31 packets).
//!
//! Packets are protected with AEAD_AES_256_GCM (RFC 5116) under the per-transfer key. The 14
//! header bytes are the associated data, so they are authenticated but stay readable: a driver
//! routes a datagram by transfer id before any key is involved ([`peek_transfer_id`]). The
//! 12-byte nonce is the packet type (which names the direction: from the data sender or from
//! the data receiver), three zero bytes, then the 8-byte packet number, so the two directions,
//! which share the key, never reuse a nonce (RFC 9001 §5.3 builds its nonce from the packet
//! number in the same spirit). Packet numbers are never reused, so no nonce repeats.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

/// Wire-format version carried in the first byte of every datagram.
pub const VERSION: u8 = 1;
/// Length of the cleartext header, bytes.
pub const HEADER_LEN: usize = 14;
/// Length of the AEAD tag appended to every datagram, bytes.
pub const TAG_LEN: usize = 16;
/// Header plus tag: what every datagram spends before its first frame, bytes.
pub const OVERHEAD: usize = HEADER_LEN + TAG_LEN;

/// Identifies one transfer; many transfers share one UDP socket and are routed by this id.
/// Chosen by the server (randomly, so ids are not guessable) and handed over on the control
/// channel together with the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransferId(pub u64);

impl std::fmt::Display for TransferId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Which way a packet travels, named by the data roles: a transfer has exactly one sender of
/// file bytes and one receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PacketType {
    /// Sent by the endpoint that sends the file bytes.
    FromSender = 1,
    /// Sent by the endpoint that receives the file bytes.
    FromReceiver = 2,
}

impl PacketType {
    fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(Self::FromSender),
            2 => Some(Self::FromReceiver),
            _ => None,
        }
    }
}

/// The decoded cleartext header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) ty: PacketType,
    pub(crate) transfer_id: TransferId,
    pub(crate) pn: u64,
}

impl Header {
    /// Parses the header of a datagram long enough to hold a header and a tag, reconstructing
    /// the full packet number from the largest one received so far.
    pub(crate) fn decode(buf: &[u8], largest: Option<u64>) -> Option<Self> {
        if buf.len() < OVERHEAD || buf[0] != VERSION {
            return None;
        }
        let ty = PacketType::from_u8(buf[1])?;
        let transfer_id = TransferId(u64::from_be_bytes(buf[2..10].try_into().ok()?));
        let truncated = u32::from_be_bytes(buf[10..14].try_into().ok()?);
        let pn = decode_pn(largest, truncated);
        Some(Self {
            ty,
            transfer_id,
            pn,
        })
    }

    pub(crate) fn encode(&self, buf: &mut [u8]) {
        buf[0] = VERSION;
        buf[1] = self.ty as u8;
        buf[2..10].copy_from_slice(&self.transfer_id.0.to_be_bytes());
        buf[10..14].copy_from_slice(&(self.pn as u32).to_be_bytes());
    }
}

/// RFC 9000 Appendix A.3 with a 32-bit window: the packet number closest to `largest + 1`
/// whose low 32 bits are `truncated`.
fn decode_pn(largest: Option<u64>, truncated: u32) -> u64 {
    const WIN: u64 = 1 << 32;
    const HALF: u64 = WIN / 2;
    let expected = largest.map_or(0, |l| l + 1);
    let candidate = (expected & !(WIN - 1)) | u64::from(truncated);
    if candidate + HALF <= expected && candidate < (1 << 62) - WIN {
        candidate + WIN
    } else if candidate > expected + HALF && candidate >= WIN {
        candidate - WIN
    } else {
        candidate
    }
}

/// The transfer id of a datagram, read without decrypting anything. `None` when the datagram
/// is too short or of an unknown version: the driver drops it.
pub fn peek_transfer_id(datagram: &[u8]) -> Option<TransferId> {
    if datagram.len() < OVERHEAD || datagram[0] != VERSION {
        return None;
    }
    Some(TransferId(u64::from_be_bytes(
        datagram[2..10].try_into().ok()?,
    )))
}

/// The per-transfer AEAD key (AES-256-GCM), 32 bytes from the control channel.
pub(crate) struct PacketKey {
    cipher: LessSafeKey,
}

impl std::fmt::Debug for PacketKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PacketKey(..)")
    }
}

fn nonce(ty: PacketType, pn: u64) -> Nonce {
    let mut n = [0u8; 12];
    n[0] = ty as u8;
    n[4..].copy_from_slice(&pn.to_be_bytes());
    Nonce::assume_unique_for_key(n)
}

impl PacketKey {
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        let key = UnboundKey::new(&AES_256_GCM, key).expect("a 32-byte key fits AES-256-GCM");
        Self {
            cipher: LessSafeKey::new(key),
        }
    }

    /// Encrypts `datagram[HEADER_LEN..len - TAG_LEN]` in place and writes the tag into the last
    /// `TAG_LEN` bytes. The header must already be encoded.
    pub(crate) fn seal(&self, header: &Header, datagram: &mut [u8]) {
        let len = datagram.len();
        let (head, rest) = datagram.split_at_mut(HEADER_LEN);
        let (payload, tag) = rest.split_at_mut(len - OVERHEAD);
        let aad = Aad::from(&head[..]);
        let t = self
            .cipher
            .seal_in_place_separate_tag(nonce(header.ty, header.pn), aad, payload)
            .expect("payload below the AEAD size limit");
        tag.copy_from_slice(t.as_ref());
    }

    /// Authenticates and decrypts in place; on success the plaintext frames are
    /// `datagram[HEADER_LEN..len - TAG_LEN]`. On failure the buffer content is unspecified.
    pub(crate) fn open(&self, header: &Header, datagram: &mut [u8]) -> bool {
        let len = datagram.len();
        if len < OVERHEAD {
            return false;
        }
        let (head, rest) = datagram.split_at_mut(HEADER_LEN);
        // `rest` is the ciphertext followed by its tag, the layout ring expects.
        self.cipher
            .open_in_place(nonce(header.ty, header.pn), Aad::from(&head[..]), rest)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_tamper() {
        let key = PacketKey::new(&[7; 32]);
        let h = Header {
            ty: PacketType::FromSender,
            transfer_id: TransferId(42),
            pn: 9,
        };
        let mut buf = vec![0u8; 100];
        h.encode(&mut buf);
        buf[HEADER_LEN..HEADER_LEN + 5].copy_from_slice(b"hello");
        key.seal(&h, &mut buf);
        assert_eq!(peek_transfer_id(&buf), Some(TransferId(42)));
        let mut ok = buf.clone();
        assert!(key.open(&Header::decode(&ok, None).unwrap(), &mut ok));
        assert_eq!(&ok[HEADER_LEN..HEADER_LEN + 5], b"hello");
        for i in 0..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x10;
            let opened = Header::decode(&bad, None).is_some_and(|h| key.open(&h, &mut bad));
            assert!(!opened, "flip at byte {i} accepted");
        }
        // The other direction with the same packet number uses another nonce.
        let mut refl = buf.clone();
        refl[1] = PacketType::FromReceiver as u8;
        assert!(!key.open(&Header::decode(&refl, None).unwrap(), &mut refl));
    }

    #[test]
    fn packet_numbers_reconstruct_across_the_32_bit_boundary() {
        for (largest, pn) in [
            (None, 0u64),
            (Some(0), 1),
            (Some(10), 3),
            (Some((1 << 32) - 2), (1 << 32) + 5),
            (Some((1 << 32) + 5), (1 << 32) - 100),
            (Some(7 << 40), (7 << 40) + 123_456),
        ] {
            assert_eq!(decode_pn(largest, pn as u32), pn, "largest {largest:?}");
        }
    }
}
