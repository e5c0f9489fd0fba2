//! Printing: JSON for scripts, tables and lines for people; colour only on a
//! terminal and never under `NO_COLOR`.

use std::io::IsTerminal;

use comfy_table::{ContentArrangement, Table, presets};
use serde_json::Value;

use crate::cli::Format;

/// How results are printed.
#[derive(Clone, Copy, Debug)]
pub struct Output {
    pub format: Format,
    /// `ATS_OUTPUT=modern`: this CLI's own layouts instead of the lines the
    /// original Node CLI (v1.3) printed.
    pub modern: bool,
    color_out: bool,
    color_err: bool,
}

/// Whether `ATS_OUTPUT` asks for the modern layouts.
fn modern_requested() -> bool {
    std::env::var("ATS_OUTPUT").is_ok_and(|v| v.trim().eq_ignore_ascii_case("modern"))
}

fn color_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var("TERM").map_or(true, |t| t != "dumb")
}

/// ANSI styles.
#[derive(Clone, Copy)]
pub enum Style {
    Green,
    Red,
    Yellow,
    Cyan,
    Dim,
    Bold,
}

impl Style {
    fn code(self) -> &'static str {
        match self {
            Self::Green => "32",
            Self::Red => "31",
            Self::Yellow => "33",
            Self::Cyan => "36",
            Self::Dim => "2",
            Self::Bold => "1",
        }
    }
}

impl Output {
    /// Output in `format`, colour decided from the environment and terminals.
    pub fn new(format: Format) -> Self {
        let allowed = color_allowed();
        Self {
            format,
            modern: modern_requested(),
            color_out: allowed && std::io::stdout().is_terminal(),
            color_err: allowed && std::io::stderr().is_terminal(),
        }
    }

    /// Original-format output with no colour (for unit tests).
    #[cfg(test)]
    pub fn plain(format: Format) -> Self {
        Self {
            format,
            modern: false,
            color_out: false,
            color_err: false,
        }
    }

    /// Whether stderr is a terminal (spinners go there, and only there).
    pub fn stderr_terminal(&self) -> bool {
        std::io::stderr().is_terminal()
    }

    pub fn json(&self) -> bool {
        self.format == Format::Json
    }

    /// `text` in `style` when stdout takes colour.
    pub fn paint(&self, text: &str, style: Style) -> String {
        paint(self.color_out, text, style)
    }

    /// `text` in `style` when stderr takes colour.
    pub fn paint_err(&self, text: &str, style: Style) -> String {
        paint(self.color_err, text, style)
    }

    /// A status word, coloured by what it means.
    pub fn status(&self, status: &str) -> String {
        let style = match status {
            "completed" => Style::Green,
            "failed" | "rejected" => Style::Red,
            "in_progress" => Style::Yellow,
            "cancelled" => Style::Dim,
            _ => Style::Cyan,
        };
        self.paint(status, style)
    }

    /// Prints a value as pretty JSON on stdout.
    pub fn print_json(&self, v: &Value) {
        println!(
            "{}",
            serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
        );
    }

    /// A confirmation: on stdout for tables, on stderr under `-f json` so
    /// that stdout stays pure JSON.
    pub fn confirm(&self, text: &str) {
        let line = format!("✓ {text}");
        if self.json() {
            eprintln!("{}", self.paint_err(&line, Style::Green));
        } else {
            println!("{}", self.paint(&line, Style::Green));
        }
    }

    /// Prints a table of `rows` under `headers`, fitted to the terminal width.
    pub fn print_table(&self, headers: &[&str], rows: Vec<Vec<String>>) {
        let mut table = Table::new();
        table
            .load_preset(presets::NOTHING)
            .set_header(headers.iter().copied());
        if let Some(width) = terminal_width() {
            table
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_width(width);
        }
        for row in rows {
            table.add_row(row);
        }
        println!("{table}");
    }
}

fn paint(on: bool, text: &str, style: Style) -> String {
    if on {
        format!("\x1b[{}m{text}\x1b[0m", style.code())
    } else {
        text.to_owned()
    }
}

/// The terminal's width: `COLUMNS`, else the size of the terminal on stdout.
fn terminal_width() -> Option<u16> {
    if let Some(cols) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<u16>().ok())
        .filter(|c| *c > 0)
    {
        return Some(cols);
    }
    terminal_size::terminal_size_of(std::io::stdout()).map(|(w, _)| w.0)
}

/// A JSON value as table text: strings bare, null empty.
pub fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A time shortened for tables: `2026-01-02 03:04:05`.
pub fn short_time(v: &Value) -> String {
    let t = text(v);
    match chrono::DateTime::parse_from_rfc3339(&t) {
        Ok(dt) => dt
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string(),
        Err(_) => t,
    }
}

/// `type:id (name)` of an actor stored under `prefix_type`, `prefix_id`, `prefix_name`.
pub fn actor(v: &Value, prefix: &str) -> String {
    let id = text(&v[format!("{prefix}_id")]);
    if id.is_empty() {
        return String::new();
    }
    let t = text(&v[format!("{prefix}_type")]);
    match v[format!("{prefix}_name")].as_str() {
        Some(name) if !name.is_empty() => format!("{t}:{id} ({name})"),
        _ => format!("{t}:{id}"),
    }
}

/// A time as the original CLI showed it (`Date.toLocaleString()` in en-US,
/// as Node 20 and later print it): `12/2/2026, 8:47:42\u{202f}AM`, local
/// time, with a narrow no-break space (U+202F) before AM/PM; empty for null.
pub fn locale_time(v: &Value) -> String {
    let t = text(v);
    match chrono::DateTime::parse_from_rfc3339(&t) {
        Ok(dt) => locale_format(&dt.with_timezone(&chrono::Local)),
        Err(_) => t,
    }
}

/// `t` as en-US `toLocaleString()` does: `M/D/YYYY, H:MM:SS\u{202f}AM`.
pub fn locale_format<Tz: chrono::TimeZone>(t: &chrono::DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    t.format("%-m/%-d/%Y, %-I:%M:%S\u{202f}%p").to_string()
}

/// The time of day now as `Date.toLocaleTimeString()` in en-US (Node 20
/// and later): `8:47:42\u{202f}AM`.
pub fn locale_clock_now() -> String {
    chrono::Local::now()
        .format("%-I:%M:%S\u{202f}%p")
        .to_string()
}

/// The first `n` characters of `s`.
pub fn prefix(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// `s` padded with spaces to `width` characters.
pub fn pad(s: &str, width: usize) -> String {
    let len = s.chars().count();
    if len >= width {
        s.to_owned()
    } else {
        format!("{s}{}", " ".repeat(width - len))
    }
}

/// A column of the original CLI's tables: a label and each row's cell.
pub struct Column<'a> {
    pub label: &'a str,
    pub cell: &'a dyn Fn(&Value) -> String,
    /// Paint the (padded) cell: the status column.
    pub status: bool,
}

/// The original CLI's table: labels padded to each column's width and joined
/// by two spaces, a rule of `─`, then the rows; `No results found.` when empty.
pub fn classic_table(out: &Output, rows: &[Value], columns: &[Column<'_>]) -> Vec<String> {
    if rows.is_empty() {
        return vec!["No results found.".to_owned()];
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| columns.iter().map(|c| (c.cell)(r)).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([c.label.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut lines = Vec::with_capacity(rows.len() + 2);
    lines.push(
        columns
            .iter()
            .zip(&widths)
            .map(|(c, w)| pad(c.label, *w))
            .collect::<Vec<_>>()
            .join("  "),
    );
    lines.push(
        widths
            .iter()
            .map(|w| "─".repeat(*w))
            .collect::<Vec<_>>()
            .join("──"),
    );
    for row in cells {
        lines.push(
            row.iter()
                .zip(columns.iter().zip(&widths))
                .map(|(cell, (c, w))| {
                    let padded = pad(cell, *w);
                    if c.status && out.color_out {
                        // Colour the word, keep the padding plain.
                        format!(
                            "{}{}",
                            out.status(cell),
                            " ".repeat(w.saturating_sub(cell.chars().count()))
                        )
                    } else {
                        padded
                    }
                })
                .collect::<Vec<_>>()
                .join("  "),
        );
    }
    lines
}

/// Pretty JSON (two-space indent) of an array of objects with their keys in
/// the order `keys` gives, as `JSON.stringify(rows, null, 2)` printed them.
pub fn ordered_json_array(rows: &[Value], keys: &[&str]) -> String {
    if rows.is_empty() {
        return "[]".to_owned();
    }
    let objects: Vec<String> = rows
        .iter()
        .map(|row| {
            let fields: Vec<String> = keys
                .iter()
                .map(|k| format!("    {}: {}", Value::from(*k), row[*k]))
                .collect();
            format!("  {{\n{}\n  }}", fields.join(",\n"))
        })
        .collect();
    format!("[\n{}\n]", objects.join(",\n"))
}
