//! Benchmark of the read path (issue 14): what a dashboard's reads cost over
//! GraphQL and REST on a loaded store, and what an alias attack does to
//! another client's reads. Prints numbers and asserts nothing.
//!
//! ```sh
//! ATS_BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!     cargo run --release --example read_path [-- --help]
//! ```
//!
//! PostgreSQL is measured when `ATS_BENCH_PG_URL` names a server the program
//! may create databases on (it creates a fresh one and drops it at the end);
//! SQLite (a temp file) only with `--sqlite`. For each backend it starts the
//! server in-process (open auth), on a tokio runtime and thread of its own so
//! that a request that holds the server's worker threads slows the server as
//! it would in its own process, not the load generator; then it:
//!
//! 1. loads `--tasks` tasks through `POST /tasks/bulk`, 1,000 per request,
//!    `--loaders` concurrent clients (the load rate is printed). Task `i` is
//!    on channel `c{i % 4}`, of type `review`, `deploy` or `triage` (`i % 3`),
//!    priority `1 + 7i mod 10`, with a small JSON payload;
//! 2. varies the statuses through the API: cancels 1 % of the tasks (`POST
//!    /tasks/{id}/cancel`), claims 4 % with `POST /tasks/claim-batch` (100 per
//!    batch, a one-day lease so the reaper does not return them while the
//!    reads run) and completes three in four of those: about 95 % stay
//!    pending, 1 % in progress, 3 % completed, 1 % cancelled;
//! 3. posts 10 messages on the first task loaded (the *target*), then sleeps
//!    two seconds so background work settles. The program runs `ANALYZE` only
//!    with `--analyze`: by default the server is measured as it finds its
//!    tables after a bulk load (on PostgreSQL, statistics arrive when
//!    autovacuum gets to them), as a fresh deployment would be, like
//!    `write_path`;
//! 4. runs each of three reads, over GraphQL (`POST /graphql`) and over its
//!    REST equivalent, as a closed loop of `--connections` clients (one
//!    reqwest client per connection, HTTP keep-alive) for `--seconds`:
//!    a. a page of 50 pending tasks of channel `c1`, oldest first;
//!    b. the target task with its payload and first 10 messages (REST: `GET
//!    /tasks/{id}`, which carries the whole thread — here the same 10);
//!    c. a page of 50 pending tasks with the total count (GraphQL
//!    `totalCount`, REST's `count`);
//!
//!    A response counts as an error when its status is not 200, or when a
//!    GraphQL answer has `errors` or no `data`; the first error of each run
//!    goes to stderr. req/s counts successful responses only; the
//!    percentiles are over every response;
//! 5. with `--postgraphile <path to postgraphile's CLI>` (PostGraphile 4;
//!    PostgreSQL only), copies the server's `tasks` table with its indexes
//!    into a schema `pgl` of the same database (`CREATE TABLE … (LIKE tasks
//!    INCLUDING ALL)`, `INSERT … SELECT`), starts PostGraphile on it and
//!    measures reads (a) and (c) the same way (PostGraphile's `condition`
//!    filters on equality; its table has no messages, so no read (b));
//! 6. the alias attack: a victim client reads `GET /tasks/{target}` one
//!    request after another for `--seconds`, first alone, then while four
//!    attackers each send, in a loop, a GraphQL document of `--aliases`
//!    aliases of one field: `taskEvents(first: 1000) { id }`,
//!    `tasks { totalCount }`, `stats { … }`, `organizations { … }`. It prints
//!    the victim's p50, p99, max and errors in both phases, and for each
//!    attacker its responses, mean time per response, and the first answer's
//!    status and `extensions.code` (and, first, the time of one answer to each
//!    document sent alone). An attacker request still running when
//!    the phase ends is abandoned (the connection is dropped), and the
//!    server's shutdown waits for what it was still doing.
//!
//! Progress goes to stderr; the markdown tables go to stdout at the end.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use sea_orm::{ConnectionTrait, Database};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Value, json};

/// Command-line options; the defaults are the figures of issue 14.
#[derive(Parser, Debug, Clone)]
#[command(about = "ATS read-path benchmark: GraphQL and REST reads, and the alias attack")]
struct Options {
    /// Tasks loaded through the bulk API before the reads.
    #[arg(long, default_value_t = 300_000)]
    tasks: usize,
    /// Concurrent clients of each read run (closed loop).
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Length of each read run and of each phase of the alias attack, in seconds.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Concurrent clients loading the tasks (1,000 per request).
    #[arg(long, default_value_t = 4)]
    loaders: usize,
    /// Aliases in each attack document.
    #[arg(long, default_value_t = 1_000)]
    aliases: usize,
    /// Measure SQLite too (a temp file). PostgreSQL is measured when
    /// ATS_BENCH_PG_URL is set.
    #[arg(long)]
    sqlite: bool,
    /// Run ANALYZE after loading (default: leave statistics to autovacuum, as
    /// a fresh deployment would).
    #[arg(long)]
    analyze: bool,
    /// Path to PostGraphile 4's CLI: also measure reads (a) and (c) against
    /// PostGraphile serving a copy of the tasks table (PostgreSQL only).
    #[arg(long)]
    postgraphile: Option<PathBuf>,
}

/// Channels the tasks are spread over; read (a) filters the second.
const CHANNELS: usize = 4;
/// Task types, in turn.
const TYPES: [&str; 3] = ["review", "deploy", "triage"];
/// Tasks per `POST /tasks/bulk`.
const BULK: usize = 1_000;
/// Messages posted on the target task.
const MESSAGES: usize = 10;
/// Clients that vary the statuses.
const MIX_WORKERS: usize = 8;
/// How long one request may take before the client gives up on it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

#[tokio::main]
async fn main() {
    // reqwest is built without a default TLS provider (see Cargo.toml).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let opts = Options::parse();
    let started = Instant::now();
    let mut reports = Vec::new();
    match std::env::var("ATS_BENCH_PG_URL") {
        Ok(admin) => reports.push(bench_postgres(&opts, &admin).await),
        Err(_) => eprintln!(
            "postgres skipped: set ATS_BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/postgres"
        ),
    }
    if opts.sqlite {
        reports.push(bench_sqlite(&opts).await);
    }
    if reports.is_empty() {
        eprintln!("nothing measured: set ATS_BENCH_PG_URL and/or pass --sqlite");
        std::process::exit(2);
    }
    print!("{}", render(&opts, &reports));
    println!("total run time: {:.0} s", started.elapsed().as_secs_f64());
}

/// Runs every measurement on a fresh SQLite file, then deletes it.
async fn bench_sqlite(opts: &Options) -> Report {
    let file = std::env::temp_dir().join(format!("ats_read_path_{}.db", std::process::id()));
    let url = format!("sqlite://{}", file.display());
    let report = bench_backend("sqlite", &url, opts).await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
    report
}

/// Runs every measurement on a database created for this run on the
/// PostgreSQL server of `admin` (an admin URL), then drops it.
async fn bench_postgres(opts: &Options, admin: &str) -> Report {
    let name = format!("ats_read_path_{}", std::process::id());
    let conn = Database::connect(admin)
        .await
        .expect("connect to ATS_BENCH_PG_URL");
    conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create the benchmark database");
    // The database name replaced, the options (`?sslmode=disable`, …) kept.
    let (server, options) = admin
        .split_once('?')
        .map_or((admin, String::new()), |(s, o)| (s, format!("?{o}")));
    let base = server.rsplit_once('/').map_or(server, |(base, _)| base);
    let report = bench_backend("postgres", &format!("{base}/{name}{options}"), opts).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .expect("drop the benchmark database");
    report
}

/// Every figure of one backend, in the order of the module documentation.
async fn bench_backend(backend: &'static str, url: &str, opts: &Options) -> Report {
    let say = |line: String| eprintln!("[{backend}] {line}");
    let server = Server::start(url).await;

    let (ids, load) = server.load(opts, &say).await;
    say(format!("loaded {load}"));
    let mix = server.vary_statuses(&ids).await;
    say(format!("statuses varied: {mix}"));
    let target = ids[0];
    server.add_messages(target).await;
    say(format!("{MESSAGES} messages posted on task {target}"));
    if opts.analyze {
        analyze(url).await;
        say("ANALYZE done".into());
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let by_status = server.by_status().await;
    say(format!("tasks by status: {by_status}"));

    let mut runs = Vec::new();
    for read in ats_reads(&server.base, target) {
        runs.push(measure(read, opts, &say).await);
    }
    if let Some(cli) = &opts.postgraphile {
        if backend == "postgres" {
            runs.extend(postgraphile_runs(cli, url, opts, &say).await);
        } else {
            say("PostGraphile skipped: PostgreSQL only".into());
        }
    }

    let attack = alias_attack(&server.base, target, opts, &say).await;
    let shutdown = server.stop().await;
    say(format!("server stopped in {shutdown:.1} s"));
    Report {
        backend,
        load,
        mix,
        by_status,
        target,
        runs,
        attack,
        shutdown,
    }
}

/// Runs `ANALYZE` on the whole database at `url`.
async fn analyze(url: &str) {
    let conn = Database::connect(url).await.expect("connect for ANALYZE");
    conn.execute_unprepared("ANALYZE").await.expect("ANALYZE");
    conn.close().await.ok();
}

// ---------------------------------------------------------------------------
// The server, and loading it

/// The ATS server running in this process, on a runtime of its own, and a
/// client for setup calls.
struct Server {
    base: Arc<str>,
    http: reqwest::Client,
    stop: tokio::sync::oneshot::Sender<()>,
    /// Answers when the server's thread has finished.
    stopped: tokio::sync::oneshot::Receiver<()>,
}

/// `{"tasks": [{"id": …}, …]}`: what loading reads of a bulk or claim-batch answer.
#[derive(Deserialize)]
struct TaskList {
    tasks: Vec<TaskId>,
}

#[derive(Deserialize)]
struct TaskId {
    id: i64,
}

/// `{"stats": {"by_status": {"pending": n, …}}}`
#[derive(Deserialize)]
struct StatsBody {
    stats: Stats,
}

#[derive(Deserialize)]
struct Stats {
    by_status: std::collections::BTreeMap<String, u64>,
}

/// The actor that creates (and so may cancel) every task.
const CREATOR: &str = "loader";

impl Server {
    /// Starts `ats::serve` on a free port of 127.0.0.1 (open auth; migrations
    /// run at start) and waits until `/health` answers; panics if the server
    /// stops or does not answer within a minute.
    ///
    /// The server runs on a multi-threaded tokio runtime of its own (one
    /// worker per CPU, as `ats-server` has), on a thread of its own, so that
    /// work that holds one of its worker threads delays the server's requests
    /// as it would in its own process, and not the load generator's clients.
    async fn start(url: &str) -> Self {
        let mut config = ats::config::Config::for_database(url);
        config.auth = ats::auth::AuthMode::Open;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base: Arc<str> = format!("http://{}", listener.local_addr().unwrap()).into();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (done_tx, mut stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("the server's runtime");
            let served = runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                ats::serve(listener, config, async {
                    let _ = stop_rx.await;
                })
                .await
            });
            if let Err(e) = served {
                eprintln!("the server failed: {e}");
            }
            drop(runtime);
            let _ = done_tx.send(());
        });
        let http = client("agent", CREATOR);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let health = http.get(format!("{base}/health")).send().await;
            if health.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            assert!(
                stopped.try_recv() == Err(tokio::sync::oneshot::error::TryRecvError::Empty),
                "the server stopped"
            );
            assert!(
                Instant::now() < deadline,
                "the server did not answer /health"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            base,
            http,
            stop,
            stopped,
        }
    }

    /// Shuts the server down gracefully and waits (at most two minutes) for
    /// the requests it is still serving; returns how long that took.
    async fn stop(self) -> f64 {
        let started = Instant::now();
        let _ = self.stop.send(());
        if tokio::time::timeout(Duration::from_secs(120), self.stopped)
            .await
            .is_err()
        {
            eprintln!("the server had not stopped after 120 s; going on");
        }
        started.elapsed().as_secs_f64()
    }

    /// Loads `--tasks` tasks through `POST /tasks/bulk` with `--loaders`
    /// concurrent clients: their ids in creation order, and the time it took.
    async fn load(&self, opts: &Options, say: &impl Fn(String)) -> (Vec<i64>, Load) {
        let requests = opts.tasks.div_ceil(BULK);
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let loaders: Vec<_> = (0..opts.loaders.max(1))
            .map(|_| {
                let (next, base) = (next.clone(), self.base.clone());
                let total = opts.tasks;
                let http = client("agent", CREATOR);
                tokio::spawn(async move {
                    let mut done = Vec::new();
                    loop {
                        let request = next.fetch_add(1, Ordering::Relaxed);
                        if request >= requests {
                            return done;
                        }
                        let first = request * BULK;
                        let ids = bulk(&http, &base, first..(first + BULK).min(total)).await;
                        done.push((request, ids));
                    }
                })
            })
            .collect();
        // Progress, every 50,000 tasks or so.
        let step = (50_000 / BULK).max(1);
        let mut reported = 0;
        while loaders.iter().any(|l| !l.is_finished()) {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let sent = next.load(Ordering::Relaxed).min(requests);
            if sent >= reported + step {
                reported = sent;
                let rate = (sent * BULK) as f64 / started.elapsed().as_secs_f64();
                say(format!(
                    "loading: ~{} tasks sent ({rate:.0}/s)",
                    sent * BULK
                ));
            }
        }
        let mut chunks = Vec::new();
        for loader in loaders {
            chunks.extend(loader.await.expect("loader panicked"));
        }
        let seconds = started.elapsed().as_secs_f64();
        chunks.sort_by_key(|(request, _)| *request);
        let ids: Vec<i64> = chunks.into_iter().flat_map(|(_, ids)| ids).collect();
        let load = Load {
            tasks: ids.len(),
            seconds,
            clients: opts.loaders.max(1),
        };
        (ids, load)
    }

    /// Cancels 1 % of the tasks (those at index 50 mod 100), then claims 4 %
    /// through claim-batch and completes three in four of those claimed.
    async fn vary_statuses(&self, ids: &[i64]) -> Mix {
        let mix = Arc::new(Mutex::new(Mix::default()));
        let to_cancel: Arc<Vec<i64>> =
            Arc::new(ids.iter().skip(50).step_by(100).copied().collect());
        let next = Arc::new(AtomicUsize::new(0));
        let to_claim = ids.len() * 4 / 100;
        let claimed = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..MIX_WORKERS)
            .map(|n| {
                let worker = MixWorker {
                    creator: client("agent", CREATOR),
                    http: client("agent", &format!("worker-{n}")),
                    base: self.base.clone(),
                    mix: mix.clone(),
                };
                let (to_cancel, next, claimed) = (to_cancel.clone(), next.clone(), claimed.clone());
                tokio::spawn(async move {
                    while let Some(&id) = to_cancel.get(next.fetch_add(1, Ordering::Relaxed)) {
                        worker.cancel(id).await;
                    }
                    while claimed.load(Ordering::Relaxed) < to_claim {
                        let want = (to_claim - claimed.load(Ordering::Relaxed)).min(100);
                        let got = worker.claim_batch(want).await;
                        if got.is_empty() {
                            break;
                        }
                        claimed.fetch_add(got.len(), Ordering::Relaxed);
                        for (i, id) in got.into_iter().enumerate() {
                            if i % 4 != 3 {
                                worker.complete(id).await;
                            }
                        }
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.await.expect("status worker panicked");
        }
        let mix = mix.lock().unwrap().clone();
        if let Some(error) = &mix.first_error {
            eprintln!("first error while varying statuses: {error}");
        }
        mix
    }

    /// Posts [`MESSAGES`] messages on task `id`.
    async fn add_messages(&self, id: i64) {
        for k in 1..=MESSAGES {
            let body = json!({ "parts": [{
                "type": "text",
                "content": format!("message {k} of the read benchmark's thread: progress so far, \
                                    and what the next worker should look at"),
            }]});
            let answer = self
                .http
                .post(format!("{}/tasks/{id}/messages", self.base))
                .json(&body)
                .send()
                .await
                .expect("POST /tasks/{id}/messages");
            let status = answer.status();
            let text = answer.text().await.unwrap_or_default();
            assert_eq!(status.as_u16(), 201, "POST /tasks/{id}/messages: {text}");
        }
    }

    /// Tasks by status, from `GET /tasks/stats`, as `pending 1, …`.
    async fn by_status(&self) -> String {
        let body: StatsBody = self
            .http
            .get(format!("{}/tasks/stats", self.base))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .expect("GET /tasks/stats")
            .json()
            .await
            .expect("stats body");
        let counts: Vec<String> = (body.stats.by_status.iter())
            .filter(|(_, n)| **n > 0)
            .map(|(status, n)| format!("{status} {n}"))
            .collect();
        counts.join(", ")
    }
}

/// A client with the open-auth actor headers of `actor_type`/`actor_id`,
/// keep-alive, and a [`REQUEST_TIMEOUT`].
fn client(actor_type: &str, actor_id: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("X-Actor-Type", actor_type.parse().unwrap());
    headers.insert("X-Actor-ID", actor_id.parse().unwrap());
    reqwest::Client::builder()
        .default_headers(headers)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("HTTP client")
}

/// One `POST /tasks/bulk` of the tasks numbered `range`: their ids.
async fn bulk(http: &reqwest::Client, base: &str, range: std::ops::Range<usize>) -> Vec<i64> {
    let tasks: Vec<_> = range
        .map(|i| {
            json!({
                "title": format!("read bench task {i}"),
                "type": TYPES[i % TYPES.len()],
                "channel": format!("c{}", i % CHANNELS),
                "priority": 1 + (i * 7) % 10,
                "payload": { "n": i, "source": "read_path", "tags": ["alpha", "beta"] },
            })
        })
        .collect();
    let answer = http
        .post(format!("{base}/tasks/bulk"))
        .json(&json!({ "tasks": tasks }))
        .send()
        .await
        .expect("POST /tasks/bulk");
    let status = answer.status();
    let body = answer.bytes().await.unwrap_or_default();
    assert_eq!(
        status.as_u16(),
        201,
        "POST /tasks/bulk: {}",
        String::from_utf8_lossy(&body)
    );
    let list: TaskList = serde_json::from_slice(&body).expect("bulk answer");
    list.tasks.into_iter().map(|t| t.id).collect()
}

/// One client varying statuses: cancels as the tasks' creator, claims and
/// completes as a worker of its own.
struct MixWorker {
    creator: reqwest::Client,
    http: reqwest::Client,
    base: Arc<str>,
    mix: Arc<Mutex<Mix>>,
}

impl MixWorker {
    /// `POST {path}` with `body` as `http`: the answer's body when the status is 200.
    async fn post(&self, http: &reqwest::Client, path: &str, body: String) -> Option<Vec<u8>> {
        let answer = http
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await;
        let failed = |error: String| {
            let mut mix = self.mix.lock().unwrap();
            mix.errors += 1;
            mix.first_error
                .get_or_insert(format!("POST {path}: {error}"));
            None
        };
        match answer {
            Ok(answer) if answer.status() == 200 => match answer.bytes().await {
                Ok(body) => Some(body.to_vec()),
                Err(e) => failed(e.to_string()),
            },
            Ok(answer) => {
                let status = answer.status();
                failed(format!(
                    "{status} {}",
                    answer.text().await.unwrap_or_default()
                ))
            }
            Err(e) => failed(e.to_string()),
        }
    }

    async fn cancel(&self, id: i64) {
        if self
            .post(&self.creator, &format!("/tasks/{id}/cancel"), "{}".into())
            .await
            .is_some()
        {
            self.mix.lock().unwrap().cancelled += 1;
        }
    }

    /// Claims up to `limit` tasks for a day: their ids.
    async fn claim_batch(&self, limit: usize) -> Vec<i64> {
        let body = json!({ "limit": limit, "lease_duration": 86_400_000 }).to_string();
        let Some(answer) = self.post(&self.http, "/tasks/claim-batch", body).await else {
            return Vec::new();
        };
        let ids: Vec<i64> = match serde_json::from_slice::<TaskList>(&answer) {
            Ok(list) => list.tasks.into_iter().map(|t| t.id).collect(),
            Err(_) => Vec::new(),
        };
        self.mix.lock().unwrap().claimed += ids.len();
        ids
    }

    async fn complete(&self, id: i64) {
        let body = r#"{"outputs":{"ok":true}}"#.to_owned();
        if self
            .post(&self.http, &format!("/tasks/{id}/complete"), body)
            .await
            .is_some()
        {
            self.mix.lock().unwrap().completed += 1;
        }
    }
}

// ---------------------------------------------------------------------------
// The reads

/// One read to measure: a request, what it is, and over which interface.
struct Read {
    read: &'static str,
    interface: &'static str,
    request: Request,
}

/// An HTTP request of a read; the URL is absolute.
#[derive(Clone)]
enum Request {
    Get(String),
    /// `POST` of a GraphQL request (its JSON body).
    Graphql {
        url: String,
        body: String,
    },
}

const READ_A: &str = "a. 50 pending of one channel, oldest first";
const READ_B: &str = "b. one task, payload + 10 messages";
const READ_C: &str = "c. 50 pending + total count";

/// A GraphQL request body of `query` and `variables`.
fn graphql(base: &str, query: &str, variables: Value) -> Request {
    Request::Graphql {
        url: format!("{base}/graphql"),
        body: json!({ "query": query, "variables": variables }).to_string(),
    }
}

/// The three reads of ATS, each over GraphQL and REST.
fn ats_reads(base: &str, target: i64) -> Vec<Read> {
    let page = "query { tasks(first: 50, filter: {channels: [\"c1\"], statuses: [PENDING]}, \
                orderBy: {field: CREATED_AT, direction: ASC}) \
                { nodes { id title priority status createdAt } } }";
    let task = "query($id: ID!) { task(id: $id) { id title payload \
                messages(first: 10) { id parts createdAt actor { type id } } } }";
    let count = "query { tasks(first: 50, filter: {statuses: [PENDING]}) \
                 { totalCount nodes { id title } } }";
    let rest = |path: &str| Request::Get(format!("{base}{path}"));
    vec![
        Read {
            read: READ_A,
            interface: "GraphQL",
            request: graphql(base, page, json!({})),
        },
        Read {
            read: READ_A,
            interface: "REST",
            request: rest(
                "/tasks?channel=c1&status=pending&sort_by=created_at&sort_dir=asc&limit=50",
            ),
        },
        Read {
            read: READ_B,
            interface: "GraphQL",
            request: graphql(base, task, json!({ "id": target.to_string() })),
        },
        Read {
            read: READ_B,
            interface: "REST",
            request: rest(&format!("/tasks/{target}")),
        },
        Read {
            read: READ_C,
            interface: "GraphQL",
            request: graphql(base, count, json!({})),
        },
        Read {
            read: READ_C,
            interface: "REST",
            request: rest("/tasks?status=pending&limit=50"),
        },
    ]
}

/// A GraphQL answer, as far as telling success from failure goes.
#[derive(Deserialize)]
struct GqlReply {
    data: Option<IgnoredAny>,
    #[serde(default)]
    errors: Vec<IgnoredAny>,
}

/// Sends `request`: `Ok` for a 200 (with `data` and no `errors` for GraphQL),
/// else what was wrong.
async fn send(http: &reqwest::Client, request: &Request) -> Result<Vec<u8>, String> {
    let (answer, graphql) = match request {
        Request::Get(url) => (http.get(url).send().await, false),
        Request::Graphql { url, body } => {
            let post = http
                .post(url)
                .header("Content-Type", "application/json")
                .body(body.clone());
            (post.send().await, true)
        }
    };
    let answer = answer.map_err(|e| format!("request failed: {e}"))?;
    let status = answer.status();
    let body = answer
        .bytes()
        .await
        .map_err(|e| format!("{status}, body failed: {e}"))?;
    let snippet = || String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
    if status != 200 {
        return Err(format!("{status}: {}", snippet()));
    }
    if graphql {
        match serde_json::from_slice::<GqlReply>(&body) {
            Ok(reply) if reply.errors.is_empty() && reply.data.is_some() => {}
            Ok(_) => return Err(format!("GraphQL errors: {}", snippet())),
            Err(e) => return Err(format!("not a GraphQL answer ({e}): {}", snippet())),
        }
    }
    Ok(body.to_vec())
}

/// What one answer holds, in a few words (for the probe before each run).
fn summary(body: &[u8]) -> String {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return format!("{} bytes, not JSON", body.len());
    };
    let pointers = [
        "/data/tasks/totalCount",
        "/data/tasks/nodes",
        "/data/task/messages",
        "/data/allTasks/totalCount",
        "/data/allTasks/nodes",
        "/count",
        "/tasks",
        "/task/messages",
        "/errors/0/message",
    ];
    let mut parts = vec![format!("{} bytes", body.len())];
    for pointer in pointers {
        match value.pointer(pointer) {
            Some(Value::Array(items)) => parts.push(format!("{pointer}: {} items", items.len())),
            Some(other) => parts.push(format!("{pointer}: {other}")),
            None => {}
        }
    }
    parts.join(", ")
}

/// Probes `read` once (printing what it answers), then measures it.
async fn measure(read: Read, opts: &Options, say: &impl Fn(String)) -> Measured {
    let label = format!("{} over {}", read.read, read.interface);
    let probe = client("agent", "prober");
    let started = Instant::now();
    match send(&probe, &read.request).await {
        Ok(body) => say(format!(
            "{label}: probe in {:.1} ms: {}",
            started.elapsed().as_secs_f64() * 1000.0,
            summary(&body)
        )),
        Err(error) => say(format!("{label}: probe failed: {error}")),
    }
    let run = closed_loop(&read.request, opts.connections, opts.seconds).await;
    say(format!("{label}: {run}"));
    if let Some(error) = &run.first_error {
        say(format!("{label}: first error: {error}"));
    }
    Measured {
        read: read.read,
        interface: read.interface,
        run,
    }
}

/// Sends `request` from `connections` clients, each one request after
/// another, for `seconds`; the time runs until the last answer.
async fn closed_loop(request: &Request, connections: usize, seconds: f64) -> Run {
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let clients: Vec<_> = (0..connections)
        .map(|n| {
            let http = client("agent", &format!("reader-{n}"));
            let request = request.clone();
            tokio::spawn(async move {
                let mut tally = Tally::default();
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    let result = send(&http, &request).await;
                    tally.add(sent.elapsed(), result.err());
                }
                tally
            })
        })
        .collect();
    let mut tally = Tally::default();
    for one in clients {
        tally.merge(one.await.expect("reader panicked"));
    }
    tally.run(started.elapsed().as_secs_f64())
}

/// Latencies and errors collected by one or more clients.
#[derive(Default)]
struct Tally {
    times: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
}

impl Tally {
    fn add(&mut self, time: Duration, error: Option<String>) {
        self.times.push(time);
        if let Some(error) = error {
            self.errors += 1;
            self.first_error.get_or_insert(error);
        }
    }

    fn merge(&mut self, other: Tally) {
        self.times.extend(other.times);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn run(self, seconds: f64) -> Run {
        Run {
            ok: self.times.len() - self.errors,
            errors: self.errors,
            first_error: self.first_error,
            latency: Latency::of(self.times),
            seconds,
        }
    }
}

// ---------------------------------------------------------------------------
// PostGraphile

/// Kills PostGraphile when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Copies `tasks` into schema `pgl`, starts PostGraphile (`cli`) on it and
/// measures reads (a) and (c) against it; nothing when it does not start.
async fn postgraphile_runs(
    cli: &Path,
    url: &str,
    opts: &Options,
    say: &impl Fn(String),
) -> Vec<Measured> {
    let conn = Database::connect(url)
        .await
        .expect("connect for PostGraphile");
    let copy = [
        "DROP SCHEMA IF EXISTS pgl CASCADE",
        "CREATE SCHEMA pgl",
        "CREATE TABLE pgl.tasks (LIKE public.tasks INCLUDING ALL)",
        "INSERT INTO pgl.tasks SELECT * FROM public.tasks",
    ];
    let started = Instant::now();
    for sql in copy {
        conn.execute_unprepared(sql).await.expect(sql);
    }
    if opts.analyze {
        conn.execute_unprepared("ANALYZE pgl.tasks")
            .await
            .expect("ANALYZE pgl.tasks");
    }
    conn.close().await.ok();
    say(format!(
        "PostGraphile: tasks copied into pgl.tasks in {:.1} s",
        started.elapsed().as_secs_f64()
    ));

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let log = std::env::temp_dir().join(format!("ats_read_path_pgl_{}.log", std::process::id()));
    let log_file = std::fs::File::create(&log).expect("PostGraphile log file");
    let spawned = std::process::Command::new(cli)
        .args([
            "--connection",
            url,
            "--schema",
            "pgl",
            "--host",
            "127.0.0.1",
        ])
        .args(["--port", &port.to_string(), "--max-pool-size", "20"])
        .arg("--disable-query-log")
        .stdout(log_file.try_clone().expect("log file"))
        .stderr(log_file)
        .spawn();
    let _child = match spawned {
        Ok(child) => Child(child),
        Err(e) => {
            say(format!(
                "PostGraphile did not start ({}): {e}",
                cli.display()
            ));
            return Vec::new();
        }
    };
    let base = format!("http://127.0.0.1:{port}");
    let ping = graphql(&base, "{ __typename }", json!({}));
    let probe = client("agent", "prober");
    let deadline = Instant::now() + Duration::from_secs(60);
    while send(&probe, &ping).await.is_err() {
        if Instant::now() > deadline {
            let output = std::fs::read_to_string(&log).unwrap_or_default();
            say(format!(
                "PostGraphile did not answer within 60 s; its output:\n{output}"
            ));
            return Vec::new();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    say(format!("PostGraphile answers on {base}"));
    let page = "query { allTasks(first: 50, condition: {channel: \"c1\", status: \"pending\"}, \
                orderBy: CREATED_AT_ASC) { nodes { id title priority status createdAt } } }";
    let count = "query { allTasks(first: 50, condition: {status: \"pending\"}) \
                 { totalCount nodes { id title } } }";
    let mut runs = Vec::new();
    for (read, query) in [(READ_A, page), (READ_C, count)] {
        let read = Read {
            read,
            interface: "PostGraphile",
            request: graphql(&base, query, json!({})),
        };
        runs.push(measure(read, opts, say).await);
    }
    let _ = std::fs::remove_file(&log);
    runs
}

// ---------------------------------------------------------------------------
// The alias attack

/// An attack document: `aliases` aliases of one field.
struct AttackDoc {
    field: &'static str,
    body: String,
}

/// The four documents of the alias attack.
fn attack_docs(aliases: usize) -> Vec<AttackDoc> {
    let fields = [
        "taskEvents(first: 1000) { id }",
        "tasks { totalCount }",
        "stats { total byStatus { status count } byChannel { channel count } }",
        "organizations { id slug name }",
    ];
    fields
        .into_iter()
        .map(|field| {
            let mut query = String::from("query {");
            for i in 0..aliases {
                let _ = write!(query, " a{i}: {field}");
            }
            query.push_str(" }");
            AttackDoc {
                field,
                body: json!({ "query": query }).to_string(),
            }
        })
        .collect()
}

/// What one attacker got back.
#[derive(Clone, Default)]
struct Attacker {
    field: &'static str,
    /// Bytes of the request body.
    size: usize,
    /// Time of one answer sent alone, before the attack.
    alone_ms: f64,
    responses: usize,
    /// Total time of the completed responses.
    seconds: f64,
    /// The first answer: status, and `extensions.code` of its first error
    /// (`-` when it had none; `transport` when the request failed).
    first_status: Option<String>,
    first_code: Option<String>,
    /// A request still running when the phase ended: how long it had run.
    abandoned_after: Option<f64>,
}

impl Attacker {
    fn mean_ms(&self) -> Option<f64> {
        (self.responses > 0).then(|| self.seconds * 1000.0 / self.responses as f64)
    }
}

/// The attack phase and its baseline.
struct Attack {
    baseline: Latency,
    baseline_errors: usize,
    attacked: Latency,
    attacked_errors: usize,
    attackers: Vec<Attacker>,
}

/// Measures the victim's `GET /tasks/{target}` alone, then while the four
/// attackers run.
async fn alias_attack(base: &str, target: i64, opts: &Options, say: &impl Fn(String)) -> Attack {
    let victim_url = format!("{base}/tasks/{target}");
    let seconds = Duration::from_secs_f64(opts.seconds);
    let baseline = victim(&victim_url, seconds).await;
    say(format!(
        "victim GET /tasks/{target} alone: {}",
        baseline.latency
    ));
    if let Some(error) = &baseline.first_error {
        say(format!("victim alone: first error: {error}"));
    }

    let docs = attack_docs(opts.aliases);
    // Each document once, alone: how long its answer takes with nothing else running.
    let mut states = Vec::new();
    let probe = client("agent", "attacker");
    for doc in &docs {
        let sent = Instant::now();
        let answer = probe
            .post(format!("{base}/graphql"))
            .header("Content-Type", "application/json")
            .body(doc.body.clone())
            .send()
            .await;
        if let Ok(answer) = answer {
            let _ = answer.bytes().await;
        }
        states.push(Arc::new(Mutex::new(Attacker {
            field: doc.field,
            size: doc.body.len(),
            alone_ms: sent.elapsed().as_secs_f64() * 1000.0,
            ..Attacker::default()
        })));
    }
    let deadline = Instant::now() + seconds;
    let in_flight: Vec<_> = docs.iter().map(|_| Arc::new(Mutex::new(None))).collect();
    let attackers: Vec<_> = docs
        .into_iter()
        .zip(&states)
        .zip(&in_flight)
        .map(|((doc, state), in_flight)| {
            let url = format!("{base}/graphql");
            let (state, in_flight) = (state.clone(), in_flight.clone());
            tokio::spawn(attack(url, doc.body, deadline, state, in_flight))
        })
        .collect();
    let attacked = victim(&victim_url, seconds).await;
    say(format!(
        "victim GET /tasks/{target} under attack: {}",
        attacked.latency
    ));
    if let Some(error) = &attacked.first_error {
        say(format!("victim under attack: first error: {error}"));
    }
    // Give the attackers a moment to finish the request they are on, then
    // drop what is left.
    let grace = Instant::now() + Duration::from_secs(2);
    while attackers.iter().any(|a| !a.is_finished()) && Instant::now() < grace {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut results = Vec::new();
    for ((handle, state), in_flight) in attackers.into_iter().zip(states).zip(in_flight) {
        handle.abort();
        let _ = handle.await;
        let mut result = state.lock().unwrap().clone();
        result.abandoned_after = in_flight
            .lock()
            .unwrap()
            .map(|sent: Instant| sent.elapsed().as_secs_f64());
        say(format!(
            "attacker {} ({} bytes): alone {:.0} ms; under attack {} responses, mean {} ms, \
             first answer {} {}{}",
            result.field,
            result.size,
            result.alone_ms,
            result.responses,
            result
                .mean_ms()
                .map_or_else(|| "-".to_owned(), |ms| format!("{ms:.0}")),
            result.first_status.as_deref().unwrap_or("-"),
            result.first_code.as_deref().unwrap_or("-"),
            result
                .abandoned_after
                .map_or_else(String::new, |s| format!("; one abandoned after {s:.1} s")),
        ));
        results.push(result);
    }
    Attack {
        baseline: baseline.latency,
        baseline_errors: baseline.errors,
        attacked: attacked.latency,
        attacked_errors: attacked.errors,
        attackers: results,
    }
}

/// One attacker: posts the GraphQL `body` to `url` again and again until
/// `deadline`, keeping its figures in `state` and the start of a running
/// request in `in_flight`.
async fn attack(
    url: String,
    body: String,
    deadline: Instant,
    state: Arc<Mutex<Attacker>>,
    in_flight: Arc<Mutex<Option<Instant>>>,
) {
    let http = client("agent", "attacker");
    while Instant::now() < deadline {
        let sent = Instant::now();
        *in_flight.lock().unwrap() = Some(sent);
        let answer = http
            .post(&url)
            .header("Content-Type", "application/json")
            .body(body.clone())
            .send()
            .await;
        let (status, code, first_message) = match answer {
            Ok(answer) => {
                let status = answer.status().as_u16().to_string();
                let body = answer.bytes().await.unwrap_or_default();
                let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let code = value
                    .pointer("/errors/0/extensions/code")
                    .and_then(Value::as_str)
                    .map_or_else(
                        || {
                            if value.pointer("/errors/0").is_some() {
                                "(no code)".to_owned()
                            } else {
                                "-".to_owned()
                            }
                        },
                        str::to_owned,
                    );
                let message = value
                    .pointer("/errors/0/message")
                    .and_then(Value::as_str)
                    .map(|m| m.chars().take(200).collect::<String>());
                (status, code, message)
            }
            Err(e) => ("transport".to_owned(), "-".to_owned(), Some(e.to_string())),
        };
        *in_flight.lock().unwrap() = None;
        let mut state = state.lock().unwrap();
        state.responses += 1;
        state.seconds += sent.elapsed().as_secs_f64();
        if state.first_status.is_none() {
            if let Some(message) = first_message {
                eprintln!("attacker {}: first error: {message}", state.field);
            }
            state.first_status = Some(status);
            state.first_code = Some(code);
        }
    }
}

/// A victim's figures over one phase.
struct Victim {
    latency: Latency,
    errors: usize,
    first_error: Option<String>,
}

/// Reads `url` one request after another for `duration`.
async fn victim(url: &str, duration: Duration) -> Victim {
    let http = client("agent", "victim");
    let request = Request::Get(url.to_owned());
    let deadline = Instant::now() + duration;
    let mut tally = Tally::default();
    while Instant::now() < deadline {
        let sent = Instant::now();
        let result = send(&http, &request).await;
        tally.add(sent.elapsed(), result.err());
    }
    Victim {
        errors: tally.errors,
        first_error: tally.first_error,
        latency: Latency::of(tally.times),
    }
}

// ---------------------------------------------------------------------------
// Figures and the tables

/// How long loading took.
#[derive(Clone, Copy)]
struct Load {
    tasks: usize,
    seconds: f64,
    clients: usize,
}

impl std::fmt::Display for Load {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} tasks in {:.1} s ({:.0} tasks/s; {} clients, {BULK} per request)",
            self.tasks,
            self.seconds,
            self.tasks as f64 / self.seconds,
            self.clients
        )
    }
}

/// What varying the statuses did.
#[derive(Clone, Default)]
struct Mix {
    cancelled: usize,
    claimed: usize,
    completed: usize,
    errors: usize,
    first_error: Option<String>,
}

impl std::fmt::Display for Mix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} cancelled, {} claimed, {} of them completed, {} failed requests",
            self.cancelled, self.claimed, self.completed, self.errors
        )
    }
}

/// Percentiles of latencies.
#[derive(Clone, Copy, Default)]
struct Latency {
    samples: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

impl Latency {
    fn of(mut times: Vec<Duration>) -> Self {
        times.sort();
        let pct = |p: f64| match times.len() {
            0 => f64::NAN,
            n => times[((n - 1) as f64 * p).round() as usize].as_secs_f64() * 1000.0,
        };
        Self {
            samples: times.len(),
            p50_ms: pct(0.50),
            p99_ms: pct(0.99),
            max_ms: pct(1.0),
        }
    }
}

impl std::fmt::Display for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} requests)",
            self.p50_ms, self.p99_ms, self.max_ms, self.samples
        )
    }
}

/// One closed-loop run.
struct Run {
    ok: usize,
    errors: usize,
    first_error: Option<String>,
    latency: Latency,
    seconds: f64,
}

impl Run {
    /// Successful responses per second.
    fn rate(&self) -> f64 {
        self.ok as f64 / self.seconds
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.0} req/s, {}, {} errors",
            self.rate(),
            self.latency,
            self.errors
        )
    }
}

/// A read and how it did.
struct Measured {
    read: &'static str,
    interface: &'static str,
    run: Run,
}

/// Every figure of one backend.
struct Report {
    backend: &'static str,
    load: Load,
    mix: Mix,
    by_status: String,
    target: i64,
    runs: Vec<Measured>,
    attack: Attack,
    shutdown: f64,
}

/// The report: what was run, then a table of reads and the attack per backend.
fn render(opts: &Options, reports: &[Report]) -> String {
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let analyzed = if opts.analyze {
        "ANALYZE run after loading"
    } else {
        "no ANALYZE (on PostgreSQL, autovacuum's statistics only)"
    };
    let mut out = format!(
        "\nATS read path: {build} build, {cpus} CPUs, {} tasks, {} connections, \
         {} s per run, {analyzed}\n",
        opts.tasks, opts.connections, opts.seconds
    );
    for r in reports {
        let _ = writeln!(out, "\n### {}\n", r.backend);
        let _ = writeln!(out, "load: {}", r.load);
        let _ = writeln!(out, "statuses varied: {}", r.mix);
        let _ = writeln!(out, "tasks by status: {}\n", r.by_status);
        out.push_str("| read | interface | req/s | p50 ms | p99 ms | errors |\n");
        out.push_str("|---|---|---:|---:|---:|---:|\n");
        for m in &r.runs {
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {:.2} | {:.2} | {} |",
                m.read,
                m.interface,
                m.run.rate(),
                m.run.latency.p50_ms,
                m.run.latency.p99_ms,
                m.run.errors
            );
        }
        let a = &r.attack;
        let _ = writeln!(
            out,
            "\nalias attack ({} aliases per document; victim: sequential GET /tasks/{}, {} s per phase)\n",
            opts.aliases, r.target, opts.seconds
        );
        out.push_str("| victim | requests | p50 ms | p99 ms | max ms | errors |\n");
        out.push_str("|---|---:|---:|---:|---:|---:|\n");
        for (phase, latency, errors) in [
            ("alone", a.baseline, a.baseline_errors),
            ("under attack", a.attacked, a.attacked_errors),
        ] {
            let _ = writeln!(
                out,
                "| {phase} | {} | {:.2} | {:.2} | {:.2} | {errors} |",
                latency.samples, latency.p50_ms, latency.p99_ms, latency.max_ms
            );
        }
        out.push_str(
            "\n| attack document | bytes | alone ms | responses | mean ms | first status \
             | first error code | abandoned |\n",
        );
        out.push_str("|---|---:|---:|---:|---:|---|---|---|\n");
        for t in &a.attackers {
            let _ = writeln!(
                out,
                "| {} × `{}` | {} | {:.0} | {} | {} | {} | {} | {} |",
                opts.aliases,
                t.field,
                t.size,
                t.alone_ms,
                t.responses,
                t.mean_ms()
                    .map_or_else(|| "-".to_owned(), |ms| format!("{ms:.0}")),
                t.first_status.as_deref().unwrap_or("-"),
                t.first_code.as_deref().unwrap_or("-"),
                t.abandoned_after
                    .map_or_else(|| "-".to_owned(), |s| format!("after {s:.1} s")),
            );
        }
        let _ = writeln!(
            out,
            "\nserver shutdown after the attack: {:.1} s",
            r.shutdown
        );
    }
    out
}
