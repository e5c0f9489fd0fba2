//! What an attacker's probe found, refused: NUL characters anywhere a text
//! comes in (422 on both backends, nothing stored), `system` actors at
//! registration, a `depends_on` answer that told whether another org's
//! task exists, and `/metrics` open to anyone in required mode.

use serde_json::{Value, json};

use crate::common::app::METRICS_TOKEN;
use crate::common::gql::gql;
use crate::common::{Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(
    start = crate::common::TestApp::required_auth;
    metrics_need_the_metrics_token_in_required_mode,
    only_registered_identities_join_or_get_grants,
    nul_characters_are_refused_over_sockets,
    a_limited_key_lists_only_the_orgs_it_may_open,
);

/// The dashboard's pages forbid framing, sniffing and foreign scripts; the
/// other pages (Swagger UI, GraphiQL) and every other answer at least
/// framing and sniffing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_pages_carry_security_headers() {
    let app = TestApp::start(Backend::Sqlite).await.unwrap();
    for path in ["/", "/playground/app.js"] {
        let res = reqwest::get(format!("{}{path}", app.base)).await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let h = res.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        for part in [
            "default-src 'self'",
            "script-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(part), "{path}: {csp}");
        }
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["x-frame-options"], "DENY");
    }
    for path in ["/docs/", "/graphiql"] {
        let res = reqwest::get(format!("{}{path}", app.base)).await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let h = res.headers();
        let csp = h
            .get("content-security-policy")
            .unwrap_or_else(|| panic!("{path}: no Content-Security-Policy"))
            .to_str()
            .unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
    }
    for path in ["/health", "/openapi.json", "/tasks"] {
        let res = reqwest::get(format!("{}{path}", app.base)).await.unwrap();
        assert_eq!(res.headers()["x-content-type-options"], "nosniff", "{path}");
    }
}

on_both_backends!(
    one_sign_in_per_graphql_document,
    nul_characters_are_refused_and_nothing_is_stored,
    system_actors_cannot_register,
    depends_on_answers_alike_for_another_orgs_task_and_a_missing_one,
);

const NUL: &str = "a\u{0}b";

async fn nul_characters_are_refused_and_nothing_is_stored(app: TestApp) {
    let c = app.actor("agent", "w");
    let task = c.create_task(json!({ "title": "kept" })).await;
    let id = task["id"].as_i64().unwrap();
    for body in [
        json!({ "title": NUL }),
        json!({ "title": "t", "description": NUL }),
        json!({ "title": "t", "channel": NUL }),
        json!({ "title": "t", "type": NUL }),
        json!({ "title": "t", "payload": { "k": NUL } }),
        json!({ "title": "t", "payload": { NUL: 1 } }),
    ] {
        let err = c.post("/tasks", body.clone()).await.expect_error(422);
        assert!(
            err["error"].as_str().unwrap().contains("NUL"),
            "{body}: {err}"
        );
    }
    c.post(
        "/tasks/bulk",
        json!({ "tasks": [{ "title": "ok" }, { "title": NUL }] }),
    )
    .await
    .expect_error(422);
    c.post(
        &format!("/tasks/{id}/messages"),
        json!({ "parts": [{ "type": "text", "content": NUL }] }),
    )
    .await
    .expect_error(422);
    c.post("/orgs", json!({ "slug": "acme", "name": NUL }))
        .await
        .expect_error(422);
    c.post(
        "/auth/login",
        json!({ "email": "a\u{0}@example.com", "password": "password-1234" }),
    )
    .await
    .expect_error(422);
    for url in [
        "/tasks?q=a%00b",
        "/tasks?channel=%00",
        "/orgs/a%00b",
        "/orgs/acme/projects/w%00b/tasks",
    ] {
        c.get(url).await.expect_error(422);
    }
    // GraphQL: in variables, and spelled in the document.
    let resp = gql(
        &c,
        "mutation($t: String!) { createTask(input: {title: $t}) { id } }",
        json!({ "t": NUL }),
    )
    .await;
    assert_eq!(
        resp["errors"][0]["extensions"]["code"], "BAD_REQUEST",
        "{resp}"
    );
    let resp = gql(
        &c,
        r#"mutation { createTask(input: {title: "a\u0000b"}) { id } }"#,
        json!({}),
    )
    .await;
    assert_eq!(
        resp["errors"][0]["extensions"]["code"], "BAD_REQUEST",
        "{resp}"
    );
    // Text that merely shows a backslash and "u0000" is fine.
    c.post("/tasks", json!({ "title": "literally \\u0000" }))
        .await
        .expect(201);

    let list = c.get("/tasks?limit=100").await.expect(200);
    let titles: Vec<&str> = list["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles.len(), 2, "something was stored: {titles:?}");
    let messages = c.get(&format!("/tasks/{id}/messages")).await.expect(200);
    assert_eq!(messages["messages"], json!([]));
    c.get("/orgs/acme").await.expect(404);
}

async fn system_actors_cannot_register(app: TestApp) {
    let anyone = app.client();
    let err = anyone
        .post(
            "/auth/register",
            json!({ "actor_type": "system", "actor_id": "ats", "email": "s@example.com", "password": "password-1234" }),
        )
        .await
        .expect_error(422);
    assert!(err["error"].as_str().unwrap().contains("reserved"), "{err}");
    anyone
        .post(
            "/auth/login",
            json!({ "email": "s@example.com", "password": "password-1234" }),
        )
        .await
        .expect_error(401);
    let resp = gql(
        &anyone,
        r#"mutation { register(input: {actorType: "system", actorId: "ats2", password: "password-1234"}) { apiKey } }"#,
        json!({}),
    )
    .await;
    assert_eq!(
        resp["errors"][0]["extensions"]["code"], "BAD_REQUEST",
        "{resp}"
    );
    assert!(
        resp["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("reserved"),
        "refused as a system actor, not as a malformed document: {resp}"
    );
    assert!(
        resp["data"].is_null() || resp["data"]["register"].is_null(),
        "{resp}"
    );
}

async fn depends_on_answers_alike_for_another_orgs_task_and_a_missing_one(app: TestApp) {
    let alice = app.actor("human", "alice");
    alice
        .post("/orgs", json!({ "slug": "acme" }))
        .await
        .expect(201);
    alice
        .post("/orgs/acme/projects", json!({ "slug": "web" }))
        .await
        .expect(201);
    let theirs = alice
        .post(
            "/orgs/acme/projects/web/tasks",
            json!({ "title": "secret" }),
        )
        .await
        .expect(201);
    let theirs = theirs["task"]["id"].as_i64().unwrap();
    let bob = app.actor("human", "bob");
    let answer = |id: i64| {
        let bob = bob.clone();
        async move {
            let err: Value = bob
                .post("/tasks", json!({ "title": "mine", "depends_on": [id] }))
                .await
                .expect_error(422);
            (
                err["code"].clone(),
                err["error"].as_str().unwrap().replace(&id.to_string(), "N"),
            )
        }
    };
    let existing = answer(theirs).await;
    let missing = answer(theirs + 1_000_000).await;
    assert_eq!(existing, missing, "the answer tells the task exists");
}

async fn metrics_need_the_metrics_token_in_required_mode(app: TestApp) {
    let anyone = app.client();
    anyone.get("/metrics").await.expect_error(401);
    let reg = anyone
        .post(
            "/auth/register",
            json!({ "actor_type": "human", "actor_id": "eve", "password": "password-1234" }),
        )
        .await
        .expect(201);
    let eve = app.bearer(reg["api_key"].as_str().unwrap());
    eve.get("/metrics").await.expect_error(401);
    app.bearer("not-the-token")
        .get("/metrics")
        .await
        .expect_error(401);
    let ok = app.bearer(METRICS_TOKEN).get("/metrics").await;
    assert_eq!(ok.status, 200);

    // Without a configured token, required mode does not serve it at all.
    let hidden = TestApp::start_with(Backend::Sqlite, |c| {
        c.auth = ats::auth::AuthMode::Required;
        c.jwt_secret = Some(crate::common::app::JWT_SECRET.to_owned());
        c.metrics_token = None;
    })
    .await
    .unwrap();
    hidden
        .bearer(METRICS_TOKEN)
        .get("/metrics")
        .await
        .expect_error(404);
}

/// In required mode an org cannot take in (or grant to) an id nobody has
/// registered: whoever registered it first would get the role.
async fn only_registered_identities_join_or_get_grants(app: TestApp) {
    let owner = app.owner_of("acme").await;
    let err = owner
        .post(
            "/orgs/acme/members",
            json!({ "actor_type": "human", "actor_id": "zed", "role": "admin" }),
        )
        .await
        .expect_error(422);
    assert!(err["error"].as_str().unwrap().contains("invite"), "{err}");
    let err = owner
        .post(
            "/orgs/acme/permissions",
            json!({ "actor_type": "agent", "actor_id": "ghost", "namespace": "*", "access": "rw" }),
        )
        .await
        .expect_error(422);
    assert!(err["error"].as_str().unwrap().contains("invite"), "{err}");
    let members = owner.get("/orgs/acme/members").await.expect(200);
    assert_eq!(members["members"].as_array().unwrap().len(), 1, "{members}");
    assert_eq!(
        owner.get("/orgs/acme/permissions").await.expect(200)["permissions"],
        json!([])
    );

    // Once zed has registered, the same request adds him.
    app.client()
        .post(
            "/auth/register",
            json!({ "actor_type": "human", "actor_id": "zed", "password": "password-1234" }),
        )
        .await
        .expect(201);
    owner
        .post(
            "/orgs/acme/members",
            json!({ "actor_type": "human", "actor_id": "zed", "role": "member" }),
        )
        .await
        .expect(201);
}

/// `/graphql/ws` closes a socket that never sends `connection_init` with 4408
/// once `ATS_WS_INIT_TIMEOUT_MS` has passed (both subprotocols), and one
/// whose `connection_init` carries bad credentials with 4401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_sockets_must_initialise_in_time_with_valid_credentials() {
    use crate::common::gql_ws::{LEGACY, Session, TRANSPORT};
    use std::time::{Duration, Instant};
    let app = TestApp::start_with(Backend::Sqlite, |c| {
        c.auth = ats::auth::AuthMode::Required;
        c.jwt_secret = Some(crate::common::app::JWT_SECRET.to_owned());
        c.ws_init_timeout_ms = 500;
    })
    .await
    .unwrap();
    for protocol in [TRANSPORT, LEGACY] {
        let started = Instant::now();
        let mut idle = Session::connect(&app, protocol).await;
        let closed = idle.recv(Duration::from_secs(5)).await;
        let closed = closed.unwrap_or_else(|| panic!("{protocol}: still open after 5 s"));
        assert_eq!(closed["type"], "close", "{protocol}: {closed}");
        assert_eq!(closed["code"], 4408, "{protocol}: {closed}");
        assert!(
            started.elapsed() >= Duration::from_millis(450),
            "{protocol}: closed too early"
        );

        let mut bad = Session::connect(&app, protocol).await;
        bad.send(json!({ "type": "connection_init", "payload": { "Authorization": "Bearer ats_not_a_key" } }))
            .await;
        let closed = loop {
            let msg = bad
                .recv(Duration::from_secs(5))
                .await
                .unwrap_or_else(|| panic!("{protocol}: no close after a bad key"));
            if msg["type"] == "close" {
                break msg;
            }
        };
        assert_eq!(closed["code"], 4401, "{protocol}: {closed}");
    }
}

/// A GraphQL document may hold one `login` or `register`, however it is
/// spelled (aliases, fragments): otherwise one request tests many passwords.
async fn one_sign_in_per_graphql_document(app: TestApp) {
    let anyone = app.client();
    anyone
        .post(
            "/auth/register",
            json!({ "actor_type": "human", "actor_id": "ann", "email": "ann@example.com", "password": "password-1234" }),
        )
        .await
        .expect(201);
    let login = |alias: &str, password: &str| {
        format!(
            r#"{alias}: login(input: {{email: "ann@example.com", password: "{password}"}}) {{ token }}"#
        )
    };
    for document in [
        format!(
            "mutation {{ {} {} }}",
            login("a", "guess-0001"),
            login("b", "password-1234")
        ),
        format!(
            "mutation {{ ...Guesses }} fragment Guesses on Mutation {{ {} {} }}",
            login("a", "guess-0001"),
            login("b", "password-1234")
        ),
        format!(
            r#"mutation {{ {} r: register(input: {{actorId: "x", password: "password-1234"}}) {{ apiKey }} }}"#,
            login("a", "password-1234")
        ),
    ] {
        let resp = gql(&anyone, &document, json!({})).await;
        assert_eq!(
            resp["errors"][0]["extensions"]["code"], "BAD_REQUEST",
            "{document}: {resp}"
        );
        assert!(
            resp["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("at most one"),
            "{resp}"
        );
        assert!(resp["data"].is_null(), "{document} ran: {resp}");
    }
    let one = gql(
        &anyone,
        &format!("mutation {{ {} }}", login("a", "password-1234")),
        json!({}),
    )
    .await;
    assert!(one["data"]["a"]["token"].is_string(), "{one}");
}

/// The first message about operation `id` on a `/graphql/ws` session that
/// is a result (`next`, legacy `data`) or an `error`; its payload.
async fn result_of(s: &mut crate::common::gql_ws::Session, id: &str) -> Value {
    use std::time::Duration;
    loop {
        let msg = s
            .recv(Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("no answer to {id}"));
        if msg["id"] == id && ["next", "data", "error"].contains(&msg["type"].as_str().unwrap()) {
            return msg["payload"].clone();
        }
        assert_ne!(msg["type"], "close", "{msg}");
    }
}

/// The first error code of a GraphQL answer (or of a graphql-transport-ws
/// `error` payload, a list of errors).
fn first_code(payload: &Value) -> Value {
    let errors = if payload.is_array() {
        payload
    } else {
        &payload["errors"]
    };
    errors[0]["extensions"]["code"].clone()
}

/// NUL characters are refused over the sockets too: a mutation or a query
/// sent over `/graphql/ws` (either subprotocol), and the filters of a
/// subscription on `/graphql/ws` and on `/ws`. They used to reach the
/// store: SQLite kept the NUL in a task's title, PostgreSQL failed with an
/// internal error, and a subscription's replay failed and ended.
async fn nul_characters_are_refused_over_sockets(app: TestApp) {
    use crate::common::gql_ws::{LEGACY, Session, TRANSPORT};
    use crate::common::ws::WsConn;
    let owner = app
        .user("olga")
        .in_org("acme", crate::common::Role::Owner)
        .with_project("web")
        .await;
    let key = owner.token().unwrap().to_owned();
    for protocol in [TRANSPORT, LEGACY] {
        let legacy = protocol == LEGACY;
        let start = if legacy { "start" } else { "subscribe" };
        let mut s = Session::open(
            &app,
            protocol,
            json!({ "Authorization": format!("Bearer {key}") }),
        )
        .await;
        let ops = [
            (
                "vars",
                "mutation($t: String!) { createTask(input: {title: $t, org: \"acme\", project: \"web\"}) { task { id } } }",
                json!({ "t": NUL }),
            ),
            (
                "doc",
                r#"mutation { createTask(input: {title: "a\u0000b", org: "acme", project: "web"}) { task { id } } }"#,
                json!({}),
            ),
            (
                "search",
                r#"{ tasks(filter: {search: "a\u0000"}) { totalCount } }"#,
                json!({}),
            ),
            (
                "sub",
                "subscription($c: [String!]) { taskEvents(after: \"0\", filter: {channels: $c}) { id } }",
                json!({ "c": [NUL] }),
            ),
            (
                "subproject",
                "subscription($p: [String!]) { taskEvents(after: \"0\", filter: {projects: $p}) { id } }",
                json!({ "p": ["acme/w\u{0}b"] }),
            ),
        ];
        for (id, query, variables) in ops {
            s.send(json!({ "id": id, "type": start, "payload": { "query": query, "variables": variables } }))
                .await;
            let payload = result_of(&mut s, id).await;
            assert_eq!(
                first_code(&payload),
                "BAD_REQUEST",
                "{protocol} {id}: {payload}"
            );
        }
    }

    let mut ws = WsConn::open_url(&app.ws_url(&format!("token={key}"))).await;
    for (id, filters) in [
        ("c", json!({ "channels": [NUL], "after": 0 })),
        ("p", json!({ "projects": ["acme/w\u{0}b"], "after": 0 })),
        ("t", json!({ "task_types": [NUL], "after": 0 })),
        ("e", json!({ "event_types": [NUL], "after": 0 })),
    ] {
        let mut req = json!({ "type": "subscribe", "id": id });
        req.as_object_mut()
            .unwrap()
            .extend(filters.as_object().unwrap().clone());
        ws.send(req).await;
        let reply = ws
            .reply(|v| v["id"] == id && (v["type"] == "subscribed" || v["type"] == "error"))
            .await;
        assert_eq!(reply["type"], "error", "/ws {id}: {reply}");
        assert_eq!(reply["code"], "bad_request", "/ws {id}: {reply}");
        assert!(
            reply["message"].as_str().unwrap().contains("NUL"),
            "/ws {id}: {reply}"
        );
    }

    let list = owner
        .get("/orgs/acme/projects/web/tasks?limit=100")
        .await
        .expect(200);
    assert_eq!(list["tasks"], json!([]), "something was stored");
}

/// A key limited to some projects lists only the orgs of those projects:
/// neither the default org nor its identity's other orgs, which it cannot
/// open (404), on REST and GraphQL.
async fn a_limited_key_lists_only_the_orgs_it_may_open(app: TestApp) {
    let owner = app
        .user("olga")
        .in_org("acme", crate::common::Role::Owner)
        .with_project("web")
        .await;
    owner
        .post("/orgs", json!({ "slug": "other" }))
        .await
        .expect(201);
    let slugs = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|o| o["slug"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = owner.get("/orgs").await.expect(200);
    assert_eq!(
        slugs(&all["organizations"]),
        ["acme", "default", "other"],
        "a full key sees them all"
    );
    let made = owner
        .post(
            "/auth/api-keys",
            json!({ "name": "web", "projects": ["acme/web"] }),
        )
        .await
        .expect(201);
    let web = app.bearer(made["api_key"]["key"].as_str().unwrap());
    for slug in ["default", "other"] {
        web.get(&format!("/orgs/{slug}")).await.expect_error(404);
    }
    let listed = web.get("/orgs").await.expect(200);
    assert_eq!(slugs(&listed["organizations"]), ["acme"], "{listed}");
    let resp = gql(
        &web,
        "{ organizations { slug projects { slug } } }",
        json!({}),
    )
    .await;
    assert!(resp.get("errors").is_none(), "{resp}");
    assert_eq!(
        resp["data"]["organizations"],
        json!([{ "slug": "acme", "projects": [{ "slug": "web" }] }])
    );
}
