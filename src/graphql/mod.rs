//! The GraphQL API (SPEC §5): queries, mutations and the `taskEvents`
//! subscription over the same service layer as REST.

mod access;
mod error;
mod inputs;
mod loaders;
mod mutation;
mod query;
mod scalars;
mod subscription;
mod transport;
mod types;

use async_graphql::{Context, Schema};

pub use error::{GqlResult, OrGql};
pub use transport::routes;

use crate::service::{Ats, Viewer};

/// The schema type.
pub type AtsSchema = Schema<Query, Mutation, subscription::SubscriptionRoot>;

/// Every read.
#[derive(async_graphql::MergedObject, Default)]
pub struct Query(query::QueryRoot, access::AccessQuery);

/// Every write.
#[derive(async_graphql::MergedObject, Default)]
pub struct Mutation(mutation::MutationRoot, access::AccessMutation);

/// The deepest query accepted.
pub const MAX_DEPTH: usize = 12;
/// The most complex query accepted: each field costs 1, and a page of tasks
/// costs its fields once per task it may hold (`first`/`last`, default 50).
pub const MAX_COMPLEXITY: usize = 20_000;

/// The complexity of a page of tasks.
pub(crate) fn page_cost(first: Option<i32>, last: Option<i32>, child_complexity: usize) -> usize {
    let size = first.or(last).map_or(50, |n| n.clamp(0, 500) as usize);
    1 + size.max(1) * child_complexity
}

/// Builds the schema over `ats`.
pub fn schema(ats: Ats) -> AtsSchema {
    Schema::build(
        Query::default(),
        Mutation::default(),
        subscription::SubscriptionRoot,
    )
    .data(ats)
    .limit_depth(MAX_DEPTH)
    .limit_complexity(MAX_COMPLEXITY)
    .extension(error::DefaultCode)
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

/// The caller; 401 when the request was let in without one (sign-in only).
fn viewer<'a>(ctx: &Context<'a>) -> GqlResult<&'a Viewer> {
    ctx.data_opt::<Viewer>()
        .ok_or_else(|| error::to_gql(crate::error::Error::credentials_required()))
}
