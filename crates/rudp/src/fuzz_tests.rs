//! No input panics the connection: arbitrary datagrams, and arbitrary *authenticated*
//! payloads (a buggy or hostile peer that holds the key).

use crate::packet::{HEADER_LEN, Header, PacketKey, PacketType, TAG_LEN, TransferId};
use crate::{Config, Connection, RangeSet, Side, TransferParams};
use proptest::prelude::*;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

const KEY: [u8; 32] = [3; 32];

fn pair(now: Instant, size: u64) -> (Connection, Connection) {
    let params = TransferParams {
        transfer_id: TransferId(77),
        key: KEY,
        size,
    };
    let server: SocketAddr = "10.0.0.1:1".parse().unwrap();
    let cfg = Arc::new(Config::default());
    let sender = Connection::sender(
        cfg.clone(),
        params.clone(),
        Side::Server,
        Box::new(vec![5u8; size as usize]),
        now,
    )
    .unwrap();
    let receiver = Connection::receiver(
        cfg,
        params,
        Side::Client { server },
        Box::new(Vec::new()),
        RangeSet::new(),
        now,
    )
    .unwrap();
    (sender, receiver)
}

fn seal(ty: PacketType, pn: u64, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; HEADER_LEN + payload.len() + TAG_LEN];
    let h = Header {
        ty,
        transfer_id: TransferId(77),
        pn,
    };
    h.encode(&mut buf);
    buf[HEADER_LEN..HEADER_LEN + payload.len()].copy_from_slice(payload);
    PacketKey::new(&KEY).seal(&h, &mut buf);
    buf
}

fn exercise(c: &mut Connection, now: Instant) {
    let mut out = vec![0u8; 1500];
    for _ in 0..4 {
        let _ = c.poll_transmit(now, &mut out);
    }
    if let Some(t) = c.poll_timeout() {
        c.handle_timeout(t.max(now));
    }
    while c.poll_event().is_some() {}
    let _ = c.stats();
}

/// Frame-shaped noise: a frame type byte followed by arbitrary varint-ish bytes.
fn frames() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        (0u8..9, proptest::collection::vec(any::<u8>(), 0..24)),
        0..8,
    )
    .prop_map(|fs| {
        let mut v = Vec::new();
        for (t, body) in fs {
            v.push(t);
            v.extend(body);
        }
        v
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..1600), tweak in any::<u8>()) {
        let now = Instant::now();
        let from: SocketAddr = "10.9.9.9:9".parse().unwrap();
        let (mut s, mut r) = pair(now, 10_000);
        let mut d = data.clone();
        if d.len() > 2 && tweak % 2 == 0 {
            d[0] = 1;
            d[1] = 1 + tweak % 3;
        }
        s.handle_datagram(now, from, &mut d.clone());
        r.handle_datagram(now, from, &mut d);
        exercise(&mut s, now);
        exercise(&mut r, now);
    }

    #[test]
    fn authenticated_garbage_never_panics(payloads in proptest::collection::vec(frames(), 1..6), size in 0u64..5000) {
        let mut now = Instant::now();
        let from: SocketAddr = "10.9.9.9:9".parse().unwrap();
        let (mut s, mut r) = pair(now, size);
        // Let the receiver send its HELLO so ACK frames can refer to real packets.
        exercise(&mut r, now);
        for (i, p) in payloads.iter().enumerate() {
            now += Duration::from_millis(7);
            let mut to_receiver = seal(PacketType::FromSender, i as u64, p);
            r.handle_datagram(now, from, &mut to_receiver);
            let mut to_sender = seal(PacketType::FromReceiver, i as u64, p);
            s.handle_datagram(now, from, &mut to_sender);
            exercise(&mut s, now);
            exercise(&mut r, now);
        }
    }
}
