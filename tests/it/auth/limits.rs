//! Sign-in limits (issue 15): per client address and per account, on REST
//! and GraphQL alike, refused with 429 `RATE_LIMITED` and `Retry-After`;
//! `X-Forwarded-For` believed only from `ATS_TRUSTED_PROXIES`; a growing
//! delay for one account that never locks its real user out.
//!
//! Clients at different addresses are simulated by trusting 127.0.0.1 as a
//! proxy and sending `X-Forwarded-For`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::process::ServerProcess;
use crate::common::{Backend, TestApp, TestDb};
use crate::on_both_backends;

const PASSWORD: &str = "the right password";

/// What a sign-in request got back: status, body, `Retry-After` in seconds.
struct Answer {
    status: u16,
    body: Value,
    retry_after: Option<u64>,
}

impl Answer {
    /// Asserts a 429 `RATE_LIMITED` with a `Retry-After` of at most `max`
    /// seconds; returns it.
    #[track_caller]
    fn limited(&self, max: u64) -> u64 {
        assert_eq!(self.status, 429, "{}", self.body);
        assert_eq!(self.body["code"], "RATE_LIMITED", "{}", self.body);
        assert!(self.body["error"].as_str().is_some(), "{}", self.body);
        let wait = self.retry_after.expect("a Retry-After header");
        assert!(
            (1..=max).contains(&wait),
            "Retry-After {wait}, at most {max}"
        );
        wait
    }
}

/// POSTs `body` to `path`, from `from` (an `X-Forwarded-For`) when given.
async fn send(app: &TestApp, path: &str, from: Option<&str>, body: Value) -> Answer {
    let mut req = reqwest::Client::new()
        .post(format!("{}{path}", app.base))
        .json(&body);
    if let Some(ip) = from {
        req = req.header("x-forwarded-for", ip);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().expect("Retry-After in seconds"));
    let body = res.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        body,
        retry_after,
    }
}

async fn login(app: &TestApp, from: &str, email: &str, password: &str) -> Answer {
    send(
        app,
        "/auth/login",
        Some(from),
        json!({ "email": email, "password": password }),
    )
    .await
}

async fn register(app: &TestApp, from: &str, id: &str) -> Answer {
    send(
        app,
        "/auth/register",
        Some(from),
        json!({ "actor_type": "human", "actor_id": id, "email": format!("{id}@example.com"), "password": PASSWORD }),
    )
    .await
}

/// A GraphQL `login` from `from`: its first error's extensions, or `None`.
async fn gql_login(app: &TestApp, from: &str, email: &str, password: &str) -> Option<Value> {
    let query =
        "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { token } }";
    let a = send(
        app,
        "/graphql",
        Some(from),
        json!({ "query": query, "variables": { "e": email, "p": password } }),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    match a.body.get("errors") {
        Some(errors) => Some(errors[0]["extensions"].clone()),
        None => {
            assert!(a.body["data"]["login"]["token"].is_string(), "{}", a.body);
            None
        }
    }
}

/// A server that requires credentials, trusts 127.0.0.1 as a proxy, and
/// allows `per_ip` and `per_account` sign-ins.
async fn limited(
    backend: Backend,
    per_ip: &str,
    per_account: &str,
    trust_loopback: bool,
) -> Option<TestApp> {
    let rates = |s: &str| s.split(',').map(|r| r.parse().unwrap()).collect();
    let (per_ip, per_account) = (rates(per_ip), rates(per_account));
    TestApp::start_with(backend, |c| {
        c.auth = ats::auth::AuthMode::Required;
        c.jwt_secret = Some(crate::common::app::JWT_SECRET.to_owned());
        c.sign_in_rate_per_ip = per_ip;
        c.sign_in_rate_per_account = per_account;
        c.trusted_proxies = ats::config::TrustedProxies(if trust_loopback {
            vec!["127.0.0.1/32".parse().unwrap()]
        } else {
            vec![]
        });
    })
    .await
}

// A password check takes about a second in a debug build (more when tests
// run in parallel), so the limits whose refusals are counted replenish
// slowly enough that no cell comes back during the test: five attempts,
// then one every two minutes.

async fn account_limited(backend: Backend) -> Option<TestApp> {
    limited(backend, "30/1m", "5/10m", true).await
}

async fn ip_limited(backend: Backend) -> Option<TestApp> {
    limited(backend, "5/10m", "5/1m,20/1h", true).await
}

async fn ip_limited_no_proxy(backend: Backend) -> Option<TestApp> {
    limited(backend, "5/10m", "5/1m,20/1h", false).await
}

/// Two failures at once, then one every 5 s; past four in an hour, one
/// every 15 minutes.
async fn growing(backend: Backend) -> Option<TestApp> {
    limited(backend, "30/1m", "2/10s,4/1h", true).await
}

/// Two failures at once, then one every 3 s.
async fn short_window(backend: Backend) -> Option<TestApp> {
    limited(backend, "30/1m", "2/6s", true).await
}

on_both_backends!(start = crate::auth::limits::account_limited; wrong_passwords_for_one_account_are_refused_with_429,);
on_both_backends!(start = crate::auth::limits::ip_limited; one_address_is_limited_across_accounts,);
on_both_backends!(start = crate::auth::limits::ip_limited_no_proxy; forwarded_for_is_ignored_from_an_untrusted_peer,);
on_both_backends!(start = crate::auth::limits::growing; the_delay_grows_with_the_failures,);
on_both_backends!(start = crate::auth::limits::short_window; the_real_user_gets_in_after_the_wait,);
on_both_backends!(start = crate::auth::limits::socket_limited; logins_over_graphql_sockets_are_one_per_document_and_limited,);

/// Nine sign-ins per address and five logins per account, every client at
/// 127.0.0.1 (no proxy is trusted).
async fn socket_limited(backend: Backend) -> Option<TestApp> {
    limited(backend, "9/10m", "5/10m", false).await
}

/// Issue 15.1: many wrong passwords for one account, each from a new
/// address (so that no per-address limit applies): after five, every
/// attempt on that account is refused with 429, whatever its password or
/// however the account is named, on REST and GraphQL; an unknown account is
/// limited alike (the 429 tells nothing about which accounts exist).
async fn wrong_passwords_for_one_account_are_refused_with_429(app: TestApp) {
    register(&app, "198.51.100.1", "ann").await;
    for i in 0..5 {
        let a = login(
            &app,
            &format!("203.0.113.{i}"),
            "ann@example.com",
            "wrong guess",
        )
        .await;
        assert_eq!(a.status, 401, "attempt {i}: {}", a.body);
        assert_eq!(a.body["code"], "UNAUTHENTICATED");
    }
    let a = login(&app, "203.0.113.50", "ann@example.com", "wrong guess").await;
    a.limited(120);
    // The right password is refused as well (from anywhere): it is not even
    // checked, so the answer tells the attacker nothing.
    login(&app, "198.51.100.1", "ann@example.com", PASSWORD)
        .await
        .limited(120);
    // Naming the account differently does not help.
    let by_id = send(
        &app,
        "/auth/login",
        Some("203.0.113.51"),
        json!({ "actor_id": "ann", "password": "wrong guess" }),
    )
    .await;
    by_id.limited(120);
    // Nor does GraphQL.
    let ext = gql_login(&app, "203.0.113.52", "ANN@example.com ", "wrong guess")
        .await
        .expect("refused");
    assert_eq!(ext["code"], "RATE_LIMITED", "{ext}");
    let wait = ext["retryAfter"].as_u64().expect("extensions.retryAfter");
    assert!((1..=120).contains(&wait), "{ext}");

    // An account that does not exist is limited the same way.
    for i in 0..5 {
        let a = login(
            &app,
            &format!("203.0.113.{}", 100 + i),
            "nobody@example.com",
            "guess",
        )
        .await;
        assert_eq!(a.status, 401, "{}", a.body);
    }
    login(&app, "203.0.113.150", "nobody@example.com", "guess")
        .await
        .limited(120);

    // Other accounts are not affected.
    register(&app, "198.51.100.2", "bob").await;
    let a = login(&app, "198.51.100.2", "bob@example.com", PASSWORD).await;
    assert_eq!(a.status, 200, "{}", a.body);

    // `/metrics` counts the refusals: ten wrong passwords (five for ann,
    // five for nobody), five attempts over the limit; the sign-in that
    // worked and the registrations are not refusals.
    let refused = |reason: &str| format!("ats_sign_in_refused_total{{reason=\"{reason}\"}}");
    assert_eq!(app.metric(&refused("bad_credentials")).await, 10);
    assert_eq!(app.metric(&refused("rate_limited")).await, 5);
}

/// Issue 15.1: one address trying many accounts is refused once over its
/// limit (every attempt costs a password hash); registering counts too; a
/// client at another address still signs in.
async fn one_address_is_limited_across_accounts(app: TestApp) {
    let a = register(&app, "198.51.100.7", "carol").await;
    assert_eq!(a.status, 201, "{}", a.body);
    let attacker = "203.0.113.66";
    for i in 0..5 {
        let a = login(&app, attacker, &format!("user{i}@example.com"), "guess").await;
        assert_eq!(a.status, 401, "attempt {i}: {}", a.body);
    }
    login(&app, attacker, "user9@example.com", "guess")
        .await
        .limited(120);
    register(&app, attacker, "mallory").await.limited(120);
    // Over GraphQL too (one field per document, and each counts).
    let ext = gql_login(&app, attacker, "carol@example.com", PASSWORD)
        .await
        .expect("refused");
    assert_eq!(ext["code"], "RATE_LIMITED", "{ext}");
    assert!(ext["retryAfter"].as_u64().is_some_and(|s| s >= 1), "{ext}");
    // The real user, elsewhere, is not affected.
    let a = login(&app, "198.51.100.7", "carol@example.com", PASSWORD).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body["token"].is_string());
    assert!(
        gql_login(&app, "198.51.100.8", "carol@example.com", PASSWORD)
            .await
            .is_none()
    );
}

/// Behind no trusted proxy, `X-Forwarded-For` is the client's own claim:
/// changing it on every attempt does not escape the per-address limit.
async fn forwarded_for_is_ignored_from_an_untrusted_peer(app: TestApp) {
    for i in 0..5 {
        let a = login(
            &app,
            &format!("203.0.113.{i}"),
            &format!("u{i}@example.com"),
            "guess",
        )
        .await;
        assert_eq!(a.status, 401, "attempt {i}: {}", a.body);
    }
    login(&app, "203.0.113.99", "u9@example.com", "guess")
        .await
        .limited(120);
    let a = send(
        &app,
        "/auth/login",
        None,
        json!({ "email": "u9@example.com", "password": "guess" }),
    )
    .await;
    a.limited(120);
}

/// Wrong-password logins for `email` sent at once, each from its own
/// address: they reach the limiter together, however long each password
/// check then takes.
async fn wrong_logins_at_once(app: &TestApp, email: &str, first: usize, n: usize) -> Vec<Answer> {
    futures_util::future::join_all(
        (first..first + n).map(|i| async move {
            login(app, &format!("203.0.113.{i}"), email, "wrong guess").await
        }),
    )
    .await
}

/// Issue 15, behind a proxy: the per-account delay grows with the failures.
/// An attacker who waits as told gets exactly four failures through (the
/// hourly tier), the first two at once and the next after waits of at most
/// 5 s; then the wait is a quarter of an hour. The first three attempts are
/// sent together so that the short tier refuses one whatever a password
/// check costs on a loaded machine.
async fn the_delay_grows_with_the_failures(app: TestApp) {
    register(&app, "198.51.100.1", "eve").await;
    let first = wrong_logins_at_once(&app, "eve@example.com", 0, 3).await;
    let mut failures = first.iter().filter(|a| a.status == 401).count();
    assert_eq!(failures, 2, "two of three at once get through");
    let refused = first.iter().find(|a| a.status != 401).unwrap();
    let mut short_waits = vec![refused.limited(5)];
    tokio::time::sleep(Duration::from_secs(short_waits[0]) + Duration::from_millis(100)).await;
    for i in 3..20 {
        let a = login(
            &app,
            &format!("203.0.113.{i}"),
            "eve@example.com",
            "wrong guess",
        )
        .await;
        if a.status == 401 {
            failures += 1;
            continue;
        }
        let wait = a.limited(900);
        if wait > 5 {
            assert_eq!(failures, 4, "four failures before the long wait");
            assert!(wait >= 600, "the long wait is the hourly tier's: {wait} s");
            assert!(short_waits.iter().all(|w| *w <= 5), "{short_waits:?}");
            return;
        }
        short_waits.push(wait);
        tokio::time::sleep(Duration::from_secs(wait) + Duration::from_millis(100)).await;
    }
    panic!("no long wait after {failures} failures and waits of {short_waits:?} s");
}

/// Issue 15: once the attacker stops, the real user of a hammered account
/// signs in after the wait it is told (from another address): slowed,
/// never locked out.
async fn the_real_user_gets_in_after_the_wait(app: TestApp) {
    register(&app, "198.51.100.1", "dan").await;
    let attack = wrong_logins_at_once(&app, "dan@example.com", 0, 4).await;
    for a in &attack {
        if a.status != 429 {
            assert_eq!(a.status, 401, "{}", a.body);
        }
    }
    let refused: Vec<_> = attack.iter().filter(|a| a.status == 429).collect();
    assert_eq!(refused.len(), 2, "the attacker was refused past the burst");
    refused.iter().for_each(|a| {
        a.limited(3);
    });
    let mut waited = 0;
    for _ in 0..3 {
        let a = login(&app, "198.51.100.1", "dan@example.com", PASSWORD).await;
        if a.status == 200 {
            assert!(a.body["token"].is_string());
            return;
        }
        let wait = a.limited(3);
        waited += wait;
        tokio::time::sleep(Duration::from_secs(wait) + Duration::from_millis(200)).await;
    }
    panic!("the real user did not get in after waiting {waited} s as told");
}

/// The address logged for a refused sign-in is the forwarded one only when
/// the peer is a trusted proxy.
async fn logged_client_addresses_follow_trusted_proxies(backend: Backend) {
    for (trusted, logged, not_logged) in [
        ("127.0.0.1/32", "203.0.113.77", "client_ip=127.0.0.1"),
        ("10.0.0.0/8", "client_ip=127.0.0.1", "203.0.113.77"),
    ] {
        let Some(db) = TestDb::create(backend).await else {
            eprintln!("SKIPPED (PostgreSQL): ATS_TEST_PG_URL is not set");
            return;
        };
        let env = [
            ("ATS_AUTH", "open"),
            ("ATS_TRUSTED_PROXIES", trusted),
            ("ATS_SIGN_IN_RATE_PER_IP", "1/1m"),
            ("RUST_LOG", "info"),
        ];
        let server = ServerProcess::start(&db.url, "limits", &env).await;
        let http = reqwest::Client::new();
        let mut statuses = vec![];
        for _ in 0..2 {
            let res = http
                .post(format!("{}/auth/login", server.base))
                .header("x-forwarded-for", "203.0.113.77")
                .json(&json!({ "email": "x@example.com", "password": "guess" }))
                .send()
                .await
                .unwrap();
            statuses.push(res.status().as_u16());
        }
        assert_eq!(statuses, [401, 429]);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let logs = server.logs();
        assert!(logs.contains(logged), "{trusted}: {logged} not in\n{logs}");
        assert!(
            !logs.contains(not_logged),
            "{trusted}: {not_logged} in\n{logs}"
        );
        assert!(
            !logs.contains("x@example.com"),
            "the account name is not logged"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logged_client_addresses_follow_trusted_proxies_sqlite() {
    logged_client_addresses_follow_trusted_proxies(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logged_client_addresses_follow_trusted_proxies_postgres() {
    logged_client_addresses_follow_trusted_proxies(Backend::Postgres).await;
}

/// The result of operation `id` on a `/graphql/ws` session: the payload of
/// its `next` (legacy `data`) or `error` message.
async fn socket_result(s: &mut crate::common::gql_ws::Session, id: &str) -> Value {
    loop {
        let msg = s
            .recv(Duration::from_secs(30))
            .await
            .unwrap_or_else(|| panic!("no answer to {id}"));
        assert_ne!(msg["type"], "close", "{msg}");
        if msg["id"] == id && ["next", "data", "error"].contains(&msg["type"].as_str().unwrap()) {
            return msg["payload"].clone();
        }
    }
}

/// A `login` sent as an operation over `/graphql/ws` (once the socket is
/// initialised with some credential) obeys the same rules as over HTTP: one
/// sign-in field per document, the account's limit (shared with REST and
/// across sockets and subprotocols) and the socket's address's limit.
async fn logins_over_graphql_sockets_are_one_per_document_and_limited(app: TestApp) {
    use crate::common::gql_ws::{LEGACY, Session, TRANSPORT};
    // Two registrations: two of the address's nine sign-ins.
    let ann = register(&app, "198.51.100.1", "ann").await;
    assert_eq!(ann.status, 201, "{}", ann.body);
    let bob = register(&app, "198.51.100.2", "bob").await;
    let key = bob.body["api_key"].as_str().unwrap().to_owned();
    let init = json!({ "Authorization": format!("Bearer {key}") });
    let login = |id: &str, fields: &str, legacy: bool| {
        json!({
            "id": id,
            "type": if legacy { "start" } else { "subscribe" },
            "payload": { "query": format!("mutation {{ {fields} }}") },
        })
    };
    let guess = |alias: &str, email: &str, password: &str| {
        format!(
            r#"{alias}: login(input: {{email: "{email}", password: "{password}"}}) {{ token }}"#
        )
    };
    let code = |p: &Value| p["errors"][0]["extensions"]["code"].clone();
    let mut transport = Session::open(&app, TRANSPORT, init.clone()).await;
    let mut legacy = Session::open(&app, LEGACY, init).await;

    // Ten aliased logins in one document: refused before any runs (no
    // password is checked, nothing counts against the limits).
    for (s, is_legacy) in [(&mut transport, false), (&mut legacy, true)] {
        let fields: Vec<String> = (0..10)
            .map(|i| guess(&format!("a{i}"), "ann@example.com", &format!("guess {i}")))
            .collect();
        s.send(login("ten", &fields.join(" "), is_legacy)).await;
        let p = socket_result(s, "ten").await;
        let text = p.to_string();
        assert!(text.contains("at most one"), "{text}");
        assert!(!text.contains("\"token\""), "{text}");
    }

    // Five wrong passwords for ann over the socket, then refused: on the
    // socket, on the other subprotocol's socket, and over REST, whatever
    // the password.
    for i in 0..5 {
        let id = format!("w{i}");
        transport
            .send(login(
                &id,
                &guess("x", "ann@example.com", "wrong guess"),
                false,
            ))
            .await;
        let p = socket_result(&mut transport, &id).await;
        assert_eq!(code(&p), "UNAUTHENTICATED", "{id}: {p}");
    }
    transport
        .send(login(
            "w5",
            &guess("x", "ann@example.com", "wrong guess"),
            false,
        ))
        .await;
    let p = socket_result(&mut transport, "w5").await;
    assert_eq!(code(&p), "RATE_LIMITED", "{p}");
    assert!(p["errors"][0]["extensions"]["retryAfter"].as_u64().unwrap() >= 1);
    legacy
        .send(login("r", &guess("x", "ann@example.com", PASSWORD), true))
        .await;
    let p = socket_result(&mut legacy, "r").await;
    assert_eq!(code(&p), "RATE_LIMITED", "{p}");
    assert!(p.to_string().contains("this account"), "{p}");
    let rest = send(
        &app,
        "/auth/login",
        None,
        json!({ "email": "ann@example.com", "password": PASSWORD }),
    )
    .await;
    rest.limited(600);

    // The address has made its nine sign-ins (two registrations, five
    // wrong passwords, and the two attempts the account's limit refused
    // after the address's had let them through; the REST one was refused
    // by the address's): the next login for any account is refused for the
    // address.
    legacy
        .send(login("o", &guess("x", "bob@example.com", PASSWORD), true))
        .await;
    let p = socket_result(&mut legacy, "o").await;
    assert_eq!(code(&p), "RATE_LIMITED", "{p}");
    assert!(p.to_string().contains("this address"), "{p}");
}
