//! netsim: a seeded, sans-IO model of a network path, shared by confab's virtual-time
//! simulations, `confab relay` and the benchmark emulator.
//!
//! A [`Link`] is one direction of a path. It reads no clock and owns no socket: every call
//! takes `now`, and randomness comes from a seed, so the same seed and the same calls give the
//! same deliveries (for a given build of `rand`). A [`Duplex`] pairs two links.
//!
//! # The model
//!
//! A datagram offered to [`Link::send`] goes through, in order:
//!
//! 1. **IP framing.** A UDP datagram of `n` bytes is an IPv4 packet of `n + 28` wire bytes. If
//!    that exceeds the MTU it is split into fragments as IPv4 does (RFC 791: a 20-byte header
//!    each, every payload but the last a multiple of 8 bytes). Fragments then travel on their
//!    own, and the datagram is delivered only if all of them are, when the last one arrives.
//!    Datagrams over 65507 bytes are refused (`TooLarge`).
//! 2. **The bottleneck queue** (drop-tail). Packets are serialized one after another at
//!    `rate_bps`, taking `wire bytes × 8 / rate` each. The backlog is the wire bytes of every
//!    packet not yet fully serialized, *including the one on the wire*; a packet that would
//!    take it past `queue_bytes` is tail-dropped (so a packet larger than the whole queue never
//!    passes). Times are integers (nanoseconds × rate), so long runs do not drift.
//! 3. **Loss, after the bottleneck**, as on a lossy radio hop: a lost packet still used its
//!    slot of capacity. Each packet or fragment meets the Gilbert–Elliott chain (`burst`, as in
//!    netem's `gemodel`) and then the Bernoulli `loss`, independently.
//! 4. **Delay.** Delivery is at the end of serialization + `delay` + a jitter drawn uniformly
//!    in `[0, jitter]`. Jitter alone keeps order: a datagram never arrives before one sent ahead
//!    of it (it waits for it, like packets behind a slow one in a FIFO), so jitter shows up as
//!    delay variation (RFC 3393) without reordering. A datagram picked by `reorder` is held back
//!    `reorder_delay` more and lets later ones overtake; the others ignore it.
//! 5. **Duplication and corruption.** With probability `duplicate` a second copy arrives right
//!    after the first; each copy independently has one random bit flipped with probability
//!    `corrupt`.
//!
//! Link-layer framing (Ethernet's 38 bytes per frame) is not counted. Datagrams due at the same
//! instant come out in the order they were scheduled.
//!
//! # Example
//!
//! ```
//! use std::time::{Duration, Instant};
//! use netsim::{Link, LinkConfig};
//!
//! let config: LinkConfig = "rate=10mbit,rtt=40ms,loss=1%,queue=1bdp".parse()?;
//! assert_eq!(config.queue_bytes, Some(50_000));
//! let mut link = Link::new(config, 42)?;
//!
//! let mut now = Instant::now();
//! for _ in 0..10 {
//!     link.send(now, &[0u8; 1200]);
//! }
//! // Virtual time: jump to each arrival instead of sleeping.
//! let mut received = 0;
//! while let Some(at) = link.poll_timeout() {
//!     now = now.max(at);
//!     while let Some(datagram) = link.poll_deliver(now) {
//!         received += 1;
//!         link.recycle(datagram);
//!     }
//! }
//! assert_eq!(received as u64 + link.stats().dropped(), 10);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Layout
//!
//! Start with [`link`] (the state machine and its calling contract), then `queue` (the
//! bottleneck) and `loss` (Bernoulli and Gilbert–Elliott draws). [`config`] holds what a link
//! does, [`spec`] parses and prints it (`rate=100mbit,rtt=50ms,...`) and offers clap-ready
//! value parsers, [`ip`] the IPv4 sizes, [`stats`] the counters.

pub mod config;
pub mod duplex;
pub mod ip;
pub mod link;
mod loss;
mod queue;
pub mod spec;
pub mod stats;

pub use config::{ConfigError, GilbertElliott, LinkConfig, bdp_bytes};
pub use duplex::Duplex;
pub use link::{Link, SendOutcome};
pub use spec::{SpecError, ValueError, parse_bytes, parse_duration, parse_probability, parse_rate};
pub use stats::{Count, LinkStats};
