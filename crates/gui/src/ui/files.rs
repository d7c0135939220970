//! File sharing on screen: the Files panel (the server's files, Download buttons, the upload
//! box), dropping files onto the window, the transfer rows and the inspector.
//!
//! ```text
//! ┌ People (3) │ Files (2) ┐      ⬇ notes.txt  [█████████░░░] 71% · 3.1 MiB/s · 2 s left [Cancel] [Details]
//! │ [path] [Browse…] [Upload]│    ⬆ song.ogg   [████████████] uploaded, verified and listed
//! │ notes.txt    [Download] │     ── inspector (Details): RTT, window, rates, losses ──
//! │ 1.2 MiB · bob · 14:02   │        (a download's window, losses, RTT: the server's sender)
//! ```
//!
//! Download opens the "save as" dialog and Browse… the file picker (`picker.rs`).
//!
//! Like the rest of `ui`, this only draws the state and turns clicks into [`FileAction`]s that
//! `chat::show` applies to the [`App`] once the frame's panels are drawn.

use std::path::PathBuf;

use chrono::Local;
use eframe::egui::{self, Align, Align2, Color32, Key, Layout, RichText, ScrollArea, TextEdit};

use super::look::{full_time, short_time};
use super::{error_color, ok_color, warn_color};
use crate::app::{App, Sample, Session, Transfer, TransferState, human_bytes, human_duration};
use client::Direction;
use egui_plot::{Line, Plot, PlotPoints};

/// What the user asked for in the Files panel or a transfer row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum FileAction {
    /// Download pressed: ask where to save.
    Download(String),
    /// Save or Replace in the save dialog.
    Save {
        replace: bool,
    },
    CancelSave,
    BrowseSaveFolder,
    BrowseUpload,
    /// The picker's choice (a file to upload or the folder to save in).
    Picked(PathBuf),
    ClosePicker,
    Upload(PathBuf),
    UploadTyped,
    Cancel(u64),
    Resume(u64),
    Inspect(Option<u64>),
    ClearFinished,
}

/// Applies an action to the app.
pub(super) fn apply(app: &mut App, action: FileAction) {
    match action {
        FileAction::Download(name) => app.ask_download(&name),
        FileAction::Save { replace } => app.confirm_save(replace),
        FileAction::Picked(path) => app.picked(path),
        FileAction::CancelSave => {
            if let Some(session) = app.session_mut() {
                session.files.cancel_save();
            }
        }
        FileAction::BrowseSaveFolder => {
            if let Some(session) = app.session_mut() {
                session.files.browse_save_folder();
            }
        }
        FileAction::BrowseUpload => {
            if let Some(session) = app.session_mut() {
                session.files.open_upload_picker();
            }
        }
        FileAction::ClosePicker => {
            if let Some(session) = app.session_mut() {
                session.files.picker = None;
            }
        }
        FileAction::Upload(path) => app.upload(&path),
        FileAction::UploadTyped => app.upload_typed(),
        FileAction::Cancel(id) => app.cancel_transfer(id),
        FileAction::Resume(id) => app.resume_transfer(id),
        FileAction::Inspect(id) => {
            if let Some(session) = app.session_mut() {
                session.files.inspected = id;
            }
        }
        FileAction::ClearFinished => {
            if let Some(session) = app.session_mut() {
                session.files.clear_finished();
            }
        }
    }
}

/// Files dropped onto the window this frame, as uploads.
pub(super) fn dropped(ui: &egui::Ui) -> Vec<FileAction> {
    ui.input(|i| {
        i.raw
            .dropped_files
            .iter()
            .map(|file| FileAction::Upload(file.path().to_owned()))
            .collect()
    })
}

/// While files are dragged over the window: a veil saying what dropping does.
pub(super) fn drop_hint(ui: &egui::Ui) {
    let count = ui.input(|i| i.raw.hovered_files.len());
    if count == 0 {
        return;
    }
    let screen = ui.ctx().content_rect();
    let painter = ui.ctx().layer_painter(egui::LayerId::new(
        egui::Order::Foreground,
        egui::Id::unique("drop_hint"),
    ));
    painter.rect_filled(screen, 0.0, Color32::from_black_alpha(160));
    let text = if count == 1 {
        "Drop to upload the file".to_owned()
    } else {
        format!("Drop to upload {count} files")
    };
    painter.text(
        screen.center(),
        Align2::CENTER_CENTER,
        text,
        egui::FontId::proportional(24.0),
        Color32::WHITE,
    );
}

/// The Files panel: the upload box, then the server's files with a Download button each.
pub(super) fn panel(ui: &mut egui::Ui, session: &mut Session, actions: &mut Vec<FileAction>) {
    let files = &mut session.files;
    ui.label(RichText::new("Upload a file").strong());
    ui.horizontal(|ui| {
        let button = ui
            .with_layout(Layout::right_to_left(Align::Center), |ui| {
                let button = ui
                    .button("Upload")
                    .on_hover_text("Share this file on the server");
                if ui
                    .button("Browse…")
                    .on_hover_text("Choose a file to upload in the file picker")
                    .accessible_name("Browse for a file to upload")
                    .clicked()
                {
                    actions.push(FileAction::BrowseUpload);
                }
                let field = ui
                    .add(
                        TextEdit::singleline(&mut files.upload_path)
                            .hint_text("/path/to/file")
                            .desired_width(f32::INFINITY),
                    )
                    .accessible_name("File to upload");
                button.clicked() || (field.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter)))
            })
            .inner;
        if button {
            actions.push(FileAction::UploadTyped);
        }
    });
    ui.label(
        RichText::new(format!(
            "…or drop files onto the window. Downloads are offered to {}.",
            files.download_dir.display()
        ))
        .small()
        .weak(),
    );
    ui.separator();
    ui.label(RichText::new(format!("Shared files — {}", files.list.len())).strong());
    if files.list.is_empty() {
        ui.label(RichText::new("No files shared yet.").weak());
    }
    let now = Local::now();
    ScrollArea::vertical()
        .id_salt("files")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            for file in &files.list {
                ui.horizontal(|ui| {
                    ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                        if ui
                            .small_button("Download")
                            .on_hover_text(format!(
                                "Save it (in {} unless you choose another folder)",
                                files.download_dir.display()
                            ))
                            .accessible_name(format!("Download {}", file.name))
                            .clicked()
                        {
                            actions.push(FileAction::Download(file.name.clone()));
                        }
                        ui.with_layout(Layout::top_down(Align::Min), |ui| {
                            ui.add(egui::Label::new(RichText::new(&file.name).strong()).truncate())
                                .on_hover_text(format!("{}\nBLAKE3 {}", file.name, file.hash));
                            ui.label(
                                RichText::new(format!(
                                    "{} · {} · {}",
                                    human_bytes(file.size),
                                    file.uploader,
                                    short_time(file.ts, now)
                                ))
                                .small()
                                .weak(),
                            )
                            .on_hover_text(format!("shared {}", full_time(file.ts)));
                        });
                    });
                });
                ui.add_space(2.0);
            }
        });
}

/// The transfer rows, newest last, and the inspector of the selected one.
pub(super) fn transfers(ui: &mut egui::Ui, session: &Session, actions: &mut Vec<FileAction>) {
    let files = &session.files;
    ui.add_space(4.0);
    ui.horizontal(|ui| {
        ui.label(RichText::new("Transfers").strong());
        if files.transfers.iter().any(Transfer::is_over)
            && ui
                .small_button("Clear finished")
                .on_hover_text("Remove the rows of transfers that are over")
                .clicked()
        {
            actions.push(FileAction::ClearFinished);
        }
    });
    ScrollArea::vertical()
        .id_salt("transfers")
        .max_height(120.0)
        .stick_to_bottom(true)
        .show(ui, |ui| {
            for transfer in &files.transfers {
                row(ui, transfer, files.inspected == Some(transfer.id), actions);
            }
        });
    if let Some(transfer) = files.inspected.and_then(|id| files.transfer(id)) {
        ui.separator();
        inspector(ui, transfer);
    }
    ui.add_space(2.0);
}

fn row(ui: &mut egui::Ui, t: &Transfer, inspected: bool, actions: &mut Vec<FileAction>) {
    ui.horizontal(|ui| {
        let (arrow, hover) = match t.direction {
            Direction::Download => ("⬇", "Download"),
            Direction::Upload => ("⬆", "Upload"),
        };
        ui.label(RichText::new(arrow).strong().size(16.0))
            .on_hover_text(hover);
        let name_size = egui::vec2(140.0, ui.spacing().interact_size.y);
        ui.allocate_ui_with_layout(name_size, Layout::left_to_right(Align::Center), |ui| {
            ui.set_min_size(name_size);
            ui.add(egui::Label::new(RichText::new(&t.name).strong()).truncate())
                .on_hover_text(t.local.display().to_string());
        });
        let fraction = match t.state {
            TransferState::Completed { .. } => 1.0,
            _ if t.progress.size == 0 => 0.0,
            _ => t.progress.fraction() as f32,
        };
        ui.add(egui::ProgressBar::new(fraction).desired_width(160.0));
        let color = match &t.state {
            TransferState::Completed { .. } => ok_color(ui),
            TransferState::Failed(_) => error_color(ui),
            TransferState::Cancelled => warn_color(ui),
            TransferState::Starting | TransferState::Running => ui.visuals().text_color(),
        };
        ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
            if ui
                .add(egui::Button::selectable(inspected, "Details"))
                .on_hover_text("Show the transfer's network figures")
                .clicked()
            {
                actions.push(FileAction::Inspect((!inspected).then_some(t.id)));
            }
            if !t.is_over()
                && ui
                    .button("Cancel")
                    .accessible_name(format!("Cancel {}", t.name))
                    .clicked()
            {
                actions.push(FileAction::Cancel(t.id));
            }
            if t.can_resume()
                && ui
                    .button("Resume")
                    .on_hover_text("Start again; what already arrived is kept")
                    .accessible_name(format!("Resume {}", t.name))
                    .clicked()
            {
                actions.push(FileAction::Resume(t.id));
            }
            ui.with_layout(Layout::left_to_right(Align::Center), |ui| {
                ui.add(
                    egui::Label::new(RichText::new(t.status()).color(color))
                        .truncate()
                        .selectable(true),
                );
            });
        });
    });
}

/// The selected transfer's network figures: the latest as text, the history as plots.
///
/// The congestion controller runs on the sending side. For an upload that is us; for a
/// download it is the server, which reports its figures about every 250 ms — they are labelled
/// as the server's, and until the first report arrives the inspector says it is waiting.
///
/// That goes for the RTT too: a download's RTT figure and plot are the server's smoothed RTT,
/// the one its congestion controller and loss detection act on. The receiver keeps an estimate
/// of its own, from the few packets it sends that ask for an acknowledgement; it is shown once,
/// on its own line, labelled as this side's, since nothing about the download's pace follows
/// from it.
fn inspector(ui: &mut egui::Ui, t: &Transfer) {
    let p = &t.progress;
    let s = &p.stats;
    let download = t.direction == Direction::Download;
    let sender = t.sender();
    let ms = |d: std::time::Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    let from = if download { " (server's sender)" } else { "" };
    let missing = || RichText::new(no_sender_figures(t)).weak();
    ui.horizontal(|ui| {
        ui.label(RichText::new(format!("{} — network figures", t.name)).strong());
        if download {
            ui.label(
                RichText::new(
                    "(the server sends: window, in flight, losses, retransmissions and RTT are \
                     from the server's sender)",
                )
                .small()
                .weak(),
            );
        }
    });
    egui::Grid::new(("inspector", t.id))
        .num_columns(4)
        .spacing([16.0, 2.0])
        .show(ui, |ui| {
            ui.label("Rate");
            ui.label(format!("{}/s", human_bytes(p.rate as u64)));
            ui.label("Elapsed");
            ui.label(human_duration(p.elapsed));
            ui.end_row();
            if download {
                ui.label(format!("RTT (smoothed / min){from}"));
                match sender {
                    Some(f) => ui.label(format!("{} / {}", ms(f.smoothed_rtt), ms(f.min_rtt))),
                    None => ui.label(missing()),
                };
            } else {
                ui.label("RTT (smoothed / min / latest)");
                ui.label(format!(
                    "{} / {} / {}",
                    ms(s.smoothed_rtt),
                    ms(s.min_rtt),
                    ms(s.latest_rtt)
                ));
            }
            ui.label("Resumed");
            ui.label(human_bytes(p.bytes_resumed));
            ui.end_row();
            ui.label(format!("Congestion window / in flight{from}"));
            match sender {
                Some(f) => ui.label(format!(
                    "{} / {}",
                    human_bytes(f.cwnd),
                    human_bytes(f.bytes_in_flight)
                )),
                None => ui.label(missing()),
            };
            ui.label("Pacing rate");
            match sender {
                Some(f) => ui.label(format!("{}/s", human_bytes(f.pacing_rate))),
                None => ui.label(missing()),
            };
            ui.end_row();
            ui.label(format!("Packets lost{from}"));
            match sender {
                Some(f) => ui.label(f.packets_lost.to_string()),
                None => ui.label(missing()),
            };
            ui.label("Retransmitted");
            match sender {
                Some(f) => ui.label(human_bytes(f.data_bytes_retransmitted)),
                None => ui.label(missing()),
            };
            ui.end_row();
            if download {
                ui.label("Duplicates received");
                ui.label(human_bytes(s.data_bytes_duplicate));
                ui.label("Packets received");
                ui.label(s.packets_received.to_string());
                ui.end_row();
                ui.label("RTT estimated here (smoothed)").on_hover_text(
                    "This side's own estimate, from the few packets it sends that ask for an \
                     acknowledgement. The download's window and loss timers run on the \
                     server, by the server's RTT above.",
                );
                ui.label(ms(s.smoothed_rtt));
                ui.end_row();
            }
        });
    plots(ui, t);
}

/// What stands in for the sender's figures of a download the server has not reported on.
fn no_sender_figures(t: &Transfer) -> &'static str {
    if t.is_over() {
        "none: the download ended before the server's first report"
    } else {
        "waiting for the server's figures"
    }
}

/// The transfer's history as small live plots side by side against seconds since its bytes
/// started to flow: rate, and the sender's RTT, window and losses (the server's, for a
/// download).
fn plots(ui: &mut egui::Ui, t: &Transfer) {
    let samples = &t.samples;
    if samples.len() < 2 {
        ui.label(RichText::new("The plots start once bytes flow.").weak());
        return;
    }
    type Series = (&'static str, fn(&Sample) -> Option<f64>);
    const RATE: Series = ("rate, MiB/s", |s| Some(s.rate / (1024.0 * 1024.0)));
    const UPLOAD: [Series; 4] = [
        RATE,
        ("RTT, ms", |s| s.rtt_ms),
        ("congestion window, KiB", |s| {
            s.cwnd.map(|c| c as f64 / 1024.0)
        }),
        ("packets lost", |s| s.lost.map(|l| l as f64)),
    ];
    const DOWNLOAD: [Series; 4] = [
        RATE,
        ("server's smoothed RTT, ms", |s| s.rtt_ms),
        ("server's congestion window, KiB", |s| {
            s.cwnd.map(|c| c as f64 / 1024.0)
        }),
        ("packets the server lost", |s| s.lost.map(|l| l as f64)),
    ];
    let series: &[Series] = match t.direction {
        Direction::Upload => &UPLOAD,
        Direction::Download => &DOWNLOAD,
    };
    let n = series.len() as f32;
    let gap = ui.spacing().item_spacing.x;
    let width = ((ui.available_width() - (n - 1.0) * gap) / n).max(80.0);
    let height = 80.0;
    let id = t.id;
    ui.horizontal(|ui| {
        for &(name, value) in series {
            ui.vertical(|ui| {
                ui.label(RichText::new(name).small());
                let points: Vec<[f64; 2]> = samples
                    .iter()
                    .filter_map(|s| value(s).map(|v| [s.t, v]))
                    .collect();
                if points.is_empty() {
                    // Only a download's sender figures can be missing: say so, not an empty plot.
                    ui.allocate_ui(egui::vec2(width, height), |ui| {
                        ui.set_min_size(egui::vec2(width, height));
                        ui.label(RichText::new(no_sender_figures(t)).weak());
                    });
                    return;
                }
                Plot::new(("transfer_plot", id, name))
                    .width(width)
                    .height(height)
                    .include_y(0.0)
                    .allow_drag(false)
                    .allow_zoom(false)
                    .allow_scroll(false)
                    .allow_boxed_zoom(false)
                    .show_x(false)
                    .show(ui, |plot| {
                        plot.line(Line::new(name, PlotPoints::from(points)));
                    });
            });
        }
    });
}
