//! The `ats` CLI sends a fresh `Idempotency-Key` with every write (issue
//! 17): each write stores its own key, and two identical commands are two
//! writes.

use sea_orm::{ConnectionTrait, Database, Statement};

use crate::common::TestApp;
use crate::common::cli::Cli;
use crate::common::sql::Sql;

crate::on_both_backends!(every_write_sends_a_fresh_key);

async fn every_write_sends_a_fresh_key(app: TestApp) {
    let cli = Cli::new(&app.base);
    let a = cli.run(&["create", "same", "-f", "json"]).await.ok().json();
    let b = cli.run(&["create", "same", "-f", "json"]).await.ok().json();
    assert_ne!(a["id"], b["id"], "identical commands are two writes");
    let id = a["id"].as_i64().unwrap().to_string();
    cli.run(&["claim", &id]).await.ok();
    cli.run(&["message", "add", &id, "hi"]).await.ok();
    cli.run(&["list"]).await.ok();
    let sql = Sql::open(&app).await;
    assert_eq!(sql.int("SELECT COUNT(*) AS n FROM tasks", vec![]).await, 2);
    let db = Database::connect(&app.db.url).await.unwrap();
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT caller, idem_key FROM idempotency_keys ORDER BY id",
        ))
        .await
        .unwrap();
    let keys: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r.try_get::<String>("", "caller").unwrap(),
                r.try_get::<String>("", "idem_key").unwrap(),
            )
        })
        .collect();
    assert_eq!(keys.len(), 4, "one key per write, none for reads: {keys:?}");
    let distinct: std::collections::BTreeSet<_> = keys.iter().map(|(_, k)| k).collect();
    assert_eq!(distinct.len(), 4);
    for (caller, key) in &keys {
        assert_eq!(caller, "human:anonymous");
        let groups: Vec<usize> = key.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12], "{key}");
        assert!(key.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }
}
