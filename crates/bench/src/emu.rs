//! The link emulator: two network namespaces joined by a user-space forwarder that passes every
//! IP packet through [`netsim`]'s link model, so TCP, QUIC, KCP and confab all cross exactly the
//! same impaired path (the kernel here has no `netem`, and a UDP relay would terminate TCP).
//!
//! ```text
//!   namespace A                     this process                     namespace B
//!  10.77.0.1 ── cfb0 (TUN) ── read ─▶ Link A→B ─▶ write ── cfb0 (TUN) ── 10.77.0.2
//!  (sender)                 ◀ write ── Link B→A ◀─ read                   (receiver)
//! ```
//!
//! # Namespaces without names, so nothing outlives us
//!
//! Each namespace is made by a short-lived thread that `unshare(CLONE_NEWNET)`s itself, opens
//! `/proc/thread-self/ns/net` and creates its TUN device there (a TUN device lives in the
//! namespace of whoever creates it). The open file is the only thing keeping the namespace
//! alive: nothing is mounted under `/run/netns` and the host's interfaces and routes are never
//! touched. When this process exits — normally, on Ctrl-C, or killed — the kernel closes the
//! file and destroys the namespace and its device; the side processes that entered it exit
//! when their parent's pipe closes. So a crashed run leaves nothing for the next one to clean.
//! Side processes join a namespace with `setns` on `/proc/<our pid>/fd/<n>` ([`Namespace::path`]).
//!
//! # Forwarding
//!
//! Per direction, a **reader** thread drains the source TUN device (non-blocking reads, up to
//! [`BATCH`] packets per lock of the link) and offers each packet to the direction's
//! [`Link`] with [`Link::send_packet`]; a **deliverer** thread sleeps until the next packet is
//! due (a condition variable with a 1 µs timer slack), takes every due packet in one lock and
//! writes them to the other device. A TUN device has no batched system call without vnet
//! offloads, so a packet costs one `read` and one `write`; the batching saves locks and
//! wake-ups. Lateness (how long after its due time a packet was written) and the devices' own
//! drops are measured and reported with every run, so a result that the emulator distorted can
//! be recognised.

use anyhow::Context;
use netsim::{Link, LinkConfig, LinkStats};
use nix::errno::Errno;
use nix::sched::CloneFlags;
use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Namespace A's address: the sending side.
pub(crate) const ADDR_A: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// Namespace B's address: the receiving side.
pub(crate) const ADDR_B: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
/// The TUN device's name in each namespace.
const TUN_NAME: &str = "cfb0";
/// Packets a reader takes per lock of the link.
const BATCH: usize = 64;
/// How often an idle reader looks at the stop flag.
const IDLE_POLL: Duration = Duration::from_millis(100);

/// Why the emulator could not start.
pub(crate) fn explain_setup_error(e: Errno) -> String {
    match e {
        Errno::EPERM | Errno::EACCES => "the link emulator needs root (it creates network \
            namespaces and TUN devices: CAP_SYS_ADMIN and CAP_NET_ADMIN); run it as root, \
            e.g. with sudo"
            .to_owned(),
        Errno::ENOENT | Errno::ENODEV => {
            "no /dev/net/tun: the kernel's TUN driver is missing (modprobe tun)".to_owned()
        }
        other => format!("creating a network namespace failed: {other}"),
    }
}

/// A network namespace, kept alive by an open handle.
pub(crate) struct Namespace {
    handle: File,
}

impl Namespace {
    /// The path another process opens to `setns` into this namespace.
    pub(crate) fn path(&self) -> String {
        format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            self.handle.as_raw_fd()
        )
    }

    /// Runs `f` on a new thread that has entered this namespace (sockets it opens live there).
    pub(crate) fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<JoinHandle<anyhow::Result<T>>> {
        let handle = self
            .handle
            .try_clone()
            .context("duplicating a namespace handle")?;
        Ok(std::thread::spawn(move || {
            nix::sched::setns(handle, CloneFlags::CLONE_NEWNET)
                .context("entering the emulator's namespace")?;
            f()
        }))
    }
}

/// Enters the namespace at `path` (a [`Namespace::path`]) for the calling thread and every
/// thread it starts afterwards. Call it before starting any other thread.
pub(crate) fn enter(path: &str) -> anyhow::Result<()> {
    let file = File::open(path).with_context(|| format!("opening namespace {path}"))?;
    nix::sched::setns(file, CloneFlags::CLONE_NEWNET)
        .with_context(|| format!("entering namespace {path}"))
}

/// A new namespace holding one TUN device, `local` its address and `peer` the other end's.
fn namespace_with_tun(
    local: Ipv4Addr,
    peer: Ipv4Addr,
    mtu: u16,
) -> anyhow::Result<(Namespace, tun::Device)> {
    std::thread::spawn(move || -> anyhow::Result<_> {
        nix::sched::unshare(CloneFlags::CLONE_NEWNET)
            .map_err(|e| anyhow::anyhow!(explain_setup_error(e)))?;
        let handle =
            File::open("/proc/thread-self/ns/net").context("opening the new namespace's handle")?;
        let mut config = tun::Configuration::default();
        config
            .tun_name(TUN_NAME)
            .address(local)
            .netmask(Ipv4Addr::BROADCAST)
            .destination(peer)
            .mtu(mtu)
            .up();
        let device = tun::create(&config).map_err(|e| match e {
            tun::Error::Io(io) if io.raw_os_error() == Some(Errno::ENOENT as i32) => {
                anyhow::anyhow!(explain_setup_error(Errno::ENOENT))
            }
            other => anyhow::anyhow!("creating the TUN device: {other}"),
        })?;
        device
            .set_nonblock()
            .context("making the TUN device non-blocking")?;
        Ok((Namespace { handle }, device))
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the namespace setup thread panicked"))?
}

/// What the emulator measured between two [`Emulator::reset`]s.
#[derive(Clone, Debug, Default)]
pub(crate) struct EmuReport {
    /// The data direction (A → B): offered, delivered, dropped, queue.
    pub(crate) forward: LinkStats,
    /// The return direction (B → A: ACKs).
    pub(crate) reverse: LinkStats,
    /// How late packets were written after their due time, mean over all, µs.
    pub(crate) late_mean_us: f64,
    /// The latest any packet was written after its due time, µs.
    pub(crate) late_max_us: f64,
    /// Packets the emulator failed to write into a device (the kernel refused them).
    pub(crate) write_errors: u64,
}

/// One direction's shared state.
struct Direction {
    state: Mutex<DirState>,
    wake: Condvar,
}

struct DirState {
    link: Link,
    /// When the deliverer will wake by itself; `None` while it is awake.
    sleeping_until: Option<Option<Instant>>,
    late_sum_ns: u128,
    late_count: u64,
    late_max_ns: u64,
    write_errors: u64,
}

impl Direction {
    fn new(config: LinkConfig, seed: u64) -> anyhow::Result<Self> {
        Ok(Self {
            state: Mutex::new(DirState {
                link: Link::new(config, seed).context("link spec")?,
                sleeping_until: None,
                late_sum_ns: 0,
                late_count: 0,
                late_max_ns: 0,
                write_errors: 0,
            }),
            wake: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, DirState> {
        // A poisoned lock means a forwarding thread panicked; its state is still counters and a
        // queue, safe to keep using.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The running emulator: two namespaces and four forwarding threads.
pub(crate) struct Emulator {
    a: Namespace,
    b: Namespace,
    a_to_b: Arc<Direction>,
    b_to_a: Arc<Direction>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Emulator {
    /// Creates the namespaces and devices and starts forwarding through `config` (both
    /// directions alike, independent random draws).
    pub(crate) fn start(config: LinkConfig, seed: u64) -> anyhow::Result<Self> {
        let mtu = u16::try_from(config.mtu).context("the link's MTU must be at most 65535")?;
        let (a, dev_a) = namespace_with_tun(ADDR_A, ADDR_B, mtu)?;
        let (b, dev_b) = namespace_with_tun(ADDR_B, ADDR_A, mtu)?;
        let (dev_a, dev_b) = (Arc::new(dev_a), Arc::new(dev_b));
        let a_to_b = Arc::new(Direction::new(config.clone(), seed)?);
        let b_to_a = Arc::new(Direction::new(config, seed ^ 0x5eed)?);
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for (from, to, dir, name) in [
            (&dev_a, &dev_b, &a_to_b, "a→b"),
            (&dev_b, &dev_a, &b_to_a, "b→a"),
        ] {
            let (from, dir_r, stop_r) = (from.clone(), dir.clone(), stop.clone());
            threads.push(
                std::thread::Builder::new()
                    .name(format!("emu read {name}"))
                    .spawn(move || read_loop(&from, &dir_r, &stop_r))?,
            );
            let (to, dir_w, stop_w) = (to.clone(), dir.clone(), stop.clone());
            threads.push(
                std::thread::Builder::new()
                    .name(format!("emu deliver {name}"))
                    .spawn(move || deliver_loop(&to, &dir_w, &stop_w))?,
            );
        }
        Ok(Self {
            a,
            b,
            a_to_b,
            b_to_a,
            stop,
            threads,
        })
    }

    /// The sending side's namespace.
    pub(crate) fn a(&self) -> &Namespace {
        &self.a
    }

    /// The receiving side's namespace.
    pub(crate) fn b(&self) -> &Namespace {
        &self.b
    }

    /// Switches both directions to `config` (packets in flight are dropped) and zeroes the
    /// counters: the next run starts on an empty path.
    pub(crate) fn set_link(&mut self, config: LinkConfig, seed: u64) -> anyhow::Result<()> {
        for (dir, seed) in [(&self.a_to_b, seed), (&self.b_to_a, seed ^ 0x5eed)] {
            let link = Link::new(config.clone(), seed).context("link spec")?;
            let mut state = dir.lock();
            state.link = link;
            drop(state);
            dir.wake.notify_one();
        }
        self.reset();
        Ok(())
    }

    /// Zeroes the counters (the link's, lateness, write errors).
    pub(crate) fn reset(&self) {
        let now = Instant::now();
        for dir in [&self.a_to_b, &self.b_to_a] {
            let mut s = dir.lock();
            s.link.reset_stats(now);
            s.late_sum_ns = 0;
            s.late_count = 0;
            s.late_max_ns = 0;
            s.write_errors = 0;
        }
    }

    /// The counters since the last reset.
    pub(crate) fn report(&self) -> EmuReport {
        let (f, r) = (self.a_to_b.lock(), self.b_to_a.lock());
        let count = f.late_count + r.late_count;
        EmuReport {
            forward: f.link.stats().clone(),
            reverse: r.link.stats().clone(),
            late_mean_us: if count == 0 {
                0.0
            } else {
                (f.late_sum_ns + r.late_sum_ns) as f64 / count as f64 / 1e3
            },
            late_max_us: f.late_max_ns.max(r.late_max_ns) as f64 / 1e3,
            write_errors: f.write_errors + r.write_errors,
        }
    }

    /// Packets each TUN device dropped before the emulator read them (its transmit queue was
    /// full: the emulator fell behind), A's then B's, from the namespaces' `/proc/net/dev`.
    pub(crate) fn device_drops(&self) -> anyhow::Result<(u64, u64)> {
        let read = |ns: &Namespace| -> anyhow::Result<u64> {
            ns.run(|| {
                let text = std::fs::read_to_string("/proc/thread-self/net/dev")?;
                tx_drops(&text, TUN_NAME).context("no TUN device in /proc/net/dev")
            })?
            .join()
            .map_err(|_| anyhow::anyhow!("reading device counters panicked"))?
        };
        Ok((read(&self.a)?, read(&self.b)?))
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for dir in [&self.a_to_b, &self.b_to_a] {
            dir.wake.notify_all();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        // The namespace handles close here, and with them the namespaces and devices.
    }
}

/// The transmit-drop counter of `device` in a `/proc/net/dev` listing (the 12th number on its
/// line: 8 receive counters, then transmit bytes, packets, errs, drop).
fn tx_drops(proc_net_dev: &str, device: &str) -> Option<u64> {
    let line = proc_net_dev
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{device}:")))?;
    let (_, numbers) = line.split_once(':')?;
    numbers.split_whitespace().nth(11)?.parse().ok()
}

fn read_loop(from: &tun::Device, dir: &Direction, stop: &AtomicBool) {
    let mut bufs = vec![vec![0u8; 65_536]; BATCH];
    let mut lens = [0usize; BATCH];
    while !stop.load(Ordering::Relaxed) {
        let mut n = 0;
        while n < BATCH {
            match from.recv(&mut bufs[n]) {
                Ok(len) => {
                    lens[n] = len;
                    n += 1;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    tracing::error!("emulator: reading a TUN device failed: {e}");
                    return;
                }
            }
        }
        if n == 0 {
            match from.recv_timeout(&mut bufs[0], IDLE_POLL) {
                Ok(len) => {
                    lens[0] = len;
                    n = 1;
                }
                Err(_) => continue,
            }
        }
        let now = Instant::now();
        let mut state = dir.lock();
        for (buf, &len) in bufs.iter().zip(&lens).take(n) {
            state.link.send_packet(now, &buf[..len]);
        }
        // Wake the deliverer if it sleeps past the new earliest arrival.
        let next = state.link.poll_timeout();
        let wake = match (state.sleeping_until, next) {
            (Some(None), Some(_)) => true,
            (Some(Some(until)), Some(next)) => next < until,
            _ => false,
        };
        drop(state);
        if wake {
            dir.wake.notify_one();
        }
    }
}

fn deliver_loop(to: &tun::Device, dir: &Direction, stop: &AtomicBool) {
    // Wake within ~1 µs of the deadline rather than the default 50 µs slack.
    let _ = nix::sys::prctl::set_timerslack(1_000);
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(BATCH * 4);
    let mut spent: Vec<Vec<u8>> = Vec::with_capacity(BATCH * 4);
    loop {
        let mut state = dir.lock();
        for buf in spent.drain(..) {
            state.link.recycle(buf);
        }
        loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let now = Instant::now();
            if let Some(due) = state.link.poll_timeout().filter(|&due| due <= now) {
                let late = u64::try_from(now.duration_since(due).as_nanos()).unwrap_or(u64::MAX);
                while out.len() < BATCH * 4 {
                    match state.link.poll_deliver(now) {
                        Some(p) => out.push(p),
                        None => break,
                    }
                }
                let s = &mut *state;
                s.late_sum_ns += u128::from(late) * out.len() as u128;
                s.late_count += out.len() as u64;
                s.late_max_ns = s.late_max_ns.max(late);
                break;
            }
            let next = state.link.poll_timeout();
            state.sleeping_until = Some(next);
            state = match next {
                Some(at) => {
                    dir.wake
                        .wait_timeout(state, at.saturating_duration_since(now))
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
                None => {
                    dir.wake
                        .wait_timeout(state, IDLE_POLL)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
            state.sleeping_until = None;
        }
        drop(state);
        let mut errors = 0;
        for packet in out.drain(..) {
            if to.send(&packet).is_err() {
                errors += 1;
            }
            spent.push(packet);
        }
        if errors > 0 {
            dir.lock().write_errors += errors;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tx_drops_from_proc_net_dev() {
        let text = "Inter-|   Receive                                                |  Transmit\n \
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n  \
cfb0: 1000      10    0    0    0     0          0         0   2000      20    0    7    0     0       0          0\n    \
lo:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0\n";
        assert_eq!(tx_drops(text, "cfb0"), Some(7));
        assert_eq!(tx_drops(text, "lo"), Some(0));
        assert_eq!(tx_drops(text, "eth0"), None);
    }
}
