//! Messages on a task's thread.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::Ats;
use super::access::Access;
use super::event_log::{NewEvent, record};
use super::idempotency::{self, Idempotency};
use super::tasks::Scope;
use super::viewer::Viewer;
use super::views::{MessageView, TaskView};
use crate::entity::message;
use crate::error::{Error, Result};
use crate::time;

/// Most parts one message may have.
pub const MAX_PARTS: usize = 100;
/// Largest message, serialized, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// A message to post.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
pub struct NewMessage {
    /// `[{type, content}]`: `text`, `data` (JSON content), `url`, or `file` (with `url`, `mime`).
    #[schema(schema_with = super::documented::message_parts, required = true)]
    pub parts: Option<Vec<Value>>,
}

fn part(i: usize, p: &Value) -> Result<Value> {
    let bad = |msg: &str| Error::validation(format!("parts[{i}]: {msg}"));
    let obj = p.as_object().ok_or_else(|| bad("must be an object"))?;
    let kind = obj
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("needs a type: text, data, url or file"))?;
    let mut out = Map::new();
    out.insert("type".into(), json!(kind));
    match kind {
        "text" => {
            let text = obj
                .get("content")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("a text part needs string content"))?;
            out.insert("content".into(), json!(text));
        }
        "data" => {
            let content = obj
                .get("content")
                .ok_or_else(|| bad("a data part needs content"))?;
            out.insert("content".into(), content.clone());
        }
        "url" | "file" => {
            let url = obj
                .get("url")
                .or_else(|| obj.get("content"))
                .and_then(Value::as_str)
                .filter(|u| !u.trim().is_empty())
                .ok_or_else(|| bad("a url or file part needs a url"))?;
            out.insert("url".into(), json!(url));
            if let Some(content) = obj.get("content") {
                out.insert("content".into(), content.clone());
            }
            if let Some(mime) = obj.get("mime") {
                let mime = mime.as_str().ok_or_else(|| bad("mime must be a string"))?;
                out.insert("mime".into(), json!(mime));
            } else if kind == "file" {
                return Err(bad("a file part needs a mime type"));
            }
            if let Some(name) = obj.get("name").and_then(Value::as_str) {
                out.insert("name".into(), json!(name));
            }
        }
        other => {
            return Err(bad(&format!(
                "unknown part type '{other}': expected text, data, url or file"
            )));
        }
    }
    Ok(Value::Object(out))
}

/// Checks and normalizes message parts.
pub fn parts(parts: Option<Vec<Value>>) -> Result<Value> {
    let parts = parts.ok_or_else(|| Error::validation("parts is required"))?;
    if parts.is_empty() || parts.len() > MAX_PARTS {
        return Err(Error::validation(format!(
            "parts must have 1 to {MAX_PARTS} items"
        )));
    }
    let parts = Value::Array(
        parts
            .iter()
            .enumerate()
            .map(|(i, p)| part(i, p))
            .collect::<Result<_>>()?,
    );
    if parts.to_string().len() > MAX_MESSAGE_BYTES {
        return Err(Error::validation(format!(
            "a message must be at most {MAX_MESSAGE_BYTES} bytes"
        )));
    }
    Ok(parts)
}

impl Ats {
    /// Posts a message on a task's thread (`task.message`).
    pub async fn add_message(
        &self,
        viewer: &Viewer,
        scope: &Scope,
        task_id: i64,
        input: NewMessage,
    ) -> Result<MessageView> {
        self.add_message_keyed(viewer, scope, task_id, input, None)
            .await
    }

    /// [`Ats::add_message`] under an idempotency key.
    pub async fn add_message_keyed(
        &self,
        viewer: &Viewer,
        scope: &Scope,
        task_id: i64,
        input: NewMessage,
        idem: Option<&Idempotency>,
    ) -> Result<MessageView> {
        let rights = self.rights(viewer).await?;
        let actor = rights.actor();
        let parts = parts(input.parts)?;
        let w = self.store.begin_write().await?;
        if let Some(done) = idempotency::reserve(&w.txn, actor, idem).await? {
            return Ok(done);
        }
        let (t, loc, _) = self
            .find_task_in(&w.txn, &rights, scope, task_id, Access::Write)
            .await?;
        let m = message::ActiveModel {
            task_id: Set(task_id),
            actor_type: Set(actor.actor_type.as_str().to_owned()),
            actor_id: Set(actor.id.clone()),
            actor_name: Set(actor.name.clone()),
            parts: Set(parts),
            created_at: Set(time::now()),
            ..Default::default()
        }
        .insert(&w.txn)
        .await?;
        let view = MessageView::from(m);
        let task = TaskView::new(t, &loc);
        record(
            &w.txn,
            &[NewEvent {
                event_type: "task.message",
                actor,
                task: &task,
                loc: &loc,
                extra: Some((
                    "message",
                    serde_json::to_value(&view).unwrap_or(Value::Null),
                )),
            }],
        )
        .await?;
        idempotency::remember(&w.txn, actor, idem, &view).await?;
        w.commit().await?;
        self.bus.committed();
        Ok(view)
    }

    /// A task's messages with id > `after`, oldest first.
    pub async fn list_messages(
        &self,
        viewer: &Viewer,
        scope: &Scope,
        task_id: i64,
        after: i64,
        limit: u64,
    ) -> Result<Vec<MessageView>> {
        self.find_task(viewer, scope, task_id).await?;
        let rows = message::Entity::find()
            .filter(message::Column::TaskId.eq(task_id))
            .filter(message::Column::Id.gt(after))
            .order_by_asc(message::Column::Id)
            .limit(limit)
            .all(self.store.conn())
            .await?;
        Ok(rows.into_iter().map(MessageView::from).collect())
    }
}
