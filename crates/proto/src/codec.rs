//! Framing and message decoding.
//!
//! A frame is a 4-byte big-endian payload length followed by the payload. The length is checked
//! against the cap **before** anything is reserved for the payload, so a hostile 4 GiB prefix
//! costs the receiver nothing but the four bytes it sent.
//!
//! Decoding a payload sorts failures into two kinds, because the right response differs:
//! - [`DecodeError::Undecodable`]: not UTF-8 / not JSON. The stream can no longer be trusted to
//!   be speaking our protocol at all; the connection is closed with a reason.
//! - [`DecodeError::Malformed`]: well-formed JSON that is not a message we know (unknown `type`,
//!   a missing field). Likely a newer or buggy client; it gets an `error` frame and carries on.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::Serialize;
use serde::de::DeserializeOwned;
use thiserror::Error;

use crate::message::{ClientMsg, ServerMsg};

/// Default cap on a frame's payload, in bytes (64 KiB).
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Size of the length prefix, in bytes.
const HEADER_BYTES: usize = 4;

/// A frame could not be read or written.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    /// The declared payload length is over the cap.
    #[error("frame of {len} bytes is over the {max}-byte limit")]
    TooLarge {
        /// Declared payload length, in bytes.
        len: usize,
        /// The cap, in bytes.
        max: usize,
    },
}

/// A frame's payload is not a message of ours.
#[derive(Debug, Error)]
pub enum DecodeError {
    /// Not UTF-8 JSON at all: close the connection.
    #[error("undecodable frame: {0}")]
    Undecodable(String),
    /// JSON, but not a known message; `req` is the request number if one could be read.
    #[error("malformed message: {reason}")]
    Malformed {
        /// The `req` field of the offending object, if it had a numeric one.
        req: Option<u64>,
        /// What serde said, e.g. ``unknown variant `shout` ``.
        reason: String,
    },
}

/// Splits one frame off the front of `buf`.
///
/// Returns `Ok(None)` when `buf` does not yet hold a whole frame (read more and call again),
/// and the payload when it does. The cap is enforced from the header alone.
pub fn decode_frame(buf: &mut BytesMut, max_len: usize) -> Result<Option<Bytes>, FrameError> {
    let Some(header) = buf.get(..HEADER_BYTES) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    if len > max_len {
        return Err(FrameError::TooLarge { len, max: max_len });
    }
    if buf.len() < HEADER_BYTES + len {
        // Reserve only what the (already capped) frame needs, so reads land in one buffer.
        buf.reserve(HEADER_BYTES + len - buf.len());
        return Ok(None);
    }
    buf.advance(HEADER_BYTES);
    Ok(Some(buf.split_to(len).freeze()))
}

/// Appends `payload` to `dst` as one frame.
pub fn encode_frame(payload: &[u8], dst: &mut BytesMut, max_len: usize) -> Result<(), FrameError> {
    if payload.len() > max_len {
        return Err(FrameError::TooLarge {
            len: payload.len(),
            max: max_len,
        });
    }
    dst.reserve(HEADER_BYTES + payload.len());
    dst.put_u32(payload.len() as u32);
    dst.put_slice(payload);
    Ok(())
}

/// Serializes a message straight into a frame (prefix included), ready to write or to hand to
/// many sessions at once.
pub fn encode_msg<T: Serialize>(msg: &T, max_len: usize) -> Result<Bytes, FrameError> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(&[0; HEADER_BYTES]);
    // Serializing our own message types into a Vec cannot fail: they hold only strings,
    // integers and options (no maps with non-string keys, no custom Serialize impls).
    serde_json::to_writer(&mut out, msg).expect("confab messages always serialize");
    let len = out.len() - HEADER_BYTES;
    if len > max_len {
        return Err(FrameError::TooLarge { len, max: max_len });
    }
    out[..HEADER_BYTES].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(Bytes::from(out))
}

/// Decodes a client request from a frame payload.
pub fn decode_client(payload: &[u8]) -> Result<ClientMsg, DecodeError> {
    decode(payload)
}

/// Decodes a server message from a frame payload.
pub fn decode_server(payload: &[u8]) -> Result<ServerMsg, DecodeError> {
    decode(payload)
}

fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, DecodeError> {
    match serde_json::from_slice::<T>(payload) {
        Ok(msg) => Ok(msg),
        Err(err) if err.is_data() => {
            // Valid JSON of the wrong shape. Parse again loosely (this is the rare error path)
            // to find a request number to echo, so the client can match the error.
            let value: serde_json::Value =
                serde_json::from_slice(payload).unwrap_or(serde_json::Value::Null);
            if !value.is_object() {
                return Err(DecodeError::Undecodable(
                    "expected a JSON object with a \"type\" field".into(),
                ));
            }
            let req = value.get("req").and_then(serde_json::Value::as_u64);
            Err(DecodeError::Malformed {
                req,
                reason: err.to_string(),
            })
        }
        Err(err) => Err(DecodeError::Undecodable(err.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::ErrorCode;

    #[test]
    fn frame_waits_for_whole_payload() {
        let mut buf = BytesMut::new();
        encode_frame(b"hello", &mut buf, MAX_FRAME_BYTES).unwrap();
        let mut partial = BytesMut::from(&buf[..6]);
        assert_eq!(decode_frame(&mut partial, MAX_FRAME_BYTES), Ok(None));
        partial.extend_from_slice(&buf[6..]);
        let got = decode_frame(&mut partial, MAX_FRAME_BYTES)
            .unwrap()
            .unwrap();
        assert_eq!(&got[..], b"hello");
        assert!(partial.is_empty());
    }

    #[test]
    fn oversized_length_is_refused_before_allocating() {
        let mut buf = BytesMut::from(&(10u32 * 1024 * 1024).to_be_bytes()[..]);
        let cap_before = buf.capacity();
        assert_eq!(
            decode_frame(&mut buf, MAX_FRAME_BYTES),
            Err(FrameError::TooLarge {
                len: 10 * 1024 * 1024,
                max: MAX_FRAME_BYTES
            })
        );
        assert_eq!(buf.capacity(), cap_before);
    }

    #[test]
    fn unknown_type_is_malformed_and_keeps_req() {
        match decode_client(br#"{"type":"shout","req":7}"#) {
            Err(DecodeError::Malformed { req, .. }) => assert_eq!(req, Some(7)),
            other => panic!("expected malformed, got {other:?}"),
        }
    }

    #[test]
    fn non_json_and_bad_utf8_are_undecodable() {
        assert!(matches!(
            decode_client(b"\x00\x01garbage"),
            Err(DecodeError::Undecodable(_))
        ));
        assert!(matches!(
            decode_client(b"{\"type\":\"say\",\"text\":\"\xff\xfe\"}"),
            Err(DecodeError::Undecodable(_))
        ));
        assert!(matches!(
            decode_client(b"[1,2]"),
            Err(DecodeError::Undecodable(_))
        ));
    }

    const TRANSFER_STATS: &[u8] = br#"{"type":"transfer_stats","transfer":7,"cwnd":120000,"bytes_in_flight":96000,"packets_sent":4100,"packets_lost":37,"data_bytes_retransmitted":53724,"smoothed_rtt_us":41800,"min_rtt_us":40100,"pacing_rate":6250000,"delivery_rate":5900000}"#;

    fn transfer_stats() -> ServerMsg {
        ServerMsg::TransferStats {
            transfer: 7,
            sender: crate::SenderStats {
                cwnd: 120_000,
                bytes_in_flight: 96_000,
                packets_sent: 4100,
                packets_lost: 37,
                data_bytes_retransmitted: 53_724,
                smoothed_rtt_us: 41_800,
                min_rtt_us: 40_100,
                pacing_rate: 6_250_000,
                delivery_rate: 5_900_000,
            },
        }
    }

    #[test]
    fn transfer_stats_is_one_flat_object_as_in_protocol_md() {
        let frame = encode_msg(&transfer_stats(), MAX_FRAME_BYTES).unwrap();
        assert_eq!(&frame[4..], TRANSFER_STATS);
        assert_eq!(decode_server(TRANSFER_STATS).unwrap(), transfer_stats());
    }

    #[test]
    fn transfer_stats_takes_extra_fields_and_refuses_missing_ones() {
        // A newer server may report more figures: an older client still reads the rest.
        let mut newer = TRANSFER_STATS[..TRANSFER_STATS.len() - 1].to_vec();
        newer.extend_from_slice(br#","ptos":3}"#);
        assert_eq!(decode_server(&newer).unwrap(), transfer_stats());
        assert!(matches!(
            decode_server(br#"{"type":"transfer_stats","transfer":7,"cwnd":1}"#),
            Err(DecodeError::Malformed { .. })
        ));
        assert!(matches!(
            decode_server(
                br#"{"type":"transfer_stats","transfer":-1,"cwnd":1,"bytes_in_flight":0,"packets_sent":0,"packets_lost":0,"data_bytes_retransmitted":0,"smoothed_rtt_us":0,"min_rtt_us":0,"pacing_rate":0,"delivery_rate":0}"#
            ),
            Err(DecodeError::Malformed { .. })
        ));
    }

    #[test]
    fn wire_form_matches_protocol_md() {
        let frame = encode_msg(
            &ServerMsg::Error {
                req: Some(3),
                code: ErrorCode::NickTaken,
                message: "x".into(),
            },
            MAX_FRAME_BYTES,
        )
        .unwrap();
        assert_eq!(
            &frame[4..],
            br#"{"type":"error","req":3,"code":"nick_taken","message":"x"}"#
        );
        assert_eq!(
            u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize,
            frame.len() - 4
        );
    }
}
