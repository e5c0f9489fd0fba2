//! REST/GraphQL parity (SPEC §5): every operation of `ats::rest::operations::OPERATIONS`
//! (the one declaration of each REST route) has a REST route on both mounts,
//! an entry in `/openapi.json` and a GraphQL field; `/openapi.json` documents
//! nothing the table does not list; and the checked-in `openapi.json` is the
//! document the code generates.

use std::collections::{BTreeMap, BTreeSet};

use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
use ats::rest::operations::OPERATIONS;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::on_both_backends;

on_both_backends!(every_operation_is_routed, openapi_lists_exactly_the_table);

/// `template` with its parameters filled with values that exist nowhere.
fn concrete(template: &str) -> String {
    template
        .replace("{id}", "987654321")
        .replace("{org}", "parity-no-org")
        .replace("{project}", "parity-no-project")
}

async fn every_operation_is_routed(app: TestApp) {
    let client = app.client();
    for op in OPERATIONS {
        for (template, _) in op.rest_routes() {
            let method = Method::from_bytes(op.method.as_bytes()).unwrap();
            let body = matches!(op.method, "POST" | "PATCH").then(|| json!({}));
            let path = concrete(&template);
            let res = client.send(method, &path, body.as_ref()).await;
            let fallback = res.status == 404
                && res.body["code"] == "NOT_FOUND"
                && res.body["error"]
                    .as_str()
                    .is_some_and(|e| e.starts_with("no route for"));
            assert!(
                !fallback && res.status != 405 && res.body["code"] != "METHOD_NOT_ALLOWED",
                "{} ({} {template}) has no REST route: {} {}",
                op.name,
                op.method,
                res.status,
                res.body
            );
        }
    }
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

async fn openapi_lists_exactly_the_table(app: TestApp) {
    let doc = app.client().get("/openapi.json").await.expect(200);
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "not OpenAPI 3.1: {}",
        doc["openapi"]
    );
    // (METHOD, path) -> operation, for everything the document describes.
    let mut documented = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                documented.insert((method.to_uppercase(), path.clone()), operation.clone());
            }
        }
    }
    let mut listed = BTreeSet::new();
    for op in OPERATIONS {
        for (path, operation_id) in op.rest_routes() {
            let key = (op.method.to_owned(), path);
            let Some(operation) = documented.get(&key) else {
                panic!(
                    "{} ({} {}) is missing from /openapi.json",
                    op.name, key.0, key.1
                );
            };
            assert_eq!(
                operation["operationId"], operation_id,
                "operationId of {} {}",
                key.0, key.1
            );
            check_responses(&key, operation);
            assert!(listed.insert(key), "{} is listed twice", op.name);
        }
    }
    let extra: Vec<_> = documented.keys().filter(|k| !listed.contains(*k)).collect();
    assert!(
        extra.is_empty(),
        "documented in /openapi.json but missing from OPERATIONS: {extra:?}"
    );
    check_refs(&doc, &doc);
    let generated: Value = serde_json::from_str(&ats::rest::openapi::json()).unwrap();
    assert!(
        doc == generated,
        "the served /openapi.json differs from ats::rest::openapi::json()"
    );
}

#[test]
fn openapi_json_is_up_to_date() {
    crate::common::drift::assert_up_to_date(
        "openapi.json",
        &ats::rest::openapi::json(),
        "cargo run --bin ats-server -- openapi > openapi.json",
    );
}

/// Every `$ref` in the document points at a component it defines.
fn check_refs(doc: &Value, node: &Value) {
    match node {
        Value::Object(map) => {
            if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                let pointer = r.strip_prefix('#').expect("a local $ref");
                assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
            }
            map.values().for_each(|v| check_refs(doc, v));
        }
        Value::Array(items) => items.iter().for_each(|v| check_refs(doc, v)),
        _ => {}
    }
}

/// Every operation documents a JSON success body, and every error it documents
/// has the `{"error","code"}` shape.
fn check_responses((method, path): &(String, String), operation: &Value) {
    let responses = operation["responses"].as_object().expect("responses");
    assert!(
        responses.iter().any(|(status, r)| status.starts_with('2')
            && r["content"]["application/json"]["schema"].is_object()),
        "{method} {path} documents no JSON success body"
    );
    for (status, response) in responses {
        if status.starts_with('4') {
            assert_eq!(
                response["$ref"].as_str().map(|r| r.rsplit('/').next()),
                Some(Some(match status.as_str() {
                    "400" => "BadRequest",
                    "401" => "Unauthorized",
                    "403" => "Forbidden",
                    "404" => "NotFound",
                    "409" => "Conflict",
                    "410" => "Gone",
                    "413" => "PayloadTooLarge",
                    "422" => "Unprocessable",
                    "429" => "TooManyRequests",
                    other => panic!("{method} {path}: unexpected status {other}"),
                })),
                "{method} {path}: response {status}"
            );
        }
    }
    if operation.get("requestBody").is_some() {
        for status in ["400", "413", "422"] {
            assert!(
                responses.contains_key(status),
                "{method} {path} takes a body but documents no {status}"
            );
        }
    }
}

/// `Query.x` and `Mutation.x` name root fields, whatever the root types are called.
#[test]
fn graphql_has_every_operation() {
    let sdl = ats::graphql::sdl();
    let doc = parse_schema(&sdl).expect("the SDL parses");
    let mut roots = BTreeMap::from([
        ("Query".to_owned(), "Query".to_owned()),
        ("Mutation".to_owned(), "Mutation".to_owned()),
    ]);
    let mut fields: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for def in doc.definitions {
        match def {
            TypeSystemDefinition::Schema(s) => {
                for (role, name) in [("Query", &s.node.query), ("Mutation", &s.node.mutation)] {
                    if let Some(name) = name {
                        roots.insert(role.to_owned(), name.node.to_string());
                    }
                }
            }
            TypeSystemDefinition::Type(t) => {
                if let TypeKind::Object(obj) = &t.node.kind {
                    let names = obj.fields.iter().map(|f| f.node.name.node.to_string());
                    fields
                        .entry(t.node.name.node.to_string())
                        .or_default()
                        .extend(names);
                }
            }
            TypeSystemDefinition::Directive(_) => {}
        }
    }
    let missing: Vec<_> = OPERATIONS
        .iter()
        .filter(|op| {
            let (ty, field) = op.graphql.split_once('.').expect("Type.field");
            let ty = roots.get(ty).map_or(ty, String::as_str);
            !fields.get(ty).is_some_and(|f| f.contains(field))
        })
        .map(|op| format!("{} -> {}", op.name, op.graphql))
        .collect();
    assert!(missing.is_empty(), "no GraphQL field for: {missing:?}");
}

#[test]
fn operation_names_are_unique() {
    let mut names = BTreeSet::new();
    for op in OPERATIONS {
        assert!(names.insert(op.name), "{} is listed twice", op.name);
    }
}

on_both_backends!(docs_ui_is_served_offline);

async fn docs_ui_is_served_offline(app: TestApp) {
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("{}{path}", app.base)).send();
    let page = get("/docs").await.unwrap();
    assert_eq!(page.status(), 200, "GET /docs (redirected to /docs/)");
    let html = page.text().await.unwrap();
    assert!(
        html.contains("swagger-ui"),
        "not the Swagger UI page: {html}"
    );
    for asset in ["/docs/swagger-ui-bundle.js", "/docs/swagger-initializer.js"] {
        let res = get(asset).await.unwrap();
        assert_eq!(res.status(), 200, "GET {asset}");
        let text = res.text().await.unwrap();
        if asset.ends_with("initializer.js") {
            let compact: String = text.split_whitespace().collect();
            assert!(
                compact.contains(r#""url":"/openapi.json""#)
                    && compact.contains(r#""validatorUrl":"none""#),
                "the UI must load /openapi.json and call no online validator: {text}"
            );
        }
    }
}
