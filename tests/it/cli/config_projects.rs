//! `ats project init/switch/current/rename` write the settings: a binding
//! for the working directory (the project must exist unless told otherwise;
//! a second init needs `--force`), the global default (checked on the
//! server, other keys kept, private), and renames that follow in both.

use serde_json::json;

use crate::common::TestApp;
use crate::common::cli::{Cli, TempDir, read_json as read, write_json as write};

crate::on_both_backends!(
    init_checks_the_project_unless_told_not_to,
    a_second_init_needs_force_and_flags_work_too,
    switch_sets_the_global_default_and_the_binding_still_wins,
    project_rename_follows_config,
);

/// The project must exist unless told otherwise; nothing is written on refusal.
async fn init_checks_the_project_unless_told_not_to(app: TestApp) {
    let cli = Cli::new(&app.base);
    let binding = cli.cwd.join(".ats/project.json");
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
}

async fn a_second_init_needs_force_and_flags_work_too(app: TestApp) {
    let cli = Cli::new(&app.base);
    let binding = cli.cwd.join(".ats/project.json");
    cli.run(&["project", "init", "acme/web", "--skip-existence-check"])
        .await
        .ok();
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
}

/// `switch` writes the global default, checked on the server, other keys
/// kept; here the local binding (default/main) still wins, elsewhere the
/// switched default applies.
async fn switch_sets_the_global_default_and_the_binding_still_wins(app: TestApp) {
    let mut cli = Cli::new(&app.base);
    cli.run(&["project", "create", "acme/api"]).await.ok();
    cli.run(&["project", "init", "default/main"]).await.ok();
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
    assert!(
        current.stdout.starts_with("Current project: globex/portal"),
        "{current:?}"
    );
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
