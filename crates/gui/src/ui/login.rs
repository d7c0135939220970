//! The login screen: server address, nickname, Connect; a spinner while connecting and a plain
//! explanation when it fails.

use eframe::egui::{self, Align, Key, Layout, RichText, TextEdit};

use super::{UiState, error_color};
use crate::app::{App, NICK_RULE, Screen};

pub(super) fn show(ui: &mut egui::Ui, app: &mut App, state: &mut UiState) {
    let Screen::Login(form) = &mut app.screen else {
        return;
    };
    // A failed attempt hands the keyboard back to the form (it was disabled while connecting).
    if state.login_was_connecting && !form.connecting {
        state.focus_login = true;
    }
    state.login_was_connecting = form.connecting;
    let mut connect = false;
    egui::CentralPanel::default().show(ui, |ui| {
        ui.vertical_centered(|ui| {
            let top_space = (ui.available_height() * 0.18).clamp(8.0, 120.0);
            ui.add_space(top_space);
            ui.heading(RichText::new("confab").size(32.0).strong());
            ui.label("Chat with everyone on your confab server.");
            ui.add_space(24.0);
        });
        let width = 420.0_f32.min(ui.available_width());
        let margin = ((ui.available_width() - width) / 2.0).max(0.0);
        ui.horizontal(|ui| {
            ui.add_space(margin);
            ui.vertical(|ui| {
                ui.set_width(width);
                ui.add_enabled_ui(!form.connecting, |ui| {
                    egui::Grid::new("login_fields")
                        .num_columns(2)
                        .spacing([12.0, 10.0])
                        .show(ui, |ui| {
                            let label = ui.label("Server");
                            let server = ui
                                .add(
                                    TextEdit::singleline(&mut form.server)
                                        .hint_text("host:port, e.g. 127.0.0.1:50000")
                                        .desired_width(f32::INFINITY),
                                )
                                .labelled_by(label.id);
                            ui.end_row();
                            let label = ui.label("Nickname");
                            let nick = ui
                                .add(
                                    TextEdit::singleline(&mut form.nick)
                                        .hint_text("letters, digits, _ and -")
                                        .char_limit(64)
                                        .desired_width(f32::INFINITY),
                                )
                                .labelled_by(label.id)
                                .on_hover_text(NICK_RULE);
                            ui.end_row();
                            if state.focus_login {
                                state.focus_login = false;
                                if form.server.trim().is_empty() {
                                    server.request_focus();
                                } else {
                                    nick.request_focus();
                                }
                            }
                            let entered = ui.input(|i| i.key_pressed(Key::Enter));
                            if entered && (server.lost_focus() || nick.lost_focus()) {
                                connect = true;
                            }
                        });
                });
                ui.add_space(12.0);
                ui.with_layout(Layout::left_to_right(Align::Center), |ui| {
                    let button = egui::Button::new(RichText::new("Connect").strong())
                        .min_size(egui::vec2(96.0, 28.0));
                    if ui.add_enabled(!form.connecting, button).clicked() {
                        connect = true;
                    }
                    if form.connecting {
                        ui.spinner();
                        ui.label(format!("Connecting to {}…", form.server.trim()));
                    }
                });
                if let Some(problem) = &form.error {
                    ui.add_space(12.0);
                    egui::Frame::group(ui.style())
                        .stroke(egui::Stroke::new(1.0, error_color(ui)))
                        .show(ui, |ui| {
                            ui.set_width(ui.available_width());
                            ui.label(RichText::new(&problem.headline).color(error_color(ui)));
                            ui.label(&problem.hint);
                        });
                }
                ui.add_space(16.0);
                ui.label(
                    RichText::new(
                        "No server yet? Run `confab server` in a terminal, then connect to \
                         127.0.0.1:50000.",
                    )
                    .weak(),
                );
            });
        });
    });
    if connect {
        app.connect();
    }
}
