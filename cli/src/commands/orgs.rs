//! Organizations: list, create, show, update, delete.

use serde_json::{Value, json};

use super::{Ctx, unwrap_key};
use crate::cli::OrgCmd;
use crate::client::segs;
use crate::error::{CliError, CliResult};
use crate::output::{short_time, text};

/// `ats org …`.
pub async fn org(ctx: &Ctx, cmd: &OrgCmd) -> CliResult<()> {
    let out = &ctx.out;
    match cmd {
        OrgCmd::List => {
            let orgs = unwrap_key(
                ctx.client.get(&segs(&["orgs"]), &[]).await?,
                "organizations",
            );
            if out.json() {
                out.print_json(&orgs);
                return Ok(());
            }
            let rows = orgs
                .as_array()
                .into_iter()
                .flatten()
                .map(|o| {
                    vec![
                        text(&o["slug"]),
                        text(&o["name"]),
                        text(&o["role"]),
                        short_time(&o["created_at"]),
                    ]
                })
                .collect();
            out.print_table(&["ORG", "NAME", "ROLE", "CREATED"], rows);
        }
        OrgCmd::Create {
            slug,
            name,
            description,
        } => {
            let mut body = json!({ "slug": slug, "name": name.as_deref().unwrap_or(slug) });
            if let Some(d) = description {
                body["description"] = json!(d);
            }
            let o = unwrap_key(
                ctx.client.post(&segs(&["orgs"]), &body).await?,
                "organization",
            );
            out.confirm(&format!("Organization {slug} created"));
            if out.json() {
                out.print_json(&o);
            }
        }
        OrgCmd::Show { slug } => {
            let o = unwrap_key(
                ctx.client.get(&segs(&["orgs", slug]), &[]).await?,
                "organization",
            );
            if out.json() {
                out.print_json(&o);
            } else {
                println!("{} ({})", text(&o["slug"]), text(&o["name"]));
                for k in ["description", "role", "created_at", "updated_at"] {
                    if !o[k].is_null() {
                        println!("  {:<12} {}", format!("{k}:"), text(&o[k]));
                    }
                }
            }
        }
        OrgCmd::Update {
            slug,
            new_slug,
            name,
            description,
        } => {
            let mut body = serde_json::Map::new();
            for (k, v) in [
                ("slug", new_slug),
                ("name", name),
                ("description", description),
            ] {
                if let Some(v) = v {
                    body.insert(k.into(), json!(v));
                }
            }
            if body.is_empty() {
                return Err(CliError::usage(
                    "nothing to update: give --slug, --name or --description",
                ));
            }
            let o = unwrap_key(
                ctx.client
                    .patch(&segs(&["orgs", slug]), &Value::Object(body))
                    .await?,
                "organization",
            );
            out.confirm(&format!("Organization {} updated", text(&o["slug"])));
            if out.json() {
                out.print_json(&o);
            }
        }
        OrgCmd::Delete { slug, yes } => {
            if !yes {
                return Err(CliError::usage(format!(
                    "deleting {slug} removes all its projects and tasks: add --yes to confirm"
                )));
            }
            let body = ctx.client.delete(&segs(&["orgs", slug])).await?;
            if out.json() {
                out.print_json(&body);
            } else {
                out.confirm(&format!("Organization {slug} deleted"));
            }
        }
    }
    Ok(())
}
