//! Writing events with their change, reading history, and live subscriptions.

use std::sync::Arc;

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, Statement,
};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::Ats;
use super::viewer::{Rights, Viewer};
use super::views::{EventView, Location, TaskView};
use crate::actor::Actor;
use crate::entity::event;
use crate::error::{Error, Result};
use crate::time;

/// Rows read per page when replaying.
const REPLAY_PAGE: u64 = 500;
/// Events queued for one subscriber before it counts as lagging.
const SUBSCRIBER_QUEUE: usize = 1024;

/// Which events a reader wants. Empty lists mean "all".
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    /// Only these projects (by id); `None` means every project.
    pub project_ids: Option<Vec<i32>>,
    /// Only these channels.
    pub channels: Vec<String>,
    /// Only these task types.
    pub task_types: Vec<String>,
    /// Only these event types.
    pub event_types: Vec<String>,
    /// Only this task.
    pub task_id: Option<i64>,
    /// Also the events of these tasks, whatever their project: the tasks
    /// escalated to the reader (see [`Rights::escalated`]), added by
    /// narrowing a filter that names no project. The other fields still apply.
    pub also_tasks: Vec<i64>,
}

impl EventFilter {
    /// True when `e` passes the filter.
    pub fn matches(&self, e: &event::Model) -> bool {
        let listed = |list: &[String], v: &str| list.is_empty() || list.iter().any(|x| x == v);
        self.project_ids
            .as_ref()
            .is_none_or(|ids| ids.contains(&e.project_id) || self.also_tasks.contains(&e.task_id))
            && listed(&self.channels, &e.channel)
            && listed(&self.task_types, &e.task_type)
            && listed(&self.event_types, &e.event_type)
            && self.task_id.is_none_or(|id| id == e.task_id)
    }

    /// This filter limited to the projects `rights` may read, and, when it
    /// names no project, the tasks escalated to the reader.
    fn narrowed(&self, rights: &Rights) -> Self {
        let readable = rights.readable();
        let mut f = self.clone();
        f.project_ids = Some(match &self.project_ids {
            Some(ids) => ids
                .iter()
                .copied()
                .filter(|id| readable.contains(id))
                .collect(),
            None => {
                f.also_tasks = rights
                    .escalated_tasks()
                    .into_iter()
                    .filter(|id| self.task_id.is_none_or(|only| only == *id))
                    .collect();
                readable
            }
        });
        f
    }

    fn condition(&self) -> Condition {
        let mut cond = Condition::all();
        match &self.project_ids {
            Some(ids) if self.also_tasks.is_empty() => {
                cond = cond.add(event::Column::ProjectId.is_in(ids.clone()));
            }
            Some(ids) => {
                cond = cond.add(
                    Condition::any()
                        .add(event::Column::ProjectId.is_in(ids.clone()))
                        .add(event::Column::TaskId.is_in(self.also_tasks.clone())),
                );
            }
            None => {}
        }
        if !self.channels.is_empty() {
            cond = cond.add(event::Column::Channel.is_in(self.channels.clone()));
        }
        if !self.task_types.is_empty() {
            cond = cond.add(event::Column::TaskType.is_in(self.task_types.clone()));
        }
        if !self.event_types.is_empty() {
            cond = cond.add(event::Column::EventType.is_in(self.event_types.clone()));
        }
        if let Some(id) = self.task_id {
            cond = cond.add(event::Column::TaskId.eq(id));
        }
        cond
    }
}

/// What a reader asks of the event log, as every adapter receives it
/// (`/ws` subscribe messages, GraphQL `TaskEventFilter`). Empty lists mean all.
#[derive(Clone, Debug, Default)]
pub struct EventQuery {
    /// `org/project` paths.
    pub projects: Vec<String>,
    /// Channels.
    pub channels: Vec<String>,
    /// Task types.
    pub task_types: Vec<String>,
    /// Event types (`task.created`, …).
    pub event_types: Vec<String>,
    /// One task.
    pub task_id: Option<i64>,
    /// The cursor: only events with a larger id.
    pub after: Option<i64>,
}

/// What a live subscription yields.
#[derive(Clone, Debug)]
pub enum SubscriptionItem {
    /// The next event, in id order.
    Event(Arc<event::Model>),
    /// The consumer fell too far behind; the subscription has ended. Resubscribe with `after`.
    Lagged {
        /// The last event id delivered before the subscription ended.
        last_id: i64,
    },
    /// The events after the subscription's cursor were pruned (retention)
    /// before it could read them; the subscription has ended
    /// ([`Error::CursorExpired`]).
    Expired {
        /// The cursor the subscription had reached.
        after: i64,
        /// Every event up to this id is gone.
        pruned_through: i64,
    },
}

/// An event to write: its type, the task after the change, and extra data keys.
pub(crate) struct NewEvent<'a> {
    pub event_type: &'static str,
    pub actor: &'a Actor,
    pub task: &'a TaskView,
    pub loc: &'a Location,
    pub extra: Option<(&'static str, Value)>,
}

/// An event's `data`: the task after the change, and any extra key.
fn data_of(e: &NewEvent<'_>) -> Value {
    let mut data = json!({ "task": e.task });
    if let Some((key, value)) = &e.extra {
        data[*key] = value.clone();
    }
    data
}

/// Inserts events in the caller's transaction (so change and event commit
/// together), all in one statement. No lock and no `NOTIFY` here: the
/// event's position is its id (see [`crate::events`]), and the writer wakes
/// the bus once it has committed (on PostgreSQL a trigger draws it; on
/// SQLite the column is generated from the id).
pub(crate) async fn record<C: ConnectionTrait>(txn: &C, events: &[NewEvent<'_>]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let now = time::now();
    if events.len() >= BULK_EVENTS && txn.get_database_backend() == DbBackend::Postgres {
        return record_bulk(txn, events, now).await;
    }
    let rows = events.iter().map(|e| {
        let data = data_of(e);
        event::ActiveModel {
            event_type: Set(e.event_type.to_owned()),
            task_id: Set(e.task.id),
            org_id: Set(e.loc.org_id),
            project_id: Set(e.loc.project_id),
            org: Set(e.loc.org.clone()),
            project: Set(e.loc.project.clone()),
            channel: Set(e.task.channel.clone()),
            task_type: Set(e.task.task_type.clone()),
            actor_type: Set(e.actor.actor_type.as_str().to_owned()),
            actor_id: Set(e.actor.id.clone()),
            actor_name: Set(e.actor.name.clone()),
            data: Set(data),
            created_at: Set(now),
            ..Default::default()
        }
    });
    event::Entity::insert_many(rows)
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

/// From this many events on, PostgreSQL gets them as one JSON array
/// rather than thirteen bind parameters each.
const BULK_EVENTS: usize = 16;

/// [`record`] for many events on PostgreSQL: one statement with one JSON
/// parameter for what differs between them, the rest bound once.
async fn record_bulk<C: ConnectionTrait>(
    txn: &C,
    events: &[NewEvent<'_>],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    let sql = format!(
        "INSERT INTO events ({EVENT_COLUMNS}) {} ORDER BY x.n",
        events_select(1, 2, "")
    );
    let values = [rows_json(events).into(), now.into()];
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        values,
    ))
    .await?;
    Ok(())
}

/// The columns of an event its writer gives, in this order.
const EVENT_COLUMNS: &str = "event_type, task_id, org_id, project_id, org, project, \
     channel, task_type, actor_type, actor_id, actor_name, data, created_at";

/// An `INSERT` of the events `select` yields ([`EVENT_COLUMNS`], in order),
/// numbered by the statement itself: each takes the next value of the log's
/// sequence as its id and its position, in `select`'s order, and the
/// position trigger does not run.
///
/// Only for a one-statement write whose events are selected from the rows
/// its own `UPDATE` or `INSERT` of tasks returned: every event then stems
/// from a row already written, so the transaction took its xid before any
/// event id is drawn, which is what lets a reader tell a gap left by a
/// transaction still running from one left by a rollback (see
/// `ats::events`).
pub(crate) fn numbered_events_insert(select: &str) -> String {
    format!(
        "INSERT INTO events ({EVENT_COLUMNS}, id, position) SELECT n.*, n.ats_event_id \
         FROM (SELECT q.*, nextval('events_log_seq') AS ats_event_id FROM ({select}) AS q) AS n"
    )
}

/// A `SELECT` of the events given as a JSON array in parameter `$rows`,
/// created at `$now`, as [`EVENT_COLUMNS`]; `x.n` is an event's place in
/// the array and `join` adds a `FROM` item whose rows the events are
/// selected once for.
fn events_select(rows: usize, now: usize, join: &str) -> String {
    format!(
        "SELECT x.event_type, x.task_id, x.org_id, x.project_id, x.org, x.project, \
         x.channel, x.task_type, x.actor_type, x.actor_id, x.actor_name, x.data, \
         ${now}::timestamptz \
         FROM {join}ROWS FROM (jsonb_to_recordset(${rows}::jsonb) AS (event_type text, \
         task_id bigint, org_id integer, project_id integer, org text, project text, \
         channel text, task_type text, actor_type text, actor_id text, actor_name text, \
         data jsonb)) WITH ORDINALITY AS x(event_type, task_id, org_id, project_id, org, \
         project, channel, task_type, actor_type, actor_id, actor_name, data, n)"
    )
}

/// The events as the JSON array [`events_select`] reads.
fn rows_json(events: &[NewEvent<'_>]) -> Value {
    Value::Array(
        events
            .iter()
            .map(|e| {
                json!({
                    "event_type": e.event_type,
                    "task_id": e.task.id,
                    "org_id": e.loc.org_id,
                    "project_id": e.loc.project_id,
                    "org": e.loc.org,
                    "project": e.loc.project,
                    "channel": e.task.channel,
                    "task_type": e.task.task_type,
                    "actor_type": e.actor.actor_type.as_str(),
                    "actor_id": e.actor.id,
                    "actor_name": e.actor.name,
                    "data": data_of(e),
                })
            })
            .collect(),
    )
}

/// Runs `write`, a PostgreSQL data-modifying statement that returns a row
/// when it changed something, together with the events of that change, as
/// one statement (so one implicit transaction and one round trip): the
/// events are inserted once for each row `write` returns, so they are
/// written exactly when the write took. True when it did.
pub(crate) async fn write_with_events<C: ConnectionTrait>(
    db: &C,
    write: Statement,
    actor: &Actor,
    task: &TaskView,
    loc: &Location,
    events: ChangeEvents,
) -> Result<bool> {
    let events = change_events(actor, task, loc, events);
    // Success is read from the events inserted: a change has at least one.
    debug_assert!(!events.is_empty(), "a change without events");
    let mut values = write.values.map(|v| v.0).unwrap_or_default();
    let (rows, now) = (values.len() + 1, values.len() + 2);
    let select = format!("{} ORDER BY x.n", events_select(rows, now, "w CROSS JOIN "));
    let sql = format!(
        "WITH w AS ({}) {}",
        write.sql,
        numbered_events_insert(&select)
    );
    values.push(rows_json(&events).into());
    values.push(time::now().into());
    let done = db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values,
        ))
        .await?;
    Ok(done.rows_affected() > 0)
}

/// The events of one change, each carrying the task as it is after it.
pub(crate) type ChangeEvents = Vec<(&'static str, Option<(&'static str, Value)>)>;

/// The events one change of `task` produced, by `actor`, in order.
fn change_events<'a>(
    actor: &'a Actor,
    task: &'a TaskView,
    loc: &'a Location,
    events: ChangeEvents,
) -> Vec<NewEvent<'a>> {
    events
        .into_iter()
        .map(|(event_type, extra)| NewEvent {
            event_type,
            actor,
            task,
            loc,
            extra,
        })
        .collect()
}

/// Records the events one change of `task` produced, in order.
pub(crate) async fn record_change<C: ConnectionTrait>(
    txn: &C,
    actor: &Actor,
    task: &TaskView,
    loc: &Location,
    events: ChangeEvents,
) -> Result<()> {
    let events = change_events(actor, task, loc, events);
    record(txn, &events).await
}

impl Ats {
    /// Stored events matching `filter` with id > `after`, oldest first,
    /// whatever the reader may see (callers narrow `filter` first).
    async fn stored_events(
        &self,
        filter: &EventFilter,
        after: i64,
        limit: u64,
    ) -> Result<Vec<event::Model>> {
        self.bus.caught_up().await;
        Ok(event::Entity::find()
            .filter(filter.condition())
            .filter(event::Column::Position.gt(after))
            .filter(self.in_log())
            .order_by_asc(event::Column::Position)
            .limit(limit)
            .all(self.store.conn())
            .await?)
    }

    /// The service filter for what a reader asks: project paths resolved
    /// (404 for one the viewer may not read), a negative cursor refused.
    pub async fn event_filter(&self, viewer: &Viewer, q: &EventQuery) -> Result<EventFilter> {
        if q.after.is_some_and(|a| a < 0) {
            return Err(Error::bad_request("after must not be negative"));
        }
        // Filters are compared in SQL when stored events are replayed:
        // PostgreSQL refuses a NUL there, and would end the subscription.
        for text in q
            .channels
            .iter()
            .chain(&q.task_types)
            .chain(&q.event_types)
            .chain(&q.projects)
        {
            super::validate::no_nul(text)?;
        }
        super::validate::filter_values("projects", &q.projects)?;
        super::validate::filter_values("channels", &q.channels)?;
        super::validate::filter_values("task types", &q.task_types)?;
        super::validate::filter_values("event types", &q.event_types)?;
        let project_ids = if q.projects.is_empty() {
            None
        } else {
            let mut ids = Vec::with_capacity(q.projects.len());
            for p in &q.projects {
                let (org, project) = p.split_once('/').ok_or_else(|| {
                    Error::bad_request(format!("project '{p}' must be written org/project"))
                })?;
                ids.push(self.project_id(viewer, org, project).await?);
            }
            Some(ids)
        };
        Ok(EventFilter {
            project_ids,
            channels: q.channels.clone(),
            task_types: q.task_types.clone(),
            event_types: q.event_types.clone(),
            task_id: q.task_id,
            also_tasks: Vec::new(),
        })
    }

    /// Stored events after the cursor `after` that match `filter` and that
    /// the viewer may read, oldest first. Without a cursor, from the oldest
    /// event kept; a cursor before the retained log is refused with
    /// `CURSOR_EXPIRED` (see [`Ats::check_cursor`]), whatever the filter.
    pub async fn read_events(
        &self,
        viewer: &Viewer,
        filter: &EventFilter,
        after: Option<i64>,
        limit: u64,
    ) -> Result<Vec<event::Model>> {
        let rights = self.rights(viewer).await?;
        let rows = self
            .stored_events(&filter.narrowed(&rights), after.unwrap_or(0), limit)
            .await?;
        if let Some(after) = after {
            self.check_cursor(after).await?;
        }
        Ok(rows)
    }

    /// A task's history (`GET /tasks/:id/events`): what is kept of it,
    /// after the cursor `after` when given (`CURSOR_EXPIRED` when that is
    /// before the retained log).
    pub async fn task_events(
        &self,
        viewer: &Viewer,
        scope: &super::Scope,
        task_id: i64,
        after: Option<i64>,
        limit: u64,
    ) -> Result<Vec<EventView>> {
        self.find_task(viewer, scope, task_id).await?;
        let filter = EventFilter {
            task_id: Some(task_id),
            ..Default::default()
        };
        let rows = self
            .stored_events(&filter, after.unwrap_or(0), limit)
            .await?;
        if let Some(after) = after {
            self.check_cursor(after).await?;
        }
        Ok(rows.iter().map(EventView::from).collect())
    }

    /// A live subscription: first the stored events after `after` (if given),
    /// then new ones as they commit — no gap and no duplicate between the two.
    ///
    /// The cursor is fixed before this returns, so every event committed
    /// after it returns is delivered (callers acknowledge only then).
    ///
    /// The viewer's rights are checked at each event, not once: after an
    /// access change (a removed member, a revoked grant), events of projects
    /// the viewer can no longer read stop.
    ///
    /// A cursor before the retained log is refused with `CURSOR_EXPIRED`;
    /// one that falls behind it while the subscription catches up (the
    /// pruner got there first) ends it with [`SubscriptionItem::Expired`].
    pub async fn subscribe_events(
        &self,
        viewer: &Viewer,
        filter: EventFilter,
        after: Option<i64>,
    ) -> Result<mpsc::Receiver<SubscriptionItem>> {
        let viewer = viewer.clone();
        self.rights(&viewer).await?;
        if let Some(after) = after {
            self.check_cursor(after).await?;
        }
        let (tx, rx) = mpsc::channel(SUBSCRIBER_QUEUE);
        let ats = self.clone();
        // Without `after`, the cursor is "now": everything committed from here on.
        let mut last = match after {
            Some(a) => a,
            None => ats.max_event_id().await?,
        };
        // Listen only once the cursor is fixed, so that an open subscription
        // (`ats_open_subscriptions`) sees every later commit. What the bus sends
        // before we listen is in the table, which the replay below reads.
        let mut live = match filter.project_ids.as_deref() {
            Some(&[project]) => ats.bus.subscribe_project(project),
            _ => ats.bus.subscribe(),
        };
        tokio::spawn(async move {
            loop {
                // Subscribed to the bus first, then read the table: whatever
                // the bus sent before we listened is already in the table.
                // The database reads are boxed so that an idle subscription's
                // task holds only the waiting state, not room for them.
                match Box::pin(ats.replay(&viewer, &filter, last, &tx)).await {
                    Ok(Some(new_last)) => last = new_last,
                    Ok(None) => return,
                    Err(Error::CursorExpired {
                        after,
                        pruned_through,
                    }) => {
                        let expired = SubscriptionItem::Expired {
                            after,
                            pruned_through,
                        };
                        deliver(&tx, expired, last).await;
                        return;
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "subscription replay failed");
                        return;
                    }
                }
                loop {
                    tokio::select! {
                        _ = tx.closed() => return,
                        received = live.recv() => match received {
                            Ok(e) => {
                                let id = e.position.unwrap_or_default();
                                if id <= last || !filter.matches(&e) {
                                    continue;
                                }
                                match Box::pin(ats.may_receive(&viewer, &e)).await {
                                    Ok(true) => {}
                                    Ok(false) => continue,
                                    Err(err) => {
                                        tracing::warn!(error = %err, "subscription: reading rights failed");
                                        return;
                                    }
                                }
                                if !deliver(&tx, SubscriptionItem::Event(e), last).await {
                                    return;
                                }
                                last = id;
                            }
                            Err(broadcast::error::RecvError::Lagged(_)) => {
                                // This process fell behind the bus: catch up from the table.
                                live = live.resubscribe();
                                break;
                            }
                            Err(broadcast::error::RecvError::Closed) => return,
                        }
                    }
                }
            }
        });
        Ok(rx)
    }

    /// Whether `viewer` may receive the live event `e`: it may read the
    /// event's project, or the task escalated to it. The event that
    /// escalates a task (`task.overdue`, `task.escalated`) commits with the
    /// rights it gives and names their holders; when it names the viewer
    /// and the viewer's rights were read before it (the access change that
    /// the writing replica announces has not arrived yet), they are read
    /// again, so the first event of an escalated task is never lost.
    async fn may_receive(&self, viewer: &Viewer, e: &event::Model) -> Result<bool> {
        let rights = self.rights(viewer).await?;
        if rights.can_read(e.project_id) || rights.escalated(e.task_id) {
            return Ok(true);
        }
        if !super::escalations::Target::named_in(&e.data, viewer.actor()) {
            return Ok(false);
        }
        Ok(self.fresh_rights(viewer).await?.escalated(e.task_id))
    }

    /// Sends stored events after `cursor`; returns the new cursor, or None when the consumer is gone.
    async fn replay(
        &self,
        viewer: &Viewer,
        filter: &EventFilter,
        mut cursor: i64,
        tx: &mpsc::Sender<SubscriptionItem>,
    ) -> Result<Option<i64>> {
        loop {
            let rows = self
                .read_events(viewer, filter, Some(cursor), REPLAY_PAGE)
                .await?;
            let done = (rows.len() as u64) < REPLAY_PAGE;
            for row in rows {
                let id = row.position.unwrap_or_default();
                if !deliver(tx, SubscriptionItem::Event(Arc::new(row)), cursor).await {
                    return Ok(None);
                }
                cursor = id;
            }
            if done {
                return Ok(Some(cursor));
            }
        }
    }

    /// The events readers may see: those up to the end of the log (see
    /// [`crate::events`]), so that a cursor never passes an event that
    /// commits late.
    pub(crate) fn in_log(&self) -> Condition {
        match self.bus.log_end() {
            Some(end) => Condition::all().add(event::Column::Position.lte(end)),
            None => Condition::all().add(event::Column::Position.is_not_null()),
        }
    }

    /// The id of the newest stored event: the cursor "now" of a
    /// subscription that gives no `after`. With no event stored, the front
    /// of the log (0, or the last id pruned), so that the cursor is never
    /// before the retained log.
    pub async fn max_event_id(&self) -> Result<i64> {
        self.bus.caught_up().await;
        let newest = event::Entity::find()
            .filter(self.in_log())
            .order_by_desc(event::Column::Position)
            .one(self.store.conn())
            .await?
            .and_then(|e| e.position);
        match newest {
            Some(id) => Ok(id),
            None => self.pruned_through().await,
        }
    }
}

/// How long a full queue may stay full before the consumer counts as lagging.
const LAG_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Queues an item, waiting while the consumer catches up; a consumer stuck for
/// longer than [`LAG_GRACE`] is told it lagged and the subscription ends.
async fn deliver(tx: &mpsc::Sender<SubscriptionItem>, item: SubscriptionItem, last: i64) -> bool {
    match tokio::time::timeout(LAG_GRACE, tx.send(item)).await {
        Ok(Ok(())) => true,
        Ok(Err(_)) => false,
        Err(_) => {
            let _ = tx.try_send(SubscriptionItem::Lagged { last_id: last });
            false
        }
    }
}
