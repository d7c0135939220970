//! Shared-file name rules, enforced by the server on upload and by clients before they write a
//! downloaded file under its listed name (a hostile or buggy server must not be able to make a
//! client write outside the folder it chose).
//!
//! A name is a single path component: the server stores bodies by content hash, so a name never
//! becomes a server path, but on a client it does.

use thiserror::Error;

/// Longest file name, in bytes of UTF-8 (the common file-system limit).
pub const MAX_FILE_NAME_BYTES: usize = 255;

/// Why a file name was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FileNameError {
    /// Empty name.
    #[error("file name is empty")]
    Empty,
    /// Over [`MAX_FILE_NAME_BYTES`].
    #[error("file name is {0} bytes long; the limit is {MAX_FILE_NAME_BYTES}")]
    TooLong(usize),
    /// Contains `/` or `\`: a name must not be a path.
    #[error("file name {0:?} contains a path separator; give a bare name like report.pdf")]
    PathSeparator(String),
    /// `.` or `..`.
    #[error("file name {0:?} is reserved")]
    Reserved(String),
    /// Contains a control character (NUL, newline, escape…).
    #[error("file name contains the control character {0:?}")]
    Control(char),
    /// Starts or ends with whitespace, which is invisible in listings.
    #[error("file name {0:?} starts or ends with whitespace")]
    Whitespace(String),
}

/// Checks a shared-file name.
pub fn validate_file_name(name: &str) -> Result<(), FileNameError> {
    if name.is_empty() {
        return Err(FileNameError::Empty);
    }
    if name.len() > MAX_FILE_NAME_BYTES {
        return Err(FileNameError::TooLong(name.len()));
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(FileNameError::Control(c));
    }
    if name.contains(['/', '\\']) {
        return Err(FileNameError::PathSeparator(name.into()));
    }
    if name == "." || name == ".." {
        return Err(FileNameError::Reserved(name.into()));
    }
    if name.trim() != name {
        return Err(FileNameError::Whitespace(name.into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for ok in [
            "report.pdf",
            ".bashrc",
            "notes (v2).txt",
            "日本語.txt",
            "a..b",
        ] {
            assert_eq!(validate_file_name(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn refuses_hostile_names() {
        assert!(matches!(
            validate_file_name("../x"),
            Err(FileNameError::PathSeparator(_))
        ));
        assert!(matches!(
            validate_file_name("/etc/passwd"),
            Err(FileNameError::PathSeparator(_))
        ));
        assert!(matches!(
            validate_file_name("a/b"),
            Err(FileNameError::PathSeparator(_))
        ));
        assert!(matches!(
            validate_file_name("a\\b"),
            Err(FileNameError::PathSeparator(_))
        ));
        assert_eq!(
            validate_file_name("con\0"),
            Err(FileNameError::Control('\0'))
        );
        assert_eq!(
            validate_file_name(&"x".repeat(300)),
            Err(FileNameError::TooLong(300))
        );
        assert!(matches!(
            validate_file_name(".."),
            Err(FileNameError::Reserved(_))
        ));
        assert_eq!(validate_file_name(""), Err(FileNameError::Empty));
        assert!(matches!(
            validate_file_name(" x"),
            Err(FileNameError::Whitespace(_))
        ));
    }
}
