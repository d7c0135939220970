//! The `confab` binary end to end: one-shot commands, `chat` driven through stdin, the server
//! command, and the exit codes and one-line errors a script relies on.

mod common;

use std::process::{Output, Stdio};
use std::time::Duration;

use client::Event;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

/// A `confab` command with a clean environment (no stray CONFAB_* settings).
fn confab(server: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_confab"));
    cmd.env_remove("CONFAB_SERVER")
        .env_remove("CONFAB_NICK")
        .env("USER", "tester")
        .arg("--server")
        .arg(server)
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

async fn run(mut cmd: Command) -> Output {
    within("confab to finish", cmd.output())
        .await
        .expect("run confab")
}

/// Runs `confab chat` with `input` on stdin (then end of input).
async fn run_chat(server: &str, args: &[&str], input: &[u8]) -> Output {
    let mut cmd = confab(server, args);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn confab chat");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(&input).await;
        // Dropping stdin closes it: end of input.
    });
    let output = within("confab chat to exit", child.wait_with_output())
        .await
        .unwrap();
    writer.await.unwrap();
    output
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_then_history_json_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(test_config(dir.path())).await;
    let addr = server.addr_string();

    let out = run(confab(
        &addr,
        &["--nick", "alice", "send", "hello", "world"],
    ))
    .await;
    assert!(out.status.success(), "send failed: {}", stderr(&out));
    assert_eq!(stdout(&out), "");

    let out = run(confab(
        &addr,
        &["--nick", "alice", "send", "--json", "again"],
    ))
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let ack: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert!(ack["id"].as_u64().unwrap() > 0);

    let out = run(confab(&addr, &["history", "--json"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let messages: Vec<client::ChatMessage> = serde_json::from_str(stdout(&out).trim()).unwrap();
    let texts: Vec<_> = messages
        .iter()
        .map(|m| (m.from.as_str(), m.text.as_str()))
        .collect();
    assert_eq!(texts, [("alice", "hello world"), ("alice", "again")]);

    let out = run(confab(&addr, &["history", "--limit", "1"])).await;
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.trim_end().ends_with("<alice> again"), "{text}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_as_a_taken_nick_fails_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(test_config(dir.path())).await;
    let addr = server.addr_string();
    let (_alice, _ae, _) = login(server.addr, "alice").await;

    let out = run(confab(&addr, &["--nick", "ALICE", "send", "hi"])).await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("confab: nick 'ALICE' is taken"), "{err}");
    assert!(err.contains("--nick"), "{err}");

    let out = run(confab(&addr, &["--nick", "9lives", "send", "hi"])).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("'9lives' is invalid"),
        "{}",
        stderr(&out)
    );

    // Private to someone offline: the server's reason, exit 1.
    let out = run(confab(
        &addr,
        &["--nick", "bob", "send", "--to", "nobody", "psst"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("nobody"), "{}", stderr(&out));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_lists_online_nicks_even_while_ours_is_taken() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(test_config(dir.path())).await;
    let addr = server.addr_string();
    let (_zed, _ze, _) = login(server.addr, "zed").await;
    let (_amy, mut ae, _) = login(server.addr, "amy").await;

    // Our own nick is online (as a chat session would be): `who` still works.
    let out = run(confab(&addr, &["--nick", "zed", "who"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "amy\nzed\n");

    let out = run(confab(&addr, &["--nick", "zed", "who", "--json"])).await;
    let nicks: Vec<String> = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(nicks, ["amy", "zed"]);

    // Scripts are invisible: `who`, `history` and `files` ran as quiet sessions, so the next
    // thing amy's chat sees is a real message, with no joined/left in between.
    for cmd in ["history", "files"] {
        let out = run(confab(&addr, &["--nick", "zed", cmd])).await;
        assert!(out.status.success(), "{cmd}: {}", stderr(&out));
    }
    let out = run(confab(&addr, &["--nick", "bea", "send", "real message"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let first = within("amy's next event", ae.recv()).await.unwrap();
    assert!(
        matches!(&first, Event::Joined { nick } if nick == "bea"),
        "quiet sessions leaked into amy's stream: {first:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_through_stdin_prints_events_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(test_config(dir.path())).await;
    let addr = server.addr_string();
    let (zed, mut ze, _) = login(server.addr, "zed").await;
    zed.say("before you came").await.unwrap();

    let huge = "x".repeat(10 * 1024 * 1024);
    let mut input =
        format!("hi there\n/msg zed psst\n/msg nobody hello?\n/who\n/bogus\n{huge}\n").into_bytes();
    input.extend_from_slice(b"\xff invalid utf8 is fine\n//slash\n/history 2\n");
    let out = run_chat(&addr, &["--nick", "carol", "chat"], &input).await;
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "exit {:?}: {}\n{text}",
        out.status,
        stderr(&out)
    );
    let lines: Vec<&str> = text.lines().collect();
    let expect_in_order = [
        "<zed> before you came",
        "* logged in as carol; online: carol, zed — /help for commands",
        "<carol> hi there",
        "[you → zed] psst",
        "! 'nobody' is not online; /who lists who is",
        "* online: carol, zed",
        "! unknown command /bogus — try /help",
    ];
    let mut at = 0;
    for want in expect_in_order {
        match lines[at..].iter().position(|l| l.ends_with(want)) {
            Some(i) => at += i + 1,
            None => panic!("missing (in order) {want:?} in:\n{text}"),
        }
    }
    assert!(text.contains("! message is 10485760 bytes long"), "{text}");
    assert!(
        text.contains("<carol> \u{fffd} invalid utf8 is fine"),
        "{text}"
    );
    assert!(text.contains("<carol> /slash"), "{text}");
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));

    // Zed saw carol come, talk (publicly and privately) and leave cleanly.
    let mut saw = Vec::new();
    loop {
        match next_event(&mut ze).await {
            Event::Left { nick, reason } if nick == "carol" => {
                assert_eq!(reason, "quit");
                break;
            }
            Event::Message(m) if m.from == "carol" => saw.push((m.to, m.text)),
            _ => {}
        }
    }
    assert_eq!(saw[0], (None, "hi there".to_owned()));
    assert_eq!(saw[1], (Some("zed".to_owned()), "psst".to_owned()));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_json_prints_one_object_per_line_and_quit_ends_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(test_config(dir.path())).await;
    let addr = server.addr_string();
    let (_zed, _ze, _) = login(server.addr, "zed").await;

    let out = run_chat(
        &addr,
        &["--nick", "carol", "--json", "chat"],
        b"hello\n/who\n/quit\nthis is never sent\n",
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let objects: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect();
    let types: Vec<&str> = objects
        .iter()
        .map(|o| o["type"].as_str().unwrap())
        .collect();
    assert_eq!(types.first(), Some(&"logged_in"), "{types:?}");
    assert!(
        types.contains(&"ack") && types.contains(&"members"),
        "{types:?}"
    );
    let said: Vec<_> = objects
        .iter()
        .filter(|o| o["type"] == "message")
        .map(|o| o["text"].as_str().unwrap())
        .collect();
    assert_eq!(said, ["hello"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_exits_1_with_one_line() {
    // A port that was just free: nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr = format!("127.0.0.1:{port}");
    for args in [
        &["who"][..],
        &["--nick", "a", "send", "x"],
        &["history"],
        &["--nick", "a", "chat"],
    ] {
        let out = run(confab(&addr, args)).await;
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = stderr(&out);
        assert_eq!(
            err,
            format!(
                "confab: cannot reach server at {addr}: connection refused — is `confab server` running?\n"
            ),
            "{args:?}"
        );
    }
    // Usage errors are clap's exit 2.
    let out = run(confab(&addr, &["send"])).await;
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_command_announces_its_port_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut child, _out, addr, line) = spawn_announcing(
        &[
            "server",
            "--bind",
            "127.0.0.1:0",
            "--data",
            data.to_str().unwrap(),
        ],
        "confab server listening on ",
    )
    .await;
    assert!(
        line.contains(&format!("(data: {})", data.display())),
        "{line}"
    );

    let out = run(confab(
        &addr,
        &["--nick", "amy", "send", "through the binary"],
    ))
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(data.join(server::DB_FILE).exists());

    sigterm(&child);
    let status = within("server exit", child.wait()).await.unwrap();
    assert!(status.success(), "server exited with {status:?}");
    tokio::time::sleep(Duration::ZERO).await;
}

/// Starts `confab ARGS` (logs quiet, stderr dropped), reads its first stdout line — `prefix`
/// then the address it listens on — and returns the child, the rest of its stdout, that address
/// and the whole line.
async fn spawn_announcing(
    args: &[&str],
    prefix: &str,
) -> (
    tokio::process::Child,
    tokio::process::ChildStdout,
    String,
    String,
) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut line = Vec::new();
    within("the first line", async {
        while !line.ends_with(b"\n") {
            let mut byte = [0u8; 1];
            if out.read(&mut byte).await.unwrap() == 0 {
                panic!("exited before printing a line");
            }
            line.push(byte[0]);
        }
    })
    .await;
    let line = String::from_utf8(line).unwrap();
    let addr = line
        .strip_prefix(prefix)
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (child, out, addr, line)
}

fn sigterm(child: &tokio::process::Child) {
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_command_forwards_chat_and_reports_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(test_config(dir.path())).await;
    let target = server.addr_string();
    let (mut child, mut child_out, addr, line) = spawn_announcing(
        &[
            "relay",
            "--listen",
            "127.0.0.1:0",
            "--to",
            &target,
            "--loss",
            "5",
            "--delay",
            "10ms",
            "--seed",
            "7",
        ],
        "confab relay listening on ",
    )
    .await;
    assert!(line.contains("loss=5%"), "{line}");

    // Chat is TCP: it passes the relay untouched, loss or not.
    let out = run(confab(&addr, &["--nick", "amy", "send", "via the relay"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(confab(&addr, &["--nick", "amy", "history", "--json"])).await;
    assert!(stdout(&out).contains("via the relay"), "{}", stdout(&out));

    sigterm(&child);
    let mut report = String::new();
    within("the report", child_out.read_to_string(&mut report))
        .await
        .unwrap();
    let status = within("relay exit", child.wait()).await.unwrap();
    assert!(status.success(), "relay exited with {status:?}");
    assert!(report.to_lowercase().contains("tcp"), "{report}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_max_file_size_flag_refuses_a_larger_upload_before_it_moves() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut child, _out, addr, _) = spawn_announcing(
        &[
            "server",
            "--bind",
            "127.0.0.1:0",
            "--max-file-size",
            "1k",
            "--data",
            data.to_str().unwrap(),
        ],
        "confab server listening on ",
    )
    .await;
    let small = dir.path().join("small.txt");
    let big = dir.path().join("big.txt");
    std::fs::write(&small, vec![b's'; 1024]).unwrap();
    std::fs::write(&big, vec![b'b'; 1025]).unwrap();
    let small = small.to_str().unwrap();
    let big = big.to_str().unwrap();
    let out = run(confab(&addr, &["--nick", "amy", "put", small])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(confab(&addr, &["--nick", "amy", "put", big])).await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("1025") && err.contains("1024"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    child.kill().await.unwrap();
}
