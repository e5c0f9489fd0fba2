//! Projects, organizations and the local project binding.

use serde_json::{Value, json};

use super::{Ctx, unwrap_key};
use crate::cli::ProjectCmd;
use crate::client::segs;
use crate::config::{ConfigFile, Source, split_project};
use crate::error::{CliError, CliResult};
use crate::output::text;

/// `ats project …`.
pub async fn project(ctx: &Ctx, cmd: &ProjectCmd) -> CliResult<()> {
    match cmd {
        ProjectCmd::Init {
            path,
            force,
            skip_existence_check,
        } => init(ctx, path.as_deref(), *force, *skip_existence_check).await,
        ProjectCmd::List => list(ctx).await,
        ProjectCmd::Create {
            path,
            name,
            description,
        } => create(ctx, path, name.as_deref(), description.as_deref()).await,
        ProjectCmd::Switch {
            path,
            skip_existence_check,
        } => switch(ctx, path, *skip_existence_check).await,
        ProjectCmd::Current => current(ctx),
        ProjectCmd::Show => show(ctx),
        ProjectCmd::Rename {
            from,
            to,
            slug,
            name,
        } => rename(ctx, from, to.as_deref(), slug.as_deref(), name.as_deref()).await,
        ProjectCmd::Delete { path, yes } => {
            let (org, project) = split_project(path)?;
            if !yes {
                return Err(CliError::usage(format!(
                    "deleting {path} removes all its tasks: add --yes to confirm"
                )));
            }
            let body = ctx
                .client
                .delete(&segs(&["orgs", &org, "projects", &project]))
                .await?;
            if ctx.out.json() {
                ctx.out.print_json(&body);
            } else {
                ctx.out.confirm(&format!("Project {path} deleted"));
            }
            Ok(())
        }
    }
}

/// Fails unless `org/project` exists on the server (and the caller can see it).
async fn check_exists(ctx: &Ctx, org: &str, project: &str) -> CliResult<Value> {
    match ctx
        .client
        .get(&segs(&["orgs", org, "projects", project]), &[])
        .await
    {
        Ok(body) => Ok(unwrap_key(body, "project")),
        Err(CliError::Server {
            status: 404,
            message,
            code,
        }) => Err(CliError::Server {
            status: 404,
            message: format!(
                "{message}. Create it with `ats project create {org}/{project}`, or pass --skip-existence-check"
            ),
            code,
        }),
        Err(e) => Err(e),
    }
}

/// The org/project named by a positional `org/project` or by `--org`/`--project`.
fn target(ctx: &Ctx, path: Option<&str>) -> CliResult<(String, String)> {
    if let Some(p) = path {
        return split_project(p);
    }
    let s = &ctx.settings;
    if s.org.source == Source::Flag || s.project.source == Source::Flag {
        return Ok((s.org.value.clone(), s.project.value.clone()));
    }
    Err(CliError::usage(
        "name the project: ats project init org/project (or --org ORG --project PROJECT)",
    ))
}

async fn init(ctx: &Ctx, path: Option<&str>, force: bool, skip: bool) -> CliResult<()> {
    let (org, project) = target(ctx, path)?;
    let file_path = ctx.cwd.join(".ats").join("project.json");
    if file_path.exists() && !force {
        return Err(CliError::usage(format!(
            "{} already exists; use --force to overwrite it",
            file_path.display()
        )));
    }
    if !skip {
        check_exists(ctx, &org, &project).await?;
    }
    let mut file = ConfigFile::load(file_path.clone()).unwrap_or(ConfigFile {
        path: file_path.clone(),
        data: Default::default(),
        exists: false,
    });
    file.data.clear();
    file.set("organization", Some(json!(org)));
    file.set("project", Some(json!(project)));
    file.save()?;
    if ctx.out.json() {
        ctx.out.print_json(&json!({
            "organization": org, "project": project, "path": file_path.display().to_string(),
        }));
    } else {
        ctx.out.confirm(&format!(
            "Bound {} to {org}/{project} ({})",
            ctx.cwd.display(),
            file_path.display()
        ));
    }
    Ok(())
}

async fn list(ctx: &Ctx) -> CliResult<()> {
    let orgs = unwrap_key(
        ctx.client.get(&segs(&["orgs"]), &[]).await?,
        "organizations",
    );
    let mut projects = Vec::new();
    for org in orgs.as_array().into_iter().flatten() {
        let slug = text(&org["slug"]);
        let body = ctx
            .client
            .get(
                &segs(&["orgs", &slug, "projects"]),
                &[("counts", "true".into())],
            )
            .await?;
        projects.extend(
            unwrap_key(body, "projects")
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
    }
    if ctx.out.json() {
        ctx.out.print_json(&Value::Array(projects));
        return Ok(());
    }
    let current = ctx.settings.project_path();
    let rows = projects
        .iter()
        .map(|p| {
            let path = format!("{}/{}", text(&p["org"]), text(&p["slug"]));
            vec![
                if path == current {
                    "*".into()
                } else {
                    String::new()
                },
                path,
                text(&p["name"]),
                text(&p["pending_count"]),
                text(&p["in_progress_count"]),
                text(&p["total_count"]),
            ]
        })
        .collect();
    ctx.out
        .print_table(&["", "PROJECT", "NAME", "PENDING", "ACTIVE", "TOTAL"], rows);
    Ok(())
}

async fn create(
    ctx: &Ctx,
    path: &str,
    name: Option<&str>,
    description: Option<&str>,
) -> CliResult<()> {
    let (org, project) = split_project(path)?;
    match ctx.client.get(&segs(&["orgs", &org]), &[]).await {
        Ok(_) => {}
        Err(CliError::Server { status: 404, .. }) => {
            ctx.client
                .post(&segs(&["orgs"]), &json!({ "slug": org, "name": org }))
                .await?;
            if !ctx.out.json() {
                ctx.out.confirm(&format!("Organization {org} created"));
            }
        }
        Err(e) => return Err(e),
    }
    let mut body = json!({ "slug": project, "name": name.unwrap_or(&project) });
    if let Some(d) = description {
        body["description"] = json!(d);
    }
    let created = unwrap_key(
        ctx.client
            .post(&segs(&["orgs", &org, "projects"]), &body)
            .await?,
        "project",
    );
    ctx.out.confirm(&format!("Project {org}/{project} created"));
    if ctx.out.json() {
        ctx.out.print_json(&created);
    }
    Ok(())
}

async fn switch(ctx: &Ctx, path: &str, skip: bool) -> CliResult<()> {
    let (org, project) = split_project(path)?;
    if !skip {
        check_exists(ctx, &org, &project).await?;
    }
    let mut global = ctx.settings.global.clone();
    global.set("organization", Some(json!(org)));
    global.set("project", Some(json!(project)));
    global.save()?;
    if ctx.out.json() {
        ctx.out
            .print_json(&json!({ "organization": org, "project": project }));
    } else {
        ctx.out.confirm(&format!(
            "Default project is now {org}/{project} ({})",
            global.path.display()
        ));
        if let Some(local) = &ctx.settings.local {
            println!(
                "Note: {} binds this directory to a project and takes precedence here.",
                local.path.display()
            );
        }
    }
    Ok(())
}

fn current(ctx: &Ctx) -> CliResult<()> {
    let s = &ctx.settings;
    // The project path's source is the stronger of the two settings' sources.
    let source = if s.project.source != Source::Default {
        &s.project.source
    } else {
        &s.org.source
    };
    if ctx.out.json() {
        ctx.out.print_json(&json!({
            "organization": s.org.value,
            "project": s.project.value,
            "source": source.to_string(),
            "organization_source": s.org.source.to_string(),
            "project_source": s.project.source.to_string(),
        }));
    } else {
        println!("{}", s.project_path());
        println!("  from {source}");
    }
    Ok(())
}

fn show(ctx: &Ctx) -> CliResult<()> {
    let s = &ctx.settings;
    let sourced = |v: &Option<crate::config::Sourced>| {
        v.as_ref().map_or(
            Value::Null,
            |v| json!({ "value": v.value, "source": v.source.to_string() }),
        )
    };
    let effective = json!({
        "url": { "value": s.url.value, "source": s.url.source.to_string() },
        "organization": { "value": s.org.value, "source": s.org.source.to_string() },
        "project": { "value": s.project.value, "source": s.project.source.to_string() },
        "actor_type": sourced(&s.actor_type),
        "actor_id": sourced(&s.actor_id),
        "actor_name": sourced(&s.actor_name),
        "credential": s.credential.as_ref().map_or(Value::Null, |c| json!({ "value": "<redacted>", "source": c.source.to_string() })),
        "channel": s.channel,
    });
    let global = json!({
        "path": s.global.path.display().to_string(),
        "exists": s.global.exists,
        "config": s.global.redacted(),
    });
    let local = s.local.as_ref().map_or(
        Value::Null,
        |l| json!({ "path": l.path.display().to_string(), "config": l.redacted() }),
    );
    if ctx.out.json() {
        ctx.out
            .print_json(&json!({ "global": global, "local": local, "effective": effective }));
        return Ok(());
    }
    println!(
        "Global config: {}{}",
        s.global.path.display(),
        if s.global.exists {
            ""
        } else {
            " (not present)"
        }
    );
    if s.global.exists {
        println!("  {}", s.global.redacted());
    }
    match &s.local {
        Some(l) => {
            println!("Local config:  {}", l.path.display());
            println!("  {}", l.redacted());
        }
        None => println!("Local config:  none (no .ats/project.json here or above)"),
    }
    println!("Effective:");
    for (k, v) in effective.as_object().into_iter().flatten() {
        match v {
            Value::Null => {}
            Value::Object(o) => {
                println!("  {k:<13} {}  ({})", text(&o["value"]), text(&o["source"]))
            }
            other => println!("  {k:<13} {}", text(other)),
        }
    }
    Ok(())
}

async fn rename(
    ctx: &Ctx,
    from: &str,
    to: Option<&str>,
    slug: Option<&str>,
    name: Option<&str>,
) -> CliResult<()> {
    let (old_org, old_project) = split_project(from)?;
    let (new_org, new_project) = match (to, slug) {
        (Some(_), Some(_)) => {
            return Err(CliError::usage(
                "give either a new org/project or --slug, not both",
            ));
        }
        (Some(to), None) => split_project(to)?,
        (None, Some(slug)) => (old_org.clone(), slug.to_owned()),
        (None, None) if name.is_some() => (old_org.clone(), old_project.clone()),
        (None, None) => {
            return Err(CliError::usage(
                "nothing to rename: give a new org/project, --slug or --name",
            ));
        }
    };
    if new_org != old_org {
        ctx.client
            .patch(&segs(&["orgs", &old_org]), &json!({ "slug": new_org }))
            .await?;
    }
    let mut patch = serde_json::Map::new();
    if new_project != old_project {
        patch.insert("slug".into(), json!(new_project));
    }
    if let Some(n) = name {
        patch.insert("name".into(), json!(n));
    }
    let project = if patch.is_empty() {
        unwrap_key(
            ctx.client
                .get(&segs(&["orgs", &new_org, "projects", &new_project]), &[])
                .await?,
            "project",
        )
    } else {
        unwrap_key(
            ctx.client
                .patch(
                    &segs(&["orgs", &new_org, "projects", &old_project]),
                    &Value::Object(patch),
                )
                .await?,
            "project",
        )
    };
    // Follow the rename in the config files that pointed at the old project.
    let mut updated = Vec::new();
    let files = std::iter::once(ctx.settings.global.clone()).chain(ctx.settings.local.clone());
    for mut file in files {
        let org = file.get("organization");
        let proj = file.get("project");
        if org.as_deref() != Some(old_org.as_str()) {
            continue;
        }
        if new_org != old_org {
            file.data.remove("org");
            file.set("organization", Some(json!(new_org)));
        }
        if proj.as_deref() == Some(old_project.as_str()) {
            file.set("project", Some(json!(new_project)));
        }
        file.save()?;
        updated.push(file.path.display().to_string());
    }
    if ctx.out.json() {
        ctx.out.print_json(&project);
    } else {
        ctx.out.confirm(&format!(
            "Renamed {from} to {new_org}/{new_project}{}",
            name.map(|n| format!(" ({n})")).unwrap_or_default()
        ));
        for p in updated {
            println!("  updated {p}");
        }
    }
    Ok(())
}
