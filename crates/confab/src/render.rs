//! How things look: one line per event for people, one JSON object per line for programs.
//!
//! Text from other people is shown with control characters escaped, so a message can neither
//! break the one-event-per-line promise nor send escape sequences to the terminal.

use std::fmt::Write as _;
use std::io::Write as _;

use client::{ChatMessage, ClientError, Event};
use serde::Serialize;

/// Where output goes, and in which form.
#[derive(Debug, Clone)]
pub(crate) struct Output {
    /// JSON lines instead of text.
    pub(crate) json: bool,
    /// Our nick, to tell our private messages from other people's.
    pub(crate) me: String,
}

impl Output {
    /// Prints an event (nothing for events that mean nothing to a reader, like our own quit).
    pub(crate) fn event(&self, event: &Event) {
        if self.json {
            return json_line(event);
        }
        match event {
            Event::LoggedIn {
                nick,
                members,
                history,
            } => {
                for msg in history {
                    self.message(msg, true);
                }
                line(&format!(
                    "* logged in as {nick}; online: {} — /help for commands",
                    members.join(", ")
                ));
            }
            Event::Message(msg) => self.message(msg, false),
            Event::Joined { nick } => line(&format!("* {nick} joined")),
            Event::Left { nick, reason } => line(&format!("* {nick} left ({reason})")),
            Event::Error { message, .. } => line(&format!("! {}", clean(message))),
            Event::Disconnected { reason, .. } => {
                line(&format!("* connection lost: {}", clean(reason)));
            }
            Event::Reconnecting { attempt, delay } => {
                let secs = delay.as_secs_f64();
                if *attempt == 1 {
                    line(&format!("* reconnecting in {secs:.1} s…"));
                } else {
                    line(&format!(
                        "* reconnecting in {secs:.1} s (attempt {attempt})…"
                    ));
                }
            }
            Event::Reconnected { missed, .. } => {
                let plural = if *missed == 1 { "" } else { "s" };
                line(&format!("* reconnected, {missed} missed message{plural}"));
            }
            Event::FileAdded(file) => line(&format!(
                "* {} shared {} ({}) — /get {} to download it",
                clean(&file.uploader),
                clean(&file.name),
                crate::files::human_bytes(file.size),
                clean(&file.name),
            )),
            // The caller reports how the session ended.
            Event::Closed { .. } => {}
        }
    }

    /// Prints a chat message; `with_time` prefixes its (UTC) time, for history.
    pub(crate) fn message(&self, msg: &ChatMessage, with_time: bool) {
        if self.json {
            return json_line(msg);
        }
        let mut out = String::new();
        if with_time {
            let _ = write!(out, "[{}] ", clock(msg.ts));
        }
        match &msg.to {
            None => {
                let _ = write!(out, "<{}> ", msg.from);
            }
            Some(to) if msg.from.eq_ignore_ascii_case(&self.me) => {
                let _ = write!(out, "[you → {to}] ");
            }
            Some(to) if to.eq_ignore_ascii_case(&self.me) => {
                let _ = write!(out, "[{} → you] ", msg.from);
            }
            Some(to) => {
                let _ = write!(out, "[{} → {to}] ", msg.from);
            }
        }
        out.push_str(&clean(&msg.text));
        line(&out);
    }

    /// Prints the answer to a `who`.
    pub(crate) fn members(&self, nicks: &[String]) {
        if self.json {
            json_line(&serde_json::json!({ "type": "members", "nicks": nicks }));
        } else {
            line(&format!("* online: {}", nicks.join(", ")));
        }
    }

    /// Prints a request's failure: `! bob is not online`.
    pub(crate) fn error(&self, err: &ClientError) {
        if self.json {
            json_line(&serde_json::json!({
                "type": "error",
                "code": err.code(),
                "message": err.to_string(),
            }));
        } else {
            line(&format!("! {}", clean(&err.to_string())));
        }
    }

    /// Prints a local notice (help, usage hints).
    pub(crate) fn notice(&self, text: &str) {
        if self.json {
            json_line(&serde_json::json!({ "type": "notice", "message": text }));
        } else {
            for l in text.lines() {
                line(l);
            }
        }
    }
}

/// Writes one line to stdout. A closed stdout (say, piped into `head`) is not worth a panic.
pub(crate) fn line(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// Writes a value as one JSON line.
pub(crate) fn json_line<T: Serialize + ?Sized>(value: &T) {
    match serde_json::to_string(value) {
        Ok(text) => line(&text),
        Err(err) => tracing::warn!(%err, "cannot serialize output"),
    }
}

/// Escapes control characters (newlines, ESC, …) so text stays on one line and inert.
pub(crate) fn clean(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// `HH:MM` (UTC) of a timestamp in milliseconds since the Unix epoch.
fn clock(ts_ms: u64) -> String {
    let minutes = ts_ms / 60_000;
    format!("{:02}:{:02}", (minutes / 60) % 24, minutes % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(clean("hi"), "hi");
        assert_eq!(clean("a\nb\u{1b}[2J"), "a\\nb\\u{1b}[2J");
    }

    #[test]
    fn clock_is_utc_hours_and_minutes() {
        // 1970-01-02 12:03:59 UTC
        let ts = ((24 + 12) * 3600 + 3 * 60 + 59) * 1000;
        assert_eq!(clock(ts), "12:03");
    }
}
