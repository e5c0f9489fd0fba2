//! Organization access: members, invitations, namespace permissions.

use serde_json::{Value, json};

use super::{Ctx, actor_arg, unwrap_key};
use crate::cli::{InvitationCmd, MemberCmd, PermissionCmd};
use crate::client::segs;
use crate::error::CliResult;
use crate::output::{short_time, text};

fn org(ctx: &Ctx) -> String {
    ctx.settings.org.value.clone()
}

fn print_or_confirm(ctx: &Ctx, value: &Value, line: &str) {
    ctx.out.confirm(line);
    if ctx.out.json() {
        ctx.out.print_json(value);
    }
}

/// `ats member …` (in `--org`, or the configured org).
pub async fn member(ctx: &Ctx, cmd: &MemberCmd) -> CliResult<()> {
    let org = org(ctx);
    match cmd {
        MemberCmd::List => {
            let members = unwrap_key(
                ctx.client
                    .get(&segs(&["orgs", &org, "members"]), &[])
                    .await?,
                "members",
            );
            if ctx.out.json() {
                ctx.out.print_json(&members);
                return Ok(());
            }
            let rows = members
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| {
                    vec![
                        format!("{}:{}", text(&m["actor_type"]), text(&m["actor_id"])),
                        text(&m["role"]),
                        short_time(&m["created_at"]),
                    ]
                })
                .collect();
            ctx.out.print_table(&["MEMBER", "ROLE", "SINCE"], rows);
        }
        MemberCmd::Add { actor, role } => {
            let (t, id) = actor_arg(actor)?;
            let m = unwrap_key(
                ctx.client
                    .post(
                        &segs(&["orgs", &org, "members"]),
                        &json!({ "actor_type": t, "actor_id": id, "role": role }),
                    )
                    .await?,
                "member",
            );
            print_or_confirm(ctx, &m, &format!("{actor} is now {role} of {org}"));
        }
        MemberCmd::SetRole { actor, role } => {
            let (t, id) = actor_arg(actor)?;
            let m = unwrap_key(
                ctx.client
                    .patch(
                        &segs(&["orgs", &org, "members", &t, &id]),
                        &json!({ "role": role }),
                    )
                    .await?,
                "member",
            );
            print_or_confirm(ctx, &m, &format!("{actor} is now {role} of {org}"));
        }
        MemberCmd::Remove { actor } => {
            let (t, id) = actor_arg(actor)?;
            let body = ctx
                .client
                .delete(&segs(&["orgs", &org, "members", &t, &id]))
                .await?;
            print_or_confirm(ctx, &body, &format!("{actor} removed from {org}"));
        }
    }
    Ok(())
}

fn invitation_rows(list: &Value) -> Vec<Vec<String>> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            let invitee = match i["email"].as_str() {
                Some(e) => e.to_owned(),
                None => format!("{}:{}", text(&i["actor_type"]), text(&i["actor_id"])),
            };
            vec![
                text(&i["id"]),
                text(&i["org"]),
                invitee,
                text(&i["role"]),
                text(&i["status"]),
                short_time(&i["expires_at"]),
            ]
        })
        .collect()
}

/// `ats invitation …`.
pub async fn invitation(ctx: &Ctx, cmd: &InvitationCmd) -> CliResult<()> {
    let org = org(ctx);
    let headers = ["ID", "ORG", "INVITEE", "ROLE", "STATUS", "EXPIRES"];
    match cmd {
        InvitationCmd::Create { email, actor, role } => {
            let mut body = json!({ "role": role });
            if let Some(e) = email {
                body["email"] = json!(e);
            }
            if let Some(a) = actor {
                let (t, id) = actor_arg(a)?;
                body["actor_type"] = json!(t);
                body["actor_id"] = json!(id);
            }
            let res = ctx
                .client
                .post(&segs(&["orgs", &org, "invitations"]), &body)
                .await?;
            if ctx.out.json() {
                ctx.out.print_json(&res);
            } else {
                ctx.out.confirm(&format!(
                    "Invitation {} to {org} created",
                    text(&res["invitation"]["id"])
                ));
                println!("Token: {}", text(&res["token"]));
                println!(
                    "The invitee accepts with: ats invitation accept {}",
                    text(&res["token"])
                );
            }
        }
        InvitationCmd::List | InvitationCmd::Mine => {
            let path = if matches!(cmd, InvitationCmd::List) {
                segs(&["orgs", &org, "invitations"])
            } else {
                segs(&["auth", "invitations"])
            };
            let list = unwrap_key(ctx.client.get(&path, &[]).await?, "invitations");
            if ctx.out.json() {
                ctx.out.print_json(&list);
            } else {
                ctx.out.print_table(&headers, invitation_rows(&list));
            }
        }
        InvitationCmd::Accept { token } | InvitationCmd::Decline { token } => {
            let verb = if matches!(cmd, InvitationCmd::Accept { .. }) {
                "accept"
            } else {
                "decline"
            };
            let inv = unwrap_key(
                ctx.client
                    .post(&segs(&["auth", "invitations", token, verb]), &json!({}))
                    .await?,
                "invitation",
            );
            print_or_confirm(
                ctx,
                &inv,
                &format!("Invitation to {} {verb}ed", text(&inv["org"])),
            );
        }
    }
    Ok(())
}

/// `ats permission …`.
pub async fn permission(ctx: &Ctx, cmd: &PermissionCmd) -> CliResult<()> {
    let org = org(ctx);
    match cmd {
        PermissionCmd::Grant {
            actor,
            namespace,
            access,
        } => {
            let (t, id) = actor_arg(actor)?;
            let p = unwrap_key(
                ctx.client
                    .post(
                        &segs(&["orgs", &org, "permissions"]),
                        &json!({ "actor_type": t, "actor_id": id, "namespace": namespace, "access": access }),
                    )
                    .await?,
                "permission",
            );
            print_or_confirm(
                ctx,
                &p,
                &format!(
                    "Granted {access} on {org}/{namespace} to {actor} (permission {})",
                    text(&p["id"])
                ),
            );
        }
        PermissionCmd::List => {
            let list = unwrap_key(
                ctx.client
                    .get(&segs(&["orgs", &org, "permissions"]), &[])
                    .await?,
                "permissions",
            );
            if ctx.out.json() {
                ctx.out.print_json(&list);
                return Ok(());
            }
            let rows = list
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    vec![
                        text(&p["id"]),
                        format!("{}:{}", text(&p["actor_type"]), text(&p["actor_id"])),
                        text(&p["namespace"]),
                        text(&p["access"]),
                        short_time(&p["created_at"]),
                    ]
                })
                .collect();
            ctx.out
                .print_table(&["ID", "ACTOR", "NAMESPACE", "ACCESS", "SINCE"], rows);
        }
        PermissionCmd::Revoke { id } => {
            let body = ctx
                .client
                .delete(&segs(&["orgs", &org, "permissions", &id.to_string()]))
                .await?;
            print_or_confirm(ctx, &body, &format!("Permission {id} revoked"));
        }
    }
    Ok(())
}
