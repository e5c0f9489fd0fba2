//! Webhooks of an org (create, list, change, delete, rotate the secret) and
//! their delivery log. Only the org's admins and owners see them; to anyone
//! else, and in the `default` org (which has no owners), they answer 404.
//!
//! Deliveries are made by [`super::webhook_delivery`].

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use rand::RngExt;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::access::Access;
use super::audit::{self, AuditRecord, Target};
use super::paging::{Overflow, PageRule};
use super::tasks::DEFAULT_ORG;
use super::viewer::Viewer;
use super::webhook_url::UrlPolicy;
use super::{Ats, validate};
use crate::config::{Config, DEFAULT_RETRY_SCHEDULE, RetrySchedule};
use crate::entity::{org, project, webhook, webhook_delivery};
use crate::error::{Error, Result};
use crate::time::{self, rfc3339};

/// The prefix of a webhook secret (Standard Webhooks).
pub const SECRET_PREFIX: &str = "whsec_";
/// How long the secret before a rotation keeps signing beside the new one.
pub const ROTATION_OVERLAP: Duration = Duration::from_secs(24 * 3600);
/// Most webhooks one org may have.
pub const MAX_WEBHOOKS: u64 = 100;
/// Most entries of `events` or `projects`.
const MAX_LIST: usize = 100;

/// Delivery and audit lists: newest first.
pub const OUTBOUND_PAGE: PageRule = PageRule {
    default: 50,
    max: 500,
};

/// Every task event a webhook may ask for (besides `*`, `task.*`, `audit.*`
/// and `audit.<action>`).
pub const TASK_EVENTS: &[&str] = &[
    "task.created",
    "task.updated",
    "task.deleted",
    "task.claimed",
    "task.completed",
    "task.failed",
    "task.rejected",
    "task.cancelled",
    "task.reopened",
    "task.message",
    "task.handoff",
    "task.unblocked",
    "task.lease_expired",
    "task.lease_renewed",
];

/// How webhooks behave on this server (from [`Config`]).
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// Where webhooks may point.
    pub urls: UrlPolicy,
    /// Delays between attempts; after the last, a delivery has failed.
    pub schedule: Vec<Duration>,
    /// How long deliveries may keep failing before the webhook is disabled.
    pub disable_after: Option<Duration>,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            urls: UrlPolicy::default(),
            schedule: RetrySchedule::parse(DEFAULT_RETRY_SCHEDULE)
                .map(|s| s.0)
                .unwrap_or_default(),
            disable_after: Some(Duration::from_secs(3 * 24 * 3600)),
        }
    }
}

impl WebhookSettings {
    /// The settings `ATS_WEBHOOK_*` configure.
    pub fn from_config(config: &Config) -> Self {
        Self {
            urls: UrlPolicy {
                allow_http: config.webhook_allow_http,
                allow_private: config.webhook_allow_private,
            },
            schedule: config.webhook_retry_schedule.0.clone(),
            disable_after: config.webhook_disable_after.0,
        }
    }
}

/// A webhook as its org's admins see it (never its secret).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: i64,
    pub org: String,
    pub url: String,
    /// Event names (`task.created`, `audit.member.added`, …), `task.*`,
    /// `audit.*`, or `*` for every event.
    pub events: Vec<String>,
    /// Project slugs whose task events are delivered (null: every project).
    pub projects: Option<Vec<String>>,
    pub description: Option<String>,
    /// False once disabled (by a `PATCH`, or after failing too long).
    pub active: bool,
    #[serde(with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "rfc3339")]
    pub updated_at: DateTime<Utc>,
    /// When the server disabled it for failing too long (null otherwise).
    #[serde(with = "rfc3339::option")]
    pub disabled_at: Option<DateTime<Utc>>,
}

/// `POST /orgs/{org}/webhooks`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct NewWebhook {
    /// Required: `https://…` (`http://` only where the server allows it);
    /// it must not resolve to a loopback, private or link-local address.
    #[schema(required = true, value_type = String, max_length = 2048)]
    pub url: Option<String>,
    /// Required: event names, `task.*`, `audit.*`, or `["*"]`.
    #[schema(required = true, value_type = Vec<String>)]
    pub events: Option<Vec<String>>,
    /// Project slugs of the org (default: every project).
    pub projects: Option<Vec<String>>,
    /// At most 64 KiB (UTF-8); blank means none.
    #[schema(max_length = 65536)]
    pub description: Option<String>,
}

/// `PATCH /orgs/{org}/webhooks/{id}`: what is given changes.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct WebhookPatch {
    /// A new URL, checked as on creation.
    #[schema(max_length = 2048)]
    pub url: Option<String>,
    /// New event names.
    pub events: Option<Vec<String>>,
    /// New project slugs; `[]` means every project.
    pub projects: Option<Vec<String>>,
    /// A new description (blank: none).
    #[schema(max_length = 65536)]
    pub description: Option<String>,
    /// Enable or disable; enabling resumes pending deliveries.
    pub active: Option<bool>,
}

/// One event to deliver to one webhook, and how its attempts went.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: i64,
    pub webhook_id: i64,
    /// The `webhook-id` header, the same on every attempt.
    pub message_id: String,
    /// The event's id (task events).
    pub event_id: Option<i64>,
    /// The audit record's id (`audit.*` events).
    pub audit_id: Option<i64>,
    pub event_type: String,
    /// `pending`, `succeeded` or `failed`.
    pub status: String,
    pub attempts: i32,
    /// The HTTP status of the last attempt (null: no answer).
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    #[serde(with = "rfc3339::option")]
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// When the next attempt is due (null unless pending).
    #[serde(with = "rfc3339::option")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[serde(with = "rfc3339")]
    pub created_at: DateTime<Utc>,
}

impl From<webhook_delivery::Model> for DeliveryView {
    fn from(d: webhook_delivery::Model) -> Self {
        Self {
            id: d.id,
            webhook_id: d.webhook_id,
            message_id: d.message_id,
            event_id: d.event_id,
            audit_id: d.audit_id,
            event_type: d.event_type,
            next_attempt_at: (d.status == delivery_status::PENDING).then_some(d.next_attempt_at),
            status: d.status,
            attempts: d.attempts,
            last_status: d.last_status,
            last_error: d.last_error,
            last_attempt_at: d.last_attempt_at,
            created_at: d.created_at,
        }
    }
}

/// The states of a delivery.
pub mod delivery_status {
    /// Waiting for its next attempt (or in flight).
    pub const PENDING: &str = "pending";
    /// A 2xx answer was received.
    pub const SUCCEEDED: &str = "succeeded";
    /// Every attempt of the schedule failed.
    pub const FAILED: &str = "failed";
    /// Every state.
    pub const ALL: [&str; 3] = [PENDING, SUCCEEDED, FAILED];
}

/// A page of a newest-first list, with the `after` of the next page.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `after` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// A new secret: `whsec_` + base64 of 32 random bytes.
fn new_secret() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// The JSON array text of `list`.
fn json_list(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".to_owned())
}

/// A stored JSON array of strings.
pub(crate) fn stored_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

/// Checks the event names a webhook asks for.
fn parse_events(events: Vec<String>) -> Result<Vec<String>> {
    if events.is_empty() {
        return Err(Error::validation(
            "events must name at least one event (or \"*\" for all)",
        ));
    }
    if events.len() > MAX_LIST {
        return Err(Error::validation(format!(
            "events may hold at most {MAX_LIST} names"
        )));
    }
    let mut out: Vec<String> = Vec::with_capacity(events.len());
    for e in events {
        validate::no_nul(&e)?;
        let known = e == "*"
            || e == "task.*"
            || e == "audit.*"
            || TASK_EVENTS.contains(&e.as_str())
            || e.strip_prefix("audit.")
                .is_some_and(|a| audit::ACTIONS.contains(&a));
        if !known {
            let shown: String = e.chars().take(100).collect();
            return Err(Error::validation(format!(
                "unknown event '{shown}': expected a task event (task.created, …), an audit event (audit.member.added, …), task.*, audit.* or *"
            )));
        }
        if !out.contains(&e) {
            out.push(e);
        }
    }
    Ok(out)
}

/// Whether a webhook asking for `events` wants an event named `name`.
pub(crate) fn wants(events: &[String], name: &str) -> bool {
    events.iter().any(|e| {
        e == "*"
            || e == name
            || (e == "task.*" && name.starts_with("task."))
            || (e == "audit.*" && name.starts_with("audit."))
    })
}

/// Parses a cursor of a newest-first list (an id); `None` when absent.
pub(crate) fn parse_cursor(after: Option<&str>) -> Result<Option<i64>> {
    after
        .map(|a| {
            a.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                Error::bad_request(format!(
                    "invalid cursor '{}'",
                    a.chars().take(40).collect::<String>()
                ))
            })
        })
        .transpose()
}

impl Ats {
    /// The org `slug` if the viewer administers it; 404 otherwise (to
    /// outsiders, to members without admin rights, and in `default`).
    pub(crate) async fn administered_org<C: ConnectionTrait>(
        &self,
        db: &C,
        viewer: &Viewer,
        slug: &str,
    ) -> Result<org::Model> {
        let rights = self.rights(viewer).await?;
        let (o, standing) = self.visible_org(db, &rights, slug).await?;
        if o.slug == DEFAULT_ORG || standing.base < Access::Admin {
            return Err(Error::not_found(format!("organization '{slug}' not found")));
        }
        viewer.require_full_credential("manage webhooks or read the audit log")?;
        Ok(o)
    }

    async fn webhook_in<C: ConnectionTrait>(
        &self,
        db: &C,
        org_id: i32,
        id: i64,
    ) -> Result<webhook::Model> {
        webhook::Entity::find_by_id(id)
            .filter(webhook::Column::OrgId.eq(org_id))
            .one(db)
            .await?
            .ok_or_else(|| Error::not_found(format!("webhook {id} not found")))
    }

    /// The project slugs a webhook is limited to (`None`: all), each a project of the org.
    async fn webhook_projects<C: ConnectionTrait>(
        &self,
        db: &C,
        org_id: i32,
        projects: Vec<String>,
    ) -> Result<Option<Vec<String>>> {
        if projects.is_empty() {
            return Ok(None);
        }
        if projects.len() > MAX_LIST {
            return Err(Error::validation(format!(
                "projects may hold at most {MAX_LIST} slugs"
            )));
        }
        let mut out: Vec<String> = Vec::with_capacity(projects.len());
        for p in projects {
            let slug = validate::slug("projects", &p)?;
            if !out.contains(&slug) {
                out.push(slug);
            }
        }
        let found = project::Entity::find()
            .filter(project::Column::OrgId.eq(org_id))
            .filter(project::Column::Slug.is_in(out.clone()))
            .count(db)
            .await?;
        if found as usize != out.len() {
            return Err(Error::validation(
                "projects must name projects of this organization",
            ));
        }
        Ok(Some(out))
    }

    fn webhook_view(&self, o: &org::Model, w: webhook::Model) -> WebhookView {
        WebhookView {
            id: w.id,
            org: o.slug.clone(),
            url: w.url,
            events: stored_list(&w.events),
            projects: w.projects.as_deref().map(stored_list),
            description: w.description,
            active: w.active,
            created_at: w.created_at,
            updated_at: w.updated_at,
            disabled_at: w.disabled_at,
        }
    }

    /// Creates a webhook; returns it with its secret (shown this once).
    pub async fn create_webhook(
        &self,
        viewer: &Viewer,
        slug: &str,
        input: NewWebhook,
    ) -> Result<(WebhookView, String)> {
        self.administered_org(self.store.conn(), viewer, slug)
            .await?;
        let url = input
            .url
            .as_deref()
            .ok_or_else(|| Error::validation("url is required"))?;
        let events = parse_events(
            input
                .events
                .ok_or_else(|| Error::validation("events is required"))?,
        )?;
        let description = validate::description(input.description)?;
        let url = self.webhooks.urls.check(url).await?;
        // Events up to here predate the webhook.
        let after = self.max_event_id().await?;
        let secret = new_secret();
        let w = self.store.begin_write().await?;
        let o = self.administered_org(&w.txn, viewer, slug).await?;
        let projects = self
            .webhook_projects(&w.txn, o.id, input.projects.unwrap_or_default())
            .await?;
        let count = webhook::Entity::find()
            .filter(webhook::Column::OrgId.eq(o.id))
            .count(&w.txn)
            .await?;
        if count >= MAX_WEBHOOKS {
            return Err(Error::conflict(format!(
                "an organization may have at most {MAX_WEBHOOKS} webhooks"
            )));
        }
        let now = time::now();
        let actor = viewer.actor();
        let row = webhook::ActiveModel {
            org_id: Set(o.id),
            url: Set(url.to_string()),
            events: Set(json_list(&events)),
            projects: Set(projects.as_deref().map(json_list)),
            description: Set(description),
            active: Set(true),
            secret: Set(secret.clone()),
            previous_secret: Set(None),
            previous_secret_expires_at: Set(None),
            after_position: Set(after),
            failing_since: Set(None),
            disabled_at: Set(None),
            created_by_type: Set(actor.actor_type.as_str().to_owned()),
            created_by_id: Set(actor.id.clone()),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&w.txn)
        .await?;
        let view = self.webhook_view(&o, row);
        self.audit(
            &w.txn,
            AuditRecord::new(o.id, "webhook.created", viewer)
                .target(Target::Webhook(view.id))
                .data(serde_json::json!({ "url": view.url, "events": view.events, "projects": view.projects })),
        )
        .await?;
        w.commit().await?;
        Ok((view, secret))
    }

    /// The org's webhooks, oldest first.
    pub async fn list_webhooks(&self, viewer: &Viewer, slug: &str) -> Result<Vec<WebhookView>> {
        let db = self.store.conn();
        let o = self.administered_org(db, viewer, slug).await?;
        Ok(webhook::Entity::find()
            .filter(webhook::Column::OrgId.eq(o.id))
            .order_by_asc(webhook::Column::Id)
            .all(db)
            .await?
            .into_iter()
            .map(|w| self.webhook_view(&o, w))
            .collect())
    }

    /// One webhook.
    pub async fn get_webhook(&self, viewer: &Viewer, slug: &str, id: i64) -> Result<WebhookView> {
        let db = self.store.conn();
        let o = self.administered_org(db, viewer, slug).await?;
        let w = self.webhook_in(db, o.id, id).await?;
        Ok(self.webhook_view(&o, w))
    }

    /// Changes a webhook's URL, events, projects, description or state.
    pub async fn update_webhook(
        &self,
        viewer: &Viewer,
        slug: &str,
        id: i64,
        patch: WebhookPatch,
    ) -> Result<WebhookView> {
        self.administered_org(self.store.conn(), viewer, slug)
            .await?;
        let events = patch.events.map(parse_events).transpose()?;
        let description = validate::description(patch.description.clone())?;
        let url = match patch.url.as_deref() {
            Some(u) => Some(self.webhooks.urls.check(u).await?),
            None => None,
        };
        let w = self.store.begin_write().await?;
        let o = self.administered_org(&w.txn, viewer, slug).await?;
        let current = self.webhook_in(&w.txn, o.id, id).await?;
        let mut row = current.clone().into_active_model();
        let mut changed = Vec::new();
        if let Some(url) = url {
            row.url = Set(url.to_string());
            changed.push("url");
        }
        if let Some(events) = events {
            row.events = Set(json_list(&events));
            changed.push("events");
        }
        if let Some(projects) = patch.projects {
            let projects = self.webhook_projects(&w.txn, o.id, projects).await?;
            row.projects = Set(projects.as_deref().map(json_list));
            changed.push("projects");
        }
        if patch.description.is_some() {
            row.description = Set(description);
            changed.push("description");
        }
        if let Some(active) = patch.active {
            row.active = Set(active);
            if active && !current.active {
                // A fresh start: failures before the pause do not count,
                // and events of the pause are not sent.
                row.failing_since = Set(None);
                row.disabled_at = Set(None);
                row.after_position = Set(self.max_event_id().await?);
            }
            changed.push("active");
        }
        row.updated_at = Set(time::now());
        let updated = row.update(&w.txn).await?;
        let view = self.webhook_view(&o, updated);
        self.audit(
            &w.txn,
            AuditRecord::new(o.id, "webhook.updated", viewer)
                .target(Target::Webhook(id))
                .data(serde_json::json!({ "changed": changed, "active": view.active })),
        )
        .await?;
        w.commit().await?;
        Ok(view)
    }

    /// Deletes a webhook with its delivery log.
    pub async fn delete_webhook(&self, viewer: &Viewer, slug: &str, id: i64) -> Result<()> {
        let w = self.store.begin_write().await?;
        let o = self.administered_org(&w.txn, viewer, slug).await?;
        let hook = self.webhook_in(&w.txn, o.id, id).await?;
        webhook_delivery::Entity::delete_many()
            .filter(webhook_delivery::Column::WebhookId.eq(id))
            .exec(&w.txn)
            .await?;
        webhook::Entity::delete_by_id(id).exec(&w.txn).await?;
        self.audit(
            &w.txn,
            AuditRecord::new(o.id, "webhook.deleted", viewer)
                .target(Target::Webhook(id))
                .data(serde_json::json!({ "url": hook.url })),
        )
        .await?;
        w.commit().await?;
        Ok(())
    }

    /// Issues a new secret (returned this once); for the next 24 h
    /// deliveries carry signatures by both the new and the old one.
    pub async fn rotate_webhook_secret(
        &self,
        viewer: &Viewer,
        slug: &str,
        id: i64,
    ) -> Result<(WebhookView, String)> {
        let secret = new_secret();
        let w = self.store.begin_write().await?;
        let o = self.administered_org(&w.txn, viewer, slug).await?;
        let current = self.webhook_in(&w.txn, o.id, id).await?;
        let now = time::now();
        let until = now + chrono::Duration::from_std(ROTATION_OVERLAP).unwrap_or_default();
        let mut row = current.clone().into_active_model();
        row.previous_secret = Set(Some(current.secret));
        row.previous_secret_expires_at = Set(Some(until));
        row.secret = Set(secret.clone());
        row.updated_at = Set(now);
        let updated = row.update(&w.txn).await?;
        self.audit(
            &w.txn,
            AuditRecord::new(o.id, "webhook.secret_rotated", viewer).target(Target::Webhook(id)),
        )
        .await?;
        w.commit().await?;
        Ok((self.webhook_view(&o, updated), secret))
    }

    /// A webhook's deliveries, newest first, optionally only those in `status`.
    pub async fn list_deliveries(
        &self,
        viewer: &Viewer,
        slug: &str,
        id: i64,
        status: Option<&str>,
        after: Option<&str>,
        first: Option<i64>,
    ) -> Result<Page<DeliveryView>> {
        if let Some(s) = status
            && !delivery_status::ALL.contains(&s)
        {
            let shown: String = s.chars().take(40).collect();
            return Err(Error::bad_request(format!(
                "unknown status '{shown}': expected pending, succeeded or failed"
            )));
        }
        let after = parse_cursor(after)?;
        let size = OUTBOUND_PAGE.size("first", first, Overflow::Clamp)?;
        let db = self.store.conn();
        let o = self.administered_org(db, viewer, slug).await?;
        self.webhook_in(db, o.id, id).await?;
        let mut q =
            webhook_delivery::Entity::find().filter(webhook_delivery::Column::WebhookId.eq(id));
        if let Some(s) = status {
            q = q.filter(webhook_delivery::Column::Status.eq(s));
        }
        if let Some(a) = after {
            q = q.filter(webhook_delivery::Column::Id.lt(a));
        }
        let rows = q
            .order_by_desc(webhook_delivery::Column::Id)
            .limit(size + 1)
            .all(db)
            .await?;
        Ok(page(rows, size, |d| d.id, DeliveryView::from))
    }

    /// Queues a new attempt of a delivery (due at once), whatever its state;
    /// its `webhook-id` stays, so receivers can tell it is the same message.
    pub async fn redeliver(
        &self,
        viewer: &Viewer,
        slug: &str,
        id: i64,
        delivery_id: i64,
    ) -> Result<DeliveryView> {
        let w = self.store.begin_write().await?;
        let o = self.administered_org(&w.txn, viewer, slug).await?;
        self.webhook_in(&w.txn, o.id, id).await?;
        let d = webhook_delivery::Entity::find_by_id(delivery_id)
            .filter(webhook_delivery::Column::WebhookId.eq(id))
            .one(&w.txn)
            .await?
            .ok_or_else(|| Error::not_found(format!("delivery {delivery_id} not found")))?;
        let now = time::now();
        let mut row = d.into_active_model();
        row.status = Set(delivery_status::PENDING.to_owned());
        row.next_attempt_at = Set(now);
        row.updated_at = Set(now);
        let updated = row.update(&w.txn).await?;
        w.commit().await?;
        self.wake_deliveries();
        Ok(updated.into())
    }
}

/// The first `size` of `rows` (fetched one more than that), and the cursor
/// of the next page when there is one.
pub(crate) fn page<R, T>(
    mut rows: Vec<R>,
    size: u64,
    id: impl Fn(&R) -> i64,
    view: impl Fn(R) -> T,
) -> Page<T> {
    let more = rows.len() as u64 > size;
    rows.truncate(size as usize);
    let next_cursor = more
        .then(|| rows.last().map(|r| id(r).to_string()))
        .flatten();
    Page {
        items: rows.into_iter().map(view).collect(),
        next_cursor,
    }
}
