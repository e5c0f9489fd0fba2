//! DataLoaders: fields of many tasks resolved with one query per field.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;

use crate::service::views::{EventView, MessageView, TaskView};
use crate::service::{Ats, Viewer};

/// A per-request DataLoader with its cache.
pub type Cached<T> =
    async_graphql::dataloader::DataLoader<T, async_graphql::dataloader::HashMapCache>;

/// Marks the data of a long-lived subscription socket, whose loader cache
/// must not answer "the task as it is now".
pub struct LiveConnection;

/// Pages of task threads, by [`ThreadPage`].
pub struct MessagesLoader(pub Ats, pub Viewer);

/// One page of a task's thread: its messages after the message `after`,
/// at most `first` of them, oldest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ThreadPage {
    /// The task.
    pub task: i64,
    /// Messages with a greater id only.
    pub after: i64,
    /// The page size.
    pub first: u64,
}
/// Events by task id.
pub struct EventsLoader(pub Ats, pub Viewer);
/// Tasks by id (parents).
pub struct TaskLoader(pub Ats, pub Viewer);

/// `found` with an empty list for every key that has no rows, so that the
/// request's cache answers for those keys too (rather than loading them again).
fn every_key<V>(keys: &[i64], mut found: HashMap<i64, Vec<V>>) -> HashMap<i64, Vec<V>> {
    for k in keys {
        found.entry(*k).or_default();
    }
    found
}

/// A loader failure, shared by every waiting field.
pub type LoadError = Arc<async_graphql::Error>;

impl Loader<ThreadPage> for MessagesLoader {
    type Value = Vec<MessageView>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[ThreadPage],
    ) -> Result<HashMap<ThreadPage, Self::Value>, Self::Error> {
        let pages: Vec<(i64, i64, u64)> = keys.iter().map(|k| (k.task, k.after, k.first)).collect();
        let mut found = self
            .0
            .thread_pages(&self.1, &pages)
            .await
            .map_err(|e| Arc::new(super::error::to_gql(e)))?;
        Ok(keys
            .iter()
            .map(|k| {
                (
                    *k,
                    found
                        .remove(&(k.task, k.after, k.first))
                        .unwrap_or_default(),
                )
            })
            .collect())
    }
}

impl Loader<i64> for EventsLoader {
    type Value = Vec<EventView>;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let found = self
            .0
            .events_of_tasks(&self.1, keys)
            .await
            .map_err(|e| Arc::new(super::error::to_gql(e)))?;
        Ok(every_key(keys, found))
    }
}

impl Loader<i64> for TaskLoader {
    type Value = TaskView;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        self.0
            .tasks_by_ids(&self.1, keys)
            .await
            .map_err(|e| Arc::new(super::error::to_gql(e)))
    }
}

/// Subtasks by parent id.
pub struct SubtasksLoader(pub Ats, pub Viewer);
/// Handoffs by task id.
pub struct HandoffsLoader(pub Ats, pub Viewer);

impl Loader<i64> for SubtasksLoader {
    type Value = Vec<TaskView>;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let found = self
            .0
            .subtasks_of_tasks(&self.1, keys)
            .await
            .map_err(|e| Arc::new(super::error::to_gql(e)))?;
        Ok(every_key(keys, found))
    }
}

impl Loader<i64> for HandoffsLoader {
    type Value = Vec<crate::service::HandoffView>;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let found = self
            .0
            .handoffs_of_tasks(&self.1, keys)
            .await
            .map_err(|e| Arc::new(super::error::to_gql(e)))?;
        Ok(every_key(keys, found))
    }
}
