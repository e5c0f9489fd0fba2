//! Input rules shared by every operation: lengths, ranges, shapes.

use serde_json::Value;

use crate::error::{Error, Result};

/// Longest title, in characters.
pub const MAX_TITLE: usize = 500;
/// Largest description, in bytes.
pub const MAX_DESCRIPTION: usize = 64 * 1024;
/// Largest payload, serialized, in bytes.
pub const MAX_PAYLOAD: usize = 256 * 1024;
/// Largest outputs array, serialized, in bytes.
pub const MAX_OUTPUTS: usize = 1024 * 1024;
/// Longest reason, in characters.
pub const MAX_REASON: usize = 10_000;
/// Longest type or channel name, in characters.
pub const MAX_LABEL: usize = 100;
/// Lease bounds and default, in milliseconds.
pub const MIN_LEASE_MS: i64 = 1_000;
/// Longest lease, in milliseconds (24 h).
pub const MAX_LEASE_MS: i64 = 86_400_000;
/// The lease a claim gets when it names none.
pub const DEFAULT_LEASE_MS: i64 = 60_000;

/// A title of 1–500 characters, trimmed.
pub fn title(s: &str) -> Result<String> {
    let t = s.trim();
    if t.is_empty() {
        return Err(Error::validation("title must not be empty"));
    }
    if t.chars().count() > MAX_TITLE {
        return Err(Error::validation(format!(
            "title must be at most {MAX_TITLE} characters"
        )));
    }
    Ok(t.to_owned())
}

/// A description of at most 64 KiB; empty means none.
pub fn description(s: Option<String>) -> Result<Option<String>> {
    match s {
        Some(d) if d.len() > MAX_DESCRIPTION => Err(Error::validation(format!(
            "description must be at most {MAX_DESCRIPTION} bytes"
        ))),
        Some(d) if d.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// A priority from 1 to 10.
pub fn priority(p: i64) -> Result<i32> {
    if (1..=10).contains(&p) {
        Ok(p as i32)
    } else {
        Err(Error::validation(format!(
            "priority must be between 1 and 10, got {p}"
        )))
    }
}

/// Most values one list filter (statuses, types, channels, event types,
/// projects) may hold. Each value is a bind parameter of the statement, and
/// the backends refuse statements with too many (SQLite 32,766, PostgreSQL
/// 65,535), which answered 500 before this bound.
pub const MAX_FILTER_VALUES: usize = 100;

/// A list filter of at most [`MAX_FILTER_VALUES`] values (400 otherwise).
pub fn filter_values<T>(name: &str, values: &[T]) -> Result<()> {
    if values.len() > MAX_FILTER_VALUES {
        return Err(Error::bad_request(format!(
            "{name} may hold at most {MAX_FILTER_VALUES} values, got {}",
            values.len()
        )));
    }
    Ok(())
}

/// A priority filter (`min_priority`, …): absent, or 1–10.
pub fn priority_filter(name: &str, p: Option<i64>) -> Result<Option<i32>> {
    match p {
        Some(p) if !(1..=10).contains(&p) => Err(Error::bad_request(format!(
            "{name} must be between 1 and 10, got {p}"
        ))),
        other => Ok(other.map(|p| p as i32)),
    }
}

/// A type or channel name: 1–100 characters, trimmed.
pub fn label(field: &str, s: &str) -> Result<String> {
    let t = s.trim();
    if t.is_empty() || t.chars().count() > MAX_LABEL {
        return Err(Error::validation(format!(
            "{field} must be 1 to {MAX_LABEL} characters"
        )));
    }
    Ok(t.to_owned())
}

/// A payload: a JSON object of at most 256 KiB.
pub fn payload(v: Value) -> Result<Value> {
    if !v.is_object() {
        return Err(Error::validation("payload must be a JSON object"));
    }
    if v.to_string().len() > MAX_PAYLOAD {
        return Err(Error::validation(format!(
            "payload must be at most {MAX_PAYLOAD} bytes"
        )));
    }
    Ok(v)
}

/// Outputs given to `complete`: an object (one output) or an array of outputs.
pub fn outputs(v: Option<Value>) -> Result<Vec<Value>> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items),
        Some(obj @ Value::Object(_)) => Ok(vec![obj]),
        Some(_) => Err(Error::validation("outputs must be a JSON object or array")),
    }
}

/// A reason of at most 10 000 characters; empty means none.
pub fn reason(s: Option<String>) -> Result<Option<String>> {
    match s {
        Some(r) if r.chars().count() > MAX_REASON => Err(Error::validation(format!(
            "reason must be at most {MAX_REASON} characters"
        ))),
        Some(r) if r.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// A lease duration in milliseconds (default 60 000).
pub fn lease_ms(ms: Option<i64>) -> Result<i64> {
    let ms = ms.unwrap_or(DEFAULT_LEASE_MS);
    if (MIN_LEASE_MS..=MAX_LEASE_MS).contains(&ms) {
        Ok(ms)
    } else {
        Err(Error::validation(format!(
            "lease_duration must be between {MIN_LEASE_MS} and {MAX_LEASE_MS} ms, got {ms}"
        )))
    }
}

/// The most a claim may wait for work.
pub const MAX_WAIT_MS: i64 = 30_000;
/// The most tasks one batch claim takes.
pub const MAX_CLAIM_BATCH: i64 = 100;
/// The batch size when none is asked for.
pub const DEFAULT_CLAIM_BATCH: i64 = 10;

/// How long a claim may wait for work (0–30 000 ms, default 0: answer at once).
pub fn wait_ms(ms: Option<i64>) -> Result<u64> {
    match ms.unwrap_or(0) {
        ms @ 0..=MAX_WAIT_MS => Ok(ms as u64),
        ms => Err(Error::validation(format!(
            "wait_ms must be between 0 and {MAX_WAIT_MS}, got {ms}"
        ))),
    }
}

/// How many tasks a batch claim takes (1–100, default 10).
pub fn claim_limit(n: Option<i64>) -> Result<u64> {
    match n.unwrap_or(DEFAULT_CLAIM_BATCH) {
        n @ 1..=MAX_CLAIM_BATCH => Ok(n as u64),
        n => Err(Error::validation(format!(
            "limit must be between 1 and {MAX_CLAIM_BATCH}, got {n}"
        ))),
    }
}

/// An attempt cap from 1 to 1000.
pub fn max_attempts(n: i64) -> Result<i32> {
    if (1..=1000).contains(&n) {
        Ok(n as i32)
    } else {
        Err(Error::validation(format!(
            "max_attempts must be between 1 and 1000, got {n}"
        )))
    }
}

/// A moment given as RFC 3339 (any offset), in UTC to the millisecond,
/// between the years 1970 and 9999.
pub fn instant(field: &str, s: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    let bad = || {
        Error::validation(format!(
            "{field} must be an RFC 3339 time such as 2026-12-24T09:00:00Z between 1970 and 9999"
        ))
    };
    if s.len() > 64 {
        return Err(bad());
    }
    let t = crate::time::parse(s.trim()).ok_or_else(bad)?;
    if t.timestamp() < 0 {
        return Err(bad());
    }
    chrono::DateTime::from_timestamp_millis(t.timestamp_millis()).ok_or_else(bad)
}

/// How long an overdue task waits before escalating further: 1 ms to 30 days.
pub fn escalate_after_ms(ms: i64) -> Result<i64> {
    const MAX: i64 = 30 * 86_400_000;
    if (1..=MAX).contains(&ms) {
        Ok(ms)
    } else {
        Err(Error::validation(format!(
            "escalate_after_ms must be between 1 and {MAX}, got {ms}"
        )))
    }
}

/// An org or project slug: `[a-z0-9][a-z0-9-]{0,62}`.
pub fn slug(field: &str, s: &str) -> Result<String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .enumerate()
            .all(|(i, b)| b.is_ascii_lowercase() || b.is_ascii_digit() || (i > 0 && b == b'-'));
    if ok {
        Ok(s.to_owned())
    } else {
        Err(Error::validation(format!(
            "{field} must be 1 to 63 lowercase letters, digits or dashes, starting with a letter or digit"
        )))
    }
}

/// A display name of 1–200 characters.
pub fn name(field: &str, s: &str) -> Result<String> {
    let t = s.trim();
    if t.is_empty() || t.chars().count() > 200 {
        return Err(Error::validation(format!(
            "{field} must be 1 to 200 characters"
        )));
    }
    Ok(t.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(slug("slug", "a").is_ok());
        assert!(slug("slug", "my-org-2").is_ok());
        assert!(slug("slug", "-a").is_err());
        assert!(slug("slug", "A").is_err());
        assert!(slug("slug", "").is_err());
        assert!(slug("slug", &"a".repeat(64)).is_err());
    }

    #[test]
    fn outputs_shapes() {
        assert_eq!(outputs(Some(serde_json::json!({"a":1}))).unwrap().len(), 1);
        assert_eq!(outputs(Some(serde_json::json!([1, 2]))).unwrap().len(), 2);
        assert!(outputs(Some(serde_json::json!("x"))).is_err());
    }
}

/// Text holding a NUL character (U+0000) is refused wherever it comes in:
/// PostgreSQL cannot store it, and both backends must answer alike.
pub fn no_nul(text: &str) -> Result<()> {
    if text.contains('\0') {
        return Err(nul_refused());
    }
    Ok(())
}

/// Refuses a JSON document (or a GraphQL document, whose strings escape the
/// same way) that spells a NUL character as `\u0000`. An escaped backslash
/// followed by `u0000` is text, not a NUL, and passes. A raw NUL byte is
/// refused too.
pub fn no_nul_escape(doc: &[u8]) -> Result<()> {
    let mut i = 0;
    while i < doc.len() {
        match doc[i] {
            0 => return Err(nul_refused()),
            b'\\' => {
                if doc.get(i + 1) == Some(&b'u') && doc.get(i + 2..i + 6) == Some(b"0000") {
                    return Err(nul_refused());
                }
                i += 2;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Refuses a URL whose path or query percent-encodes a NUL (`%00`).
pub fn no_nul_in_url(path_and_query: &str) -> Result<()> {
    let bytes = path_and_query.as_bytes();
    if bytes.windows(3).any(|w| w == b"%00") {
        return Err(nul_refused());
    }
    Ok(())
}

fn nul_refused() -> Error {
    Error::validation("text must not contain NUL characters (U+0000)")
}

#[cfg(test)]
mod nul_tests {
    use super::*;

    #[test]
    fn nul_escapes_are_found_and_escaped_backslashes_are_not() {
        assert!(no_nul_escape(br#"{"title":"a\u0000b"}"#).is_err());
        assert!(no_nul_escape(b"{\"title\":\"a\0b\"}").is_err());
        assert!(no_nul_escape(br#"{"title":"a\\u0000b"}"#).is_ok());
        assert!(no_nul_escape(br#"{"title":"a\\\u0000b"}"#).is_err());
        assert!(no_nul_escape(br#"{"title":"\u00001"}"#).is_err());
        assert!(no_nul_escape(br#"{"title":"\u0001"}"#).is_ok());
        assert!(no_nul_in_url("/orgs/a%00b").is_err());
        assert!(no_nul_in_url("/tasks?q=%00").is_err());
        assert!(no_nul_in_url("/tasks?q=%2500").is_ok());
        assert!(no_nul("a\0").is_err() && no_nul("ok").is_ok());
    }
}
