//! The identity and access commands against a server that requires
//! credentials: auth (register, login, me), api-keys, members, invitations,
//! permissions, guardians, and `watch` with a key.

use std::time::Duration;

use crate::common::TestApp;
use crate::common::cli::{Cli, TempDir};

crate::on_both_backends!(
    start = crate::common::TestApp::required_auth;
    auth_and_api_keys,
    members_invitations_permissions,
    guardians,
    watch_with_a_key,
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

async fn auth_and_api_keys(app: TestApp) {
    // Without credentials: the server's 401 sentence, exit 1.
    let nobody = Cli::new(&app.base);
    let refused = nobody.run(&["list"]).await.code(1);
    assert!(
        refused.stderr.contains("credentials required"),
        "{refused:?}"
    );
    assert!(refused.stderr.contains("UNAUTHENTICATED"), "{refused:?}");
    // Actor flags do not help in required mode.
    nobody.run(&["list", "--actor-id", "someone"]).await.code(1);
    // /health needs nothing.
    nobody.run(&["health"]).await.ok();

    // register: the key is shown once; --save keeps it in ~/.ats/config (0600).
    let alice = Cli::new(&app.base);
    let reg = alice
        .run(&[
            "auth",
            "register",
            "--id",
            "alice",
            "--name",
            "Alice",
            "--email",
            "alice@example.com",
            "--password",
            PASSWORD,
            "--save",
        ])
        .await
        .ok();
    assert!(reg.stdout.contains("✓ Registered human:alice"), "{reg:?}");
    let key_line = reg
        .stdout
        .lines()
        .find(|l| l.starts_with("API key"))
        .unwrap();
    let key = key_line.rsplit(' ').next().unwrap().to_owned();
    assert!(key.starts_with("ats_"), "{key_line}");
    let global = alice.home.path().join(".ats/config");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&global).unwrap()).unwrap();
    assert_eq!(saved["api_key"], key);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&global).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let me = alice.run(&["auth", "me", "-f", "json"]).await.ok().json();
    assert_eq!(me["actor_id"], "alice");
    assert_eq!(me["display_name"], "Alice");
    let table = alice.run(&["auth", "me"]).await.ok();
    assert!(table.stdout.starts_with("human:alice (Alice)"), "{table:?}");
    // Tasks are created as the key's identity.
    let t = alice
        .run(&["create", "mine", "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(t["source_id"], "alice");
    // PATCH /auth/me through flags.
    let changed = alice
        .run(&[
            "auth",
            "me",
            "--name",
            "Alice A.",
            "--profile",
            r#"{"team":"ops"}"#,
            "-f",
            "json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(changed["display_name"], "Alice A.");
    assert_eq!(changed["profile"]["team"], "ops");
    let whois = Cli::new(&app.base)
        .env("ATS_API_KEY", &key)
        .run(&["auth", "whois", "alice", "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(whois["display_name"], "Alice A.");
    assert!(whois.get("email").is_none(), "public fields only: {whois}");

    // login by email saves a token; the token then authenticates.
    let laptop = Cli::new(&app.base);
    let bad = laptop
        .run(&[
            "auth",
            "login",
            "--email",
            "alice@example.com",
            "--password",
            "wrong password!",
        ])
        .await
        .code(1);
    assert!(bad.stderr.contains("UNAUTHENTICATED"), "{bad:?}");
    let login = laptop
        .run(&[
            "auth",
            "login",
            "--email",
            "alice@example.com",
            "--password",
            PASSWORD,
        ])
        .await
        .ok();
    assert!(
        login.stdout.contains("Logged in as human:alice"),
        "{login:?}"
    );
    let cfg: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(laptop.home.path().join(".ats/config")).unwrap(),
    )
    .unwrap();
    assert!(cfg["token"].as_str().unwrap().starts_with("ey"), "{cfg}");
    assert_eq!(
        laptop.run(&["auth", "me", "-f", "json"]).await.ok().json()["actor_id"],
        "alice"
    );
    // By actor id, with the password from ATS_PASSWORD.
    let by_id = Cli::new(&app.base).env("ATS_PASSWORD", PASSWORD);
    by_id
        .run(&["auth", "login", "--id", "alice", "--type", "human"])
        .await
        .ok();
    by_id.run(&["auth", "me"]).await.ok();
    // ATS_API_KEY wins over the saved token; a bad one is refused.
    let wrong = laptop
        .run(&["auth", "me", "--api-key", "ats_not_a_key"])
        .await
        .code(1);
    assert!(wrong.stderr.contains("UNAUTHENTICATED"), "{wrong:?}");
    // logout forgets it.
    laptop.run(&["auth", "logout"]).await.ok();
    laptop.run(&["auth", "me"]).await.code(1);

    // API keys: create (shown once), list (prefix only), use, revoke.
    let created = alice
        .run(&["api-key", "create", "ci", "-f", "json"])
        .await
        .ok()
        .json();
    let ci_key = created["key"].as_str().unwrap().to_owned();
    let ci_id = created["id"].as_i64().unwrap().to_string();
    let ci = Cli::new(&app.base).env("ATS_API_KEY", &ci_key);
    assert_eq!(
        ci.run(&["auth", "me", "-f", "json"]).await.ok().json()["actor_id"],
        "alice"
    );
    let keys = alice
        .run(&["api-key", "list", "-f", "json"])
        .await
        .ok()
        .json();
    let listed = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "ci")
        .unwrap();
    assert!(listed.get("key").is_none_or(|k| k.is_null()), "{listed}");
    assert!(ci_key.starts_with(listed["prefix"].as_str().unwrap()));
    let table = alice.run(&["api-key", "list"]).await.ok();
    assert!(
        table.stdout.contains("ci") && table.stdout.contains("PREFIX"),
        "{table:?}"
    );
    alice.run(&["api-key", "revoke", &ci_id]).await.ok();
    ci.run(&["auth", "me"]).await.code(1);
    let expiring = alice
        .run(&[
            "api-key",
            "create",
            "short",
            "--expires-at",
            "2099-01-01T00:00:00Z",
            "-f",
            "json",
        ])
        .await
        .ok()
        .json();
    assert!(
        expiring["expires_at"]
            .as_str()
            .unwrap()
            .starts_with("2099-01-01")
    );
}

async fn members_invitations_permissions(app: TestApp) {
    let owner = registered(&app, "human", "olga").await;
    let bot = registered(&app, "agent", "bot").await;
    let ivan = registered(&app, "human", "ivan").await;
    let sam = registered(&app, "human", "sam").await;
    owner.run(&["project", "create", "acme/web"]).await.ok();
    let acme = |c: &Cli| c.clone_env_org("acme");
    let owner_acme = acme(&owner);

    // Members: add, list, change role, remove.
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
    assert!(denied.stderr.contains("FORBIDDEN"), "{denied:?}");
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
    assert!(gone.stderr.contains("NOT_FOUND"), "{gone:?}");
    owner_acme.run(&["member", "add", "bot"]).await.code(2);

    // Invitations: by actor, listed by both sides, accepted; by email, declined.
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

    // Permissions: a read grant on one project, then revoked.
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
    assert!(write.stderr.contains("FORBIDDEN"), "{write:?}");
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

async fn guardians(app: TestApp) {
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
    assert!(not_human.stderr.contains("FORBIDDEN"), "{not_human:?}");
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
async fn watch_with_a_key(app: TestApp) {
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
