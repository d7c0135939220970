//! Which nick to use: `--nick`, else `$CONFAB_NICK` (both via clap), else `$USER`.

use anyhow::{Result, anyhow};
use proto::nick::validate_nick;

/// The nick for the user's commands: validated, with a clear
/// message when there is none or it breaks the rules.
pub(crate) fn user_nick(flag: Option<&str>) -> Result<String> {
    let nick = flag
        .map(str::to_owned)
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .ok_or_else(|| anyhow!("no nickname: pass --nick NAME or set CONFAB_NICK"))?;
    validate_nick(&nick).map_err(|err| {
        anyhow!("nickname '{nick}' is invalid: {err} — pass --nick NAME or set CONFAB_NICK")
    })?;
    Ok(nick)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_nick_is_explained() {
        let err = user_nick(Some("9lives")).unwrap_err().to_string();
        assert!(err.contains("'9lives' is invalid"), "{err}");
    }
}
