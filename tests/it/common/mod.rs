#![allow(dead_code)]

//! The test harness: a real server on a free port over a fresh database, on
//! SQLite or PostgreSQL ([`TestApp`], [`on_both_backends!`]), clients acting
//! as users made in one line ([`users`]), one GraphQL helper ([`gql`]), the
//! JSON shapes of the SPEC written once ([`shapes`]), refusals that write
//! nothing ([`refusals`]), WebSocket clients for `/ws` ([`ws`]) and
//! `/graphql/ws` ([`gql_ws`]), bare sockets from any loopback address
//! ([`sockets`]), the `ats` CLI runner ([`cli`], [`watcher`]), and the
//! `ats-server` binary as a child process ([`process`]), and direct SQL on
//! a test's database ([`sql`]) with servers that prune it ([`retention`]).
//!
//! PostgreSQL cases run when `ATS_TEST_PG_URL` names a server we may create
//! databases on (e.g. `postgres://postgres@127.0.0.1:5432/postgres`); each
//! test gets its own database, dropped afterwards. Without it they are skipped.
//!
//! Test files take their helpers from here and export none to each other.

pub mod app;
pub mod cli;
pub mod client;
pub mod db;
pub mod drift;
pub mod gql;
pub mod gql_ws;
pub mod observed;
pub mod process;
pub mod receiver;
pub mod refusals;
pub mod retention;
pub mod shapes;
pub mod sockets;
pub mod sql;
pub mod users;
pub mod watcher;
pub mod ws;

pub use app::TestApp;
pub use client::{Client, Res};
pub use db::{Backend, TestDb};
pub use users::Role;

/// Runs each named `async fn(TestApp)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    (start = $start:path; $($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let app = $start($crate::common::Backend::Sqlite)
                    .await
                    .expect("SQLite is always available");
                super::$name(app).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                match $start($crate::common::Backend::Postgres).await {
                    Some(app) => super::$name(app).await,
                    None => eprintln!("SKIPPED (PostgreSQL): ATS_TEST_PG_URL is not set"),
                }
            }
        }
    )*};
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let app = $crate::common::TestApp::start($crate::common::Backend::Sqlite)
                    .await
                    .expect("SQLite is always available");
                super::$name(app).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                match $crate::common::TestApp::start($crate::common::Backend::Postgres).await {
                    Some(app) => super::$name(app).await,
                    None => eprintln!("SKIPPED (PostgreSQL): ATS_TEST_PG_URL is not set"),
                }
            }
        }
    )*};
}
