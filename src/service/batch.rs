//! Batched reads for GraphQL DataLoaders: one query for many tasks, limited
//! in the query itself to the projects the viewer may read.

use std::collections::HashMap;

use sea_orm::sea_query::{Query, SelectStatement};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder};

use super::viewer::Rights;
use super::views::{EventView, MessageView, TaskView};
use super::{Ats, Viewer};
use crate::entity::{event, message, task};
use crate::error::Result;

/// `SELECT id FROM tasks WHERE id IN (ids) AND (project_id IN (readable)
/// OR id IN (escalated))`.
pub(crate) fn readable_task_ids(rights: &Rights, ids: &[i64]) -> SelectStatement {
    Query::select()
        .column(task::Column::Id)
        .from(task::Entity)
        .and_where(task::Column::Id.is_in(ids.iter().copied()))
        .cond_where(readable_or_escalated(
            rights,
            ids,
            task::Column::ProjectId,
            task::Column::Id,
        ))
        .to_owned()
}

/// Rows of the projects `rights` may read, or of those of the tasks `ids`
/// escalated to the viewer (who may read them whatever their project).
fn readable_or_escalated(
    rights: &Rights,
    ids: &[i64],
    project: impl ColumnTrait,
    task: impl ColumnTrait,
) -> Condition {
    let escalated: Vec<i64> = ids
        .iter()
        .copied()
        .filter(|id| rights.escalated(*id))
        .collect();
    let mut cond = Condition::any().add(project.is_in(rights.readable()));
    if !escalated.is_empty() {
        cond = cond.add(task.is_in(escalated));
    }
    cond
}

impl Ats {
    /// Pages of many task threads in one statement: for each `(task, after,
    /// first)`, the task's first `first` messages with an id above `after`,
    /// oldest first (none for a task the viewer may not read). Each page is
    /// read with its own `LIMIT`, so a request costs its pages, not its
    /// tasks' whole threads.
    pub async fn thread_pages(
        &self,
        viewer: &Viewer,
        pages: &[(i64, i64, u64)],
    ) -> Result<HashMap<(i64, i64, u64), Vec<MessageView>>> {
        use sea_orm::FromQueryResult;
        use sea_orm::sea_query::{Alias, Asterisk, Order, UnionType};
        let rights = self.rights(viewer).await?;
        let mut union: Option<SelectStatement> = None;
        for (i, &(task, after, first)) in pages.iter().enumerate() {
            let page = Query::select()
                .column(Asterisk)
                .from(message::Entity)
                .and_where(message::Column::TaskId.eq(task))
                .and_where(message::Column::Id.gt(after))
                .and_where(message::Column::TaskId.in_subquery(readable_task_ids(&rights, &[task])))
                .order_by(message::Column::Id, Order::Asc)
                .limit(first)
                .to_owned();
            // SQLite takes no `ORDER BY` or `LIMIT` in a compound's arm
            // unless the arm is a subquery.
            let arm = Query::select()
                .column(Asterisk)
                .from_subquery(page, Alias::new(format!("p{i}")))
                .to_owned();
            union = Some(match union {
                None => arm,
                Some(mut all) => {
                    all.union(UnionType::All, arm);
                    all
                }
            });
        }
        let Some(union) = union else {
            return Ok(HashMap::new());
        };
        let conn = self.store.conn();
        let stmt = conn.get_database_backend().build(&union);
        let mut by_task: HashMap<i64, Vec<message::Model>> = HashMap::new();
        for m in message::Model::find_by_statement(stmt).all(conn).await? {
            by_task.entry(m.task_id).or_default().push(m);
        }
        for thread in by_task.values_mut() {
            thread.sort_by_key(|m| m.id);
            thread.dedup_by_key(|m| m.id);
        }
        // A task's rows are the union of its pages: each page is its first
        // `first` rows above `after`.
        Ok(pages
            .iter()
            .map(|&(task, after, first)| {
                let page = by_task
                    .get(&task)
                    .map(|thread| {
                        thread
                            .iter()
                            .filter(|m| m.id > after)
                            .take(first as usize)
                            .cloned()
                            .map(MessageView::from)
                            .collect()
                    })
                    .unwrap_or_default();
                ((task, after, first), page)
            })
            .collect())
    }

    /// The histories of many tasks, oldest event first.
    pub async fn events_of_tasks(
        &self,
        viewer: &Viewer,
        task_ids: &[i64],
    ) -> Result<HashMap<i64, Vec<EventView>>> {
        let rights = self.rights(viewer).await?;
        self.bus.caught_up().await;
        let rows = event::Entity::find()
            .filter(event::Column::TaskId.is_in(task_ids.iter().copied()))
            .filter(readable_or_escalated(
                &rights,
                task_ids,
                event::Column::ProjectId,
                event::Column::TaskId,
            ))
            .filter(self.in_log())
            .order_by_asc(event::Column::Position)
            .all(self.store.conn())
            .await?;
        let mut out: HashMap<i64, Vec<EventView>> = HashMap::new();
        for e in rows {
            out.entry(e.task_id).or_default().push(EventView::from(&e));
        }
        Ok(out)
    }

    /// Many tasks by id (missing ones are absent from the map).
    pub async fn tasks_by_ids(
        &self,
        viewer: &Viewer,
        ids: &[i64],
    ) -> Result<HashMap<i64, TaskView>> {
        let rights = self.rights(viewer).await?;
        let rows = task::Entity::find()
            .filter(task::Column::Id.is_in(ids.iter().copied()))
            .filter(task::Column::ProjectId.is_in(rights.readable()))
            .all(self.store.conn())
            .await?;
        let views = self.readable_views(&rights, rows).await?;
        Ok(views.into_iter().map(|v| (v.id, v)).collect())
    }
}

impl Ats {
    /// Views of task rows from projects `rights` may read, with their
    /// dependencies filled in.
    pub(crate) async fn readable_views(
        &self,
        rights: &Rights,
        rows: Vec<task::Model>,
    ) -> Result<Vec<TaskView>> {
        let mut views: Vec<TaskView> = rows
            .into_iter()
            .filter_map(|t| {
                let loc = rights.location(t.project_id)?.clone();
                Some(TaskView::new(t, &loc))
            })
            .collect();
        self.decorate(self.store.conn(), &mut views).await?;
        Ok(views)
    }

    /// Subtasks of many parents, oldest first.
    pub async fn subtasks_of_tasks(
        &self,
        viewer: &Viewer,
        parent_ids: &[i64],
    ) -> Result<HashMap<i64, Vec<TaskView>>> {
        let rights = self.rights(viewer).await?;
        let rows = task::Entity::find()
            .filter(task::Column::ParentId.is_in(parent_ids.iter().copied()))
            .filter(task::Column::ProjectId.is_in(rights.readable()))
            .order_by_asc(task::Column::Id)
            .all(self.store.conn())
            .await?;
        let views = self.readable_views(&rights, rows).await?;
        let mut out: HashMap<i64, Vec<TaskView>> = HashMap::new();
        for v in views {
            if let Some(p) = v.parent_id {
                out.entry(p).or_default().push(v);
            }
        }
        Ok(out)
    }
}
