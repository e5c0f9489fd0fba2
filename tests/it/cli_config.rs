//! Where `ats` takes its settings from: flags > environment > project binding
//! (walking up from the working directory) > `~/.ats/config` > defaults, and
//! the `project init/switch/current/show/rename` commands that write them.

use serde_json::{Value, json};

use crate::common::TestApp;
use crate::common::cli::{Cli, TempDir};

crate::on_both_backends!(
    url_precedence_reaches_the_server,
    project_init_and_switch,
    project_rename_follows_config,
);

fn write(path: &std::path::Path, value: &Value) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::to_string_pretty(value).unwrap()).unwrap();
}

fn read(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn effective(cli: &Cli, args: &[&str]) -> Value {
    let mut full = args.to_vec();
    full.extend_from_slice(&["project", "show", "-f", "json"]);
    cli.run(&full).await.ok().json()["effective"].clone()
}

fn source(v: &Value) -> String {
    v["source"].as_str().unwrap_or_default().to_owned()
}

/// Each setting, level by level, with temp HOME and working directories.
#[tokio::test]
async fn precedence_levels() {
    let mut cli = Cli::bare();
    // Defaults.
    let e = effective(&cli, &[]).await;
    assert_eq!(e["url"]["value"], "http://127.0.0.1:8080");
    assert_eq!(e["organization"]["value"], "default");
    assert_eq!(e["project"]["value"], "main");
    assert_eq!(source(&e["url"]), "default");
    assert!(e["actor_id"].is_null() && e["credential"].is_null());

    // Global file.
    let global = cli.home.path().join(".ats/config");
    write(
        &global,
        &json!({
            "organization": "g-org", "project": "g-proj", "url": "http://global.example:1",
            "actor": { "type": "agent", "id": "g-actor", "name": "Global" },
            "token": "jwt-from-login",
        }),
    );
    let e = effective(&cli, &[]).await;
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

    // A project binding above the working directory wins over the global file.
    let repo = cli.work().join("repo");
    let deep = repo.join("src/deeper");
    std::fs::create_dir_all(&deep).unwrap();
    write(
        &repo.join(".ats/project.json"),
        &json!({ "organization": "p-org", "project": "p-proj" }),
    );
    cli.cwd = deep.clone();
    let e = effective(&cli, &[]).await;
    assert_eq!(e["organization"]["value"], "p-org");
    assert_eq!(e["project"]["value"], "p-proj");
    assert_eq!(
        source(&e["project"]),
        format!("project file {}", repo.join(".ats/project.json").display())
    );
    // What the binding does not set still comes from the global file.
    assert_eq!(e["url"]["value"], "http://global.example:1");
    let current = cli.run(&["project", "current"]).await.ok();
    assert!(current.stdout.starts_with("p-org/p-proj\n"), "{current:?}");
    assert!(current.stdout.contains("project.json"), "{current:?}");
    // A binding that names its own server gets no secret from the global file.
    let elsewhere = cli.work().join("elsewhere");
    write(
        &elsewhere.join(".ats/project.json"),
        &json!({ "url": "http://attacker.example:9", "organization": "p-org", "project": "p-proj" }),
    );
    cli.cwd = elsewhere.clone();
    let e = effective(&cli, &[]).await;
    assert_eq!(e["url"]["value"], "http://attacker.example:9");
    assert!(e["credential"].is_null(), "{e}");
    cli.cwd = deep.clone();

    // The nearest binding wins; an older CLI's .ats/config is read too.
    let sub = repo.join("src");
    write(
        &sub.join(".ats/config"),
        &json!({ "organization": "old-org", "project": "old-proj" }),
    );
    let e = effective(&cli, &[]).await;
    assert_eq!(e["organization"]["value"], "old-org");
    // In one directory, project.json is preferred over the older file.
    write(
        &sub.join(".ats/project.json"),
        &json!({ "organization": "new-org", "project": "new-proj" }),
    );
    let e = effective(&cli, &[]).await;
    assert_eq!(e["organization"]["value"], "new-org");

    // Environment beats the files.
    cli.set_env("ATS_ORG", "e-org");
    cli.set_env("ATS_URL", "http://env.example:2");
    cli.set_env("ATS_ACTOR_ID", "e-actor");
    cli.set_env("ATS_API_KEY", "ats_env_key");
    let e = effective(&cli, &[]).await;
    assert_eq!(e["organization"]["value"], "e-org");
    assert_eq!(source(&e["organization"]), "environment (ATS_ORG)");
    assert_eq!(e["project"]["value"], "new-proj");
    assert_eq!(e["url"]["value"], "http://env.example:2");
    assert_eq!(e["actor_id"]["value"], "e-actor");
    assert_eq!(source(&e["credential"]), "environment (ATS_API_KEY)");

    // Flags beat everything.
    let e = effective(
        &cli,
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

    // The global file is not mistaken for a project binding when working under HOME.
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

    // A broken config file is a configuration error (exit 2).
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
    app.actor("human", "anonymous")
        .post("/orgs", json!({ "slug": "acme", "name": "Acme" }))
        .await
        .expect(201);
    app.actor("human", "anonymous")
        .post(
            "/orgs/acme/projects",
            json!({ "slug": "web", "name": "Web" }),
        )
        .await
        .expect(201);
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

/// `project init` (existence check, --skip-existence-check, --force, flags form),
/// `switch`, `current`.
async fn project_init_and_switch(app: TestApp) {
    let mut cli = Cli::new(&app.base);
    let binding = cli.cwd.join(".ats/project.json");

    // The project must exist unless told otherwise; nothing is written on refusal.
    let refused = cli.run(&["project", "init", "acme/web"]).await.code(1);
    assert!(
        refused.stderr.contains("--skip-existence-check"),
        "{refused:?}"
    );
    assert!(!binding.exists());
    cli.run(&["project", "init", "acme/web", "--skip-existence-check"])
        .await
        .ok();
    assert_eq!(
        read(&binding),
        json!({ "organization": "acme", "project": "web" })
    );

    // A second init needs --force.
    cli.run(&["project", "create", "acme/api"]).await.ok();
    let again = cli.run(&["project", "init", "acme/api"]).await.code(2);
    assert!(again.stderr.contains("--force"), "{again:?}");
    assert_eq!(read(&binding)["project"], "web");
    cli.run(&["project", "init", "acme/api", "--force"])
        .await
        .ok();
    assert_eq!(read(&binding)["project"], "api");
    // The flags form.
    cli.run(&[
        "project",
        "init",
        "--org",
        "default",
        "--project",
        "main",
        "--force",
    ])
    .await
    .ok();
    assert_eq!(
        read(&binding),
        json!({ "organization": "default", "project": "main" })
    );
    let none = cli.run(&["project", "init", "--force"]).await.code(2);
    assert!(none.stderr.contains("org/project"), "{none:?}");
    let bad = cli
        .run(&["project", "init", "no-slash", "--force"])
        .await
        .code(2);
    assert!(bad.stderr.contains("org/project"), "{bad:?}");

    // switch: the global default, checked on the server; other keys kept.
    let global = cli.home.path().join(".ats/config");
    // (The actor is the one that created acme above: others may not see it.)
    write(
        &global,
        &json!({ "url": app.base, "actor": { "type": "human", "id": "anonymous", "name": "Me" } }),
    );
    cli.run(&["project", "switch", "acme/nope"]).await.code(1);
    cli.run(&["project", "switch", "acme/api"]).await.ok();
    let g = read(&global);
    assert_eq!(g["organization"], "acme");
    assert_eq!(g["project"], "api");
    assert_eq!(g["actor"]["name"], "Me");
    assert_eq!(g["url"], app.base);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&global).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "config files are private");
    }
    // Here the local binding still wins; elsewhere the switched default applies.
    let here = cli
        .run(&["project", "current", "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(
        (here["organization"].as_str(), here["project"].as_str()),
        (Some("default"), Some("main"))
    );
    assert!(here["source"].as_str().unwrap().starts_with("project file"));
    let elsewhere = TempDir::new("elsewhere");
    cli.cwd = elsewhere.path().to_owned();
    let there = cli
        .run(&["project", "current", "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(
        (there["organization"].as_str(), there["project"].as_str()),
        (Some("acme"), Some("api"))
    );
    assert!(
        there["source"]
            .as_str()
            .unwrap()
            .starts_with("global config")
    );
    let t = cli
        .run(&["create", "in api", "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(t["project"], "api");
    cli.run(&["project", "switch", "ghost/town", "--skip-existence-check"])
        .await
        .ok();
    assert_eq!(read(&global)["organization"], "ghost");
}

/// `project rename` renames on the server and follows in local and global config.
async fn project_rename_follows_config(app: TestApp) {
    let cli = Cli::new(&app.base);
    cli.run(&["project", "create", "acme/web", "--name", "Website"])
        .await
        .ok();
    cli.run(&["project", "init", "acme/web"]).await.ok();
    cli.run(&["project", "switch", "acme/web"]).await.ok();
    let binding = cli.cwd.join(".ats/project.json");
    let global = cli.home.path().join(".ats/config");

    // A new slug, given as org/new.
    cli.run(&["project", "rename", "acme/web", "acme/site"])
        .await
        .ok();
    app.client()
        .get("/orgs/acme/projects/site")
        .await
        .expect(200);
    app.client()
        .get("/orgs/acme/projects/web")
        .await
        .expect_error(404);
    assert_eq!(read(&binding)["project"], "site");
    assert_eq!(read(&global)["project"], "site");

    // --slug and --name.
    cli.run(&["project", "rename", "acme/site", "--slug", "www"])
        .await
        .ok();
    let renamed = cli
        .run(&[
            "project",
            "rename",
            "acme/www",
            "--name",
            "New Display Name",
            "-f",
            "json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(renamed["name"], "New Display Name");
    assert_eq!(renamed["slug"], "www");
    assert_eq!(read(&binding)["project"], "www");

    // Org and project together.
    cli.run(&["project", "rename", "acme/www", "globex/portal"])
        .await
        .ok();
    let p = app
        .client()
        .get("/orgs/globex/projects/portal")
        .await
        .expect(200);
    assert_eq!(p["project"]["name"], "New Display Name");
    assert_eq!(
        read(&binding),
        json!({ "organization": "globex", "project": "portal" })
    );
    assert_eq!(read(&global)["organization"], "globex");
    let current = cli.run(&["project", "current"]).await.ok();
    assert!(current.stdout.starts_with("globex/portal"), "{current:?}");
    // Unrelated configs are left alone; nothing to rename is a usage error.
    cli.run(&["project", "rename", "globex/portal"])
        .await
        .code(2);
    let missing = cli
        .run(&["project", "rename", "globex/nope", "--slug", "x"])
        .await
        .code(1);
    assert!(missing.stderr.contains("not found"), "{missing:?}");
}
