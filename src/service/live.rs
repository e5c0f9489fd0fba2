//! A live event's view and its task, made once for every subscriber of this
//! process instead of once per subscriber: with a hundred dashboards on a
//! project, an event costs one read and one conversion, not a hundred.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use sea_orm::EntityTrait;
use tokio::sync::OnceCell;

use super::Ats;
use super::access::Access;
use super::viewer::Viewer;
use super::views::{EventView, TaskView};
use crate::entity::{event, task};
use crate::error::Result;

/// How many recent events keep their view and task.
const KEEP: usize = 4096;

/// What is shared of one live event.
#[derive(Default)]
struct Shared {
    view: std::sync::OnceLock<Arc<EventView>>,
    task: OnceCell<Option<Arc<TaskView>>>,
}

type Slot = Arc<Shared>;

/// The views and tasks of the most recent live events, by event id.
#[derive(Default)]
pub(crate) struct LiveTasks {
    recent: Mutex<Recent>,
}

#[derive(Default)]
struct Recent {
    slots: HashMap<i64, Slot>,
    order: VecDeque<i64>,
}

impl LiveTasks {
    /// The slot of `event`, made on first use; the oldest slot goes past [`KEEP`].
    fn slot(&self, event: i64) -> Slot {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = recent.slots.get(&event) {
            return slot.clone();
        }
        let slot = Slot::default();
        recent.slots.insert(event, slot.clone());
        recent.order.push_back(event);
        while recent.order.len() > KEEP {
            if let Some(old) = recent.order.pop_front() {
                recent.slots.remove(&old);
            }
        }
        slot
    }
}

impl Ats {
    /// The view of live event `e`, made once for every subscriber.
    pub fn live_event_view(&self, e: &event::Model) -> Arc<EventView> {
        let id = e.position.unwrap_or(e.id);
        self.live_tasks
            .slot(id)
            .view
            .get_or_init(|| Arc::new(EventView::from(e)))
            .clone()
    }

    /// The task `event_id` names (`task_id`) as it was when the first live
    /// subscriber asked, shared by every later one; `None` once deleted or
    /// when `viewer` may not read it (neither its project nor, escalated to
    /// the viewer, the task itself).
    pub async fn live_event_task(
        &self,
        viewer: &Viewer,
        event_id: i64,
        task_id: i64,
    ) -> Result<Option<Arc<TaskView>>> {
        let rights = self.rights(viewer).await?;
        let slot = self.live_tasks.slot(event_id);
        let task = slot
            .task
            .get_or_try_init(|| async {
                let db = self.store.conn();
                let Some(row) = task::Entity::find_by_id(task_id).one(db).await? else {
                    return Ok::<_, crate::error::Error>(None);
                };
                let loc = match rights.location(row.project_id) {
                    Some(loc) => Some(loc.clone()),
                    None => self
                        .locations(db, vec![row.project_id])
                        .await?
                        .remove(&row.project_id),
                };
                let Some(loc) = loc else { return Ok(None) };
                let mut view = TaskView::new(row, &loc);
                self.decorate(db, std::slice::from_mut(&mut view)).await?;
                Ok(Some(Arc::new(view)))
            })
            .await?;
        Ok(task
            .as_ref()
            .filter(|t| rights.task(t.id, t.project_id) >= Access::Read)
            .cloned())
    }
}
