//! Identity: register, login, me; API keys; guardians.

use serde_json::{Value, json};

use super::{Ctx, json_arg, unwrap_key};
use crate::cli::{ApiKeyCmd, AuthCmd, GuardianCmd};
use crate::client::segs;
use crate::error::{CliError, CliResult};
use crate::output::{short_time, text};

fn print_identity(ctx: &Ctx, identity: &Value) {
    if ctx.out.json() {
        ctx.out.print_json(identity);
        return;
    }
    println!(
        "{}:{} ({})",
        text(&identity["actor_type"]),
        text(&identity["actor_id"]),
        text(&identity["display_name"])
    );
    for k in ["email", "created_at"] {
        if !identity[k].is_null() {
            println!("  {:<11} {}", format!("{k}:"), text(&identity[k]));
        }
    }
    if identity["profile"]
        .as_object()
        .is_some_and(|p| !p.is_empty())
    {
        println!("  profile:    {}", identity["profile"]);
    }
}

/// What a key may do, in a word or a list: `all`, `read-only`, projects.
fn key_scope(k: &Value) -> String {
    let projects: Vec<String> = k["projects"]
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    match (k["read_only"].as_bool() == Some(true), projects.is_empty()) {
        (false, true) => "all".to_owned(),
        (true, true) => "read-only".to_owned(),
        (false, false) => projects.join(","),
        (true, false) => format!("read-only {}", projects.join(",")),
    }
}

/// Saves (or with `None` removes) a secret in `~/.ats/config`.
fn save_secret(ctx: &Ctx, key: &str, value: Option<&str>) -> CliResult<String> {
    let mut global = ctx.settings.global.clone();
    global.set(key, value.map(|v| json!(v)));
    global.save()?;
    Ok(global.path.display().to_string())
}

/// After a password change or reset: saves the new login token (earlier
/// ones no longer work) and says so.
fn signed_in_again(ctx: &Ctx, res: &Value, what: &str) -> CliResult<()> {
    let path = save_secret(ctx, "token", res["token"].as_str())?;
    if ctx.out.json() {
        ctx.out.print_json(res);
    } else {
        ctx.out.confirm(&format!(
            "{what} for {}:{}; earlier login tokens no longer work (new token saved in {path})",
            text(&res["identity"]["actor_type"]),
            text(&res["identity"]["actor_id"]),
        ));
    }
    Ok(())
}

/// `ats auth …`.
pub async fn auth(ctx: &Ctx, cmd: &AuthCmd) -> CliResult<()> {
    let out = &ctx.out;
    match cmd {
        AuthCmd::Register {
            id,
            actor_type,
            name,
            email,
            password,
            save,
            invitation,
        } => {
            let mut body = json!({ "actor_type": actor_type, "actor_id": id });
            for (k, v) in [
                ("display_name", name),
                ("email", email),
                ("password", password),
                ("invitation", invitation),
            ] {
                if let Some(v) = v {
                    body[k] = json!(v);
                }
            }
            let reg = ctx.client.post(&segs(&["auth", "register"]), &body).await?;
            let key = text(&reg["api_key"]);
            let saved = if *save {
                Some(save_secret(ctx, "api_key", Some(&key))?)
            } else {
                None
            };
            if out.json() {
                out.print_json(&reg);
            } else {
                out.confirm(&format!("Registered {actor_type}:{id}"));
                println!("API key (shown once, keep it safe): {key}");
            }
            if let Some(path) = saved {
                eprintln!("API key saved in {path}");
            }
        }
        AuthCmd::Login {
            email,
            id,
            actor_type,
            password,
        } => {
            let mut body = json!({ "password": password });
            match (email, id) {
                (Some(e), _) => body["email"] = json!(e),
                (None, Some(i)) => {
                    body["actor_id"] = json!(i);
                    if let Some(t) = actor_type {
                        body["actor_type"] = json!(t);
                    }
                }
                (None, None) => return Err(CliError::usage("log in with --email or --id")),
            }
            let res = ctx.client.post(&segs(&["auth", "login"]), &body).await?;
            let path = save_secret(ctx, "token", res["token"].as_str())?;
            // Who signed in (never the password): with ATS_PASSWORD set, the
            // CLI signs in again by itself when the token expires.
            let mut login = body.clone();
            if let Some(o) = login.as_object_mut() {
                o.remove("password");
            }
            let mut global = crate::config::ConfigFile::load(ctx.settings.global.path.clone())?;
            global.set("login", Some(login));
            global.save()?;
            if out.json() {
                out.print_json(&res);
            } else {
                out.confirm(&format!(
                    "Logged in as {}:{} (token saved in {path}, valid until {})",
                    text(&res["identity"]["actor_type"]),
                    text(&res["identity"]["actor_id"]),
                    short_time(&res["expires_at"])
                ));
                if ctx.settings.global.get("api_key").is_some() {
                    println!(
                        "Note: an api_key in {path} takes precedence over the token; remove it with `ats auth logout` first if needed."
                    );
                }
            }
        }
        AuthCmd::Logout => {
            // End the session server-side first; a token the server no
            // longer accepts (expired, already ended) is simply forgotten.
            let mut ended = false;
            if let Some(token) = ctx.settings.global.get("token") {
                match ctx
                    .client
                    .with_bearer(&token)
                    .post(&segs(&["auth", "logout"]), &json!({}))
                    .await
                {
                    Ok(_) => ended = true,
                    Err(CliError::Server { status: 401, .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            let mut global = ctx.settings.global.clone();
            global.set("token", None);
            global.set("api_key", None);
            global.set("login", None);
            if global.exists {
                global.save()?;
            }
            if out.json() {
                out.print_json(&json!({ "logged_out": true, "session_ended": ended }));
            } else if ended {
                out.confirm("Ended the session and removed the saved token and API key");
            } else {
                out.confirm("Removed the saved token and API key");
            }
        }
        AuthCmd::Password {
            current,
            new_password,
        } => {
            let body = json!({ "current_password": current, "new_password": new_password });
            let res = ctx.client.post(&segs(&["auth", "password"]), &body).await?;
            signed_in_again(ctx, &res, "Password changed")?;
        }
        AuthCmd::ResetPassword {
            token,
            new_password,
        } => {
            let body = json!({ "token": token, "new_password": new_password });
            let res = ctx
                .client
                .post(&segs(&["auth", "password", "reset"]), &body)
                .await?;
            signed_in_again(ctx, &res, "Password reset")?;
        }
        AuthCmd::Me {
            name,
            email,
            profile,
        } => {
            let mut patch = serde_json::Map::new();
            if let Some(n) = name {
                patch.insert("display_name".into(), json!(n));
            }
            if let Some(e) = email {
                patch.insert("email".into(), json!(e));
            }
            if let Some(p) = profile {
                patch.insert("profile".into(), json_arg("--profile", p)?);
            }
            let body = if patch.is_empty() {
                ctx.client.get(&segs(&["auth", "me"]), &[]).await?
            } else {
                ctx.client
                    .patch(&segs(&["auth", "me"]), &Value::Object(patch))
                    .await?
            };
            print_identity(ctx, &unwrap_key(body, "identity"));
        }
        AuthCmd::Whois {
            actor_id,
            actor_type,
        } => {
            let q: Vec<(&str, String)> = actor_type
                .iter()
                .map(|t| ("actor_type", t.clone()))
                .collect();
            let body = ctx
                .client
                .get(&segs(&["auth", "identities", actor_id]), &q)
                .await?;
            print_identity(ctx, &unwrap_key(body, "identity"));
        }
    }
    Ok(())
}

fn print_new_key(ctx: &Ctx, key: &Value) {
    if ctx.out.json() {
        ctx.out.print_json(key);
    } else {
        ctx.out.confirm(&format!(
            "API key {} ({}) created",
            text(&key["id"]),
            text(&key["name"])
        ));
        println!("Key (shown once, keep it safe): {}", text(&key["key"]));
    }
}

/// `ats api-key …`.
pub async fn api_key(ctx: &Ctx, cmd: &ApiKeyCmd) -> CliResult<()> {
    let out = &ctx.out;
    match cmd {
        ApiKeyCmd::Create {
            name,
            expires_at,
            read_only,
            projects,
        } => {
            let mut body = json!({ "name": name });
            if let Some(e) = expires_at {
                body["expires_at"] = json!(e);
            }
            if *read_only {
                body["read_only"] = json!(true);
            }
            if !projects.is_empty() {
                body["projects"] = json!(projects);
            }
            let key = unwrap_key(
                ctx.client.post(&segs(&["auth", "api-keys"]), &body).await?,
                "api_key",
            );
            print_new_key(ctx, &key);
        }
        ApiKeyCmd::List => {
            let keys = unwrap_key(
                ctx.client.get(&segs(&["auth", "api-keys"]), &[]).await?,
                "api_keys",
            );
            if out.json() {
                out.print_json(&keys);
                return Ok(());
            }
            let rows = keys
                .as_array()
                .into_iter()
                .flatten()
                .map(|k| {
                    vec![
                        text(&k["id"]),
                        text(&k["name"]),
                        text(&k["prefix"]),
                        short_time(&k["created_at"]),
                        short_time(&k["last_used_at"]),
                        short_time(&k["expires_at"]),
                        key_scope(k),
                    ]
                })
                .collect();
            out.print_table(
                &[
                    "ID",
                    "NAME",
                    "PREFIX",
                    "CREATED",
                    "LAST USED",
                    "EXPIRES",
                    "SCOPE",
                ],
                rows,
            );
        }
        ApiKeyCmd::Revoke { id } => {
            let body = ctx
                .client
                .delete(&segs(&["auth", "api-keys", &id.to_string()]))
                .await?;
            if out.json() {
                out.print_json(&body);
            } else {
                out.confirm(&format!("API key {id} revoked"));
            }
        }
    }
    Ok(())
}

fn guardianship_row(g: &Value) -> Vec<String> {
    let who = |p: &Value| format!("{}:{}", text(&p["actor_type"]), text(&p["actor_id"]));
    vec![
        text(&g["id"]),
        who(&g["guardian"]),
        who(&g["agent"]),
        short_time(&g["created_at"]),
    ]
}

/// `ats guardian …`.
pub async fn guardian(ctx: &Ctx, cmd: &GuardianCmd) -> CliResult<()> {
    let out = &ctx.out;
    match cmd {
        GuardianCmd::Link => {
            let link = ctx
                .client
                .post(&segs(&["auth", "me", "guardian-link"]), &json!({}))
                .await?;
            if out.json() {
                out.print_json(&link);
            } else {
                out.confirm("Guardian link created");
                println!("Token: {}", text(&link["token"]));
                println!("Expires: {}", short_time(&link["expires_at"]));
                println!(
                    "Your guardian confirms with: ats guardian confirm {}",
                    text(&link["token"])
                );
            }
        }
        GuardianCmd::Confirm { token } => {
            let g = unwrap_key(
                ctx.client
                    .post(&segs(&["auth", "guardian-confirm", token]), &json!({}))
                    .await?,
                "guardianship",
            );
            if out.json() {
                out.print_json(&g);
            } else {
                out.confirm(&format!(
                    "You are now guardian of {}:{} (guardianship {})",
                    text(&g["agent"]["actor_type"]),
                    text(&g["agent"]["actor_id"]),
                    text(&g["id"])
                ));
            }
        }
        GuardianCmd::List => {
            let body = ctx
                .client
                .get(&segs(&["auth", "me", "guardians"]), &[])
                .await?;
            if out.json() {
                out.print_json(&body);
                return Ok(());
            }
            for (title, key) in [
                ("Guardians", "guardians"),
                ("Guarded agents", "guarded_agents"),
            ] {
                println!("{title}:");
                let rows: Vec<Vec<String>> = body[key]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(guardianship_row)
                    .collect();
                if rows.is_empty() {
                    println!("  none");
                } else {
                    out.print_table(&["ID", "GUARDIAN", "AGENT", "SINCE"], rows);
                }
            }
        }
        GuardianCmd::Remove { id } => {
            let body = ctx
                .client
                .delete(&segs(&["auth", "me", "guardians", &id.to_string()]))
                .await?;
            if out.json() {
                out.print_json(&body);
            } else {
                out.confirm(&format!("Guardianship {id} removed"));
            }
        }
        GuardianCmd::IssueKey { agent_id, name } => {
            let mut body = json!({});
            if let Some(n) = name {
                body["name"] = json!(n);
            }
            let key = unwrap_key(
                ctx.client
                    .post(&segs(&["auth", "guardians", agent_id, "api-keys"]), &body)
                    .await?,
                "api_key",
            );
            print_new_key(ctx, &key);
        }
    }
    Ok(())
}
