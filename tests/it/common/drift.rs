//! Checked-in generated files (`schema.graphql`, `openapi.json`) must match
//! what the code generates.

/// Panics, naming the first differing line and the command that
/// regenerates it, when `file` (relative to the repo root) is not `code`.
#[track_caller]
pub fn assert_up_to_date(file: &str, code: &str, regenerate: &str) {
    let path = format!("{}/{file}", env!("CARGO_MANIFEST_DIR"));
    let on_disk = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {file}: {e}"));
    if on_disk != code {
        let line = on_disk
            .lines()
            .zip(code.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || on_disk.lines().count().min(code.lines().count()) + 1,
                |i| i + 1,
            );
        panic!(
            "{file} differs from what the code generates (first at line {line}).\n\
             Regenerate it with:\n    {regenerate}"
        );
    }
}
