//! The parent's side of a run: start the receiver process, hand its announcement to a sender
//! process, collect both reports, and turn them into one [`RunOutcome`].
//!
//! [`Launcher`] is the one place that decides how a side process is started: plain children
//! of this binary on loopback, or — on an emulated link — children that enter the emulator's
//! namespaces first (`side --netns`, see `emu.rs`) and bind the namespaces' addresses: the
//! sender in A, the receiver in B.

use crate::measure::CpuTime;
use crate::peer::{PeerKind, Target};
use crate::report::LinkMeasure;
use crate::side::{Message, SENDER_GRACE, SideReport, SideRole};
use anyhow::{Context, anyhow, bail};
use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Longest a receiver may take to bind and announce itself (a debug build generating a
/// certificate is the slow case).
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long past the time cap the parent waits for a report before giving up on a side.
const REPORT_SLACK: Duration = Duration::from_secs(30);
/// How long a side may take to exit once it has reported.
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// What every run of a bench invocation shares.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    /// Bytes to move.
    pub(crate) size: u64,
    /// Time cap per run, seconds.
    pub(crate) max_seconds: f64,
    /// Flow-control window for peers that need one set by hand, bytes (`side --window`).
    pub(crate) window: Option<u64>,
    /// The largest unfragmented UDP payload of the path, bytes (`side --max-datagram`).
    pub(crate) max_datagram: Option<u16>,
}

/// Where one role's process runs.
#[derive(Clone, Debug)]
pub(crate) struct Place {
    /// Address it binds.
    pub(crate) bind: IpAddr,
    /// Namespace it enters first (`side --netns`), if any.
    pub(crate) netns: Option<String>,
}

/// Starts side processes.
#[derive(Clone, Debug)]
pub(crate) struct Launcher {
    /// This binary.
    exe: PathBuf,
    /// Where senders run.
    sender: Place,
    /// Where receivers run.
    receiver: Place,
}

impl Launcher {
    /// Side processes of the running executable, both binding `bind` (loopback).
    pub(crate) fn local(bind: IpAddr) -> anyhow::Result<Self> {
        let place = Place { bind, netns: None };
        Self::placed(place.clone(), place)
    }

    /// Side processes of the running executable: senders at `sender`, receivers at `receiver`.
    pub(crate) fn placed(sender: Place, receiver: Place) -> anyhow::Result<Self> {
        Ok(Self {
            exe: std::env::current_exe().context("finding the confab-bench executable")?,
            sender,
            receiver,
        })
    }

    fn command(
        &self,
        peer: PeerKind,
        role: SideRole,
        plan: &Plan,
        target: Option<&Target>,
    ) -> Command {
        let place = match role {
            SideRole::Send => &self.sender,
            SideRole::Receive => &self.receiver,
        };
        let mut cmd = Command::new(&self.exe);
        cmd.arg("side")
            .args(["--peer", peer.name()])
            .args([
                "--role",
                match role {
                    SideRole::Send => "send",
                    SideRole::Receive => "receive",
                },
            ])
            .args(["--size", &plan.size.to_string()])
            .args(["--bind", &place.bind.to_string()])
            .args(["--max-seconds", &plan.max_seconds.to_string()]);
        if let Some(netns) = &place.netns {
            cmd.args(["--netns", netns]);
        }
        if let Some(window) = plan.window {
            cmd.args(["--window", &window.to_string()]);
        }
        if let Some(limit) = plan.max_datagram {
            cmd.args(["--max-datagram", &limit.to_string()]);
        }
        if let Some(t) = target {
            cmd.arg("--target")
                .arg(serde_json::to_string(t).unwrap_or_default());
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        cmd
    }
}

/// What one run of one peer measured.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RunOutcome {
    /// Bytes that arrived and were checked.
    pub(crate) bytes: u64,
    /// From the sender's start to the receiver's last checked byte, seconds.
    pub(crate) seconds: f64,
    /// Every received byte was checked, and was right.
    pub(crate) verified: bool,
    /// The time cap ended the run before all bytes arrived.
    pub(crate) capped: bool,
    /// CPU of the sending process over the run.
    pub(crate) cpu_sender: CpuTime,
    /// CPU of the receiving process over the run.
    pub(crate) cpu_receiver: CpuTime,
    /// UDP payload bytes the sender put on the wire, where the peer can tell.
    pub(crate) sender_wire_bytes: Option<u64>,
    /// The emulator's counters for this run (emulated links only; the caller fills it in).
    pub(crate) link: Option<LinkMeasure>,
}

/// A side process and the messages it printed.
struct SideProcess {
    what: String,
    child: Child,
    stdin: Option<ChildStdin>,
    messages: mpsc::Receiver<Message>,
}

impl SideProcess {
    fn spawn(mut cmd: Command, what: String) -> anyhow::Result<Self> {
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting the {what} process"))?;
        let stdout = child.stdout.take().context("side stdout")?;
        let stdin = child.stdin.take();
        let (tx, messages) = mpsc::channel();
        let label = what.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str::<Message>(&line) {
                    Ok(m) => {
                        if tx.send(m).is_err() {
                            break;
                        }
                    }
                    Err(_) => eprintln!("{label}: {line}"),
                }
            }
        });
        Ok(Self {
            what,
            child,
            stdin,
            messages,
        })
    }

    /// The next message, waiting at most `timeout`.
    fn next(&self, timeout: Duration) -> anyhow::Result<Message> {
        self.messages.recv_timeout(timeout).map_err(|e| match e {
            mpsc::RecvTimeoutError::Timeout => {
                anyhow!("the {} did not answer within {timeout:?}", self.what)
            }
            mpsc::RecvTimeoutError::Disconnected => {
                anyhow!(
                    "the {} exited without reporting (see its errors above)",
                    self.what
                )
            }
        })
    }

    fn report(&self, timeout: Duration) -> anyhow::Result<SideReport> {
        match self.next(timeout)? {
            Message::Report(r) => Ok(r),
            Message::Ready(_) => bail!("the {} announced itself twice", self.what),
        }
    }

    /// Lets the process exit (closes its stdin) and reaps it, killing it if it lingers.
    fn finish(mut self) {
        self.stdin.take();
        let deadline = std::time::Instant::now() + EXIT_TIMEOUT;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // Drop kills it.
    }
}

impl Drop for SideProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `peer` once: one receiver and one sender process.
pub(crate) fn run_once(
    launcher: &Launcher,
    peer: PeerKind,
    plan: &Plan,
) -> anyhow::Result<RunOutcome> {
    run_together(launcher, &[peer], plan)?
        .pop()
        .context("no outcome")?
}

/// Runs one transfer per entry of `peers` at the same time (their senders start together, after
/// every receiver has announced itself): the fairness run. One outcome per peer, in order.
pub(crate) fn run_together(
    launcher: &Launcher,
    peers: &[PeerKind],
    plan: &Plan,
) -> anyhow::Result<Vec<anyhow::Result<RunOutcome>>> {
    let mut receivers = Vec::new();
    for &peer in peers {
        let name = peer.name();
        let receiver = SideProcess::spawn(
            launcher.command(peer, SideRole::Receive, plan, None),
            format!("{name} receiver"),
        )?;
        let target = match receiver.next(SETUP_TIMEOUT)? {
            Message::Ready(t) => t,
            Message::Report(r) => bail!(
                "{name} receiver failed to start: {}",
                r.error.unwrap_or_else(|| "no reason given".into())
            ),
        };
        receivers.push((receiver, target));
    }
    let mut pairs = Vec::new();
    for (&peer, (receiver, target)) in peers.iter().zip(receivers) {
        let sender = SideProcess::spawn(
            launcher.command(peer, SideRole::Send, plan, Some(&target)),
            format!("{} sender", peer.name()),
        )?;
        pairs.push((peer, receiver, sender));
    }
    let cap = Duration::from_secs_f64(plan.max_seconds.max(0.0));
    Ok(pairs
        .into_iter()
        .map(|(peer, receiver, sender)| {
            let name = peer.name();
            let received = receiver.report(cap + REPORT_SLACK)?;
            if let Some(e) = &received.error {
                bail!("{name} receiver: {e}");
            }
            let sent = sender.report(SENDER_GRACE + REPORT_SLACK)?;
            // A capped receiver closes on its sender, whose error is then expected.
            if let (Some(e), false) = (&sent.error, received.capped) {
                bail!("{name} sender: {e}");
            }
            sender.finish();
            receiver.finish();
            Ok(outcome(&received, &sent, plan.size))
        })
        .collect())
}

fn outcome(received: &SideReport, sent: &SideReport, size: u64) -> RunOutcome {
    let nanos = received.end_ns.saturating_sub(sent.start_ns);
    RunOutcome {
        bytes: received.bytes_verified,
        seconds: nanos as f64 / 1e9,
        verified: received.error.is_none()
            && received.bytes_verified <= size
            && (received.bytes_verified > 0 || size == 0),
        capped: received.capped && received.bytes_verified < size,
        cpu_sender: CpuTime {
            user_s: sent.cpu_user_s,
            sys_s: sent.cpu_sys_s,
        },
        cpu_receiver: CpuTime {
            user_s: received.cpu_user_s,
            sys_s: received.cpu_sys_s,
        },
        sender_wire_bytes: sent.wire_bytes_sent,
        link: None,
    }
}
