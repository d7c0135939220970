//! Nickname rules, shared by server (which enforces them) and clients (which can check early).
//!
//! Nicks are compared case-insensitively (ASCII), so `Alice` and `alice` are the same person.
//! The alphabet is kept IRC-compatible (RFC 2812 §2.3.1 minus the brackets), so the planned IRC
//! gateway can map confab nicks one to one.

use thiserror::Error;

/// Longest nickname, in characters (all ASCII, so also bytes).
pub const MAX_NICK_LEN: usize = 24;

/// Why a nickname was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NickError {
    /// The nick was empty.
    #[error("nickname is empty; choose 1 to {MAX_NICK_LEN} characters")]
    Empty,
    /// The nick was longer than [`MAX_NICK_LEN`].
    #[error("nickname is {0} characters long; the limit is {MAX_NICK_LEN}")]
    TooLong(usize),
    /// The first character must be a letter or `_`.
    #[error("nickname must start with a letter or '_'")]
    BadStart,
    /// A character outside the allowed set.
    #[error("nickname contains {0:?}; allowed are letters, digits, '_' and '-'")]
    BadChar(char),
}

/// Checks a nickname: 1 to [`MAX_NICK_LEN`] characters of ASCII letters, digits, `_` and `-`,
/// starting with a letter or `_`.
pub fn validate_nick(nick: &str) -> Result<(), NickError> {
    let mut chars = nick.chars();
    let first = chars.next().ok_or(NickError::Empty)?;
    let len = nick.chars().count();
    if len > MAX_NICK_LEN {
        return Err(NickError::TooLong(len));
    }
    if !(first.is_ascii_alphabetic() || first == '_') {
        return Err(NickError::BadStart);
    }
    if let Some(bad) = chars.find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-')) {
        return Err(NickError::BadChar(bad));
    }
    Ok(())
}

/// The key a nick is compared and stored under: its ASCII lowercase form.
pub fn nick_key(nick: &str) -> String {
    nick.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_nicks() {
        for ok in ["alice", "Bob_2", "_x", "a-b", "z"] {
            assert_eq!(validate_nick(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn refuses_bad_nicks() {
        assert_eq!(validate_nick(""), Err(NickError::Empty));
        assert_eq!(validate_nick("1abc"), Err(NickError::BadStart));
        assert_eq!(validate_nick("a b"), Err(NickError::BadChar(' ')));
        assert_eq!(
            validate_nick("ali\u{e9}"),
            Err(NickError::BadChar('\u{e9}'))
        );
        assert_eq!(validate_nick(&"a".repeat(25)), Err(NickError::TooLong(25)));
    }
}
