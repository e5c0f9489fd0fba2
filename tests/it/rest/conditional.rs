//! Conditional reads: a `GET` answer carries an `ETag` and `Cache-Control:
//! private, no-cache`; sending the tag back in `If-None-Match` gets 304
//! without a body while nothing changed, and the new representation (with a
//! new tag) once something did — a new message, a changed field.

use serde_json::json;

use crate::common::TestApp;

crate::on_both_backends!(task_reads_revalidate_with_etags);

/// A raw GET with an optional `If-None-Match`: status, ETag, body text.
async fn get(app: &TestApp, path: &str, tag: Option<&str>) -> (u16, Option<String>, String) {
    let mut req = reqwest::Client::new()
        .get(format!("{}{path}", app.base))
        .header("X-Actor-Type", "agent")
        .header("X-Actor-ID", "reader");
    if let Some(t) = tag {
        req = req.header("If-None-Match", t);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let etag = res
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_owned());
    if status == 200 {
        assert_eq!(res.headers()["cache-control"], "private, no-cache");
    }
    (status, etag, res.text().await.unwrap())
}

async fn task_reads_revalidate_with_etags(app: TestApp) {
    let c = app.actor("agent", "reader");
    let task = c.create_task(json!({ "title": "watched" })).await;
    let id = task["id"].as_i64().unwrap();
    let path = format!("/tasks/{id}");

    let (status, tag, body) = get(&app, &path, None).await;
    assert_eq!(status, 200);
    let tag = tag.expect("an ETag");
    assert!(tag.starts_with('"') && tag.ends_with('"'), "{tag}");
    assert!(body.contains("watched"));
    // Unchanged: 304, no body, the same tag; weak and listed forms match.
    for sent in [tag.clone(), format!("W/{tag}"), format!("\"nope\", {tag}")] {
        let (status, again, body) = get(&app, &path, Some(&sent)).await;
        assert_eq!(status, 304, "{sent}");
        assert_eq!(again.as_deref(), Some(tag.as_str()));
        assert!(body.is_empty(), "{body}");
    }
    // A stale tag gets the full answer.
    assert_eq!(get(&app, &path, Some("\"stale\"")).await.0, 200);

    // A new message and a changed title each change the representation.
    c.post(
        &format!("/tasks/{id}/messages"),
        json!({ "parts": [{ "type": "text", "content": "hi" }] }),
    )
    .await
    .expect(201);
    let (status, after_message, body) = get(&app, &path, Some(&tag)).await;
    assert_eq!(status, 200);
    assert!(body.contains("hi"), "{body}");
    let after_message = after_message.unwrap();
    assert_ne!(after_message, tag);
    c.patch(&path, json!({ "title": "renamed" }))
        .await
        .expect(200);
    let (status, _, body) = get(&app, &path, Some(&after_message)).await;
    assert_eq!(status, 200);
    assert!(body.contains("renamed"), "{body}");

    // Lists and the thread revalidate the same way; errors carry no tag.
    for list in ["/tasks?status=pending", &format!("/tasks/{id}/messages")] {
        let (status, tag, _) = get(&app, list, None).await;
        assert_eq!(status, 200, "{list}");
        assert_eq!(get(&app, list, tag.as_deref()).await.0, 304, "{list}");
    }
    let (status, tag, _) = get(&app, "/tasks/999999", None).await;
    assert_eq!(status, 404);
    assert!(tag.is_none());
}
