//! Task commands: health, stats, create, bulk, get, list, update, the
//! lifecycle actions, delete.

use serde_json::{Map, Value, json};

use super::classic::{self, print_lines};
use super::task_view::{print_task, print_tasks};
use super::{Ctx, json_arg, unwrap_key};
use crate::cli::{CreateArgs, ListArgs, TaskFields, UpdateArgs};
use crate::client::segs;
use crate::error::{CliError, CliResult};
use crate::output::{Style, text};

/// `ats health`.
pub async fn health(ctx: &Ctx) -> CliResult<()> {
    let body = ctx.client.get(&segs(&["health"]), &[]).await?;
    if ctx.out.json() {
        ctx.out.print_json(&body);
        return Ok(());
    }
    if !ctx.out.modern {
        println!("✓ Service is {}", text(&body["status"]));
        println!("  Timestamp: {}", text(&body["timestamp"]));
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
    if !ctx.out.modern {
        print_lines(&classic::stats(&ctx.out, &stats));
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

pub fn fields_body(
    ctx: &Ctx,
    f: &TaskFields,
    default_channel: bool,
) -> CliResult<Map<String, Value>> {
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
    if let Some(t) = &f.run_at {
        body.insert("run_at".into(), json!(t));
    }
    if let Some(d) = &f.run_in {
        body.insert("run_at".into(), json!(parse_ahead("--in", d)?));
    }
    if let Some(t) = &f.due_at {
        body.insert("due_at".into(), json!(t));
    }
    if let Some(d) = &f.due_in {
        body.insert("due_at".into(), json!(parse_ahead("--due-in", d)?));
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
    print_task_or_row(ctx, &task);
    Ok(())
}

/// After `create` and `update`: the task's JSON, the original's one-row
/// table, or (modern) the task summary.
fn print_task_or_row(ctx: &Ctx, task: &Value) {
    if ctx.out.json() || ctx.out.modern {
        print_task(&ctx.out, task);
    } else {
        print_lines(&classic::task_detail_table(&ctx.out, task));
    }
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
    let n = tasks.as_array().map_or(0, Vec::len);
    let spinner = crate::progress::spinner(&ctx.out, &format!("Creating {n} tasks…"));
    let body = ctx
        .client
        .post(&ctx.client.task_path(&["bulk"]), &json!({ "tasks": tasks }))
        .await;
    spinner.finish_and_clear();
    let body = body?;
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
    if ctx.out.json() || ctx.out.modern {
        print_task(&ctx.out, &task);
    } else {
        print_lines(&classic::task_details(&ctx.out, &task));
    }
    Ok(())
}

/// RFC 3339 as given, or a duration ago (`90s`, `30m`, `1h`, `2d`, `1w`) as RFC 3339.
pub fn parse_since(flag: &str, s: &str) -> CliResult<String> {
    if chrono::DateTime::parse_from_rfc3339(s).is_ok() {
        return Ok(s.to_owned());
    }
    const EXPECTED: &str = "neither an RFC 3339 time nor a duration";
    let delta = parse_duration(flag, s, EXPECTED)?;
    let t = chrono::Utc::now()
        .checked_sub_signed(delta)
        .ok_or_else(|| duration_refused(flag, s, EXPECTED))?;
    Ok(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// A duration from now (`90s`, `30m`, `1h`, `2d`, `1w`) as RFC 3339.
pub fn parse_ahead(flag: &str, s: &str) -> CliResult<String> {
    const EXPECTED: &str = "not a duration";
    let delta = parse_duration(flag, s, EXPECTED)?;
    let t = chrono::Utc::now()
        .checked_add_signed(delta)
        .ok_or_else(|| duration_refused(flag, s, EXPECTED))?;
    Ok(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

fn duration_refused(flag: &str, s: &str, expected: &str) -> CliError {
    CliError::usage(format!(
        "{flag} '{s}' is {expected} like 90s, 30m, 1h, 2d, 1w"
    ))
}

/// `90s`, `30m`, `1h`, `2d` or `1w`; refused as `expected` otherwise.
fn parse_duration(flag: &str, s: &str, expected: &str) -> CliResult<chrono::Duration> {
    let bad = || duration_refused(flag, s, expected);
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
    chrono::Duration::try_seconds(n.checked_mul(secs).ok_or_else(bad)?).ok_or_else(bad)
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
    if ctx.out.json() || ctx.out.modern {
        print_tasks(&ctx.out, &body["tasks"], total);
        return Ok(());
    }
    let tasks = body["tasks"].as_array().cloned().unwrap_or_default();
    let pending_only = a.status.is_none() && !a.all;
    if tasks.is_empty() {
        println!(
            "{}",
            if pending_only {
                "No pending tasks. Use --all to see all tasks."
            } else {
                "No tasks found."
            }
        );
        return Ok(());
    }
    print_lines(&classic::task_table(&ctx.out, &tasks));
    let count = total.filter(|c| *c > 0).unwrap_or(tasks.len() as u64);
    println!();
    println!(
        "{count} task(s) found{}",
        if pending_only {
            " (pending only, use --all for all)"
        } else {
            ""
        }
    );
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
    print_task_or_row(ctx, &task);
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
    let done = if action == "fail" && !ctx.out.modern {
        "marked as failed"
    } else {
        done
    };
    ctx.out.confirm(&format!("Task {id} {done}"));
    if ctx.out.json() || ctx.out.modern {
        print_task(&ctx.out, &task);
    } else if action == "claim" {
        println!("  Assignee: {}", text(&task["assignee_name"]));
        println!(
            "  Lease expires: {}",
            crate::output::locale_time(&task["lease_expires"])
        );
    }
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
