//! The checked-in SDL matches the code, and the npm `graphql-ws` client
//! subscribes through `/graphql/ws`.

use crate::common::TestApp;

crate::on_both_backends!(npm_graphql_ws_client_receives_an_event);

#[test]
fn schema_graphql_is_up_to_date() {
    crate::common::drift::assert_up_to_date(
        "schema.graphql",
        &ats::graphql::sdl(),
        "cargo run --bin ats-server -- schema > schema.graphql",
    );
}

/// The npm `graphql-ws` client (tests/graphql-ws-client) subscribes to
/// `taskEvents`, creates a task over HTTP, and receives its event.
async fn npm_graphql_ws_client_receives_an_event(app: TestApp) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/graphql-ws-client");
    let has_node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let installed = std::path::Path::new(dir)
        .join("node_modules/graphql-ws")
        .exists();
    if !has_node || !installed {
        eprintln!(
            "SKIPPED: the graphql-ws client check needs node and {dir}/node_modules (run `npm ci` there)"
        );
        return;
    }
    let base = app.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg("subscribe.mjs")
            .arg(&base)
            .current_dir(dir)
            .output()
            .expect("run node")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "graphql-ws client failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("received task.created"), "{stdout}");
}
