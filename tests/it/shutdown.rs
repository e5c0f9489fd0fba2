//! Graceful shutdown of the real `ats-server` binary (SPEC §8): on SIGTERM
//! it refuses new connections, answers what is in flight (a download the
//! client is still reading, a claim waiting for work, and on PostgreSQL a
//! write blocked on a row lock), closes both kinds of WebSocket with 1001
//! and a reason, and exits 0 within `ATS_SHUTDOWN_GRACE_MS`; a client that
//! never finishes does not hold it past the grace period.

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database, DbBackend, Statement, TransactionTrait};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::common::gql_ws::{Session, TRANSPORT};
use crate::common::process::ServerProcess as Server;
use crate::common::ws::{Next, WsConn};
use crate::common::{Backend, TestDb};

/// The grace period of the first test: far longer than its drain takes.
const GRACE_MS: u64 = 8_000;
/// Tasks with a 200 KB payload each: listing them all makes a response of
/// about 10 MB, more than the socket buffers between server and client
/// hold, so the server is still writing it while the client waits.
const BIG_TASKS: usize = 50;
const BLOB: usize = 200_000;
/// How long anything expected may take.
const WAIT: Duration = Duration::from_secs(20);

/// A download in progress: the request sent on a socket with a small
/// receive buffer, the status line and headers read, the body not.
struct Download {
    socket: TcpStream,
    /// Body bytes read along with the headers.
    body: Vec<u8>,
    length: usize,
}

impl Download {
    /// Sends `GET path` and reads up to the end of the response headers,
    /// which proves the server has the request and is answering it.
    async fn start(port: u16, path: &str) -> Self {
        let socket = TcpSocket::new_v4().unwrap();
        // A small window: the server cannot push the whole body into it.
        socket.set_recv_buffer_size(16 * 1024).unwrap();
        let mut socket = socket
            .connect(([127, 0, 0, 1], port).into())
            .await
            .expect("connect for the download");
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Actor-Type: human\r\nX-Actor-ID: reader\r\n\r\n"
        );
        socket.write_all(request.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        let mut chunk = [0u8; 1024];
        let end = loop {
            let n = tokio::time::timeout(WAIT, socket.read(&mut chunk))
                .await
                .expect("response headers in time")
                .unwrap();
            assert!(n > 0, "connection closed before the response headers");
            head.extend_from_slice(&chunk[..n]);
            if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let headers = String::from_utf8_lossy(&head[..end]).to_ascii_lowercase();
        assert!(headers.starts_with("http/1.1 200"), "{headers}");
        let length = headers
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no content-length: {headers}"));
        Self {
            socket,
            body: head[end..].to_vec(),
            length,
        }
    }

    /// Reads the rest of the body and parses it.
    async fn finish(mut self) -> Value {
        while self.body.len() < self.length {
            let mut chunk = vec![0u8; 64 * 1024];
            let n = tokio::time::timeout(WAIT, self.socket.read(&mut chunk))
                .await
                .expect("body in time")
                .expect("read body");
            assert!(
                n > 0,
                "connection closed after {} of {} body bytes",
                self.body.len(),
                self.length
            );
            self.body.extend_from_slice(&chunk[..n]);
        }
        serde_json::from_slice(&self.body).expect("the whole body is JSON")
    }
}

async fn post(base: &str, path: &str, actor: &str, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("X-Actor-Type", "agent")
        .header("X-Actor-ID", actor)
        .json(&body)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Waits until the server holds `n` live event subscriptions (a waiting
/// claim listens for new work as one).
async fn wait_subscriptions(server: &Server, n: i64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let now = server.metric("ats_open_subscriptions").await;
        if now == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "expected {n} open subscriptions, the server has {now}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The close frame a socket receives next (messages before it skipped).
async fn close_of_ws(ws: &mut WsConn) -> Option<(u16, String)> {
    loop {
        match ws.next_or_close(WAIT).await {
            Next::Message(_) => {}
            Next::Closed(frame) => return frame,
            Next::Quiet => panic!("/ws was not closed within {WAIT:?}"),
        }
    }
}

async fn close_of_gql(s: &mut Session) -> Option<(u16, String)> {
    loop {
        match s.next_or_close(WAIT).await {
            Next::Message(_) => {}
            Next::Closed(frame) => return frame,
            Next::Quiet => panic!("/graphql/ws was not closed within {WAIT:?}"),
        }
    }
}

/// On PostgreSQL: a write in flight at SIGTERM, held on a row lock the test
/// owns until it lets go. Returns the open transaction and the request.
async fn blocked_write(
    db_url: &str,
    base: &str,
) -> (
    sea_orm::DatabaseTransaction,
    tokio::task::JoinHandle<(u16, Value)>,
) {
    let (status, created) = post(base, "/tasks", "finisher", json!({ "title": "locked" })).await;
    assert_eq!(status, 201, "{created}");
    let id = created["task"]["id"].as_i64().unwrap();
    let claim = json!({ "lease_duration": 3_600_000 });
    let (status, claimed) = post(base, &format!("/tasks/{id}/claim"), "finisher", claim).await;
    assert_eq!(status, 200, "{claimed}");
    let db = Database::connect(db_url).await.unwrap();
    let lock = db.begin().await.unwrap();
    lock.execute_unprepared(&format!("SELECT id FROM tasks WHERE id = {id} FOR UPDATE"))
        .await
        .unwrap();
    let base = base.to_owned();
    let complete = tokio::spawn(async move {
        post(
            &base,
            &format!("/tasks/{id}/complete"),
            "finisher",
            json!({ "outputs": { "done": true } }),
        )
        .await
    });
    // The server's update waits for the row: a backend waiting on a lock.
    let deadline = Instant::now() + WAIT;
    loop {
        let waiting = db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT count(*) AS n FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap();
        if waiting > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the complete never reached the row lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (lock, complete)
}

async fn sigterm_finishes_what_is_in_flight(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        eprintln!("SKIPPED (PostgreSQL): ATS_TEST_PG_URL is not set");
        return;
    };
    let grace = GRACE_MS.to_string();
    let mut server = Server::start(
        &db.url,
        "shutdown",
        &[
            ("ATS_AUTH", "open"),
            ("ATS_SHUTDOWN_GRACE_MS", &grace),
            ("RUST_LOG", "info"),
        ],
    )
    .await;
    let blob = "x".repeat(BLOB);
    for i in 0..BIG_TASKS {
        let body =
            json!({ "title": format!("big {i}"), "channel": "big", "payload": { "blob": blob } });
        let (status, created) = post(&server.base, "/tasks", "loader", body).await;
        assert_eq!(status, 201, "{created}");
    }
    let baseline = server.metric("ats_open_subscriptions").await;

    // Subscribers on both sockets.
    let mut ws = WsConn::open_url(&format!(
        "{}/ws?actor_type=human&actor_id=watcher",
        server.ws_base()
    ))
    .await;
    ws.subscribe("all", json!({})).await;
    let mut gql = Session::open_to(&server.base, TRANSPORT, json!({})).await;
    gql.send(json!({
        "id": "events",
        "type": "subscribe",
        "payload": { "query": "subscription { taskEvents { id type taskId } }" },
    }))
    .await;
    // A worker waiting up to 30 s for work that will not come.
    let claim_base = server.base.clone();
    let waiting_claim = tokio::spawn(async move {
        let body = json!({ "channel": "idle", "wait_ms": 30_000 });
        let answer = post(&claim_base, "/tasks/claim-next", "waiter", body).await;
        (answer, Instant::now())
    });
    wait_subscriptions(&server, baseline + 3).await;
    let locked = match backend {
        Backend::Postgres => Some(blocked_write(&db.url, &server.base).await),
        Backend::Sqlite => None,
    };
    let download = Download::start(
        server.port,
        &format!("/tasks?channel=big&limit={BIG_TASKS}"),
    )
    .await;

    let signalled = Instant::now();
    server.terminate();

    // The waiting claim answers at once, with nothing claimed.
    let ((status, body), answered) = tokio::time::timeout(WAIT, waiting_claim)
        .await
        .expect("the waiting claim was answered")
        .unwrap();
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "NOT_FOUND", "{body}");
    let waited = answered - signalled;
    assert!(
        waited < Duration::from_secs(3),
        "the waiting claim answered {waited:?} after SIGTERM, not promptly"
    );

    // Both sockets are closed with 1001 and a reason.
    let frame = close_of_ws(&mut ws).await;
    assert_eq!(
        frame,
        Some((1001, "server shutting down".to_owned())),
        "/ws close frame"
    );
    let frame = close_of_gql(&mut gql).await;
    assert_eq!(
        frame,
        Some((1001, "server shutting down".to_owned())),
        "/graphql/ws close frame"
    );

    // While the download (and the blocked write) keep it running, new
    // connections are refused.
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(
            server.exited().is_none(),
            "the server exited with a download unfinished"
        );
        match TcpStream::connect(("127.0.0.1", server.port)).await {
            // A handshake caught in the listener's queue as it closes is
            // reset rather than refused: the same refusal, by a race.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset
                ) =>
            {
                break;
            }
            Err(e) => panic!("connect failed otherwise: {e}"),
            Ok(_) => {
                assert!(
                    Instant::now() < deadline,
                    "new connections still accepted while shutting down"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    // The write blocked at SIGTERM completes once its row is free, with
    // its usual answer.
    if let Some((lock, complete)) = locked {
        assert!(server.exited().is_none());
        let released = Instant::now();
        lock.rollback().await.unwrap();
        let (status, body) = tokio::time::timeout(WAIT, complete)
            .await
            .expect("the blocked complete was answered")
            .unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["task"]["status"], "completed", "{body}");
        let took = released.elapsed();
        assert!(
            took < Duration::from_secs(3),
            "the write took {took:?} to answer once its row was free"
        );
    }

    // The download in flight at SIGTERM arrives whole.
    assert!(server.exited().is_none());
    let list = download.finish().await;
    let tasks = list["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), BIG_TASKS);
    assert!(
        tasks
            .iter()
            .all(|t| t["payload"]["blob"].as_str().map(str::len) == Some(BLOB))
    );

    // Then the process exits 0, within the grace period.
    let left = Duration::from_millis(GRACE_MS).saturating_sub(signalled.elapsed());
    let status = server.wait_exit(left).await.unwrap_or_else(|| {
        panic!(
            "still running {GRACE_MS} ms after SIGTERM; log:\n{}",
            server.log_text()
        )
    });
    let log = server.log_text();
    assert!(status.success(), "exit status {status}; log:\n{log}");
    assert!(
        log.contains("every request answered and every WebSocket closed"),
        "{log}"
    );
    assert!(
        !log.contains("did not reach this write"),
        "a write waited for a stopped event log: {log}"
    );
    eprintln!(
        "{backend:?}: exited {:?} after SIGTERM",
        signalled.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_finishes_what_is_in_flight_sqlite() {
    sigterm_finishes_what_is_in_flight(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_finishes_what_is_in_flight_postgres() {
    sigterm_finishes_what_is_in_flight(Backend::Postgres).await;
}

/// A client that stops reading a response does not keep the server: it
/// exits when the grace period ends, not before.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_exits_when_the_grace_period_ends() {
    const GRACE: Duration = Duration::from_millis(1_500);
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let grace = GRACE.as_millis().to_string();
    let mut server = Server::start(
        &db.url,
        "grace",
        &[
            ("ATS_AUTH", "open"),
            ("ATS_SHUTDOWN_GRACE_MS", &grace),
            ("RUST_LOG", "info"),
        ],
    )
    .await;
    let blob = "x".repeat(BLOB);
    for i in 0..BIG_TASKS {
        let body =
            json!({ "title": format!("big {i}"), "channel": "big", "payload": { "blob": blob } });
        let (status, created) = post(&server.base, "/tasks", "loader", body).await;
        assert_eq!(status, 201, "{created}");
    }
    let stalled = Download::start(
        server.port,
        &format!("/tasks?channel=big&limit={BIG_TASKS}"),
    )
    .await;
    let signalled = Instant::now();
    server.terminate();
    let status = server
        .wait_exit(GRACE + Duration::from_secs(5))
        .await
        .unwrap_or_else(|| panic!("still running long after the grace period"));
    let took = signalled.elapsed();
    assert!(status.success(), "exit status {status}");
    assert!(
        took >= GRACE,
        "exited after {took:?}, before the grace period ({GRACE:?}) with a download unfinished"
    );
    assert!(
        server
            .log_text()
            .contains("shutdown grace period over: exiting with connections still open"),
        "{}",
        server.log_text()
    );
    drop(stalled);
}
