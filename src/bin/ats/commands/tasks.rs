//! Task commands: create, read, list, change, lifecycle, thread, history,
//! subtasks, handoffs, claim-next, watch.

use serde_json::{Map, Value, json};

use super::{Ctx, json_arg, unwrap_key};
use crate::cli::{
    CreateArgs, HandoffCmd, ListArgs, MessageCmd, SubtaskCmd, TaskFields, UpdateArgs, WatchArgs,
};
use crate::client::segs;
use crate::error::{CliError, CliResult};
use crate::output::{Output, Style, actor, short_time, text};
use crate::watch;

/// `ats health`.
pub async fn health(ctx: &Ctx) -> CliResult<()> {
    let body = ctx.client.get(&segs(&["health"]), &[]).await?;
    if ctx.out.json() {
        ctx.out.print_json(&body);
        return Ok(());
    }
    let status = text(&body["status"]);
    let style = if status == "ok" {
        Style::Green
    } else {
        Style::Red
    };
    println!("Server:   {}", ctx.client.base());
    println!("Status:   {}", ctx.out.paint(&status, style));
    println!("Database: {}", text(&body["database"]));
    println!("Version:  {}", text(&body["version"]));
    println!("Time:     {}", text(&body["timestamp"]));
    Ok(())
}

/// `ats stats`.
pub async fn stats(ctx: &Ctx) -> CliResult<()> {
    let body = ctx
        .client
        .get(&ctx.client.task_path(&["stats"]), &[])
        .await?;
    let stats = unwrap_key(body, "stats");
    if ctx.out.json() {
        ctx.out.print_json(&stats);
        return Ok(());
    }
    println!("Total tasks: {}", text(&stats["total"]));
    let counts = |key: &str| -> Vec<Vec<String>> {
        stats[key]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| vec![k.clone(), text(v)]).collect())
            .unwrap_or_default()
    };
    ctx.out
        .print_table(&["STATUS", "COUNT"], counts("by_status"));
    ctx.out
        .print_table(&["CHANNEL", "COUNT"], counts("by_channel"));
    let recent = &stats["recent"];
    println!(
        "Last 24h: {} created, {} completed; last 7d: {} created, {} completed",
        text(&recent["created_24h"]),
        text(&recent["completed_24h"]),
        text(&recent["created_7d"]),
        text(&recent["completed_7d"])
    );
    if let Some(avg) = stats["avg_completion_seconds"].as_f64() {
        println!("Average completion: {avg:.1} s");
    }
    Ok(())
}

fn fields_body(ctx: &Ctx, f: &TaskFields, default_channel: bool) -> CliResult<Map<String, Value>> {
    let mut body = Map::new();
    if let Some(d) = &f.description {
        body.insert("description".into(), json!(d));
    }
    if let Some(t) = &f.task_type {
        body.insert("type".into(), json!(t));
    }
    let channel = f.channel.clone().or_else(|| {
        default_channel
            .then(|| ctx.settings.channel.clone())
            .flatten()
    });
    if let Some(c) = channel {
        body.insert("channel".into(), json!(c));
    }
    if let Some(p) = f.priority {
        body.insert("priority".into(), json!(p));
    }
    if let Some(p) = &f.payload {
        body.insert("payload".into(), json_arg("--payload", p)?);
    }
    if !f.depends_on.is_empty() {
        body.insert("depends_on".into(), json!(f.depends_on));
    }
    if let Some(m) = f.max_attempts {
        body.insert("max_attempts".into(), json!(m));
    }
    Ok(body)
}

/// `ats create`.
pub async fn create(ctx: &Ctx, args: &CreateArgs) -> CliResult<()> {
    let mut body = fields_body(ctx, &args.fields, true)?;
    body.insert("title".into(), json!(args.title));
    if let Some(p) = args.parent {
        body.insert("parent_id".into(), json!(p));
    }
    let task = unwrap_key(
        ctx.client
            .post(&ctx.client.task_path(&[]), &Value::Object(body))
            .await?,
        "task",
    );
    ctx.out
        .confirm(&format!("Task created with ID: {}", text(&task["id"])));
    print_task(&ctx.out, &task);
    Ok(())
}

/// `ats bulk FILE`.
pub async fn bulk(ctx: &Ctx, file: &str) -> CliResult<()> {
    let raw = if file == "-" {
        std::io::read_to_string(std::io::stdin())?
    } else {
        std::fs::read_to_string(file)
            .map_err(|e| CliError::usage(format!("cannot read {file}: {e}")))?
    };
    let tasks = match json_arg(file, &raw)? {
        Value::Array(a) => Value::Array(a),
        Value::Object(mut o) if o.contains_key("tasks") => o.remove("tasks").unwrap_or_default(),
        _ => {
            return Err(CliError::usage(format!(
                "{file} must hold a JSON array of tasks"
            )));
        }
    };
    let body = ctx
        .client
        .post(&ctx.client.task_path(&["bulk"]), &json!({ "tasks": tasks }))
        .await?;
    let tasks = unwrap_key(body, "tasks");
    ctx.out.confirm(&format!(
        "Created {} tasks",
        tasks.as_array().map_or(0, Vec::len)
    ));
    print_tasks(&ctx.out, &tasks, None);
    Ok(())
}

/// `ats get ID`.
pub async fn get(ctx: &Ctx, id: i64) -> CliResult<()> {
    let task = unwrap_key(
        ctx.client
            .get(&ctx.client.task_path(&[&id.to_string()]), &[])
            .await?,
        "task",
    );
    print_task(&ctx.out, &task);
    Ok(())
}

/// RFC 3339 as given, or a duration ago (`90s`, `30m`, `1h`, `2d`, `1w`) as RFC 3339.
pub fn parse_since(flag: &str, s: &str) -> CliResult<String> {
    if chrono::DateTime::parse_from_rfc3339(s).is_ok() {
        return Ok(s.to_owned());
    }
    let bad = || {
        CliError::usage(format!(
            "{flag} '{s}' is neither an RFC 3339 time nor a duration like 90s, 30m, 1h, 2d, 1w"
        ))
    };
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(bad()),
    };
    let delta =
        chrono::Duration::try_seconds(n.checked_mul(secs).ok_or_else(bad)?).ok_or_else(bad)?;
    let t = chrono::Utc::now() - delta;
    Ok(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// `8`, `7+` or `5-8` as query parameters.
pub fn parse_priority(s: &str) -> CliResult<Vec<(&'static str, String)>> {
    let bad = || {
        CliError::usage(format!(
            "--priority '{s}' must be N, N+ or N-M with N, M in 1..10"
        ))
    };
    let num = |t: &str| -> CliResult<i64> {
        t.trim()
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=10).contains(n))
            .ok_or_else(bad)
    };
    if let Some(min) = s.strip_suffix('+') {
        return Ok(vec![("min_priority", num(min)?.to_string())]);
    }
    if let Some((lo, hi)) = s.split_once('-') {
        let (lo, hi) = (num(lo)?, num(hi)?);
        if lo > hi {
            return Err(bad());
        }
        return Ok(vec![
            ("min_priority", lo.to_string()),
            ("max_priority", hi.to_string()),
        ]);
    }
    Ok(vec![("priority", num(s)?.to_string())])
}

/// The query string of `ats list`.
pub fn list_query(ctx: &Ctx, a: &ListArgs) -> CliResult<Vec<(&'static str, String)>> {
    let mut q: Vec<(&'static str, String)> = Vec::new();
    match (&a.status, a.all) {
        (Some(s), _) => q.push(("status", s.clone())),
        (None, false) => q.push(("status", "pending".into())),
        (None, true) => {}
    }
    if let Some(t) = &a.task_type {
        q.push(("type", t.clone()));
    }
    if let Some(c) = a.channel.clone().or_else(|| ctx.settings.channel.clone()) {
        q.push(("channel", c));
    }
    if let Some(x) = &a.assignee {
        q.push(("assignee_id", x.clone()));
    }
    if let Some(s) = &a.since {
        q.push(("created_after", parse_since("--since", s)?));
    }
    if let Some(s) = &a.updated_since {
        q.push(("updated_after", parse_since("--updated-since", s)?));
    }
    if let Some(p) = &a.priority {
        q.extend(parse_priority(p)?);
    }
    if let Some(s) = &a.search {
        q.push(("search", s.clone()));
    }
    let sort = a.sort.as_deref().unwrap_or("created");
    let field = match sort {
        "updated" => "updated_at",
        "priority" => "priority",
        "title" => "title",
        _ => "created_at",
    };
    // Newest, most urgent first; titles A to Z. --reverse flips.
    let natural_desc = sort != "title";
    let desc = natural_desc != a.reverse;
    q.push(("sort_by", field.into()));
    q.push(("sort_dir", if desc { "desc" } else { "asc" }.into()));
    if let Some(p) = a.project_id {
        q.push(("project_id", p.to_string()));
    }
    if let Some(p) = a.parent {
        q.push(("parent_id", p.to_string()));
    }
    if let Some(l) = a.limit {
        q.push(("limit", l.to_string()));
    }
    if let Some(o) = a.offset {
        q.push(("offset", o.to_string()));
    }
    Ok(q)
}

/// `ats list`.
pub async fn list(ctx: &Ctx, a: &ListArgs) -> CliResult<()> {
    let q = list_query(ctx, a)?;
    let q: Vec<(&str, String)> = q.into_iter().collect();
    let body = ctx.client.get(&ctx.client.task_path(&[]), &q).await?;
    let total = body["count"].as_u64();
    print_tasks(&ctx.out, &body["tasks"], total);
    Ok(())
}

/// `ats update`.
pub async fn update(ctx: &Ctx, a: &UpdateArgs) -> CliResult<()> {
    let mut body = fields_body(ctx, &a.fields, false)?;
    if let Some(t) = &a.title {
        body.insert("title".into(), json!(t));
    }
    if let Some(s) = &a.status {
        body.insert("status".into(), json!(s));
    }
    if body.is_empty() {
        return Err(CliError::usage(
            "nothing to update: give at least one field, e.g. --priority 9",
        ));
    }
    let task = unwrap_key(
        ctx.client
            .patch(
                &ctx.client.task_path(&[&a.id.to_string()]),
                &Value::Object(body),
            )
            .await?,
        "task",
    );
    ctx.out.confirm(&format!("Task {} updated", a.id));
    print_task(&ctx.out, &task);
    Ok(())
}

/// Runs a lifecycle action (`claim`, `complete`, `fail`, …) and prints the task.
pub async fn action(ctx: &Ctx, id: i64, action: &str, body: Value, done: &str) -> CliResult<()> {
    let task = unwrap_key(
        ctx.client
            .post(&ctx.client.task_path(&[&id.to_string(), action]), &body)
            .await?,
        "task",
    );
    ctx.out.confirm(&format!("Task {id} {done}"));
    print_task(&ctx.out, &task);
    Ok(())
}

/// `ats claim-next`.
pub async fn claim_next(
    ctx: &Ctx,
    channel: Option<&str>,
    task_type: Option<&str>,
    min_priority: Option<i64>,
    lease: Option<i64>,
) -> CliResult<()> {
    let mut body = Map::new();
    if let Some(c) = channel
        .map(str::to_owned)
        .or_else(|| ctx.settings.channel.clone())
    {
        body.insert("channel".into(), json!(c));
    }
    if let Some(t) = task_type {
        body.insert("type".into(), json!(t));
    }
    if let Some(p) = min_priority {
        body.insert("min_priority".into(), json!(p));
    }
    if let Some(l) = lease {
        body.insert("lease_duration".into(), json!(l));
    }
    let task = unwrap_key(
        ctx.client
            .post(&ctx.client.task_path(&["claim-next"]), &Value::Object(body))
            .await?,
        "task",
    );
    ctx.out
        .confirm(&format!("Claimed task {}", text(&task["id"])));
    print_task(&ctx.out, &task);
    Ok(())
}

/// `ats delete ID`.
pub async fn delete(ctx: &Ctx, id: i64) -> CliResult<()> {
    let body = ctx
        .client
        .delete(&ctx.client.task_path(&[&id.to_string()]))
        .await?;
    if ctx.out.json() {
        ctx.out.print_json(&body);
    } else {
        ctx.out.confirm(&format!("Task {id} deleted"));
    }
    Ok(())
}

/// `ats message add|list`.
pub async fn message(ctx: &Ctx, cmd: &MessageCmd) -> CliResult<()> {
    match cmd {
        MessageCmd::Add {
            id,
            content,
            part_type,
            mime,
        } => {
            let mut part = match part_type.as_str() {
                "text" => json!({ "type": "text", "content": content }),
                "data" => {
                    json!({ "type": "data", "content": json_arg("the data content", content)? })
                }
                "url" | "file" => json!({ "type": part_type, "url": content }),
                other => {
                    return Err(CliError::usage(format!(
                        "unknown message type '{other}': use text, data, url or file"
                    )));
                }
            };
            if let Some(m) = mime {
                part["mime"] = json!(m);
            }
            let msg = unwrap_key(
                ctx.client
                    .post(
                        &ctx.client.task_path(&[&id.to_string(), "messages"]),
                        &json!({ "parts": [part] }),
                    )
                    .await?,
                "message",
            );
            ctx.out
                .confirm(&format!("Message {} added to task {id}", text(&msg["id"])));
            if ctx.out.json() {
                ctx.out.print_json(&msg);
            }
        }
        MessageCmd::List { id, limit, after } => {
            let mut q = Vec::new();
            if let Some(l) = limit {
                q.push(("limit", l.to_string()));
            }
            if let Some(a) = after {
                q.push(("after", a.to_string()));
            }
            let msgs = unwrap_key(
                ctx.client
                    .get(&ctx.client.task_path(&[&id.to_string(), "messages"]), &q)
                    .await?,
                "messages",
            );
            if ctx.out.json() {
                ctx.out.print_json(&msgs);
            } else {
                print_messages(&ctx.out, &msgs);
            }
        }
    }
    Ok(())
}

/// `ats events ID`.
pub async fn events(ctx: &Ctx, id: i64, after: Option<i64>, limit: Option<i64>) -> CliResult<()> {
    let mut q = Vec::new();
    if let Some(a) = after {
        q.push(("after", a.to_string()));
    }
    if let Some(l) = limit {
        q.push(("limit", l.to_string()));
    }
    let events = unwrap_key(
        ctx.client
            .get(&ctx.client.task_path(&[&id.to_string(), "events"]), &q)
            .await?,
        "events",
    );
    if ctx.out.json() {
        ctx.out.print_json(&events);
        return Ok(());
    }
    let rows = events
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    vec![
                        text(&e["id"]),
                        short_time(&e["created_at"]),
                        text(&e["type"]),
                        actor(e, "actor"),
                        text(&e["data"]["task"]["status"]),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    ctx.out
        .print_table(&["ID", "TIME", "EVENT", "BY", "STATUS"], rows);
    Ok(())
}

/// `ats subtask add|list`.
pub async fn subtask(ctx: &Ctx, cmd: &SubtaskCmd) -> CliResult<()> {
    match cmd {
        SubtaskCmd::Add {
            parent,
            title,
            fields,
        } => {
            let mut body = fields_body(ctx, fields, true)?;
            body.insert("title".into(), json!(title));
            let task = unwrap_key(
                ctx.client
                    .post(
                        &ctx.client.task_path(&[&parent.to_string(), "subtasks"]),
                        &Value::Object(body),
                    )
                    .await?,
                "task",
            );
            ctx.out.confirm(&format!(
                "Subtask created with ID: {} (parent {parent})",
                text(&task["id"])
            ));
            print_task(&ctx.out, &task);
        }
        SubtaskCmd::List { parent } => {
            let tasks = unwrap_key(
                ctx.client
                    .get(
                        &ctx.client.task_path(&[&parent.to_string(), "subtasks"]),
                        &[],
                    )
                    .await?,
                "tasks",
            );
            print_tasks(&ctx.out, &tasks, None);
        }
    }
    Ok(())
}

/// `ats handoff add|list`.
pub async fn handoff(ctx: &Ctx, cmd: &HandoffCmd) -> CliResult<()> {
    match cmd {
        HandoffCmd::Add {
            id,
            summary,
            next_steps,
        } => {
            let h = unwrap_key(
                ctx.client
                    .post(
                        &ctx.client.task_path(&[&id.to_string(), "handoffs"]),
                        &json!({ "summary": summary, "next_steps": next_steps }),
                    )
                    .await?,
                "handoff",
            );
            ctx.out
                .confirm(&format!("Handoff {} recorded on task {id}", text(&h["id"])));
            if ctx.out.json() {
                ctx.out.print_json(&h);
            }
        }
        HandoffCmd::List { id } => {
            let list = unwrap_key(
                ctx.client
                    .get(&ctx.client.task_path(&[&id.to_string(), "handoffs"]), &[])
                    .await?,
                "handoffs",
            );
            if ctx.out.json() {
                ctx.out.print_json(&list);
                return Ok(());
            }
            for h in list.as_array().into_iter().flatten() {
                println!(
                    "[{}] {} — {}",
                    short_time(&h["created_at"]),
                    actor(h, "actor"),
                    text(&h["summary"])
                );
                for step in h["next_steps"].as_array().into_iter().flatten() {
                    println!("  - {}", text(step));
                }
            }
        }
    }
    Ok(())
}

/// `ats watch`.
pub async fn watch(ctx: &Ctx, a: &WatchArgs) -> CliResult<()> {
    let channel = a.channel.clone().or_else(|| ctx.settings.channel.clone());
    let project = ctx.settings.scope().map(|(o, p)| format!("{o}/{p}"));
    let filters = watch::Filters::new(a, channel.as_deref(), project);
    if !ctx.out.json() {
        eprintln!("Watching events on {} (Ctrl-C to stop)", ctx.client.base());
    }
    watch::run(&ctx.client, filters, a.after, ctx.out).await
}

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
