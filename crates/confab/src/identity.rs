//! Which nick to use: `--nick`, else `$CONFAB_NICK` (both via clap), else `$USER`.

use anyhow::{Result, anyhow};
use proto::nick::{MAX_NICK_LEN, validate_nick};

/// How many throwaway nicks the read-only commands try before giving up.
const THROWAWAY_TRIES: usize = 5;

/// The nick for commands that speak as the user (`chat`, `send`): validated, with a clear
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

/// Throwaway nicks for read-only commands (`who`, `history`), derived from the user's nick so
/// the server's logs still say who asked: `alice-cli`, `alice-cli2`, …
pub(crate) fn throwaway_nicks(flag: Option<&str>) -> Vec<String> {
    let base = user_nick(flag).unwrap_or_else(|_| "confab".into());
    (1..=THROWAWAY_TRIES)
        .map(|n| {
            let suffix = if n == 1 {
                "-cli".to_owned()
            } else {
                format!("-cli{n}")
            };
            let keep = MAX_NICK_LEN - suffix.len();
            // Nicks are ASCII (validated), so byte slicing is safe.
            format!("{}{suffix}", &base[..base.len().min(keep)])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throwaway_nicks_are_valid_and_distinct() {
        let nicks = throwaway_nicks(Some("a_very_long_nickname_xyz"));
        assert_eq!(nicks.len(), THROWAWAY_TRIES);
        for nick in &nicks {
            assert_eq!(validate_nick(nick), Ok(()), "{nick}");
        }
        assert_eq!(throwaway_nicks(Some("bob"))[0], "bob-cli");
        assert_eq!(throwaway_nicks(Some("bob"))[1], "bob-cli2");
    }

    #[test]
    fn invalid_nick_is_explained() {
        let err = user_nick(Some("9lives")).unwrap_err().to_string();
        assert!(err.contains("'9lives' is invalid"), "{err}");
    }
}
