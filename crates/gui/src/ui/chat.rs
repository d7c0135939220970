//! The main window: tabs on top, the conversation in the centre, the online list on the right,
//! the input line and the status bar at the bottom.
//!
//! ```text
//! ┌ # lobby │ bob 2 × │ carol × ─────────────────────────────┬──────────────┐
//! │ 14:02 bob   morning all                                   │ Online — 3   │
//! │ 14:03 alice hi bob                                        │ alice (you)  │
//! │ …                                                         │ bob          │
//! ├───────────────────────────────────────────────────────────┤ carol        │
//! │ [Message # lobby                                 ] [Send] │              │
//! ├───────────────────────────────────────────────────────────┴──────────────┤
//! │ ● connected as alice to 127.0.0.1:50000                     [Disconnect] │
//! └──────────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! The right-hand side panel switches between the online list and the Files panel (a
//! People / Files switch at its top); transfers get rows in a bottom panel above the input
//! line, with the inspector of the selected one (`files.rs`). Neither changes the layout of the
//! conversation itself. Files dropped anywhere on the window are uploaded.

use chrono::Local;
use eframe::egui::{
    self, Align, Color32, FontId, Key, Label, Layout, Modifiers, RichText, ScrollArea, Sense,
    TextEdit, TextFormat, text::LayoutJob,
};

use super::look::{full_time, nick_color, short_time};
use super::{UiState, error_color, ok_color, warn_color};
use super::{files, picker};
use crate::app::{App, ConnState, ConvKey, Line, Session, SideView};

pub(super) fn show(ui: &mut egui::Ui, app: &mut App, state: &mut UiState) {
    let mut disconnect = false;
    let mut send = false;
    let mut actions = files::dropped(ui);
    {
        let Some(session) = app.session_mut() else {
            return;
        };
        handle_shortcuts(ui, session, state);
        egui::Panel::bottom("status_bar").show(ui, |ui| {
            disconnect = status_bar(ui, session);
        });
        egui::Panel::right("side_panel")
            .resizable(true)
            .default_size(220.0)
            .size_range(140.0..=420.0)
            .show(ui, |ui| {
                side_switch(ui, session);
                match session.side {
                    SideView::People => online_list(ui, session, state),
                    SideView::Files => files::panel(ui, session, &mut actions),
                }
            });
        egui::Panel::top("tabs").show(ui, |ui| tabs(ui, session, state));
        egui::Panel::bottom("input")
            .show_separator_line(false)
            .show(ui, |ui| send = input_line(ui, session, state));
        if !session.files.transfers.is_empty() {
            egui::Panel::bottom("transfers")
                .resizable(false)
                .show(ui, |ui| files::transfers(ui, session, &mut actions));
        }
        egui::CentralPanel::default().show(ui, |ui| room(ui, session, &mut disconnect));
        picker::show(ui, &mut session.files, &mut actions);
        files::drop_hint(ui);
    }
    if send {
        app.send_draft();
    }
    for action in actions {
        files::apply(app, action);
    }
    if disconnect {
        app.disconnect();
    }
}

/// People / Files at the top of the right-hand panel.
fn side_switch(ui: &mut egui::Ui, session: &mut Session) {
    ui.add_space(6.0);
    ui.horizontal(|ui| {
        let people = format!("People ({})", session.members.len());
        if ui
            .add(egui::Button::selectable(
                session.side == SideView::People,
                people,
            ))
            .on_hover_text("Who is online")
            .clicked()
        {
            session.side = SideView::People;
        }
        let files = format!("Files ({})", session.files.list.len());
        if ui
            .add(egui::Button::selectable(
                session.side == SideView::Files,
                files,
            ))
            .on_hover_text("The files shared on this server")
            .clicked()
        {
            session.side = SideView::Files;
        }
    });
    ui.separator();
}

/// Ctrl+PageDown / Ctrl+PageUp switch tabs, as in a browser.
fn handle_shortcuts(ui: &egui::Ui, session: &mut Session, state: &mut UiState) {
    let (next, previous) = ui.input_mut(|i| {
        (
            i.consume_key(Modifiers::COMMAND, Key::PageDown),
            i.consume_key(Modifiers::COMMAND, Key::PageUp),
        )
    });
    if next || previous {
        session.cycle(if next { 1 } else { -1 });
        state.focus_input = true;
    }
}

fn tabs(ui: &mut egui::Ui, session: &mut Session, state: &mut UiState) {
    let mut select = None;
    let mut close = None;
    ui.add_space(4.0);
    ui.horizontal_wrapped(|ui| {
        for tab in session.tabs() {
            let mut title = RichText::new(&tab.title);
            if tab.unread > 0 {
                title = title.strong();
            }
            if !tab.online {
                title = title.weak();
            }
            let badge = if tab.unread > 0 {
                RichText::new(format!(" {} ", tab.unread))
                    .small()
                    .strong()
                    .color(Color32::WHITE)
                    .background_color(ui.visuals().selection.bg_fill)
            } else {
                RichText::new("")
            };
            let hover = match &tab.key {
                ConvKey::Lobby => "Everyone on the server".to_owned(),
                ConvKey::Private(_) if tab.online => {
                    format!("Private conversation with {}", tab.title)
                }
                ConvKey::Private(_) => format!("{} is offline", tab.title),
            };
            let response = ui
                .add(egui::Button::selectable(tab.active, (title, badge)))
                .on_hover_text(hover);
            if response.clicked() {
                select = Some(tab.key.clone());
            }
            if matches!(tab.key, ConvKey::Private(_)) {
                let close_button = ui
                    .add(
                        egui::Button::new(RichText::new("×").weak())
                            .frame(false)
                            .small(),
                    )
                    .on_hover_text("Close this tab")
                    .accessible_name(format!("Close {}", tab.title));
                if close_button.clicked() {
                    close = Some(tab.key.clone());
                }
            }
            ui.separator();
        }
    });
    ui.add_space(2.0);
    if let Some(key) = select {
        session.select(&key);
        state.focus_input = true;
    }
    if let Some(key) = close {
        session.close(&key);
    }
}

fn online_list(ui: &mut egui::Ui, session: &mut Session, state: &mut UiState) {
    ui.label(RichText::new(format!("Online — {}", session.members.len())).strong());
    ui.label(
        RichText::new("Click someone to talk privately.")
            .small()
            .weak(),
    );
    ui.add_space(4.0);
    let dark = ui.visuals().dark_mode;
    let mut open = None;
    ScrollArea::vertical()
        .id_salt("members")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            for nick in &session.members {
                let me = session.is_me(nick);
                let text = RichText::new(nick).color(nick_color(nick, dark));
                let button = if me {
                    egui::Button::new((text, RichText::new(" (you)").weak()))
                } else {
                    egui::Button::new(text)
                };
                let hover = if me {
                    "That's you".to_owned()
                } else {
                    format!("Open a private conversation with {nick}")
                };
                let response = ui.add(button.frame(false)).on_hover_text(hover);
                if response.clicked() && !me {
                    open = Some(nick.clone());
                }
            }
        });
    if let Some(nick) = open {
        session.open_private(&nick);
        state.focus_input = true;
    }
}

/// The conversation on screen. Sets `back_to_login` when the user leaves a closed session.
fn room(ui: &mut egui::Ui, session: &Session, back_to_login: &mut bool) {
    let conv = session.active_conversation();
    if let Some(peer) = conv.peer() {
        ui.horizontal(|ui| {
            ui.label(RichText::new(format!("Private conversation with {peer}")).strong());
            if !session.is_online(peer) {
                ui.label(
                    RichText::new("— offline; messages reach them only while they are online")
                        .color(warn_color(ui)),
                );
            }
        });
        ui.separator();
    }
    if let ConnState::Closed { reason } = &session.conn {
        ui.horizontal(|ui| {
            ui.label(RichText::new(format!("The session ended: {reason}")).color(error_color(ui)));
            if ui.button("Back to login").clicked() {
                *back_to_login = true;
            }
        });
        ui.separator();
    }
    let dark = ui.visuals().dark_mode;
    let now = Local::now();
    let body = FontId::proportional(14.0);
    let weak = ui.visuals().weak_text_color();
    // Message text a notch brighter (darker) than egui's default label grey: it is what the
    // user is here to read.
    let text_color = if dark {
        Color32::from_gray(225)
    } else {
        Color32::from_gray(25)
    };
    ScrollArea::vertical()
        // One scroll position per conversation.
        .id_salt(("room", &conv.key))
        .stick_to_bottom(true)
        .auto_shrink([false, false])
        .show(ui, |ui| {
            if conv.lines.is_empty() {
                ui.label(RichText::new("No messages yet. Say hello!").weak());
            }
            for line in &conv.lines {
                match line {
                    Line::Message(msg) => {
                        let mut job = LayoutJob::default();
                        let format = |color: Color32| TextFormat {
                            font_id: body.clone(),
                            color,
                            ..TextFormat::default()
                        };
                        job.append(&short_time(msg.ts, now), 0.0, format(weak));
                        job.append(&msg.from, 10.0, format(nick_color(&msg.from, dark)));
                        job.append(&msg.text, 10.0, format(text_color));
                        ui.add(Label::new(job).selectable(true).sense(Sense::click()))
                            .on_hover_text(full_time(msg.ts));
                    }
                    Line::Note(text) => {
                        ui.add(
                            Label::new(RichText::new(format!("· {text}")).italics().color(weak))
                                .selectable(true),
                        );
                    }
                }
            }
        });
}

/// The input line. Returns whether the user asked to send.
fn input_line(ui: &mut egui::Ui, session: &mut Session, state: &mut UiState) -> bool {
    let mut send = false;
    let online = session.conn == ConnState::Connected;
    // While a dialog is up the keyboard is its own; the input takes the focus afterwards.
    let dialog_open = session.files.save.is_some() || session.files.picker.is_some();
    let conv = session.active_conversation_mut();
    let hint = match conv.peer() {
        Some(peer) => format!("Message {peer} (private)"),
        None => format!("Message {}", conv.title),
    };
    ui.add_space(6.0);
    // One row: the Send button on the right, the text box taking the rest.
    let row = egui::vec2(ui.available_width(), ui.spacing().interact_size.y + 4.0);
    ui.allocate_ui_with_layout(row, Layout::right_to_left(Align::Center), |ui| {
        if ui.add_enabled(online, egui::Button::new("Send")).clicked() {
            send = true;
        }
        let response = ui
            .add(
                TextEdit::singleline(&mut conv.draft)
                    .hint_text(hint)
                    .desired_width(f32::INFINITY),
            )
            .accessible_name("Message");
        if response.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter)) {
            send = true;
        }
        if send || (!dialog_open && std::mem::take(&mut state.focus_input)) {
            response.request_focus();
        }
    });
    if let Some(error) = conv.send_error.clone() {
        ui.horizontal(|ui| {
            ui.label(RichText::new(format!("Not sent: {error}")).color(error_color(ui)));
            if ui.small_button("Dismiss").clicked() {
                conv.send_error = None;
            }
        });
    }
    ui.add_space(4.0);
    send && online
}

/// The connection state, always visible. Returns whether Disconnect was clicked.
fn status_bar(ui: &mut egui::Ui, session: &Session) -> bool {
    let mut disconnect = false;
    ui.horizontal(|ui| {
        let (color, text) = match &session.conn {
            ConnState::Connected => (
                ok_color(ui),
                format!("connected as {} to {}", session.me, session.server),
            ),
            ConnState::Lost { reason } => (warn_color(ui), format!("connection lost: {reason}")),
            ConnState::Reconnecting { attempt, delay_ms } => (
                warn_color(ui),
                format!(
                    "reconnecting to {} (attempt {attempt}, next try within {:.1} s)…",
                    session.server,
                    *delay_ms as f64 / 1000.0
                ),
            ),
            ConnState::Closed { reason } => (error_color(ui), format!("disconnected: {reason}")),
        };
        let (rect, _) = ui.allocate_exact_size(egui::vec2(10.0, 10.0), Sense::hover());
        ui.painter().circle_filled(rect.center(), 4.5, color);
        if matches!(
            session.conn,
            ConnState::Reconnecting { .. } | ConnState::Lost { .. }
        ) {
            ui.spinner();
        }
        ui.label(text);
        if let (ConnState::Connected, Some(missed)) = (&session.conn, session.caught_up) {
            ui.label(
                RichText::new(format!(
                    "· caught up on {missed} missed message{}",
                    if missed == 1 { "" } else { "s" }
                ))
                .weak(),
            );
        }
        ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
            if ui
                .button("Disconnect")
                .on_hover_text("Leave and return to the login screen")
                .clicked()
            {
                disconnect = true;
            }
            egui::widgets::global_theme_preference_buttons(ui);
        });
    });
    disconnect
}
