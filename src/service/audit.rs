//! The audit log of an org: every administrative action and access
//! decision that matters to its owners, appended in the transaction of the
//! change itself, with who did it, to what, from where and when. Nothing
//! in it holds a secret. Records are delivered to webhooks that ask for
//! `audit.<action>` (or `audit.*`, `*`) by queuing their deliveries in the
//! same transaction, so a record and its deliveries commit together.
//!
//! Actions of an identity rather than an org (API keys, sign-ins) are
//! recorded in every org the identity is a member of.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::Ats;
use super::viewer::Viewer;
use super::webhooks::{
    OUTBOUND_PAGE, Page, delivery_status, page, parse_cursor, stored_list, wants,
};
use crate::actor::Actor;
use crate::entity::{audit_entry, identity, org, org_member, webhook, webhook_delivery};
use crate::error::{Error, Result};
use crate::service::paging::Overflow;
use crate::time::{self, rfc3339};

/// Every action the audit log records.
pub const ACTIONS: &[&str] = &[
    "member.added",
    "member.role_changed",
    "member.removed",
    "invitation.sent",
    "invitation.accepted",
    "invitation.declined",
    "grant.given",
    "grant.revoked",
    "api_key.created",
    "api_key.revoked",
    "guardian.linked",
    "guardian.removed",
    "org.created",
    "org.updated",
    "org.deleted",
    "project.created",
    "project.updated",
    "project.deleted",
    "webhook.created",
    "webhook.updated",
    "webhook.deleted",
    "webhook.secret_rotated",
    "webhook.disabled",
    "sign_in.succeeded",
    "sign_in.failed",
];

/// What an audited action was done to.
#[derive(Clone, Debug)]
pub enum Target {
    /// An actor (`human:olga`).
    Actor(String, String),
    /// A webhook, by id.
    Webhook(i64),
    /// Anything else: a kind and an id.
    Other(&'static str, String),
}

impl Target {
    fn parts(&self) -> (String, String) {
        match self {
            Target::Actor(t, id) => ("actor".to_owned(), format!("{t}:{id}")),
            Target::Webhook(id) => ("webhook".to_owned(), id.to_string()),
            Target::Other(kind, id) => ((*kind).to_owned(), id.clone()),
        }
    }
}

/// A record to append.
#[derive(Clone, Debug)]
pub struct AuditRecord {
    org_id: i32,
    action: &'static str,
    actor: Actor,
    target: Option<Target>,
    data: Value,
    request_id: Option<String>,
    client_ip: Option<String>,
}

impl AuditRecord {
    /// `action` in org `org_id`, done by the viewer's actor (its request's
    /// id and client address when known).
    pub fn new(org_id: i32, action: &'static str, viewer: &Viewer) -> Self {
        let (request_id, client_ip) = viewer.request_origin();
        Self {
            org_id,
            action,
            actor: viewer.actor().clone(),
            target: None,
            data: json!({}),
            request_id,
            client_ip,
        }
    }

    /// `action` in org `org_id` by `actor`, outside any request (the
    /// server's own notices, sign-ins).
    pub fn by(org_id: i32, action: &'static str, actor: Actor) -> Self {
        Self {
            org_id,
            action,
            actor,
            target: None,
            data: json!({}),
            request_id: None,
            client_ip: None,
        }
    }

    /// What the action was done to.
    pub fn target(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }

    /// Details (never a secret).
    pub fn data(mut self, data: Value) -> Self {
        self.data = data;
        self
    }

    /// Where the request came from.
    pub fn origin(mut self, request_id: Option<String>, client_ip: Option<String>) -> Self {
        self.request_id = request_id;
        self.client_ip = client_ip;
        self
    }

    /// The same record in another org.
    fn in_org(&self, org_id: i32) -> Self {
        let mut r = self.clone();
        r.org_id = org_id;
        r
    }
}

/// A record of the audit log, as owners and admins read it (and as
/// webhooks receive it, with `type` = `audit.<action>`).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AuditView {
    pub id: i64,
    /// `audit.<action>`, the name webhooks ask for.
    #[serde(rename = "type")]
    pub event_type: String,
    pub org: String,
    /// `member.added`, `webhook.disabled`, `sign_in.failed`, …
    pub action: String,
    pub actor_type: String,
    pub actor_id: String,
    /// `actor`, `webhook`, `project`, `org`, `invitation`, `grant`, `api_key`, `guardianship`.
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub data: Value,
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
    #[serde(with = "rfc3339")]
    pub created_at: DateTime<Utc>,
}

fn audit_view(org: &str, e: audit_entry::Model) -> AuditView {
    AuditView {
        id: e.id,
        event_type: format!("audit.{}", e.action),
        org: org.to_owned(),
        action: e.action,
        actor_type: e.actor_type,
        actor_id: e.actor_id,
        target_type: e.target_type,
        target_id: e.target_id,
        data: serde_json::from_str(&e.data).unwrap_or(Value::Null),
        request_id: e.request_id,
        client_ip: e.client_ip,
        created_at: e.created_at,
    }
}

/// Filters of `GET /orgs/{org}/audit`.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// Only this action (`member.added`).
    pub action: Option<String>,
    /// Only this actor: `type:id`, or an id of any type.
    pub actor: Option<String>,
    /// The cursor of the previous page.
    pub after: Option<String>,
    /// The page size.
    pub first: Option<i64>,
}

impl Ats {
    /// Appends `record` in `db`'s transaction, and queues its deliveries to
    /// the org's webhooks that ask for it.
    pub(crate) async fn audit<C: ConnectionTrait>(
        &self,
        db: &C,
        record: AuditRecord,
    ) -> Result<()> {
        let now = time::now();
        let (target_type, target_id) = record
            .target
            .as_ref()
            .map(Target::parts)
            .map_or((None, None), |(t, i)| (Some(t), Some(i)));
        let row = audit_entry::ActiveModel {
            org_id: Set(record.org_id),
            action: Set(record.action.to_owned()),
            actor_type: Set(record.actor.actor_type.as_str().to_owned()),
            actor_id: Set(record.actor.id.clone()),
            target_type: Set(target_type),
            target_id: Set(target_id),
            data: Set(record.data.to_string()),
            request_id: Set(record.request_id.clone()),
            client_ip: Set(record.client_ip.clone()),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(db)
        .await?;
        let name = format!("audit.{}", record.action);
        let hooks: Vec<webhook::Model> = webhook::Entity::find()
            .filter(webhook::Column::OrgId.eq(record.org_id))
            .all(db)
            .await?
            .into_iter()
            .filter(|w| wants(&stored_list(&w.events), &name))
            .collect();
        if hooks.is_empty() {
            return Ok(());
        }
        let Some(o) = org::Entity::find_by_id(record.org_id).one(db).await? else {
            return Ok(());
        };
        let payload = serde_json::to_string(&audit_view(&o.slug, row.clone()))
            .map_err(|e| Error::Internal(e.to_string()))?;
        let rows = hooks.iter().map(|w| webhook_delivery::ActiveModel {
            webhook_id: Set(w.id),
            message_id: Set(format!("msg_{}_a{}", w.id, row.id)),
            event_id: Set(None),
            audit_id: Set(Some(row.id)),
            event_type: Set(name.clone()),
            payload: Set(payload.clone()),
            status: Set(delivery_status::PENDING.to_owned()),
            attempts: Set(0),
            next_attempt_at: Set(now),
            last_attempt_at: Set(None),
            last_status: Set(None),
            last_error: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        });
        webhook_delivery::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await?;
        Ok(())
    }

    /// Appends `record` to the audit log of every org one of `actors` is a
    /// member of, once per org (actions of identities rather than an org).
    pub(crate) async fn audit_members<C: ConnectionTrait>(
        &self,
        db: &C,
        actors: &[Actor],
        record: AuditRecord,
    ) -> Result<()> {
        let mut orgs: Vec<i32> = Vec::new();
        for actor in actors {
            let of: Vec<i32> = org_member::Entity::find()
                .select_only()
                .column(org_member::Column::OrgId)
                .filter(org_member::Column::ActorType.eq(actor.actor_type.as_str()))
                .filter(org_member::Column::ActorId.eq(actor.id.clone()))
                .into_tuple()
                .all(db)
                .await?;
            for id in of {
                if !orgs.contains(&id) {
                    orgs.push(id);
                }
            }
        }
        for org_id in orgs {
            self.audit(db, record.in_org(org_id)).await?;
        }
        Ok(())
    }

    /// [`Ats::audit_members`] for identities given by id.
    pub(crate) async fn audit_identities<C: ConnectionTrait>(
        &self,
        db: &C,
        identity_ids: &[i64],
        record: AuditRecord,
    ) -> Result<()> {
        let actors: Vec<Actor> = identity::Entity::find()
            .filter(identity::Column::Id.is_in(identity_ids.to_vec()))
            .all(db)
            .await?
            .into_iter()
            .filter_map(|i| Actor::new(&i.actor_type, &i.actor_id, None).ok())
            .collect();
        self.audit_members(db, &actors, record).await
    }

    /// The org's audit log, newest first (owners and admins; 404 to anyone
    /// else and in `default`).
    pub async fn audit_log(
        &self,
        viewer: &Viewer,
        slug: &str,
        q: AuditQuery,
    ) -> Result<Page<AuditView>> {
        for text in [&q.action, &q.actor, &q.after].into_iter().flatten() {
            super::validate::no_nul(text)?;
            if text.len() > 500 {
                return Err(Error::bad_request(
                    "filter values must be at most 500 bytes",
                ));
            }
        }
        let after = parse_cursor(q.after.as_deref())?;
        let size = OUTBOUND_PAGE.size("first", q.first, Overflow::Clamp)?;
        let db = self.store.conn();
        let o = self.administered_org(db, viewer, slug).await?;
        let mut find = audit_entry::Entity::find().filter(audit_entry::Column::OrgId.eq(o.id));
        if let Some(action) = &q.action {
            find = find.filter(audit_entry::Column::Action.eq(action.clone()));
        }
        if let Some(actor) = &q.actor {
            find = match actor.split_once(':') {
                Some((t, id)) => find
                    .filter(audit_entry::Column::ActorType.eq(t))
                    .filter(audit_entry::Column::ActorId.eq(id)),
                None => find.filter(audit_entry::Column::ActorId.eq(actor.clone())),
            };
        }
        if let Some(a) = after {
            find = find.filter(audit_entry::Column::Id.lt(a));
        }
        let rows = find
            .order_by_desc(audit_entry::Column::Id)
            .limit(size + 1)
            .all(db)
            .await?;
        Ok(page(rows, size, |e| e.id, |e| audit_view(&o.slug, e)))
    }
}
