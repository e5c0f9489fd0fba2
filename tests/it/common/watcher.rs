//! `ats watch` in the background, and what it printed.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::cli::{Cli, TempDir};

/// Kills a background `ats watch` when dropped.
pub struct Watcher {
    child: std::process::Child,
    stdout: std::path::PathBuf,
    /// Where its stderr goes.
    pub stderr: std::path::PathBuf,
}

impl Watcher {
    pub fn start(cli: &Cli, dir: &TempDir, name: &str, args: &[&str]) -> Self {
        let stdout = dir.path().join(format!("{name}.out"));
        let stderr = dir.path().join(format!("{name}.err"));
        let mut full = vec!["watch"];
        full.extend_from_slice(args);
        let child = cli.spawn(&full, &stdout, &stderr);
        Self {
            child,
            stdout,
            stderr,
        }
    }

    pub fn text(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// The JSON lines printed so far; a last line still being written
    /// (no newline yet) is left for the next read.
    pub fn lines(&self) -> Vec<Value> {
        let text = self.text();
        let complete = text.rfind('\n').map_or("", |end| &text[..=end]);
        complete
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"))
            })
            .collect()
    }

    /// Waits until at least `n` JSON lines were printed.
    pub async fn wait_lines(&self, n: usize, within: Duration) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let lines = self.lines();
            if lines.len() >= n {
                return lines;
            }
            assert!(
                Instant::now() < deadline,
                "waited for {n} events, got {}:\n{}\nstderr:\n{}",
                lines.len(),
                self.text(),
                std::fs::read_to_string(&self.stderr).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the server counts `n` open subscriptions.
pub async fn wait_subscribed(base: &str, n: i64) {
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(resp) = http
            .get(format!("{base}/metrics"))
            .bearer_auth(super::app::METRICS_TOKEN)
            .send()
            .await
            && let Ok(text) = resp.text().await
        {
            let open = text
                .lines()
                .find(|l| l.starts_with("ats_open_subscriptions"))
                .and_then(|l| l.split_whitespace().last())
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0);
            if open >= n {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the watcher did not subscribe");
}

/// The stored events of the given tasks, in id order.
pub async fn stored_events(base: &str, task_ids: &[i64]) -> Vec<Value> {
    let http = reqwest::Client::new();
    let mut all = Vec::new();
    for id in task_ids {
        let body: Value = http
            .get(format!("{base}/tasks/{id}/events?limit=500"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        all.extend(body["events"].as_array().unwrap().iter().cloned());
    }
    all.sort_by_key(|e| e["id"].as_i64());
    all
}

/// `(id, event, task_id)` of each printed line.
pub fn summary(lines: &[Value]) -> Vec<(i64, String, i64)> {
    lines
        .iter()
        .map(|l| {
            (
                l["id"].as_i64().unwrap(),
                l["event"].as_str().unwrap().to_owned(),
                l["task_id"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// `(id, type, task_id)` of each stored event.
pub fn stored_summary(events: &[Value]) -> Vec<(i64, String, i64)> {
    events
        .iter()
        .map(|e| {
            (
                e["id"].as_i64().unwrap(),
                e["type"].as_str().unwrap().to_owned(),
                e["task_id"].as_i64().unwrap(),
            )
        })
        .collect()
}
