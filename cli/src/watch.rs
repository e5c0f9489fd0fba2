//! `ats watch`: events from `/ws`, printed as they come. When the connection
//! drops, it reconnects and resubscribes with `after` = the last event id seen
//! (or the cursor the server named when subscribing), so no event is missed
//! and none is printed twice.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::cli::WatchArgs;
use crate::client::Client;
use crate::error::{CliError, CliResult};
use crate::output::{Output, Style, short_time, text};

/// The subscription id the CLI uses.
const SUB_ID: &str = "ats-watch";
/// With no frame for this long (the server pings every 20 s), reconnect.
const SILENCE_LIMIT: Duration = Duration::from_secs(65);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What to subscribe to.
pub struct Filters {
    pub channels: Vec<String>,
    pub task_types: Vec<String>,
    pub event_types: Vec<String>,
    pub projects: Vec<String>,
    pub task_id: Option<i64>,
}

fn list(v: Option<&str>) -> Vec<String> {
    v.map(|v| {
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

impl Filters {
    /// Filters from the command line; `channel` already defaulted from `ATS_CHANNEL`.
    pub fn new(args: &WatchArgs, channel: Option<&str>, project: Option<String>) -> Self {
        Self {
            channels: list(channel),
            task_types: list(args.task_type.as_deref()),
            event_types: list(args.events.as_deref()),
            projects: project.into_iter().collect(),
            task_id: args.task,
        }
    }
}

/// How one connection ended.
enum Ended {
    /// Worth reconnecting: the socket closed or failed, or we lagged.
    Retry(String),
    /// Not worth retrying.
    Fatal(CliError),
}

/// Watches until the process is stopped or a fatal error occurs.
pub async fn run(
    client: &Client,
    filters: Filters,
    after: Option<i64>,
    out: Output,
) -> CliResult<()> {
    let mut cursor = after;
    let mut connected_once = false;
    if !out.json() && !out.modern {
        let mut url = ws_url(client);
        if let Some(q) = url.find('?') {
            url.truncate(q);
        }
        println!("Connecting to {url}...");
    }
    let mut backoff = Duration::from_millis(200);
    loop {
        let mut subscribed = false;
        let ended = session(
            client,
            &filters,
            &mut cursor,
            connected_once,
            &mut subscribed,
            out,
        )
        .await;
        connected_once |= subscribed;
        if subscribed {
            backoff = Duration::from_millis(200);
        }
        match ended {
            Ended::Fatal(e) => return Err(e),
            Ended::Retry(reason) => {
                let line = format!(
                    "watch: {reason}; reconnecting in {} ms",
                    backoff.as_millis()
                );
                if out.stderr_terminal() {
                    // A spinner while waiting to reconnect; the reason stays.
                    eprintln!("{}", out.paint_err(&line, Style::Yellow));
                    let spinner = crate::progress::spinner(&out, "reconnecting…");
                    tokio::time::sleep(backoff).await;
                    spinner.finish_and_clear();
                } else {
                    eprintln!("{}", out.paint_err(&line, Style::Yellow));
                    tokio::time::sleep(backoff).await;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

fn ws_url(client: &Client) -> String {
    let mut url = client.url(&["ws".to_owned()], &[]);
    let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
    let _ = url.set_scheme(scheme);
    let id = client.identity();
    if id.bearer.is_none() {
        let mut q = url.query_pairs_mut();
        for (k, v) in [
            ("actor_type", &id.actor_type),
            ("actor_id", &id.actor_id),
            ("actor_name", &id.actor_name),
        ] {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
    }
    url.to_string()
}

async fn session(
    client: &Client,
    filters: &Filters,
    cursor: &mut Option<i64>,
    connected_once: bool,
    subscribed: &mut bool,
    out: Output,
) -> Ended {
    let url = ws_url(client);
    let mut request = match url.as_str().into_client_request() {
        Ok(r) => r,
        Err(e) => {
            return Ended::Fatal(CliError::usage(format!("invalid WebSocket URL {url}: {e}")));
        }
    };
    if let Some(token) = &client.identity().bearer {
        match HeaderValue::from_str(&format!("Bearer {token}")) {
            Ok(v) => {
                request.headers_mut().insert("authorization", v);
            }
            Err(_) => {
                return Ended::Fatal(CliError::usage("the API key is not a valid header value"));
            }
        }
    }
    let (mut socket, _) = match tokio_tungstenite::connect_async(request).await {
        Ok(s) => s,
        Err(WsError::Http(resp)) => {
            let status = resp.status().as_u16();
            let body: Value = resp
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            let err = CliError::Server {
                status,
                message: body["error"].as_str().map_or_else(
                    || format!("the WebSocket upgrade was refused with HTTP {status}"),
                    str::to_owned,
                ),
                code: body["code"].as_str().unwrap_or("HTTP_ERROR").to_owned(),
            };
            // A restarting server may answer 5xx for a moment.
            return if status >= 500 && connected_once {
                Ended::Retry(err.to_string())
            } else {
                Ended::Fatal(err)
            };
        }
        Err(e) => {
            if connected_once {
                return Ended::Retry(format!("cannot connect: {e}"));
            }
            return Ended::Fatal(CliError::Unreachable {
                url: client.base().to_string(),
                reason: e.to_string(),
            });
        }
    };
    let mut subscribe = json!({
        "type": "subscribe",
        "id": SUB_ID,
        "channels": filters.channels,
        "task_types": filters.task_types,
        "event_types": filters.event_types,
        "projects": filters.projects,
    });
    if let Some(task_id) = filters.task_id {
        subscribe["task_id"] = json!(task_id);
    }
    if let Some(after) = *cursor {
        subscribe["after"] = json!(after);
    }
    if let Err(e) = socket.send(Message::text(subscribe.to_string())).await {
        return Ended::Retry(format!("cannot subscribe: {e}"));
    }
    loop {
        let frame = match tokio::time::timeout(SILENCE_LIMIT, socket.next()).await {
            Err(_) => return Ended::Retry("the server went silent".into()),
            Ok(None) => return Ended::Retry("the server closed the connection".into()),
            Ok(Some(Err(e))) => return Ended::Retry(format!("connection lost: {e}")),
            Ok(Some(Ok(frame))) => frame,
        };
        let text_frame = match frame {
            Message::Text(t) => t,
            Message::Close(_) => return Ended::Retry("the server closed the connection".into()),
            _ => continue,
        };
        let Ok(msg) = serde_json::from_str::<Value>(&text_frame) else {
            continue;
        };
        match msg["type"].as_str().unwrap_or_default() {
            "connected" | "pong" | "unsubscribed" => {}
            "subscribed" => {
                if !connected_once && !*subscribed && !out.json() && !out.modern {
                    println!("✓ Connected");
                    println!("Watching for events... (Ctrl+C to stop)");
                    println!();
                }
                *subscribed = true;
                if cursor.is_none() {
                    *cursor = msg["after"].as_i64();
                }
            }
            "error" => {
                let code = msg["code"].as_str().unwrap_or("error");
                let message = text(&msg["message"]);
                if code == "lagged" {
                    return Ended::Retry(format!("fell behind ({message})"));
                }
                // Not an HTTP answer: the socket is up and the server
                // refused the subscription itself.
                return Ended::Fatal(CliError::Refused {
                    message: format!("the server refused the subscription: {message}"),
                    code: code.to_uppercase(),
                });
            }
            kind if kind.starts_with("task.") => {
                let Some(id) = msg["id"].as_i64() else {
                    continue;
                };
                if cursor.is_some_and(|c| id <= c) {
                    continue;
                }
                print_event(&msg, out);
                *cursor = Some(id);
            }
            _ => {}
        }
    }
}

/// Prints one event: a JSON line, or the lines executors parse (SPEC §9).
pub fn print_event(e: &Value, out: Output) {
    let task = &e["data"]["task"];
    if out.json() {
        // Keys in the documented order (SPEC §9), then the rest.
        let fields = [
            ("event", &e["type"]),
            ("task_id", &e["task_id"]),
            ("title", &task["title"]),
            ("status", &task["status"]),
            ("channel", &e["channel"]),
            ("timestamp", &e["created_at"]),
            ("id", &e["id"]),
            ("task_type", &e["task_type"]),
            ("org", &e["org"]),
            ("project", &e["project"]),
            ("actor_type", &e["actor_type"]),
            ("actor_id", &e["actor_id"]),
            ("actor_name", &e["actor_name"]),
            ("data", &e["data"]),
        ];
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{}:{v}", Value::from(*k)))
            .collect();
        println!("{{{}}}", body.join(","));
        return;
    }
    if !out.modern {
        let title = text(&task["title"]);
        let channel = text(&e["channel"]);
        println!(
            "[{}] {}",
            crate::output::locale_clock_now(),
            text(&e["type"])
        );
        println!(
            "  Task #{}: {}",
            text(&e["task_id"]),
            if title.is_empty() {
                "(no title)"
            } else {
                &title
            }
        );
        println!(
            "  Status: {}, Channel: {}",
            out.status(&text(&task["status"])),
            if channel.is_empty() { "-" } else { &channel }
        );
        if let Some(name) = e["actor_name"].as_str().filter(|n| !n.is_empty()) {
            println!("  By: {name}");
        }
        println!();
        return;
    }
    println!(
        "[{}] {}",
        short_time(&e["created_at"]),
        out.paint(&text(&e["type"]), Style::Bold)
    );
    println!("  Task #{}: {}", text(&e["task_id"]), text(&task["title"]));
    println!(
        "  Status: {}, Channel: {}",
        out.status(&text(&task["status"])),
        text(&e["channel"])
    );
    let by = match e["actor_name"].as_str() {
        Some(name) if !name.is_empty() => name.to_owned(),
        _ => text(&e["actor_id"]),
    };
    if !by.is_empty() {
        println!("  By: {by}");
    }
}
