//! What every handler can reach.

use std::sync::Arc;

use tokio::sync::watch;

use crate::config::Config;
use crate::graphql::AtsSchema;
use crate::metrics::Metrics;
use crate::service::Ats;

/// The state shared by every adapter. Axum clones it for each extractor
/// and layer of each request: one reference count, whatever it holds.
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

impl AppState {
    /// The state holding `parts`.
    pub fn new(parts: AppParts) -> Self {
        Self(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// What an [`AppState`] holds.
pub struct AppParts {
    /// The service layer.
    pub ats: Ats,
    /// Server configuration.
    pub config: Arc<Config>,
    /// Flips to true when the server is shutting down.
    pub shutdown: watch::Receiver<bool>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// The GraphQL schema over the same service.
    pub schema: AtsSchema,
    /// Open WebSockets (`/ws` and `/graphql/ws`) and their caps.
    pub sockets: Arc<super::sockets::SocketSlots>,
    /// Live GraphQL subscriptions shared by identical subscribers.
    pub shared_subscriptions: Arc<crate::graphql::SharedSubscriptions>,
}
