//! DataLoaders: fields of many tasks resolved with one query per field.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;

use crate::service::Ats;
use crate::service::views::{EventView, MessageView, TaskView};

/// Messages by task id.
pub struct MessagesLoader(pub Ats);
/// Events by task id.
pub struct EventsLoader(pub Ats);
/// Tasks by id (parents).
pub struct TaskLoader(pub Ats);

/// A loader failure, shared by every waiting field.
pub type LoadError = Arc<async_graphql::Error>;

impl Loader<i64> for MessagesLoader {
    type Value = Vec<MessageView>;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        self.0
            .messages_of_tasks(keys)
            .await
            .map_err(|e| Arc::new(super::error::to_gql(e)))
    }
}

impl Loader<i64> for EventsLoader {
    type Value = Vec<EventView>;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        self.0
            .events_of_tasks(keys)
            .await
            .map_err(|e| Arc::new(super::error::to_gql(e)))
    }
}

impl Loader<i64> for TaskLoader {
    type Value = TaskView;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        self.0
            .tasks_by_ids(keys)
            .await
            .map_err(|e| Arc::new(super::error::to_gql(e)))
    }
}

/// Subtasks by parent id.
pub struct SubtasksLoader(pub Ats);
/// Handoffs by task id.
pub struct HandoffsLoader(pub Ats);

impl Loader<i64> for SubtasksLoader {
    type Value = Vec<TaskView>;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        self.0
            .subtasks_of_tasks(keys)
            .await
            .map_err(|e| Arc::new(super::error::to_gql(e)))
    }
}

impl Loader<i64> for HandoffsLoader {
    type Value = Vec<crate::service::HandoffView>;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        self.0
            .handoffs_of_tasks(keys)
            .await
            .map_err(|e| Arc::new(super::error::to_gql(e)))
    }
}
