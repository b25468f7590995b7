//! Output helpers: tables, byte sizes, times, JSON.

use chrono::{DateTime, Utc};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

/// A table with the house style and the given header.
pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED).set_header(header.iter().copied());
    t
}

/// Bytes in human units (KiB, MiB, …).
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[unit]) }
}

/// A time as `YYYY-MM-DD HH:MM`.
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

/// An optional time, `never` when absent.
pub fn time_or(t: Option<DateTime<Utc>>, none: &str) -> String {
    t.map_or_else(|| none.to_owned(), time)
}

/// Stored text (a reason, an actor, a tag value) made safe to print on a
/// terminal: control characters and the bidirectional overrides that could
/// move the cursor, clear the screen or disguise text are shown escaped
/// (`\u{1b}`) instead of acting.
pub fn text(s: &str) -> String {
    let unsafe_char = |c: char| {
        c.is_control()
            || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    s.chars().fold(String::with_capacity(s.len()), |mut out, c| {
        if unsafe_char(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
        out
    })
}

/// Prints a value as pretty JSON.
pub fn json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn bytes_are_human() {
        assert_eq!(super::bytes(512), "512 B");
        assert_eq!(super::bytes(1536), "1.5 KiB");
        assert_eq!(super::bytes(3 * 1024 * 1024), "3.0 MiB");
    }

    #[test]
    fn stored_text_cannot_drive_the_terminal() {
        assert_eq!(super::text("plain ünïcode, quotes \" and \\"), "plain ünïcode, quotes \" and \\");
        assert_eq!(super::text("\u{1b}[2Jgone\r\n"), "\\u{1b}[2Jgone\\r\\n");
        assert_eq!(super::text("\u{9b}31m\u{7}"), "\\u{9b}31m\\u{7}");
        assert_eq!(super::text("abc\u{202e}fed"), "abc\\u{202e}fed");
    }
}
