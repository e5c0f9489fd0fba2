//! The REST API (SPEC §6), route by route: task CRUD, lists, the thread and
//! history, scoped routes, stats, orgs and projects, and bad input.

mod bad_bodies;
mod bad_requests;
mod conditional;
mod history;
mod idempotency;
mod list_filters;
mod list_paging;
mod org_refusals;
mod orgs;
mod project_refusals;
mod projects;
mod scoped;
mod stats;
mod tasks;
mod thread;
