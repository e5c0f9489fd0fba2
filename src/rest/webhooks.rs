//! `/orgs/:org/webhooks…` and `/orgs/:org/audit`: an org's webhooks, their
//! delivery log, and its audit log (admins and owners).

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::bodies::Reply;
use super::extract::Slugs;
use crate::app::AppState;
use crate::app::{ApiJson, ApiQuery, CurrentViewer};
use crate::error::{Error, Result};
use crate::service::{AuditQuery, AuditView, DeliveryView, NewWebhook, WebhookPatch, WebhookView};

/// `{"webhook": …, "secret": "whsec_…"}`: the secret is shown this once.
#[derive(Serialize, ToSchema)]
pub struct WebhookCreated {
    pub webhook: WebhookView,
    /// The signing secret (Standard Webhooks `whsec_…`); never shown again.
    pub secret: String,
}

/// `{"webhook": …}`
#[derive(Serialize, ToSchema)]
pub struct WebhookBody {
    pub webhook: WebhookView,
}

/// `{"webhooks": […]}`
#[derive(Serialize, ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<WebhookView>,
}

/// `{"deleted": true, "id": …}`
#[derive(Serialize, ToSchema)]
pub struct WebhookDeleted {
    pub deleted: bool,
    pub id: i64,
}

/// `{"deliveries": […], "next_cursor": …}`, newest first.
#[derive(Serialize, ToSchema)]
pub struct DeliveryList {
    pub deliveries: Vec<DeliveryView>,
    /// The `after` of the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// `{"delivery": …}`
#[derive(Serialize, ToSchema)]
pub struct DeliveryBody {
    pub delivery: DeliveryView,
}

/// `{"entries": […], "next_cursor": …}`, newest first.
#[derive(Serialize, ToSchema)]
pub struct AuditList {
    pub entries: Vec<AuditView>,
    /// The `after` of the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Query string of `GET /orgs/:org/webhooks/:id/deliveries`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct DeliveryParams {
    /// Only deliveries in this state: `pending`, `succeeded` or `failed`.
    status: Option<String>,
    /// The `next_cursor` of the previous page.
    after: Option<String>,
    /// Page size (default 50, at most 500).
    first: Option<i64>,
}

/// Query string of `GET /orgs/:org/audit`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct AuditParams {
    /// Only this action (`member.added`, `webhook.disabled`, …).
    action: Option<String>,
    /// Only this actor: `type:id` (`human:olga`), or an actor id.
    actor: Option<String>,
    /// The `next_cursor` of the previous page.
    after: Option<String>,
    /// Page size (default 50, at most 500).
    first: Option<i64>,
}

fn numeric(slugs: &Slugs, name: &str, what: &str) -> Result<i64> {
    let raw = slugs.get(name);
    raw.parse()
        .map_err(|_| Error::bad_request(format!("invalid {what} id '{raw}'")))
}

pub(super) async fn list(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
) -> Result<Reply<WebhookList>> {
    let webhooks = s.ats.list_webhooks(&viewer, slugs.get("org")).await?;
    Ok(Reply(WebhookList { webhooks }))
}

pub(super) async fn create(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
    ApiJson(input): ApiJson<NewWebhook>,
) -> Result<Reply<WebhookCreated>> {
    let (webhook, secret) = s
        .ats
        .create_webhook(&viewer, slugs.get("org"), input)
        .await?;
    Ok(Reply(WebhookCreated { webhook, secret }))
}

pub(super) async fn read(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
) -> Result<Reply<WebhookBody>> {
    let id = numeric(&slugs, "id", "webhook")?;
    let webhook = s.ats.get_webhook(&viewer, slugs.get("org"), id).await?;
    Ok(Reply(WebhookBody { webhook }))
}

pub(super) async fn update(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
    ApiJson(patch): ApiJson<WebhookPatch>,
) -> Result<Reply<WebhookBody>> {
    let id = numeric(&slugs, "id", "webhook")?;
    let webhook = s
        .ats
        .update_webhook(&viewer, slugs.get("org"), id, patch)
        .await?;
    Ok(Reply(WebhookBody { webhook }))
}

pub(super) async fn remove(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
) -> Result<Reply<WebhookDeleted>> {
    let id = numeric(&slugs, "id", "webhook")?;
    s.ats.delete_webhook(&viewer, slugs.get("org"), id).await?;
    Ok(Reply(WebhookDeleted { deleted: true, id }))
}

pub(super) async fn rotate_secret(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
) -> Result<Reply<WebhookCreated>> {
    let id = numeric(&slugs, "id", "webhook")?;
    let (webhook, secret) = s
        .ats
        .rotate_webhook_secret(&viewer, slugs.get("org"), id)
        .await?;
    Ok(Reply(WebhookCreated { webhook, secret }))
}

pub(super) async fn deliveries(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
    ApiQuery(q): ApiQuery<DeliveryParams>,
) -> Result<Reply<DeliveryList>> {
    let id = numeric(&slugs, "id", "webhook")?;
    let page = s
        .ats
        .list_deliveries(
            &viewer,
            slugs.get("org"),
            id,
            q.status.as_deref(),
            q.after.as_deref(),
            q.first,
        )
        .await?;
    Ok(Reply(DeliveryList {
        deliveries: page.items,
        next_cursor: page.next_cursor,
    }))
}

pub(super) async fn redeliver(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
) -> Result<Reply<DeliveryBody>> {
    let id = numeric(&slugs, "id", "webhook")?;
    let delivery_id = numeric(&slugs, "delivery_id", "delivery")?;
    let delivery = s
        .ats
        .redeliver(&viewer, slugs.get("org"), id, delivery_id)
        .await?;
    Ok(Reply(DeliveryBody { delivery }))
}

pub(super) async fn audit(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
    ApiQuery(q): ApiQuery<AuditParams>,
) -> Result<Reply<AuditList>> {
    let page = s
        .ats
        .audit_log(
            &viewer,
            slugs.get("org"),
            AuditQuery {
                action: q.action,
                actor: q.actor,
                after: q.after,
                first: q.first,
            },
        )
        .await?;
    Ok(Reply(AuditList {
        entries: page.items,
        next_cursor: page.next_cursor,
    }))
}
