//! Work around a task: its thread, history, subtasks, handoffs; claim-next;
//! watch.

use serde_json::{Map, Value, json};

use super::classic::{self, print_lines};
use super::task_view::{print_messages, print_task, print_tasks};
use super::tasks::fields_body;
use super::{Ctx, json_arg, unwrap_key};
use crate::cli::{HandoffCmd, MessageCmd, SubtaskCmd, WatchArgs};
use crate::error::{CliError, CliResult};
use crate::output::{actor, short_time, text};
use crate::watch;

/// What `ats claim-next` asks for.
pub struct Claim<'a> {
    pub channel: Option<&'a str>,
    pub task_type: Option<&'a str>,
    pub min_priority: Option<i64>,
    pub lease: Option<i64>,
    pub wait: Option<i64>,
}

/// `ats claim-next`, or with `--limit` a batch claim.
pub async fn claim_next(ctx: &Ctx, claim: &Claim<'_>, limit: Option<i64>) -> CliResult<()> {
    let mut body = Map::new();
    if let Some(c) = claim
        .channel
        .map(str::to_owned)
        .or_else(|| ctx.settings.channel.clone())
    {
        body.insert("channel".into(), json!(c));
    }
    if let Some(t) = claim.task_type {
        body.insert("type".into(), json!(t));
    }
    for (key, value) in [
        ("min_priority", claim.min_priority),
        ("lease_duration", claim.lease),
        ("wait_ms", claim.wait),
        ("limit", limit),
    ] {
        if let Some(v) = value {
            body.insert(key.into(), json!(v));
        }
    }
    if limit.is_some() {
        let tasks = unwrap_key(
            ctx.client
                .post(
                    &ctx.client.task_path(&["claim-batch"]),
                    &Value::Object(body),
                )
                .await?,
            "tasks",
        );
        let n = tasks.as_array().map_or(0, Vec::len);
        ctx.out.confirm(&format!("Claimed {n} task(s)"));
        print_tasks(&ctx.out, &tasks, None);
        return Ok(());
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
            if ctx.out.modern {
                ctx.out
                    .confirm(&format!("Message {} added to task {id}", text(&msg["id"])));
            } else {
                ctx.out.confirm(&format!("Message added to task {id}"));
            }
            if ctx.out.json() {
                ctx.out.print_json(&msg);
            } else if !ctx.out.modern {
                print_lines(&classic::message_table(&ctx.out, &msg));
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
            } else if ctx.out.modern {
                print_messages(&ctx.out, &msgs);
            } else {
                let list = msgs.as_array().cloned().unwrap_or_default();
                print_lines(&classic::message_list(*id, &list));
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
    if ctx.out.modern && !ctx.out.json() {
        eprintln!("Watching events on {} (Ctrl-C to stop)", ctx.client.base());
    }
    watch::run(&ctx.client, filters, a.after, ctx.out).await
}
