//! Shared subscriptions: `/graphql/ws` subscribers that ask for exactly the
//! same thing with the same credential get one execution between them.
//!
//! A dashboard opened in many tabs, or many workers of one key watching a
//! project, each subscribe with the same document and variables. Executing
//! the selection once per event per subscriber is what made 10,000
//! subscribers CPU-bound; here the first subscriber of a group starts the
//! execution, every event's response is made once, and the members receive
//! it through a broadcast. Membership is in this process's memory only: a
//! restart drops the sockets, and clients resubscribe.
//!
//! Only live subscriptions share: one with an `after` cursor replays history
//! from its own point, so it runs on its own, as does everything that is not
//! a subscription. A member that falls behind the group ends with `LAGGED`
//! and the last event id it received, as a subscription of its own would.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use async_graphql::parser::types::{OperationType, Selection};
use async_graphql::{Data, Executor, Request, Response};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use tokio::sync::broadcast;

use super::AtsSchema;
use crate::service::{Ats, Viewer};

/// Responses queued for one member before it counts as lagging.
const MEMBER_QUEUE: usize = 1024;

/// What identifies a group: who asks (their credential) and what they ask.
#[derive(Clone, PartialEq, Eq, Hash)]
struct GroupKey {
    credential: String,
    query: String,
    operation: Option<String>,
    variables: String,
}

/// One response of a group's execution, with the id of the event it carries.
#[derive(Clone)]
struct Shared {
    event_id: i64,
    response: Arc<Response>,
}

/// The id of the last event a group's execution resolved; written by the
/// `taskEvents` resolver when the request carries it.
#[derive(Clone, Default)]
pub(super) struct LastEventId(Arc<AtomicI64>);

impl LastEventId {
    /// Notes that the event `id` is being resolved.
    pub(super) fn set(&self, id: i64) {
        self.0.store(id, Ordering::Relaxed);
    }

    fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The open groups of this process.
#[derive(Default)]
pub struct SharedSubscriptions {
    groups: Mutex<HashMap<GroupKey, Group>>,
}

struct Group {
    tx: broadcast::Sender<Shared>,
    last: LastEventId,
}

impl SharedSubscriptions {
    /// How many groups are open (for tests and metrics).
    pub fn groups(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<GroupKey, Group>> {
        self.groups.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Removes the group of `key` if it is still `tx`'s and nobody listens;
    /// true when it is gone (or was never there).
    fn retire(&self, key: &GroupKey, tx: &broadcast::Sender<Shared>) -> bool {
        let mut groups = self.lock();
        match groups.get(key) {
            Some(g) if g.tx.same_channel(tx) => {
                if tx.receiver_count() > 0 {
                    return false;
                }
                groups.remove(key);
                true
            }
            _ => true,
        }
    }
}

/// The executor of `/graphql/ws`: the schema, sharing live subscriptions.
#[derive(Clone)]
pub struct SharingExecutor {
    schema: AtsSchema,
    shared: Arc<SharedSubscriptions>,
    ats: Ats,
}

impl SharingExecutor {
    /// `schema`, sharing identical live subscriptions through `shared`.
    pub fn new(schema: AtsSchema, shared: Arc<SharedSubscriptions>, ats: Ats) -> Self {
        Self {
            schema,
            shared,
            ats,
        }
    }

    /// A member's stream of the group of `key`, starting the group's
    /// execution if there is none.
    fn join(
        &self,
        key: GroupKey,
        request: Request,
        data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        let mut groups = self.shared.lock();
        if let Some(group) = groups.get(&key) {
            let rx = group.tx.subscribe();
            return member(rx, group.last.get(), Member::new(&self.ats));
        }
        let (tx, rx) = broadcast::channel(MEMBER_QUEUE);
        let last = LastEventId::default();
        groups.insert(
            key.clone(),
            Group {
                tx: tx.clone(),
                last: last.clone(),
            },
        );
        drop(groups);
        let source = Executor::execute_stream(&self.schema, request.data(last.clone()), data);
        // The group's execution is itself an open subscription of the bus,
        // counted there; its members are the subscribers to count instead.
        self.ats.note_shared_subscribers(-1);
        let ats = self.ats.clone();
        let shared = self.shared.clone();
        tokio::spawn(async move {
            run_group(shared, key, tx, last, source).await;
            ats.note_shared_subscribers(1);
        });
        member(rx, 0, Member::new(&self.ats))
    }
}

impl Executor for SharingExecutor {
    async fn execute(&self, request: Request) -> Response {
        self.schema.execute(request).await
    }

    fn execute_stream(
        &self,
        request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        match group_key(&request, session_data.as_deref()) {
            Some(key) => self.join(key, request, session_data),
            None => Executor::execute_stream(&self.schema, request, session_data),
        }
    }
}

/// Runs a group's execution until it ends or nobody listens any more.
async fn run_group(
    shared: Arc<SharedSubscriptions>,
    key: GroupKey,
    tx: broadcast::Sender<Shared>,
    last: LastEventId,
    mut source: BoxStream<'static, Response>,
) {
    loop {
        tokio::select! {
            item = source.next() => match item {
                Some(response) => {
                    let shared_item = Shared { event_id: last.get(), response: Arc::new(response) };
                    if tx.send(shared_item).is_err() && shared.retire(&key, &tx) {
                        return;
                    }
                }
                None => {
                    // Members read what was sent, then their streams end.
                    shared.retire_ended(&key, &tx);
                    return;
                }
            },
            _ = tx.closed() => {
                if shared.retire(&key, &tx) {
                    return;
                }
            }
        }
    }
}

impl SharedSubscriptions {
    /// Removes the group of `key` whose execution ended, members or not.
    fn retire_ended(&self, key: &GroupKey, tx: &broadcast::Sender<Shared>) {
        let mut groups = self.lock();
        if groups.get(key).is_some_and(|g| g.tx.same_channel(tx)) {
            groups.remove(key);
        }
    }
}

/// Counts a member in `ats_open_subscriptions` while it lives.
struct Member {
    ats: Ats,
}

impl Member {
    fn new(ats: &Ats) -> Self {
        ats.note_shared_subscribers(1);
        Self { ats: ats.clone() }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.ats.note_shared_subscribers(-1);
    }
}

/// A member's responses, from what the group broadcasts after it joined.
fn member(
    rx: broadcast::Receiver<Shared>,
    joined_at: i64,
    guard: Member,
) -> BoxStream<'static, Response> {
    futures_util::stream::unfold(
        (rx, joined_at, false, guard),
        |(mut rx, last, ended, guard)| async move {
            if ended {
                return None;
            }
            match rx.recv().await {
                Ok(item) => {
                    let response = copy(&item.response);
                    let last = item.event_id.max(last);
                    Some((response, (rx, last, false, guard)))
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let err = super::subscription::lagged(last)
                        .into_server_error(Default::default())
                        .with_path(vec![async_graphql::PathSegment::Field(
                            "taskEvents".to_owned(),
                        )]);
                    Some((Response::from_errors(vec![err]), (rx, last, true, guard)))
                }
                Err(broadcast::error::RecvError::Closed) => None,
            }
        },
    )
    .boxed()
}

/// A member's own copy of a shared response.
fn copy(r: &Response) -> Response {
    let mut out = Response::new(r.data.clone());
    out.errors = r.errors.clone();
    out.extensions = r.extensions.clone();
    out
}

/// The group a request may share, if it is a live subscription (no `after`)
/// by a known caller.
fn group_key(request: &Request, data: Option<&Data>) -> Option<GroupKey> {
    let viewer = data?
        .get(&std::any::TypeId::of::<Viewer>())?
        .downcast_ref::<Viewer>()?;
    let doc = async_graphql::parser::parse_query(&request.query).ok()?;
    let mut operations = doc.operations.iter();
    let (_, op) = match &request.operation_name {
        Some(name) => operations.find(|(n, _)| n.map(|n| n.as_str()) == Some(name.as_str()))?,
        None => {
            let first = operations.next()?;
            if operations.next().is_some() {
                return None;
            }
            first
        }
    };
    if op.node.ty != OperationType::Subscription || !doc.fragments.is_empty() {
        return None;
    }
    let live_only = op
        .node
        .selection_set
        .node
        .items
        .iter()
        .all(|sel| match &sel.node {
            Selection::Field(f) => {
                f.node.name.node == "taskEvents" && f.node.get_argument("after").is_none()
            }
            _ => false,
        });
    if !live_only {
        return None;
    }
    Some(GroupKey {
        credential: viewer.sharing_key(),
        query: request.query.clone(),
        operation: request.operation_name.clone(),
        variables: serde_json::to_string(&request.variables).ok()?,
    })
}
