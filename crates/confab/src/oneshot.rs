//! One-shot scripting commands: `send`, `who`, `history`. Each connects without reconnect and
//! without a login backlog, does one thing, says `quit` and exits.

use anyhow::{Result, anyhow};
use client::{Client, ClientError, ConnectOptions, Connector};

use crate::Global;
use crate::identity::{throwaway_nicks, user_nick};
use crate::render::{Output, json_line, line};

pub(crate) fn options(global: &Global, nick: &str) -> ConnectOptions {
    let mut options = ConnectOptions::new(&global.server, nick);
    options.reconnect = None;
    options.history = Some(0);
    options.client_name = concat!("confab-cli/", env!("CARGO_PKG_VERSION")).into();
    options
}

/// `confab send [--to NICK] TEXT`: as the user's own nick, since the sender matters.
pub(crate) async fn send(global: &Global, to: Option<String>, text: String) -> Result<()> {
    let nick = user_nick(global.nick.as_deref())?;
    let (client, _events) = match Client::connect(options(global, &nick)).await {
        Err(ClientError::NickTaken { nick }) => {
            return Err(anyhow!(
                "nick '{nick}' is taken (is your `confab chat` using it?) — choose another with --nick"
            ));
        }
        other => other?,
    };
    let sent = match to {
        Some(to) => client.private(to, text).await,
        None => client.say(text).await,
    };
    let _ = client.quit().await;
    let ack = sent?;
    if global.json {
        json_line(&ack);
    }
    Ok(())
}

/// `confab who`: online nicks, one per line (our throwaway nick left out).
pub(crate) async fn who(global: &Global) -> Result<()> {
    let client = throwaway_login(global).await?;
    let nicks = client.who().await;
    let _ = client.quit().await;
    let nicks: Vec<String> = nicks?
        .into_iter()
        .filter(|n| !n.eq_ignore_ascii_case(client.nick()))
        .collect();
    if global.json {
        json_line(&nicks);
    } else {
        for nick in &nicks {
            line(nick);
        }
    }
    Ok(())
}

/// `confab history [--limit N]`: recent public messages, oldest first.
pub(crate) async fn history(global: &Global, limit: u32) -> Result<()> {
    let client = throwaway_login(global).await?;
    let messages = client.history(Some(limit), None).await;
    let _ = client.quit().await;
    let messages: Vec<_> = messages?.into_iter().filter(|m| !m.is_private()).collect();
    if global.json {
        json_line(&messages);
    } else {
        let out = Output {
            json: false,
            me: client.nick().to_owned(),
        };
        for msg in &messages {
            out.message(msg, true);
        }
    }
    Ok(())
}

/// Logs in under the first free throwaway nick, on one connection.
pub(crate) async fn throwaway_login(global: &Global) -> Result<Client> {
    let candidates = throwaway_nicks(global.nick.as_deref());
    let mut connector = Connector::connect(options(global, &candidates[0])).await?;
    for nick in &candidates {
        match connector.login(nick).await {
            Ok((client, _events)) => return Ok(client),
            Err(ClientError::NickTaken { .. }) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(anyhow!(
        "nicks {} are all taken — pass another --nick",
        candidates.join(", ")
    ))
}
