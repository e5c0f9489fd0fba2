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
    } else if ctx.out.modern {
        ctx.out.confirm(&format!(
            "Bound {} to {org}/{project} ({})",
            ctx.cwd.display(),
            file_path.display()
        ));
    } else {
        ctx.out
            .confirm(&format!("Directory bound to project: {org}/{project}"));
        println!("  Config: {}", file_path.display());
        println!();
        println!("All ats commands in this directory will now use this project.");
    }
    Ok(())
}

async fn list(ctx: &Ctx) -> CliResult<()> {
    let orgs = unwrap_key(
        ctx.client.get(&segs(&["orgs"]), &[]).await?,
        "organizations",
    );
    let mut projects = Vec::new();
    let orgs = orgs.as_array().cloned().unwrap_or_default();
    if orgs.is_empty() && !ctx.out.json() && !ctx.out.modern {
        println!("No organizations found. Create one with: ats project create <org/project>");
        return Ok(());
    }
    for org in &orgs {
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
    let current = ctx.settings.project_path();
    if !ctx.out.modern {
        return classic_list(ctx, &projects, &current);
    }
    if ctx.out.json() {
        ctx.out.print_json(&Value::Array(projects));
        return Ok(());
    }
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

/// `ats project list` as the original printed it: rows of `org/slug` (` *`
/// on the current one), name and counts, as a table or a JSON array.
fn classic_list(ctx: &Ctx, projects: &[Value], current: &str) -> CliResult<()> {
    let rows: Vec<Value> = projects
        .iter()
        .map(|p| {
            let (org, slug) = (text(&p["org"]), text(&p["slug"]));
            let path = format!("{org}/{slug}");
            let name = text(&p["name"]);
            let count = |k: &str| p[k].as_i64().unwrap_or(0);
            json!({
                "project": if path == current { format!("{path} *") } else { path },
                "name": if name.is_empty() { slug.clone() } else { name },
                "pending_count": count("pending_count"),
                "in_progress_count": count("in_progress_count"),
                "total_count": count("total_count"),
                "org_slug": org,
                "project_slug": slug,
            })
        })
        .collect();
    if ctx.out.json() {
        // Keys in the original's order.
        let keys = [
            "project",
            "name",
            "pending_count",
            "in_progress_count",
            "total_count",
            "org_slug",
            "project_slug",
        ];
        println!("{}", crate::output::ordered_json_array(&rows, &keys));
        return Ok(());
    }
    if rows.is_empty() {
        println!("No projects found. Create one with: ats project create <org/project>");
        return Ok(());
    }
    let cell = |k: &'static str| move |v: &Value| text(&v[k]);
    let (a, b, c, d, e) = (
        cell("project"),
        cell("name"),
        cell("pending_count"),
        cell("in_progress_count"),
        cell("total_count"),
    );
    let col = |label, cell| crate::output::Column {
        label,
        cell,
        status: false,
    };
    let columns = [
        col("Project", &a as &dyn Fn(&Value) -> String),
        col("Name", &b),
        col("Pending", &c),
        col("Active", &d),
        col("Total", &e),
    ];
    super::classic::print_lines(&crate::output::classic_table(&ctx.out, &rows, &columns));
    println!();
    println!("{} project(s) (* = current)", rows.len());
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
            if !ctx.out.modern && !ctx.out.json() {
                println!("Creating organization: {org}");
            }
            ctx.client
                .post(&segs(&["orgs"]), &json!({ "slug": org, "name": org }))
                .await?;
            if ctx.out.modern && !ctx.out.json() {
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
    if ctx.out.modern {
        ctx.out.confirm(&format!("Project {org}/{project} created"));
    } else {
        let slug = created["slug"].as_str().unwrap_or(&project);
        ctx.out.confirm(&format!("Project created: {org}/{slug}"));
    }
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
    } else if ctx.out.modern {
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
    } else {
        ctx.out
            .confirm(&format!("Switched to project: {org}/{project}"));
        if let Some(local) = &ctx.settings.local {
            eprintln!(
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
    } else if ctx.out.modern {
        println!("{}", s.project_path());
        println!("  from {source}");
    } else {
        println!("Current project: {}", s.project_path());
        match &s.local {
            Some(l) => println!("  Source: {}", l.path.display()),
            None => println!("  Source: global config"),
        }
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
    // `project` and `url` as the original printed them, beside the rest.
    let project_of = |f: &ConfigFile| match (
        f.get("organization").or_else(|| f.get("org")),
        f.get("project"),
    ) {
        (Some(o), Some(p)) => json!(format!("{o}/{p}")),
        _ => Value::Null,
    };
    let global = json!({
        "path": s.global.path.display().to_string(),
        "project": project_of(&s.global),
        "url": s.global.get("url").unwrap_or_else(|| crate::config::DEFAULT_URL.to_owned()),
        "exists": s.global.exists,
        "config": s.global.redacted(),
    });
    let local = s.local.as_ref().map_or(Value::Null, |l| {
        json!({
            "path": l.path.display().to_string(),
            "project": project_of(l),
            "url": l.get("url"),
            "config": l.redacted(),
        })
    });
    if ctx.out.json() {
        ctx.out.print_json(&json!({
            "current": s.project_path(),
            "global": global,
            "local": local,
            "effective": effective,
        }));
        return Ok(());
    }
    if !ctx.out.modern {
        classic_show(ctx);
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

/// `ats project show` as the original's box.
fn classic_show(ctx: &Ctx) {
    let s = &ctx.settings;
    let path_of = |f: &ConfigFile| match (
        f.get("organization").or_else(|| f.get("org")),
        f.get("project"),
    ) {
        (Some(o), Some(p)) => format!("{o}/{p}"),
        _ => "(not set)".to_owned(),
    };
    println!();
    println!("┌─ Project Configuration ────────────────────────────");
    println!("│ Current:       {}", s.project_path());
    println!("├─ Global Config ────────────────────────────────────");
    println!("│ Path:          {}", s.global.path.display());
    println!("│ Project:       {}", path_of(&s.global));
    println!(
        "│ URL:           {}",
        s.global
            .get("url")
            .unwrap_or_else(|| "(default)".to_owned())
    );
    println!("├─ Local Config ─────────────────────────────────────");
    match &s.local {
        Some(l) => {
            println!("│ Path:          {}", l.path.display());
            println!("│ Project:       {}", path_of(l));
            println!(
                "│ URL:           {}",
                l.get("url").unwrap_or_else(|| "(inherited)".to_owned())
            );
        }
        None => println!("│ (no local config found)"),
    }
    println!("├─ Effective Settings ───────────────────────────────");
    println!("│ Project:       {}", s.project_path());
    println!("│ URL:           {}", s.url.value);
    let value = |v: &Option<crate::config::Sourced>| v.as_ref().map(|v| v.value.clone());
    let name = value(&s.actor_name)
        .or_else(|| value(&s.actor_id))
        .unwrap_or_else(|| "-".to_owned());
    let kind = value(&s.actor_type).unwrap_or_else(|| "-".to_owned());
    println!("│ Actor:         {name} ({kind})");
    println!("{}", super::classic::BOX_END);
    println!();
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
        let is_global = file.path == ctx.settings.global.path;
        updated.push((is_global, file.path.display().to_string()));
    }
    if ctx.out.json() {
        ctx.out.print_json(&project);
    } else if !ctx.out.modern {
        if new_org != old_org {
            ctx.out
                .confirm(&format!("Organization renamed: {old_org} → {new_org}"));
        }
        let final_project = project["slug"].as_str().unwrap_or(&new_project);
        if new_project != old_project || name.is_some() {
            ctx.out
                .confirm(&format!("Project renamed: {old_project} → {final_project}"));
            if let Some(n) = name {
                println!("  Name: {}", project["name"].as_str().unwrap_or(n));
            }
        }
        ctx.out
            .confirm(&format!("Project: {new_org}/{final_project}"));
        // The original names the local file first, then the global one.
        updated.sort_by_key(|(is_global, _)| *is_global);
        if new_org == old_org && new_project == old_project {
            updated.clear();
        }
        for (is_global, p) in updated {
            let which = if is_global { "global" } else { "local" };
            println!("  Updated {which} config: {p}");
        }
    } else {
        ctx.out.confirm(&format!(
            "Renamed {from} to {new_org}/{new_project}{}",
            name.map(|n| format!(" ({n})")).unwrap_or_default()
        ));
        for (_, p) in updated {
            println!("  updated {p}");
        }
    }
    Ok(())
}
