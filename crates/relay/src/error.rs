//! [`RelayError`]: why a relay could not start or stopped.

use std::io;
use std::net::SocketAddr;

use thiserror::Error;

/// Why a relay could not start, or stopped other than by its shutdown signal. Errors of one
/// TCP connection or one datagram never end up here: they are logged and the relay carries on.
#[derive(Debug, Error)]
pub enum RelayError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr} ({protocol}): {source}{hint}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// `"TCP"` or `"UDP"`.
        protocol: &'static str,
        /// What the OS said.
        source: io::Error,
        /// What to do about it, starting with a separator (may be empty).
        hint: &'static str,
    },
    /// A link configuration netsim refuses.
    #[error("invalid {direction} link: {source}")]
    Link {
        /// `"up (client→server)"` or `"down (server→client)"`.
        direction: &'static str,
        /// What is wrong with it.
        source: netsim::ConfigError,
    },
    /// The relay's own machinery failed: a bug, to report with the log.
    #[error("relay task failed: {0} (this is a bug; please report it with the log)")]
    Task(String),
}

impl RelayError {
    pub(crate) fn listen(addr: SocketAddr, protocol: &'static str, source: io::Error) -> Self {
        let hint = match source.kind() {
            io::ErrorKind::AddrInUse => {
                " — pick another --listen port, or stop what holds this one"
            }
            io::ErrorKind::AddrNotAvailable => {
                " — that IP is not on this machine: listen on 127.0.0.1, 0.0.0.0 or one of its addresses"
            }
            io::ErrorKind::PermissionDenied => {
                " — ports below 1024 need privileges: pick a port above 1023"
            }
            _ => "",
        };
        Self::Listen {
            addr,
            protocol,
            source,
            hint,
        }
    }
}
