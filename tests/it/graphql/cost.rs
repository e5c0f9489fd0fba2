//! The GraphQL cost model against alias attacks: thousands of aliases of a
//! field that reads the database (`taskEvents(first: 1000)`, `tasks {
//! totalCount }`, `stats`, `organizations`) are refused before anything
//! runs (no SQL statement at all, counted by a statement observer on the
//! service), with `QUERY_TOO_COMPLEX` and the limit; over HTTP, another
//! tenant's read answers normally right after.

use ats::actor::Actor;
use ats::auth::caller::Caller;
use serde_json::{Value, json};

use ats::graphql::{MAX_COMPLEXITY, MAX_FIELDS};

use crate::common::TestApp;
use crate::common::gql::gql;
use crate::common::observed::observed;
use crate::on_both_backends;

on_both_backends!(
    alias_attacks_are_refused_before_any_statement,
    a_caller_runs_few_expensive_requests_at_once,
);
on_both_backends!(start = super::no_time_to_spare; a_request_past_its_time_budget_is_stopped);

/// A server whose GraphQL requests have no time at all.
async fn no_time_to_spare(backend: crate::common::Backend) -> Option<TestApp> {
    TestApp::start_with(backend, |c| c.graphql_timeout_ms = 0).await
}

/// The second line of defence: a request still running when its time is
/// up is stopped and answers 503 `TIMEOUT`; nothing it would have read is
/// returned.
async fn a_request_past_its_time_budget_is_stopped(app: TestApp) {
    let c = app.actor("agent", "slow");
    c.create_task(json!({ "title": "t" })).await;
    let resp =
        crate::common::gql::post(&c, "{ tasks { totalCount nodes { id } } }", json!({})).await;
    assert_eq!(resp.status, 503, "{}", resp.body);
    assert_eq!(
        resp.body["errors"][0]["extensions"]["code"], "TIMEOUT",
        "{}",
        resp.body
    );
    assert!(resp.body["data"].is_null(), "{}", resp.body);
    // REST is not under the GraphQL budget.
    c.get("/tasks").await.expect(200);
}

/// `n` aliases of `field`, as one document.
fn aliases(n: usize, field: &str) -> String {
    let fields: String = (0..n).map(|i| format!("a{i}: {field} ")).collect();
    format!("{{ {fields}}}")
}

/// Thousands of aliases are refused by the field count as soon as the
/// document is parsed (before validation, which costs the square of the
/// aliases); a few hundred by the cost model.
const ATTACKS: [(usize, &str, usize); 9] = [
    (1000, "taskEvents(first: 1000) { id }", MAX_FIELDS),
    (1000, "taskEvents(first: 1) { id }", MAX_FIELDS),
    (2000, "tasks { totalCount }", MAX_FIELDS),
    (2000, "stats { total }", MAX_FIELDS),
    (2000, "organizations { slug }", MAX_FIELDS),
    (100, "taskEvents(first: 1000) { id }", MAX_COMPLEXITY),
    (150, "tasks { totalCount }", MAX_COMPLEXITY),
    (200, "stats { total }", MAX_COMPLEXITY),
    (200, "organizations { slug }", MAX_COMPLEXITY),
];

async fn alias_attacks_are_refused_before_any_statement(app: TestApp) {
    let owner = app.actor("human", "owner");
    let task = owner.create_task(json!({ "title": "mine" })).await;

    let (ats, log) = observed(&app).await;
    let viewer = ats
        .viewer(&Caller::Named(
            Actor::new("agent", "attacker", None).unwrap(),
        ))
        .await
        .unwrap();
    let schema = ats::graphql::schema(ats.clone());

    for (n, field, limit) in ATTACKS {
        let document = aliases(n, field);
        log.lock().unwrap().clear();
        let resp = schema
            .execute(async_graphql::Request::new(document.clone()).data(viewer.clone()))
            .await;
        let resp: Value = serde_json::to_value(&resp).unwrap();
        let err = &resp["errors"][0];
        assert_eq!(
            err["extensions"]["code"], "QUERY_TOO_COMPLEX",
            "{field}: {resp}"
        );
        assert_eq!(err["extensions"]["limit"], limit, "{n} × {field}: {resp}");
        assert!(resp["data"].is_null(), "{field} ran: {resp}");
        let ran = log.lock().unwrap().clone();
        assert!(ran.is_empty(), "{n} × {field} ran SQL: {ran:#?}");

        // Over HTTP too, and another tenant is not disturbed.
        let attacker = app.actor("agent", "attacker");
        let over_http = gql(&attacker, &document, json!({})).await;
        assert_eq!(
            over_http["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX",
            "{field}: {over_http}"
        );
        let read = owner
            .get(&format!("/tasks/{}", task["id"]))
            .await
            .expect(200);
        assert_eq!(read["task"]["title"], "mine");
    }

    // What a dashboard asks still fits: counts per status and per channel.
    let counts: String = (0..40)
        .map(|i| {
            format!("c{i}: tasks(filter: {{channels: [\"c{i}\"]}}, first: 0) {{ totalCount }} ")
        })
        .collect();
    let resp = gql(&owner, &format!("{{ {counts}}}"), json!({})).await;
    assert!(resp.get("errors").is_none(), "{resp}");
}

/// Expensive requests (a fifth of the cost limit or more) count against
/// their caller's places at the gate: with its places taken, a caller's
/// next expensive request is refused with `RATE_LIMITED` and nothing runs;
/// its cheap requests, and other callers, go on; a freed place is used again.
async fn a_caller_runs_few_expensive_requests_at_once(app: TestApp) {
    use ats::graphql::{CallerGate, CallerKey};
    let c = app.actor("agent", "heavy");
    c.create_task(json!({ "title": "t" })).await;
    let (ats, log) = observed(&app).await;
    let viewer = ats
        .viewer(&Caller::Named(Actor::new("agent", "heavy", None).unwrap()))
        .await
        .unwrap();
    let gate = CallerGate::new(1);
    let schema = ats::graphql::schema_with(ats.clone(), gate.clone());
    let (me, other): (std::net::IpAddr, std::net::IpAddr) =
        ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
    // Ten pages of 500 with a few fields: well over the threshold, under the limit.
    let expensive: String = (0..10)
        .map(|i| format!("p{i}: tasks(first: 500) {{ nodes {{ id title status }} }} "))
        .collect();
    let expensive = format!("{{ {expensive}}}");
    let cheap = "{ tasks(first: 5) { nodes { id } } }";
    let run = |doc: String, ip: std::net::IpAddr| {
        let schema = schema.clone();
        let viewer = viewer.clone();
        async move {
            let req = async_graphql::Request::new(doc)
                .data(viewer)
                .data(ats::app::ClientIp(ip));
            serde_json::to_value(schema.execute(req).await).unwrap()
        }
    };
    let ok = run(expensive.clone(), me).await;
    assert!(ok.get("errors").is_none(), "{ok}");

    let held = gate.enter(CallerKey::Address(me)).unwrap();
    log.lock().unwrap().clear();
    let refused = run(expensive.clone(), me).await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "RATE_LIMITED",
        "{refused}"
    );
    assert!(refused["data"].is_null(), "{refused}");
    assert!(log.lock().unwrap().is_empty(), "a refused request ran SQL");
    let small = run(cheap.to_owned(), me).await;
    assert!(small.get("errors").is_none(), "{small}");
    let elsewhere = run(expensive.clone(), other).await;
    assert!(elsewhere.get("errors").is_none(), "{elsewhere}");
    drop(held);
    let again = run(expensive, me).await;
    assert!(again.get("errors").is_none(), "{again}");
}
