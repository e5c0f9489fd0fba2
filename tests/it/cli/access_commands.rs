//! The `ats` access commands against a server that requires credentials:
//! members, invitations, permissions, guardians, and `watch` with a key.

use std::time::Duration;

use crate::common::TestApp;
use crate::common::cli::{Cli, TempDir};

crate::on_both_backends!(
    start = crate::common::TestApp::required_auth;
    members_are_added_listed_changed_and_removed,
    invitations_by_actor_are_accepted_and_by_email_declined,
    a_read_grant_opens_one_project_until_revoked,
    a_guardian_confirms_a_link_and_issues_the_agent_keys,
    watch_sends_the_key_and_is_refused_without_one,
);

const PASSWORD: &str = "a long password 123";

/// Registers `type:id` through the CLI and returns a user holding its API key.
async fn registered(app: &TestApp, actor_type: &str, id: &str) -> Cli {
    let email = format!("{id}@example.com");
    let cli = Cli::new(&app.base);
    let reg = cli
        .run(&[
            "auth",
            "register",
            "--type",
            actor_type,
            "--id",
            id,
            "--email",
            &email,
            "--password",
            PASSWORD,
            "-f",
            "json",
        ])
        .await
        .ok()
        .json();
    let key = reg["api_key"].as_str().expect("api key").to_owned();
    cli.env("ATS_API_KEY", &key)
}

/// `human:olga`, who made acme/web, bound to acme by environment.
async fn olga_in_acme(app: &TestApp) -> Cli {
    let owner = registered(app, "human", "olga").await;
    owner.run(&["project", "create", "acme/web"]).await.ok();
    owner.clone_env_org("acme")
}

async fn members_are_added_listed_changed_and_removed(app: TestApp) {
    let owner_acme = olga_in_acme(&app).await;
    let bot = registered(&app, "agent", "bot").await;
    let acme = |c: &Cli| c.clone_env_org("acme");
    let added = owner_acme
        .run(&[
            "member",
            "add",
            "agent:bot",
            "--role",
            "member",
            "-f",
            "json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(added["role"], "member");
    let bot_web = bot.with_project("acme", "web");
    bot_web.run(&["create", "from bot"]).await.ok();
    let members = owner_acme
        .run(&["member", "list", "-f", "json"])
        .await
        .ok()
        .json();
    let ids: Vec<&str> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["actor_id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"olga") && ids.contains(&"bot"), "{members}");
    let table = owner_acme.run(&["member", "list"]).await.ok();
    assert!(
        table.stdout.contains("agent:bot") && table.stdout.contains("owner"),
        "{table:?}"
    );
    owner_acme
        .run(&["member", "set-role", "agent:bot", "viewer"])
        .await
        .ok();
    // A viewer reads but may not write: 403 with the server's sentence.
    bot_web.run(&["list"]).await.ok();
    let denied = bot_web.run(&["create", "as viewer"]).await.code(1);
    assert!(
        denied
            .stderr
            .contains("Error: you may read but not change the tasks of acme/web"),
        "{denied:?}"
    );
    // Members cannot manage members.
    let not_admin = acme(&bot)
        .run(&["member", "add", "human:sam"])
        .await
        .code(1);
    assert!(not_admin.stderr.starts_with("Error: "), "{not_admin:?}");
    owner_acme
        .run(&["member", "remove", "agent:bot"])
        .await
        .ok();
    let gone = bot_web.run(&["list"]).await.code(1);
    assert!(gone.stderr.contains("not found"), "{gone:?}");
    owner_acme.run(&["member", "add", "bot"]).await.code(2);
}

async fn invitations_by_actor_are_accepted_and_by_email_declined(app: TestApp) {
    let owner_acme = olga_in_acme(&app).await;
    let ivan = registered(&app, "human", "ivan").await;
    let sam = registered(&app, "human", "sam").await;
    let inv = owner_acme
        .run(&[
            "invitation",
            "create",
            "--actor",
            "human:ivan",
            "--role",
            "member",
            "-f",
            "json",
        ])
        .await
        .ok()
        .json();
    let token = inv["token"].as_str().unwrap().to_owned();
    let org_list = owner_acme
        .run(&["invitation", "list", "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(org_list.as_array().unwrap().len(), 1);
    let mine = ivan
        .run(&["invitation", "mine", "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(mine[0]["org"], "acme");
    let mine_table = ivan.run(&["invitation", "mine"]).await.ok();
    assert!(
        mine_table.stdout.contains("acme") && mine_table.stdout.contains("pending"),
        "{mine_table:?}"
    );
    let accepted = ivan.run(&["invitation", "accept", &token]).await.ok();
    assert!(accepted.stdout.contains("accepted"), "{accepted:?}");
    ivan.with_project("acme", "web")
        .run(&["create", "ivan's"])
        .await
        .ok();
    let by_mail = owner_acme
        .run(&[
            "invite",
            "create",
            "--email",
            "sam@example.com",
            "-f",
            "json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(by_mail["invitation"]["email"], "sam@example.com");
    let mail_token = by_mail["token"].as_str().unwrap();
    let declined = sam
        .run(&["invitation", "decline", mail_token, "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(declined["status"], "declined");
    owner_acme.run(&["invitation", "create"]).await.code(2);
}

async fn a_read_grant_opens_one_project_until_revoked(app: TestApp) {
    let owner_acme = olga_in_acme(&app).await;
    let sam = registered(&app, "human", "sam").await;
    let owner_web = owner_acme.with_project("acme", "web");
    for title in ["one", "two"] {
        owner_web.run(&["create", title]).await.ok();
    }
    let sam_web = sam.with_project("acme", "web");
    sam_web.run(&["list"]).await.code(1);
    let grant = owner_acme
        .run(&[
            "permission",
            "grant",
            "human:sam",
            "--namespace",
            "web",
            "--access",
            "r",
            "-f",
            "json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(grant["access"], "r");
    let tasks = sam_web.run(&["list", "-f", "json"]).await.ok().json();
    assert_eq!(tasks.as_array().unwrap().len(), 2);
    let write = sam_web.run(&["create", "nope"]).await.code(1);
    assert!(
        write
            .stderr
            .contains("Error: you may read but not change the tasks"),
        "{write:?}"
    );
    let perms = owner_acme
        .run(&["permission", "list", "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(perms[0]["namespace"], "web");
    let ptable = owner_acme.run(&["permission", "list"]).await.ok();
    assert!(ptable.stdout.contains("human:sam"), "{ptable:?}");
    owner_acme
        .run(&[
            "permission",
            "revoke",
            &grant["id"].as_i64().unwrap().to_string(),
        ])
        .await
        .ok();
    sam_web.run(&["list"]).await.code(1);
}

async fn a_guardian_confirms_a_link_and_issues_the_agent_keys(app: TestApp) {
    let agent = registered(&app, "agent", "helper-bot").await;
    let human = registered(&app, "human", "dana").await;
    let link = agent
        .run(&["guardian", "link", "-f", "json"])
        .await
        .ok()
        .json();
    let token = link["token"].as_str().unwrap().to_owned();
    let shown = agent.run(&["guardian", "link"]).await.ok();
    assert!(shown.stdout.contains("ats guardian confirm"), "{shown:?}");
    // Only a human can be a guardian.
    let not_human = agent.run(&["guardian", "confirm", &token]).await.code(1);
    assert!(
        not_human
            .stderr
            .contains("Error: only humans can become guardians"),
        "{not_human:?}"
    );
    let g = human
        .run(&["guardian", "confirm", &token, "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(g["agent"]["actor_id"], "helper-bot");
    assert_eq!(g["guardian"]["actor_id"], "dana");
    let mine = human
        .run(&["guardian", "list", "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(mine["guarded_agents"].as_array().unwrap().len(), 1);
    let theirs = agent.run(&["guardian", "list"]).await.ok();
    assert!(theirs.stdout.contains("human:dana"), "{theirs:?}");

    // The guardian issues a key for the agent; the agent can use it.
    let issued = human
        .run(&[
            "guardian",
            "issue-key",
            "helper-bot",
            "--name",
            "from dana",
            "-f",
            "json",
        ])
        .await
        .ok()
        .json();
    let key = issued["key"].as_str().unwrap();
    let as_agent = Cli::new(&app.base).env("ATS_API_KEY", key);
    assert_eq!(
        as_agent
            .run(&["auth", "me", "-f", "json"])
            .await
            .ok()
            .json()["actor_id"],
        "helper-bot"
    );

    let id = g["id"].as_i64().unwrap().to_string();
    agent.run(&["guardian", "remove", &id]).await.ok();
    let after = human
        .run(&["guardian", "list", "-f", "json"])
        .await
        .ok()
        .json();
    assert!(after["guarded_agents"].as_array().unwrap().is_empty());
    human
        .run(&["guardian", "issue-key", "helper-bot"])
        .await
        .code(1);
}

/// `watch` sends the key on the WebSocket; without one it is refused.
async fn watch_sends_the_key_and_is_refused_without_one(app: TestApp) {
    let alice = registered(&app, "human", "alice").await;
    let refused = Cli::new(&app.base).run(&["watch"]).await.code(1);
    assert!(
        refused.stderr.contains("credentials required"),
        "{refused:?}"
    );

    let dir = TempDir::new("watchkey");
    let out = dir.path().join("w.out");
    let err = dir.path().join("w.err");
    let mut child = alice.spawn(&["watch", "-f", "json"], &out, &err);
    let mut seen = String::new();
    for _ in 0..200 {
        if app.metric("ats_open_subscriptions").await >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    alice.run(&["create", "watched"]).await.ok();
    for _ in 0..200 {
        seen = std::fs::read_to_string(&out).unwrap_or_default();
        if !seen.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let line: serde_json::Value =
        serde_json::from_str(seen.lines().next().expect("an event")).unwrap();
    assert_eq!(line["event"], "task.created");
    assert_eq!(line["title"], "watched");
    assert_eq!(line["actor_id"], "alice");
}
