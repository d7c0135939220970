//! `confab chat`: the line-mode terminal client.
//!
//! Two loops share one session: a printer task turns every [`Event`] into a line, and the input
//! loop turns every stdin line into a request. Our own messages are printed when they come back
//! from the server like everyone else's, so what you see is what was stored, in server order.
//! Each line's request is awaited before the next is read, so at the end of stdin everything
//! sent has been stored.
//!
//! `/get` and `/put` run in the background (chat goes on) and print one line when they end.
//! At the end of stdin the client waits for them; `/quit` cancels them (they resume when run
//! again).

use std::path::PathBuf;

use anyhow::{Result, anyhow};
use client::{Ack, Client, ClientError, ConnectOptions, Event, TransferCanceller, TransferHandle};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::task::JoinSet;

use crate::Global;
use crate::files::{download_path, summary, table};
use crate::identity::user_nick;
use crate::render::{Output, json_line};

const HELP: &str = "\
commands:
  TEXT               send TEXT to everyone (start with // to send a line beginning with /)
  /msg NICK TEXT     send TEXT privately to NICK
  /who               list who is online
  /history [N]       show the last N messages (default 20; times in UTC)
  /files             list the shared files
  /get NAME          download a shared file to ./NAME (in the background)
  /put PATH          share a file (in the background)
  /quit              leave (end of input does the same)
  /help              this list";

/// Messages `/history` shows without a number.
const DEFAULT_HISTORY_LINES: u32 = 20;

/// What to do after a line.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Quit,
}

/// Transfers started with `/get` and `/put`, running in the background.
#[derive(Default)]
struct Background {
    tasks: JoinSet<()>,
    cancellers: Vec<TransferCanceller>,
}

impl Background {
    /// Sets a transfer up in the background, then prints one line when it ends.
    fn start(
        &mut self,
        out: &Output,
        setup: impl Future<Output = Result<TransferHandle, ClientError>> + Send + 'static,
        cancellers: tokio::sync::mpsc::UnboundedSender<TransferCanceller>,
    ) {
        let out = out.clone();
        self.tasks.spawn(async move {
            let handle = match setup.await {
                Ok(handle) => handle,
                Err(err) => return out.error(&err),
            };
            let _ = cancellers.send(handle.canceller());
            match handle.finished().await {
                Ok(outcome) if out.json => {
                    let mut value = serde_json::to_value(&outcome).unwrap_or_default();
                    if let Some(map) = value.as_object_mut() {
                        map.insert("type".into(), "transfer_done".into());
                    }
                    json_line(&value);
                }
                Ok(outcome) => out.notice(&format!("* {}", summary(&outcome, false))),
                Err(err) => out.error(&err),
            }
        });
    }
}

pub(crate) async fn run(global: &Global, history: u32) -> Result<()> {
    let nick = user_nick(global.nick.as_deref())?;
    let mut options = ConnectOptions::new(&global.server, &nick);
    options.history = Some(history);
    options.client_name = concat!("confab-chat/", env!("CARGO_PKG_VERSION")).into();
    let (client, mut events) = match Client::connect(options).await {
        Err(ClientError::NickTaken { nick }) => {
            return Err(anyhow!(
                "nick '{nick}' is taken — choose another with --nick"
            ));
        }
        other => other?,
    };
    let out = Output {
        json: global.json,
        me: client.nick().to_owned(),
    };

    let printer_out = out.clone();
    let mut printer = tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            printer_out.event(&event);
            if let Event::Closed { reason } = event {
                return reason;
            }
        }
        "the session ended".to_owned()
    });

    tokio::select! {
        () = read_input(&client, &out) => {
            let _ = client.quit().await;
            // Let the printer show what arrived before the server's `bye`.
            let _ = (&mut printer).await;
            Ok(())
        }
        reason = &mut printer => {
            Err(anyhow!("session closed: {}", reason.unwrap_or_else(|e| e.to_string())))
        }
    }
}

/// Reads stdin line by line until its end (then waits for background transfers) or `/quit`
/// (then cancels them).
async fn read_input(client: &Client, out: &Output) {
    let mut stdin = BufReader::new(tokio::io::stdin());
    let mut buf = Vec::new();
    let mut background = Background::default();
    let (canceller_tx, mut canceller_rx) = tokio::sync::mpsc::unbounded_channel();
    let quit = loop {
        buf.clear();
        let read = tokio::select! {
            read = stdin.read_until(b'\n', &mut buf) => read,
            Some(canceller) = canceller_rx.recv() => {
                background.cancellers.push(canceller);
                continue;
            }
            // Reap finished transfers as they end (their line is already printed).
            Some(_) = background.tasks.join_next(), if !background.tasks.is_empty() => continue,
        };
        match read {
            Ok(0) => break false,
            Ok(_) => {}
            Err(err) => {
                out.notice(&format!("! cannot read input: {err}"));
                break false;
            }
        }
        // Invalid UTF-8 is replaced rather than refused: the rest of the line still counts.
        let text = String::from_utf8_lossy(&buf);
        let text = text.trim_end_matches(['\n', '\r']);
        if handle_line(client, out, text, &mut background, &canceller_tx).await == Flow::Quit {
            break true;
        }
    };
    if quit {
        while let Ok(canceller) = canceller_rx.try_recv() {
            background.cancellers.push(canceller);
        }
        for canceller in &background.cancellers {
            canceller.cancel();
        }
    }
    loop {
        tokio::select! {
            joined = background.tasks.join_next() => if joined.is_none() {
                return;
            },
            // A transfer whose setup finished after the cancels went out: cancel it too.
            Some(canceller) = canceller_rx.recv(), if quit => canceller.cancel(),
        }
    }
}

async fn handle_line(
    client: &Client,
    out: &Output,
    line: &str,
    background: &mut Background,
    cancellers: &tokio::sync::mpsc::UnboundedSender<TransferCanceller>,
) -> Flow {
    if line.trim().is_empty() {
        return Flow::Continue;
    }
    let Some(rest) = line.strip_prefix('/') else {
        report_ack(out, client.say(line).await);
        return Flow::Continue;
    };
    if rest.starts_with('/') {
        report_ack(out, client.say(rest).await);
        return Flow::Continue;
    }
    let (command, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let args = args.trim_start();
    match command {
        "msg" | "m" => match args.split_once(char::is_whitespace) {
            Some((to, text)) if !text.trim().is_empty() => {
                report_ack(out, client.private(to, text.trim_start()).await);
            }
            _ => out.notice("! usage: /msg NICK TEXT"),
        },
        "who" => match client.who().await {
            Ok(nicks) => out.members(&nicks),
            Err(err) => out.error(&err),
        },
        "history" => {
            let limit = if args.is_empty() {
                Ok(DEFAULT_HISTORY_LINES)
            } else {
                args.trim().parse::<u32>()
            };
            match limit {
                Ok(limit) => match client.history(Some(limit), None).await {
                    Ok(messages) if out.json => json_line(&serde_json::json!({
                        "type": "history",
                        "messages": messages,
                    })),
                    Ok(messages) => {
                        for msg in &messages {
                            out.message(msg, true);
                        }
                    }
                    Err(err) => out.error(&err),
                },
                Err(_) => out.notice("! usage: /history [N]"),
            }
        }
        "files" => match client.files().await {
            Ok(files) if out.json => json_line(&serde_json::json!({
                "type": "files",
                "files": files,
            })),
            Ok(files) if files.is_empty() => out.notice("* no files shared yet — /put PATH"),
            Ok(files) => out.notice(&table(&files).join("\n")),
            Err(err) => out.error(&err),
        },
        "get" if !args.trim().is_empty() => {
            let name = args.trim().to_owned();
            match download_path(&name, None) {
                Ok(dest) => {
                    let client = client.clone();
                    out.notice(&format!("* downloading {name} in the background…"));
                    background.start(
                        out,
                        async move { client.download(&name, dest).await },
                        cancellers.clone(),
                    );
                }
                Err(err) => out.error(&err),
            }
        }
        "put" if !args.trim().is_empty() => {
            let path = PathBuf::from(args.trim());
            let client = client.clone();
            out.notice(&format!(
                "* uploading {} in the background…",
                path.display()
            ));
            background.start(
                out,
                async move { client.upload(path, None, false).await },
                cancellers.clone(),
            );
        }
        "get" => out.notice("! usage: /get NAME (see /files)"),
        "put" => out.notice("! usage: /put PATH"),
        "quit" | "exit" => return Flow::Quit,
        "help" => out.notice(HELP),
        other => out.notice(&format!("! unknown command /{other} — try /help")),
    }
    Flow::Continue
}

/// Prints a send's failure (its success shows when the message comes back), or in JSON mode
/// the ack too, so scripts can match their sends to stored ids.
fn report_ack(out: &Output, result: Result<Ack, ClientError>) {
    match result {
        Ok(ack) if out.json => json_line(&serde_json::json!({
            "type": "ack",
            "id": ack.id,
            "ts": ack.ts,
        })),
        Ok(_) => {}
        Err(err) => out.error(&err),
    }
}
