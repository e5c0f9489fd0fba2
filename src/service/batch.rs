//! Batched reads for GraphQL DataLoaders: one query for many tasks.

use std::collections::HashMap;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::Ats;
use super::views::{EventView, MessageView, TaskView};
use crate::entity::{event, message, task};
use crate::error::Result;

impl Ats {
    /// The threads of many tasks, oldest message first.
    pub async fn messages_of_tasks(
        &self,
        task_ids: &[i64],
    ) -> Result<HashMap<i64, Vec<MessageView>>> {
        let rows = message::Entity::find()
            .filter(message::Column::TaskId.is_in(task_ids.iter().copied()))
            .order_by_asc(message::Column::Id)
            .all(self.store.conn())
            .await?;
        let mut out: HashMap<i64, Vec<MessageView>> = HashMap::new();
        for m in rows {
            out.entry(m.task_id).or_default().push(MessageView::from(m));
        }
        Ok(out)
    }

    /// The histories of many tasks, oldest event first.
    pub async fn events_of_tasks(&self, task_ids: &[i64]) -> Result<HashMap<i64, Vec<EventView>>> {
        let rows = event::Entity::find()
            .filter(event::Column::TaskId.is_in(task_ids.iter().copied()))
            .order_by_asc(event::Column::Id)
            .all(self.store.conn())
            .await?;
        let mut out: HashMap<i64, Vec<EventView>> = HashMap::new();
        for e in rows {
            out.entry(e.task_id).or_default().push(EventView::from(&e));
        }
        Ok(out)
    }

    /// Many tasks by id (missing ones are absent from the map).
    pub async fn tasks_by_ids(&self, ids: &[i64]) -> Result<HashMap<i64, TaskView>> {
        let rows = task::Entity::find()
            .filter(task::Column::Id.is_in(ids.iter().copied()))
            .all(self.store.conn())
            .await?;
        let mut project_ids: Vec<i32> = rows.iter().map(|t| t.project_id).collect();
        project_ids.sort_unstable();
        project_ids.dedup();
        let locs = self.locations(self.store.conn(), project_ids).await?;
        let mut views: Vec<TaskView> = rows
            .into_iter()
            .filter_map(|t| locs.get(&t.project_id).map(|l| TaskView::new(t, l)))
            .collect();
        self.decorate(self.store.conn(), &mut views).await?;
        Ok(views.into_iter().map(|v| (v.id, v)).collect())
    }
}

impl Ats {
    /// Subtasks of many parents, oldest first.
    pub async fn subtasks_of_tasks(
        &self,
        parent_ids: &[i64],
    ) -> Result<HashMap<i64, Vec<TaskView>>> {
        let db = self.store.conn();
        let rows = task::Entity::find()
            .filter(task::Column::ParentId.is_in(parent_ids.iter().copied()))
            .order_by_asc(task::Column::Id)
            .all(db)
            .await?;
        let mut project_ids: Vec<i32> = rows.iter().map(|t| t.project_id).collect();
        project_ids.sort_unstable();
        project_ids.dedup();
        let locs = self.locations(db, project_ids).await?;
        let mut views: Vec<TaskView> = rows
            .into_iter()
            .filter_map(|t| locs.get(&t.project_id).map(|l| TaskView::new(t, l)))
            .collect();
        self.decorate(db, &mut views).await?;
        let mut out: HashMap<i64, Vec<TaskView>> = HashMap::new();
        for v in views {
            if let Some(p) = v.parent_id {
                out.entry(p).or_default().push(v);
            }
        }
        Ok(out)
    }
}
