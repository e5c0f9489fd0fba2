//! Integration tests: each runs a real server over a fresh database, on
//! SQLite and (when `ATS_TEST_PG_URL` is set) PostgreSQL.

mod common;

mod auth;
mod cli;
mod crash;
mod dashboard;
mod dashboard_api;
mod event_order;
mod graphql;
mod lifecycle;
mod parity;
mod rest;
mod revocation;
mod server_logs;
mod smoke;
mod statement_budget;
mod viewer_actions;
mod workflow;
mod ws;
