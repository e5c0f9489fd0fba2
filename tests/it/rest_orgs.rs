//! REST organization routes (SPEC §6): CRUD with exact shapes, slug rules,
//! 404/409/422 refusals that write nothing, the protected `default` org, and
//! deletes that take projects and tasks along. Projects are in `rest_projects`.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Client, TestApp};
use crate::rest_tasks::{assert_time, id, keys, set};

const ORG_KEYS: [&str; 7] = [
    "id",
    "slug",
    "name",
    "description",
    "created_at",
    "updated_at",
    "role",
];
pub const PROJECT_KEYS: [&str; 8] = [
    "id",
    "org",
    "org_id",
    "slug",
    "name",
    "description",
    "created_at",
    "updated_at",
];
pub const COUNT_KEYS: [&str; 3] = ["pending_count", "in_progress_count", "total_count"];

#[track_caller]
fn assert_org(o: &Value) {
    assert_eq!(keys(o), set(&ORG_KEYS), "org keys: {o}");
    assert!(o["id"].is_i64() && o["slug"].is_string() && o["name"].is_string());
    assert!(o["description"].is_null() || o["description"].is_string());
    assert!(o["role"].is_null() || o["role"].is_string());
    assert_time(&o["created_at"], "created_at");
    assert_time(&o["updated_at"], "updated_at");
}

#[track_caller]
pub fn assert_project(p: &Value, counts: bool) {
    let mut want = PROJECT_KEYS.to_vec();
    if counts {
        want.extend(COUNT_KEYS);
        for k in COUNT_KEYS {
            assert!(p[k].is_u64(), "{k}: {p}");
        }
    }
    assert_eq!(keys(p), set(&want), "project keys: {p}");
    assert!(p["id"].is_i64() && p["org_id"].is_i64() && p["slug"].is_string());
    assert!(p["org"].is_string() && p["name"].is_string());
    assert!(p["description"].is_null() || p["description"].is_string());
    assert_time(&p["created_at"], "created_at");
    assert_time(&p["updated_at"], "updated_at");
}

pub fn slugs(list: &Value, key: &str) -> Vec<String> {
    list[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key}: {list}"))
        .iter()
        .map(|o| o["slug"].as_str().unwrap().to_owned())
        .collect()
}

/// Everything an org or project refusal could have touched.
pub async fn snapshot(c: &Client) -> Vec<Value> {
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

/// A refusal: status, `{"error","code"}`, and nothing written.
pub async fn refused(c: &Client, method: Method, path: &str, body: &[u8], status: u16) {
    let before = snapshot(c).await;
    let res = c.send_raw(method.clone(), path, body.to_vec()).await;
    let shown = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
    assert_eq!(
        res.status, status,
        "{method} {path} {shown} answered {}",
        res.body
    );
    let err = res.expect_error(status);
    assert_eq!(keys(&err), set(&["error", "code"]), "{err}");
    assert_eq!(
        snapshot(c).await,
        before,
        "{method} {path} {shown} wrote something"
    );
}

async fn organizations(app: TestApp) {
    let c = app.actor("human", "olivia");
    let first = c.get("/orgs").await.expect(200);
    assert_eq!(keys(&first), set(&["organizations"]));
    assert_eq!(slugs(&first, "organizations"), ["default"]);
    let default = &first["organizations"][0];
    assert_org(default);
    assert!(default["role"].is_null(), "no role in the open default org");

    let created = c
        .post(
            "/orgs",
            json!({ "slug": "acme", "name": "Acme", "description": "rockets" }),
        )
        .await
        .expect(201);
    assert_eq!(keys(&created), set(&["organization"]));
    let acme = created["organization"].clone();
    assert_org(&acme);
    assert_eq!(
        (
            &acme["slug"],
            &acme["name"],
            &acme["description"],
            &acme["role"]
        ),
        (
            &json!("acme"),
            &json!("Acme"),
            &json!("rockets"),
            &json!("owner")
        )
    );
    let solo = c.post("/orgs", json!({ "slug": "solo" })).await.expect(201)["organization"].clone();
    assert_eq!(
        (&solo["name"], &solo["description"]),
        (&json!("solo"), &Value::Null)
    );
    let edge = "a".repeat(63);
    for ok in ["9-lives", "x", edge.as_str()] {
        c.post("/orgs", json!({ "slug": ok })).await.expect(201);
    }

    let list = c.get("/orgs").await.expect(200);
    assert_eq!(
        slugs(&list, "organizations"),
        ["9-lives", edge.as_str(), "acme", "default", "solo", "x"]
    );
    for o in list["organizations"].as_array().unwrap() {
        assert_org(o);
        let want = if o["slug"] == "default" {
            Value::Null
        } else {
            json!("owner")
        };
        assert_eq!(o["role"], want, "{o}");
    }
    assert_eq!(
        c.get("/orgs/acme").await.expect(200),
        json!({ "organization": acme })
    );
    // Others see only the default org, and acme is 404 to them.
    let stranger = app.actor("human", "stranger");
    assert_eq!(
        slugs(&stranger.get("/orgs").await.expect(200), "organizations"),
        ["default"]
    );
    stranger.get("/orgs/acme").await.expect_error(404);
    refused(
        &stranger,
        Method::PATCH,
        "/orgs/acme",
        br#"{"name":"mine"}"#,
        404,
    )
    .await;
    refused(&stranger, Method::DELETE, "/orgs/acme", b"", 404).await;

    // PATCH name and description, then the slug; tasks follow the rename.
    c.post("/orgs/acme/projects", json!({ "slug": "web" }))
        .await
        .expect(201);
    let task = c
        .post(
            "/orgs/acme/projects/web/tasks",
            json!({ "title": "launch" }),
        )
        .await
        .expect(201)["task"]
        .clone();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let renamed = c
        .patch(
            "/orgs/acme",
            json!({ "name": "Acme Inc", "description": "more rockets" }),
        )
        .await
        .expect(200);
    assert_eq!(keys(&renamed), set(&["organization"]));
    let r = &renamed["organization"];
    assert_org(r);
    assert_eq!(
        (&r["name"], &r["description"], &r["slug"], &r["role"]),
        (
            &json!("Acme Inc"),
            &json!("more rockets"),
            &json!("acme"),
            &json!("owner")
        )
    );
    assert_eq!(
        (&r["id"], &r["created_at"]),
        (&acme["id"], &acme["created_at"])
    );
    assert!(r["updated_at"].as_str() > acme["updated_at"].as_str());
    let moved = c
        .patch("/orgs/acme", json!({ "slug": "acme-corp" }))
        .await
        .expect(200);
    assert_eq!(moved["organization"]["slug"], "acme-corp");
    assert_eq!(moved["organization"]["name"], "Acme Inc");
    c.get("/orgs/acme").await.expect_error(404);
    let t = c.get(&format!("/tasks/{}", id(&task))).await.expect(200);
    assert_eq!(
        (&t["task"]["org"], &t["task"]["project"]),
        (&json!("acme-corp"), &json!("web"))
    );

    // Slug rules, duplicates, bad bodies: refused, nothing written.
    let long = format!(r#"{{"slug":"{}"}}"#, "a".repeat(64));
    let long_name = format!(r#"{{"slug":"ok-name","name":"{}"}}"#, "n".repeat(201));
    for (body, status) in [
        (&br#"{"slug":"Bad Slug"}"#[..], 422),
        (br#"{"slug":"UPPER"}"#, 422),
        (br#"{"slug":"-lead"}"#, 422),
        (br#"{"slug":"under_score"}"#, 422),
        (br#"{"slug":"dot.ted"}"#, 422),
        (br#"{"slug":"caf\u00e9"}"#, 422),
        (br#"{"slug":""}"#, 422),
        (br#"{"slug":42}"#, 422),
        (br#"{"name":"no slug"}"#, 422),
        (b"", 422),
        (b"[]", 422),
        (long.as_bytes(), 422),
        (long_name.as_bytes(), 422),
        (br#"{"slug":"ok","name":"   "}"#, 422),
        (b"{\"slug\":", 400),
        (br#"{"slug":"solo"}"#, 409),
        (br#"{"slug":"default"}"#, 409),
        (br#"{"slug":"acme-corp","name":"again"}"#, 409),
    ] {
        refused(&c, Method::POST, "/orgs", body, status).await;
    }
    let huge = format!(
        r#"{{"slug":"big","description":"{}"}}"#,
        "d".repeat(10 << 20)
    );
    refused(&c, Method::POST, "/orgs", huge.as_bytes(), 413).await;
    for (body, status) in [
        (&br#"{"slug":"solo"}"#[..], 409),
        (br#"{"slug":"default"}"#, 409),
        (br#"{"slug":"Bad"}"#, 422),
        (br#"{"name":"","slug":"fine"}"#, 422),
        (br#"{"name":7}"#, 422),
        (b"{", 400),
    ] {
        refused(&c, Method::PATCH, "/orgs/acme-corp", body, status).await;
    }
    refused(&c, Method::PATCH, "/orgs/nope", br#"{"name":"x"}"#, 404).await;
    refused(&c, Method::GET, "/orgs/nope", b"", 404).await;
    refused(&c, Method::DELETE, "/orgs/nope", b"", 404).await;
    // The default org stays.
    refused(&c, Method::DELETE, "/orgs/default", b"", 409).await;
    let before = snapshot(&c).await;
    let rename = c.patch("/orgs/default", json!({ "slug": "other" })).await;
    assert!([403, 409].contains(&rename.status), "{rename:?}");
    let status = rename.status;
    rename.expect_error(status);
    assert_eq!(snapshot(&c).await, before, "the default org was renamed");

    // Only the owner deletes an org.
    c.post(
        "/orgs/solo/members",
        json!({ "actor_type": "human", "actor_id": "adam", "role": "admin" }),
    )
    .await
    .expect(201);
    refused(
        &app.actor("human", "adam"),
        Method::DELETE,
        "/orgs/solo",
        b"",
        403,
    )
    .await;

    // DELETE takes projects and tasks along.
    let count = c.get("/tasks").await.expect(200)["count"].as_u64().unwrap();
    let gone = c.delete("/orgs/acme-corp").await.expect(200);
    assert_eq!(gone, json!({ "deleted": true, "slug": "acme-corp" }));
    c.get("/orgs/acme-corp").await.expect_error(404);
    c.get("/orgs/acme-corp/projects").await.expect_error(404);
    c.get(&format!("/tasks/{}", id(&task)))
        .await
        .expect_error(404);
    assert_eq!(c.get("/tasks").await.expect(200)["count"], count - 1);
    // The slug is free again.
    c.post("/orgs", json!({ "slug": "acme-corp" }))
        .await
        .expect(201);
    assert!(
        c.get("/orgs/acme-corp/projects").await.expect(200)["projects"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

crate::on_both_backends!(organizations);
