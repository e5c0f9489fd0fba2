//! The GraphQL API (SPEC §5) over HTTP and over `/graphql/ws`: task
//! mutations and reads, workflow, errors and transport, orgs and projects,
//! Relay paging, filters and order, stats and history, cost limits, the SDL,
//! and subscriptions.

mod cost;
mod errors;
mod filters;
mod fuzz;
mod limits;
mod orgs;
mod paging;
mod schema;
mod stats;
mod task_workflow;
mod tasks;
mod ws_filters;
mod ws_protocol;
mod ws_replay;
mod ws_shared;
