//! The real `ats-server` binary as a child process on a free port, its
//! output in a log file; killed (and reaped) when dropped, even on panic,
//! when its log is printed.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The binary to run: `ATS_SERVER_BIN` if set (e.g. a release build, or
/// another version to compare with), else the one this test run built.
pub fn binary() -> PathBuf {
    std::env::var_os("ATS_SERVER_BIN")
        .filter(|p| !p.is_empty())
        .map_or_else(
            || PathBuf::from(env!("CARGO_BIN_EXE_ats-server")),
            PathBuf::from,
        )
}

/// A running `ats-server`.
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The port it listens on.
    pub port: u16,
    log: PathBuf,
}

impl ServerProcess {
    /// Starts `ats-server` over `db_url` with `env` set, and waits until it
    /// answers `/health` (panicking with its log if it exits or never does).
    pub async fn start(db_url: &str, tag: &str, env: &[(&str, &str)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let log = std::env::temp_dir().join(format!(
            "ats_server_{}_{tag}_{port}.log",
            std::process::id()
        ));
        let out = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(binary());
        cmd.env("DATABASE_URL", db_url)
            .env("ATS_LISTEN", format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut server = Self {
            child: cmd.spawn().expect("start ats-server"),
            base: format!("http://127.0.0.1:{port}"),
            port,
            log,
        };
        server.wait_healthy().await;
        server
    }

    async fn wait_healthy(&mut self) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "ats-server exited while starting ({status}); log:\n{}",
                    self.log_text()
                );
            }
            let health = http
                .get(format!("{}/health", self.base))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if health.is_ok_and(|r| r.status() == 200) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "ats-server did not become healthy; log:\n{}",
            self.log_text()
        );
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown hook, no flush, nothing graceful.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL ats-server");
        self.child.wait().expect("reap ats-server");
    }

    /// SIGTERM: asks for a graceful shutdown.
    pub fn terminate(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill -TERM");
        assert!(sent.success(), "kill -TERM {} failed", self.pid());
    }

    /// Its exit status, if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("check on ats-server")
    }

    /// Waits up to `within` for it to exit; its exit status, or `None` if it
    /// is still running.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// `ws://127.0.0.1:<port>`.
    pub fn ws_base(&self) -> String {
        self.base.replacen("http://", "ws://", 1)
    }

    /// The value of the Prometheus sample `name` on its `/metrics` (open
    /// auth mode, where `/metrics` needs no token).
    pub async fn metric(&self, name: &str) -> i64 {
        let text = reqwest::Client::new()
            .get(format!("{}/metrics", self.base))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics text");
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
    }

    /// Everything it has logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops it and returns everything it logged.
    pub fn logs(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.log_text()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- ats-server log ({}) ---\n{}",
                self.log.display(),
                self.log_text()
            );
        }
        let _ = std::fs::remove_file(&self.log);
    }
}
