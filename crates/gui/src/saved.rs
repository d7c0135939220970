//! The last session's server and nick, remembered in the user's config directory so the login
//! screen comes prefilled: `$XDG_CONFIG_HOME/confab/gui.json`, else `~/.config/confab/gui.json`
//! (`%APPDATA%\confab\gui.json` on Windows).
//!
//! Best effort by design: a missing, unreadable or corrupt file means "no saved session", and a
//! failed save is logged, never shown as an error — it must not stand between a user and a chat.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What the login screen remembers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedLogin {
    /// The server address last logged in to.
    pub server: String,
    /// The nick last logged in as.
    pub nick: String,
}

/// Where the saved login lives by default, if a config directory can be found.
pub fn default_path() -> Option<PathBuf> {
    let non_empty = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    let base = if cfg!(windows) {
        non_empty("APPDATA").map(PathBuf::from)
    } else {
        non_empty("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| non_empty("HOME").map(|home| PathBuf::from(home).join(".config")))
    };
    base.map(|dir| dir.join("confab").join("gui.json"))
}

/// Reads the saved login at `path`; `None` if there is none or it cannot be read.
pub fn load(path: &Path) -> Option<SavedLogin> {
    let bytes = std::fs::read(path).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(saved) => Some(saved),
        Err(err) => {
            tracing::warn!(path = %path.display(), %err, "ignoring unreadable saved login");
            None
        }
    }
}

/// Saves `login` at `path`, creating the directory; failures are logged and otherwise ignored.
pub fn store(path: &Path, login: &SavedLogin) {
    let result = (|| -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // Write then rename, so a crash mid-write never leaves a truncated file behind.
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(login)?)?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(err) = result {
        tracing::warn!(path = %path.display(), %err, "cannot save the login for next time");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_tolerates_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("gui.json");
        assert_eq!(load(&path), None);
        let login = SavedLogin {
            server: "10.0.0.5:50000".into(),
            nick: "alice".into(),
        };
        store(&path, &login);
        assert_eq!(load(&path), Some(login));
        std::fs::write(&path, b"{not json").unwrap();
        assert_eq!(load(&path), None);
    }
}
