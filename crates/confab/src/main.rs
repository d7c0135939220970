//! `confab`: the one binary a user runs — the server, the terminal client and the one-shot
//! scripting commands.
//!
//! # Layout
//! One module per command family, each with a `run` function that `main` dispatches to:
//! - `serve` — `confab server`;
//! - `chat` — `confab chat`, the line-mode terminal client;
//! - `oneshot` — `confab send`, `who`, `history`;
//! - `files` — `confab files`, `get`, `put` (and the pieces `chat` reuses for `/get`, `/put`);
//! - `render` — how events and messages look on a terminal or as JSON lines;
//! - `identity` — which nick to use;
//! - `gui` — `confab gui`, the desktop client (cargo feature `gui`, on by default).
//!
//! - `relay` — `confab relay`, the network-impairment relay (the `relay` crate does the work).
//!
//! Errors are `anyhow` here: `main` prints one line, `confab: <what happened>`, and exits 1
//! (clap exits 2 for usage errors).

mod chat;
mod files;
#[cfg(feature = "gui")]
mod gui;
mod identity;
mod oneshot;
mod relay;
mod render;
mod serve;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// confab: chat and file sharing.
#[derive(Debug, Parser)]
#[command(name = "confab", version, about, propagate_version = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options every client command shares.
#[derive(Debug, clap::Args)]
pub(crate) struct Global {
    /// Server control address (host:port).
    #[arg(
        long,
        global = true,
        env = "CONFAB_SERVER",
        default_value = "127.0.0.1:50000"
    )]
    server: String,
    /// Nickname [default: $CONFAB_NICK, then $USER].
    #[arg(long, global = true, env = "CONFAB_NICK")]
    nick: Option<String>,
    /// Machine-readable output: JSON (one object per line for `chat`).
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (TCP control on --bind; state in --data).
    Server {
        /// Address to listen on; port 0 picks a free port (printed on startup).
        #[arg(long, default_value = "127.0.0.1:50000")]
        bind: String,
        /// Data directory (SQLite database and files); created if missing.
        #[arg(long, default_value = "./confab-data")]
        data: PathBuf,
        /// Largest file a client may upload (e.g. 500M, 4G); refused before any byte moves.
        #[arg(long, default_value = "4G", value_parser = parse_size)]
        max_file_size: u64,
        /// How long an interrupted upload is kept for its uploader to resume (e.g. 1h, 30m).
        #[arg(long, default_value = "1h", value_parser = parse_grace)]
        upload_grace: Duration,
    },
    /// Chat in line mode: each stdin line is a public message; /help lists the commands.
    ///
    /// Events print one per line (`<alice> hi`, `* bob joined`, `[alice → you] psst`); with
    /// --json, one JSON object per line. Reconnects automatically if the connection drops.
    /// Exits 0 on /quit or at the end of stdin, once everything sent was stored.
    /// History times are UTC.
    Chat {
        /// How many recent messages to show on login.
        #[arg(long, default_value_t = 20)]
        history: u32,
    },
    /// Send one message as --nick; exits 0 once the server has stored it.
    ///
    /// The sender's nick matters, so if it is in use (e.g. by your own `confab chat`) this fails
    /// with "nick … is taken"; pass another --nick.
    Send {
        /// Send privately to this (online) nick instead of the lobby.
        #[arg(long)]
        to: Option<String>,
        /// The message (several words are joined with spaces).
        #[arg(required = true, num_args = 1..)]
        text: Vec<String>,
    },
    /// List who is online, one nick per line (--json: an array).
    ///
    /// Logs in briefly as a quiet session (unlisted, unseen by others), so it works while your
    /// `confab chat` holds your nick.
    Who,
    /// Show recent public messages, oldest first (--json: an array of messages).
    ///
    /// Like `who`, logs in as a quiet session. Times are UTC.
    History {
        /// How many messages.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Open the desktop client: log in, chat in the lobby and in private tabs, share files.
    ///
    /// The login screen is prefilled from --server and --nick, else from the last session
    /// (remembered in ~/.config/confab/gui.json). Message times are local time.
    #[cfg(feature = "gui")]
    Gui {
        /// Connect at once instead of waiting for a click on Connect.
        #[arg(long)]
        connect: bool,
    },
    /// Relay confab through an impaired network: TCP passes untouched, UDP (file transfers)
    /// suffers loss, delay, jitter, reordering, duplication, corruption and a bandwidth cap.
    ///
    /// Point clients at --listen instead of the server, e.g.
    /// `confab relay --listen 127.0.0.1:50001 --to 127.0.0.1:50000 --loss 5 --delay 20`
    /// then `confab --server 127.0.0.1:50001 chat`. Ctrl-C stops it and prints what it did.
    Relay(Box<relay::Args>),
    /// List the server's shared files: name, size, uploader, time (UTC); --json: an array
    /// with each file's BLAKE3 hash.
    ///
    /// Like `who`, logs in as a quiet session.
    Files,
    /// Download a shared file and verify it; exits 0 only when it is complete and verified
    /// at its destination.
    ///
    /// Writes to PATH.part first and resumes from it if an earlier attempt was interrupted.
    /// Prints one summary line (--json: one object). Like `who`, logs in as a quiet session.
    Get {
        /// The file's name as `confab files` lists it.
        name: String,
        /// Where to write it [default: ./NAME]; a folder means NAME inside it.
        #[arg(short, long, value_name = "PATH")]
        output: Option<PathBuf>,
    },
    /// Upload (share) a file; exits 0 once the server has verified and listed it.
    ///
    /// Logs in as a quiet session; --nick is recorded as the uploader (it may be the nick your
    /// `confab chat` holds). An interrupted upload resumes when run again. Prints one summary line (--json: one object).
    Put {
        /// The file to share.
        path: PathBuf,
        /// The name to share it under [default: its file name].
        #[arg(long = "as", value_name = "NAME")]
        as_name: Option<String>,
        /// Replace a different file already shared under that name.
        #[arg(long)]
        replace: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The window's event loop must own the main thread; the GUI runs its own network runtime.
    #[cfg(feature = "gui")]
    if let Command::Gui { connect } = cli.command {
        return match gui::run(&cli.global, connect) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => fail(&err),
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return fail(&anyhow::anyhow!("cannot start the async runtime: {err}")),
    };
    let result = runtime.block_on(dispatch(cli));
    // A read of stdin may still be blocked on its thread (it cannot be cancelled); do not wait
    // for it.
    runtime.shutdown_timeout(Duration::from_millis(100));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&err),
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let global = cli.global;
    match cli.command {
        Command::Server {
            bind,
            data,
            max_file_size,
            upload_grace,
        } => {
            let mut config = server::Config::new(data);
            config.max_file_size = max_file_size;
            config.upload_grace = upload_grace;
            serve::run(&bind, config).await
        }
        Command::Chat { history } => chat::run(&global, history).await,
        Command::Send { to, text } => oneshot::send(&global, to, text.join(" ")).await,
        Command::Who => oneshot::who(&global).await,
        Command::History { limit } => oneshot::history(&global, limit).await,
        Command::Relay(args) => relay::run(*args).await,
        Command::Files => files::files(&global).await,
        Command::Get { name, output } => files::get(&global, &name, output).await,
        Command::Put {
            path,
            as_name,
            replace,
        } => files::put(&global, &path, as_name, replace).await,
        #[cfg(feature = "gui")]
        Command::Gui { .. } => Err(anyhow::anyhow!("the GUI starts from `main`, not here")),
    }
}

/// A size in bytes: `500M`, `4G`, `64KiB`, `1000` (k/m/g are powers of 1024).
fn parse_size(s: &str) -> Result<u64, String> {
    netsim::parse_bytes(&s.to_ascii_lowercase())
        .map(|n| n as u64)
        .map_err(|err| err.to_string())
}

/// A duration: `1h`, `30m`, `90s`, `500ms`.
fn parse_grace(s: &str) -> Result<Duration, String> {
    let lower = s.to_ascii_lowercase();
    let (number, scale) = if let Some(n) = lower.strip_suffix('h') {
        (n, 3600.0)
    } else if let Some(n) = lower.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = lower.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = lower.strip_suffix('s') {
        (n, 1.0)
    } else {
        return Err(format!("{s:?} needs a unit: h, m, s or ms (e.g. 1h)"));
    };
    number
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map(|n| Duration::from_secs_f64(n * scale))
        .ok_or_else(|| format!("{s:?} is not a duration like 1h, 30m or 90s"))
}

/// Prints the error as one line on stderr and returns exit code 1.
fn fail(err: &anyhow::Error) -> ExitCode {
    let text = format!("{err:#}").replace('\n', " ");
    let _ = writeln!(std::io::stderr().lock(), "confab: {text}");
    ExitCode::FAILURE
}
