//! File sharing from the command line: `confab files`, `confab get`, `confab put`, and the
//! pieces `confab chat` reuses for `/files`, `/get` and `/put` (listing, where a download
//! goes, the one-line summary).
//!
//! Like `who`, these log in as quiet sessions: unseen by others, and usable while the user's own
//! chat holds the nick. `put` records that nick as the uploader.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use client::{ClientError, Direction, FileInfo, TransferHandle, TransferOutcome};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::Global;
use crate::oneshot::quiet_login;
use crate::render::{clean, json_line, line};

/// `confab files`: one line per file (name, size, uploader, UTC time); `--json`: an array.
pub(crate) async fn files(global: &Global) -> Result<()> {
    let client = quiet_login(global).await?;
    let files = client.files().await;
    let _ = client.quit().await;
    let files = files?;
    if global.json {
        json_line(&files);
    } else {
        for row in table(&files) {
            line(&row);
        }
    }
    Ok(())
}

/// `confab get NAME [-o PATH]`: exits 0 only once the file is complete and verified at PATH.
pub(crate) async fn get(global: &Global, name: &str, output: Option<PathBuf>) -> Result<()> {
    let dest = download_path(name, output.as_deref())?;
    let client = quiet_login(global).await?;
    let result = async {
        let handle = client.download(name, &dest).await?;
        follow(handle).await
    }
    .await;
    let _ = client.quit().await;
    report(global, &result?, output.is_some());
    Ok(())
}

/// `confab put PATH [--as NAME] [--replace]`: exits 0 once the server has verified and listed
/// the file.
pub(crate) async fn put(
    global: &Global,
    path: &Path,
    as_name: Option<String>,
    replace: bool,
) -> Result<()> {
    let client = quiet_login(global).await?;
    let result = async {
        let handle = client.upload(path, as_name, replace).await?;
        follow(handle).await
    }
    .await;
    let _ = client.quit().await;
    report(global, &result?, false);
    Ok(())
}

/// Where `get NAME [-o PATH]` writes: PATH, or NAME inside PATH when it is a folder, or
/// `./NAME`. NAME is checked to be a bare file name before it becomes part of a path.
pub(crate) fn download_path(name: &str, output: Option<&Path>) -> Result<PathBuf, ClientError> {
    match output {
        Some(dir) if dir.is_dir() => client::save_path(dir, name),
        Some(path) => Ok(path.to_path_buf()),
        None => client::save_path(Path::new("."), name),
    }
}

/// Shows a progress bar while the transfer runs (on a terminal only) and returns its outcome.
async fn follow(handle: TransferHandle) -> Result<TransferOutcome, ClientError> {
    let bar = progress_bar(&handle);
    let outcome = handle.finished().await;
    if let Some((bar, task)) = bar {
        task.abort();
        bar.finish_and_clear();
    }
    outcome
}

fn progress_bar(handle: &TransferHandle) -> Option<(ProgressBar, tokio::task::JoinHandle<()>)> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let mut progress = handle.progress();
    let first = progress.borrow().clone();
    if first.finished {
        return None;
    }
    let verb = match handle.direction() {
        Direction::Download => "get",
        Direction::Upload => "put",
    };
    let style = ProgressStyle::with_template(
        "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}",
    )
    .ok()?
    .progress_chars("=> ");
    let bar = ProgressBar::with_draw_target(Some(first.size), ProgressDrawTarget::stderr())
        .with_position(first.bytes_done)
        .with_style(style)
        .with_message(format!("{verb} {}", clean(&handle.file().name)));
    let shown = bar.clone();
    let task = tokio::spawn(async move {
        while progress.changed().await.is_ok() {
            let now = progress.borrow_and_update().clone();
            shown.set_position(now.bytes_done);
            if now.finished {
                return;
            }
        }
    });
    Some((bar, task))
}

/// Prints the outcome: one summary line, or (`--json`) the outcome as one JSON object.
fn report(global: &Global, outcome: &TransferOutcome, show_path: bool) {
    if global.json {
        json_line(outcome);
    } else {
        line(&summary(outcome, show_path));
    }
}

/// `got report.pdf: 64.0 MiB in 1.9 s (33.7 MiB/s), 0.8% retransmitted`.
pub(crate) fn summary(outcome: &TransferOutcome, show_path: bool) -> String {
    let verb = match outcome.direction {
        Direction::Download => "got",
        Direction::Upload => "put",
    };
    let name = clean(&outcome.file.name);
    let size = human_bytes(outcome.file.size);
    if outcome.transfer.is_none() {
        return format!("{verb} {name}: {size}, already on the server — nothing to send");
    }
    let mut text = format!("{verb} {name}");
    if show_path {
        text.push_str(&format!(" → {}", outcome.path.display()));
    }
    text.push_str(&format!(": {size} in {}", seconds(outcome.elapsed)));
    if outcome.rate() > 0.0 {
        text.push_str(&format!(" ({}/s)", human_bytes(outcome.rate() as u64)));
    }
    text.push_str(&format!(
        ", {:.1}% retransmitted",
        outcome.retransmitted_percent()
    ));
    if outcome.bytes_resumed > 0 {
        text.push_str(&format!(", {} resumed", human_bytes(outcome.bytes_resumed)));
    }
    text
}

/// The file list as aligned rows: name, size, uploader, time (UTC).
pub(crate) fn table(files: &[FileInfo]) -> Vec<String> {
    let rows: Vec<[String; 4]> = files
        .iter()
        .map(|f| {
            [
                clean(&f.name),
                human_bytes(f.size),
                clean(&f.uploader),
                date_time(f.ts),
            ]
        })
        .collect();
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
    let (w0, w1, w2) = (width(0), width(1), width(2));
    rows.iter()
        .map(|[name, size, who, when]| {
            format!("{name:<w0$}  {size:>w1$}  {who:<w2$}  {when}")
                .trim_end()
                .to_owned()
        })
        .collect()
}

pub(crate) use client::human_bytes;

fn seconds(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 1.0 {
        format!("{secs:.2} s")
    } else {
        format!("{secs:.1} s")
    }
}

/// `YYYY-MM-DD HH:MM` (UTC) of a timestamp in milliseconds since the Unix epoch.
pub(crate) fn date_time(ts_ms: u64) -> String {
    let secs = ts_ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1452), "1.4 KiB");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(64 << 20), "64.0 MiB");
        assert_eq!(human_bytes(5 << 30), "5.0 GiB");
    }

    #[test]
    fn dates_are_utc() {
        assert_eq!(date_time(0), "1970-01-01 00:00");
        // 2024-02-29 13:45:10 UTC
        assert_eq!(date_time(1_709_214_310_000), "2024-02-29 13:45");
    }

    #[test]
    fn download_path_never_leaves_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            download_path("a.txt", Some(dir.path())).unwrap(),
            dir.path().join("a.txt")
        );
        assert_eq!(download_path("a.txt", None).unwrap(), Path::new("./a.txt"));
        for bad in ["../x", "/etc/passwd", "a/b", "con\0", ".."] {
            assert!(download_path(bad, None).is_err(), "{bad:?}");
            assert!(download_path(bad, Some(dir.path())).is_err(), "{bad:?}");
        }
        let file = dir.path().join("out.bin");
        assert_eq!(download_path("x", Some(&file)).unwrap(), file);
    }
}
