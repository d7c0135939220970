//! File sharing end to end, on loopback with real sockets: a server in this process, the
//! client library and the `confab` binary, sometimes through the impairment relay.
//!
//! A note on the relay: a client sends its datagrams to the very address its TCP connection
//! reached, so a relay on any port in front of the server carries the transfers too (the relay
//! tests check that the relay's UDP counters moved).

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use client::{Client, ClientError, ErrorCode, Event, TransferOutcome};
use common::*;
use proto::{ClientMsg, FileInfo, ServerMsg};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use tokio::task::JoinHandle;

const MIB: usize = 1 << 20;

/// Awaits `fut` or fails the test after `secs`.
async fn within_secs<T>(secs: u64, what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(secs), fut).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {secs} s waiting for {what}"),
    }
}

fn write_file(dir: &Path, name: &str, len: usize, seed: u64) -> (PathBuf, Vec<u8>) {
    let path = dir.join(name);
    let bytes = pattern(len, seed);
    std::fs::write(&path, &bytes).unwrap();
    (path, bytes)
}

fn blake3_hex(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// A server with a temporary data folder, and a work folder for the clients' files.
struct Setup {
    _tmp: tempfile::TempDir,
    data: PathBuf,
    work: PathBuf,
    server: TestServer,
}

async fn setup(tweak: impl FnOnce(&mut server::Config)) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let mut config = test_config(&data);
    tweak(&mut config);
    let server = TestServer::start(config).await;
    Setup {
        _tmp: tmp,
        data,
        work,
        server,
    }
}

async fn connect(addr: impl ToString, nick: &str) -> Client {
    login(addr, nick).await.0
}

async fn upload(client: &Client, path: &Path, name: Option<&str>) -> TransferOutcome {
    let handle = within(
        "upload setup",
        client.upload(path, name.map(Into::into), false),
    )
    .await
    .unwrap_or_else(|e| panic!("upload of {} refused: {e}", path.display()));
    within_secs(60, "upload", handle.finished())
        .await
        .unwrap_or_else(|e| panic!("upload of {} failed: {e}", path.display()))
}

async fn download(client: &Client, name: &str, dest: &Path) -> TransferOutcome {
    let handle = within("download setup", client.download(name, dest))
        .await
        .unwrap_or_else(|e| panic!("download of {name} refused: {e}"));
    within_secs(60, "download", handle.finished())
        .await
        .unwrap_or_else(|e| panic!("download of {name} failed: {e}"))
}

/// Uploads files of the sizes through `addr`, downloads them again, and checks them.
async fn round_trip_sizes(addr: SocketAddr, work: &Path, sizes: &[usize]) -> Vec<TransferOutcome> {
    let up = connect(addr, "uploader").await;
    let down = connect(addr, "downloader").await;
    let mut outcomes = Vec::new();
    for (i, &size) in sizes.iter().enumerate() {
        let name = format!("file-{size}.bin");
        let (path, bytes) = write_file(work, &name, size, i as u64 + 1);
        let put = upload(&up, &path, None).await;
        assert_eq!(put.file.size, size as u64);
        assert_eq!(put.file.hash, blake3_hex(&bytes), "{name}: listed hash");
        let dest = work.join(format!("got-{name}"));
        let got = download(&down, &name, &dest).await;
        assert_eq!(got.path, dest);
        let back = std::fs::read(&dest).unwrap();
        assert!(back == bytes, "{name}: downloaded bytes differ");
        assert_eq!(got.file.hash, blake3_hex(&back), "{name}: hash");
        eprintln!(
            "{name}: put {} B on the wire ({:.1}% retx), got {} B ({:.1}% gap fills)",
            put.bytes_transferred,
            put.retransmitted_percent(),
            got.bytes_transferred,
            got.retransmitted_percent()
        );
        outcomes.push(put);
        outcomes.push(got);
    }
    let listed = up.files().await.unwrap();
    assert_eq!(listed.len(), sizes.len());
    let _ = up.quit().await;
    let _ = down.quit().await;
    outcomes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_then_get_is_byte_identical_for_every_size() {
    let s = setup(|_| {}).await;
    round_trip_sizes(s.server.addr, &s.work, &[0, 1, 1452, 5 * MIB, 64 * MIB]).await;
    s.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_then_get_through_a_lossy_relay() {
    let s = setup(|_| {}).await;
    let relay = start_relay(s.server.addr, "loss=5%,delay=20ms,reorder=2%,duplicate=1%").await;
    let outcomes = round_trip_sizes(relay.addr, &s.work, &[0, 1, 1452, 5 * MIB]).await;
    let report = relay.stop().await;
    eprintln!(
        "relay: up {} datagrams ({} lost), down {} ({} lost)",
        report.up.offered.packets,
        report.up.lost.packets,
        report.down.offered.packets,
        report.down.lost.packets
    );
    // The transfers really went through the impaired link, and recovered from its losses.
    assert!(report.up.offered.packets > 3000 && report.down.offered.packets > 3000);
    assert!(report.up.lost.packets > 0 && report.down.lost.packets > 0);
    let retransmitted: u64 = outcomes.iter().map(|o| o.bytes_retransmitted).sum();
    assert!(retransmitted > 0, "5% loss must cost some retransmissions");
    s.server.stop().await;
}

/// A `confab` command with a clean environment.
fn confab(server: impl ToString, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_confab"));
    cmd.env_remove("CONFAB_SERVER")
        .env_remove("CONFAB_NICK")
        .env("USER", "tester")
        .arg("--server")
        .arg(server.to_string())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

async fn run(mut cmd: Command) -> Output {
    within_secs(60, "confab to finish", cmd.output())
        .await
        .expect("run confab")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn outcome_json(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "confab failed: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out.stdout)))
}

/// Bytes a download's `.part.state` says are durably held (0 if there is none yet).
fn held_by_state(dest: &Path) -> u64 {
    let mut state = dest.as_os_str().to_owned();
    state.push(".part.state");
    let Ok(bytes) = std::fs::read(&state) else {
        return 0;
    };
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return 0;
    };
    json["have"]
        .as_array()
        .map(|ranges| {
            ranges
                .iter()
                .map(|r| r[1].as_u64().unwrap_or(0) - r[0].as_u64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

/// Size of the largest file under `dir` (the server's partial upload).
fn largest_file(dir: &Path) -> u64 {
    let mut largest = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                largest = largest.max(meta.len());
            }
        }
    }
    largest
}

/// Polls `progress` until it reaches `target`, or fails the test.
async fn wait_until(what: &str, target: u64, progress: impl Fn() -> u64) {
    within_secs(60, what, async {
        while progress() < target {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// A rate cap slow enough to kill a transfer half-way, fast enough to keep the test short.
const SLOW_LINK: &str = "rate=48mbit,delay=2ms";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_download_resumes_fetching_only_the_rest() {
    let s = setup(|_| {}).await;
    let size = 24 * MIB;
    let (path, bytes) = write_file(&s.work, "big.bin", size, 42);
    let up = connect(s.server.addr, "alice").await;
    upload(&up, &path, None).await;

    let relay = start_relay(s.server.addr, SLOW_LINK).await;
    let dest = s.work.join("copy.bin");
    let mut child = confab(
        relay.addr,
        &["get", "big.bin", "-o", dest.to_str().unwrap()],
    )
    .spawn()
    .unwrap();
    wait_until("half the download", size as u64 / 2, || {
        held_by_state(&dest)
    })
    .await;
    child.start_kill().unwrap();
    let status = within("the kill", child.wait()).await.unwrap();
    assert!(!status.success());
    let held = held_by_state(&dest);
    assert!(
        !dest.exists(),
        "an interrupted download must not be in place"
    );

    let out = run(confab(
        s.server.addr,
        &["--json", "get", "big.bin", "-o", dest.to_str().unwrap()],
    ))
    .await;
    let outcome = outcome_json(&out);
    let resumed = outcome["bytes_resumed"].as_u64().unwrap();
    let fetched = outcome["bytes_transferred"].as_u64().unwrap();
    eprintln!(
        "download resume: {size} B file, {held} B checkpointed at the kill, {resumed} B resumed, \
         {fetched} B fetched on the re-run"
    );
    assert!(resumed >= held, "resumed {resumed} < checkpointed {held}");
    assert!(
        fetched <= (size as u64 - resumed) + 256 * 1024,
        "fetched {fetched}"
    );
    assert!(std::fs::read(&dest).unwrap() == bytes);
    relay.stop().await;
    s.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_upload_resumes_sending_only_the_rest() {
    let s = setup(|_| {}).await;
    let size = 24 * MIB;
    let (path, bytes) = write_file(&s.work, "up.bin", size, 43);
    let relay = start_relay(s.server.addr, SLOW_LINK).await;
    let files_dir = s.data.join(server::FILES_DIR);
    let mut child = confab(
        relay.addr,
        &["--nick", "bob", "put", path.to_str().unwrap()],
    )
    .spawn()
    .unwrap();
    wait_until("half the upload", size as u64 / 2, || {
        largest_file(&files_dir)
    })
    .await;
    child.start_kill().unwrap();
    within("the kill", child.wait()).await.unwrap();

    let out = run(confab(
        s.server.addr,
        &["--json", "--nick", "bob", "put", path.to_str().unwrap()],
    ))
    .await;
    let outcome = outcome_json(&out);
    let resumed = outcome["bytes_resumed"].as_u64().unwrap();
    let sent = outcome["bytes_transferred"].as_u64().unwrap();
    eprintln!("upload resume: {size} B file, {resumed} B resumed, {sent} B sent on the re-run");
    assert!(resumed >= size as u64 / 4, "resumed only {resumed}");
    assert!(sent <= (size as u64 - resumed) + 256 * 1024, "sent {sent}");

    let reader = connect(s.server.addr, "carol").await;
    let dest = s.work.join("up-copy.bin");
    download(&reader, "up.bin", &dest).await;
    assert!(std::fs::read(&dest).unwrap() == bytes);
    relay.stop().await;
    s.server.stop().await;
}

/// Everything under `data` except the database and the bodies folder.
fn strays(data: &Path) -> Vec<String> {
    std::fs::read_dir(data)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with(server::DB_FILE) && n != server::FILES_DIR)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traversal_and_bad_names_are_refused() {
    let s = setup(|_| {}).await;
    let long = "n".repeat(300);
    let bad = ["../x", "/etc/passwd", "a/b", "con\0", long.as_str()];
    let (path, _) = write_file(&s.work, "ok.bin", 1000, 5);
    let hash = blake3_hex(&pattern(1000, 5));

    // The server refuses them from any client…
    let mut raw = Raw::login(s.server.addr, "mallory").await;
    for (i, name) in bad.iter().enumerate() {
        raw.send(&ClientMsg::Upload {
            req: Some(i as u64),
            name: (*name).into(),
            size: 1000,
            hash: hash.clone(),
            replace: false,
        })
        .await;
        match raw.recv().await {
            Some(ServerMsg::Error { code, .. }) => {
                assert_eq!(code, ErrorCode::InvalidFileName, "{name:?}")
            }
            other => panic!("upload as {name:?}: expected an error, got {other:?}"),
        }
        raw.send(&ClientMsg::Download {
            req: Some(100 + i as u64),
            name: (*name).into(),
        })
        .await;
        assert!(
            matches!(raw.recv().await, Some(ServerMsg::Error { .. })),
            "download of {name:?}"
        );
    }
    // …and our client refuses them before asking.
    let client = connect(s.server.addr, "alice").await;
    for name in bad {
        let err = client
            .upload(&path, Some(name.into()), false)
            .await
            .unwrap_err();
        assert!(
            matches!(err, ClientError::InvalidFileName { .. }),
            "{name:?}: {err}"
        );
        assert!(client.download(name, s.work.join("x")).await.is_err());
    }
    let out = run(confab(s.server.addr, &["get", "../x"])).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("path separator"),
        "{}",
        text(&out.stderr)
    );

    assert_eq!(strays(&s.data), Vec::<String>::new());
    assert!(!s.data.parent().unwrap().join("x").exists());
    assert!(client.files().await.unwrap().is_empty());
    s.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_over_limit_upload_is_refused_before_any_byte_moves() {
    let s = setup(|config| config.max_file_size = 4096).await;
    let (path, _) = write_file(&s.work, "big.bin", 5000, 9);
    let client = connect(s.server.addr, "alice").await;
    let err = client.upload(&path, None, false).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::FileTooLarge), "{err}");
    // No transfer was ever started: the client never even bound its UDP endpoint.
    assert_eq!(client.transfer_addr(), None);
    assert_eq!(largest_file(&s.data.join(server::FILES_DIR)), 0);

    let out = run(confab(
        s.server.addr,
        &["--nick", "bob", "put", path.to_str().unwrap()],
    ))
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("4096"), "{}", text(&out.stderr));
    s.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_downloads_and_an_upload_at_once_while_chat_flows() {
    let s = setup(|_| {}).await;
    let size = 16 * MIB;
    let (shared, shared_bytes) = write_file(&s.work, "shared.bin", size, 11);
    let (fresh, fresh_bytes) = write_file(&s.work, "fresh.bin", size, 12);
    let seeder = connect(s.server.addr, "seeder").await;
    upload(&seeder, &shared, None).await;

    let (talker, _, _) = login(s.server.addr, "talker").await;
    let (_listener, mut heard, _) = login(s.server.addr, "listener").await;
    let mut handles = Vec::new();
    let mut clients = Vec::new();
    for i in 0..4 {
        let client = connect(s.server.addr, &format!("reader{i}")).await;
        let dest = s.work.join(format!("shared-{i}.bin"));
        handles.push(client.download("shared.bin", &dest).await.unwrap());
        clients.push(client);
    }
    let writer = connect(s.server.addr, "writer").await;
    handles.push(writer.upload(&fresh, None, false).await.unwrap());

    // Mid-transfer, a chat message still arrives promptly.
    wait_until("bytes to flow", 1, || {
        handles[0].progress().borrow().bytes_done
    })
    .await;
    talker.say("still here?").await.unwrap();
    let msg = within_secs(5, "the chat message", async {
        loop {
            if let Some(Event::Message(msg)) = heard.recv().await {
                return msg;
            }
        }
    })
    .await;
    assert_eq!(msg.text, "still here?");
    let running = handles
        .iter()
        .filter(|h| !h.progress().borrow().finished)
        .count();
    eprintln!("chat delivered while {running} of 5 transfers were still running");

    for handle in handles {
        within_secs(120, "a transfer", handle.finished())
            .await
            .unwrap();
    }
    for i in 0..4 {
        let got = std::fs::read(s.work.join(format!("shared-{i}.bin"))).unwrap();
        assert!(got == shared_bytes, "download {i} differs");
    }
    let check = s.work.join("fresh-copy.bin");
    download(&seeder, "fresh.bin", &check).await;
    assert!(std::fs::read(&check).unwrap() == fresh_bytes);
    s.server.stop().await;
}

/// A datagram that looks like a live transfer's (right version, type and id, a packet number
/// ahead of the real ones so it is not merely dropped as a replay) but was sealed with some
/// other key.
fn forged(kind: u8, transfer: u64, pn: u32) -> Vec<u8> {
    let mut datagram = vec![1, kind];
    datagram.extend_from_slice(&transfer.to_be_bytes());
    datagram.extend_from_slice(&pn.to_be_bytes());
    datagram.extend_from_slice(&pattern(1200, u64::from(pn) + 99));
    datagram
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_datagrams_are_dropped_and_the_transfer_completes() {
    let s = setup(|_| {}).await;
    let size = 32 * MIB;
    let (path, bytes) = write_file(&s.work, "target.bin", size, 21);
    let client = connect(s.server.addr, "alice").await;
    upload(&client, &path, None).await;

    let dest = s.work.join("target-copy.bin");
    let handle = client.download("target.bin", &dest).await.unwrap();
    let id = handle.id().unwrap();
    let progress = handle.progress();
    let ours = SocketAddr::new(
        "127.0.0.1".parse().unwrap(),
        client.transfer_addr().unwrap().port(),
    );
    let attacker = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut pn = 0u32;
    let finished = handle.finished();
    tokio::pin!(finished);
    let outcome = within_secs(60, "the download under attack", async {
        loop {
            tokio::select! {
                outcome = &mut finished => return outcome,
                _ = tokio::time::sleep(Duration::from_millis(1)) => {
                    if progress.borrow().finished {
                        continue;
                    }
                    // Type 1 (data sender) to us, type 2 (data receiver) to the server.
                    pn += 1;
                    let ahead = (1 << 30) + pn;
                    let _ = attacker.send_to(&forged(1, id, ahead), ours).await;
                    let _ = attacker.send_to(&forged(2, id, ahead), s.server.addr).await;
                }
            }
        }
    })
    .await
    .expect("the download survives spoofing");
    eprintln!(
        "sent {pn} forged datagrams each way; the client dropped {} as unauthenticated",
        outcome.stats.dropped_auth
    );
    assert!(
        outcome.stats.dropped_auth > 0,
        "no forged datagram reached the receiver"
    );
    assert!(std::fs::read(&dest).unwrap() == bytes);
    s.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_files_get_put_exit_codes_and_summaries() {
    let s = setup(|_| {}).await;
    let addr = s.server.addr;
    let (path, bytes) = write_file(&s.work, "report.pdf", 3 * MIB, 31);

    let out = run(confab(
        addr,
        &["--nick", "alice", "put", path.to_str().unwrap()],
    ))
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = text(&out.stdout);
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(line.starts_with("put report.pdf: 3.0 MiB in "), "{line}");
    assert!(line.trim_end().ends_with("% retransmitted"), "{line}");

    let out = run(confab(
        addr,
        &["--nick", "alice", "put", path.to_str().unwrap()],
    ))
    .await;
    assert!(out.status.success());
    assert!(
        text(&out.stdout).contains("already on the server"),
        "{}",
        text(&out.stdout)
    );

    let out = run(confab(addr, &["files", "--json"])).await;
    assert!(out.status.success());
    let files: Vec<FileInfo> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].name, "report.pdf");
    assert_eq!(files[0].uploader, "alice");
    assert_eq!(files[0].hash, blake3_hex(&bytes));
    let out = run(confab(addr, &["files"])).await;
    let listing = text(&out.stdout);
    assert!(
        listing.starts_with("report.pdf  3.0 MiB  alice  "),
        "{listing}"
    );

    // Default destination ./NAME (in the command's working folder), then into a folder.
    let mut get = confab(addr, &["get", "report.pdf"]);
    get.current_dir(s.work.join("..")); // not the source folder
    let out = run(get).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("got report.pdf: 3.0 MiB in "));
    let default_dest = s.work.join("..").join("report.pdf");
    assert!(std::fs::read(&default_dest).unwrap() == bytes);
    let folder = s.work.join("downloads");
    std::fs::create_dir(&folder).unwrap();
    let out = run(confab(
        addr,
        &["get", "report.pdf", "-o", folder.to_str().unwrap()],
    ))
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(std::fs::read(folder.join("report.pdf")).unwrap() == bytes);

    // Failures: exit 1, one line on stderr, nothing on stdout.
    let out = run(confab(addr, &["get", "nope.pdf"])).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(
        text(&out.stderr).trim_end(),
        "confab: no file named 'nope.pdf' on the server — `confab files` lists them"
    );
    let (other, _) = write_file(&s.work, "other.pdf", 10, 32);
    let out = run(confab(
        addr,
        &[
            "--nick",
            "bob",
            "put",
            other.to_str().unwrap(),
            "--as",
            "report.pdf",
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("use --replace"),
        "{}",
        text(&out.stderr)
    );
    let out = run(confab(
        addr,
        &[
            "--nick",
            "bob",
            "put",
            other.to_str().unwrap(),
            "--as",
            "report.pdf",
            "--replace",
        ],
    ))
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(confab(addr, &["--nick", "bob", "put", "/no/such/file"])).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot read /no/such/file"));
    s.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_shares_and_fetches_in_the_background() {
    let s = setup(|_| {}).await;
    let (path, bytes) = write_file(&s.work, "notes.txt", 200_000, 41);
    let (_watcher, mut events, _) = login(s.server.addr, "watcher").await;

    let input = format!("/put {}\nhello while it goes\n", path.display());
    let out = run_chat(s.server.addr, &s.work, "alice", &input).await;
    let shown = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(shown.contains("* put notes.txt: 195.3 KiB in "), "{shown}");
    // (The uploader's own `file_added` may arrive after end of input ends the session, so the
    // "shared" line is checked on the watcher's stream instead.)
    match wait_for(&mut events, "file_added", |e| {
        matches!(e, Event::FileAdded(_))
    })
    .await
    {
        Event::FileAdded(file) => assert_eq!(
            (file.name.as_str(), file.uploader.as_str()),
            ("notes.txt", "alice")
        ),
        _ => unreachable!(),
    }

    let fetch_dir = s.work.join("fetch");
    std::fs::create_dir(&fetch_dir).unwrap();
    let out = run_chat(s.server.addr, &fetch_dir, "bob", "/files\n/get notes.txt\n").await;
    let shown = text(&out.stdout);
    assert!(shown.contains("notes.txt  195.3 KiB  alice"), "{shown}");
    assert!(shown.contains("* got notes.txt: 195.3 KiB in "), "{shown}");
    assert!(std::fs::read(fetch_dir.join("notes.txt")).unwrap() == bytes);
    s.server.stop().await;
}

/// Runs `confab chat` in `cwd` with `input` on stdin, then end of input.
async fn run_chat(addr: SocketAddr, cwd: &Path, nick: &str, input: &str) -> Output {
    let mut cmd = confab(addr, &["--nick", nick, "chat", "--history", "0"]);
    cmd.current_dir(cwd).stdin(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    within_secs(60, "confab chat", child.wait_with_output())
        .await
        .unwrap()
}

/// A server that lists hostile names and offers a download under one.
async fn hostile_server() -> (SocketAddr, JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(serve_hostile(Raw::from_stream(stream)));
        }
    });
    (addr, task)
}

async fn serve_hostile(mut raw: Raw) {
    let evil = |name: &str| FileInfo {
        name: name.into(),
        size: 5,
        hash: "ab".repeat(32),
        uploader: "mallory".into(),
        ts: 0,
    };
    while let Some(frame) = raw.recv_client().await {
        if let Some(reply) = raw.answer_login(&frame, "evil/1").await {
            raw.send_server(&reply).await;
            continue;
        }
        let reply = match frame {
            ClientMsg::Files { req } => ServerMsg::FileList {
                req,
                files: ["../evil", "/tmp/evil", "a/b", "ok.txt", "x\u{1b}[2J"]
                    .map(evil)
                    .into(),
                done: true,
            },
            ClientMsg::Download { req, .. } => ServerMsg::Transfer {
                req,
                transfer: 1,
                direction: proto::Direction::Download,
                key: "00".repeat(32),
                udp_port: Some(9),
                file: evil("../evil"),
            },
            ClientMsg::Quit {} => return,
            _ => continue,
        };
        raw.send_server(&reply).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_listing_never_writes_outside_the_folder() {
    let (addr, task) = hostile_server().await;
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("inbox");
    std::fs::create_dir(&folder).unwrap();

    let client = connect(addr, "alice").await;
    let names: Vec<String> = client
        .files()
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(names, ["ok.txt"]);
    // Asked for ok.txt, offered ../evil: refused.
    let err = client
        .download("ok.txt", folder.join("ok.txt"))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Protocol(_)), "{err}");

    let out = run(confab(addr, &["files", "--json"])).await;
    let files: Vec<FileInfo> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(files.len(), 1);
    let mut get = confab(addr, &["get", "ok.txt"]);
    get.current_dir(&folder);
    let out = run(get).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));

    let written: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(written, ["inbox"]);
    assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 0);
    assert!(!Path::new("/tmp/evil").exists());
    task.abort();
}
