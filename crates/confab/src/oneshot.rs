//! One-shot scripting commands: `send`, `who`, `history`. Each connects without reconnect and
//! without a login backlog, does one thing, says `quit` and exits.

use anyhow::{Result, anyhow};
use client::{Client, ClientError, ConnectOptions};

use crate::Global;
use crate::identity::user_nick;
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

/// `confab who`: online nicks, one per line.
pub(crate) async fn who(global: &Global) -> Result<()> {
    let client = quiet_login(global).await?;
    let nicks = client.who().await;
    let _ = client.quit().await;
    let nicks = nicks?;
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
    let client = quiet_login(global).await?;
    let messages = client.history(Some(limit), None).await;
    let _ = client.quit().await;
    // A quiet session is only ever shown public messages; the filter says so here too.
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

/// Logs in as a quiet session (see `ConnectOptions::quiet`) under the user's nick: nobody sees
/// a script come and go, and it works while the user's own `confab chat` holds the nick.
pub(crate) async fn quiet_login(global: &Global) -> Result<Client> {
    let nick = user_nick(global.nick.as_deref())?;
    let mut options = options(global, &nick);
    options.quiet = true;
    let (client, _events) = Client::connect(options).await?;
    Ok(client)
}
