//! Shared test support: a server on 127.0.0.1:0 with a temp data dir, and a raw-frame client.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use proto::{ClientMsg, ErrorCode, MAX_FRAME_BYTES, ServerMsg, decode_server, encode_msg};
use server::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::timeout;

pub const WAIT: Duration = Duration::from_secs(10);

pub struct TestServer {
    pub addr: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), server::Error>>,
    pub dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start(tune: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::new(dir.path());
        tune(&mut config);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server::run(listener, config, async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            task,
            dir,
        }
    }

    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        timeout(WAIT, self.task).await.unwrap().unwrap().unwrap();
    }
}

pub struct Raw {
    pub stream: TcpStream,
}

impl Raw {
    pub async fn connect(addr: std::net::SocketAddr) -> Self {
        Self {
            stream: TcpStream::connect(addr).await.unwrap(),
        }
    }

    pub async fn login(addr: std::net::SocketAddr, nick: &str) -> Self {
        let mut raw = Self::connect(addr).await;
        raw.send(&ClientMsg::Hello {
            version: proto::PROTOCOL_VERSION,
            client: "raw-test".into(),
        })
        .await;
        assert!(matches!(raw.recv().await, ServerMsg::Welcome { .. }));
        raw.send(&ClientMsg::Login {
            nick: nick.into(),
            since: None,
            history: None,
            quiet: false,
        })
        .await;
        assert!(matches!(raw.recv().await, ServerMsg::LoggedIn { .. }));
        // The backlog, possibly empty, ends with a `done` frame.
        loop {
            if let ServerMsg::History { done: true, .. } = raw.recv().await {
                break;
            }
        }
        raw
    }

    pub async fn send(&mut self, msg: &ClientMsg) {
        let frame = encode_msg(msg, MAX_FRAME_BYTES).unwrap();
        self.stream.write_all(&frame).await.unwrap();
    }

    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    pub async fn send_payload(&mut self, payload: &[u8]) {
        let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(payload);
        self.send_bytes(&frame).await;
    }

    /// The next frame, or `None` when the server closed the connection.
    pub async fn try_recv(&mut self) -> Option<ServerMsg> {
        let mut len = [0u8; 4];
        timeout(WAIT, self.stream.read_exact(&mut len))
            .await
            .expect("timed out waiting for a frame")
            .ok()?;
        let mut payload = vec![0; u32::from_be_bytes(len) as usize];
        timeout(WAIT, self.stream.read_exact(&mut payload))
            .await
            .unwrap()
            .ok()?;
        Some(decode_server(&payload).unwrap())
    }

    pub async fn recv(&mut self) -> ServerMsg {
        self.try_recv().await.expect("server closed the connection")
    }

    /// Skips presence events until the next frame of another kind.
    pub async fn recv_skipping_presence(&mut self) -> ServerMsg {
        loop {
            match self.recv().await {
                ServerMsg::Joined { .. } | ServerMsg::Left { .. } => {}
                other => return other,
            }
        }
    }

    pub async fn expect_bye_and_close(&mut self, want: ErrorCode) {
        match self.recv().await {
            ServerMsg::Bye { code, .. } => assert_eq!(code, want),
            other => panic!("expected bye {want:?}, got {other:?}"),
        }
        assert!(self.try_recv().await.is_none(), "connection should close");
    }

    pub async fn say(&mut self, req: u64, text: &str) -> ServerMsg {
        self.send(&ClientMsg::Say {
            req: Some(req),
            text: text.into(),
        })
        .await;
        self.recv_skipping_presence().await
    }
}
