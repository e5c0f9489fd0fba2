//! The service over a test's database with every SQL statement recorded, for
//! tests that count statements or explain their plans.

use std::sync::{Arc, Mutex};

use ats::db::Store;
use ats::events::EventBus;
use ats::service::Ats;

use super::TestApp;

/// The statements run so far, oldest first.
pub type StatementLog = Arc<Mutex<Vec<String>>>;

/// A service over `app`'s database whose statements are recorded.
pub async fn observed(app: &TestApp) -> (Ats, StatementLog) {
    let log = StatementLog::default();
    let sink = log.clone();
    let store = Store::connect_observed(
        &app.db.url,
        Some(Arc::new(move |st: &sea_orm::Statement| {
            sink.lock().unwrap().push(st.to_string())
        })),
    )
    .await
    .unwrap();
    let config = ats::config::Config::for_database(app.db.url.clone());
    let auth = ats::auth_settings(&config, "127.0.0.1:0".parse().unwrap()).unwrap();
    (Ats::new(store, EventBus::new(), auth), log)
}

/// Empties the log, returning what it held.
pub fn take(log: &Mutex<Vec<String>>) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap())
}

/// PostgreSQL's plan for `sql`, one line per node.
pub async fn explain(db: &sea_orm::DatabaseConnection, sql: &str) -> String {
    use sea_orm::ConnectionTrait;
    db.query_all_raw(sea_orm::Statement::from_string(
        sea_orm::DbBackend::Postgres,
        format!("EXPLAIN {sql}"),
    ))
    .await
    .unwrap()
    .iter()
    .map(|r| r.try_get::<String>("", "QUERY PLAN").unwrap())
    .collect::<Vec<_>>()
    .join("\n")
}
