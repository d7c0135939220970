//! [`Lane`]: one direction's shared netsim [`Link`], plus where each datagram in it is going.
//!
//! Every client's datagrams share one link per direction (one bottleneck, one queue, one loss
//! process), as they would on a bad network between the clients and the server. The link only
//! carries payloads, so the lane keeps the destination of each scheduled copy beside it, in a
//! heap ordered exactly as netsim orders deliveries: by arrival time, then by the order the
//! copies were scheduled (a duplicate is scheduled right after its original, at the same
//! arrival). Each payload `poll_deliver` hands out is therefore the one at the top of that
//! heap. This relies only on [`Link`]'s documented contract.
//!
//! The other way to carry a destination, a prefix on the bytes given to the link, would change
//! what is simulated: the prefix would count toward the bottleneck's serialization time and the
//! MTU (a full 1472-byte datagram would fragment), and a `corrupt` bit flip could land in the
//! prefix and misroute the datagram instead of damaging it.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::Instant;

use netsim::{Link, LinkStats, SendOutcome};

/// One direction through the relay: a [`Link`] and the destinations of what is in flight on it.
#[derive(Debug)]
pub(crate) struct Lane<D> {
    link: Link,
    destinations: BinaryHeap<Pending<D>>,
    next_seq: u64,
}

impl<D: Copy> Lane<D> {
    pub(crate) fn new(link: Link) -> Self {
        Self {
            link,
            destinations: BinaryHeap::new(),
            next_seq: 0,
        }
    }

    /// Offers `payload`, bound for `destination`, to the link at `now`.
    pub(crate) fn send(&mut self, now: Instant, payload: &[u8], destination: D) -> SendOutcome {
        let outcome = self.link.send(now, payload);
        if let SendOutcome::Scheduled {
            arrival,
            duplicated,
        } = outcome
        {
            self.push(arrival, destination);
            if duplicated {
                self.push(arrival, destination);
            }
        }
        outcome
    }

    /// The next copy due by `now` and where it goes. Give the buffer back with
    /// [`recycle`](Self::recycle).
    pub(crate) fn poll_deliver(&mut self, now: Instant) -> Option<(Vec<u8>, D)> {
        let payload = self.link.poll_deliver(now)?;
        match self.destinations.pop() {
            Some(pending) => Some((payload, pending.destination)),
            None => {
                // Unreachable while netsim keeps its contract; never misroute if it does not.
                debug_assert!(false, "netsim delivered a datagram it never scheduled");
                tracing::error!("relay lost track of a datagram's destination; dropping it");
                None
            }
        }
    }

    /// When the next copy is due, if any: the relay's timer sleeps until then.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.link.poll_timeout()
    }

    /// Copies scheduled but not yet delivered.
    pub(crate) fn in_flight(&self) -> usize {
        self.destinations.len()
    }

    pub(crate) fn recycle(&mut self, buffer: Vec<u8>) {
        self.link.recycle(buffer);
    }

    pub(crate) fn stats(&self) -> &LinkStats {
        self.link.stats()
    }

    fn push(&mut self, arrival: Instant, destination: D) {
        self.destinations.push(Pending {
            arrival,
            seq: self.next_seq,
            destination,
        });
        self.next_seq += 1;
    }
}

/// Where one scheduled copy goes; the heap pops the earliest arrival, then the lowest `seq`.
#[derive(Debug)]
struct Pending<D> {
    arrival: Instant,
    seq: u64,
    destination: D,
}

impl<D> Ord for Pending<D> {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.arrival, other.seq).cmp(&(self.arrival, self.seq))
    }
}

impl<D> PartialOrd for Pending<D> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<D> PartialEq for Pending<D> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<D> Eq for Pending<D> {}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use netsim::LinkConfig;

    use super::*;

    /// Each payload names its destination; through jitter, reordering, duplication and a
    /// tight queue, the lane must pair every delivered payload with that destination.
    #[test]
    fn destinations_follow_their_payloads() {
        for seed in 0..20 {
            let config: LinkConfig = "rate=20mbit,delay=5ms,jitter=3ms,reorder=20%,\
                                      reorder_delay=2ms,duplicate=20%,loss=10%,queue=30k"
                .parse()
                .unwrap();
            let mut lane = Lane::new(Link::new(config, seed).unwrap());
            let start = Instant::now();
            let mut now = start;
            let (mut sent, mut delivered) = (0u32, 0u32);
            for i in 0..2000u32 {
                // Bursts of 10 at one instant, so arrival ties happen too.
                if i % 10 == 0 {
                    now += Duration::from_micros(700);
                }
                let destination = i % 7;
                let mut payload = vec![0u8; 100 + (i as usize % 1300)];
                payload[..4].copy_from_slice(&destination.to_be_bytes());
                lane.send(now, &payload, destination);
                sent += 1;
                while let Some((payload, destination)) = lane.poll_deliver(now) {
                    assert_eq!(payload[..4], destination.to_be_bytes());
                    delivered += 1;
                    lane.recycle(payload);
                }
            }
            while let Some(at) = lane.poll_timeout() {
                while let Some((payload, destination)) = lane.poll_deliver(at) {
                    assert_eq!(payload[..4], destination.to_be_bytes());
                    delivered += 1;
                }
            }
            assert!(lane.destinations.is_empty());
            let stats = lane.stats();
            assert_eq!(u64::from(delivered), stats.delivered.packets);
            assert_eq!(
                u64::from(sent) + stats.duplicated.packets,
                u64::from(delivered) + stats.dropped()
            );
        }
    }
}
