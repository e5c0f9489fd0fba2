//! Deadlines that escalate: who an overdue task escalates to, the per-task
//! right that gives them, and the caller's list of what escalated to it.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use super::Ats;
use super::access::role;
use super::viewer::Viewer;
use super::views::{Location, TaskView};
use crate::entity::task::TaskStatus;
use crate::entity::{escalation, guardianship, identity, org_member, task};
use crate::error::Result;

/// One person an overdue task escalates to, and why.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub actor_type: String,
    pub actor_id: String,
    pub actor_name: Option<String>,
    /// `assignee_guardian`, `creator_guardian` or `org_admin`.
    pub via: &'static str,
}

impl Target {
    pub fn to_json(&self) -> Value {
        json!({
            "actor_type": self.actor_type,
            "actor_id": self.actor_id,
            "actor_name": self.actor_name,
            "via": self.via,
        })
    }

    /// Whether the data of an escalating event (`task.overdue`,
    /// `task.escalated`: `escalation.targets`, each as [`Target::to_json`]
    /// writes it) names `actor`.
    pub fn named_in(data: &Value, actor: &crate::actor::Actor) -> bool {
        data.get("escalation")
            .and_then(|x| x.get("targets"))
            .and_then(Value::as_array)
            .is_some_and(|targets| {
                targets.iter().any(|t| {
                    t.get("actor_type").and_then(Value::as_str) == Some(actor.actor_type.as_str())
                        && t.get("actor_id").and_then(Value::as_str) == Some(actor.id.as_str())
                })
            })
    }
}

/// The guardians of the agent `agent_id`, oldest relation first.
async fn guardians_of<C: ConnectionTrait>(db: &C, agent_id: &str) -> Result<Vec<identity::Model>> {
    let Some(agent) = identity::Entity::find()
        .filter(identity::Column::ActorType.eq("agent"))
        .filter(identity::Column::ActorId.eq(agent_id))
        .one(db)
        .await?
    else {
        return Ok(Vec::new());
    };
    let ids: Vec<i64> = guardianship::Entity::find()
        .filter(guardianship::Column::AgentIdentityId.eq(agent.id))
        .order_by_asc(guardianship::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|g| g.guardian_identity_id)
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut found = identity::Entity::find()
        .filter(identity::Column::Id.is_in(ids.clone()))
        .all(db)
        .await?;
    found.sort_by_key(|i| ids.iter().position(|g| *g == i.id));
    Ok(found)
}

/// Who the overdue task `t` escalates to: the guardians of its assignee if
/// that is an agent with guardians, else the guardians of the agent that
/// created it, else the owners and admins of its org (none in `default`).
pub(crate) async fn targets<C: ConnectionTrait>(
    db: &C,
    t: &task::Model,
    loc: &Location,
) -> Result<Vec<Target>> {
    let as_targets = |people: Vec<identity::Model>, via: &'static str| {
        people
            .into_iter()
            .map(|i| Target {
                actor_type: i.actor_type,
                actor_id: i.actor_id,
                actor_name: Some(i.display_name),
                via,
            })
            .collect::<Vec<_>>()
    };
    if t.assignee_type.as_deref() == Some("agent")
        && let Some(agent) = &t.assignee_id
    {
        let g = guardians_of(db, agent).await?;
        if !g.is_empty() {
            return Ok(as_targets(g, "assignee_guardian"));
        }
    }
    if t.source_type == "agent" {
        let g = guardians_of(db, &t.source_id).await?;
        if !g.is_empty() {
            return Ok(as_targets(g, "creator_guardian"));
        }
    }
    org_admins(db, loc).await
}

/// The owners and admins of the task's org, whom a second escalation
/// (`escalate_after_ms`) reaches.
pub(crate) async fn org_admins<C: ConnectionTrait>(db: &C, loc: &Location) -> Result<Vec<Target>> {
    Ok(org_member::Entity::find()
        .filter(org_member::Column::OrgId.eq(loc.org_id))
        .filter(org_member::Column::Role.is_in([role::OWNER, role::ADMIN]))
        .order_by_asc(org_member::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|m| Target {
            actor_type: m.actor_type,
            actor_id: m.actor_id,
            actor_name: None,
            via: "org_admin",
        })
        .collect())
}

impl Ats {
    /// The open overdue tasks escalated to the caller, most overdue first.
    pub async fn my_escalations(&self, viewer: &Viewer) -> Result<Vec<TaskView>> {
        let actor = viewer.actor();
        let db = self.store.conn();
        let ids: Vec<i64> = escalation::Entity::find()
            .filter(escalation::Column::ActorType.eq(actor.actor_type.as_str()))
            .filter(escalation::Column::ActorId.eq(actor.id.clone()))
            .all(db)
            .await?
            .into_iter()
            .map(|e| e.task_id)
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = task::Entity::find()
            .filter(task::Column::Id.is_in(ids))
            .filter(task::Column::OverdueAt.is_not_null())
            .filter(task::Column::Status.is_in([TaskStatus::Pending, TaskStatus::InProgress]))
            .order_by_asc(task::Column::DueAt)
            .order_by_asc(task::Column::Id)
            .all(db)
            .await?;
        let mut projects: Vec<i32> = rows.iter().map(|t| t.project_id).collect();
        projects.sort_unstable();
        projects.dedup();
        let locations = self.locations(db, projects).await?;
        let mut views: Vec<TaskView> = rows
            .into_iter()
            .filter_map(|t| {
                let loc = locations.get(&t.project_id)?;
                Some(TaskView::new(t, loc))
            })
            .collect();
        self.decorate(db, &mut views).await?;
        Ok(views)
    }
}
