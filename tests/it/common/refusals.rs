//! Refusals that write nothing (SPEC §5): the request gets `{"error","code"}`
//! with the right status and code, and a snapshot of everything it could have
//! touched is the same before and after.

use reqwest::Method;
use serde_json::Value;

use super::client::Client;
use super::shapes::{keys, set, slugs};

/// What a refused request could have touched.
#[derive(Clone, Copy, Debug)]
pub enum Scope {
    /// The orgs the caller sees, each with its projects and counts, and the task list.
    Orgs,
    /// The task list, this task with its thread and history, the stats and
    /// the counts of `default`'s projects.
    Task(i64),
}

/// Everything in `scope`, as the caller reads it.
pub async fn snapshot(c: &Client, scope: Scope) -> Vec<Value> {
    match scope {
        Scope::Orgs => {
            let mut out = vec![c.get("/orgs").await.expect(200)];
            for o in slugs(&out[0], "organizations") {
                out.push(c.get(&format!("/orgs/{o}")).await.expect(200));
                out.push(
                    c.get(&format!("/orgs/{o}/projects?counts=true"))
                        .await
                        .expect(200),
                );
            }
            out.push(c.get("/tasks?limit=500").await.expect(200));
            out
        }
        Scope::Task(task) => {
            let mut out = Vec::new();
            for path in [
                "/tasks?limit=500".to_owned(),
                format!("/tasks/{task}"),
                format!("/tasks/{task}/messages"),
                format!("/tasks/{task}/events"),
                "/tasks/stats".to_owned(),
                "/orgs/default/projects?counts=true".to_owned(),
            ] {
                out.push(c.get(&path).await.expect(200));
            }
            out
        }
    }
}

/// The error code that goes with an HTTP status.
fn code_of(status: u16) -> &'static str {
    match status {
        400 | 422 => "BAD_REQUEST",
        401 => "UNAUTHENTICATED",
        403 => "FORBIDDEN",
        404 => "NOT_FOUND",
        405 => "METHOD_NOT_ALLOWED",
        409 => "CONFLICT",
        413 => "PAYLOAD_TOO_LARGE",
        other => unreachable!("no error code for {other}"),
    }
}

/// Sends `body` raw; checks the error status, shape and code, and that
/// nothing in `scope` changed. Returns the error body.
pub async fn refused(
    c: &Client,
    scope: Scope,
    method: Method,
    path: &str,
    body: &[u8],
    status: u16,
) -> Value {
    let before = snapshot(c, scope).await;
    let res = c.send_raw(method.clone(), path, body.to_vec()).await;
    let shown = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
    assert_eq!(
        res.status, status,
        "{method} {path} {shown} answered {}",
        res.body
    );
    let err = res.expect_error(status);
    assert_eq!(
        keys(&err),
        set(&["error", "code"]),
        "{method} {path}: {err}"
    );
    assert_eq!(err["code"], code_of(status), "{method} {path} {shown}");
    assert_eq!(
        snapshot(c, scope).await,
        before,
        "{method} {path} {shown} wrote something"
    );
    err
}
