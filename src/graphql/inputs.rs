//! GraphQL input objects and their conversion to service inputs.

use super::scalars::DateTime;
use async_graphql::{Enum, ID, InputObject, Json, MaybeUndefined};
use serde_json::Value;

use super::GqlResult;
use super::OrGql;
use super::error::bad_request;
use super::types::TaskStatus;
use crate::service::{EventQuery, NewTask, SortBy, TaskPatch, TaskQuery, validate};

/// Which tasks a list returns. A list holds at most 100 values.
#[derive(InputObject, Default, Clone, Debug)]
pub struct TaskFilter {
    pub statuses: Option<Vec<TaskStatus>>,
    pub types: Option<Vec<String>>,
    pub channels: Option<Vec<String>>,
    pub assignee_id: Option<String>,
    pub min_priority: Option<i32>,
    pub max_priority: Option<i32>,
    /// Case-insensitive, over title and description.
    pub search: Option<String>,
    pub created_after: Option<DateTime>,
    pub updated_after: Option<DateTime>,
    /// Org slug.
    pub org: Option<String>,
    /// Project slug (with `org`).
    pub project: Option<String>,
    pub parent_id: Option<ID>,
    /// Only tasks claimable now (true) or not (false).
    pub claimable: Option<bool>,
    /// Only open tasks past their deadline (true) or the others (false).
    pub overdue: Option<bool>,
}

/// Sort keys of a task list.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum TaskOrderField {
    CreatedAt,
    UpdatedAt,
    Priority,
    Title,
}

/// Sort direction.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum OrderDirection {
    Asc,
    Desc,
}

/// How a task list is sorted.
#[derive(InputObject, Clone, Copy, Debug)]
pub struct TaskOrder {
    pub field: TaskOrderField,
    pub direction: OrderDirection,
}

/// Parses a GraphQL ID as a numeric id.
pub fn numeric_id(field: &str, id: &ID) -> GqlResult<i64> {
    id.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
        bad_request(format!(
            "{field} must be a positive integer id, got '{}'",
            id.as_str()
        ))
    })
}

impl TaskFilter {
    /// The service query for this filter and order (page set by the caller).
    pub fn to_query(&self, order: Option<TaskOrder>) -> GqlResult<TaskQuery> {
        let order = order.unwrap_or(TaskOrder {
            field: TaskOrderField::CreatedAt,
            direction: OrderDirection::Desc,
        });
        Ok(TaskQuery {
            statuses: self
                .statuses
                .iter()
                .flatten()
                .map(|s| (*s).into())
                .collect(),
            types: self.types.clone().unwrap_or_default(),
            channels: self.channels.clone().unwrap_or_default(),
            assignee_id: self.assignee_id.clone(),
            priority: None,
            min_priority: validate::priority_filter(
                "minPriority",
                self.min_priority.map(i64::from),
            )
            .gql()?,
            max_priority: validate::priority_filter(
                "maxPriority",
                self.max_priority.map(i64::from),
            )
            .gql()?,
            search: self.search.clone(),
            created_after: self.created_after.map(|t| t.0),
            updated_after: self.updated_after.map(|t| t.0),
            project_id: None,
            parent_id: self
                .parent_id
                .as_ref()
                .map(|p| numeric_id("parentId", p))
                .transpose()?,
            org: self.org.clone(),
            claimable: self.claimable,
            overdue: self.overdue,
            sort_by: match order.field {
                TaskOrderField::CreatedAt => SortBy::CreatedAt,
                TaskOrderField::UpdatedAt => SortBy::UpdatedAt,
                TaskOrderField::Priority => SortBy::Priority,
                TaskOrderField::Title => SortBy::Title,
            },
            ascending: order.direction == OrderDirection::Asc,
            ..TaskQuery::default()
        })
    }
}

/// Which events a history read or subscription yields. Empty means all; a
/// list holds at most 100 values.
#[derive(InputObject, Default, Clone, Debug)]
pub struct TaskEventFilter {
    /// `org/project` paths.
    pub projects: Option<Vec<String>>,
    pub channels: Option<Vec<String>>,
    pub task_types: Option<Vec<String>>,
    pub event_types: Option<Vec<String>>,
    pub task_id: Option<ID>,
}

impl TaskEventFilter {
    /// What the reader asks, in the service's terms.
    pub fn to_query(&self, after: Option<&ID>) -> GqlResult<EventQuery> {
        Ok(EventQuery {
            projects: self.projects.clone().unwrap_or_default(),
            channels: self.channels.clone().unwrap_or_default(),
            task_types: self.task_types.clone().unwrap_or_default(),
            event_types: self.event_types.clone().unwrap_or_default(),
            task_id: self
                .task_id
                .as_ref()
                .map(|t| numeric_id("taskId", t))
                .transpose()?,
            after: after
                .map(|a| {
                    a.parse::<i64>()
                        .map_err(|_| bad_request("after must be an event id"))
                })
                .transpose()?,
        })
    }
}

/// A new task. `org`/`project` default to `default`/`main`.
#[derive(InputObject, Clone, Debug)]
pub struct CreateTaskInput {
    pub title: String,
    pub description: Option<String>,
    #[graphql(name = "type")]
    pub task_type: Option<String>,
    pub channel: Option<String>,
    pub priority: Option<i32>,
    pub payload: Option<Json<Value>>,
    pub parent_id: Option<ID>,
    pub max_attempts: Option<i32>,
    /// Tasks (same org) that must complete before this one can be claimed.
    pub depends_on: Option<Vec<ID>>,
    /// When it may first be claimed; until then it waits, pending.
    pub run_at: Option<DateTime>,
    /// How failed attempts are retried.
    pub retry: Option<RetryPolicyInput>,
    /// When it is due; still open then, it escalates.
    pub due_at: Option<DateTime>,
    /// Once overdue this long (ms), it escalates to the org's owners and admins.
    pub escalate_after_ms: Option<i32>,
    pub org: Option<String>,
    pub project: Option<String>,
}

impl CreateTaskInput {
    /// The service input.
    pub fn to_new_task(&self) -> GqlResult<NewTask> {
        Ok(NewTask {
            title: Some(self.title.clone()),
            description: self.description.clone(),
            task_type: self.task_type.clone(),
            channel: self.channel.clone(),
            priority: self.priority.map(i64::from),
            payload: self.payload.as_ref().map(|p| p.0.clone()),
            parent_id: self
                .parent_id
                .as_ref()
                .map(|p| numeric_id("parentId", p))
                .transpose()?,
            max_attempts: self.max_attempts.map(i64::from),
            depends_on: self
                .depends_on
                .as_ref()
                .map(|d| {
                    d.iter()
                        .map(|i| numeric_id("dependsOn", i))
                        .collect::<GqlResult<Vec<i64>>>()
                })
                .transpose()?,
            run_at: self.run_at.map(|t| crate::time::format(&t.0)),
            retry: self.retry.as_ref().map(RetryPolicyInput::to_json),
            due_at: self.due_at.map(|t| crate::time::format(&t.0)),
            escalate_after_ms: self.escalate_after_ms.map(i64::from),
        })
    }
}

/// Changes to a task; `status` goes through the lifecycle rules.
#[derive(InputObject, Clone, Debug, Default)]
pub struct UpdateTaskInput {
    pub title: Option<String>,
    /// `null` clears it.
    pub description: MaybeUndefined<String>,
    pub priority: Option<i32>,
    #[graphql(name = "type")]
    pub task_type: Option<String>,
    pub channel: Option<String>,
    pub payload: Option<Json<Value>>,
    pub status: Option<TaskStatus>,
    /// `null` removes the cap.
    pub max_attempts: MaybeUndefined<i32>,
    /// Replaces the blockers (task ids of the same org).
    pub depends_on: Option<Vec<ID>>,
    /// When it may be claimed; `null` means at once.
    pub run_at: MaybeUndefined<DateTime>,
    /// A new retry policy; `null` removes it.
    pub retry: MaybeUndefined<RetryPolicyInput>,
    /// A new deadline; `null` removes it.
    pub due_at: MaybeUndefined<DateTime>,
    /// `null` removes it.
    pub escalate_after_ms: MaybeUndefined<i32>,
}

/// How a task's failed attempts are retried; every field has a default.
#[derive(InputObject, Clone, Debug, Default)]
pub struct RetryPolicyInput {
    /// Default `EXPONENTIAL`.
    pub backoff: Option<Backoff>,
    /// The first delay in ms (default 10 000).
    pub initial_ms: Option<i32>,
    /// The longest delay in ms (default 3 600 000).
    pub max_ms: Option<i32>,
    /// Spread each delay between half and all of itself (default true).
    pub jitter: Option<bool>,
}

impl RetryPolicyInput {
    /// The policy as the service reads it.
    pub fn to_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        if let Some(b) = self.backoff {
            m.insert(
                "backoff".into(),
                Value::from(match b {
                    Backoff::Exponential => "exponential",
                    Backoff::Fixed => "fixed",
                }),
            );
        }
        if let Some(v) = self.initial_ms {
            m.insert("initial_ms".into(), v.into());
        }
        if let Some(v) = self.max_ms {
            m.insert("max_ms".into(), v.into());
        }
        if let Some(v) = self.jitter {
            m.insert("jitter".into(), v.into());
        }
        Value::Object(m)
    }
}

/// How retry delays grow.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum Backoff {
    /// Doubling from `initialMs` up to `maxMs`.
    Exponential,
    /// `initialMs` every time.
    Fixed,
}

fn maybe<T: Clone, U>(m: &MaybeUndefined<T>, f: impl Fn(T) -> U) -> Option<Option<U>> {
    match m {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(f(v.clone()))),
    }
}

impl UpdateTaskInput {
    /// The service patch.
    pub fn to_patch(&self) -> GqlResult<TaskPatch> {
        Ok(TaskPatch {
            title: self.title.clone(),
            description: maybe(&self.description, |d| d),
            priority: self.priority.map(i64::from),
            task_type: self.task_type.clone(),
            channel: self.channel.clone(),
            payload: self.payload.as_ref().map(|p| p.0.clone()),
            status: self
                .status
                .map(|s| crate::service::TaskStatus::from(s).as_str().to_owned()),
            max_attempts: maybe(&self.max_attempts, i64::from),
            run_at: maybe(&self.run_at, |t| crate::time::format(&t.0)),
            retry: maybe(&self.retry, |r| r.to_json()),
            due_at: maybe(&self.due_at, |t| crate::time::format(&t.0)),
            escalate_after_ms: maybe(&self.escalate_after_ms, i64::from),
            depends_on: self
                .depends_on
                .as_ref()
                .map(|d| {
                    d.iter()
                        .map(|i| numeric_id("dependsOn", i))
                        .collect::<GqlResult<Vec<i64>>>()
                })
                .transpose()?,
        })
    }
}

/// One part of a message.
#[derive(InputObject, Clone, Debug)]
pub struct MessagePartInput {
    /// `text`, `data`, `url` or `file`.
    #[graphql(name = "type")]
    pub part_type: String,
    /// Text for `text`; any JSON for `data`.
    pub content: Option<Json<Value>>,
    pub url: Option<String>,
    pub mime: Option<String>,
    pub name: Option<String>,
}

impl MessagePartInput {
    /// The part as JSON, for the service's validation.
    pub fn to_json(&self) -> Value {
        let mut v = serde_json::json!({ "type": self.part_type });
        if let Some(c) = &self.content {
            v["content"] = c.0.clone();
        }
        for (k, val) in [
            ("url", &self.url),
            ("mime", &self.mime),
            ("name", &self.name),
        ] {
            if let Some(val) = val {
                v[k] = Value::String(val.clone());
            }
        }
        v
    }
}

/// A new organization.
#[derive(InputObject, Clone, Debug)]
pub struct CreateOrganizationInput {
    pub slug: String,
    pub name: Option<String>,
    pub description: Option<String>,
}

/// Changes to an organization.
#[derive(InputObject, Clone, Debug, Default)]
pub struct UpdateOrganizationInput {
    pub slug: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
}

/// A new project.
#[derive(InputObject, Clone, Debug)]
pub struct CreateProjectInput {
    pub slug: String,
    pub name: Option<String>,
    pub description: Option<String>,
}

/// Changes to a project.
#[derive(InputObject, Clone, Debug, Default)]
pub struct UpdateProjectInput {
    pub slug: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
}
