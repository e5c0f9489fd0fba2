//! The commands, by family.

pub mod access;
pub mod auth;
pub mod classic;
pub mod orgs;
pub mod projects;
pub mod task_view;
pub mod tasks;
pub mod workflow;

use serde_json::Value;

use crate::client::Client;
use crate::config::Settings;
use crate::error::{CliError, CliResult};
use crate::output::Output;

/// What every command gets.
pub struct Ctx {
    pub settings: Settings,
    pub client: Client,
    pub out: Output,
    pub cwd: std::path::PathBuf,
}

/// Parses a JSON flag value.
pub fn json_arg(flag: &str, s: &str) -> CliResult<Value> {
    serde_json::from_str(s).map_err(|e| CliError::usage(format!("{flag} is not valid JSON: {e}")))
}

/// Splits an actor written `type:id`.
pub fn actor_arg(s: &str) -> CliResult<(String, String)> {
    match s.split_once(':') {
        Some((t, id)) if !t.is_empty() && !id.is_empty() => Ok((t.to_owned(), id.to_owned())),
        _ => Err(CliError::usage(format!(
            "'{s}' is not an actor: write it as type:id, e.g. agent:builder"
        ))),
    }
}

/// The value under `key`, or the whole body.
pub fn unwrap_key(body: Value, key: &str) -> Value {
    match body {
        Value::Object(mut map) if map.contains_key(key) => map.remove(key).unwrap_or(Value::Null),
        other => other,
    }
}
