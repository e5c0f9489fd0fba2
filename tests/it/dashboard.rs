//! The dashboard in a real browser: runs `tests/browser/dashboard.mjs` (Node +
//! playwright-core driving Debian's Chromium) against the real `ats-server`
//! binary, once over SQLite and once over PostgreSQL. The script starts,
//! SIGKILLs and restarts the server itself; this test makes the databases,
//! runs it and asserts its exit status. It fails when node, the npm packages
//! (`cd tests/browser && npm ci`) or /usr/bin/chromium are missing; set
//! `ATS_SKIP_BROWSER=1` to skip it.
//!
//! Printed: `FIGURE <backend> <name> <value>` lines (card latency, 10 000-task
//! board timings) and the paths of the screenshots.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{Backend, TestDb};
use crate::on_both_backends;

/// One browser run at a time: the figures mean more when two runs do not share the CPU.
static BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Dbs {
    backend: Backend,
    open: TestDb,
    auth: TestDb,
}

async fn dbs(backend: Backend) -> Option<Dbs> {
    Some(Dbs {
        backend,
        open: TestDb::create(backend).await?,
        auth: TestDb::create(backend).await?,
    })
}

on_both_backends!(start = super::dbs; dashboard_in_chromium);

const CHROMIUM: &str = "/usr/bin/chromium";

fn screenshots_dir(backend: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let target = if target.is_relative() {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(target)
    } else {
        target
    };
    target.join("screenshots").join(backend)
}

async fn dashboard_in_chromium(dbs: Dbs) {
    if std::env::var("ATS_SKIP_BROWSER").is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED (browser): ATS_SKIP_BROWSER=1");
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "the dashboard test needs Node.js (`node` on PATH); set ATS_SKIP_BROWSER=1 to skip it"
    );
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "the dashboard test needs its npm packages: (cd tests/browser && npm ci); set ATS_SKIP_BROWSER=1 to skip it"
    );
    assert!(
        Path::new(CHROMIUM).exists(),
        "the dashboard test needs Chromium at {CHROMIUM} (apt-get install chromium); set ATS_SKIP_BROWSER=1 to skip it"
    );
    let backend = match dbs.backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let shots = screenshots_dir(backend);
    let _one_at_a_time = BROWSER.lock().await;
    let mut cmd = Command::new("node");
    cmd.arg("dashboard.mjs")
        .current_dir(&dir)
        .env("ATS_SERVER_BIN", env!("CARGO_BIN_EXE_ats-server"))
        .env("ATS_DB_OPEN", &dbs.open.url)
        .env("ATS_DB_AUTH", &dbs.auth.url)
        .env("ATS_BACKEND", backend)
        .env("ATS_SCREENSHOTS", &shots)
        .env("CHROMIUM", CHROMIUM);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "the browser test failed on {backend} ({}):\n{stdout}\n{stderr}",
        out.status
    );
    for name in [
        "board-light",
        "board-dark",
        "detail-light",
        "detail-dark",
        "board-phone",
        "signin",
        "account-light",
        "account-dark",
        "account-phone",
    ] {
        let file = shots.join(format!("{name}.png"));
        assert!(file.is_file(), "no screenshot {}", file.display());
    }
    for figure in [
        "card_appear_ms",
        "big_cards_rendered_ms",
        "big_interactive_ms",
    ] {
        assert!(
            stdout.contains(&format!("FIGURE {backend} {figure} ")),
            "the figure {figure} is printed"
        );
    }
}
