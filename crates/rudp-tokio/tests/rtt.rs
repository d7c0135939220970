//! RTT samples stay honest when the endpoint thread stalls: a sink whose disk write blocks for
//! tens of milliseconds must not make another transfer on the same endpoint see ACKs that "arrived"
//! before they did (which would shrink its min RTT and starve its congestion window).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::{DEADLINE, endpoint, params};
use relay::{Relay, RelayConfig};
use rudp::{RangeSet, Side, Sink};
use rudp_tokio::memory::{PatternSink, PatternSource};
use rudp_tokio::{Role, TransferSpec};

/// A pattern sink that blocks the endpoint thread for `stall` on every `every`-th write, like a
/// disk write stuck behind a flush.
struct StallingSink {
    inner: PatternSink,
    writes: Arc<AtomicU64>,
    every: u64,
    stall: Duration,
}

impl Sink for StallingSink {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        if self.writes.fetch_add(1, Ordering::Relaxed) % self.every == self.every - 1 {
            std::thread::sleep(self.stall);
        }
        self.inner.write_at(offset, data)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_sink_does_not_shrink_another_transfers_rtt() {
    let server = endpoint();
    let client = endpoint();
    // 20 ms each way between client and server: every true RTT sample is ≥ 40 ms.
    let relay = Relay::bind(
        RelayConfig::new("127.0.0.1:0".parse().unwrap(), server.local_addr())
            .with_link("delay=20ms".parse().unwrap()),
    )
    .await
    .unwrap();
    let via = relay.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let relay_task = tokio::spawn(relay.run(async {
        let _ = stopped.await;
    }));

    // A download into the client whose sink stalls 60 ms every 50 writes…
    let down = params(3 << 20);
    let mut down_send = server
        .start(TransferSpec::new(
            down.clone(),
            Side::Server,
            Role::Send(Box::new(PatternSource { seed: 1 })),
        ))
        .unwrap();
    let stalling = StallingSink {
        inner: PatternSink::new(1),
        writes: Arc::new(AtomicU64::new(0)),
        every: 50,
        stall: Duration::from_millis(60),
    };
    let mut down_recv = client
        .start(TransferSpec::new(
            down,
            Side::Client { server: via },
            Role::Receive {
                sink: Box::new(stalling),
                have: RangeSet::new(),
            },
        ))
        .unwrap();
    // …while an upload from the same client endpoint measures RTT from its ACKs.
    let up = params(3 << 20);
    let mut up_recv = server
        .start(TransferSpec::new(
            up.clone(),
            Side::Server,
            Role::Receive {
                sink: Box::new(PatternSink::new(2)),
                have: RangeSet::new(),
            },
        ))
        .unwrap();
    let mut up_send = client
        .start(TransferSpec::new(
            up,
            Side::Client { server: via },
            Role::Send(Box::new(PatternSource { seed: 2 })),
        ))
        .unwrap();

    let all = async {
        let up = up_send.finished().await.unwrap();
        up_recv.finished().await.unwrap();
        down_recv.finished().await.unwrap();
        down_send.finished().await.unwrap();
        up
    };
    let up = tokio::time::timeout(DEADLINE, all)
        .await
        .expect("transfers finish");
    let min_rtt = up.stats.min_rtt;
    assert!(
        min_rtt >= Duration::from_millis(35),
        "the upload's min RTT is {min_rtt:?} on a 40 ms path: a sample was stamped before its ACK arrived"
    );
    let _ = stop.send(());
    relay_task.await.unwrap().unwrap();
}
