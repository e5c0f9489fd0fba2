//! The service layer: every rule of ATS (lifecycle, leases, events, validation)
//! lives here. REST, `/ws` and GraphQL are thin adapters over [`Ats`].

mod access;
mod audit;
mod batch;
mod claim_next;
mod counts;
mod dashboard;
pub mod documented;
mod escalations;
mod event_log;
mod guardians;
mod health;
pub mod idempotency;
mod identities;
mod lifecycle;
mod live;
mod members;
mod messages;
mod orgs;
pub mod paging;
mod projects;
mod queue;
mod reaper;
mod recent_rows;
pub mod retention;
mod retry;
mod sessions;
mod stats;
mod tasks;
mod timers;
pub mod validate;
mod viewer;
pub mod views;
mod webhook_delivery;
pub mod webhook_url;
mod webhooks;
mod workflow;

use crate::auth::AuthSettings;
use crate::db::Store;
use crate::events::EventBus;

pub use crate::entity::task::TaskStatus;
pub use access::{Access, role};
pub use audit::{AuditQuery, AuditView};
pub use claim_next::{ClaimBatch, ClaimNext, NO_CLAIMABLE_TASK};
pub use counts::{CountFilter, CountFolder, Tally};
pub use dashboard::TaskAction;
pub use event_log::{EventFilter, EventQuery, SubscriptionItem};
pub use guardians::{GuardianLink, GuardianshipView};
pub use health::Health;
pub use idempotency::Idempotency;
pub use identities::{
    ApiKeyView, IdentityPatch, IdentityView, LoggedIn, Login, NewApiKey, Principal,
    PublicIdentityView, Registered, Registration,
};
pub use lifecycle::{Action, RetryAsk};
pub use lifecycle::{parse_status, status_names};
pub use members::{
    InvitationView, MemberView, NewInvitation, NewMember, NewPermission, PermissionView,
};
pub use messages::NewMessage;
pub use orgs::{NewOrg, OrgPatch};
pub use projects::{NewProject, ProjectPatch};
pub use queue::{QueueSeries, QueueSnapshot};
pub use reaper::{LeaseReaper, ReaperCounters};
pub use retention::{PruneReport, Pruner, RetentionCounters, RetentionPolicy};
pub use retry::{Backoff, RetryInput, RetryPolicy};
pub use sessions::{KeyScope, PasswordChange, PasswordReset, ResetIssued};
pub use stats::{StatsScope, TaskStats};
pub use tasks::{MAX_BULK, NewTask, Scope, SortBy, TaskList, TaskPatch, TaskQuery};
pub use timers::TimerWorker;
pub use viewer::{Rights, Viewer};
pub use webhook_delivery::{WebhookMetrics, WebhookWorker, signature as webhook_signature};
pub use webhooks::{DeliveryView, NewWebhook, Page, WebhookPatch, WebhookSettings, WebhookView};
pub use workflow::{HandoffView, NewHandoff};

/// The service handle: cheap to clone, shared by every adapter.
#[derive(Clone)]
pub struct Ats(std::sync::Arc<Parts>);

/// What an [`Ats`] holds, behind one `Arc`: a clone (every request makes
/// several) costs one reference count, not one per part. Settings are held
/// by value; the state that changes at run time keeps its own `Arc`, so a
/// copy made by [`Ats::with_webhook_settings`] still shares it.
#[derive(Clone)]
pub struct Parts {
    store: Store,
    bus: EventBus,
    auth: AuthSettings,
    rights: std::sync::Arc<viewer::RightsCache>,
    credentials: std::sync::Arc<sessions::CredentialCache>,
    sign_in: std::sync::Arc<crate::auth::limits::SignInLimits>,
    live_tasks: std::sync::Arc<live::LiveTasks>,
    /// Task rows this process wrote last (see [`recent_rows`]).
    recent: std::sync::Arc<recent_rows::RecentRows>,
    /// Subscribers served by another's execution (shared GraphQL
    /// subscriptions), counted in [`Ats::open_subscriptions`].
    shared_subscribers: std::sync::Arc<std::sync::atomic::AtomicI64>,
    /// How webhooks behave (URL policy, retries).
    webhooks: WebhookSettings,
    /// The webhook delivery loops' shared state.
    outbound: std::sync::Arc<webhook_delivery::Outbound>,
    /// Flips to true when the server begins to shut down.
    closing: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
}

impl std::ops::Deref for Ats {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}

impl Ats {
    /// A service over `store`, publishing committed events to `bus`.
    pub fn new(store: Store, bus: EventBus, auth: AuthSettings) -> Self {
        Self::counting_sign_ins(store, bus, auth, Default::default())
    }

    /// Like [`Ats::new`], counting refused sign-ins in `refusals` (the
    /// `/metrics` counter).
    pub fn counting_sign_ins(
        store: Store,
        bus: EventBus,
        auth: AuthSettings,
        refusals: crate::auth::limits::SignInRefusals,
    ) -> Self {
        let sign_in = std::sync::Arc::new(crate::auth::limits::SignInLimits::new(
            &auth.sign_in,
            refusals,
        ));
        Self(std::sync::Arc::new(Parts {
            store,
            bus,
            auth,
            rights: Default::default(),
            credentials: Default::default(),
            sign_in,
            live_tasks: Default::default(),
            recent: Default::default(),
            shared_subscribers: Default::default(),
            webhooks: Default::default(),
            outbound: Default::default(),
            closing: std::sync::Arc::new(tokio::sync::watch::Sender::new(false)),
        }))
    }

    /// The same service with webhooks configured by `settings`.
    pub fn with_webhook_settings(mut self, settings: WebhookSettings) -> Self {
        std::sync::Arc::make_mut(&mut self.0).webhooks = settings;
        self
    }

    /// Tells the service that the server is shutting down: claims waiting
    /// for work (`wait_ms`) stop waiting and answer with what they have, so
    /// their requests finish within the shutdown's grace period.
    pub fn begin_shutdown(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once [`Ats::begin_shutdown`] has been called (at once if it has).
    pub(crate) async fn shutting_down(&self) {
        let mut closing = self.closing.subscribe();
        let _ = closing.wait_for(|closing| *closing).await;
    }

    /// How many event subscriptions are open in this process (`/metrics`).
    pub fn open_subscriptions(&self) -> usize {
        let shared = self
            .shared_subscribers
            .load(std::sync::atomic::Ordering::Relaxed);
        (self.bus.receiver_count() as i64 + shared).max(0) as usize
    }

    /// Counts `delta` more subscribers served by the execution of another
    /// (an adapter that shares one subscription among identical ones).
    pub fn note_shared_subscribers(&self, delta: i64) {
        self.shared_subscribers
            .fetch_add(delta, std::sync::atomic::Ordering::Relaxed);
    }
}
