//! File sharing as the user sees it: the server's files, and one row per transfer started in
//! this session (progress, then how it ended), plus a short history of each transfer's
//! figures for the inspector.
//!
//! The congestion window, losses and the RTT the congestion controller acts on belong to
//! whichever side sends: this client for an upload, the server for a download (the library
//! passes on what the server reports, see [`TransferProgress::sender`]). [`Transfer::sender`]
//! picks the right source, so the inspector never shows a receiver's meaningless window, nor
//! passes the receiver's own RTT estimate off as the one the transfer's window follows.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Duration;

use client::{Direction, FileInfo, TransferProgress};

use super::save::SaveDialog;
use crate::net::{Command, TransferEnd, TransferEvent};
use crate::picker::{PickMode, Picker, expand_tilde, home_dir};

/// Most samples a transfer's history keeps (about 30 s at the library's 50 ms).
pub const MAX_SAMPLES: usize = 600;

/// What the right-hand panel shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SideView {
    /// Who is online.
    #[default]
    People,
    /// The server's files and the upload box.
    Files,
}

/// Where a transfer stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferState {
    /// Asked for; the server has not set it up yet.
    Starting,
    /// Bytes are moving.
    Running,
    /// Done and verified. `path` is the local file.
    Completed {
        /// The downloaded (or uploaded) file.
        path: PathBuf,
        /// Bytes an earlier attempt had already moved.
        bytes_resumed: u64,
    },
    /// Stopped by the user.
    Cancelled,
    /// Failed; the library's explanation.
    Failed(String),
}

/// One point of a transfer's history, for the inspector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Since the transfer's bytes started to flow, seconds.
    pub t: f64,
    /// Throughput, bytes per second.
    pub rate: f64,
    /// The sender's smoothed round-trip time, milliseconds; `None` as for `cwnd`.
    pub rtt_ms: Option<f64>,
    /// The sender's congestion window, bytes; `None` for a download before the server's first
    /// report.
    pub cwnd: Option<u64>,
    /// Packets the sender declared lost so far; `None` as for `cwnd`.
    pub lost: Option<u64>,
}

/// The figures only a transfer's sending side has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderFigures {
    /// Congestion window, bytes.
    pub cwnd: u64,
    /// Sent, neither acknowledged nor lost, bytes.
    pub bytes_in_flight: u64,
    /// Pacing rate, bytes per second.
    pub pacing_rate: u64,
    /// Packets declared lost so far.
    pub packets_lost: u64,
    /// File bytes sent again after a loss, bytes.
    pub data_bytes_retransmitted: u64,
    /// Smoothed round-trip time: the one its congestion controller and loss timers act on.
    pub smoothed_rtt: Duration,
    /// Smallest round-trip time it has seen.
    pub min_rtt: Duration,
}

/// The sender's figures of a transfer going `direction` at `progress`: ours for an upload, the
/// server's latest report for a download (`None` until one arrived).
fn sender_figures(direction: Direction, progress: &TransferProgress) -> Option<SenderFigures> {
    match direction {
        Direction::Upload => {
            let s = &progress.stats;
            Some(SenderFigures {
                cwnd: s.cwnd,
                bytes_in_flight: s.bytes_in_flight,
                pacing_rate: s.pacing_rate,
                packets_lost: s.packets_lost,
                data_bytes_retransmitted: s.data_bytes_retransmitted,
                smoothed_rtt: s.smoothed_rtt,
                min_rtt: s.min_rtt,
            })
        }
        Direction::Download => progress.sender.as_ref().map(|s| SenderFigures {
            cwnd: s.cwnd,
            bytes_in_flight: s.bytes_in_flight,
            pacing_rate: s.pacing_rate,
            packets_lost: s.packets_lost,
            data_bytes_retransmitted: s.data_bytes_retransmitted,
            smoothed_rtt: Duration::from_micros(s.smoothed_rtt_us),
            min_rtt: Duration::from_micros(s.min_rtt_us),
        }),
    }
}

/// One transfer's row.
#[derive(Debug, Clone, PartialEq)]
pub struct Transfer {
    /// The app's number for it (also the network thread's).
    pub id: u64,
    /// Download or upload.
    pub direction: Direction,
    /// The file's name on the server.
    pub name: String,
    /// The local path: where a download goes, or what an upload reads.
    pub local: PathBuf,
    /// The latest progress snapshot.
    pub progress: TransferProgress,
    /// Where it stands.
    pub state: TransferState,
    /// Recent figures, oldest first (at most [`MAX_SAMPLES`]).
    pub samples: VecDeque<Sample>,
}

impl Transfer {
    /// The sending side's latest figures: ours for an upload, the server's for a download
    /// (`None` until its first report).
    pub fn sender(&self) -> Option<SenderFigures> {
        sender_figures(self.direction, &self.progress)
    }

    /// Whether it is over (completed, cancelled or failed).
    pub fn is_over(&self) -> bool {
        matches!(
            self.state,
            TransferState::Completed { .. } | TransferState::Cancelled | TransferState::Failed(_)
        )
    }

    /// Whether it can be started again: a download that was cancelled or failed (the library
    /// resumes from the `.part` file).
    pub fn can_resume(&self) -> bool {
        self.direction == Direction::Download
            && matches!(
                self.state,
                TransferState::Cancelled | TransferState::Failed(_)
            )
    }

    /// The row's status in plain words: `42% · 3.1 MiB/s · 12 s left`, `saved to …, verified`.
    pub fn status(&self) -> String {
        match &self.state {
            TransferState::Starting => "starting…".into(),
            TransferState::Running => {
                let p = &self.progress;
                let mut text = format!(
                    "{:.0}% · {} of {} · {}/s",
                    100.0 * p.fraction(),
                    human_bytes(p.bytes_done),
                    human_bytes(p.size),
                    human_bytes(p.rate as u64)
                );
                if let Some(eta) = p.eta() {
                    text.push_str(&format!(" · {} left", human_duration(eta)));
                }
                text
            }
            TransferState::Completed {
                path,
                bytes_resumed,
            } => {
                let resumed = if *bytes_resumed > 0 {
                    format!(" ({} resumed)", human_bytes(*bytes_resumed))
                } else {
                    String::new()
                };
                match self.direction {
                    Direction::Download => {
                        format!("saved to {}, verified{resumed}", path.display())
                    }
                    Direction::Upload => {
                        format!("uploaded, verified and listed by the server{resumed}")
                    }
                }
            }
            TransferState::Cancelled => match self.direction {
                Direction::Download => "cancelled — Resume picks up where it stopped".into(),
                Direction::Upload => "cancelled".into(),
            },
            TransferState::Failed(error) => format!("failed: {error}"),
        }
    }

    fn record(&mut self, progress: TransferProgress) {
        if !self.is_over() && !progress.finished {
            self.state = TransferState::Running;
        }
        let sender = sender_figures(self.direction, &progress);
        let sample = Sample {
            t: progress.elapsed.as_secs_f64(),
            rate: progress.rate,
            rtt_ms: sender.map(|s| s.smoothed_rtt.as_secs_f64() * 1000.0),
            cwnd: sender.map(|s| s.cwnd),
            lost: sender.map(|s| s.packets_lost),
        };
        if self.samples.back().is_none_or(|last| last.t < sample.t) {
            if self.samples.len() >= MAX_SAMPLES {
                self.samples.pop_front();
            }
            self.samples.push_back(sample);
        }
        self.progress = progress;
    }
}

/// The Files panel's state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Files {
    /// The server's files, sorted by name.
    pub list: Vec<FileInfo>,
    /// Transfers of this session, oldest first.
    pub transfers: Vec<Transfer>,
    /// The path typed into the upload box.
    pub upload_path: String,
    /// The transfer shown in the inspector.
    pub inspected: Option<u64>,
    /// Where downloads are saved unless the user picks another folder.
    pub download_dir: PathBuf,
    /// The "save as" dialog of a download being asked for.
    pub save: Option<SaveDialog>,
    /// The in-app file picker: a file to upload ([`PickMode::File`]) or the save dialog's
    /// folder ([`PickMode::Folder`]).
    pub picker: Option<Picker>,
    /// The folder the upload picker showed last (it opens there again).
    pub last_upload_dir: Option<PathBuf>,
    next_id: u64,
}

impl Files {
    /// No files yet; downloads go to `download_dir`.
    pub fn new(download_dir: PathBuf) -> Self {
        Files {
            download_dir,
            ..Files::default()
        }
    }

    /// Replaces the list (the server's answer to `files`).
    pub fn set_list(&mut self, mut list: Vec<FileInfo>) {
        list.sort_by(|a, b| a.name.cmp(&b.name));
        self.list = list;
    }

    /// Adds a file, or replaces the entry with its name.
    pub fn added(&mut self, file: FileInfo) {
        match self
            .list
            .binary_search_by(|f| f.name.as_str().cmp(&file.name))
        {
            Ok(at) => self.list[at] = file,
            Err(at) => self.list.insert(at, file),
        }
    }

    /// The transfer `id`.
    pub fn transfer(&self, id: u64) -> Option<&Transfer> {
        self.transfers.iter().find(|t| t.id == id)
    }

    fn transfer_mut(&mut self, id: u64) -> Option<&mut Transfer> {
        self.transfers.iter_mut().find(|t| t.id == id)
    }

    /// Starts downloading `name` into the download folder; returns the command to run it, or
    /// the reason it cannot (a name that is not a safe file name).
    pub fn download(&mut self, name: &str) -> Result<Command, String> {
        let dest = client::save_path(&self.download_dir, name).map_err(|err| err.to_string())?;
        Ok(self.download_to(name, dest))
    }

    /// Starts downloading `name` to the file `dest` (already checked); returns the command.
    pub fn download_to(&mut self, name: &str, dest: PathBuf) -> Command {
        let size = self
            .list
            .iter()
            .find(|f| f.name == name)
            .map_or(0, |f| f.size);
        let id = self.push(Direction::Download, name.to_owned(), dest.clone(), size);
        Command::Download {
            id,
            name: name.to_owned(),
            dest,
        }
    }

    /// Opens the "save as" dialog for the shared file `name`, prefilled with the download
    /// folder and the file's name.
    pub fn ask_download(&mut self, name: &str) {
        let size = self
            .list
            .iter()
            .find(|f| f.name == name)
            .map_or(0, |f| f.size);
        self.picker = None;
        self.save = Some(SaveDialog::new(name, size, self.download_dir.clone()));
    }

    /// Save (or, with `replace`, Replace) pressed in the dialog: the download's command if the
    /// target is fine (the dialog closes), else `None` and the dialog says why.
    pub fn confirm_save(&mut self, replace: bool) -> Option<Command> {
        let dialog = self.save.as_mut()?;
        let dest = if replace {
            dialog.replace()
        } else {
            dialog.save()
        }?;
        let name = dialog.file.clone();
        self.save = None;
        self.picker = None;
        Some(self.download_to(&name, dest))
    }

    /// Closes the save dialog (and its folder picker) without downloading.
    pub fn cancel_save(&mut self) {
        self.save = None;
        self.picker = None;
    }

    /// Opens the picker to choose a file to upload, where it was last (else the home folder).
    pub fn open_upload_picker(&mut self) {
        let start = self
            .last_upload_dir
            .clone()
            .filter(|dir| dir.is_dir())
            .unwrap_or_else(home_dir);
        self.picker = Some(Picker::new(PickMode::File, start));
    }

    /// Opens the picker to choose the save dialog's folder: the folder typed there if it
    /// exists, else its nearest existing ancestor, else the home folder.
    pub fn browse_save_folder(&mut self) {
        let Some(dialog) = &self.save else {
            return;
        };
        let typed = expand_tilde(&dialog.folder);
        let start = typed
            .ancestors()
            .find(|dir| !dir.as_os_str().is_empty() && dir.is_dir())
            .map(Path::to_owned)
            .unwrap_or_else(home_dir);
        self.picker = Some(Picker::new(PickMode::Folder, start));
    }

    /// The picker's choice: a file to upload (returned as the upload's command), or the save
    /// dialog's folder. The picker closes.
    pub fn picked(&mut self, path: PathBuf) -> Option<Result<Command, String>> {
        let picker = self.picker.take()?;
        match picker.mode {
            PickMode::File => {
                self.last_upload_dir = Some(picker.dir);
                Some(self.upload(&path))
            }
            PickMode::Folder => {
                if let Some(dialog) = &mut self.save {
                    dialog.set_folder(path);
                }
                None
            }
        }
    }

    /// Starts uploading the file at `path` under its file name; returns the command to run it,
    /// or the reason it cannot.
    pub fn upload(&mut self, path: &Path) -> Result<Command, String> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| format!("{} has no usable file name", path.display()))?
            .to_owned();
        let id = self.push(Direction::Upload, name, path.to_owned(), 0);
        Ok(Command::Upload {
            id,
            path: path.to_owned(),
        })
    }

    /// Takes the typed upload path (`~/` expanded); `None` if it is blank.
    pub fn take_upload_path(&mut self) -> Option<PathBuf> {
        let typed = self.upload_path.trim();
        if typed.is_empty() {
            return None;
        }
        let path = match (typed.strip_prefix("~/"), std::env::var_os("HOME")) {
            (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
            _ => PathBuf::from(typed),
        };
        self.upload_path.clear();
        Some(path)
    }

    /// Starts a cancelled or failed download again; returns the command, if it can resume.
    pub fn resume(&mut self, id: u64) -> Option<Command> {
        let transfer = self.transfer_mut(id).filter(|t| t.can_resume())?;
        transfer.state = TransferState::Starting;
        transfer.samples.clear();
        Some(Command::Download {
            id,
            name: transfer.name.clone(),
            dest: transfer.local.clone(),
        })
    }

    /// The command cancelling `id`, if it is still under way.
    pub fn cancel(&self, id: u64) -> Option<Command> {
        self.transfer(id)
            .filter(|t| !t.is_over())
            .map(|_| Command::Cancel { id })
    }

    /// Removes finished rows.
    pub fn clear_finished(&mut self) {
        self.transfers.retain(|t| !t.is_over());
        if self.inspected.is_some_and(|id| self.transfer(id).is_none()) {
            self.inspected = None;
        }
    }

    /// Applies news of a transfer.
    pub fn apply(&mut self, id: u64, event: TransferEvent) {
        let Some(transfer) = self.transfer_mut(id) else {
            return;
        };
        match event {
            TransferEvent::Progress(progress) => transfer.record(*progress),
            TransferEvent::Ended(end) => {
                transfer.state = match end {
                    TransferEnd::Completed {
                        path,
                        file,
                        bytes_resumed,
                    } => {
                        transfer.progress.bytes_done = file.size;
                        transfer.progress.size = file.size;
                        transfer.local = path.clone();
                        TransferState::Completed {
                            path,
                            bytes_resumed,
                        }
                    }
                    TransferEnd::Cancelled => TransferState::Cancelled,
                    TransferEnd::Failed(error) => TransferState::Failed(error),
                };
                transfer.progress.finished = true;
            }
        }
    }

    fn push(&mut self, direction: Direction, name: String, local: PathBuf, size: u64) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.transfers.push(Transfer {
            id,
            direction,
            name,
            local,
            progress: TransferProgress {
                size,
                ..TransferProgress::default()
            },
            state: TransferState::Starting,
            samples: VecDeque::new(),
        });
        id
    }
}

pub use client::human_bytes;

/// A duration for people: `12 s`, `3 min 05 s`, `1 h 02 min`.
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 60 {
        format!("{secs} s")
    } else if secs < 3600 {
        format!("{} min {:02} s", secs / 60, secs % 60)
    } else {
        format!("{} h {:02} min", secs / 3600, secs % 3600 / 60)
    }
}
