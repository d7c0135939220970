//! One end of one peer, in its own process: the hidden `confab-bench side` subcommand that
//! the parent (`run.rs`) starts twice per run, once per role.
//!
//! Why processes: CPU is then measured with `getrusage(RUSAGE_SELF)`, which covers every
//! thread of that end (its runtime, quinn's tasks, rudp-tokio's I/O thread) and nothing of
//! the other end; and a side can later be started inside a network namespace (issue 6)
//! without changing anything here.
//!
//! The child talks to the parent in JSON lines on stdout ([`Message`]): the receiver first
//! announces where it listens (`ready`), then both ends send one `report`. The receiver then
//! keeps its sockets open until the parent closes its stdin (once the sender has reported),
//! so the sender's last packets are still answered.

use crate::content::Verified;
use crate::measure::{CpuTime, monotonic_ns};
use crate::peer::{PeerKind, ReceiveCtx, SendCtx, Target};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::io::Write;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::Duration;

/// After its time cap, a sender gets this long to notice that the receiver stopped.
pub(crate) const SENDER_GRACE: Duration = Duration::from_secs(3);
/// Longest a receiver keeps its sockets open for its sender after reporting.
const LINGER_MAX: Duration = Duration::from_secs(30);

/// Which end of a transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SideRole {
    /// Sends the content.
    Send,
    /// Receives and checks it.
    Receive,
}

/// `confab-bench side …`: internal, started by `confab-bench transfer`.
#[derive(Debug, clap::Args)]
pub(crate) struct SideArgs {
    /// The protocol.
    #[arg(long)]
    pub(crate) peer: PeerKind,
    /// Which end.
    #[arg(long)]
    pub(crate) role: SideRole,
    /// Bytes to move.
    #[arg(long)]
    pub(crate) size: u64,
    /// Local address to bind.
    #[arg(long)]
    pub(crate) bind: IpAddr,
    /// Time cap of the transfer, seconds (from the receiver's announcement, or the sender's
    /// start plus a grace period).
    #[arg(long)]
    pub(crate) max_seconds: f64,
    /// Sender only: the receiver's announcement, as JSON.
    #[arg(long)]
    pub(crate) target: Option<String>,
    /// A network namespace to enter first (a path the link emulator hands out).
    #[arg(long)]
    pub(crate) netns: Option<String>,
    /// Flow-control window for peers that need one set by hand (QUIC, KCP), bytes: the
    /// emulated link's bandwidth-delay product with headroom. Absent: each peer's default.
    #[arg(long)]
    pub(crate) window: Option<u64>,
    /// The largest UDP payload the path carries without IP fragmentation, bytes (the
    /// emulated link's MTU − 28). Absent: each peer's default.
    #[arg(long)]
    pub(crate) max_datagram: Option<u16>,
}

/// A line from a side process to the parent.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Message {
    /// Receiver: it listens here and measuring has started.
    Ready(Target),
    /// The end's outcome; the last line.
    Report(SideReport),
}

/// What one end measured.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct SideReport {
    /// When measuring started (`CLOCK_MONOTONIC`, ns): the receiver's announcement, or the
    /// moment the sender started connecting.
    pub(crate) start_ns: u64,
    /// When this end was done (`CLOCK_MONOTONIC`, ns): for the receiver, when the last byte
    /// was checked.
    pub(crate) end_ns: u64,
    /// Receiver: bytes received and checked (each byte once). Sender: 0.
    pub(crate) bytes_verified: u64,
    /// Whether the time cap cut the transfer short.
    pub(crate) capped: bool,
    /// CPU this end used between start and end, user mode, seconds.
    pub(crate) cpu_user_s: f64,
    /// CPU this end used between start and end, kernel mode, seconds.
    pub(crate) cpu_sys_s: f64,
    /// UDP payload bytes this end sent, where the peer can tell.
    pub(crate) wire_bytes_sent: Option<u64>,
    /// What went wrong, if anything did.
    pub(crate) error: Option<String>,
}

fn emit(message: &Message) {
    // A broken pipe means the parent is gone: nothing left to tell anyone.
    if let Ok(line) = serde_json::to_string(message) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

/// Runs one end to completion; the outcome goes to stdout. Errors here are setup errors
/// (bad arguments): transfer failures are reported in the [`SideReport`].
pub(crate) fn run(args: SideArgs) -> anyhow::Result<()> {
    // Die with the parent: a killed bench must not leave sides running (inside its
    // namespaces, they would keep them alive).
    let parent = nix::unistd::getppid();
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
        .context("asking to die with the parent")?;
    if nix::unistd::getppid() != parent {
        anyhow::bail!("the bench that started this side has already exited");
    }
    // Before any thread exists: threads started later inherit the namespace.
    if let Some(path) = &args.netns {
        crate::emu::enter(path)?;
    }
    // One thread for the end's own async work: the two ends share the machine's cores, and
    // rudp-tokio brings its own I/O thread anyway.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let max = Duration::from_secs_f64(args.max_seconds.max(0.0));
    match args.role {
        SideRole::Receive => runtime.block_on(receive(&args, max)),
        SideRole::Send => {
            let target: Target = serde_json::from_str(
                args.target
                    .as_deref()
                    .context("a sender needs --target (the receiver's announcement)")?,
            )
            .context("parsing --target")?;
            runtime.block_on(send(&args, target, max));
        }
    }
    Ok(())
}

async fn receive(args: &SideArgs, max: Duration) {
    let verified = Verified::default();
    // Clock readings at the announcement: the start of measuring.
    let started: Rc<Cell<Option<(u64, CpuTime)>>> = Rc::default();
    let (announced_tx, announced_rx) = tokio::sync::oneshot::channel::<()>();
    let started_by_announce = started.clone();
    let mut ctx = ReceiveCtx::new(args.size, args.bind, verified.clone(), move |target| {
        started_by_announce.set(Some((monotonic_ns(), CpuTime::now())));
        emit(&Message::Ready(target));
        let _ = announced_tx.send(());
    });
    ctx.window = args.window;
    ctx.max_datagram = args.max_datagram;
    let cap = async {
        match announced_rx.await {
            Ok(()) => tokio::time::sleep(max).await,
            Err(_) => std::future::pending().await,
        }
    };
    let mut report = SideReport::default();
    let mut keep_alive = None;
    tokio::select! {
        outcome = args.peer.run_receiver(&mut ctx) => match outcome {
            Ok(received) => {
                report.wire_bytes_sent = received.wire_bytes_sent;
                keep_alive = Some(received.keep_alive);
            }
            Err(e) => report.error = Some(format!("{e:#}")),
        },
        () = cap => report.capped = true,
    }
    let (end_ns, cpu_end) = (monotonic_ns(), CpuTime::now());
    // No announcement only if setup failed: then nothing was measured.
    let (start_ns, cpu_start) = started.get().unwrap_or((end_ns, cpu_end));
    report.start_ns = start_ns;
    report.end_ns = end_ns;
    report.bytes_verified = verified.get();
    let cpu = cpu_end.since(cpu_start);
    report.cpu_user_s = cpu.user_s;
    report.cpu_sys_s = cpu.sys_s;
    emit(&Message::Report(report));
    if let Some(keep) = keep_alive {
        let _ = tokio::time::timeout(LINGER_MAX, stdin_closed()).await;
        drop(keep);
    }
}

async fn send(args: &SideArgs, target: Target, max: Duration) {
    let ctx = SendCtx {
        size: args.size,
        bind: args.bind,
        window: args.window,
        max_datagram: args.max_datagram,
        target,
    };
    let (start_ns, cpu_start) = (monotonic_ns(), CpuTime::now());
    let mut report = SideReport {
        start_ns,
        ..SideReport::default()
    };
    tokio::select! {
        outcome = args.peer.run_sender(&ctx) => match outcome {
            Ok(sent) => report.wire_bytes_sent = sent.wire_bytes_sent,
            Err(e) => report.error = Some(format!("{e:#}")),
        },
        () = tokio::time::sleep(max + SENDER_GRACE) => report.capped = true,
    }
    report.end_ns = monotonic_ns();
    let cpu = CpuTime::now().since(cpu_start);
    report.cpu_user_s = cpu.user_s;
    report.cpu_sys_s = cpu.sys_s;
    emit(&Message::Report(report));
}

/// Resolves when stdin reaches end of file (the parent closed it, or died).
async fn stdin_closed() {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        let _ = tx.send(());
    });
    let _ = rx.await;
}
