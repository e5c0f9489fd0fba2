//! Where `ats` takes its settings from: flags > environment > project binding
//! (walking up from the working directory) > `~/.ats/config` > defaults,
//! level by level with temporary HOME and working directories; and the URL
//! of each level is the one requests go to.

use serde_json::{Value, json};

use crate::common::cli::{Cli, write_json as write};
use crate::common::{Role, TestApp};

crate::on_both_backends!(url_precedence_reaches_the_server);

async fn effective(cli: &Cli, args: &[&str]) -> Value {
    let mut full = args.to_vec();
    full.extend_from_slice(&["project", "show", "-f", "json"]);
    cli.run(&full).await.ok().json()["effective"].clone()
}

fn source(v: &Value) -> String {
    v["source"].as_str().unwrap_or_default().to_owned()
}

/// Step: with nothing set, the defaults.
async fn defaults(cli: &Cli) {
    let e = effective(cli, &[]).await;
    assert_eq!(e["url"]["value"], "http://127.0.0.1:8080");
    assert_eq!(e["organization"]["value"], "default");
    assert_eq!(e["project"]["value"], "main");
    assert_eq!(source(&e["url"]), "default");
    assert!(e["actor_id"].is_null() && e["credential"].is_null());
}

/// Step: the global file sets everything; its secrets are never shown.
async fn the_global_file(cli: &Cli) {
    let global = cli.home.path().join(".ats/config");
    write(
        &global,
        &json!({
            "organization": "g-org", "project": "g-proj", "url": "http://global.example:1",
            "actor": { "type": "agent", "id": "g-actor", "name": "Global" },
            "token": "jwt-from-login",
        }),
    );
    let e = effective(cli, &[]).await;
    assert_eq!(e["organization"]["value"], "g-org");
    assert_eq!(e["project"]["value"], "g-proj");
    assert_eq!(e["url"]["value"], "http://global.example:1");
    assert_eq!(e["actor_id"]["value"], "g-actor");
    assert!(source(&e["organization"]).starts_with("global config"));
    assert!(source(&e["credential"]).starts_with("global config"));
    // Secrets are never shown.
    let shown = cli.run(&["project", "show", "-f", "json"]).await.ok();
    assert!(!shown.stdout.contains("jwt-from-login"), "{shown:?}");
    assert_eq!(shown.json()["global"]["config"]["token"], "<redacted>");
}

/// Step: a project binding above the working directory wins over the global
/// file (which still gives what the binding does not set); a binding naming
/// its own server gets no secret from it. Leaves `cli` under the binding;
/// returns the repository.
async fn a_binding_above_the_working_directory(cli: &mut Cli) -> std::path::PathBuf {
    let repo = cli.work().join("repo");
    let deep = repo.join("src/deeper");
    std::fs::create_dir_all(&deep).unwrap();
    write(
        &repo.join(".ats/project.json"),
        &json!({ "organization": "p-org", "project": "p-proj" }),
    );
    cli.cwd = deep.clone();
    let e = effective(cli, &[]).await;
    assert_eq!(e["organization"]["value"], "p-org");
    assert_eq!(e["project"]["value"], "p-proj");
    assert_eq!(
        source(&e["project"]),
        format!("project file {}", repo.join(".ats/project.json").display())
    );
    // What the binding does not set still comes from the global file.
    assert_eq!(e["url"]["value"], "http://global.example:1");
    let current = cli.run(&["project", "current"]).await.ok();
    assert!(
        current
            .stdout
            .starts_with("Current project: p-org/p-proj\n"),
        "{current:?}"
    );
    assert!(current.stdout.contains("project.json"), "{current:?}");
    // A binding that names its own server gets no secret from the global file.
    let elsewhere = cli.work().join("elsewhere");
    write(
        &elsewhere.join(".ats/project.json"),
        &json!({ "url": "http://attacker.example:9", "organization": "p-org", "project": "p-proj" }),
    );
    cli.cwd = elsewhere.clone();
    let e = effective(cli, &[]).await;
    assert_eq!(e["url"]["value"], "http://attacker.example:9");
    assert!(e["credential"].is_null(), "{e}");
    cli.cwd = deep.clone();
    repo
}

/// Step: the nearest binding wins; an older CLI's `.ats/config` is read
/// too, but in one directory `project.json` is preferred.
async fn the_nearest_binding(cli: &Cli, repo: &std::path::Path) {
    let sub = repo.join("src");
    write(
        &sub.join(".ats/config"),
        &json!({ "organization": "old-org", "project": "old-proj" }),
    );
    let e = effective(cli, &[]).await;
    assert_eq!(e["organization"]["value"], "old-org");
    // In one directory, project.json is preferred over the older file.
    write(
        &sub.join(".ats/project.json"),
        &json!({ "organization": "new-org", "project": "new-proj" }),
    );
    let e = effective(cli, &[]).await;
    assert_eq!(e["organization"]["value"], "new-org");
}

/// Step: the environment beats the files.
async fn the_environment(cli: &mut Cli) {
    cli.set_env("ATS_ORG", "e-org");
    cli.set_env("ATS_URL", "http://env.example:2");
    cli.set_env("ATS_ACTOR_ID", "e-actor");
    cli.set_env("ATS_API_KEY", "ats_env_key");
    let e = effective(cli, &[]).await;
    assert_eq!(e["organization"]["value"], "e-org");
    assert_eq!(source(&e["organization"]), "environment (ATS_ORG)");
    assert_eq!(e["project"]["value"], "new-proj");
    assert_eq!(e["url"]["value"], "http://env.example:2");
    assert_eq!(e["actor_id"]["value"], "e-actor");
    assert_eq!(source(&e["credential"]), "environment (ATS_API_KEY)");
}

/// Step: flags beat everything.
async fn flags(cli: &Cli) {
    let e = effective(
        cli,
        &[
            "--org",
            "f-org",
            "--project",
            "f-proj",
            "-u",
            "http://flag.example:3",
            "--actor-id",
            "f-actor",
            "--api-key",
            "k",
        ],
    )
    .await;
    for (key, value) in [
        ("organization", "f-org"),
        ("project", "f-proj"),
        ("url", "http://flag.example:3"),
        ("actor_id", "f-actor"),
    ] {
        assert_eq!(e[key]["value"], value, "{key}");
        assert_eq!(source(&e[key]), "command-line flag", "{key}");
    }
    assert_eq!(source(&e["credential"]), "command-line flag");
}

/// Each setting, level by level.
#[tokio::test]
async fn precedence_levels() {
    let mut cli = Cli::bare();
    defaults(&cli).await;
    the_global_file(&cli).await;
    let repo = a_binding_above_the_working_directory(&mut cli).await;
    the_nearest_binding(&cli, &repo).await;
    the_environment(&mut cli).await;
    flags(&cli).await;
}

/// The global file is not mistaken for a project binding when working under
/// HOME; a broken config file is a configuration error (exit 2).
#[tokio::test]
async fn the_global_file_is_no_binding_and_a_broken_one_exits_2() {
    let mut home_cli = Cli::bare();
    write(
        &home_cli.home.path().join(".ats/config"),
        &json!({ "organization": "g2" }),
    );
    home_cli.cwd = home_cli.home.path().to_owned();
    let e = effective(&home_cli, &[]).await;
    assert!(
        source(&e["organization"]).starts_with("global config"),
        "{e}"
    );
    let shown = home_cli
        .run(&["project", "show", "-f", "json"])
        .await
        .ok()
        .json();
    assert!(shown["local"].is_null(), "{shown}");
    write(&home_cli.home.path().join(".ats/config"), &json!([1, 2]));
    let broken = home_cli.run(&["project", "current"]).await.code(2);
    assert!(broken.stderr.contains("not a JSON object"), "{broken:?}");
}

/// The URL from each level is the one requests go to.
async fn url_precedence_reaches_the_server(app: TestApp) {
    let dead = {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        format!("http://127.0.0.1:{port}")
    };
    let mut cli = Cli::bare();
    // Default URL: nothing listens on our behalf there in most setups; use the global file.
    write(
        &cli.home.path().join(".ats/config"),
        &json!({ "url": app.base }),
    );
    cli.run(&["health"]).await.ok();
    // A project binding with another URL wins over the global file.
    write(
        &cli.cwd.join(".ats/project.json"),
        &json!({ "organization": "default", "project": "main", "url": dead }),
    );
    let down = cli.run(&["health"]).await.code(3);
    assert!(down.stderr.contains(&dead), "{down:?}");
    // The environment wins over the binding; a flag over the environment.
    cli.set_env("ATS_URL", &app.base);
    cli.run(&["health"]).await.ok();
    cli.run(&["--url", &dead, "health"]).await.code(3);
    cli.run(&["-u", &app.base, "health"]).await.ok();

    // The org/project from a binding selects the scoped task routes.
    std::fs::remove_file(cli.cwd.join(".ats/project.json")).unwrap();
    app.user("anonymous")
        .in_org("acme", Role::Owner)
        .with_project("web")
        .await;
    cli.run(&["project", "init", "acme/web"]).await.ok();
    let t = cli
        .run(&["create", "bound", "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(
        (t["org"].as_str(), t["project"].as_str()),
        (Some("acme"), Some("web"))
    );
    // The environment overrides the binding.
    cli.set_env("ATS_PROJECT", "main");
    cli.set_env("ATS_ORG", "default");
    let t = cli.run(&["create", "env", "-f", "json"]).await.ok().json();
    assert_eq!(
        (t["org"].as_str(), t["project"].as_str()),
        (Some("default"), Some("main"))
    );
}
