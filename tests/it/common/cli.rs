//! Running the built `ats` binary in tests: a private HOME and working
//! directory, no stray `ATS_*` settings from the environment, and shell
//! scripts (with `jq`) that call it as `ats`.
//!
//! The CLI is its own package (`cli/`, `ats-cli`), so cargo gives these tests
//! no `CARGO_BIN_EXE_ats`: [`ats_bin`] builds it once per test process.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

/// The `ats` binary under test: `ATS_CLI_BIN` when set, else the one
/// `cargo build --workspace --bin ats` produces (run once per test process,
/// with the `cargo` that runs the tests, so `CARGO_TARGET_DIR` and cargo's
/// config apply). Building the whole workspace's feature set, as a plain
/// `cargo build` at the root does, lets it reuse what that built: when the
/// binary is up to date this only checks.
pub fn ats_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("ATS_CLI_BIN").filter(|b| !b.is_empty()) {
            return PathBuf::from(bin);
        }
        build_ats()
    })
}

fn build_ats() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.args([
        "build",
        "--quiet",
        "--workspace",
        "--bin",
        "ats",
        "--message-format=json-render-diagnostics",
    ])
    .current_dir(env!("CARGO_MANIFEST_DIR"))
    .stdin(Stdio::null());
    // Drop what cargo set for this test process (CARGO_MANIFEST_DIR,
    // CARGO_PKG_NAME, …): build scripts watch some of them (ring's
    // `rerun-if-env-changed`), so with them the nested build would rebuild
    // ring and its dependents, and the next `cargo test` would rebuild them back.
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if is_set_by_cargo_for_tests(key) {
            cmd.env_remove(key);
        }
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cargo:?} to build the ats CLI: {e}"));
    assert!(
        out.status.success(),
        "`cargo build --workspace --bin ats` failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // cargo names the executable it built (or found up to date) in its JSON messages.
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "ats")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("cargo reported no `ats` executable")
}

/// The variables cargo sets when it runs a test binary (besides `CARGO`).
fn is_set_by_cargo_for_tests(key: &str) -> bool {
    key.starts_with("CARGO_PKG_")
        || key.starts_with("CARGO_BIN_EXE_")
        || matches!(
            key,
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_MANIFEST_LINKS"
                | "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_TARGET_TMPDIR"
                | "CARGO_RUSTC_CURRENT_DIR"
                | "OUT_DIR"
        )
}

/// Settings the CLI reads from the environment; cleared so tests control them.
const ATS_VARS: &[&str] = &[
    "ATS_URL",
    "ATS_ORG",
    "ATS_PROJECT",
    "ATS_CHANNEL",
    "ATS_ACTOR_TYPE",
    "ATS_ACTOR_ID",
    "ATS_ACTOR_NAME",
    "ATS_API_KEY",
    "ATS_PASSWORD",
    "ATS_OUTPUT",
    "COLUMNS",
];

static DIRS: AtomicU64 = AtomicU64::new(0);

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let n = DIRS.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!(
            "ats_cli_{tag}_{}_{n}_{:x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a run of `ats` produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts success and returns itself.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "ats failed: {self:#?}");
        self
    }

    /// Asserts this exit code and returns itself.
    #[track_caller]
    pub fn code(self, code: i32) -> Self {
        assert_eq!(self.code, code, "unexpected exit code: {self:#?}");
        self
    }

    /// stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
}

/// An `ats` user: a HOME, a working directory and environment variables.
pub struct Cli {
    pub home: TempDir,
    pub cwd: PathBuf,
    work: TempDir,
    env: Vec<(String, String)>,
}

impl Cli {
    /// A user of the server at `base` (`ATS_URL`), with empty HOME and working directory.
    pub fn new(base: &str) -> Self {
        let home = TempDir::new("home");
        let work = TempDir::new("work");
        Self {
            cwd: work.path().to_owned(),
            home,
            work,
            env: vec![("ATS_URL".into(), base.to_owned())],
        }
    }

    /// A user with no `ATS_URL`.
    pub fn bare() -> Self {
        let mut cli = Self::new("");
        cli.env.clear();
        cli
    }

    /// Sets an environment variable for every later run.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.set_env(key, value);
        self
    }

    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_owned(), value.to_owned()));
    }

    pub fn unset_env(&mut self, key: &str) {
        self.env.retain(|(k, _)| k != key);
    }

    /// The value this user sets for `key` (empty when unset).
    pub fn env_value(&self, key: &str) -> String {
        self.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// The scratch directory under which `cwd` may move.
    pub fn work(&self) -> &Path {
        self.work.path()
    }

    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        for var in ATS_VARS {
            cmd.env_remove(var);
        }
        let bin_dir = ats_bin().parent().expect("binary dir");
        let path = format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        cmd.env("HOME", self.home.path())
            .env("PATH", path)
            .env("NO_COLOR", "1")
            .current_dir(&self.cwd)
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs `ats args…`.
    pub async fn run(&self, args: &[&str]) -> Run {
        let mut cmd = self.command(ats_bin());
        cmd.args(args);
        output(cmd).await
    }

    /// Runs a bash script in which `ats` is the binary under test.
    pub async fn sh(&self, script: &str) -> Run {
        let mut cmd = self.command("bash");
        cmd.arg("-euo").arg("pipefail").arg("-c").arg(script);
        output(cmd).await
    }

    /// Starts `ats args…` in the background, stdout and stderr to files.
    pub fn spawn(&self, args: &[&str], stdout: &Path, stderr: &Path) -> std::process::Child {
        let mut cmd = self.command(ats_bin());
        cmd.args(args)
            .stdout(std::fs::File::create(stdout).expect("stdout file"))
            .stderr(std::fs::File::create(stderr).expect("stderr file"));
        cmd.spawn().expect("start ats")
    }

    /// A new user with the same key, bound to `org` by environment.
    pub fn clone_env_org(&self, org: &str) -> Cli {
        let mut c = Cli::new(&self.env_value("ATS_URL"));
        c.set_env("ATS_API_KEY", &self.env_value("ATS_API_KEY"));
        c.set_env("ATS_ORG", org);
        c
    }

    /// A new user with the same key, bound to `org/project`.
    pub fn with_project(&self, org: &str, project: &str) -> Cli {
        let mut c = self.clone_env_org(org);
        c.set_env("ATS_PROJECT", project);
        c
    }
}

async fn output(mut cmd: Command) -> Run {
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("run ats");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Fails clearly when `jq` is missing (the seed's pipelines need it).
pub fn require_jq() {
    let found = Command::new("jq")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "jq is not installed: the CLI tests run the seed's jq pipelines (apt-get install jq)"
    );
}

/// Writes `value` as pretty JSON at `path`, making its directory.
pub fn write_json(path: &Path, value: &Value) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::to_string_pretty(value).unwrap()).unwrap();
}

/// Reads the JSON file at `path`.
pub fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}
