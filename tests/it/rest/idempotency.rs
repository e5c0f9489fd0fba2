//! `Idempotency-Key` on task writes (issue 17): a repeat by the same caller
//! answers the first answer without writing again, concurrent repeats wait
//! for the first, another body is 422 `IDEMPOTENCY_KEY_REUSED`, another
//! caller's key is another key, bad keys are 400, keys older than a day are
//! not honoured and are pruned; GraphQL's `idempotencyKey` the same.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::gql;
use crate::common::sql::{Sql, days_ago};
use crate::common::{Backend, TestApp};

crate::on_both_backends!(
    twenty_concurrent_repeats_create_one_task,
    another_body_or_route_with_the_key_is_refused,
    another_caller_has_keys_of_its_own,
    lifecycle_messages_and_bulk_answer_once,
    bad_keys_are_refused_and_write_nothing,
    graphql_mutations_take_the_key,
);

crate::on_both_backends!(start = crate::common::retention::pruning; a_day_old_key_is_not_honoured_and_is_pruned);

async fn tasks_in_db(sql: &Sql) -> i64 {
    sql.int("SELECT COUNT(*) AS n FROM tasks", vec![]).await
}

async fn created_events(sql: &Sql) -> i64 {
    sql.int(
        "SELECT COUNT(*) AS n FROM events WHERE event_type = 'task.created'",
        vec![],
    )
    .await
}

async fn twenty_concurrent_repeats_create_one_task(app: TestApp) {
    let c = app.actor("agent", "bot");
    let body = json!({ "title": "once", "channel": "ops", "payload": { "n": 1 } });
    let answers = futures_util::future::join_all((0..20).map(|_| {
        let c = c.clone();
        let body = body.clone();
        async move { c.post_keyed("/tasks", body, "create-once-1").await }
    }))
    .await;
    let first = &answers[0];
    assert_eq!(first.status, 201, "{}", first.body);
    for a in &answers {
        assert_eq!((a.status, &a.body), (first.status, &first.body));
    }
    let sql = Sql::open(&app).await;
    assert_eq!(tasks_in_db(&sql).await, 1);
    assert_eq!(created_events(&sql).await, 1);
    // A later repeat answers the same again.
    let again = c.post_keyed("/tasks", body, "create-once-1").await;
    assert_eq!((again.status, &again.body), (201, &first.body));
    // Without a key, the same body is a new task.
    c.post(
        "/tasks",
        json!({ "title": "once", "channel": "ops", "payload": { "n": 1 } }),
    )
    .await
    .expect(201);
    assert_eq!(tasks_in_db(&sql).await, 2);
}

async fn another_body_or_route_with_the_key_is_refused(app: TestApp) {
    let c = app.actor("agent", "bot");
    let first = c
        .post_keyed("/tasks", json!({ "title": "a" }), "k-2")
        .await
        .expect(201);
    let e = c
        .post_keyed("/tasks", json!({ "title": "b" }), "k-2")
        .await
        .expect_error(422);
    assert_eq!(e["code"], "IDEMPOTENCY_KEY_REUSED");
    let e = c
        .post_keyed(
            "/orgs/default/projects/main/tasks",
            json!({ "title": "a" }),
            "k-2",
        )
        .await
        .expect_error(422);
    assert_eq!(e["code"], "IDEMPOTENCY_KEY_REUSED");
    let id = first["task"]["id"].as_i64().unwrap();
    let e = c
        .post_keyed(&format!("/tasks/{id}/claim"), json!({}), "k-2")
        .await
        .expect_error(422);
    assert_eq!(e["code"], "IDEMPOTENCY_KEY_REUSED");
    let sql = Sql::open(&app).await;
    assert_eq!(tasks_in_db(&sql).await, 1);
    // The claim refused above did not happen.
    let t = c.get(&format!("/tasks/{id}")).await.expect(200);
    assert_eq!(t["task"]["status"], "pending");
    // The original request still answers its first answer.
    let again = c.post_keyed("/tasks", json!({ "title": "a" }), "k-2").await;
    assert_eq!((again.status, again.body), (201, first));
}

async fn another_caller_has_keys_of_its_own(app: TestApp) {
    let ann = app.actor("human", "ann");
    let bob = app.actor("human", "bob");
    let bot = app.actor("agent", "bob");
    let a = ann
        .post_keyed("/tasks", json!({ "title": "same" }), "shared")
        .await
        .expect(201);
    let b = bob
        .post_keyed("/tasks", json!({ "title": "same" }), "shared")
        .await
        .expect(201);
    let c = bot
        .post_keyed("/tasks", json!({ "title": "other" }), "shared")
        .await
        .expect(201);
    assert_ne!(a["task"]["id"], b["task"]["id"]);
    assert_eq!(b["task"]["source_id"], "bob");
    assert_eq!(c["task"]["source_type"], "agent");
    let sql = Sql::open(&app).await;
    assert_eq!(tasks_in_db(&sql).await, 3);
}

async fn lifecycle_messages_and_bulk_answer_once(app: TestApp) {
    let c = app.actor("agent", "bot");
    let sql = Sql::open(&app).await;
    let id = c.create_task(json!({ "title": "work" })).await["id"]
        .as_i64()
        .unwrap();
    let claim = format!("/tasks/{id}/claim");
    let first = c
        .post_keyed(&claim, json!({ "lease_duration": 60000 }), "claim-1")
        .await
        .expect(200);
    let again = c
        .post_keyed(&claim, json!({ "lease_duration": 60000 }), "claim-1")
        .await
        .expect(200);
    assert_eq!(first, again, "a repeated claim renews nothing");
    let complete = format!("/tasks/{id}/complete");
    let done = c
        .post_keyed(&complete, json!({ "outputs": { "ok": true } }), "done-1")
        .await
        .expect(200);
    // Without the key this would be 409: the task is completed already.
    let again = c
        .post_keyed(&complete, json!({ "outputs": { "ok": true } }), "done-1")
        .await
        .expect(200);
    assert_eq!(done, again);
    assert_eq!(done["task"]["outputs"], json!([{ "ok": true }]));
    c.post(&complete, json!({})).await.expect_error(409);
    let events = sql
        .int(
            "SELECT COUNT(*) AS n FROM events WHERE task_id = $1 AND event_type IN ('task.claimed', 'task.completed', 'task.lease_renewed')",
            vec![id.into()],
        )
        .await;
    assert_eq!(events, 2);

    // Messages, on the scoped mount too.
    let path = format!("/orgs/default/projects/main/tasks/{id}/messages");
    let parts = json!({ "parts": [{ "type": "text", "content": "hi" }] });
    let m1 = c
        .post_keyed(&path, parts.clone(), "msg-1")
        .await
        .expect(201);
    let m2 = c.post_keyed(&path, parts, "msg-1").await.expect(201);
    assert_eq!(m1, m2);
    let thread = c.get(&format!("/tasks/{id}/messages")).await.expect(200);
    assert_eq!(thread["messages"].as_array().unwrap().len(), 1);

    // Bulk.
    let bulk = json!({ "tasks": [{ "title": "b1" }, { "title": "b2" }] });
    let b1 = c
        .post_keyed("/tasks/bulk", bulk.clone(), "bulk-1")
        .await
        .expect(201);
    let b2 = c
        .post_keyed("/tasks/bulk", bulk, "bulk-1")
        .await
        .expect(201);
    assert_eq!(b1, b2);
    assert_eq!(b1["count"], 2);
    assert_eq!(tasks_in_db(&sql).await, 3);

    // A refused action stores nothing: the same key works once it can.
    let other = c.create_task(json!({ "title": "other" })).await["id"]
        .as_i64()
        .unwrap();
    let fail = format!("/tasks/{other}/fail");
    c.post_keyed(&fail, json!({}), "fail-1")
        .await
        .expect_error(409);
    c.post(&format!("/tasks/{other}/claim"), json!({}))
        .await
        .expect(200);
    let failed = c.post_keyed(&fail, json!({}), "fail-1").await.expect(200);
    assert_eq!(failed["task"]["status"], "failed");
}

async fn bad_keys_are_refused_and_write_nothing(app: TestApp) {
    let c = app.actor("agent", "bot");
    let long = "k".repeat(256);
    let hostile: [&[u8]; 5] = [
        b"",
        long.as_bytes(),
        b"tab\there",
        b"caf\xc3\xa9",
        b"\xff\xfe",
    ];
    for key in hostile {
        let e = c
            .send_with(
                Method::POST,
                "/tasks",
                &json!({ "title": "nope" }),
                &[("Idempotency-Key", key)],
            )
            .await
            .expect_error(400);
        assert_eq!(e["code"], "BAD_REQUEST", "{key:?}");
    }
    // 255 printable characters are fine.
    let longest = "~".repeat(255);
    c.post_keyed("/tasks", json!({ "title": "ok" }), &longest)
        .await
        .expect(201);
    let sql = Sql::open(&app).await;
    assert_eq!(tasks_in_db(&sql).await, 1);
    // A key does not get past the checks it would fail without one.
    let e = c
        .post_keyed("/tasks", json!({ "title": "" }), "v-1")
        .await
        .expect_error(422);
    assert_eq!(e["code"], "BAD_REQUEST");
    let e = c
        .post_keyed(
            "/orgs/nowhere/projects/main/tasks",
            json!({ "title": "x" }),
            "v-2",
        )
        .await
        .expect_error(404);
    assert_eq!(e["code"], "NOT_FOUND");
    let keys = sql
        .int("SELECT COUNT(*) AS n FROM idempotency_keys", vec![])
        .await;
    assert_eq!(keys, 1, "refused requests keep no key");
}

async fn a_day_old_key_is_not_honoured_and_is_pruned(app: TestApp) {
    let c = app.actor("agent", "bot");
    let sql = Sql::open(&app).await;
    let first = c
        .post_keyed("/tasks", json!({ "title": "old" }), "aged")
        .await
        .expect(201);
    // Aged past a day, before the job runs: the key is not honoured.
    sql.exec(
        "UPDATE idempotency_keys SET created_at = $1",
        vec![(chrono::Utc::now() - chrono::Duration::hours(25)).into()],
    )
    .await;
    let second = c
        .post_keyed("/tasks", json!({ "title": "new body" }), "aged")
        .await
        .expect(201);
    assert_ne!(first["task"]["id"], second["task"]["id"]);
    // The key now holds the second answer.
    let again = c
        .post_keyed("/tasks", json!({ "title": "new body" }), "aged")
        .await
        .expect(201);
    assert_eq!(again, second);
    // The retention job prunes keys older than a day.
    c.post_keyed("/tasks", json!({ "title": "kept" }), "fresh")
        .await
        .expect(201);
    sql.exec(
        "UPDATE idempotency_keys SET created_at = $1 WHERE idem_key = 'aged'",
        vec![days_ago(2).into()],
    )
    .await;
    sql.wait_until("the aged key is pruned", || async {
        sql.int(
            "SELECT COUNT(*) AS n FROM idempotency_keys WHERE idem_key = 'aged'",
            vec![],
        )
        .await
            == 0
    })
    .await;
    let left = sql
        .int("SELECT COUNT(*) AS n FROM idempotency_keys", vec![])
        .await;
    assert_eq!(left, 1);
}

const CREATE: &str = "mutation($in: CreateTaskInput!, $key: String) { createTask(input: $in, idempotencyKey: $key) { task { id title } } }";

async fn graphql_mutations_take_the_key(app: TestApp) {
    let c = app.actor("agent", "bot");
    let sql = Sql::open(&app).await;
    let vars = json!({ "in": { "title": "gql" }, "key": "g-1" });
    let answers = futures_util::future::join_all((0..8).map(|_| {
        let c = c.clone();
        let vars = vars.clone();
        async move { gql::ok(&c, CREATE, vars).await }
    }))
    .await;
    for a in &answers {
        assert_eq!(a, &answers[0]);
    }
    assert_eq!(tasks_in_db(&sql).await, 1);
    let (code, _) = gql::fails(
        &c,
        CREATE,
        json!({ "in": { "title": "other" }, "key": "g-1" }),
    )
    .await;
    assert_eq!(code, "IDEMPOTENCY_KEY_REUSED");
    let (code, _) = gql::fails(&c, CREATE, json!({ "in": { "title": "x" }, "key": "" })).await;
    assert_eq!(code, "BAD_REQUEST");
    let id: Value = answers[0]["createTask"]["task"]["id"].clone();

    let claim = "mutation($id: ID!, $key: String) { claimTask(id: $id, idempotencyKey: $key) { task { status leaseExpires } } }";
    let complete = "mutation($id: ID!, $key: String) { completeTask(id: $id, outputs: {done: 1}, idempotencyKey: $key) { task { status outputs } } }";
    let c1 = gql::ok(&c, claim, json!({ "id": id, "key": "g-claim" })).await;
    let c2 = gql::ok(&c, claim, json!({ "id": id, "key": "g-claim" })).await;
    assert_eq!(c1, c2);
    let d1 = gql::ok(&c, complete, json!({ "id": id, "key": "g-done" })).await;
    let d2 = gql::ok(&c, complete, json!({ "id": id, "key": "g-done" })).await;
    assert_eq!(d1, d2);
    assert_eq!(d1["completeTask"]["task"]["status"], "COMPLETED");

    let message = "mutation($id: ID!, $key: String) { addMessage(taskId: $id, parts: [{type: \"text\", content: \"hi\"}], idempotencyKey: $key) { message { id } } }";
    let m1 = gql::ok(&c, message, json!({ "id": id, "key": "g-msg" })).await;
    let m2 = gql::ok(&c, message, json!({ "id": id, "key": "g-msg" })).await;
    assert_eq!(m1, m2);
    let bulk = "mutation($key: String) { createTasks(inputs: [{title: \"x\"}, {title: \"y\"}], idempotencyKey: $key) { count tasks { id } } }";
    let b1 = gql::ok(&c, bulk, json!({ "key": "g-bulk" })).await;
    let b2 = gql::ok(&c, bulk, json!({ "key": "g-bulk" })).await;
    assert_eq!(b1, b2);
    assert_eq!(tasks_in_db(&sql).await, 3);
    let messages = sql.int("SELECT COUNT(*) AS n FROM messages", vec![]).await;
    assert_eq!(messages, 1);
}

/// On PostgreSQL a repeat waits for the first request with its key; only a
/// wait past 10 s answers 409 `IDEMPOTENCY_KEY_IN_FLIGHT`. Here a
/// transaction of the test's own holds the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_repeat_waiting_too_long_is_in_flight_postgres() {
    use sea_orm::{ConnectionTrait, Database, Statement, TransactionTrait};
    let Some(app) = TestApp::start(Backend::Postgres).await else {
        eprintln!("SKIPPED (PostgreSQL): ATS_TEST_PG_URL is not set");
        return;
    };
    let db = Database::connect(&app.db.url).await.unwrap();
    let txn = db.begin().await.unwrap();
    txn.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "INSERT INTO idempotency_keys (caller, idem_key, fingerprint, created_at) VALUES ('agent:bot', 'busy', 'x', now())",
        [],
    ))
    .await
    .unwrap();
    let c = app.actor("agent", "bot");
    let e = c
        .post_keyed("/tasks", json!({ "title": "waits" }), "busy")
        .await
        .expect_error(409);
    assert_eq!(e["code"], "IDEMPOTENCY_KEY_IN_FLIGHT");
    txn.rollback().await.unwrap();
    // Once the holder is gone, the key is free.
    c.post_keyed("/tasks", json!({ "title": "waits" }), "busy")
        .await
        .expect(201);
    let sql = Sql::open(&app).await;
    assert_eq!(tasks_in_db(&sql).await, 1);
}
