//! Shared test support: an in-process server on port 0, client options with short timeouts,
//! event helpers that fail instead of hanging, a raw protocol connection for misbehaving
//! clients and fake servers, an impairing relay, test file contents, and a cuttable TCP proxy.
//!
//! Not every test file uses every helper.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use client::{ChatMessage, Client, ConnectOptions, Event, EventStream, ReconnectPolicy, Timeouts};
use proto::{ClientMsg, MAX_FRAME_BYTES, PROTOCOL_VERSION, ServerMsg};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;

/// Deterministic, incompressible-looking bytes (xorshift64*).
pub(crate) fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A `confab relay` on a free port of 127.0.0.1 in front of a server.
pub(crate) struct RelayRun {
    pub(crate) addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<relay::RelayReport, relay::RelayError>>,
}

/// Starts a relay in front of `server`, impairing as `link` says (seeded: repeatable).
pub(crate) async fn start_relay(server: SocketAddr, link: &str) -> RelayRun {
    let listen = SocketAddr::new(server.ip(), 0);
    let config = relay::RelayConfig::new(listen, server)
        .with_link(link.parse().expect("link spec"))
        .with_seed(7);
    let relay = relay::Relay::bind(config).await.expect("bind relay");
    let addr = relay.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(relay.run(async {
        let _ = stopped.await;
    }));
    RelayRun { addr, stop, task }
}

impl RelayRun {
    /// Stops the relay and returns what it counted.
    pub(crate) async fn stop(self) -> relay::RelayReport {
        let _ = self.stop.send(());
        within("relay stop", self.task).await.unwrap().unwrap()
    }
}

/// How long any single awaited thing may take before the test fails.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// Awaits `fut` or fails the test after [`WAIT`].
pub(crate) async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, fut).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

/// A server running in this process.
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), server::Error>>,
}

/// Test defaults: no rate limit to speak of, fast pings.
pub(crate) fn test_config(dir: &Path) -> server::Config {
    let mut config = server::Config::new(dir);
    config.rate_per_second = 100_000;
    config.rate_burst = 100_000;
    config
}

impl TestServer {
    /// Starts a server on a fresh port.
    pub(crate) async fn start(config: server::Config) -> Self {
        Self::start_on("127.0.0.1:0", config).await
    }

    /// Starts a server on `addr` (used to restart on the same port).
    pub(crate) async fn start_on(addr: &str, config: server::Config) -> Self {
        let listener = TcpListener::bind(addr).await.expect("bind test server");
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server::run(listener, config, async {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            stop: Some(stop),
            task,
        }
    }

    /// Shuts down gracefully and waits until the store is closed.
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        within("server shutdown", &mut self.task)
            .await
            .expect("server task panicked")
            .expect("server failed");
    }

    pub(crate) fn addr_string(&self) -> String {
        self.addr.to_string()
    }
}

/// Client options with test-sized timeouts and quick reconnects.
pub(crate) fn options(addr: impl ToString, nick: &str) -> ConnectOptions {
    let mut options = ConnectOptions::new(addr.to_string(), nick);
    options.timeouts = Timeouts {
        connect: Duration::from_secs(5),
        request: Duration::from_secs(10),
        keepalive: Duration::from_secs(5),
        idle: Duration::from_secs(20),
    };
    options.reconnect = Some(ReconnectPolicy {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(400),
        max_attempts: None,
    });
    options
}

/// Connects and consumes the `LoggedIn` event, returning its history too.
pub(crate) async fn login(
    addr: impl ToString,
    nick: &str,
) -> (Client, EventStream, Vec<ChatMessage>) {
    let (client, mut events) = within("connect", Client::connect(options(addr, nick)))
        .await
        .unwrap_or_else(|err| panic!("{nick} cannot connect: {err}"));
    match next_event(&mut events).await {
        Event::LoggedIn { history, .. } => (client, events, history),
        other => panic!("expected LoggedIn first, got {other:?}"),
    }
}

/// The next event, failing the test on timeout or a closed stream.
pub(crate) async fn next_event(events: &mut EventStream) -> Event {
    within("an event", events.recv())
        .await
        .expect("event stream ended")
}

/// Skips events until one matches.
pub(crate) async fn wait_for(
    events: &mut EventStream,
    what: &str,
    pred: impl Fn(&Event) -> bool,
) -> Event {
    within(what, async {
        loop {
            let event = events.recv().await.expect("event stream ended");
            if pred(&event) {
                return event;
            }
        }
    })
    .await
}

/// The next chat message, skipping presence events (and failing on anything else).
pub(crate) async fn next_message(events: &mut EventStream) -> ChatMessage {
    loop {
        match next_event(events).await {
            Event::Message(msg) => return msg,
            Event::Joined { .. } | Event::Left { .. } => {}
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

/// Asserts no event arrives within `quiet`.
pub(crate) async fn assert_quiet(events: &mut EventStream, quiet: Duration) {
    if let Ok(Some(event)) = tokio::time::timeout(quiet, events.recv()).await {
        panic!("expected no event, got {event:?}");
    }
}

/// A hand-driven protocol connection, for clients that misbehave on purpose.
pub(crate) struct Raw {
    pub(crate) stream: TcpStream,
    buf: BytesMut,
}

impl Raw {
    pub(crate) async fn connect(addr: SocketAddr) -> Self {
        Raw::from_stream(TcpStream::connect(addr).await.expect("raw connect"))
    }

    pub(crate) fn from_stream(stream: TcpStream) -> Self {
        Raw {
            stream,
            buf: BytesMut::new(),
        }
    }

    /// Connects, says hello and logs in as `nick`, reading up to the end of the backlog.
    pub(crate) async fn login(addr: SocketAddr, nick: &str) -> Self {
        let mut raw = Raw::connect(addr).await;
        raw.handshake_and_login(nick).await;
        raw
    }

    /// Says hello and logs in as `nick` (no backlog), reading up to the end of the backlog.
    pub(crate) async fn handshake_and_login(&mut self, nick: &str) {
        self.send(&ClientMsg::Hello {
            version: PROTOCOL_VERSION,
            client: "raw-test".into(),
        })
        .await;
        assert!(matches!(self.recv().await, Some(ServerMsg::Welcome { .. })));
        self.send(&ClientMsg::Login {
            nick: nick.into(),
            since: None,
            history: Some(0),
            quiet: false,
        })
        .await;
        self.recv_until("logged_in", |m| matches!(m, ServerMsg::LoggedIn { .. }))
            .await;
        self.recv_until("backlog", |m| {
            matches!(m, ServerMsg::History { done: true, .. })
        })
        .await;
    }

    /// For a fake server: answers a client's `hello` (with `welcome`) or `login` (with
    /// `logged_in`, sent here, then an empty `history`, returned). `None` for anything else.
    pub(crate) async fn answer_login(
        &mut self,
        frame: &ClientMsg,
        server: &str,
    ) -> Option<ServerMsg> {
        match frame {
            ClientMsg::Hello { .. } => Some(ServerMsg::Welcome {
                version: 1,
                server: server.into(),
                max_frame: 65536,
                max_text: 4096,
            }),
            ClientMsg::Login { nick, .. } => {
                self.send_server(&ServerMsg::LoggedIn {
                    nick: nick.clone(),
                    members: vec![],
                    last_id: 0,
                })
                .await;
                Some(ServerMsg::History {
                    req: None,
                    messages: vec![],
                    done: true,
                    more: false,
                })
            }
            _ => None,
        }
    }

    pub(crate) async fn send(&mut self, msg: &ClientMsg) {
        let frame = proto::encode_msg(msg, MAX_FRAME_BYTES).unwrap();
        self.stream.write_all(&frame).await.expect("raw write");
    }

    pub(crate) async fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("raw write");
    }

    /// Sends `payload` as one frame, whatever it contains.
    pub(crate) async fn send_frame(&mut self, payload: &[u8]) {
        let mut bytes = (payload.len() as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(payload);
        self.send_bytes(&bytes).await;
    }

    /// The next message; `None` on EOF or a reset.
    pub(crate) async fn recv(&mut self) -> Option<ServerMsg> {
        within("a raw frame", async {
            loop {
                if let Some(payload) = proto::decode_frame(&mut self.buf, MAX_FRAME_BYTES).unwrap()
                {
                    return Some(proto::decode_server(&payload).expect("server sent garbage"));
                }
                match self.stream.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
        })
        .await
    }

    /// Playing the server: the next client message; `None` on EOF or a reset.
    pub(crate) async fn recv_client(&mut self) -> Option<ClientMsg> {
        loop {
            if let Some(payload) = proto::decode_frame(&mut self.buf, MAX_FRAME_BYTES).unwrap() {
                return Some(proto::decode_client(&payload).expect("client sent garbage"));
            }
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// Playing the server: sends one server message.
    pub(crate) async fn send_server(&mut self, msg: &ServerMsg) {
        let frame = proto::encode_msg(msg, MAX_FRAME_BYTES).unwrap();
        self.stream.write_all(&frame).await.expect("raw write");
    }

    /// Reads until a message matches; fails on EOF.
    pub(crate) async fn recv_until(
        &mut self,
        what: &str,
        pred: impl Fn(&ServerMsg) -> bool,
    ) -> ServerMsg {
        loop {
            match self.recv().await {
                Some(msg) if pred(&msg) => return msg,
                Some(_) => {}
                None => panic!("connection closed while waiting for {what}"),
            }
        }
    }

    /// Reads until EOF, returning what arrived (the server closed the connection).
    pub(crate) async fn recv_to_close(&mut self) -> Vec<ServerMsg> {
        let mut got = Vec::new();
        while let Some(msg) = self.recv().await {
            got.push(msg);
        }
        got
    }
}

/// A TCP proxy in front of the server whose connections the test can cut, and which can refuse
/// new ones for a while (a network outage for the clients behind it).
pub(crate) struct Proxy {
    pub(crate) addr: SocketAddr,
    blocked: Arc<AtomicBool>,
    cut: broadcast::Sender<()>,
    task: JoinHandle<()>,
}

impl Proxy {
    pub(crate) async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let blocked = Arc::new(AtomicBool::new(false));
        let (cut, _) = broadcast::channel(1);
        let task = {
            let (blocked, cut) = (blocked.clone(), cut.clone());
            tokio::spawn(async move {
                while let Ok((mut down, _)) = listener.accept().await {
                    if blocked.load(Ordering::SeqCst) {
                        drop(down);
                        continue;
                    }
                    // Subscribed before the link task runs, so no cut can slip past it.
                    let mut cut = cut.subscribe();
                    tokio::spawn(async move {
                        let Ok(mut up) = TcpStream::connect(upstream).await else {
                            return;
                        };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut down, &mut up) => {}
                            _ = cut.recv() => {}
                        }
                    });
                }
            })
        };
        Proxy {
            addr,
            blocked,
            cut,
            task,
        }
    }

    /// Drops every live link and refuses new ones until [`Proxy::unblock`].
    pub(crate) fn cut_and_block(&self) {
        self.blocked.store(true, Ordering::SeqCst);
        let _ = self.cut.send(());
    }

    pub(crate) fn unblock(&self) {
        self.blocked.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
