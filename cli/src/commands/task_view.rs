//! How tasks and messages look in table form (and as JSON).

use serde_json::Value;

use crate::output::{Output, Style, actor, short_time, text};

/// Prints one task: its JSON, or a readable summary with its messages.
pub fn print_task(out: &Output, t: &Value) {
    if out.json() {
        out.print_json(t);
        return;
    }
    println!(
        "{}",
        out.paint(
            &format!("Task #{}: {}", text(&t["id"]), text(&t["title"])),
            Style::Bold
        )
    );
    let line = |k: &str, v: String| {
        if !v.is_empty() {
            println!("  {k:<12} {v}");
        }
    };
    line("Status:", out.status(&text(&t["status"])));
    line("Priority:", text(&t["priority"]));
    line("Type:", text(&t["type"]));
    line("Channel:", text(&t["channel"]));
    line(
        "Project:",
        format!("{}/{}", text(&t["org"]), text(&t["project"])),
    );
    line("Created by:", actor(t, "source"));
    line("Assignee:", actor(t, "assignee"));
    if t["status"] == "in_progress" {
        line("Lease until:", short_time(&t["lease_expires"]));
    }
    line("Run at:", short_time(&t["run_at"]));
    let due = short_time(&t["due_at"]);
    line(
        "Due at:",
        if t["overdue"] == true {
            format!("{due} (overdue)")
        } else {
            due
        },
    );
    line("Reason:", text(&t["reason"]));
    line("Parent:", text(&t["parent_id"]));
    for key in ["depends_on", "blocked_by"] {
        if t[key].as_array().is_some_and(|a| !a.is_empty()) {
            line(&format!("{}:", key.replace('_', " ")), text(&t[key]));
        }
    }
    let attempts = match t["max_attempts"].as_i64() {
        Some(max) => format!("{} of {max}", text(&t["attempts"])),
        None => text(&t["attempts"]),
    };
    line("Attempts:", attempts);
    line("Created:", short_time(&t["created_at"]));
    line("Updated:", short_time(&t["updated_at"]));
    line("Completed:", short_time(&t["completed_at"]));
    if let Some(d) = t["description"].as_str().filter(|d| !d.is_empty()) {
        println!("  Description:");
        for l in d.lines() {
            println!("    {l}");
        }
    }
    if t["payload"].as_object().is_some_and(|p| !p.is_empty()) {
        line("Payload:", t["payload"].to_string());
    }
    if t["outputs"].as_array().is_some_and(|o| !o.is_empty()) {
        line("Outputs:", t["outputs"].to_string());
    }
    if let Some(msgs) = t["messages"].as_array().filter(|m| !m.is_empty()) {
        println!("  Messages ({}):", msgs.len());
        print_messages(out, &t["messages"]);
    }
}

/// Prints messages as `[time] actor: content`.
pub fn print_messages(_out: &Output, msgs: &Value) {
    for m in msgs.as_array().into_iter().flatten() {
        let parts: Vec<String> = m["parts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| match p["type"].as_str() {
                Some("text") => text(&p["content"]),
                Some("data") => p["content"].to_string(),
                _ => text(&p["url"]),
            })
            .collect();
        println!(
            "    [{}] {}: {}",
            short_time(&m["created_at"]),
            actor(m, "actor"),
            parts.join(" ")
        );
    }
}

/// Prints tasks: the JSON array, or a table (with a count line when `total` is known).
pub fn print_tasks(out: &Output, tasks: &Value, total: Option<u64>) {
    if out.json() {
        out.print_json(tasks);
        return;
    }
    let list = tasks.as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        println!("No tasks found.");
        return;
    }
    let rows = list
        .iter()
        .map(|t| {
            vec![
                text(&t["id"]),
                text(&t["status"]),
                text(&t["priority"]),
                text(&t["type"]),
                text(&t["channel"]),
                text(&t["title"]),
                text(&t["assignee_id"]),
                short_time(&t["created_at"]),
            ]
        })
        .collect();
    out.print_table(
        &[
            "ID", "STATUS", "PRI", "TYPE", "CHANNEL", "TITLE", "ASSIGNEE", "CREATED",
        ],
        rows,
    );
    if let Some(total) = total {
        println!("{} of {total} tasks", list.len());
    }
}
