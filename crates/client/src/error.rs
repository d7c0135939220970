//! What can go wrong, phrased for the person who will read it.
//!
//! Every variant's message says what happened and, where there is one, what to do about it.
//! Programs match on the variant (or on [`ClientError::code`] for server refusals); people read
//! the `Display` text.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use proto::ErrorCode;
use thiserror::Error;

/// An operation of the client failed.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The server address did not resolve to anything.
    #[error("cannot resolve server address '{server}': {reason} — check --server")]
    Resolve {
        /// The address as given.
        server: String,
        /// Why it did not resolve.
        reason: String,
    },
    /// The TCP connection could not be made.
    #[error("cannot reach server at {server}: {} — is `confab server` running?", describe_io(.error))]
    Connect {
        /// The address as given.
        server: String,
        /// The socket error (already worded into the message, so not a `source`).
        error: io::Error,
    },
    /// The server does not speak our protocol version (or not our protocol at all).
    #[error("server at {server} refused the handshake: {message}")]
    Handshake {
        /// The address as given.
        server: String,
        /// What the server (or the bytes it sent) said.
        message: String,
    },
    /// Someone online already uses this nick (compared case-insensitively).
    #[error("nick '{nick}' is taken — choose another nick")]
    NickTaken {
        /// The nick that was refused.
        nick: String,
    },
    /// The nick breaks the nickname rules.
    #[error("nick '{nick}' is invalid: {reason}")]
    InvalidNick {
        /// The nick that was refused.
        nick: String,
        /// The rule it breaks.
        reason: String,
    },
    /// The text is longer than the server accepts.
    #[error("message is {len} bytes long; the server accepts at most {max} — split it up")]
    MessageTooLong {
        /// Length of the refused text, in bytes.
        len: usize,
        /// The server's limit, in bytes.
        max: usize,
    },
    /// The server refused a request; its message says why (e.g. `bob is not online`).
    #[error("{message}")]
    Server {
        /// The server's error code.
        code: ErrorCode,
        /// The server's explanation.
        message: String,
    },
    /// The connection to the server is down (it may be reconnecting); the request was not sent
    /// or its answer was lost. Retry once reconnected.
    #[error("not connected to the server ({reason}) — try again once reconnected")]
    Disconnected {
        /// Why the connection is down.
        reason: String,
    },
    /// The session has ended (after `quit`, or after reconnecting gave up).
    #[error("the session is closed — connect again")]
    Closed,
    /// The server did not answer in time.
    #[error("the server did not answer {what} within {} s", .after.as_secs_f64())]
    Timeout {
        /// What was waited for (e.g. `login`).
        what: &'static str,
        /// How long we waited.
        after: Duration,
    },
    /// The server sent something the protocol does not allow at this point.
    #[error("the server broke the protocol: {0}")]
    Protocol(String),
    /// Reading from or writing to the connection failed.
    #[error("connection to the server failed: {}", describe_io(.0))]
    Io(io::Error),
    /// The name cannot be a shared file's name (a path, `..`, control characters, too long…).
    #[error("{reason}")]
    InvalidFileName {
        /// The name as given (or as the server listed it).
        name: String,
        /// The rule it breaks, worded for people.
        reason: String,
    },
    /// The server lists no file of that name.
    #[error("no file named '{name}' on the server — `confab files` lists them")]
    NoSuchFile {
        /// The name asked for.
        name: String,
    },
    /// Another file (other content) is already shared under that name.
    #[error(
        "'{name}' is already shared with different content — use --replace to replace it, or --as NAME to share it under another name"
    )]
    FileExists {
        /// The name uploaded to.
        name: String,
    },
    /// A local file could not be read or written.
    #[error("cannot {action} {}: {} — check the path and its permissions", .path.display(), describe_io(.error))]
    LocalFile {
        /// What we tried, e.g. `read`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The error (worded into the message).
        error: io::Error,
    },
    /// The bytes stopped flowing: the transfer timed out, the peer closed it, or a local disk
    /// operation failed mid-way. Running the same command again resumes it.
    #[error("{what} of '{name}' failed: {reason}")]
    Transfer {
        /// `download` or `upload`.
        what: &'static str,
        /// The shared file's name.
        name: String,
        /// What the transfer engine reported.
        reason: String,
    },
    /// The server gave up a transfer (verification failed, disk full, the peer went silent…).
    #[error("{message}")]
    TransferFailed {
        /// The server's code, e.g. `hash_mismatch`.
        code: ErrorCode,
        /// The server's explanation.
        message: String,
    },
    /// A download arrived but could not be verified or put in place; the message says what to
    /// do (usually: run it again).
    #[error("download of '{name}' did not complete: {reason}")]
    Verify {
        /// The shared file's name.
        name: String,
        /// What went wrong, worded for people.
        reason: String,
    },
    /// No UDP socket for file transfers could be opened here.
    #[error("cannot open a UDP socket for file transfers: {0}")]
    Udp(String),
    /// [`crate::TransferHandle::cancel`] stopped the transfer.
    #[error("{what} of '{name}' was cancelled (running it again resumes it)")]
    Cancelled {
        /// `download` or `upload`.
        what: &'static str,
        /// The shared file's name.
        name: String,
    },
}

impl From<io::Error> for ClientError {
    fn from(err: io::Error) -> Self {
        ClientError::Io(err)
    }
}

impl ClientError {
    /// The protocol error code behind this error, when the server sent one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::NickTaken { .. } => Some(ErrorCode::NickTaken),
            ClientError::InvalidNick { .. } => Some(ErrorCode::InvalidNick),
            ClientError::MessageTooLong { .. } => Some(ErrorCode::MessageTooLong),
            ClientError::Server { code, .. } => Some(*code),
            ClientError::InvalidFileName { .. } => Some(ErrorCode::InvalidFileName),
            ClientError::NoSuchFile { .. } => Some(ErrorCode::NoSuchFile),
            ClientError::FileExists { .. } => Some(ErrorCode::FileExists),
            ClientError::TransferFailed { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Maps a server `error` frame answering a request onto the matching variant.
    pub(crate) fn from_server(code: ErrorCode, message: String) -> Self {
        ClientError::Server { code, message }
    }
}

/// Socket errors in plain words: `connection refused` instead of
/// `Connection refused (os error 111)`.
pub(crate) fn describe_io(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::ConnectionReset => "connection reset by the server".into(),
        io::ErrorKind::ConnectionAborted => "connection aborted".into(),
        io::ErrorKind::TimedOut => "timed out".into(),
        io::ErrorKind::BrokenPipe => "the server closed the connection".into(),
        io::ErrorKind::UnexpectedEof => "the server closed the connection".into(),
        io::ErrorKind::AddrNotAvailable => "address not available".into(),
        io::ErrorKind::HostUnreachable => "host unreachable".into(),
        io::ErrorKind::NetworkUnreachable => "network unreachable".into(),
        _ => {
            // Drop the " (os error N)" tail the OS adds; the words before it are what matters.
            let text = err.to_string();
            match text.find(" (os error") {
                Some(at) => text[..at].to_lowercase(),
                None => text,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_error_reads_as_one_helpful_line() {
        let err = ClientError::Connect {
            server: "127.0.0.1:50000".into(),
            error: io::Error::from(io::ErrorKind::ConnectionRefused),
        };
        assert_eq!(
            err.to_string(),
            "cannot reach server at 127.0.0.1:50000: connection refused — is `confab server` running?"
        );
    }
}
