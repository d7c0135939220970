//! Rendering: draws the [`App`] state with egui and turns clicks and keys into calls on it.
//!
//! Nothing here talks to the network or keeps session state; the little it remembers
//! ([`UiState`]) is about the widgets themselves — where focus should go, when a notice
//! appeared.

mod chat;
mod files;
mod login;
mod look;
mod picker;

use std::collections::HashMap;
use std::time::Duration;

use eframe::egui::{self, Align2, Color32, RichText};

use crate::app::{App, Screen};

/// How long a notice stays up unless dismissed, in seconds.
const NOTICE_SECONDS: f64 = 8.0;

/// Widget-level state that is not part of the app's model.
#[derive(Debug)]
pub struct UiState {
    /// Put the keyboard focus into the message input on the next frame.
    focus_input: bool,
    /// Put the keyboard focus into the login form on the next frame.
    focus_login: bool,
    /// When each notice was first drawn (egui time, seconds).
    notice_shown_at: HashMap<u64, f64>,
    /// Whether the window had the keyboard focus last frame.
    window_focused: bool,
    /// Whether the chat screen was up last frame.
    in_chat: bool,
    /// Whether the login form was waiting for a connect last frame.
    login_was_connecting: bool,
}

impl Default for UiState {
    fn default() -> Self {
        UiState {
            focus_input: true,
            focus_login: true,
            notice_shown_at: HashMap::new(),
            window_focused: false,
            in_chat: false,
            login_was_connecting: false,
        }
    }
}

/// Draws one frame of the whole window.
pub fn show(ui: &mut egui::Ui, app: &mut App, state: &mut UiState) {
    // Coming back to the window puts the cursor where typing makes sense, unless a widget
    // already holds the focus (egui drops it while the window is in the background).
    let window_focused = ui.input(|i| i.focused);
    if window_focused && !state.window_focused && ui.memory(|m| m.focused().is_none()) {
        state.focus_input = true;
        state.focus_login = true;
    }
    state.window_focused = window_focused;
    // A new screen starts with the cursor in its first field.
    let in_chat = matches!(app.screen, Screen::Chat(_));
    if in_chat != state.in_chat {
        state.in_chat = in_chat;
        state.focus_input = in_chat;
        state.focus_login = !in_chat;
    }
    if in_chat {
        chat::show(ui, app, state);
    } else {
        login::show(ui, app, state);
    }
    notices(ui, app, state);
}

/// Notices float at the top right, newest at the bottom, each with a close button; they fade
/// out by themselves after [`NOTICE_SECONDS`].
fn notices(ui: &mut egui::Ui, app: &mut App, state: &mut UiState) {
    if app.notices.is_empty() {
        state.notice_shown_at.clear();
        return;
    }
    let now = ui.input(|i| i.time);
    let mut dismiss = Vec::new();
    egui::Area::new(egui::Id::unique("confab_notices"))
        .anchor(Align2::RIGHT_TOP, egui::vec2(-12.0, 44.0))
        .order(egui::Order::Foreground)
        .show(ui.ctx(), |ui| {
            ui.set_max_width(360.0);
            for notice in &app.notices {
                let shown = *state.notice_shown_at.entry(notice.id).or_insert(now);
                if now - shown > NOTICE_SECONDS {
                    dismiss.push(notice.id);
                    continue;
                }
                egui::Frame::popup(ui.style()).show(ui, |ui| {
                    ui.horizontal(|ui| {
                        ui.label(RichText::new("⚠").color(warn_color(ui)));
                        ui.label(&notice.text);
                        if ui.small_button("×").on_hover_text("Dismiss").clicked() {
                            dismiss.push(notice.id);
                        }
                    });
                });
            }
        });
    for id in dismiss {
        app.dismiss(id);
        state.notice_shown_at.remove(&id);
    }
    ui.ctx().request_repaint_after(Duration::from_millis(500));
}

fn error_color(ui: &egui::Ui) -> Color32 {
    ui.visuals().error_fg_color
}

fn warn_color(ui: &egui::Ui) -> Color32 {
    ui.visuals().warn_fg_color
}

fn ok_color(ui: &egui::Ui) -> Color32 {
    if ui.visuals().dark_mode {
        Color32::from_rgb(90, 200, 120)
    } else {
        Color32::from_rgb(30, 140, 60)
    }
}
