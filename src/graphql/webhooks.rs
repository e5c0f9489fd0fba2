//! Webhooks, their deliveries and the audit log over GraphQL: the same
//! operations as `/orgs/:org/webhooks…` and `/orgs/:org/audit`.

use async_graphql::{Context, ID, InputObject, Json, Object, SimpleObject};
use serde_json::Value;

use super::inputs::numeric_id;
use super::scalars::DateTime;
use super::{GqlResult, OrGql, ats, viewer};
use crate::service::{AuditView, DeliveryView, NewWebhook, WebhookPatch, WebhookView};

/// A webhook of an org (never its secret).
#[derive(SimpleObject)]
pub struct Webhook {
    pub id: ID,
    pub org: String,
    pub url: String,
    /// Event names, `task.*`, `audit.*`, or `*`.
    pub events: Vec<String>,
    /// Project slugs whose task events are delivered (null: every project).
    pub projects: Option<Vec<String>>,
    pub description: Option<String>,
    pub active: bool,
    pub created_at: DateTime,
    pub updated_at: DateTime,
    /// When the server disabled it for failing too long.
    pub disabled_at: Option<DateTime>,
}

impl From<WebhookView> for Webhook {
    fn from(w: WebhookView) -> Self {
        Self {
            id: ID(w.id.to_string()),
            org: w.org,
            url: w.url,
            events: w.events,
            projects: w.projects,
            description: w.description,
            active: w.active,
            created_at: w.created_at.into(),
            updated_at: w.updated_at.into(),
            disabled_at: w.disabled_at.map(Into::into),
        }
    }
}

/// A webhook with its signing secret, shown this once.
#[derive(SimpleObject)]
pub struct WebhookWithSecret {
    pub webhook: Webhook,
    /// The Standard Webhooks secret (`whsec_…`).
    pub secret: String,
}

/// One event to deliver to one webhook, and how its attempts went.
#[derive(SimpleObject)]
pub struct WebhookDelivery {
    pub id: ID,
    pub webhook_id: ID,
    /// The `webhook-id` header, the same on every attempt.
    pub message_id: String,
    pub event_id: Option<ID>,
    pub audit_id: Option<ID>,
    pub event_type: String,
    /// `pending`, `succeeded` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<DateTime>,
    pub next_attempt_at: Option<DateTime>,
    pub created_at: DateTime,
}

impl From<DeliveryView> for WebhookDelivery {
    fn from(d: DeliveryView) -> Self {
        Self {
            id: ID(d.id.to_string()),
            webhook_id: ID(d.webhook_id.to_string()),
            message_id: d.message_id,
            event_id: d.event_id.map(|i| ID(i.to_string())),
            audit_id: d.audit_id.map(|i| ID(i.to_string())),
            event_type: d.event_type,
            status: d.status,
            attempts: d.attempts,
            last_status: d.last_status,
            last_error: d.last_error,
            last_attempt_at: d.last_attempt_at.map(Into::into),
            next_attempt_at: d.next_attempt_at.map(Into::into),
            created_at: d.created_at.into(),
        }
    }
}

/// A page of deliveries, newest first.
#[derive(SimpleObject)]
pub struct WebhookDeliveryPage {
    pub deliveries: Vec<WebhookDelivery>,
    /// The `after` of the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A record of an org's audit log.
#[derive(SimpleObject)]
pub struct AuditEntry {
    pub id: ID,
    /// `audit.<action>`, the name webhooks ask for.
    #[graphql(name = "type")]
    pub event_type: String,
    pub org: String,
    pub action: String,
    pub actor_type: String,
    pub actor_id: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub data: Json<Value>,
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
    pub created_at: DateTime,
}

impl From<AuditView> for AuditEntry {
    fn from(a: AuditView) -> Self {
        Self {
            id: ID(a.id.to_string()),
            event_type: a.event_type,
            org: a.org,
            action: a.action,
            actor_type: a.actor_type,
            actor_id: a.actor_id,
            target_type: a.target_type,
            target_id: a.target_id,
            data: Json(a.data),
            request_id: a.request_id,
            client_ip: a.client_ip,
            created_at: a.created_at.into(),
        }
    }
}

/// A page of the audit log, newest first.
#[derive(SimpleObject)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// The `after` of the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// `createWebhook`'s input.
#[derive(InputObject)]
pub struct CreateWebhookInput {
    /// `https://…` (`http://` only where the server allows it).
    pub url: String,
    /// Event names, `task.*`, `audit.*`, or `["*"]`.
    pub events: Vec<String>,
    /// Project slugs (default: every project).
    pub projects: Option<Vec<String>>,
    pub description: Option<String>,
}

/// `updateWebhook`'s input: what is given changes.
#[derive(InputObject)]
pub struct UpdateWebhookInput {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    /// `[]` means every project.
    pub projects: Option<Vec<String>>,
    pub description: Option<String>,
    pub active: Option<bool>,
}

/// Webhook reads.
#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// Webhooks of an org (admins and owners).
    #[graphql(complexity = "super::READ_COST + child_complexity")]
    async fn webhooks(&self, ctx: &Context<'_>, org: String) -> GqlResult<Vec<Webhook>> {
        let w = ats(ctx).list_webhooks(viewer(ctx)?, &org).await.gql()?;
        Ok(w.into_iter().map(Webhook::from).collect())
    }

    /// One webhook.
    #[graphql(complexity = "super::READ_COST + child_complexity")]
    async fn webhook(&self, ctx: &Context<'_>, org: String, id: ID) -> GqlResult<Webhook> {
        let id = numeric_id("id", &id)?;
        Ok(ats(ctx)
            .get_webhook(viewer(ctx)?, &org, id)
            .await
            .gql()?
            .into())
    }

    /// A webhook's deliveries, newest first.
    #[graphql(complexity = "super::READ_COST + child_complexity")]
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        org: String,
        id: ID,
        status: Option<String>,
        after: Option<String>,
        first: Option<i32>,
    ) -> GqlResult<WebhookDeliveryPage> {
        let id = numeric_id("id", &id)?;
        let page = ats(ctx)
            .list_deliveries(
                viewer(ctx)?,
                &org,
                id,
                status.as_deref(),
                after.as_deref(),
                first.map(i64::from),
            )
            .await
            .gql()?;
        Ok(WebhookDeliveryPage {
            deliveries: page.items.into_iter().map(Into::into).collect(),
            next_cursor: page.next_cursor,
        })
    }
}

/// Webhook writes.
#[derive(Default)]
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// Creates a webhook; its secret is in this answer only.
    async fn create_webhook(
        &self,
        ctx: &Context<'_>,
        org: String,
        input: CreateWebhookInput,
    ) -> GqlResult<WebhookWithSecret> {
        let (webhook, secret) = ats(ctx)
            .create_webhook(
                viewer(ctx)?,
                &org,
                NewWebhook {
                    url: Some(input.url),
                    events: Some(input.events),
                    projects: input.projects,
                    description: input.description,
                },
            )
            .await
            .gql()?;
        Ok(WebhookWithSecret {
            webhook: webhook.into(),
            secret,
        })
    }

    /// Changes a webhook.
    async fn update_webhook(
        &self,
        ctx: &Context<'_>,
        org: String,
        id: ID,
        input: UpdateWebhookInput,
    ) -> GqlResult<Webhook> {
        let id = numeric_id("id", &id)?;
        let patch = WebhookPatch {
            url: input.url,
            events: input.events,
            projects: input.projects,
            description: input.description,
            active: input.active,
        };
        Ok(ats(ctx)
            .update_webhook(viewer(ctx)?, &org, id, patch)
            .await
            .gql()?
            .into())
    }

    /// Deletes a webhook and its delivery log.
    async fn delete_webhook(&self, ctx: &Context<'_>, org: String, id: ID) -> GqlResult<bool> {
        let id = numeric_id("id", &id)?;
        ats(ctx)
            .delete_webhook(viewer(ctx)?, &org, id)
            .await
            .gql()?;
        Ok(true)
    }

    /// Issues a new secret (in this answer only); for 24 h deliveries carry both signatures.
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        org: String,
        id: ID,
    ) -> GqlResult<WebhookWithSecret> {
        let id = numeric_id("id", &id)?;
        let (webhook, secret) = ats(ctx)
            .rotate_webhook_secret(viewer(ctx)?, &org, id)
            .await
            .gql()?;
        Ok(WebhookWithSecret {
            webhook: webhook.into(),
            secret,
        })
    }

    /// Queues a new attempt of a delivery, due at once.
    async fn redeliver_webhook_delivery(
        &self,
        ctx: &Context<'_>,
        org: String,
        id: ID,
        delivery_id: ID,
    ) -> GqlResult<WebhookDelivery> {
        let id = numeric_id("id", &id)?;
        let delivery_id = numeric_id("deliveryId", &delivery_id)?;
        Ok(ats(ctx)
            .redeliver(viewer(ctx)?, &org, id, delivery_id)
            .await
            .gql()?
            .into())
    }
}
