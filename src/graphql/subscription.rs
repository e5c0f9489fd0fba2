//! Subscription root: `taskEvents`, with the replay semantics of `/ws`.

use async_graphql::{Context, ErrorExtensions, ID, Subscription};
use futures_util::Stream;

use super::error::to_gql;
use super::inputs::TaskEventFilter;
use super::shared::LastEventId;
use super::types::TaskEvent;
use super::{GqlResult, OrGql, ats};
use crate::error::Error;
use crate::service::SubscriptionItem;

/// Live operations.
pub struct SubscriptionRoot;

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Events as they commit. With `after` (an event id), stored events after
    /// it come first, then live ones, with no gap and no duplicate. A consumer
    /// that falls too far behind gets a `LAGGED` error and may resubscribe.
    /// An `after` before the retained log (events older than the retention
    /// period are pruned) gets a `CURSOR_EXPIRED` error whose
    /// `extensions.prunedThrough` is the oldest cursor still accepted.
    async fn task_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<TaskEventFilter>,
        after: Option<ID>,
    ) -> async_graphql::Result<impl Stream<Item = GqlResult<TaskEvent>>> {
        let ats = ats(ctx).clone();
        let viewer = super::viewer(ctx)?;
        let q = filter.unwrap_or_default().to_query(after.as_ref())?;
        let filter = ats.event_filter(viewer, &q).await.gql()?;
        let rx = ats.subscribe_events(viewer, filter, q.after).await.gql()?;
        // A shared execution (see `super::shared`) tells its members which
        // event each response carries.
        let last = ctx.data_opt::<LastEventId>().cloned();
        Ok(futures_util::stream::unfold(
            (rx, false, ats),
            move |(mut rx, ended, ats)| {
                let last = last.clone();
                async move {
                    if ended {
                        return None;
                    }
                    match rx.recv().await? {
                        SubscriptionItem::Event(e) => {
                            if let Some(last) = &last {
                                last.set(e.position.unwrap_or_default());
                            }
                            let event = TaskEvent(ats.live_event_view(&e));
                            Some((Ok(event), (rx, false, ats)))
                        }
                        SubscriptionItem::Lagged { last_id } => {
                            Some((Err(lagged(last_id)), (rx, true, ats)))
                        }
                        SubscriptionItem::Expired {
                            after,
                            pruned_through,
                        } => {
                            let err = to_gql(Error::cursor_expired(after, pruned_through));
                            Some((Err(err), (rx, true, ats)))
                        }
                    }
                }
            },
        ))
    }
}

/// The error that ends a subscription whose consumer fell behind, naming the
/// cursor to resubscribe with.
pub(super) fn lagged(last_id: i64) -> async_graphql::Error {
    async_graphql::Error::new(format!(
        "this subscription fell too far behind; subscribe again with after: \"{last_id}\""
    ))
    .extend_with(|_, ext| {
        ext.set("code", "LAGGED");
        ext.set("lastId", last_id.to_string());
    })
}
