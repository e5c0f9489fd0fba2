//! Benchmark of the write path (issue 13): what the service costs over HTTP
//! next to the raw SQL under it, on SQLite and PostgreSQL, in one run.
//! Prints numbers and asserts nothing.
//!
//! ```sh
//! ATS_BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!     cargo run --release --example write_path [-- --help]
//! ```
//!
//! For each backend it starts the server in-process (open auth) on a fresh
//! database (a temp file for SQLite; for PostgreSQL a database created on the
//! server `ATS_BENCH_PG_URL` names and dropped at the end; without that
//! variable PostgreSQL is skipped) and measures, in this order:
//!
//! 1. the latency of one `POST /tasks/claim-next` (sequential, one client;
//!    each claimed task is then completed, untimed) with `--shallow` tasks queued;
//! 2. bulk create: `POST /tasks/bulk`, `--bulk-size` tasks per request, one
//!    client, filling the queue up to `--depth`;
//! 3. claim-next + complete cycles over HTTP at each `--workers` count, each
//!    worker with its own client and actor (`agent:worker-N`), with the queue
//!    topped back up to `--depth` before each run; then, when the server has
//!    `POST /tasks/claim-batch`, the same at the largest worker count with
//!    batches of `--batch-limit` tasks (each completed by its own request);
//! 4. the raw-SQL ceiling: the same cycle as two transactions of plain SQL on
//!    the same database, no HTTP and no service (see [`Ceiling`]), on tables of
//!    its own holding `--ceiling-rows` pending rows, at the same worker counts;
//!    and the same cycle as raw SQL on the service's own `tasks` and `events`
//!    (every index and trigger they have), on the server's queue topped up to
//!    `--depth`, at the largest worker count: how much of the gap between
//!    HTTP and the ceiling is the schema's;
//! 5. loading the queue up to `--deep` tasks through the bulk API (timed), then
//!    the claim-next latency again at that depth.
//!
//! Each throughput run lasts `--seconds`, or until a quarter of the queue has
//! been consumed if that comes first, so the depth stays near its nominal value.
//! Latency sampling stops after `--samples` claims or `--sample-seconds`.
//! The program never runs `ANALYZE` on the server's tables: the server is
//! measured as it finds them after a bulk load (on PostgreSQL, statistics
//! arrive when autovacuum gets to them), as a fresh deployment would be.
//! Progress goes to stderr; the table goes to stdout at the end.

use std::fmt::Write as _;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, QueryResult, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
    Value,
};
use serde::Deserialize;
use serde_json::json;

/// Command-line options; the defaults are the figures of issue 13.
#[derive(Parser, Debug, Clone)]
#[command(about = "ATS write-path benchmark: HTTP vs the raw-SQL ceiling, SQLite and PostgreSQL")]
struct Options {
    /// Tasks queued while the HTTP claim-next + complete workers run.
    #[arg(long, default_value_t = 30_000)]
    depth: usize,
    /// Pending rows in the raw-SQL ceiling's table.
    #[arg(long, default_value_t = 300_000)]
    ceiling_rows: usize,
    /// Worker counts to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
    workers: Vec<usize>,
    /// Length of each throughput run, in seconds.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Queue depth of the first claim-next latency measurement.
    #[arg(long, default_value_t = 1_000)]
    shallow: usize,
    /// Queue depth of the second one, loaded through the bulk API.
    #[arg(long, default_value_t = 300_000)]
    deep: usize,
    /// Claims timed per latency measurement (at most).
    #[arg(long, default_value_t = 200)]
    samples: usize,
    /// Time allowed per latency measurement, in seconds (at least 5 claims are timed).
    #[arg(long, default_value_t = 30.0)]
    sample_seconds: f64,
    /// Tasks per `POST /tasks/claim-batch` in the batch run (at the largest
    /// worker count; 0 skips it, as does a server without claim-batch).
    #[arg(long, default_value_t = 10)]
    batch_limit: usize,
    /// Tasks per `POST /tasks/bulk` request.
    #[arg(long, default_value_t = 1_000)]
    bulk_size: usize,
    /// Skip SQLite (measure PostgreSQL only).
    #[arg(long)]
    no_sqlite: bool,
}

#[tokio::main]
async fn main() {
    // reqwest is built without a default TLS provider (see Cargo.toml).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let opts = Options::parse();
    let started = Instant::now();
    let mut columns = Vec::new();
    if !opts.no_sqlite {
        columns.push(bench_sqlite(&opts).await);
    }
    match std::env::var("ATS_BENCH_PG_URL") {
        Ok(admin) => columns.push(bench_postgres(&opts, &admin).await),
        Err(_) => eprintln!(
            "postgres skipped: set ATS_BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/postgres"
        ),
    }
    print!("{}", render(&opts, &columns));
    println!("total run time: {:.0} s", started.elapsed().as_secs_f64());
}

/// Runs every measurement on a fresh SQLite file, then deletes it.
async fn bench_sqlite(opts: &Options) -> Column {
    let file = std::env::temp_dir().join(format!("ats_write_path_{}.db", std::process::id()));
    let column = bench_backend("sqlite", &format!("sqlite://{}", file.display()), opts).await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
    column
}

/// Runs every measurement on a database created for this run on the
/// PostgreSQL server of `admin` (an admin URL), then drops it.
async fn bench_postgres(opts: &Options, admin: &str) -> Column {
    let name = format!("ats_write_path_{}", std::process::id());
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
    let column = bench_backend("postgres", &format!("{base}/{name}{options}"), opts).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .expect("drop the benchmark database");
    column
}

/// Every figure of one backend, in the order of the module documentation.
async fn bench_backend(backend: &'static str, url: &str, opts: &Options) -> Column {
    let say = |line: String| eprintln!("[{backend}] {line}");
    let server = Server::start(url).await;
    let mut column = Column::new(backend);

    let queued = opts.shallow + opts.samples;
    server.top_up(queued, opts.bulk_size).await;
    column.shallow = server.claim_latency(opts).await;
    say(format!(
        "claim-next at depth {}: {}",
        opts.shallow, column.shallow
    ));

    let load = server.top_up(opts.depth, opts.bulk_size).await;
    say(format!("bulk create: {load}"));
    column.bulk = Some(load);

    column.http = http_runs(&server, opts, &say).await;
    column.batch = batch_run(&server, opts, &say).await;
    column.service_tables = service_tables_run(&server, url, opts, &say).await;
    column.ceiling = ceiling_runs(url, opts, &say).await;

    let load = server
        .top_up(opts.deep + opts.samples, opts.bulk_size)
        .await;
    say(format!("load to depth {}: {load}", opts.deep));
    column.deep_load = Some(load);
    column.deep = server.claim_latency(opts).await;
    say(format!(
        "claim-next at depth {}: {}",
        opts.deep, column.deep
    ));

    server.stop();
    column
}

/// Claim-next + complete over HTTP at each worker count, on a queue topped
/// up to `--depth` before each run.
async fn http_runs(server: &Server, opts: &Options, say: &impl Fn(String)) -> Vec<Throughput> {
    let mut runs = Vec::new();
    for &workers in &opts.workers {
        server.top_up(opts.depth, opts.bulk_size).await;
        let run = server.cycles(workers, run_limits(opts, opts.depth)).await;
        say(format!("HTTP, {}: {run}", workers_label(workers)));
        runs.push(run);
    }
    runs
}

/// Claim-batch + complete over HTTP at the largest worker count, when the
/// server has `POST /tasks/claim-batch` and `--batch-limit` is not 0.
async fn batch_run(server: &Server, opts: &Options, say: &impl Fn(String)) -> Option<Throughput> {
    if opts.batch_limit == 0 || !server.has_route("/tasks/claim-batch").await {
        return None;
    }
    let workers = max_workers(opts);
    server.top_up(opts.depth, opts.bulk_size).await;
    let limits = run_limits(opts, opts.depth);
    let run = server.batch_cycles(workers, opts.batch_limit, limits).await;
    let label = workers_label(workers);
    say(format!(
        "HTTP claim-batch of {}, {label}: {run}",
        opts.batch_limit
    ));
    Some(run)
}

/// The raw-SQL ceiling at each worker count, on `--ceiling-rows` pending rows.
async fn ceiling_runs(url: &str, opts: &Options, say: &impl Fn(String)) -> Vec<Throughput> {
    let ceiling = Ceiling::open(url, max_workers(opts), Tables::Bench).await;
    ceiling.create().await;
    let mut runs = Vec::new();
    for &workers in &opts.workers {
        ceiling.top_up(opts.ceiling_rows).await;
        let limits = run_limits(opts, opts.ceiling_rows);
        let run = ceiling.cycles(workers, limits).await;
        say(format!("raw SQL, {}: {run}", workers_label(workers)));
        runs.push(run);
    }
    runs
}

/// The raw-SQL cycle on the service's own tables at the largest worker
/// count, on the server's queue topped up to `--depth`.
async fn service_tables_run(
    server: &Server,
    url: &str,
    opts: &Options,
    say: &impl Fn(String),
) -> Option<Throughput> {
    let workers = max_workers(opts);
    server.top_up(opts.depth, opts.bulk_size).await;
    // The project the benchmark's tasks go to (`default/main`).
    let probe = Ceiling::open(url, 1, Tables::Bench).await;
    let row = probe
        .db
        .query_one_raw(probe.statement(
            "SELECT p.id AS id FROM projects p JOIN orgs o ON o.id = p.org_id \
             WHERE o.slug = 'default' AND p.slug = 'main'",
            vec![],
        ))
        .await
        .expect("read the default project")
        .expect("the default project");
    let project: i32 = row.try_get("", "id").expect("its id");
    let ceiling = Ceiling::open(url, workers, Tables::Service(project)).await;
    let run = ceiling.cycles(workers, run_limits(opts, opts.depth)).await;
    say(format!(
        "raw SQL on the service's tables, {}: {run}",
        workers_label(workers)
    ));
    Some(run)
}

/// The largest `--workers` count.
fn max_workers(opts: &Options) -> usize {
    opts.workers.iter().copied().max().unwrap_or(1)
}

/// A throughput run on a queue of `depth` stops after `--seconds`, or once a
/// quarter of the queue is consumed.
fn run_limits(opts: &Options, depth: usize) -> Limits {
    Limits::new(opts.seconds, depth / 4)
}

// ---------------------------------------------------------------------------
// Driving workers

/// What one worker cycle came to.
enum Outcome {
    /// This many tasks were claimed and completed.
    Done(usize),
    /// Nothing left to claim: this worker stops.
    Empty,
    /// An answer or statement failed (what went wrong); counted, and the
    /// worker goes on.
    Failed(String),
}

/// One worker: runs claim + complete cycles, one at a time.
trait Worker: Send + 'static {
    /// Claims one task and completes it.
    fn cycle(&mut self) -> impl Future<Output = Outcome> + Send;
}

/// When a throughput run stops: at the deadline or after `max_tasks`.
#[derive(Clone, Copy)]
struct Limits {
    duration: Duration,
    max_tasks: usize,
}

impl Limits {
    fn new(seconds: f64, max_tasks: usize) -> Self {
        Self {
            duration: Duration::from_secs_f64(seconds),
            max_tasks: max_tasks.max(1),
        }
    }
}

/// The result of one throughput run.
struct Throughput {
    /// Tasks claimed and completed.
    tasks: usize,
    /// Cycles that failed.
    errors: usize,
    /// What went wrong first, if anything did.
    first_error: Option<String>,
    seconds: f64,
}

impl Throughput {
    /// Tasks claimed and completed per second (cycles/s for single claims).
    fn rate(&self) -> f64 {
        self.tasks as f64 / self.seconds
    }
}

impl std::fmt::Display for Throughput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.0} tasks/s ({} tasks in {:.1} s, {} failed cycles)",
            self.rate(),
            self.tasks,
            self.seconds,
            self.errors
        )?;
        match &self.first_error {
            Some(error) => write!(f, "; first error: {error}"),
            None => Ok(()),
        }
    }
}

/// Runs `workers` concurrently until `limits` say stop; the time runs until
/// the last in-flight cycle has finished.
async fn drive<W: Worker>(workers: Vec<W>, limits: Limits) -> Throughput {
    let done = Arc::new(AtomicUsize::new(0));
    // How many cycles failed, and the first failure's description.
    let errors = Arc::new(std::sync::Mutex::new((0, None)));
    let started = Instant::now();
    let deadline = started + limits.duration;
    let handles: Vec<_> = workers
        .into_iter()
        .map(|mut worker| {
            let (done, errors) = (done.clone(), errors.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline && done.load(Ordering::Relaxed) < limits.max_tasks {
                    match worker.cycle().await {
                        Outcome::Done(tasks) => {
                            done.fetch_add(tasks, Ordering::Relaxed);
                        }
                        Outcome::Failed(error) => {
                            let mut errors = errors.lock().unwrap();
                            errors.0 += 1;
                            errors.1.get_or_insert(error);
                        }
                        Outcome::Empty => break,
                    }
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.expect("worker panicked");
    }
    let seconds = started.elapsed().as_secs_f64();
    let (errors, first_error) = std::mem::take(&mut *errors.lock().unwrap());
    Throughput {
        tasks: done.load(Ordering::Relaxed),
        errors,
        first_error,
        seconds,
    }
}

// ---------------------------------------------------------------------------
// The server over HTTP

/// The ATS server running in this process, and a client for setup calls.
struct Server {
    base: Arc<str>,
    http: reqwest::Client,
    stop: tokio::sync::oneshot::Sender<()>,
    /// Tasks created so far (numbers their titles).
    created: AtomicUsize,
}

/// `{"task": {"id": …}}`, all a worker reads of an answer.
#[derive(Deserialize)]
struct TaskBody {
    task: TaskId,
}

#[derive(Deserialize)]
struct TaskId {
    id: i64,
}

/// `{"tasks": [{"id": …}, …]}`: what a batch worker reads of a claim-batch answer.
#[derive(Deserialize)]
struct TaskList {
    tasks: Vec<TaskId>,
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

impl Server {
    /// Starts `ats::serve` on a free port of 127.0.0.1 (open auth; migrations
    /// run at start) and waits until `/health` answers; panics if the server
    /// stops or does not answer within a minute.
    async fn start(url: &str) -> Self {
        let mut config = ats::config::Config::for_database(url);
        config.auth = ats::auth::AuthMode::Open;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base: Arc<str> = format!("http://{}", listener.local_addr().unwrap()).into();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(ats::serve(listener, config, async {
            let _ = stopped.await;
        }));
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let health = http.get(format!("{base}/health")).send().await;
            if health.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            if serving.is_finished() {
                panic!("the server stopped: {:?}", serving.await);
            }
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
            created: AtomicUsize::new(0),
        }
    }

    /// Shuts the server down gracefully.
    fn stop(self) {
        let _ = self.stop.send(());
    }

    /// Pending tasks, from `GET /tasks/stats`.
    async fn pending(&self) -> usize {
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
        body.stats.by_status.get("pending").copied().unwrap_or(0) as usize
    }

    /// Creates tasks through `POST /tasks/bulk` until `depth` are pending;
    /// returns what the loading took.
    async fn top_up(&self, depth: usize, bulk_size: usize) -> Load {
        let missing = depth.saturating_sub(self.pending().await);
        let started = Instant::now();
        let mut left = missing;
        while left > 0 {
            let n = left.min(bulk_size);
            self.bulk(n).await;
            left -= n;
        }
        Load {
            tasks: missing,
            seconds: started.elapsed().as_secs_f64(),
        }
    }

    /// One `POST /tasks/bulk` of `n` tasks (priorities 1–10, small payloads).
    async fn bulk(&self, n: usize) {
        let first = self.created.fetch_add(n, Ordering::Relaxed);
        let tasks: Vec<_> = (first..first + n)
            .map(|i| {
                json!({
                    "title": format!("bench task {i}"),
                    "type": "bench",
                    "channel": "bench",
                    "priority": 1 + i % 10,
                    "payload": { "n": i },
                })
            })
            .collect();
        let answer = self
            .http
            .post(format!("{}/tasks/bulk", self.base))
            .header("X-Actor-Type", "agent")
            .header("X-Actor-ID", "loader")
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
    }

    /// Claim-next + complete cycles over HTTP by `workers` workers.
    async fn cycles(&self, workers: usize, limits: Limits) -> Throughput {
        let workers = (0..workers)
            .map(|n| HttpWorker::new(self.base.clone(), n))
            .collect();
        drive(workers, limits).await
    }

    /// Claim-batch (`limit` tasks) + complete-each cycles by `workers` workers.
    async fn batch_cycles(&self, workers: usize, limit: usize, limits: Limits) -> Throughput {
        let workers = (0..workers)
            .map(|n| BatchWorker {
                http: HttpWorker::new(self.base.clone(), n),
                limit,
            })
            .collect();
        drive(workers, limits).await
    }

    /// Whether the server's OpenAPI document has a route `path`.
    async fn has_route(&self, path: &str) -> bool {
        let document: serde_json::Value = self
            .http
            .get(format!("{}/openapi.json", self.base))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .expect("GET /openapi.json")
            .json()
            .await
            .expect("OpenAPI document");
        document["paths"].get(path).is_some()
    }

    /// Times single claim-next requests, one at a time (each claimed task is
    /// completed afterwards, untimed).
    async fn claim_latency(&self, opts: &Options) -> Latency {
        let worker = HttpWorker::new(self.base.clone(), 0);
        let budget = Duration::from_secs_f64(opts.sample_seconds);
        let started = Instant::now();
        let mut times = Vec::with_capacity(opts.samples);
        while times.len() < opts.samples && (times.len() < 5 || started.elapsed() < budget) {
            let t = Instant::now();
            let Some(id) = worker.claim_next().await.expect("claim-next") else {
                break;
            };
            times.push(t.elapsed());
            worker.complete(id).await.expect("complete");
        }
        Latency::of(times)
    }
}

/// One HTTP worker: its own client and actor.
struct HttpWorker {
    http: reqwest::Client,
    base: Arc<str>,
    actor: String,
}

impl HttpWorker {
    fn new(base: Arc<str>, n: usize) -> Self {
        Self {
            http: reqwest::Client::new(),
            base,
            actor: format!("worker-{n}"),
        }
    }

    /// `POST {path}` with a JSON `body`, as this worker: the answer when its
    /// status is one of `expected`, else what went wrong.
    async fn post(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
        expected: &[u16],
    ) -> Result<reqwest::Response, String> {
        let answer = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/json")
            .header("X-Actor-Type", "agent")
            .header("X-Actor-ID", &self.actor)
            .body(body)
            .send()
            .await
            .map_err(|e| format!("POST {path}: {e}"))?;
        let status = answer.status();
        if expected.contains(&status.as_u16()) {
            return Ok(answer);
        }
        let body = answer.text().await.unwrap_or_default();
        Err(format!("POST {path}: {status} {body}"))
    }

    /// Claims the next task: its id, or `None` when nothing is claimable (404).
    async fn claim_next(&self) -> Result<Option<i64>, String> {
        let answer = self.post("/tasks/claim-next", "{}", &[200, 404]).await?;
        if answer.status() == 404 {
            answer.bytes().await.ok();
            return Ok(None);
        }
        let body: TaskBody = answer
            .json()
            .await
            .map_err(|e| format!("claim-next answer: {e}"))?;
        Ok(Some(body.task.id))
    }

    /// Completes task `id`. The answer is read to its end, so that the
    /// connection goes back to the client's pool.
    async fn complete(&self, id: i64) -> Result<(), String> {
        let path = format!("/tasks/{id}/complete");
        let answer = self.post(&path, "{}", &[200]).await?;
        answer.bytes().await.map_err(|e| format!("{path}: {e}"))?;
        Ok(())
    }

    /// Claims up to `limit` tasks in one `POST /tasks/claim-batch`: their ids
    /// (none when nothing is claimable).
    async fn claim_batch(&self, limit: usize) -> Result<Vec<i64>, String> {
        let body = format!(r#"{{"limit":{limit}}}"#);
        let answer = self.post("/tasks/claim-batch", body, &[200]).await?;
        let body: TaskList = answer
            .json()
            .await
            .map_err(|e| format!("claim-batch answer: {e}"))?;
        Ok(body.tasks.into_iter().map(|t| t.id).collect())
    }
}

impl Worker for HttpWorker {
    async fn cycle(&mut self) -> Outcome {
        match self.claim_next().await {
            Ok(Some(id)) => match self.complete(id).await {
                Ok(()) => Outcome::Done(1),
                Err(error) => Outcome::Failed(error),
            },
            Ok(None) => Outcome::Empty,
            Err(error) => Outcome::Failed(error),
        }
    }
}

/// A worker that claims up to `limit` tasks per `POST /tasks/claim-batch`,
/// then completes each with its own `POST /tasks/{id}/complete`.
struct BatchWorker {
    http: HttpWorker,
    limit: usize,
}

impl Worker for BatchWorker {
    async fn cycle(&mut self) -> Outcome {
        let ids = match self.http.claim_batch(self.limit).await {
            Ok(ids) if ids.is_empty() => return Outcome::Empty,
            Ok(ids) => ids,
            Err(error) => return Outcome::Failed(error),
        };
        for &id in &ids {
            if let Err(error) = self.http.complete(id).await {
                return Outcome::Failed(error);
            }
        }
        Outcome::Done(ids.len())
    }
}

// ---------------------------------------------------------------------------
// The raw-SQL ceiling

/// The cycle the service performs, written as plain SQL on tables of its own
/// (`bench_tasks` with a partial index on pending rows, `bench_events`) in the
/// server's database, through a pool of its own: no HTTP, no service.
///
/// A cycle is two transactions: (1) the claim — one `UPDATE … WHERE id =
/// (SELECT id … WHERE status = 'pending' ORDER BY priority DESC, created_at,
/// id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING …` — and its `task.claimed`
/// event `INSERT`; (2) the complete `UPDATE … RETURNING …` and its
/// `task.completed` event `INSERT`. The event data carries the task as the
/// statements returned it. On SQLite there is no `SKIP LOCKED`: the pool
/// is one connection (SQLite has one writer, and one connection keeps its
/// page cache; it measured about twice as fast as several connections behind
/// a lock), each transaction is `BEGIN IMMEDIATE`, in WAL mode with
/// `synchronous=NORMAL`. Statements are prepared once per connection (sqlx's
/// statement cache, under SeaORM's raw statements).
struct Ceiling {
    db: DatabaseConnection,
    backend: DbBackend,
    tables: Tables,
}

/// Which tables the ceiling's cycle runs on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tables {
    /// Its own `bench_tasks` and `bench_events`: a key and the queue's
    /// partial index, no trigger.
    Bench,
    /// The service's `tasks` and `events`, with every index and trigger the
    /// service has: what the schema itself costs, apart from HTTP and the
    /// service. Claims take the ready tasks of this project (by id), as the
    /// service's claims name the caller's projects.
    Service(i32),
}

/// Columns the claim and complete statements return.
const RETURNING: &str =
    "RETURNING id, project_id, title, task_type, channel, priority, status, attempts, version";

const EVENT_INSERT: &str = "INSERT INTO bench_events \
     (event_type, task_id, project_id, channel, task_type, actor_type, actor_id, data, created_at) \
     VALUES ($1, $2, $3, $4, $5, 'agent', $6, $7, $8)";

/// [`EVENT_INSERT`] into the service's `events`, located in the default org.
const SERVICE_EVENT_INSERT: &str = "INSERT INTO events (event_type, task_id, org_id, \
     project_id, org, project, channel, task_type, actor_type, actor_id, data, created_at) \
     SELECT $1, $2, p.org_id, $3, o.slug, p.slug, $4, $5, 'agent', $6, $7, $8 \
     FROM projects p JOIN orgs o ON o.id = p.org_id WHERE p.id = $3";

/// The complete statement on `table`.
fn complete_sql(table: &str) -> String {
    format!(
        "UPDATE {table} SET status = 'completed', outputs = $1, \
         lease_expires = NULL, version = version + 1, completed_at = $2, updated_at = $2 \
         WHERE id = $3 AND status = 'in_progress' AND assignee_id = $4 {RETURNING}"
    )
}

const PG_SCHEMA: &[&str] = &[
    "DROP TABLE IF EXISTS bench_events",
    "DROP TABLE IF EXISTS bench_tasks",
    "CREATE TABLE bench_tasks (id BIGSERIAL PRIMARY KEY, project_id INTEGER NOT NULL, \
     title TEXT NOT NULL, task_type TEXT NOT NULL, channel TEXT NOT NULL, \
     priority INTEGER NOT NULL, status TEXT NOT NULL, payload JSONB NOT NULL, \
     outputs JSONB NOT NULL, source_type TEXT NOT NULL, source_id TEXT NOT NULL, \
     assignee_type TEXT, assignee_id TEXT, lease_expires TIMESTAMPTZ, \
     attempts INTEGER NOT NULL DEFAULT 0, version BIGINT NOT NULL DEFAULT 0, \
     created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL, \
     claimed_at TIMESTAMPTZ, completed_at TIMESTAMPTZ)",
    "CREATE TABLE bench_events (id BIGSERIAL PRIMARY KEY, event_type TEXT NOT NULL, \
     task_id BIGINT NOT NULL, project_id INTEGER NOT NULL, channel TEXT NOT NULL, \
     task_type TEXT NOT NULL, actor_type TEXT NOT NULL, actor_id TEXT NOT NULL, \
     data JSONB NOT NULL, created_at TIMESTAMPTZ NOT NULL)",
];

const SQLITE_SCHEMA: &[&str] = &[
    "DROP TABLE IF EXISTS bench_events",
    "DROP TABLE IF EXISTS bench_tasks",
    "CREATE TABLE bench_tasks (id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL, \
     title TEXT NOT NULL, task_type TEXT NOT NULL, channel TEXT NOT NULL, \
     priority INTEGER NOT NULL, status TEXT NOT NULL, payload TEXT NOT NULL, \
     outputs TEXT NOT NULL, source_type TEXT NOT NULL, source_id TEXT NOT NULL, \
     assignee_type TEXT, assignee_id TEXT, lease_expires TEXT, \
     attempts INTEGER NOT NULL DEFAULT 0, version INTEGER NOT NULL DEFAULT 0, \
     created_at TEXT NOT NULL, updated_at TEXT NOT NULL, \
     claimed_at TEXT, completed_at TEXT)",
    "CREATE TABLE bench_events (id INTEGER PRIMARY KEY, event_type TEXT NOT NULL, \
     task_id INTEGER NOT NULL, project_id INTEGER NOT NULL, channel TEXT NOT NULL, \
     task_type TEXT NOT NULL, actor_type TEXT NOT NULL, actor_id TEXT NOT NULL, \
     data TEXT NOT NULL, created_at TEXT NOT NULL)",
];

/// Indexes of both backends: the queue's partial index, the events' task index.
const INDEXES: &[&str] = &[
    "CREATE INDEX bench_tasks_pending ON bench_tasks (priority DESC, created_at, id) \
     WHERE status = 'pending'",
    "CREATE INDEX bench_events_task ON bench_events (task_id, id)",
];

/// Inserts `$1` pending rows (priorities 1–10, one microsecond apart).
const PG_FILL: &str = "INSERT INTO bench_tasks (project_id, title, task_type, channel, \
     priority, status, payload, outputs, source_type, source_id, created_at, updated_at) \
     SELECT 1, 'bench task ' || n, 'bench', 'bench', 1 + n % 10, 'pending', \
     jsonb_build_object('n', n), '{}', 'agent', 'loader', \
     now() + n * interval '1 microsecond', now() \
     FROM generate_series(1, $1::bigint) AS n";

/// SQLite's [`PG_FILL`]: rows one millisecond apart.
const SQLITE_FILL: &str = "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s \
     WHERE n < $1) \
     INSERT INTO bench_tasks (project_id, title, task_type, channel, \
     priority, status, payload, outputs, source_type, source_id, created_at, updated_at) \
     SELECT 1, 'bench task ' || n, 'bench', 'bench', 1 + n % 10, 'pending', \
     json_object('n', n), '{}', 'agent', 'loader', \
     strftime('%Y-%m-%dT%H:%M:%f', 'now', '+' || (n / 1000.0) || ' seconds'), \
     strftime('%Y-%m-%dT%H:%M:%f', 'now') FROM s";

/// A row as the claim or complete statement returned it.
struct BenchTask {
    id: i64,
    project_id: i32,
    title: String,
    task_type: String,
    channel: String,
    priority: i32,
    status: String,
    attempts: i32,
    version: i64,
}

impl BenchTask {
    fn from_row(row: &QueryResult) -> Self {
        let get = |col: &str| -> String { row.try_get("", col).expect(col) };
        Self {
            id: row.try_get("", "id").expect("id"),
            project_id: row.try_get("", "project_id").expect("project_id"),
            title: get("title"),
            task_type: get("task_type"),
            channel: get("channel"),
            priority: row.try_get("", "priority").expect("priority"),
            status: get("status"),
            attempts: row.try_get("", "attempts").expect("attempts"),
            version: row.try_get("", "version").expect("version"),
        }
    }

    /// The event's data: the task as returned.
    fn event_data(&self) -> serde_json::Value {
        json!({ "task": {
            "id": self.id, "title": self.title, "type": self.task_type,
            "channel": self.channel, "priority": self.priority, "status": self.status,
            "attempts": self.attempts, "version": self.version,
        }})
    }
}

impl Ceiling {
    /// Opens a pool on the server's database: one connection per worker on
    /// PostgreSQL, a single one on SQLite.
    async fn open(url: &str, workers: usize, tables: Tables) -> Arc<Self> {
        let is_sqlite = url.starts_with("sqlite:");
        let connections = if is_sqlite { 1 } else { workers as u32 };
        let mut opts = ConnectOptions::new(url.to_owned());
        // Pinged only when idle, as the server's pool is: a ping per checkout
        // would be a round trip per transaction that no queue needs.
        opts.sqlx_logging(false)
            .max_connections(connections)
            .min_connections(1)
            .test_before_acquire_if_idle_for(ats::db::PING_IF_IDLE_FOR);
        if is_sqlite {
            opts.map_sqlx_sqlite_opts(|o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
            });
        }
        let db = Database::connect(opts).await.expect("ceiling pool");
        Arc::new(Self {
            backend: db.get_database_backend(),
            db,
            tables,
        })
    }

    /// A statement of this backend.
    fn statement(&self, sql: &str, values: Vec<Value>) -> Statement {
        Statement::from_sql_and_values(self.backend, sql, values)
    }

    /// (Re)creates the two tables and their indexes, empty.
    async fn create(&self) {
        let schema = match self.backend {
            DbBackend::Sqlite => SQLITE_SCHEMA,
            _ => PG_SCHEMA,
        };
        for sql in schema.iter().chain(INDEXES) {
            self.db.execute_unprepared(sql).await.expect(sql);
        }
    }

    /// Inserts pending rows until `rows` are pending, then refreshes the
    /// planner's statistics.
    async fn top_up(&self, rows: usize) {
        let count = self
            .db
            .query_one_raw(self.statement(
                "SELECT count(*) AS n FROM bench_tasks WHERE status = 'pending'",
                vec![],
            ))
            .await
            .expect("count pending")
            .expect("a row");
        let pending: i64 = count.try_get("", "n").expect("n");
        let missing = rows as i64 - pending;
        if missing > 0 {
            let fill = match self.backend {
                DbBackend::Sqlite => SQLITE_FILL,
                _ => PG_FILL,
            };
            self.db
                .execute_raw(self.statement(fill, vec![missing.into()]))
                .await
                .expect("fill bench_tasks");
        }
        self.db
            .execute_unprepared("ANALYZE bench_tasks")
            .await
            .expect("analyze");
    }

    /// The claim statement of this backend and these tables.
    fn claim_sql(&self) -> String {
        let lock = match self.backend {
            DbBackend::Sqlite => "",
            _ => " FOR UPDATE SKIP LOCKED",
        };
        let (table, ready) = match self.tables {
            Tables::Bench => ("bench_tasks", "status = 'pending'".to_owned()),
            Tables::Service(project) => (
                "tasks",
                format!("project_id = {project} AND {}", migration::READY_TASKS),
            ),
        };
        format!(
            "UPDATE {table} SET status = 'in_progress', assignee_type = 'agent', \
             assignee_id = $1, lease_expires = $2, attempts = attempts + 1, \
             version = version + 1, claimed_at = $3, updated_at = $3 \
             WHERE id = (SELECT id FROM {table} WHERE {ready} \
             ORDER BY priority DESC, created_at, id LIMIT 1{lock}) {RETURNING}"
        )
    }

    /// Begins a write transaction (`BEGIN IMMEDIATE` on SQLite).
    async fn begin(&self) -> Result<DatabaseTransaction, DbErr> {
        self.db
            .begin_with_options(TransactionOptions {
                isolation_level: None,
                access_mode: None,
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            })
            .await
    }

    /// Inserts the event of `task`'s transition, inside `txn`.
    async fn record(
        &self,
        txn: &DatabaseTransaction,
        event_type: &str,
        task: &BenchTask,
        actor: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), DbErr> {
        let values = vec![
            event_type.into(),
            task.id.into(),
            task.project_id.into(),
            task.channel.clone().into(),
            task.task_type.clone().into(),
            actor.into(),
            task.event_data().into(),
            now.into(),
        ];
        let insert = match self.tables {
            Tables::Bench => EVENT_INSERT,
            Tables::Service(_) => SERVICE_EVENT_INSERT,
        };
        txn.execute_raw(self.statement(insert, values)).await?;
        Ok(())
    }

    /// Transaction 1: claims the most urgent pending row for `actor` and
    /// records `task.claimed`; `None` when no row is pending.
    async fn claim(&self, claim_sql: &str, actor: &str) -> Result<Option<BenchTask>, DbErr> {
        let now = chrono::Utc::now();
        let lease = now + chrono::Duration::seconds(60);
        let txn = self.begin().await?;
        let values = vec![actor.into(), lease.into(), now.into()];
        let row = txn.query_one_raw(self.statement(claim_sql, values)).await?;
        let Some(task) = row.as_ref().map(BenchTask::from_row) else {
            txn.commit().await?;
            return Ok(None);
        };
        self.record(&txn, "task.claimed", &task, actor, now).await?;
        txn.commit().await?;
        Ok(Some(task))
    }

    /// Transaction 2: completes `id` (held by `actor`) and records `task.completed`.
    async fn complete(&self, complete_sql: &str, id: i64, actor: &str) -> Result<(), DbErr> {
        let now = chrono::Utc::now();
        let txn = self.begin().await?;
        let values = vec![
            json!({ "ok": true }).into(),
            now.into(),
            id.into(),
            actor.into(),
        ];
        let row = txn
            .query_one_raw(self.statement(complete_sql, values))
            .await?
            .ok_or_else(|| DbErr::Custom(format!("task {id} was not held by {actor}")))?;
        let task = BenchTask::from_row(&row);
        self.record(&txn, "task.completed", &task, actor, now)
            .await?;
        txn.commit().await
    }

    /// Claim + complete cycles by `workers` workers, each with its own actor.
    async fn cycles(self: &Arc<Self>, workers: usize, limits: Limits) -> Throughput {
        let claim_sql: Arc<str> = self.claim_sql().into();
        let table = match self.tables {
            Tables::Bench => "bench_tasks",
            Tables::Service(_) => "tasks",
        };
        let complete_sql: Arc<str> = complete_sql(table).into();
        let workers = (0..workers)
            .map(|n| SqlWorker {
                ceiling: self.clone(),
                claim_sql: claim_sql.clone(),
                complete_sql: complete_sql.clone(),
                actor: format!("worker-{n}"),
            })
            .collect();
        drive(workers, limits).await
    }
}

/// One raw-SQL worker.
struct SqlWorker {
    ceiling: Arc<Ceiling>,
    claim_sql: Arc<str>,
    complete_sql: Arc<str>,
    actor: String,
}

impl SqlWorker {
    /// Claims a row and completes it: `Ok(false)` when none was pending.
    async fn try_cycle(&self) -> Result<bool, DbErr> {
        let Some(task) = self.ceiling.claim(&self.claim_sql, &self.actor).await? else {
            return Ok(false);
        };
        let (sql, actor) = (&self.complete_sql, &self.actor);
        self.ceiling.complete(sql, task.id, actor).await?;
        Ok(true)
    }
}

impl Worker for SqlWorker {
    async fn cycle(&mut self) -> Outcome {
        match self.try_cycle().await {
            Ok(true) => Outcome::Done(1),
            Ok(false) => Outcome::Empty,
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }
}

// ---------------------------------------------------------------------------
// Figures and the table

/// How long loading tasks took.
#[derive(Clone, Copy)]
struct Load {
    tasks: usize,
    seconds: f64,
}

impl Load {
    fn rate(&self) -> f64 {
        self.tasks as f64 / self.seconds
    }
}

impl std::fmt::Display for Load {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} tasks in {:.1} s ({:.0} tasks/s)",
            self.tasks,
            self.seconds,
            self.rate()
        )
    }
}

/// Percentiles of claim-next latencies.
#[derive(Clone, Copy, Default)]
struct Latency {
    samples: usize,
    p50_ms: f64,
    p99_ms: f64,
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
        }
    }
}

impl std::fmt::Display for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:.2} ms, p99 {:.2} ms ({} claims)",
            self.p50_ms, self.p99_ms, self.samples
        )
    }
}

/// Every figure measured on one backend.
struct Column {
    backend: &'static str,
    http: Vec<Throughput>,
    batch: Option<Throughput>,
    ceiling: Vec<Throughput>,
    /// The raw-SQL cycle on the service's tables, at the largest worker count.
    service_tables: Option<Throughput>,
    bulk: Option<Load>,
    deep_load: Option<Load>,
    shallow: Latency,
    deep: Latency,
}

impl Column {
    fn new(backend: &'static str) -> Self {
        Self {
            backend,
            http: Vec::new(),
            batch: None,
            ceiling: Vec::new(),
            service_tables: None,
            bulk: None,
            deep_load: None,
            shallow: Latency::default(),
            deep: Latency::default(),
        }
    }
}

/// "1 worker", "16 workers".
fn workers_label(n: usize) -> String {
    let noun = if n == 1 { "worker" } else { "workers" };
    format!("{n} {noun}")
}

/// A figure, or `-` when it was not measured.
fn figure<T>(value: Option<T>, show: impl Fn(T) -> String) -> String {
    value.map_or_else(|| "-".to_owned(), show)
}

/// Run `i` of `runs`, if there is one.
fn at(runs: &[Throughput], i: Option<usize>) -> Option<&Throughput> {
    i.and_then(|i| runs.get(i))
}

/// `a / b` to three places, or `-` when either was not measured.
fn ratio(a: Option<&Throughput>, b: Option<&Throughput>) -> String {
    figure(a.zip(b), |(a, b)| format!("{:.3}", a.rate() / b.rate()))
}

/// The table being built: one row per figure, one column per backend.
struct Table<'a> {
    columns: &'a [Column],
    /// A label and one cell per column; no cells makes a heading.
    rows: Vec<(String, Vec<String>)>,
}

impl<'a> Table<'a> {
    fn new(columns: &'a [Column]) -> Self {
        Self {
            columns,
            rows: Vec::new(),
        }
    }

    fn heading(&mut self, text: &str) {
        self.rows.push((text.to_owned(), Vec::new()));
    }

    /// A row labelled `label`, with `cell` of each backend.
    fn row(&mut self, label: String, cell: impl Fn(&Column) -> String) {
        let cells = self.columns.iter().map(cell).collect();
        self.rows.push((format!("  {label}"), cells));
    }

    /// Plain text, labels left-aligned, figures right-aligned under their backend.
    fn render(&self) -> String {
        let label_width = self.rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
        let cell_width = (self.rows.iter())
            .flat_map(|(_, cells)| cells.iter().map(String::len))
            .chain(self.columns.iter().map(|c| c.backend.len()))
            .max()
            .unwrap_or(0);
        let mut out = format!("{:label_width$}", "");
        for column in self.columns {
            let _ = write!(out, "  {:>cell_width$}", column.backend);
        }
        out.push('\n');
        for (label, cells) in &self.rows {
            if cells.is_empty() {
                let _ = writeln!(out, "{label}");
                continue;
            }
            let _ = write!(out, "{label:label_width$}");
            for cell in cells {
                let _ = write!(out, "  {cell:>cell_width$}");
            }
            out.push('\n');
        }
        out
    }
}

/// The report: what was run, then the table.
fn render(opts: &Options, columns: &[Column]) -> String {
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let mut out = format!(
        "\nATS write path: {build} build, {cpus} CPUs; each throughput run lasts {} s \
         or a quarter of its queue\n\n",
        opts.seconds
    );
    out.push_str(&table(opts, columns).render());
    out
}

/// Every figure, in reading order.
fn table<'a>(opts: &Options, columns: &'a [Column]) -> Table<'a> {
    let mut table = Table::new(columns);
    let rate = |t: &Throughput| format!("{:.0}", t.rate());

    table.heading("claim-next + complete, cycles/s");
    for (i, &n) in opts.workers.iter().enumerate() {
        let label = format!("HTTP     {:>10}, depth {}", workers_label(n), opts.depth);
        table.row(label, |c| figure(c.http.get(i), rate));
    }
    for (i, &n) in opts.workers.iter().enumerate() {
        let label = format!(
            "raw SQL  {:>10}, depth {}",
            workers_label(n),
            opts.ceiling_rows
        );
        table.row(label, |c| figure(c.ceiling.get(i), rate));
    }
    for (i, &n) in opts.workers.iter().enumerate() {
        let label = format!("ratio HTTP / raw SQL, {:>10}", workers_label(n));
        table.row(label, |c| ratio(c.http.get(i), c.ceiling.get(i)));
    }

    let workers = max_workers(opts);
    let at_max = opts.workers.iter().position(|&n| n == workers);
    table.heading("the same cycle as raw SQL on the service's own tables, cycles/s");
    let label = format!(
        "raw SQL  {:>10}, depth {}",
        workers_label(workers),
        opts.depth
    );
    table.row(label, |c| figure(c.service_tables.as_ref(), rate));
    let label = format!(
        "ratio to raw SQL on its own tables, {}",
        workers_label(workers)
    );
    table.row(label, |c| {
        ratio(c.service_tables.as_ref(), at(&c.ceiling, at_max))
    });
    let label = format!(
        "ratio HTTP / raw SQL on the service's tables, {}",
        workers_label(workers)
    );
    table.row(label, |c| {
        ratio(at(&c.http, at_max), c.service_tables.as_ref())
    });

    if opts.batch_limit > 0 {
        let limit = opts.batch_limit;
        table.heading("claim-batch + complete each, tasks/s");
        let label = format!(
            "HTTP, limit {limit}, {}, depth {}",
            workers_label(workers),
            opts.depth
        );
        table.row(label, |c| figure(c.batch.as_ref(), rate));
        let label = format!("ratio to raw SQL, {}", workers_label(workers));
        table.row(label, |c| ratio(c.batch.as_ref(), at(&c.ceiling, at_max)));
    }

    table.heading("bulk create, POST /tasks/bulk, 1 client");
    let per_request = opts.bulk_size;
    table.row(format!("tasks/s, {per_request} per request"), |c| {
        figure(c.bulk, |l| format!("{:.0}", l.rate()))
    });
    table.row(format!("loading to depth {}, s", opts.deep), |c| {
        figure(c.deep_load, |l| format!("{:.1}", l.seconds))
    });
    table.row(format!("loading to depth {}, tasks/s", opts.deep), |c| {
        figure(c.deep_load, |l| format!("{:.0}", l.rate()))
    });

    table.heading("one claim-next over HTTP, sequential, 1 client, ms");
    let shallow: fn(&Column) -> Latency = |c| c.shallow;
    let deep: fn(&Column) -> Latency = |c| c.deep;
    for (depth, pick) in [(opts.shallow, shallow), (opts.deep, deep)] {
        table.row(format!("p50, depth {depth}"), |c| {
            format!("{:.2}", pick(c).p50_ms)
        });
        table.row(format!("p99, depth {depth}"), |c| {
            format!("{:.2}", pick(c).p99_ms)
        });
        table.row(format!("claims timed, depth {depth}"), |c| {
            pick(c).samples.to_string()
        });
    }

    table.heading("errors");
    table.row("failed cycles, all throughput runs".into(), |c| {
        let runs = (c.http.iter().chain(&c.batch))
            .chain(&c.ceiling)
            .chain(&c.service_tables);
        runs.map(|t| t.errors).sum::<usize>().to_string()
    });
    table
}
