//! A logged-in session as the user sees it: conversations (the lobby and one per private peer),
//! unread counts, the online list and the connection state.

use client::{ChatMessage, Event};
use proto::nick::nick_key;

use super::files::{Files, SideView, human_bytes};
use crate::net::Command;

/// Most lines a conversation keeps; older ones are dropped (the server keeps the history).
pub(crate) const MAX_LINES: usize = 5_000;

/// The state of the connection, as the status bar shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnState {
    /// Logged in and live.
    Connected,
    /// The connection dropped; a reconnect is about to be scheduled.
    Lost {
        /// Why, for people.
        reason: String,
    },
    /// Waiting for (or making) reconnect attempt `attempt`.
    Reconnecting {
        /// Which attempt, from 1.
        attempt: u32,
        /// The wait before it, in milliseconds.
        delay_ms: u64,
    },
    /// The session is over (the server refused us back, or reconnecting gave up).
    Closed {
        /// Why, for people.
        reason: String,
    },
}

/// Which conversation: the lobby or a private one, keyed by the peer's lowercase nick.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConvKey {
    /// The shared room.
    Lobby,
    /// Private messages with one person; holds [`nick_key`] of their nick.
    Private(String),
}

impl ConvKey {
    /// The key of a private conversation with `nick` (any case).
    pub fn private(nick: &str) -> Self {
        ConvKey::Private(nick_key(nick))
    }
}

/// One line of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A chat message.
    Message(ChatMessage),
    /// Something that happened (joined, left, connection lost…), shown dimmed.
    Note(String),
}

/// The lobby or a private conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    /// Which one.
    pub key: ConvKey,
    /// The tab title: `# lobby`, or the peer's nick as last seen.
    pub title: String,
    /// What was said, oldest first; the oldest lines are dropped past 5 000.
    pub lines: Vec<Line>,
    /// Messages that arrived while another tab was active.
    pub unread: usize,
    /// What the user is typing here.
    pub draft: String,
    /// Why the last send from this conversation failed, shown under the input.
    pub send_error: Option<String>,
}

impl Conversation {
    fn new(key: ConvKey, title: String) -> Self {
        Conversation {
            key,
            title,
            lines: Vec::new(),
            unread: 0,
            draft: String::new(),
            send_error: None,
        }
    }

    fn push(&mut self, line: Line) {
        if self.lines.len() >= MAX_LINES {
            self.lines.drain(..self.lines.len() + 1 - MAX_LINES);
        }
        self.lines.push(line);
    }

    /// The peer's nick, for a private conversation.
    pub fn peer(&self) -> Option<&str> {
        match self.key {
            ConvKey::Lobby => None,
            ConvKey::Private(_) => Some(&self.title),
        }
    }
}

/// What a tab shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TabView {
    /// Which conversation.
    pub key: ConvKey,
    /// Its title.
    pub title: String,
    /// Its unread count.
    pub unread: usize,
    /// Whether it is the one on screen.
    pub active: bool,
    /// For a private tab, whether the peer is online (always true for the lobby).
    pub online: bool,
}

/// A logged-in session.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// The server address we logged in to.
    pub server: String,
    /// Our nick, as the server registered it.
    pub me: String,
    /// The connection's state.
    pub conn: ConnState,
    /// Who is online (us included), sorted case-insensitively.
    pub members: Vec<String>,
    /// The lobby first, then private conversations in the order they opened.
    pub conversations: Vec<Conversation>,
    /// The conversation on screen.
    pub active: ConvKey,
    /// How many messages the last reconnect caught up on, if there was one.
    pub caught_up: Option<usize>,
    /// The server's files and this session's transfers.
    pub files: Files,
    /// What the right-hand panel shows.
    pub side: SideView,
    /// The highest message id seen: anything at or below it is a duplicate.
    last_id: u64,
}

impl Session {
    /// A fresh session: the login's members and backlog, the lobby on screen.
    pub fn new(
        server: String,
        me: String,
        members: Vec<String>,
        history: Vec<ChatMessage>,
    ) -> Self {
        let mut session = Session {
            server,
            me,
            conn: ConnState::Connected,
            members: Vec::new(),
            conversations: vec![Conversation::new(ConvKey::Lobby, "# lobby".into())],
            active: ConvKey::Lobby,
            caught_up: None,
            files: Files::default(),
            side: SideView::default(),
            last_id: 0,
        };
        session.set_members(members);
        for msg in history {
            session.route(msg, false);
        }
        session
    }

    /// Applies an event; returns a notice to show, if the event deserves one.
    pub fn apply_event(&mut self, event: Event) -> Option<String> {
        match event {
            Event::Message(msg) => self.route(msg, true),
            Event::Joined { nick } => {
                if !self.is_online(&nick) {
                    self.members.push(nick.clone());
                    self.sort_members();
                }
                self.note_presence(&nick, format!("{nick} joined"));
            }
            Event::Left { nick, reason } => {
                let key = nick_key(&nick);
                self.members.retain(|m| nick_key(m) != key);
                let how = match reason.as_str() {
                    "quit" => String::new(),
                    "timeout" | "closed" => " (connection lost)".into(),
                    "too_slow" => " (could not keep up)".into(),
                    "shutdown" => " (server shutting down)".into(),
                    other => format!(" ({other})"),
                };
                self.note_presence(&nick, format!("{nick} left{how}"));
            }
            Event::FileAdded(file) => {
                // Listed in the Files panel, and the room says what was shared.
                let note = format!(
                    "{} shared {} ({})",
                    file.uploader,
                    file.name,
                    human_bytes(file.size)
                );
                self.lobby().push(Line::Note(note));
                self.files.added(file);
            }
            Event::Error { message, .. } => return Some(message),
            Event::Disconnected { reason, .. } => {
                self.lobby()
                    .push(Line::Note(format!("connection lost: {reason}")));
                self.conn = ConnState::Lost { reason };
            }
            Event::Reconnecting { attempt, delay } => {
                self.conn = ConnState::Reconnecting {
                    attempt,
                    delay_ms: delay.as_millis().try_into().unwrap_or(u64::MAX),
                };
            }
            Event::Reconnected { members, missed } => {
                self.conn = ConnState::Connected;
                self.caught_up = Some(missed);
                self.set_members(members);
                let text = match missed {
                    0 => "reconnected; nothing was missed".to_owned(),
                    1 => "reconnected; 1 missed message follows".to_owned(),
                    n => format!("reconnected; {n} missed messages follow"),
                };
                self.lobby().push(Line::Note(text));
            }
            Event::Closed { reason } => {
                self.lobby()
                    .push(Line::Note(format!("session closed: {reason}")));
                self.conn = ConnState::Closed { reason };
            }
            // Only the first event of a session; a session never sees a second one.
            Event::LoggedIn { .. } => {}
        }
        None
    }

    /// Files a message under its conversation, dropping duplicates (ids only grow).
    fn route(&mut self, msg: ChatMessage, live: bool) {
        if msg.id <= self.last_id {
            return;
        }
        self.last_id = msg.id;
        let from_me = nick_key(&msg.from) == nick_key(&self.me);
        let (key, title) = match &msg.to {
            None => (ConvKey::Lobby, None),
            Some(to) => {
                let peer = if from_me { to } else { &msg.from };
                (ConvKey::private(peer), Some(peer.clone()))
            }
        };
        let counts = live && !from_me && key != self.active;
        let conv = self.open(key, title);
        if counts {
            conv.unread += 1;
        }
        conv.push(Line::Message(msg));
    }

    /// The conversation with `key`, opened (at the end of the tabs) if needed. `title`
    /// refreshes a private tab's title to the nick's current spelling.
    fn open(&mut self, key: ConvKey, title: Option<String>) -> &mut Conversation {
        let index = match self.conversations.iter().position(|c| c.key == key) {
            Some(index) => index,
            None => {
                let title = title.clone().unwrap_or_default();
                self.conversations.push(Conversation::new(key, title));
                self.conversations.len() - 1
            }
        };
        let conv = &mut self.conversations[index];
        if let Some(title) = title {
            conv.title = title;
        }
        conv
    }

    fn lobby(&mut self) -> &mut Conversation {
        &mut self.conversations[0]
    }

    /// Notes a presence change in the lobby and in the private tab with that person, if open.
    fn note_presence(&mut self, nick: &str, text: String) {
        let key = ConvKey::private(nick);
        if let Some(conv) = self.conversations.iter_mut().find(|c| c.key == key) {
            conv.push(Line::Note(text.clone()));
        }
        self.lobby().push(Line::Note(text));
    }

    fn set_members(&mut self, members: Vec<String>) {
        self.members = members;
        self.sort_members();
    }

    fn sort_members(&mut self) {
        self.members.sort_by_key(|nick| nick_key(nick));
    }

    /// Whether `nick` (any case) is online.
    pub fn is_online(&self, nick: &str) -> bool {
        let key = nick_key(nick);
        self.members.iter().any(|m| nick_key(m) == key)
    }

    /// Whether `nick` is us.
    pub fn is_me(&self, nick: &str) -> bool {
        nick_key(nick) == nick_key(&self.me)
    }

    /// Opens (or switches to) the private conversation with `nick` — what clicking a member
    /// does. Clicking ourselves goes to the lobby.
    pub fn open_private(&mut self, nick: &str) {
        if self.is_me(nick) {
            self.select(&ConvKey::Lobby);
            return;
        }
        let key = ConvKey::private(nick);
        self.open(key.clone(), Some(nick.to_owned()));
        self.select(&key);
    }

    /// Puts the conversation `key` on screen and marks it read.
    pub fn select(&mut self, key: &ConvKey) {
        if let Some(conv) = self.conversations.iter_mut().find(|c| &c.key == key) {
            conv.unread = 0;
            self.active = key.clone();
        }
    }

    /// Switches to the tab `delta` places away, wrapping around.
    pub fn cycle(&mut self, delta: isize) {
        let len = self.conversations.len() as isize;
        let at = self
            .conversations
            .iter()
            .position(|c| c.key == self.active)
            .unwrap_or(0) as isize;
        let key = self.conversations[(at + delta).rem_euclid(len) as usize]
            .key
            .clone();
        self.select(&key);
    }

    /// Closes a private tab (the lobby stays). Its messages come back if the peer writes again.
    pub fn close(&mut self, key: &ConvKey) {
        if *key == ConvKey::Lobby {
            return;
        }
        self.conversations.retain(|c| &c.key != key);
        if self.active == *key {
            self.active = ConvKey::Lobby;
        }
    }

    /// The tabs, in order.
    pub fn tabs(&self) -> Vec<TabView> {
        self.conversations
            .iter()
            .map(|c| TabView {
                key: c.key.clone(),
                title: c.title.clone(),
                unread: c.unread,
                active: c.key == self.active,
                online: c.peer().is_none_or(|peer| self.is_online(peer)),
            })
            .collect()
    }

    /// Unread messages over all tabs.
    pub fn total_unread(&self) -> usize {
        self.conversations.iter().map(|c| c.unread).sum()
    }

    /// The conversation on screen.
    pub fn active_conversation(&self) -> &Conversation {
        self.conversations
            .iter()
            .find(|c| c.key == self.active)
            .unwrap_or(&self.conversations[0])
    }

    /// The conversation on screen, for changes.
    pub fn active_conversation_mut(&mut self) -> &mut Conversation {
        let index = self
            .conversations
            .iter()
            .position(|c| c.key == self.active)
            .unwrap_or(0);
        &mut self.conversations[index]
    }

    /// Takes the active draft as a send command, unless it is blank.
    pub(crate) fn take_draft(&mut self) -> Option<Command> {
        let conv = self.active_conversation_mut();
        if conv.draft.trim().is_empty() {
            return None;
        }
        conv.send_error = None;
        let text = std::mem::take(&mut conv.draft);
        let to = conv.peer().map(str::to_owned);
        Some(Command::Send { to, text })
    }

    /// Shows a failed send in its conversation, and gives the text back to the input if the
    /// user has not started typing something else.
    pub(crate) fn send_failed(&mut self, to: Option<&str>, text: String, error: String) {
        let key = to.map_or(ConvKey::Lobby, ConvKey::private);
        if let Some(conv) = self.conversations.iter_mut().find(|c| c.key == key) {
            if conv.draft.is_empty() {
                conv.draft = text;
            }
            conv.send_error = Some(error);
        }
    }
}
