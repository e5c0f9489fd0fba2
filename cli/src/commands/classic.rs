//! The lines the original Node CLI (v1.3) printed, which agents learned from
//! the skill document and scripts grep: the default table output. The modern
//! layouts (`ATS_OUTPUT=modern`) live beside the commands.

use serde_json::Value;

use crate::output::{Column, Output, classic_table, locale_time, prefix, text};

/// The top and bottom of the original's boxes.
pub const BOX_END: &str = "└────────────────────────────────────────────────────";

/// Prints lines on stdout.
pub fn print_lines(lines: &[String]) {
    for l in lines {
        println!("{l}");
    }
}

fn cell(key: &'static str) -> impl Fn(&Value) -> String {
    move |v: &Value| text(&v[key])
}

fn time_cell(key: &'static str) -> impl Fn(&Value) -> String {
    move |v: &Value| locale_time(&v[key])
}

/// The task list table (`ats list`): ID, Title (40 characters), Status, Pri,
/// Type, Channel, Assignee, Created.
pub fn task_table(out: &Output, tasks: &[Value]) -> Vec<String> {
    let title = |v: &Value| prefix(&text(&v["title"]), 40);
    let (id, status, pri, ty, ch, asg, created) = (
        cell("id"),
        cell("status"),
        cell("priority"),
        cell("type"),
        cell("channel"),
        cell("assignee_name"),
        time_cell("created_at"),
    );
    let columns = [
        col("ID", &id),
        col("Title", &title),
        status_col(&status),
        col("Pri", &pri),
        col("Type", &ty),
        col("Channel", &ch),
        col("Assignee", &asg),
        col("Created", &created),
    ];
    classic_table(out, tasks, &columns)
}

/// The Status column, coloured by status on a terminal.
fn status_col<'a>(cell: &'a dyn Fn(&Value) -> String) -> Column<'a> {
    Column {
        label: "Status",
        cell,
        status: true,
    }
}

fn col<'a>(label: &'a str, cell: &'a dyn Fn(&Value) -> String) -> Column<'a> {
    Column {
        label,
        cell,
        status: false,
    }
}

/// The one-row task table after `create` and `update`: ID, Title, Status,
/// Priority, Type, Channel, Source, Assignee, Created, Updated.
pub fn task_detail_table(out: &Output, task: &Value) -> Vec<String> {
    let (id, title, status, pri, ty, ch, src, asg, created, updated) = (
        cell("id"),
        cell("title"),
        cell("status"),
        cell("priority"),
        cell("type"),
        cell("channel"),
        cell("source_name"),
        cell("assignee_name"),
        time_cell("created_at"),
        time_cell("updated_at"),
    );
    let columns = [
        col("ID", &id),
        col("Title", &title),
        status_col(&status),
        col("Priority", &pri),
        col("Type", &ty),
        col("Channel", &ch),
        col("Source", &src),
        col("Assignee", &asg),
        col("Created", &created),
        col("Updated", &updated),
    ];
    classic_table(out, std::slice::from_ref(task), &columns)
}

/// The one-row message table after `message add`: ID, From, Content, Time.
pub fn message_table(out: &Output, msg: &Value) -> Vec<String> {
    let content = |m: &Value| match m["parts"].as_array().and_then(|p| p.first()) {
        None => String::new(),
        Some(first) if first["type"] == "text" => prefix(&text(&first["content"]), 50),
        Some(first) => format!("[{}]", text(&first["type"])),
    };
    let (id, from, time) = (cell("id"), cell("actor_name"), time_cell("created_at"));
    let columns = [
        col("ID", &id),
        col("From", &from),
        col("Content", &content),
        col("Time", &time),
    ];
    classic_table(out, std::slice::from_ref(msg), &columns)
}

fn or_dash(v: &Value) -> String {
    let t = text(v);
    if t.is_empty() { "-".to_owned() } else { t }
}

/// `ats get`: the boxed task details.
pub fn task_details(out: &Output, t: &Value) -> Vec<String> {
    let mut l = vec![
        String::new(),
        "┌─ Task Details ─────────────────────────────────────".to_owned(),
        format!("│ ID:          {}", text(&t["id"])),
        format!("│ Title:       {}", text(&t["title"])),
        format!("│ Status:      {}", out.status(&text(&t["status"]))),
        format!("│ Priority:    {}", text(&t["priority"])),
        format!("│ Type:        {}", or_dash(&t["type"])),
        format!("│ Channel:     {}", or_dash(&t["channel"])),
        format!(
            "│ Source:      {} ({})",
            or_dash(&t["source_name"]),
            or_dash(&t["source_type"])
        ),
        format!(
            "│ Assignee:    {} ({})",
            or_dash(&t["assignee_name"]),
            or_dash(&t["assignee_type"])
        ),
        format!("│ Created:     {}", locale_time(&t["created_at"])),
        format!("│ Updated:     {}", locale_time(&t["updated_at"])),
    ];
    if !text(&t["lease_expires"]).is_empty() {
        l.push(format!(
            "│ Lease:       {}",
            locale_time(&t["lease_expires"])
        ));
    }
    if !text(&t["run_at"]).is_empty() {
        l.push(format!("│ Run at:      {}", locale_time(&t["run_at"])));
    }
    if !text(&t["due_at"]).is_empty() {
        l.push(format!("│ Due at:      {}", locale_time(&t["due_at"])));
    }
    l.push("├─ Description ──────────────────────────────────────".to_owned());
    let description = text(&t["description"]);
    l.push(format!(
        "│ {}",
        if description.is_empty() {
            "(no description)"
        } else {
            &description
        }
    ));
    let pretty = |v: &Value| {
        serde_json::to_string_pretty(v)
            .unwrap_or_default()
            .replace('\n', "\n│ ")
    };
    if t["payload"].as_object().is_some_and(|p| !p.is_empty()) {
        l.push("├─ Payload ─────────────────────────────────────────".to_owned());
        l.push(format!("│ {}", pretty(&t["payload"])));
    }
    if t["outputs"].as_array().is_some_and(|o| !o.is_empty()) {
        l.push("├─ Outputs ─────────────────────────────────────────".to_owned());
        l.push(format!("│ {}", pretty(&t["outputs"])));
    }
    if let Some(msgs) = t["messages"].as_array().filter(|m| !m.is_empty()) {
        l.push("├─ Messages ────────────────────────────────────────".to_owned());
        for m in msgs {
            let first = &m["parts"][0]["content"];
            let content = if first.is_null() || first == "" {
                "[non-text]".to_owned()
            } else {
                text(first)
            };
            l.push(format!("│ [{}] {content}", text(&m["actor_name"])));
        }
    }
    l.push(BOX_END.to_owned());
    l.push(String::new());
    l
}

/// `ats message list`: each message with its time, author and parts.
pub fn message_list(id: i64, msgs: &[Value]) -> Vec<String> {
    if msgs.is_empty() {
        return vec!["No messages found.".to_owned()];
    }
    let mut l = vec![
        String::new(),
        format!("─── Messages for Task {id} ───"),
        String::new(),
    ];
    for m in msgs {
        let name = text(&m["actor_name"]);
        l.push(format!(
            "[{}] {} ({}):",
            locale_time(&m["created_at"]),
            if name.is_empty() { "Unknown" } else { &name },
            text(&m["actor_type"])
        ));
        for p in m["parts"].as_array().into_iter().flatten() {
            if p["type"] == "text" {
                l.push(format!("  {}", text(&p["content"])));
            } else {
                // The original showed `url` or `data`, which a data part
                // (its value under `content`) has neither of: `(binary)`.
                let what = [&p["url"], &p["data"]]
                    .into_iter()
                    .map(text)
                    .find(|s| !s.is_empty())
                    .unwrap_or_else(|| "(binary)".to_owned());
                l.push(format!("  [{}]: {what}", text(&p["type"])));
            }
        }
        l.push(String::new());
    }
    l.push(format!("{} message(s)", msgs.len()));
    l
}

/// `ats stats`: the boxed summary.
pub fn stats(out: &Output, s: &Value) -> Vec<String> {
    let num = |v: &Value| {
        if v.is_null() { "0".to_owned() } else { text(v) }
    };
    let mut l = vec![
        String::new(),
        "┌─ Task Statistics ──────────────────────────────────".to_owned(),
        format!("│ Total Tasks:          {}", num(&s["total"])),
        "├─ By Status ────────────────────────────────────────".to_owned(),
    ];
    for status in [
        "pending",
        "in_progress",
        "completed",
        "cancelled",
        "failed",
        "rejected",
    ] {
        let count = s["by_status"][status].as_i64().unwrap_or(0);
        if count > 0 || matches!(status, "pending" | "in_progress" | "completed") {
            let padding = " ".repeat(20 - status.len());
            l.push(format!("│   {}{padding} {count}", out.status(status)));
        }
    }
    l.push("├─ By Channel ───────────────────────────────────────".to_owned());
    let channels: Vec<(&String, &Value)> = s["by_channel"]
        .as_object()
        .map(|m| m.iter().take(5).collect())
        .unwrap_or_default();
    if channels.is_empty() {
        l.push("│   (none)".to_owned());
    }
    for (channel, count) in channels {
        l.push(format!(
            "│   {} {}",
            crate::output::pad(channel, 20),
            text(count)
        ));
    }
    l.push("├─ Performance ──────────────────────────────────────".to_owned());
    let avg = match s["avg_completion_seconds"].as_f64() {
        Some(secs) if secs != 0.0 => format!("{:.1}", secs / 60.0),
        _ => "0".to_owned(),
    };
    l.push(format!("│   Avg Completion:     {avg} minutes"));
    l.push(format!(
        "│   Completed Tasks:    {}",
        num(&s["completed_count"])
    ));
    l.push("├─ Recent Activity ──────────────────────────────────".to_owned());
    let r = &s["recent"];
    for (label, key) in [
        ("Created (24h):  ", "created_24h"),
        ("Completed (24h):", "completed_24h"),
        ("Created (7d):   ", "created_7d"),
        ("Completed (7d): ", "completed_7d"),
    ] {
        l.push(format!("│   {label}    {}", num(&r[key])));
    }
    l.push(BOX_END.to_owned());
    l.push(String::new());
    l
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::cli::Format;

    fn plain() -> Output {
        Output::plain(Format::Table)
    }

    #[test]
    fn tables_pad_columns_like_the_original() {
        let tasks = [
            json!({"id": 7, "title": "Review the pull request", "status": "pending", "priority": 5,
                   "type": "task", "channel": "default", "assignee_name": null, "created_at": null}),
            json!({"id": 12, "title": "x".repeat(45), "status": "in_progress", "priority": 10,
                   "type": "code-review", "channel": "ops", "assignee_name": "Claude Code", "created_at": null}),
        ];
        let lines = task_table(&plain(), &tasks);
        let x40 = "x".repeat(40);
        let pad_t = " ".repeat(40 - "Title".len());
        let pad_r = " ".repeat(40 - "Review the pull request".len());
        assert_eq!(
            lines,
            vec![
                format!(
                    "ID  Title{pad_t}  Status       Pri  Type         Channel  Assignee     Created"
                ),
                // Widths 2, 40, 11, 3, 11, 7, 11, 7 joined by `──`.
                "─".repeat(2 + 40 + 11 + 3 + 11 + 7 + 11 + 7 + 7 * 2),
                // Empty cells are padded too (Assignee 11, Created 7).
                format!(
                    "7   Review the pull request{pad_r}  pending      5    task         default  {}",
                    " ".repeat(11 + 2 + 7)
                ),
                format!("12  {x40}  in_progress  10   code-review  ops      Claude Code         "),
            ]
        );
        assert_eq!(task_table(&plain(), &[]), vec!["No results found."]);
    }

    #[test]
    fn stats_box_lists_the_fixed_statuses_and_recent_activity() {
        let s = json!({"total": 3, "by_status": {"pending": 2, "failed": 1}, "by_channel": {"ops": 3},
                       "avg_completion_seconds": 90.0, "completed_count": 0,
                       "recent": {"created_24h": 3, "completed_24h": 0, "created_7d": 3, "completed_7d": 0}});
        let lines = stats(&plain(), &s);
        assert_eq!(lines[2], "│ Total Tasks:          3");
        assert_eq!(lines[4], "│   pending              2");
        assert_eq!(lines[5], "│   in_progress          0");
        assert_eq!(lines[7], "│   failed               1");
        assert_eq!(lines[9], "│   ops                  3");
        assert_eq!(lines[11], "│   Avg Completion:     1.5 minutes");
        assert_eq!(lines[14], "│   Created (24h):      3");
        assert_eq!(lines[15], "│   Completed (24h):    0");
        assert_eq!(lines[16], "│   Created (7d):       3");
        assert_eq!(lines[17], "│   Completed (7d):     0");
    }
}
