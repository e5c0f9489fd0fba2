//! The `/ws` event WebSocket (SPEC §7): subscribe with filters, replay from
//! `after`, then live events; several subscriptions per connection.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::app::sockets;
use crate::app::{ApiQuery, AppState, ClientIp};
use crate::auth::caller::{Caller, SocketQuery};
use crate::error::{Error, Result};
use crate::service::views::EventView;
use crate::service::{Ats, EventQuery, SubscriptionItem, Viewer};

/// How often the server pings; a peer silent for three intervals is dropped.
const PING_EVERY: Duration = Duration::from_secs(20);
/// Most subscriptions one connection may hold.
const MAX_SUBSCRIPTIONS: usize = 64;

/// Upgrades `GET /ws` to the event protocol. The caller comes from the
/// `Authorization` header, `?token=`, or (open mode) the actor parameters;
/// the socket is closed, with a reason, as soon as that credential stops
/// holding. A caller over the socket caps (`ATS_WS_MAX_PER_IP`,
/// `ATS_WS_MAX_TOTAL`) gets a socket closed at once with 1013.
pub async fn upgrade(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<SocketQuery>,
    ClientIp(client): ClientIp,
    headers: axum::http::HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response> {
    let caller = Caller::from_socket(&headers, &params)?;
    let viewer = state.ats.viewer(&caller).await?;
    let slot = match state.sockets.admit(Some(client)) {
        Ok(slot) => slot,
        Err(refusal) => return Ok(sockets::refuse(ws, &refusal)),
    };
    let max_message = state.config.ws_max_message_bytes;
    Ok(
        sockets::configure(ws, max_message).on_upgrade(move |socket| async move {
            let _slot = slot;
            Connection::run(state, viewer, socket, max_message).await
        }),
    )
}

/// A client message.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum ClientMessage {
    Subscribe(SubscribeRequest),
    Unsubscribe { id: Option<String> },
    Ping,
}

/// `{"type":"subscribe", …}`.
#[derive(Debug, Default, Deserialize)]
struct SubscribeRequest {
    id: Option<String>,
    #[serde(default)]
    channels: Vec<String>,
    #[serde(default)]
    task_types: Vec<String>,
    #[serde(default)]
    event_types: Vec<String>,
    #[serde(default)]
    projects: Vec<String>,
    task_id: Option<i64>,
    after: Option<i64>,
}

struct Connection {
    ats: Ats,
    viewer: Viewer,
    out: mpsc::Sender<Message>,
    subscriptions: HashMap<String, JoinHandle<()>>,
    next_sub: u64,
}

fn text(v: Value) -> Message {
    Message::Text(Utf8Bytes::from(v.to_string()))
}

fn error_message(code: &str, message: &str, id: Option<&str>) -> Message {
    text(json!({ "type": "error", "code": code, "message": message, "id": id }))
}

/// The error message for a service error: its code in lower case, its
/// sentence, and its details (`oldest_id` and `pruned_through` of
/// `cursor_expired`).
fn error_of(e: &Error, id: &str) -> Value {
    let mut v = json!({
        "type": "error",
        "code": e.code().to_lowercase(),
        "message": e.public_message(),
        "id": id,
    });
    for (key, value) in e.details() {
        v[key] = json!(value);
    }
    v
}

impl Connection {
    async fn run(state: AppState, viewer: Viewer, socket: WebSocket, max_message: usize) {
        let (mut sink, mut stream) = socket.split();
        let (out, mut outbox) = mpsc::channel::<Message>(256);
        let mut shutdown = state.shutdown.clone();
        let writer = tokio::spawn(async move {
            while let Some(msg) = outbox.recv().await {
                let closing = matches!(msg, Message::Close(_));
                if sink.send(msg).await.is_err() || closing {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        // The credential is watched in a task of its own: a check suspended
        // here while a subscribe runs below would hold its database
        // connection, and enough such sockets at once would leave the pool
        // to no one (every subscribe then waits out the acquire timeout).
        let mut revoked = {
            let (ats, watched) = (state.ats.clone(), viewer.clone());
            sockets::OwnedTask::spawn(async move { ats.credential_revoked(&watched).await })
        };
        let mut conn = Connection {
            ats: state.ats.clone(),
            viewer,
            out,
            subscriptions: HashMap::new(),
            next_sub: 0,
        };
        let connection_id = format!("{:016x}", rand::random::<u64>());
        let _ = conn
            .out
            .send(text(
                json!({ "type": "connected", "connection_id": connection_id }),
            ))
            .await;

        let mut ping = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        let mut missed_pongs = 0u32;
        let mut watching = true;
        // Whether we sent a close frame (then the client's reply is awaited).
        let mut closed_by_us = false;
        loop {
            tokio::select! {
                incoming = stream.next() => match incoming {
                    Some(Ok(Message::Text(t))) => {
                        missed_pongs = 0;
                        // Boxed: room for a subscribe's reads only while it runs.
                        Box::pin(conn.handle(t.as_str())).await;
                    }
                    Some(Ok(Message::Binary(_))) => {
                        let _ = conn.out.send(error_message("bad_request", "binary frames are not supported; send JSON text", None)).await;
                    }
                    Some(Ok(Message::Pong(_) | Message::Ping(_))) => missed_pongs = 0,
                    Some(Err(e)) if sockets::is_too_big(&e) => {
                        let (code, reason) = sockets::too_big_close(max_message, "per message");
                        let _ = conn.out.send(Message::Close(Some(CloseFrame {
                            code,
                            reason: Utf8Bytes::from(reason),
                        }))).await;
                        closed_by_us = true;
                        break;
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                },
                _ = ping.tick() => {
                    missed_pongs += 1;
                    if missed_pongs > 3 {
                        tracing::debug!("dropping a /ws peer that stopped answering pings");
                        break;
                    }
                    let _ = conn.out.try_send(Message::Ping(Default::default()));
                }
                ended = &mut revoked, if watching => {
                    let Ok(err) = ended else {
                        watching = false;
                        continue;
                    };
                    let reason = format!("credentials no longer valid: {}", err.public_message());
                    let _ = conn.out.send(Message::Close(Some(CloseFrame {
                        code: axum::extract::ws::close_code::POLICY,
                        reason: Utf8Bytes::from(truncate(&reason, 120)),
                    }))).await;
                    closed_by_us = true;
                    break;
                }
                _ = shutdown.changed() => {
                    let _ = conn.out.send(Message::Close(Some(CloseFrame {
                        code: axum::extract::ws::close_code::AWAY,
                        reason: Utf8Bytes::from_static(sockets::SHUTDOWN_REASON),
                    }))).await;
                    closed_by_us = true;
                    break;
                }
            }
        }
        drop(revoked);
        for (_, task) in conn.subscriptions.drain() {
            task.abort();
        }
        drop(conn);
        let _ = writer.await;
        if closed_by_us {
            sockets::await_close_reply(&mut stream).await;
        }
    }

    async fn handle(&mut self, raw: &str) {
        let msg = match serde_json::from_str::<ClientMessage>(raw) {
            Ok(m) => m,
            Err(e) => {
                let _ = self
                    .out
                    .send(error_message(
                        "bad_request",
                        &format!("cannot read message: {e}"),
                        None,
                    ))
                    .await;
                return;
            }
        };
        match msg {
            ClientMessage::Ping => {
                let _ = self.out.send(text(json!({ "type": "pong" }))).await;
            }
            ClientMessage::Unsubscribe { id } => {
                let id = id.unwrap_or_default();
                let found = self.subscriptions.remove(&id).map(|t| t.abort()).is_some();
                let reply = if found {
                    text(json!({ "type": "unsubscribed", "id": id }))
                } else {
                    error_message("not_found", &format!("no subscription '{id}'"), Some(&id))
                };
                let _ = self.out.send(reply).await;
            }
            ClientMessage::Subscribe(req) => {
                self.next_sub += 1;
                let id = req
                    .id
                    .clone()
                    .unwrap_or_else(|| format!("sub-{}", self.next_sub));
                if let Some(old) = self.subscriptions.remove(&id) {
                    old.abort();
                }
                if self.subscriptions.len() >= MAX_SUBSCRIPTIONS {
                    let msg = format!("at most {MAX_SUBSCRIPTIONS} subscriptions per connection");
                    let _ = self
                        .out
                        .send(error_message("bad_request", &msg, Some(&id)))
                        .await;
                    return;
                }
                // Acknowledge only once the subscription's cursor is fixed; the
                // reply names it, so a client that reconnects before seeing any
                // event can resume from there without a gap.
                let events = async {
                    let q = req.to_query();
                    let filter = self.ats.event_filter(&self.viewer, &q).await?;
                    let after = match q.after {
                        Some(after) => after,
                        None => self.ats.max_event_id().await?,
                    };
                    let events = self
                        .ats
                        .subscribe_events(&self.viewer, filter, Some(after))
                        .await?;
                    Ok::<_, Error>((after, events))
                }
                .await;
                match events {
                    Ok((after, events)) => {
                        let _ = self
                            .out
                            .send(text(
                                json!({ "type": "subscribed", "id": id, "after": after }),
                            ))
                            .await;
                        let task = spawn_forwarder(
                            self.ats.clone(),
                            self.out.clone(),
                            id.clone(),
                            events,
                            Some(after),
                        );
                        self.subscriptions.insert(id, task);
                    }
                    Err(e) => {
                        let _ = self.out.send(text(error_of(&e, &id))).await;
                    }
                }
            }
        }
    }
}

impl SubscribeRequest {
    fn to_query(&self) -> EventQuery {
        EventQuery {
            projects: self.projects.clone(),
            channels: self.channels.clone(),
            task_types: self.task_types.clone(),
            event_types: self.event_types.clone(),
            task_id: self.task_id,
            after: self.after,
        }
    }
}

/// At most `max` bytes of `s`, cut at a character boundary (close reasons
/// are limited to 123 bytes).
fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// An event as a subscription delivers it: the event object, and the id of
/// the subscription.
#[derive(serde::Serialize)]
struct Delivered<'a> {
    #[serde(flatten)]
    event: &'a EventView,
    subscription_id: &'a str,
}

/// Forwards one subscription's events to the connection's outbox.
fn spawn_forwarder(
    ats: Ats,
    out: mpsc::Sender<Message>,
    id: String,
    mut events: mpsc::Receiver<SubscriptionItem>,
    after: Option<i64>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut last = after.unwrap_or(0);
        loop {
            match events.recv().await {
                Some(SubscriptionItem::Event(e)) => {
                    last = e.position.unwrap_or(last);
                    let event = ats.live_event_view(&e);
                    let delivered = Delivered {
                        event: &event,
                        subscription_id: &id,
                    };
                    let json = serde_json::to_string(&delivered).unwrap_or_default();
                    if out
                        .send(Message::Text(Utf8Bytes::from(json)))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Some(SubscriptionItem::Expired {
                    after,
                    pruned_through,
                }) => {
                    // The pruner passed the cursor while the subscription caught up.
                    let mut msg = error_of(&Error::cursor_expired(after, pruned_through), &id);
                    msg["subscription_id"] = json!(id);
                    msg["last_id"] = json!(last);
                    let _ = out.send(text(msg)).await;
                    return;
                }
                Some(SubscriptionItem::Lagged { .. }) | None => {
                    let msg = json!({
                        "type": "error",
                        "code": "lagged",
                        "id": id,
                        "subscription_id": id,
                        "last_id": last,
                        "message": "this subscription fell too far behind and was ended; subscribe again with after = last_id",
                    });
                    let _ = out.send(text(msg)).await;
                    return;
                }
            }
        }
    })
}
