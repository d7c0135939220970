//! The messages of the control channel.
//!
//! Every message is a JSON object with a `type` field (snake_case variant name). Requests that
//! expect an answer carry an optional `req` number chosen by the client; the answer (or the error)
//! echoes it, so a client can have several requests in flight. Events the server pushes on its own
//! (`message`, `joined`, `left`, `ping`, `bye`, `transfer_stats`) carry no `req`.

use serde::{Deserialize, Serialize};

/// A request from a client to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// First message of every connection: the protocol version the client speaks.
    Hello {
        /// Must equal [`crate::PROTOCOL_VERSION`].
        version: u32,
        /// Free-form client name and version, for the server's logs (e.g. `confab-cli/0.1`).
        #[serde(default)]
        client: String,
    },
    /// Take a nickname and join the lobby. Answered by `logged_in` then `history`, or `error`
    /// (`invalid_nick`, `nick_taken`), after which the client may try another nick.
    Login {
        /// The nickname (see [`crate::validate_nick`]).
        nick: String,
        /// Reconnecting: the last message id this client saw. The server then sends every
        /// message after it (instead of the recent history), so nothing is missed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<u64>,
        /// How many recent messages to receive on a fresh login (default 100, 0 for none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        history: Option<u32>,
        /// A quiet session, for scripts and one-shot commands: it is not listed, nobody sees it
        /// join or leave, it receives no live events, it does not reserve the nick (which only
        /// labels its uploads), it sees public history only, and it may not send chat
        /// messages (`read_only`). Files, `who`, `history`, uploads and downloads work.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        quiet: bool,
    },
    /// A public message to the lobby. Answered by `ack` once stored; then fanned out to everyone
    /// (the sender included) as `message`.
    Say {
        /// Request number echoed in the `ack` or `error`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<u64>,
        /// The text, 1 to [`crate::MAX_TEXT_BYTES`] bytes of UTF-8.
        text: String,
    },
    /// A private message to one online member. Answered by `ack`; delivered as `message` (with
    /// `to`) to the target and to the sender.
    Private {
        /// Request number echoed in the `ack` or `error`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<u64>,
        /// The recipient's nick (any case).
        to: String,
        /// The text, 1 to [`crate::MAX_TEXT_BYTES`] bytes of UTF-8.
        text: String,
    },
    /// Who is online. Answered by `members`.
    Who {
        /// Request number echoed in the `members` answer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<u64>,
    },
    /// Stored messages visible to this user (public ones and private ones they are party to).
    /// Answered by one or more `history` frames, the last with `done: true`.
    History {
        /// Request number echoed in every `history` frame of the answer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<u64>,
        /// At most this many messages (the most recent ones); default 100, at most 10 000.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
        /// Only messages with an id greater than this (catching up after a disconnect).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<u64>,
    },
    /// The server's shared files. Answered by one or more `file_list` frames, the last with
    /// `done: true`.
    Files {
        /// Request number echoed in every `file_list` frame of the answer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<u64>,
    },
    /// Fetch a shared file. Answered by `transfer` (then the bytes flow over UDP, see
    /// `crates/rudp/PROTOCOL.md`) or `error` (`no_such_file`, `too_many_transfers`).
    Download {
        /// Request number echoed in the answer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<u64>,
        /// The file's name as listed.
        name: String,
    },
    /// Share a file. Answered by `transfer` (send the bytes over UDP; `upload_done` follows
    /// once the server has verified and listed it), by `upload_done` at once if the server
    /// already has exactly this file under this name, or by `error` (`invalid_file_name`,
    /// `file_exists`, `file_too_large`, `storage_full`, `too_many_transfers`).
    Upload {
        /// Request number echoed in the answer and in `upload_done`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<u64>,
        /// The name to list it under: no path separators, no control characters.
        name: String,
        /// Size, bytes.
        size: u64,
        /// BLAKE3 of the whole content, 64 lowercase hex digits.
        hash: String,
        /// Replace a listed file of the same name and different content.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        replace: bool,
    },
    /// Abandon a transfer this client started (either direction).
    Cancel {
        /// The transfer id from `transfer`.
        transfer: u64,
    },
    /// Liveness check; answered by `pong`.
    Ping {
        /// Request number echoed in the `pong`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<u64>,
    },
    /// The answer to a server `ping`.
    Pong {},
    /// Leave cleanly: the server answers `bye` and closes; others see `left`.
    Quit {},
}

/// One chat message as stored and delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Server-assigned id, strictly increasing over the server's whole history.
    pub id: u64,
    /// When the server stored it, in milliseconds since the Unix epoch (UTC).
    pub ts: u64,
    /// The sender's nick.
    pub from: String,
    /// For a private message, the recipient's nick; absent for a message to the lobby.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The text.
    pub text: String,
}

impl ChatMessage {
    /// Whether this is a private message (it has a recipient).
    pub fn is_private(&self) -> bool {
        self.to.is_some()
    }
}

/// One shared file as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    /// Its name in the list (unique, compared exactly).
    pub name: String,
    /// Size, bytes.
    pub size: u64,
    /// BLAKE3 of the content, 64 lowercase hex digits.
    pub hash: String,
    /// Nick of whoever uploaded it.
    pub uploader: String,
    /// When it was listed, in milliseconds since the Unix epoch (UTC).
    pub ts: u64,
}

/// Which way a transfer's bytes go, seen from the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Server → client.
    Download,
    /// Client → server.
    Upload,
}

/// The figures of a transfer's data sender (its congestion controller and loss recovery), in
/// `transfer_stats`. Counters cover the transfer so far; estimates are the latest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SenderStats {
    /// Congestion window, bytes.
    pub cwnd: u64,
    /// Bytes sent and neither acknowledged nor declared lost, bytes.
    pub bytes_in_flight: u64,
    /// Packets sent (data, ACK-only and probes alike), packets.
    pub packets_sent: u64,
    /// Packets declared lost, packets.
    pub packets_lost: u64,
    /// File bytes sent again after a loss, bytes.
    pub data_bytes_retransmitted: u64,
    /// Smoothed round-trip time (RFC 9002 §5.3), microseconds.
    pub smoothed_rtt_us: u64,
    /// Smallest round-trip time seen, microseconds.
    pub min_rtt_us: u64,
    /// Pacing rate, bytes per second (0: not paced).
    pub pacing_rate: u64,
    /// Latest delivery-rate sample, bytes per second.
    pub delivery_rate: u64,
}

/// A reply or event from the server to a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// The answer to `hello`: the server accepted the protocol version.
    Welcome {
        /// The protocol version the server speaks (equal to the client's).
        version: u32,
        /// Server software and version, e.g. `confab/0.1.0`.
        server: String,
        /// Largest frame payload the server accepts, in bytes.
        max_frame: u32,
        /// Longest message text the server accepts, in bytes.
        max_text: u32,
    },
    /// The answer to `login`: the nick is yours. History follows in `history` frames.
    LoggedIn {
        /// The nick as registered (the spelling the client asked for).
        nick: String,
        /// Everyone online now, this client included, sorted case-insensitively.
        members: Vec<String>,
        /// The highest message id stored on the server when you logged in (0 if none).
        last_id: u64,
    },
    /// A chat message, public or private, delivered live.
    Message(ChatMessage),
    /// A member came online.
    Joined {
        /// Their nick.
        nick: String,
    },
    /// A member went offline.
    Left {
        /// Their nick.
        nick: String,
        /// Why: `quit`, `closed`, `timeout`, `too_slow`, `protocol_error`, `shutdown`.
        reason: String,
    },
    /// A request was carried out: the message is stored under `id`.
    Ack {
        /// The request number from the `say` or `private`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<u64>,
        /// The id the message was stored under.
        id: u64,
        /// Its server timestamp, in milliseconds since the Unix epoch.
        ts: u64,
    },
    /// The answer to `who`.
    Members {
        /// The request number from the `who`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<u64>,
        /// Online nicks, sorted case-insensitively.
        nicks: Vec<String>,
    },
    /// A batch of stored messages, oldest first; the answer to `history` or the backlog sent
    /// after `logged_in`. Large answers are split over several frames; the last has `done`.
    History {
        /// The request number from the `history` (absent for the login backlog).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<u64>,
        /// The messages of this batch, in id order.
        messages: Vec<ChatMessage>,
        /// True on the last frame of the answer.
        done: bool,
        /// On the last frame: the answer stopped at its limit and more messages follow the
        /// last one (ask again with `since` = its id). Absent means false.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        more: bool,
    },
    /// Shared files, sorted by name; the answer to `files` (split over frames if long).
    FileList {
        /// The request number from the `files`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<u64>,
        /// The files of this frame.
        files: Vec<FileInfo>,
        /// True on the last frame of the answer.
        done: bool,
    },
    /// A file was added to (or replaced in) the list, by anyone. Sent to everyone.
    FileAdded {
        /// The file.
        file: FileInfo,
    },
    /// The answer to `download` or `upload`: the transfer is set up; the client now sends the
    /// first UDP datagram to the server's `udp_port` (on the host it reached over TCP).
    Transfer {
        /// The request number from the `download` / `upload`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<u64>,
        /// Identifies the transfer in every datagram and in `cancel`.
        transfer: u64,
        /// Download or upload.
        direction: Direction,
        /// The per-transfer AEAD key, 32 bytes as 64 lowercase hex digits. Fresh for every
        /// transfer; it is what authenticates every datagram.
        key: String,
        /// UDP port of the server's transfer endpoint, when it is not the port the client's TCP
        /// connection reached. Absent (the default setup): send to the very address the TCP
        /// connection went to — so a relay or port forward in between carries UDP too.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        udp_port: Option<u16>,
        /// The file (for an upload: as it will be listed once verified).
        file: FileInfo,
    },
    /// Your upload is verified and listed (or the server already had exactly this file).
    UploadDone {
        /// The request number from the `upload`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<u64>,
        /// The transfer id, absent when no bytes had to move.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transfer: Option<u64>,
        /// The file as listed.
        file: FileInfo,
    },
    /// A transfer failed on the server's side (timeout, verification, disk).
    TransferFailed {
        /// The transfer id.
        transfer: u64,
        /// What went wrong, for programs.
        code: ErrorCode,
        /// What went wrong and what to do, for people.
        message: String,
    },
    /// The server's sender of a running download, as seen from its end: the congestion
    /// window, losses and retransmissions that only the sending side knows. Sent to the session
    /// that owns the download about every 250 ms while its bytes flow, never after it ended;
    /// skipped when the session's queue is filling up. Purely informative: a client may ignore
    /// it.
    TransferStats {
        /// The download's transfer id.
        transfer: u64,
        /// The figures, flattened into this object.
        #[serde(flatten)]
        sender: SenderStats,
    },
    /// The answer to a client `ping`.
    Pong {
        /// The request number from the `ping`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<u64>,
    },
    /// The server has not heard from the client for a while; answer with `pong`.
    Ping {},
    /// A request failed; the session goes on unless a `bye` follows.
    Error {
        /// The request number of the failed request, when it had one and it could be read.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<u64>,
        /// What went wrong, for programs.
        code: ErrorCode,
        /// What went wrong and what to do, for people.
        message: String,
    },
    /// The server is closing this connection; the reason says why.
    Bye {
        /// Why, for programs.
        code: ErrorCode,
        /// Why, for people.
        message: String,
    },
}

/// Error codes, for programs to act on (the `message` next to each is for people).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The client's protocol version is not the server's. Closes the connection.
    UnsupportedVersion,
    /// A request came before `hello`.
    HelloRequired,
    /// A chat request came before a successful `login`.
    NotLoggedIn,
    /// A quiet session tried to send a chat message; log in normally to talk.
    ReadOnly,
    /// `login` on a connection that is already logged in.
    AlreadyLoggedIn,
    /// The nick breaks the nickname rules; try another.
    InvalidNick,
    /// Someone online already has this nick (compared case-insensitively); try another.
    NickTaken,
    /// A private message to a nick that is not online.
    UnknownRecipient,
    /// Empty message text.
    EmptyMessage,
    /// Message text over the limit in `welcome.max_text`.
    MessageTooLong,
    /// Too many requests too fast; slow down and retry.
    RateLimited,
    /// Valid JSON, but not a message this server knows (unknown `type`, missing or wrong fields).
    Malformed,
    /// A frame whose declared length is over the limit. Closes the connection.
    FrameTooLarge,
    /// Bytes that are not a JSON object (or not UTF-8). Closes the connection.
    Undecodable,
    /// The client did not read its messages fast enough. Closes the connection.
    TooSlow,
    /// Nothing heard from the client for too long. Closes the connection.
    IdleTimeout,
    /// The server is shutting down. Closes the connection.
    Shutdown,
    /// The client said `quit`.
    Quit,
    /// A file name with a path separator, `..`, control characters, or empty or too long.
    InvalidFileName,
    /// No listed file has that name.
    NoSuchFile,
    /// A different file is listed under that name; upload with `replace` or pick another name.
    FileExists,
    /// The file is over the server's size limit; nothing was transferred.
    FileTooLarge,
    /// The server has no room for the file; nothing was listed.
    StorageFull,
    /// Too many transfers at once; retry when one finishes.
    TooManyTransfers,
    /// The uploaded bytes do not match the announced BLAKE3; nothing was listed.
    HashMismatch,
    /// The transfer stopped: the peer went silent or cancelled.
    TransferAborted,
    /// The server failed (e.g. it could not store the message); nothing was stored. Retry later.
    Internal,
}
