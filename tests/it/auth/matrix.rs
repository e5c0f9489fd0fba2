//! The permission matrix (SPEC §5): each kind of caller × each class of
//! operation, over REST and GraphQL, in `required` auth mode. Refused writes
//! change nothing; lists never show what the caller may not read.

use serde_json::{Value, json};

use crate::common::gql::{self, code};
use crate::common::{Client, Role, TestApp};

crate::on_both_backends!(start = crate::common::TestApp::required_auth; rest_matrix, graphql_matrix);

#[derive(Clone, Copy, Debug)]
enum Who {
    Owner,
    Admin,
    Member,
    Viewer,
    ReadGrant,
    WriteGrant,
    Stranger,
    Unauthenticated,
}

/// Expected answers, in order: read task, update task, claim task, add member,
/// delete project, delete org.
fn expected(who: Who) -> [u16; 6] {
    match who {
        Who::Owner => [200, 200, 200, 201, 200, 200],
        Who::Admin => [200, 200, 200, 201, 200, 403],
        Who::Member => [200, 200, 200, 403, 403, 403],
        Who::Viewer => [200, 403, 403, 403, 403, 403],
        Who::ReadGrant => [200, 403, 403, 403, 403, 403],
        Who::WriteGrant => [200, 200, 200, 403, 403, 403],
        Who::Stranger => [404, 404, 404, 404, 404, 404],
        Who::Unauthenticated => [401, 401, 401, 401, 401, 401],
    }
}

const ALL: [Who; 8] = [
    Who::Owner,
    Who::Admin,
    Who::Member,
    Who::Viewer,
    Who::ReadGrant,
    Who::WriteGrant,
    Who::Stranger,
    Who::Unauthenticated,
];

/// `org/p` owned by `human:owner`, with one task "secret work", and a caller
/// standing as `who`; returns the owner, the caller and the task id.
async fn setup(app: &TestApp, org: &str, who: Who, n: usize) -> (Client, Client, i64) {
    let owner = app
        .user("owner")
        .in_org(org, Role::Owner)
        .with_project("p")
        .await;
    let task = owner
        .post(
            &format!("/orgs/{org}/projects/p/tasks"),
            json!({ "title": "secret work" }),
        )
        .await
        .expect(201)["task"]["id"]
        .as_i64()
        .unwrap();
    let id = format!("caller-{n}");
    let caller = match who {
        Who::Owner => owner.clone(),
        Who::Unauthenticated => app.client(),
        Who::Admin => app.user(&id).in_org(org, Role::Admin).await,
        Who::Member => app.user(&id).in_org(org, Role::Member).await,
        Who::Viewer => app.user(&id).in_org(org, Role::Viewer).await,
        Who::ReadGrant => app.user(&id).with_grant(org, "p", "r").await,
        Who::WriteGrant => app.user(&id).with_grant(org, "p", "rw").await,
        Who::Stranger => app.user(&id).await,
    };
    // The agent the caller tries to add as a member: registered, since a
    // required-mode org takes in registered identities only.
    app.agent(&format!("bot-{n}")).await;
    (owner, caller, task)
}

async fn task_title(owner: &Client, task: i64) -> String {
    owner.get(&format!("/tasks/{task}")).await.expect(200)["task"]["title"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn rest_matrix(app: TestApp) {
    for (n, who) in ALL.into_iter().enumerate() {
        let org = format!("rest-{n}");
        let (owner, caller, task) = setup(&app, &org, who, n).await;
        let want = expected(who);
        let got = [
            caller.get(&format!("/tasks/{task}")).await.status,
            caller.patch(&format!("/tasks/{task}"), json!({ "title": "changed" })).await.status,
            caller.post(&format!("/tasks/{task}/claim"), json!({})).await.status,
            caller
                .post(
                    &format!("/orgs/{org}/members"),
                    json!({ "actor_type": "agent", "actor_id": format!("bot-{n}"), "role": "member" }),
                )
                .await
                .status,
            caller.delete(&format!("/orgs/{org}/projects/p")).await.status,
            caller.delete(&format!("/orgs/{org}")).await.status,
        ];
        assert_eq!(got, want, "REST answers for {who:?}");
        if want[1] != 200 {
            assert_eq!(
                task_title(&owner, task).await,
                "secret work",
                "{who:?}: a refused update wrote"
            );
            let events = owner
                .get(&format!("/tasks/{task}/events"))
                .await
                .expect(200);
            assert_eq!(
                events["events"].as_array().unwrap().len(),
                1,
                "{who:?}: a refused write left events"
            );
        }
        if want[4] != 200 {
            owner
                .get(&format!("/orgs/{org}/projects/p"))
                .await
                .expect(200);
        }
        if want[5] != 200 {
            owner.get(&format!("/orgs/{org}")).await.expect(200);
        }
        // Lists never show what the caller may not read.
        let listed = caller.get("/tasks?limit=500").await;
        if who_reads(who) && want[4] != 200 {
            let ids: Vec<i64> = listed.body["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_i64().unwrap())
                .collect();
            assert!(ids.contains(&task), "{who:?} should see its task in lists");
        } else if listed.status == 200 {
            let ids: Vec<i64> = listed.body["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_i64().unwrap())
                .collect();
            assert!(
                !ids.contains(&task),
                "{who:?} must not see the task in lists"
            );
        }
    }
}

fn who_reads(who: Who) -> bool {
    !matches!(who, Who::Stranger | Who::Unauthenticated)
}

/// The body of a GraphQL request, whatever the HTTP status (401 without credentials).
async fn gql(client: &Client, query: &str, variables: Value) -> Value {
    gql::post(client, query, variables).await.body
}

/// What GraphQL answers where REST answers `status`.
fn gql_code(status: u16) -> Option<&'static str> {
    match status {
        200 | 201 => None,
        401 => Some("UNAUTHENTICATED"),
        403 => Some("FORBIDDEN"),
        _ => Some("NOT_FOUND"),
    }
}

async fn graphql_matrix(app: TestApp) {
    for (n, who) in ALL.into_iter().enumerate() {
        let org = format!("gql-{n}");
        let (owner, caller, task) = setup(&app, &org, who, n).await;
        let want = expected(who);
        let id = json!(task.to_string());

        let read = gql(
            &caller,
            "query($id: ID!) { task(id: $id) { id title } }",
            json!({ "id": id }),
        )
        .await;
        match want[0] {
            200 => assert_eq!(read["data"]["task"]["title"], "secret work", "{who:?}"),
            401 => assert_eq!(code(&read).as_deref(), Some("UNAUTHENTICATED"), "{who:?}"),
            _ => assert!(
                read["data"]["task"].is_null() && read["errors"].is_null(),
                "{who:?}: {read}"
            ),
        }
        let ops = [
            (
                "mutation($id: ID!) { updateTask(id: $id, input: { title: \"changed\" }) { task { id } } }",
                json!({ "id": id }),
                want[1],
            ),
            (
                "mutation($id: ID!) { claimTask(id: $id) { task { id } } }",
                json!({ "id": id }),
                want[2],
            ),
            (
                "mutation($org: String!, $bot: String!) { addMember(org: $org, actorType: \"agent\", actorId: $bot, role: \"member\") { role } }",
                json!({ "org": org, "bot": format!("bot-{n}") }),
                want[3],
            ),
            (
                "mutation($org: String!) { deleteProject(org: $org, slug: \"p\") { deleted } }",
                json!({ "org": org }),
                want[4],
            ),
            (
                "mutation($org: String!) { deleteOrganization(slug: $org) { deleted } }",
                json!({ "org": org }),
                want[5],
            ),
        ];
        for (query, vars, status) in ops {
            let resp = gql(&caller, query, vars).await;
            assert_eq!(
                code(&resp).as_deref(),
                gql_code(status),
                "{who:?}: {query} → {resp}"
            );
        }
        if want[1] != 200 {
            assert_eq!(
                task_title(&owner, task).await,
                "secret work",
                "{who:?}: a refused update wrote"
            );
        }
    }
}
