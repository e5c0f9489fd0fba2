//! The GraphQL API (SPEC §5): queries, mutations and the `taskEvents`
//! subscription over the same service layer as REST.

mod access;
mod error;
mod inputs;
mod loaders;
mod mutation;
mod query;
mod subscription;
mod transport;
mod types;

use async_graphql::{Context, Schema};

pub use error::{GqlResult, OrGql};
pub use transport::routes;

use crate::actor::Actor;
use crate::service::Ats;

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
/// The most complex query accepted (each field costs 1; lists multiply by `first`).
pub const MAX_COMPLEXITY: usize = 5_000;

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

fn actor<'a>(ctx: &Context<'a>) -> &'a Actor {
    ctx.data_unchecked::<Actor>()
}
