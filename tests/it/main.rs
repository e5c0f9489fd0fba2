//! Integration tests: each runs a real server over a fresh database, on
//! SQLite and (when `ATS_TEST_PG_URL` is set) PostgreSQL.
//!
//! One directory per surface (`rest/`, `graphql/`, `ws/`, `lifecycle/`,
//! `workflow/`, `auth/`, `cli/`), each scenario named for the SPEC clause it
//! checks. Helpers live in `common/` only: test files export nothing to each
//! other. Users are made with `app.user("olga").in_org("acme", Role::Owner)`
//! (see `common/users.rs`), GraphQL goes through `common/gql.rs`, and the
//! JSON shapes of the SPEC are written once in `common/shapes.rs`.

mod common;

mod auth;
mod cli;
mod crash;
mod dashboard;
mod dashboard_api;
mod event_order;
mod graphql;
mod lifecycle;
mod outbound;
mod parity;
mod queue_metrics;
mod read_path;
mod replicas;
mod rest;
mod retention;
mod revocation;
mod server_logs;
mod shutdown;
mod smoke;
mod statement_budget;
mod time;
mod viewer_actions;
mod workflow;
mod ws;
