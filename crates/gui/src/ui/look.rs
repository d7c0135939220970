//! How things look: a stable colour per nick, and message times in local time.

use chrono::{DateTime, Local, TimeZone};
use eframe::egui::{Color32, ecolor::Hsva};

/// The colour of `nick`: the same on every machine and every run (a hash of the lowercase nick
/// picks the hue), light on the dark theme and dark on the light one so it always reads well.
pub(crate) fn nick_color(nick: &str, dark_mode: bool) -> Color32 {
    // FNV-1a: tiny, and unlike std's hasher guaranteed never to change.
    let hash = nick
        .bytes()
        .map(|b| b.to_ascii_lowercase())
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    let hue = (hash % 360) as f32 / 360.0;
    let (saturation, value) = if dark_mode {
        (0.50, 0.95)
    } else {
        (0.85, 0.55)
    };
    Hsva::new(hue, saturation, value, 1.0).into()
}

/// A message's time for the room: `14:02` today, `Mon 14:02` within the week, else
/// `2026-05-01 14:02`. Local time of this computer.
pub(crate) fn short_time(ts_ms: u64, now: DateTime<Local>) -> String {
    let Some(at) = local(ts_ms) else {
        return "--:--".into();
    };
    let days_ago = now
        .date_naive()
        .signed_duration_since(at.date_naive())
        .num_days();
    if days_ago == 0 {
        at.format("%H:%M").to_string()
    } else if (1..7).contains(&days_ago) {
        at.format("%a %H:%M").to_string()
    } else {
        at.format("%Y-%m-%d %H:%M").to_string()
    }
}

/// The full time, for a tooltip: `2026-05-01 14:02:33 +02:00`.
pub(crate) fn full_time(ts_ms: u64) -> String {
    local(ts_ms).map_or_else(
        || "unknown time".into(),
        |at| at.format("%Y-%m-%d %H:%M:%S %:z").to_string(),
    )
}

fn local(ts_ms: u64) -> Option<DateTime<Local>> {
    Local
        .timestamp_millis_opt(i64::try_from(ts_ms).ok()?)
        .single()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nick_colours_are_stable_case_blind_and_distinct() {
        assert_eq!(nick_color("Alice", true), nick_color("alice", true));
        assert_ne!(nick_color("alice", true), nick_color("bob", true));
        // Readable: light on dark, dark on light.
        let on_dark = Hsva::from(nick_color("alice", true));
        let on_light = Hsva::from(nick_color("alice", false));
        assert!(on_dark.v > 0.8 && on_light.v < 0.7);
    }

    #[test]
    fn times_shorten_for_today() {
        let now = Local::now();
        let ts = u64::try_from(now.timestamp_millis()).unwrap();
        let short = short_time(ts, now);
        assert_eq!(short.len(), 5, "{short}");
        let long = short_time(ts - 30 * 24 * 3600 * 1000, now);
        assert_eq!(long.len(), 16, "{long}");
    }
}
