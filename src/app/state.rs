//! What every handler can reach.

use std::sync::Arc;

use tokio::sync::watch;

use crate::config::Config;
use crate::graphql::AtsSchema;
use crate::metrics::Metrics;
use crate::service::Ats;

/// The state shared by every adapter.
#[derive(Clone)]
pub struct AppState {
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
