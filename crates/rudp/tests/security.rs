//! Authentication, replay protection and NAT rebinding.

mod common;

use common::*;
use rudp::{Config, Connection, RangeSet, Side, TransferParams};
use std::time::Duration;

const LINK: &str = "rate=20mbit,rtt=20ms,queue=1bdp";

#[test]
fn spoofed_replayed_and_wrong_key_packets_are_dropped_and_counted() {
    let mut sim = Sim::symmetric(LINK, 5);
    sim.capture_limit = 50;
    sim.add_flow(FlowSpec::new(4 << 20, Config::default()));
    sim.run_until(Duration::from_secs(30), |s| s.flows[0].received() > 1 << 20);

    // An attacker who knows the transfer id but not the key: a sender of its own, same id,
    // another key, sending from another address.
    let now = sim.now;
    let attacker = client_addr(9);
    let params = TransferParams {
        transfer_id: sim.flows[0].id,
        key: [0xee; 32],
        size: 4 << 20,
    };
    let mut evil = Connection::sender(
        std::sync::Arc::new(Config::default()),
        params,
        Side::Client { server: SERVER },
        Box::new(PatternSource {
            seed: 666,
            size: 4 << 20,
        }),
        now,
    )
    .unwrap();
    let mut buf = vec![0u8; 2048];
    let t = evil.poll_transmit(now, &mut buf).expect("a HELLO");
    let f = &mut sim.flows[0];
    let receiver = f.receiver.as_mut().unwrap();
    let before = receiver.stats();
    let mut forged = buf[..t.size].to_vec();
    // (A packet number the receiver has seen is dropped as a replay before any crypto; give
    // the forgery a fresh one so it meets the AEAD check.)
    forged[10..14].copy_from_slice(&0xffff_fff0u32.to_be_bytes()[..]);
    receiver.handle_datagram(now, attacker, &mut forged);
    // Garbage behind a valid-looking header.
    let mut garbage = sim.captured[5].clone();
    for b in &mut garbage[18..] {
        *b = b.wrapping_mul(31).wrapping_add(7);
    }
    garbage[10..14].copy_from_slice(&u32::MAX.to_be_bytes()[..]);
    receiver.handle_datagram(now, attacker, &mut garbage);
    // Replays of genuine packets, from the attacker's address.
    let replays = sim.captured.len() as u64;
    for d in &sim.captured {
        let mut d = d.clone();
        receiver.handle_datagram(now, attacker, &mut d);
    }
    let after = receiver.stats();
    assert_eq!(after.dropped_auth - before.dropped_auth, 2);
    assert_eq!(after.duplicates - before.duplicates, replays);
    assert_eq!(after.packets_received, before.packets_received);
    assert_eq!(
        receiver.remote(),
        Some(SERVER),
        "forged packets must not move the path"
    );

    assert!(sim.run(Duration::from_secs(60)));
    sim.flows[0].assert_exact("under attack");
}

#[test]
fn nat_rebinding_mid_transfer_is_survived() {
    for direction in [Direction::Download, Direction::Upload] {
        let mut sim = Sim::symmetric(&format!("{LINK},loss=1%"), 6);
        let mut spec = FlowSpec::new(8 << 20, Config::default());
        spec.direction = direction;
        sim.add_flow(spec);
        sim.run_until(Duration::from_secs(30), |s| s.flows[0].received() > 2 << 20);
        // The client's NAT picks a new public address and port; packets the server sends to
        // the old one are lost from now on.
        sim.flows[0].client_addr = client_addr(42);
        assert!(sim.run(Duration::from_secs(60)), "{direction:?}");
        let f = &sim.flows[0];
        f.assert_exact(&format!("rebinding {direction:?}"));
        let server = if direction == Direction::Download {
            f.sender()
        } else {
            f.receiver()
        };
        assert_eq!(server.stats().path_changes, 1, "{direction:?}");
        assert_eq!(server.remote(), Some(client_addr(42)));
        let events = if direction == Direction::Download {
            &f.sender_events
        } else {
            &f.receiver_events
        };
        assert!(
            events.iter().any(|e| e.contains("PathChanged")),
            "{events:?}"
        );
    }
}

#[test]
fn server_stays_silent_until_authenticated() {
    let now = std::time::Instant::now();
    let params = TransferParams {
        transfer_id: rudp::TransferId(7),
        key: [1; 32],
        size: 10,
    };
    let mut server = Connection::receiver(
        std::sync::Arc::new(Config::default()),
        params,
        Side::Server,
        Box::new(Vec::new()),
        RangeSet::new(),
        now,
    )
    .unwrap();
    let mut buf = vec![0u8; 1500];
    assert!(server.poll_transmit(now, &mut buf).is_none());
    let mut junk = vec![1u8; 100];
    junk[0] = 1;
    server.handle_datagram(now, client_addr(1), &mut junk);
    assert!(
        server.poll_transmit(now, &mut buf).is_none(),
        "junk must not open the path"
    );
    assert_eq!(server.remote(), None);
}
