//! The GraphQL API (SPEC §5): queries, mutations and the `taskEvents`
//! subscription over the same service layer as REST.

mod access;
mod bounds;
mod error;
mod gate;
mod guards;
mod inputs;
mod loaders;
mod mutation;
mod query;
mod scalars;
mod shared;
pub use bounds::MAX_FIELDS;
pub use shared::{SharedSubscriptions, SharingExecutor};
mod subscription;
mod transport;
mod types;
mod webhooks;

use async_graphql::{Context, Schema};
pub use gate::{CallerGate, CallerKey, EXPENSIVE};

pub use error::{GqlResult, OrGql};
pub use transport::{request_data, routes};

use crate::service::{Ats, Viewer};

/// The schema type.
pub type AtsSchema = Schema<Query, Mutation, subscription::SubscriptionRoot>;

/// Every read.
#[derive(async_graphql::MergedObject, Default)]
pub struct Query(
    query::QueryRoot,
    access::AccessQuery,
    webhooks::WebhookQuery,
);

/// Every write.
#[derive(async_graphql::MergedObject, Default)]
pub struct Mutation(
    mutation::MutationRoot,
    access::AccessMutation,
    webhooks::WebhookMutation,
);

/// The deepest query accepted.
pub const MAX_DEPTH: usize = 12;

/// The cost model: an upper bound on the database work of one request,
/// computed from the document before anything runs, so a request over it is
/// refused (`QUERY_TOO_COMPLEX`, with the limit) without touching the
/// database. Every field costs 1, and every alias counts again. A root field
/// that reads the database costs [`READ_COST`] more (root fields run
/// concurrently, each on a connection of the pool, so this bounds how many
/// one request can hold); a count over the tasks costs [`COUNT_COST`] (a
/// connection of tasks pays it whether `totalCount` is selected or not, as
/// do `stats` and projects with their counts). A list costs its fields once
/// per item it may hold: its `first`, its default page, or [`UNPAGED_LIST`].
/// Lists under a task are read for all tasks of a page at once (DataLoaders),
/// so they cost by the rows they may return, not by statements.
pub const MAX_COMPLEXITY: usize = 50_000;
/// What a root field that reads the database costs besides its children.
pub const READ_COST: usize = 250;
/// What a count over the tasks table costs.
pub const COUNT_COST: usize = 500;
/// The items a list without a page size is assumed to hold.
pub const UNPAGED_LIST: usize = 20;

/// The cost of a connection of tasks: its query and count, plus its fields
/// once per task it may hold (`first`/`last`, default 50).
pub(crate) fn page_cost(first: Option<i32>, last: Option<i32>, child_complexity: usize) -> usize {
    let size = first.or(last).map_or(50, |n| n.clamp(0, 500) as usize);
    COUNT_COST + size.max(1) * child_complexity
}

/// The cost of a page of history (events or messages): its fields once per
/// item it may hold (`first`, default 100, at most 1 000).
pub(crate) fn history_cost(first: Option<i32>, child_complexity: usize) -> usize {
    let size = first.map_or(100, |n| n.clamp(1, 1000) as usize);
    1 + size * child_complexity
}

/// The cost of a list without a page size.
pub(crate) fn list_cost(child_complexity: usize) -> usize {
    1 + UNPAGED_LIST * child_complexity
}

/// Expensive requests one caller may run at once by default.
pub const DEFAULT_CONCURRENCY_PER_CALLER: usize = 8;

/// Builds the schema over `ats`.
pub fn schema(ats: Ats) -> AtsSchema {
    schema_with(ats, CallerGate::new(DEFAULT_CONCURRENCY_PER_CALLER))
}

/// Builds the schema over `ats`, holding expensive requests to `gate`.
pub fn schema_with(ats: Ats, gate: std::sync::Arc<CallerGate>) -> AtsSchema {
    Schema::build(
        Query::default(),
        Mutation::default(),
        subscription::SubscriptionRoot,
    )
    .data(ats)
    .limit_depth(MAX_DEPTH)
    .limit_complexity(MAX_COMPLEXITY)
    .extension(guards::Guards {
        codes: error::DefaultCode,
        bounds: bounds::DocumentBounds::default(),
        gate: gate::Gate(gate),
    })
    .finish()
}

/// The SDL of the schema, as checked in at `schema.graphql`.
pub fn sdl() -> String {
    Schema::build(
        Query::default(),
        Mutation::default(),
        subscription::SubscriptionRoot,
    )
    .finish()
    .sdl()
}

fn ats<'a>(ctx: &Context<'a>) -> &'a Ats {
    ctx.data_unchecked::<Ats>()
}

/// The client address of the request (`app::ClientIp`). A request that did
/// not come over HTTP (none does today) counts as the unspecified address.
fn client_ip(ctx: &Context<'_>) -> std::net::IpAddr {
    ctx.data_opt::<crate::app::ClientIp>()
        .map_or(std::net::IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED), |c| {
            c.0
        })
}

/// The caller; 401 when the request was let in without one (sign-in only).
fn viewer<'a>(ctx: &Context<'a>) -> GqlResult<&'a Viewer> {
    ctx.data_opt::<Viewer>()
        .ok_or_else(|| error::to_gql(crate::error::Error::credentials_required()))
}
