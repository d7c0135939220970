//! What the client tells its user: the [`Event`] enum and the [`EventStream`] that carries it.

use std::time::Duration;

use proto::{ChatMessage, ErrorCode, FileInfo};
use serde::{Serialize, Serializer};
use tokio::sync::mpsc;

/// Something that happened in the session. Serializes as one JSON object with a `type` field
/// (`confab chat --json` prints exactly that).
///
/// Chat messages arrive exactly once and in id order across the whole session, reconnects
/// included: the client never emits a message whose id is not above every id it already emitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The first event: the login succeeded.
    LoggedIn {
        /// The nick as registered.
        nick: String,
        /// Everyone online now, this client included.
        members: Vec<String>,
        /// Stored messages from before the login (public ones and private ones of ours),
        /// oldest first.
        history: Vec<ChatMessage>,
    },
    /// A chat message, public (`to` absent) or private (to us or from us).
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
    /// A file was added to (or replaced in) the server's list, by anyone — us included.
    /// Serializes as the file's fields next to `"type": "file_added"`. Files whose name could
    /// not be saved under (a path, control characters) are never reported.
    FileAdded(FileInfo),
    /// The server reported an error that answers none of our requests.
    Error {
        /// The server's error code.
        code: ErrorCode,
        /// The server's explanation.
        message: String,
    },
    /// The connection was lost. Followed by [`Event::Reconnecting`] when reconnect is on and
    /// the reason allows it, else by [`Event::Closed`].
    Disconnected {
        /// What happened, for people.
        reason: String,
        /// The code of the server's `bye`, when it said goodbye.
        #[serde(skip_serializing_if = "Option::is_none")]
        code: Option<ErrorCode>,
    },
    /// Waiting `delay` before reconnect attempt `attempt` (from 1).
    Reconnecting {
        /// Which attempt is next, counting from 1.
        attempt: u32,
        /// How long until it starts.
        #[serde(rename = "delay_ms", serialize_with = "as_millis")]
        delay: Duration,
    },
    /// Connected and logged in again; the `missed` messages follow as [`Event::Message`]s.
    Reconnected {
        /// Everyone online now, this client included.
        members: Vec<String>,
        /// How many messages arrived while we were away (they follow this event).
        missed: usize,
    },
    /// The session is over; no event follows.
    Closed {
        /// Why, for people (e.g. `you quit`).
        reason: String,
    },
}

fn as_millis<S: Serializer>(delay: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(delay.as_millis().try_into().unwrap_or(u64::MAX))
}

/// The receiving end of a session's events. Ends (`recv` returns `None`) after
/// [`Event::Closed`].
///
/// The channel behind it is unbounded on purpose. A bounded one would stall the background task
/// whenever the application is slow to read — and an application awaiting a request's answer
/// (`client.say(..).await`) while not reading events would deadlock, since the answer comes
/// through that same stalled task. Memory stays bounded where it matters: the server caps each
/// session's queue and disconnects a client that falls behind, and the events here are what the
/// user is there to see anyway.
#[derive(Debug)]
pub struct EventStream {
    rx: mpsc::UnboundedReceiver<Event>,
}

impl EventStream {
    pub(crate) fn new(rx: mpsc::UnboundedReceiver<Event>) -> Self {
        EventStream { rx }
    }

    /// The next event, or `None` once the session has closed and every event was read.
    pub async fn recv(&mut self) -> Option<Event> {
        self.rx.recv().await
    }

    /// The next event if one is ready, without waiting.
    pub fn try_recv(&mut self) -> Option<Event> {
        self.rx.try_recv().ok()
    }
}
