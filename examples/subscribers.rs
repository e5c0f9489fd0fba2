//! Benchmark of live subscribers at scale (issue 16): many authenticated
//! `/graphql/ws` subscribers spread over many projects, each selecting the
//! task's fields as the dashboard does, while tasks are written at a steady
//! rate. Prints delivery latency and the server's memory. Asserts nothing.
//!
//! ```sh
//! cargo build --release --bin ats-server --example subscribers
//! target/release/examples/subscribers [--subscribers 10000 --projects 100 --rate 100 --seconds 20]
//! ATS_BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/postgres target/release/examples/subscribers --postgres
//! ```
//!
//! The server is the `ats-server` binary beside this program (its RSS is read
//! from `/proc`), in required-auth mode on a fresh database (a temp SQLite
//! file, or with `--postgres` a database created on the server
//! `ATS_BENCH_PG_URL` names and dropped at the end). One owner registers, makes
//! an org of `--projects` projects and one API key per project; subscriber
//! `i` watches project `i % projects` with
//! `taskEvents(filter: {projects: [...]}) { id type task { id title status priority } }`,
//! so each event reaches `subscribers / projects` of them. A writer then
//! creates `--rate` tasks a second, round-robin over the projects. A
//! delivery's latency runs from the moment its task's create request was
//! sent to the moment a subscriber read the event. Each process needs a file
//! descriptor per socket (`ulimit -n`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Command-line options; the defaults are the figures of issue 16.
#[derive(Parser, Debug, Clone)]
#[command(about = "ATS live-subscriber benchmark: delivery latency and server RSS")]
struct Options {
    /// Subscribers (one `/graphql/ws` socket each).
    #[arg(long, default_value_t = 10_000)]
    subscribers: usize,
    /// Projects the subscribers are spread over.
    #[arg(long, default_value_t = 100)]
    projects: usize,
    /// Tasks created per second.
    #[arg(long, default_value_t = 100)]
    rate: u64,
    /// How long the writer runs, in seconds.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Sockets opened at once while connecting.
    #[arg(long, default_value_t = 100)]
    connect_concurrency: usize,
    /// Run on PostgreSQL (`ATS_BENCH_PG_URL`) instead of SQLite.
    #[arg(long)]
    postgres: bool,
}

const SUBSCRIPTION: &str = "subscription($p: [String!]) { taskEvents(filter: {projects: $p}) \
    { id type task { id title status priority } } }";
const PASSWORD: &str = "bench-password-1";

/// When each task's create request went out, by title.
type Sent = Arc<Mutex<HashMap<String, Instant>>>;

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let opts = Options::parse();
    let say = |m: String| eprintln!("[{:>7.1}s] {m}", START.elapsed().as_secs_f64());
    let _ = *START;
    let (url, pg) = database(&opts).await;
    let server = Server::start(&url);
    say(format!(
        "server pid {} on {}",
        server.child.id(),
        server.base
    ));
    let http = reqwest::Client::new();
    let keys = setup(&http, &server.base, opts.projects).await;
    say(format!("{} projects and keys made", opts.projects));
    let rss_idle = server.rss_kb();

    let (subs, connected) = connect_all(&server.base, &keys, &opts).await;
    let rss_connected = server.rss_kb();
    say(format!(
        "{connected} of {} subscribers connected; server RSS {} MB",
        opts.subscribers,
        rss_connected / 1024
    ));
    tokio::time::sleep(Duration::from_secs(2)).await;

    let sent: Sent = Arc::default();
    let written = write(&http, &server.base, &keys, &opts, &sent).await;
    say(format!(
        "{written} tasks written; waiting for the last deliveries"
    ));
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss_end = server.rss_kb();
    for s in &subs {
        s.stop.notify_one();
    }
    let mut latencies = Vec::new();
    let mut unknown = 0usize;
    let sent = sent.lock().unwrap().clone();
    for s in subs {
        for (title, at) in s.handle.await.unwrap_or_default() {
            match sent.get(&title) {
                Some(t0) => latencies.push(at.saturating_duration_since(*t0)),
                None => unknown += 1,
            }
        }
    }
    latencies.sort();
    let expected = written as usize * connected / opts.projects;
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    };
    let late = latencies
        .iter()
        .filter(|d| **d > Duration::from_secs(5))
        .count();
    let backend = if opts.postgres {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!("live subscribers, {backend}, release build: {SUBSCRIPTION}");
    println!("  subscribers connected                  {connected:>10}");
    println!(
        "  projects                               {:>10}",
        opts.projects
    );
    println!(
        "  tasks written ({}/s, {} s)            {written:>10}",
        opts.rate, opts.seconds
    );
    println!("  deliveries expected                    {expected:>10}");
    println!(
        "  deliveries received                    {:>10}",
        latencies.len()
    );
    println!("  deliveries later than 5 s              {late:>10}");
    println!("  events of unknown tasks                {unknown:>10}");
    println!(
        "  latency p50, ms                        {:>10.1}",
        pct(0.50)
    );
    println!(
        "  latency p99, ms                        {:>10.1}",
        pct(0.99)
    );
    println!(
        "  latency max, ms                        {:>10.1}",
        pct(1.0)
    );
    println!(
        "  server RSS idle, MB                    {:>10.1}",
        rss_idle as f64 / 1024.0
    );
    println!(
        "  server RSS, subscribers connected, MB  {:>10.1}",
        rss_connected as f64 / 1024.0
    );
    println!(
        "  server RSS at the end, MB              {:>10.1}",
        rss_end as f64 / 1024.0
    );
    println!(
        "  server RSS per subscriber, KB          {:>10.1}",
        (rss_connected.saturating_sub(rss_idle)) as f64 / connected.max(1) as f64
    );
    drop(server);
    match pg {
        Some((admin, name)) => drop_database(&admin, &name).await,
        None => {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", sqlite_path().display()));
            }
        }
    }
}

/// The SQLite database file of this run.
fn sqlite_path() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("ats-subscribers-{}.db", std::process::id()))
}

static START: std::sync::LazyLock<Instant> = std::sync::LazyLock::new(Instant::now);

/// The database URL, and for PostgreSQL the admin URL and database name to drop.
async fn database(opts: &Options) -> (String, Option<(String, String)>) {
    if !opts.postgres {
        let path = sqlite_path();
        let _ = std::fs::remove_file(&path);
        return (format!("sqlite://{}?mode=rwc", path.display()), None);
    }
    let admin = std::env::var("ATS_BENCH_PG_URL").expect("--postgres needs ATS_BENCH_PG_URL");
    let name = format!("ats_bench_subs_{}", std::process::id());
    let db = sea_orm::Database::connect(&admin).await.expect("connect");
    use sea_orm::ConnectionTrait;
    db.execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b.to_owned(), format!("?{q}")),
        None => (admin.clone(), String::new()),
    };
    let base = base
        .rsplit_once('/')
        .map_or(base.clone(), |(b, _)| b.to_owned());
    (format!("{base}/{name}{query}"), Some((admin, name)))
}

async fn drop_database(admin: &str, name: &str) {
    use sea_orm::ConnectionTrait;
    if let Ok(db) = sea_orm::Database::connect(admin).await {
        let _ = db
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
    }
}

/// The `ats-server` child process.
struct Server {
    child: std::process::Child,
    base: String,
}

impl Server {
    fn start(url: &str) -> Self {
        let exe = std::env::current_exe().expect("own path");
        let bin = exe
            .parent()
            .and_then(|examples| examples.parent())
            .map(|dir| dir.join("ats-server"))
            .filter(|p| p.exists())
            .expect("build ats-server first: cargo build --release --bin ats-server");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = std::process::Command::new(bin)
            .env("DATABASE_URL", url)
            .env("ATS_LISTEN", format!("127.0.0.1:{port}"))
            .env("ATS_AUTH", "required")
            .env("ATS_JWT_SECRET", "bench-secret-bench-secret-bench-secret")
            .env("ATS_WS_MAX_PER_IP", "0")
            .env("ATS_WS_MAX_TOTAL", "0")
            .env("ATS_SIGN_IN_RATE_PER_IP", "1000000/1s")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start ats-server");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "ats-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, base }
    }

    /// The server's resident set, in KB.
    fn rss_kb(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Registers the owner, makes org `bench` with `projects` projects and one
/// API key per project (keys of the same owner); returns `(path, key)`.
async fn setup(http: &reqwest::Client, base: &str, projects: usize) -> Vec<(String, String)> {
    let reg: Value = http
        .post(format!("{base}/auth/register"))
        .json(&json!({ "actor_type": "human", "actor_id": "owner", "password": PASSWORD }))
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("register answer");
    let key = reg["api_key"]
        .as_str()
        .unwrap_or_else(|| panic!("no api key in the registration answer: {reg}"))
        .to_owned();
    let post = |path: String, body: Value| {
        let req = http
            .post(format!("{base}{path}"))
            .bearer_auth(&key)
            .json(&body);
        async move {
            let resp = req.send().await.expect("request");
            assert!(resp.status().is_success(), "{path}: {}", resp.status());
            resp.json::<Value>().await.expect("json")
        }
    };
    post("/orgs".into(), json!({ "slug": "bench", "name": "Bench" })).await;
    let mut keys = Vec::with_capacity(projects);
    for p in 0..projects {
        post(
            "/orgs/bench/projects".into(),
            json!({ "slug": format!("p{p}"), "name": format!("Project {p}") }),
        )
        .await;
        let made = post("/auth/api-keys".into(), json!({ "name": format!("p{p}") })).await;
        let k = made["api_key"]["key"]
            .as_str()
            .expect("the new key")
            .to_owned();
        keys.push((format!("bench/p{p}"), k));
    }
    keys
}

/// A running subscriber: stopped by `stop`, it returns `(title, arrival)` of
/// every event it read.
struct Subscriber {
    stop: Arc<tokio::sync::Notify>,
    handle: tokio::task::JoinHandle<Vec<(String, Instant)>>,
}

/// Opens every subscriber, `connect_concurrency` at a time; returns them and
/// how many subscribed.
async fn connect_all(
    base: &str,
    keys: &[(String, String)],
    opts: &Options,
) -> (Vec<Subscriber>, usize) {
    let gate = Arc::new(tokio::sync::Semaphore::new(opts.connect_concurrency));
    let mut pending = Vec::with_capacity(opts.subscribers);
    for i in 0..opts.subscribers {
        let (project, key) = keys[i % keys.len()].clone();
        let url = base.replacen("http://", "ws://", 1) + "/graphql/ws";
        let gate = gate.clone();
        pending.push(tokio::spawn(async move {
            let _slot = gate.acquire_owned().await.ok()?;
            subscribe(&url, &project, &key).await
        }));
    }
    let mut subs = Vec::new();
    for p in pending {
        if let Ok(Some(ws)) = p.await {
            subs.push(ws);
        }
    }
    let connected = subs.len();
    let subs = subs.into_iter().map(listen).collect();
    (subs, connected)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One socket through `connection_ack` and `subscribe`.
async fn subscribe(url: &str, project: &str, key: &str) -> Option<Ws> {
    let mut req = url.into_client_request().ok()?;
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().ok()?,
    );
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(30),
        tokio_tungstenite::connect_async(req),
    )
    .await
    .ok()?
    .ok()?;
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {key}") } });
    ws.send(Message::Text(init.to_string().into())).await.ok()?;
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .ok()??
            .ok()?;
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).ok()?;
            if v["type"] == "connection_ack" {
                break;
            }
            eprintln!("unexpected before ack: {v}");
            return None;
        }
    }
    let sub = json!({ "id": "1", "type": "subscribe",
        "payload": { "query": SUBSCRIPTION, "variables": { "p": [project] } } });
    ws.send(Message::Text(sub.to_string().into())).await.ok()?;
    Some(ws)
}

/// Reads `ws` until stopped, keeping each event's task title and arrival.
fn listen(mut ws: Ws) -> Subscriber {
    let stop = Arc::new(tokio::sync::Notify::new());
    let stopped = stop.clone();
    let handle = tokio::spawn(async move {
        let mut got = Vec::new();
        loop {
            tokio::select! {
                msg = ws.next() => match msg {
                    Some(Ok(Message::Text(t))) => {
                        let at = Instant::now();
                        let v: Value = match serde_json::from_str(&t) { Ok(v) => v, Err(_) => continue };
                        if v["type"] == "next" {
                            if let Some(title) = v["payload"]["data"]["taskEvents"]["task"]["title"].as_str() {
                                got.push((title.to_owned(), at));
                            }
                        } else if v["type"] == "error" {
                            eprintln!("subscription error: {v}");
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break,
                },
                _ = stopped.notified() => break,
            }
        }
        let _ = ws.close(None).await;
        got
    });
    Subscriber { stop, handle }
}

/// Creates `rate` tasks a second for `seconds`, round-robin over the
/// projects, each request on its own task so a slow answer does not slow
/// the rate; returns how many were created.
async fn write(
    http: &reqwest::Client,
    base: &str,
    keys: &[(String, String)],
    opts: &Options,
    sent: &Sent,
) -> u64 {
    let total = opts.rate * opts.seconds;
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / opts.rate.max(1)));
    let mut requests = Vec::with_capacity(total as usize);
    for n in 0..total {
        tick.tick().await;
        let (project, key) = keys[n as usize % keys.len()].clone();
        let title = format!("t{n}");
        let url = format!(
            "{base}/orgs/{}/tasks",
            project.replacen('/', "/projects/", 1)
        );
        let body = json!({ "title": title, "channel": "bench" });
        let http = http.clone();
        let sent = sent.clone();
        requests.push(tokio::spawn(async move {
            sent.lock().unwrap().insert(title, Instant::now());
            http.post(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        }));
    }
    let mut ok = 0;
    for r in requests {
        if r.await.unwrap_or(false) {
            ok += 1;
        }
    }
    ok
}
