//! `ats project` and `ats org` against a live server: creating a project
//! makes its org; `--org/--project` (or `ATS_ORG`/`ATS_PROJECT`) select the
//! scoped task routes; `project list` counts and marks the current one; org
//! commands; deletes need `--yes` and the owner; default/main stays.

use crate::common::TestApp;
use crate::common::cli::Cli;

crate::on_both_backends!(
    project_create_makes_the_org_and_a_second_reuses_it,
    org_and_project_select_the_scoped_task_routes,
    project_list_counts_and_marks_the_current_one,
    org_list_create_show_and_update,
    deletes_need_yes_and_the_owner,
    the_default_project_cannot_be_deleted,
);

/// `human:alice` (by `ATS_ACTOR_ID`) after `project create acme/web` ("Website", "the site").
async fn alice_with_acme_web(app: &TestApp) -> Cli {
    let cli = Cli::new(&app.base).env("ATS_ACTOR_ID", "alice");
    cli.run(&[
        "project",
        "create",
        "acme/web",
        "--name",
        "Website",
        "--description",
        "the site",
    ])
    .await
    .ok();
    cli
}

/// alice's acme/web and acme/api, and "Fix login" in acme/web created with
/// `--org acme --project web`; returns alice and the task id.
async fn scoped_task(app: &TestApp) -> (Cli, String) {
    let cli = alice_with_acme_web(app).await;
    cli.run(&["project", "create", "acme/api"]).await.ok();
    let scoped = cli
        .run(&[
            "--org",
            "acme",
            "--project",
            "web",
            "create",
            "Fix login",
            "-f",
            "json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(
        (scoped["org"].as_str(), scoped["project"].as_str()),
        (Some("acme"), Some("web"))
    );
    let id = scoped["id"].as_i64().unwrap().to_string();
    (cli, id)
}

/// alice bound to acme/web by environment.
fn web(app: &TestApp) -> Cli {
    Cli::new(&app.base)
        .env("ATS_ACTOR_ID", "alice")
        .env("ATS_ORG", "acme")
        .env("ATS_PROJECT", "web")
}

async fn project_create_makes_the_org_and_a_second_reuses_it(app: TestApp) {
    let cli = alice_with_acme_web(&app).await;
    let p = app
        .actor("human", "alice")
        .get("/orgs/acme/projects/web")
        .await
        .expect(200);
    assert_eq!(p["project"]["name"], "Website");
    assert_eq!(p["project"]["description"], "the site");
    // The org now exists: a second project reuses it.
    let second = cli
        .run(&["project", "create", "acme/api", "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(second["slug"], "api");
    assert_eq!(second["org"], "acme");
}

/// In another project the task is not found.
async fn org_and_project_select_the_scoped_task_routes(app: TestApp) {
    let (_, id) = scoped_task(&app).await;
    let web = web(&app);
    assert_eq!(
        web.run(&["list", "-f", "json"])
            .await
            .ok()
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    web.run(&["get", &id]).await.ok();
    let api = Cli::new(&app.base)
        .env("ATS_ACTOR_ID", "alice")
        .env("ATS_ORG", "acme")
        .env("ATS_PROJECT", "api");
    api.run(&["get", &id]).await.code(1);
    assert!(
        api.run(&["list", "-f", "json"])
            .await
            .ok()
            .json()
            .as_array()
            .unwrap()
            .is_empty()
    );
    let stats = web.run(&["stats", "-f", "json"]).await.ok().json();
    assert_eq!(stats["total"], 1);
}

/// Every org's projects, with counts, the current one marked.
async fn project_list_counts_and_marks_the_current_one(app: TestApp) {
    scoped_task(&app).await;
    let web = web(&app);
    let listed = web
        .run(&["project", "list", "-f", "json"])
        .await
        .ok()
        .json();
    let web_row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["org_slug"] == "acme" && p["project_slug"] == "web")
        .expect("acme/web listed");
    assert_eq!(web_row["pending_count"], 1);
    assert_eq!(web_row["total_count"], 1);
    let table = web.run(&["project", "list"]).await.ok();
    let marked: Vec<&str> = table
        .stdout
        .lines()
        .filter(|l| l.contains(" *  "))
        .collect();
    assert_eq!(marked.len(), 1, "{table:?}");
    assert!(
        marked[0].contains("acme/web") && marked[0].contains("Website"),
        "{table:?}"
    );
}

async fn org_list_create_show_and_update(app: TestApp) {
    let cli = alice_with_acme_web(&app).await;
    let orgs = cli.run(&["org", "list", "-f", "json"]).await.ok().json();
    let acme = orgs
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["slug"] == "acme")
        .unwrap();
    assert_eq!(acme["role"], "owner");
    cli.run(&["org", "create", "globex", "--name", "Globex"])
        .await
        .ok();
    let shown = cli
        .run(&["org", "show", "globex", "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(shown["name"], "Globex");
    let renamed = cli
        .run(&[
            "org",
            "update",
            "globex",
            "--name",
            "Globex Corp",
            "-f",
            "json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(renamed["name"], "Globex Corp");
}

/// Deletes need `--yes`; then they happen. Only the owner may delete:
/// someone else cannot even see the org.
async fn deletes_need_yes_and_the_owner(app: TestApp) {
    let cli = alice_with_acme_web(&app).await;
    cli.run(&["project", "create", "acme/api"]).await.ok();
    cli.run(&["org", "create", "globex", "--name", "Globex"])
        .await
        .ok();
    let unconfirmed = cli.run(&["project", "delete", "acme/api"]).await.code(2);
    assert!(unconfirmed.stderr.contains("--yes"), "{unconfirmed:?}");
    app.actor("human", "alice")
        .get("/orgs/acme/projects/api")
        .await
        .expect(200);
    cli.run(&["project", "delete", "acme/api", "--yes"])
        .await
        .ok();
    app.actor("human", "alice")
        .get("/orgs/acme/projects/api")
        .await
        .expect_error(404);
    cli.run(&["org", "delete", "globex"]).await.code(2);
    let bob = Cli::new(&app.base).env("ATS_ACTOR_ID", "bob");
    let refused = bob.run(&["org", "delete", "globex", "--yes"]).await.code(1);
    assert!(
        refused
            .stderr
            .contains("Error: organization 'globex' not found"),
        "{refused:?}"
    );
    cli.run(&["org", "delete", "globex", "--yes"]).await.ok();
    app.actor("human", "alice")
        .get("/orgs/globex")
        .await
        .expect_error(404);
}

/// The server's sentence, exit 1.
async fn the_default_project_cannot_be_deleted(app: TestApp) {
    let cli = Cli::new(&app.base).env("ATS_ACTOR_ID", "alice");
    let default = cli
        .run(&["project", "delete", "default/main", "--yes"])
        .await
        .code(1);
    assert!(default.stderr.starts_with("Error: "), "{default:?}");
}
