//! Rows pruned by age alone (`ROW_RULES`): one-time tokens go a day after
//! they expire; younger ones stay.

use serde_json::json;

use crate::common::TestApp;
use crate::common::retention::metric_at;
use crate::common::sql::{Sql, days_ago};

crate::on_both_backends!(
    start = crate::common::retention::pruning;
    expired_one_time_tokens_go_a_day_after_they_expire,
);

async fn expired_one_time_tokens_go_a_day_after_they_expire(app: TestApp) {
    let sql = Sql::open(&app).await;
    let registered = app
        .client()
        .post(
            "/auth/register",
            json!({ "actor_type": "agent", "actor_id": "bot", "password": "a long password" }),
        )
        .await
        .expect(201);
    let bot = app.bearer(registered["api_key"].as_str().unwrap());
    for _ in 0..3 {
        bot.post("/auth/me/guardian-link", json!({}))
            .await
            .expect(201);
    }
    let first = sql
        .int("SELECT MIN(id) AS n FROM guardian_links", vec![])
        .await;
    let expire = |id: i64, at: chrono::DateTime<chrono::Utc>| {
        let sql = &sql;
        async move {
            sql.exec(
                "UPDATE guardian_links SET expires_at = $1 WHERE id = $2",
                vec![at.into(), id.into()],
            )
            .await
        }
    };
    // Expired two days ago: goes. Expired an hour ago: stays (for a day).
    expire(first, days_ago(2)).await;
    expire(first + 1, chrono::Utc::now() - chrono::Duration::hours(1)).await;
    sql.wait_until("the long-expired link to go", || async {
        sql.int("SELECT COUNT(*) AS n FROM guardian_links", vec![])
            .await
            == 2
    })
    .await;
    let gone = sql
        .int(
            "SELECT COUNT(*) AS n FROM guardian_links WHERE id = $1",
            vec![first.into()],
        )
        .await;
    assert_eq!(gone, 0);
    assert_eq!(
        metric_at(
            &app.base,
            r#"ats_retention_deleted_rows_total{table="guardian_links"}"#
        )
        .await,
        1
    );
}
