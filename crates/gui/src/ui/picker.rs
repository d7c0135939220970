//! The in-app dialogs of file sharing, pure egui: the "save as" dialog a Download opens, and
//! the file picker (a file to upload, or the folder to save in).
//!
//! ```text
//! ┌ Choose a file to upload ──────────────────────────┐   ┌ Save notes.txt (1.2 MiB) ─────────┐
//! │ [⌂] [⬆] [/home/alice/Documents        ] [Go] ☐ .* │   │ Folder [~/Downloads     ] [Browse…]│
//! │ 📁 ..                                             │   │ Name   [notes.txt               ] │
//! │ 📁 photos                                         │   │ ⚠ notes.txt already exists …      │
//! │ 📄 report.pdf                             1.2 MiB │   │               [Cancel] [Save]     │
//! │                             [Cancel] [Upload]     │   └───────────────────────────────────┘
//! └───────────────────────────────────────────────────┘
//! ```
//!
//! The models are `app::SaveDialog` and `picker::Picker`; this draws them, edits their fields
//! and navigates the picker in place, and turns Save, Replace and a choice into
//! [`FileAction`]s.

use eframe::egui::{self, Align, Key, Layout, Modifiers, RichText, ScrollArea, TextEdit};

use super::error_color;
use super::files::FileAction;
use crate::app::{Files, human_bytes};
use crate::picker::{EntryKind, PickMode, Picker};

/// Draws whichever dialogs are open (the picker above the save dialog).
pub(super) fn show(ui: &mut egui::Ui, files: &mut Files, actions: &mut Vec<FileAction>) {
    let opened = egui::Id::unique("save_dialog_opened");
    if files.save.is_some() {
        save_dialog(ui, files, actions, opened);
    } else {
        ui.data_mut(|d| d.remove::<bool>(opened));
    }
    if let Some(picker) = &mut files.picker {
        picker_window(ui, picker, actions);
    }
}

/// A modal hung from near the top of the window rather than centred: when a message appears
/// or a folder's listing is longer, the dialog grows downwards and its fields and buttons stay
/// under the pointer.
fn modal(id: &str) -> egui::Modal {
    let id = egui::Id::unique(id);
    egui::Modal::new(id)
        .area(egui::Modal::default_area(id).anchor(egui::Align2::CENTER_TOP, egui::vec2(0.0, 72.0)))
}

/// Escape closes the topmost dialog (clicks outside do not: nothing typed is lost by a stray
/// click).
fn escape(ctx: &egui::Context, top: bool) -> bool {
    top && ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Escape))
}

/// `opened` remembers (in egui's memory) that the dialog has been drawn, so the name field
/// takes the focus once, when it appears.
fn save_dialog(
    ui: &mut egui::Ui,
    files: &mut Files,
    actions: &mut Vec<FileAction>,
    opened: egui::Id,
) {
    let picker_open = files.picker.is_some();
    let first_frame = ui.data_mut(|d| !std::mem::replace(d.get_temp_mut_or(opened, false), true));
    let Some(dialog) = &mut files.save else {
        return;
    };
    let modal = modal("save_dialog").show(ui.ctx(), |ui| {
        ui.set_width(440.0);
        ui.heading(format!("Save {}", dialog.file));
        ui.label(
            RichText::new(format!("{} from the server", human_bytes(dialog.size)))
                .small()
                .weak(),
        );
        ui.add_space(6.0);
        let mut enter = false;
        egui::Grid::new("save_fields")
            .num_columns(2)
            .spacing([8.0, 6.0])
            .show(ui, |ui| {
                ui.label("Folder");
                ui.horizontal(|ui| {
                    ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                        if ui
                            .button("Browse…")
                            .on_hover_text("Choose the folder in the file picker")
                            .clicked()
                        {
                            actions.push(FileAction::BrowseSaveFolder);
                        }
                        let field = ui
                            .add(
                                TextEdit::singleline(&mut dialog.folder)
                                    .desired_width(f32::INFINITY),
                            )
                            .accessible_name("Save in folder");
                        if field.changed() {
                            dialog.edited();
                        }
                        enter |= field.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter));
                    });
                });
                ui.end_row();
                ui.label("Name");
                let field = ui
                    .add(TextEdit::singleline(&mut dialog.name).desired_width(f32::INFINITY))
                    .accessible_name("Save as");
                if first_frame {
                    field.request_focus();
                }
                if field.changed() {
                    dialog.edited();
                }
                enter |= field.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter));
                ui.end_row();
            });
        if let Some(problem) = &dialog.problem {
            ui.add_space(4.0);
            ui.label(RichText::new(problem).color(error_color(ui)));
        }
        if let Some(path) = &dialog.exists {
            ui.add_space(4.0);
            ui.label(
                RichText::new(format!(
                    "{} already exists. Replace it, or choose another name.",
                    path.display()
                ))
                .color(ui.visuals().warn_fg_color),
            );
        }
        ui.add_space(6.0);
        ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
            if dialog.exists.is_some() {
                if ui
                    .button("Replace")
                    .on_hover_text("Overwrite the existing file")
                    .clicked()
                {
                    actions.push(FileAction::Save { replace: true });
                }
            } else if ui.button("Save").clicked() || (enter && !picker_open) {
                actions.push(FileAction::Save { replace: false });
            }
            if ui.button("Cancel").clicked() {
                actions.push(FileAction::CancelSave);
            }
        });
    });
    if escape(ui.ctx(), modal.is_top_modal && !picker_open) {
        actions.push(FileAction::CancelSave);
    }
}

fn picker_window(ui: &mut egui::Ui, picker: &mut Picker, actions: &mut Vec<FileAction>) {
    let modal = modal("file_picker").show(ui.ctx(), |ui| {
        ui.set_width(560.0);
        ui.heading(match picker.mode {
            PickMode::File => "Choose a file to upload",
            PickMode::Folder => "Choose a folder to save in",
        });
        ui.add_space(4.0);
        let mut path_focused = false;
        ui.horizontal(|ui| {
            if ui
                .button("🏠")
                .on_hover_text("Home folder")
                .accessible_name("Home")
                .clicked()
            {
                picker.home();
            }
            if ui
                .add_enabled(picker.dir.parent().is_some(), egui::Button::new("⬆"))
                .on_hover_text("Up one folder")
                .accessible_name("Up")
                .clicked()
            {
                picker.up();
            }
            ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                let mut hidden = picker.show_hidden;
                if ui
                    .checkbox(&mut hidden, "Hidden")
                    .on_hover_text("Show files and folders whose name starts with a dot")
                    .changed()
                {
                    picker.set_show_hidden(hidden);
                }
                let go = ui.button("Go").clicked();
                let field = ui
                    .add(TextEdit::singleline(&mut picker.path_text).desired_width(f32::INFINITY))
                    .accessible_name("Folder path");
                path_focused = field.has_focus() || field.lost_focus();
                if go || (field.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter))) {
                    picker.go_typed();
                }
            });
        });
        if let Some(error) = &picker.error {
            ui.label(RichText::new(error).color(error_color(ui)));
        }
        ui.separator();

        // Keys move through the list unless the path field has them.
        let mut activate = None;
        let mut moved = false;
        if !path_focused {
            ui.input_mut(|i| {
                if i.consume_key(Modifiers::NONE, Key::ArrowDown) {
                    picker.move_selection(1);
                    moved = true;
                }
                if i.consume_key(Modifiers::NONE, Key::ArrowUp) {
                    picker.move_selection(-1);
                    moved = true;
                }
                if i.consume_key(Modifiers::NONE, Key::Enter) {
                    activate = picker.selected;
                }
            });
        }
        let row_width = ui.available_width();
        ScrollArea::vertical()
            .id_salt("picker_entries")
            .max_height(320.0)
            .auto_shrink([false, false])
            .show(ui, |ui| {
                if picker.entries.is_empty() && picker.error.is_none() {
                    ui.label(RichText::new("This folder is empty.").weak());
                }
                for (at, entry) in picker.entries.iter().enumerate() {
                    let selected = picker.selected == Some(at);
                    let (icon, size) = match entry.kind {
                        EntryKind::Parent | EntryKind::Dir => ("📁", String::new()),
                        EntryKind::File(bytes) => ("📄", human_bytes(bytes)),
                    };
                    let row = ui
                        .add(
                            egui::Button::selectable(selected, format!("{icon} {}", entry.name))
                                .right_text(size)
                                .min_size(egui::vec2(row_width, 0.0)),
                        )
                        .accessible_name(entry.name.clone());
                    if row.double_clicked() {
                        activate = Some(at);
                    } else if row.clicked() {
                        picker.selected = Some(at);
                    }
                    if selected && moved {
                        row.scroll_to_me(None);
                    }
                }
            });
        if let Some(at) = activate
            && let Some(path) = picker.activate(at)
        {
            actions.push(FileAction::Picked(path));
        }
        ui.separator();
        ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
            let choice = picker.choice();
            let confirm = match picker.mode {
                PickMode::File => "Upload",
                PickMode::Folder => "Choose folder",
            };
            let hover = match (&choice, picker.mode) {
                (Some(path), _) => path.display().to_string(),
                (None, PickMode::File) => "Select a file first".to_owned(),
                (None, PickMode::Folder) => "This folder cannot be used".to_owned(),
            };
            if ui
                .add_enabled(choice.is_some(), egui::Button::new(confirm))
                .on_hover_text(hover)
                .accessible_name(match picker.mode {
                    PickMode::File => "Upload the selected file",
                    PickMode::Folder => "Choose this folder",
                })
                .clicked()
                && let Some(path) = choice
            {
                actions.push(FileAction::Picked(path));
            }
            if ui
                .button("Cancel")
                .accessible_name("Close the picker")
                .clicked()
            {
                actions.push(FileAction::ClosePicker);
            }
            ui.with_layout(Layout::left_to_right(Align::Center), |ui| {
                if let Some(entry) = picker.selected_entry() {
                    ui.add(egui::Label::new(RichText::new(&entry.name).small().weak()).truncate());
                }
            });
        });
    });
    if escape(ui.ctx(), modal.is_top_modal) {
        actions.push(FileAction::ClosePicker);
    }
}
