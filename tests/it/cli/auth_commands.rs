//! `ats auth` and `ats api-key` against a server that requires
//! credentials: refused without them, register (the key shown once, saved
//! privately with `--save`), `me` (read and changed), login by email or id,
//! credential precedence, logout, and API keys created, listed, used, revoked.

use crate::common::TestApp;
use crate::common::cli::Cli;

crate::on_both_backends!(
    start = crate::common::TestApp::required_auth;
    without_credentials_the_servers_sentence_and_exit_1,
    register_shows_the_key_once_and_save_keeps_it_private,
    tasks_are_the_keys_and_me_can_be_changed,
    login_saves_a_token_and_logout_forgets_it,
    api_keys_are_created_listed_used_and_revoked,
    logout_ends_the_session_and_password_changes_sign_in_again,
);

const PASSWORD: &str = "a long password 123";

async fn without_credentials_the_servers_sentence_and_exit_1(app: TestApp) {
    // Without credentials: the server's 401 sentence, exit 1.
    let nobody = Cli::new(&app.base);
    let refused = nobody.run(&["list"]).await.code(1);
    assert!(
        refused.stderr.contains("credentials required"),
        "{refused:?}"
    );
    // The original's line: the sentence alone, no code.
    assert!(!refused.stderr.contains("UNAUTHENTICATED"), "{refused:?}");
    // Actor flags do not help in required mode.
    nobody.run(&["list", "--actor-id", "someone"]).await.code(1);
    // /health needs nothing.
    nobody.run(&["health"]).await.ok();
}

/// Step: `human:alice` registers (name Alice, alice@example.com) with
/// `--save`; returns her and her key.
async fn alice(app: &TestApp) -> (Cli, String) {
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
    (alice, key)
}

async fn register_shows_the_key_once_and_save_keeps_it_private(app: TestApp) {
    alice(&app).await;
}

async fn tasks_are_the_keys_and_me_can_be_changed(app: TestApp) {
    let (alice, key) = alice(&app).await;
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
}

/// By email (a wrong password refused) or by actor id with `ATS_PASSWORD`;
/// `ATS_API_KEY` wins over the saved token.
async fn login_saves_a_token_and_logout_forgets_it(app: TestApp) {
    alice(&app).await;
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
    assert!(
        bad.stderr
            .contains("Error: wrong email, actor id or password"),
        "{bad:?}"
    );
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
    // A saved login token that no longer works (expired after its hour):
    // with ATS_PASSWORD the CLI signs in again by itself and saves the new
    // token; without it, it says to run `ats auth login`.
    let cfg_path = by_id.home.path().join(".ats/config");
    let stale = |path: &std::path::Path| {
        let mut cfg = crate::common::cli::read_json(path);
        cfg["token"] = serde_json::json!("eyJ.expired.token");
        crate::common::cli::write_json(path, &cfg);
    };
    stale(&cfg_path);
    let me = by_id.run(&["auth", "me", "-f", "json"]).await.ok().json();
    assert_eq!(me["actor_id"], "alice");
    let renewed = crate::common::cli::read_json(&cfg_path);
    assert!(
        renewed["token"].as_str().unwrap() != "eyJ.expired.token",
        "{renewed}"
    );
    assert!(renewed.get("password").is_none() && renewed["login"]["password"].is_null());
    stale(&cfg_path);
    let mut by_id = by_id;
    by_id.unset_env("ATS_PASSWORD");
    let expired = by_id.run(&["auth", "me"]).await.code(1);
    assert!(
        expired.stderr.contains("login session has expired")
            && expired.stderr.contains("run `ats auth login`"),
        "{expired:?}"
    );
    // ATS_API_KEY wins over the saved token; a bad one is refused.
    let wrong = laptop
        .run(&["auth", "me", "--api-key", "ats_not_a_key"])
        .await
        .code(1);
    assert!(
        wrong
            .stderr
            .contains("Error: invalid, expired or revoked credentials"),
        "{wrong:?}"
    );
    // logout forgets it.
    laptop.run(&["auth", "logout"]).await.ok();
    laptop.run(&["auth", "me"]).await.code(1);
}

/// Created (shown once), listed (prefix only), used, revoked; with an expiry.
async fn api_keys_are_created_listed_used_and_revoked(app: TestApp) {
    let (alice, _) = alice(&app).await;
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

/// `auth logout` ends the token's session on the server (a copy of the
/// token stops working too); `auth password` changes the password, ends
/// earlier tokens and saves the new one; `api-key create --read-only
/// --limit-to` makes a limited key, listed with its scope.
async fn logout_ends_the_session_and_password_changes_sign_in_again(app: TestApp) {
    let (alice, _) = alice(&app).await;
    let laptop = Cli::new(&app.base).env("ATS_PASSWORD", PASSWORD);
    let login = ["auth", "login", "--email", "alice@example.com"];
    laptop.run(&login).await.ok();
    let saved = |cli: &Cli| -> String {
        let cfg: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(cli.home.path().join(".ats/config")).unwrap(),
        )
        .unwrap();
        cfg["token"].as_str().unwrap_or_default().to_owned()
    };
    let copied = saved(&laptop);
    let out = laptop.run(&["auth", "logout"]).await.ok();
    assert!(out.stdout.contains("Ended the session"), "{out:?}");
    let stolen = laptop
        .run(&["auth", "me", "--api-key", &copied])
        .await
        .code(1);
    assert!(
        stolen
            .stderr
            .contains("Error: invalid, expired or revoked credentials"),
        "{stolen:?}"
    );

    laptop.run(&login).await.ok();
    let before = saved(&laptop);
    let changed = laptop
        .run(&["auth", "password", "--new", "another long password"])
        .await
        .ok();
    assert!(changed.stdout.contains("Password changed"), "{changed:?}");
    assert_ne!(saved(&laptop), before);
    laptop.run(&["auth", "me"]).await.ok();
    laptop
        .run(&["auth", "me", "--api-key", &before])
        .await
        .code(1);

    let key = alice
        .run(&[
            "api-key",
            "create",
            "ro",
            "--read-only",
            "--limit-to",
            "default/main",
            "-f",
            "json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(key["read_only"], true, "{key}");
    assert_eq!(
        key["projects"],
        serde_json::json!(["default/main"]),
        "{key}"
    );
    let list = alice.run(&["api-key", "list"]).await.ok();
    assert!(list.stdout.contains("read-only default/main"), "{list:?}");
}
