//! The real `ats-server` binary's logs as a collector sees them: read from a
//! pipe they are plain text with no ANSI colour codes, and under
//! `ATS_LOG_FORMAT=json` every line is one JSON object.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::common::{Backend, TestDb};

/// The server's output, stdout and stderr each read from a pipe.
struct Logs {
    stdout: String,
    stderr: String,
}

/// Runs `ats-server` with `env` and its output piped, makes a few requests
/// (a page, a 404, a refused login), stops it and returns what it wrote.
async fn run_server(env: &[(&str, &str)]) -> Logs {
    let db = TestDb::create(Backend::Sqlite).await.expect("sqlite db");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ats-server"));
    cmd.env("DATABASE_URL", &db.url)
        .env("ATS_LISTEN", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "debug")
        .env_remove("ATS_LOG_FORMAT")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    struct Kill(Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut server = Kill(cmd.spawn().expect("start ats-server"));
    // Drain both pipes while the server runs, so it never blocks on a full pipe.
    let mut out = server.0.stdout.take().unwrap();
    let mut err = server.0.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });

    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut up = false;
    for _ in 0..200 {
        if http.get(format!("{base}/health")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "ats-server did not answer on {base}");
    let _ = http.get(format!("{base}/tasks")).send().await.unwrap();
    let _ = http
        .get(format!("{base}/no-such-page"))
        .send()
        .await
        .unwrap();
    let _ = http
        .post(format!("{base}/auth/login"))
        .json(&serde_json::json!({ "email": "nobody@example.com", "password": "wrong password" }))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = server.0.kill();
    let _ = server.0.wait();
    drop(db);
    Logs {
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piped_logs_are_plain_text() {
    let logs = run_server(&[]).await;
    let all = format!("{}{}", logs.stdout, logs.stderr);
    assert!(
        all.contains("ATS listening on"),
        "the start was logged:\n{all}"
    );
    assert!(
        all.contains("/no-such-page"),
        "requests were logged:\n{all}"
    );
    assert!(
        !all.contains("\x1b["),
        "piped logs contain ANSI escape codes:\n{all:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_per_line() {
    let logs = run_server(&[("ATS_LOG_FORMAT", "json")]).await;
    let all = format!("{}{}", logs.stdout, logs.stderr);
    assert!(
        !all.contains("\x1b["),
        "JSON logs contain ANSI escape codes"
    );
    let lines: Vec<&str> = all.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 3, "too few log lines:\n{all}");
    let mut messages = Vec::new();
    for line in &lines {
        let value: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
        assert!(value.is_object(), "log line is not a JSON object: {line}");
        assert!(
            value["level"].is_string() && value["timestamp"].is_string(),
            "log line lacks level or timestamp: {line}"
        );
        if let Some(m) = value["message"].as_str() {
            messages.push(m.to_owned());
        }
    }
    assert!(
        messages.iter().any(|m| m.contains("ATS listening on")),
        "the start message is a JSON line: {messages:?}"
    );
}

#[test]
fn an_unknown_log_format_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_ats-server"))
        .arg("--help")
        .env("ATS_LOG_FORMAT", "xml")
        .stdin(Stdio::null())
        .output()
        .expect("run ats-server");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ATS_LOG_FORMAT"), "{stderr}");
}
