//! GraphQL organizations and projects (SPEC §5): create, list and read with
//! the caller's role; project task counts, tasks and stats; members,
//! invitations and permissions as org fields; renames the tasks follow; and
//! deletes that take tasks along. Non-members get null or NOT_FOUND.

use serde_json::{Value, json};

use crate::common::gql::{ok, refused};
use crate::common::shapes::{strs, ts};
use crate::common::{Client, TestApp};

crate::on_both_backends!(
    create_organization_returns_it_with_the_owner_role,
    organizations_lists_only_the_callers,
    create_project_and_its_refusals,
    projects_count_their_tasks_by_status,
    members_invitations_and_permissions_are_org_fields,
    renames_are_followed_by_the_tasks,
    deletes_take_projects_and_tasks_along,
);

const ORGS: &str = "{ organizations { slug role } }";
const NEW_PROJECT: &str = "mutation($org: String!, $in: CreateProjectInput!) { createProject(org: $org, input: $in) { project { id org slug name description } } }";
const COUNTS: &str =
    "query($org: String!) { projects(org: $org) { slug pendingCount inProgressCount totalCount } }";
const WHERE: &str = "query($id: ID!) { task(id: $id) { org project } }";

/// `human:ann` creates acme ("Acme", "tools"); returns ann and the org.
async fn acme(app: &TestApp) -> (Client, Value) {
    let a = app.actor("human", "ann");
    let org = ok(
        &a,
        "mutation { createOrganization(input: {slug: \"acme\", name: \"Acme\", description: \"tools\"}) { organization { id slug name description role createdAt projects { slug } } } }",
        json!({}),
    )
    .await["createOrganization"]["organization"]
        .clone();
    (a, org)
}

/// acme with projects web ("Web", "site") and api; in web w1 pending, w2 in
/// progress, w3 completed, in api a1 pending. Returns ann and the task ids.
async fn acme_with_tasks(app: &TestApp) -> (Client, Vec<Value>) {
    let (a, _) = acme(app).await;
    let web = ok(
        &a,
        NEW_PROJECT,
        json!({ "org": "acme", "in": { "slug": "web", "name": "Web", "description": "site" } }),
    )
    .await["createProject"]["project"]
        .clone();
    assert_eq!(
        (&web["org"], &web["slug"], &web["name"], &web["description"]),
        (&json!("acme"), &json!("web"), &json!("Web"), &json!("site"))
    );
    ok(
        &a,
        NEW_PROJECT,
        json!({ "org": "acme", "in": { "slug": "api" } }),
    )
    .await;
    let create = "mutation($p: String!, $t: String!) { createTask(input: {title: $t, org: \"acme\", project: $p}) { task { id org project } } }";
    let mut ids = Vec::new();
    for (p, t) in [("web", "w1"), ("web", "w2"), ("web", "w3"), ("api", "a1")] {
        let task = ok(&a, create, json!({ "p": p, "t": t })).await["createTask"]["task"].clone();
        assert_eq!(
            (&task["org"], &task["project"]),
            (&json!("acme"), &json!(p))
        );
        ids.push(task["id"].clone());
    }
    let claim = "mutation($id: ID!) { claimTask(id: $id) { task { id } } }";
    ok(&a, claim, json!({ "id": ids[1] })).await;
    ok(&a, claim, json!({ "id": ids[2] })).await;
    ok(
        &a,
        "mutation($id: ID!) { completeTask(id: $id) { task { id } } }",
        json!({ "id": ids[2] }),
    )
    .await;
    (a, ids)
}

async fn create_organization_returns_it_with_the_owner_role(app: TestApp) {
    let (a, org) = acme(&app).await;
    assert_eq!(
        (
            &org["slug"],
            &org["name"],
            &org["description"],
            &org["role"],
            &org["projects"]
        ),
        (
            &json!("acme"),
            &json!("Acme"),
            &json!("tools"),
            &json!("owner"),
            &json!([])
        )
    );
    ts(&org["createdAt"]);
    refused(
        &a,
        "CONFLICT",
        "mutation { createOrganization(input: {slug: \"acme\"}) { organization { id } } }",
        json!({}),
    )
    .await;
    refused(
        &a,
        "BAD_REQUEST",
        "mutation { createOrganization(input: {slug: \"Bad Slug\"}) { organization { id } } }",
        json!({}),
    )
    .await;
}

async fn organizations_lists_only_the_callers(app: TestApp) {
    let (a, _) = acme(&app).await;
    let b = app.actor("human", "bob");
    assert_eq!(
        ok(&a, ORGS, json!({})).await["organizations"],
        json!([{ "slug": "acme", "role": "owner" }, { "slug": "default", "role": null }])
    );
    assert_eq!(
        ok(&b, ORGS, json!({})).await["organizations"],
        json!([{ "slug": "default", "role": null }]),
        "a non-member does not see it"
    );
    assert!(
        ok(&b, "{ organization(slug: \"acme\") { slug } }", json!({})).await["organization"]
            .is_null()
    );
    assert!(
        ok(&a, "{ organization(slug: \"nope\") { slug } }", json!({})).await["organization"]
            .is_null()
    );
}

async fn create_project_and_its_refusals(app: TestApp) {
    let (a, _) = acme_with_tasks(&app).await;
    let b = app.actor("human", "bob");
    refused(
        &a,
        "CONFLICT",
        NEW_PROJECT,
        json!({ "org": "acme", "in": { "slug": "web" } }),
    )
    .await;
    refused(
        &b,
        "NOT_FOUND",
        NEW_PROJECT,
        json!({ "org": "acme", "in": { "slug": "x" } }),
    )
    .await;
}

async fn projects_count_their_tasks_by_status(app: TestApp) {
    let (a, _) = acme_with_tasks(&app).await;
    let b = app.actor("human", "bob");
    assert_eq!(
        ok(&a, COUNTS, json!({ "org": "acme" })).await["projects"],
        json!([
            { "slug": "api", "pendingCount": 1, "inProgressCount": 0, "totalCount": 1 },
            { "slug": "web", "pendingCount": 1, "inProgressCount": 1, "totalCount": 3 }
        ])
    );
    refused(&b, "NOT_FOUND", COUNTS, json!({ "org": "acme" })).await;
    let one = "query($org: String!, $slug: String!) { project(org: $org, slug: $slug) { slug pendingCount inProgressCount totalCount tasks(first: 10, orderBy: {field: TITLE, direction: ASC}) { totalCount nodes { title } } stats { total completedCount byStatus { status count } } } }";
    let p = ok(&a, one, json!({ "org": "acme", "slug": "web" })).await["project"].clone();
    assert_eq!(
        (
            &p["pendingCount"],
            &p["inProgressCount"],
            &p["totalCount"],
            &p["tasks"]["totalCount"]
        ),
        (&json!(1), &json!(1), &json!(3), &json!(3))
    );
    assert_eq!(strs(&p["tasks"]["nodes"], "title"), ["w1", "w2", "w3"]);
    assert_eq!(
        (&p["stats"]["total"], &p["stats"]["completedCount"]),
        (&json!(3), &json!(1))
    );
    assert!(ok(&a, one, json!({ "org": "acme", "slug": "nope" })).await["project"].is_null());
    assert!(ok(&b, one, json!({ "org": "acme", "slug": "web" })).await["project"].is_null());
    let nested = ok(
        &a,
        "{ organization(slug: \"acme\") { slug projects { slug totalCount } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        nested["organization"]["projects"],
        json!([{ "slug": "api", "totalCount": 1 }, { "slug": "web", "totalCount": 3 }])
    );
}

/// Members, invitations and permissions are fields of the organization (SPEC §5).
async fn members_invitations_and_permissions_are_org_fields(app: TestApp) {
    let (a, _) = acme_with_tasks(&app).await;
    ok(
        &a,
        "mutation { addMember(org: \"acme\", actorType: \"human\", actorId: \"vic\", role: \"viewer\") { role } createInvitation(org: \"acme\", email: \"new@example.com\", role: \"member\") { invitation { id } } grantPermission(org: \"acme\", actorType: \"agent\", actorId: \"bot\", namespace: \"web\", access: \"r\") { id } }",
        json!({}),
    )
    .await;
    let access = "{ organization(slug: \"acme\") { members { actorType actorId role } invitations { email role status } permissions { actorType actorId namespace access } } }";
    assert_eq!(
        ok(&a, access, json!({})).await["organization"],
        json!({
            "members": [
                { "actorType": "human", "actorId": "ann", "role": "owner" },
                { "actorType": "human", "actorId": "vic", "role": "viewer" }
            ],
            "invitations": [{ "email": "new@example.com", "role": "member", "status": "pending" }],
            "permissions": [{ "actorType": "agent", "actorId": "bot", "namespace": "web", "access": "r" }]
        })
    );
    let vic = app.actor("human", "vic");
    let members = ok(
        &vic,
        "{ organization(slug: \"acme\") { role members { actorId } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        members["organization"],
        json!({ "role": "viewer", "members": [{ "actorId": "ann" }, { "actorId": "vic" }] })
    );
    refused(
        &vic,
        "FORBIDDEN",
        "{ organization(slug: \"acme\") { invitations { email } } }",
        json!({}),
    )
    .await;
    let bot = app.actor("agent", "bot");
    let project = |slug: &str| {
        format!("{{ project(org: \"acme\", slug: \"{slug}\") {{ slug totalCount }} }}")
    };
    assert_eq!(
        ok(&bot, &project("web"), json!({})).await["project"],
        json!({ "slug": "web", "totalCount": 3 }),
        "an r grant on web reads it"
    );
    assert!(ok(&bot, &project("api"), json!({})).await["project"].is_null());
}

/// The org and project slugs, as the tasks report them.
async fn renames_are_followed_by_the_tasks(app: TestApp) {
    let (a, ids) = acme_with_tasks(&app).await;
    let b = app.actor("human", "bob");
    let upd_org = "mutation($slug: String!, $in: UpdateOrganizationInput!) { updateOrganization(slug: $slug, input: $in) { organization { slug name description } } }";
    refused(
        &b,
        "NOT_FOUND",
        upd_org,
        json!({ "slug": "acme", "in": { "name": "Mine" } }),
    )
    .await;
    assert_eq!(
        ok(
            &a,
            upd_org,
            json!({ "slug": "acme", "in": { "name": "Acme Inc", "description": "more tools" } })
        )
        .await["updateOrganization"]["organization"],
        json!({ "slug": "acme", "name": "Acme Inc", "description": "more tools" })
    );
    ok(
        &a,
        upd_org,
        json!({ "slug": "acme", "in": { "slug": "acme2" } }),
    )
    .await;
    assert!(
        ok(&a, "{ organization(slug: \"acme\") { slug } }", json!({})).await["organization"]
            .is_null()
    );
    let upd_project = "mutation($in: UpdateProjectInput!) { updateProject(org: \"acme2\", slug: \"api\", input: $in) { project { org slug name } } }";
    assert_eq!(
        ok(
            &a,
            upd_project,
            json!({ "in": { "slug": "backend", "name": "Backend" } })
        )
        .await["updateProject"]["project"],
        json!({ "org": "acme2", "slug": "backend", "name": "Backend" })
    );
    refused(
        &a,
        "NOT_FOUND",
        upd_project,
        json!({ "in": { "name": "again" } }),
    )
    .await;
    assert_eq!(
        ok(&a, WHERE, json!({ "id": ids[3] })).await["task"],
        json!({ "org": "acme2", "project": "backend" })
    );
}

async fn deletes_take_projects_and_tasks_along(app: TestApp) {
    let (a, ids) = acme_with_tasks(&app).await;
    let b = app.actor("human", "bob");
    let delete_project = "mutation { deleteProject(org: \"acme\", slug: \"api\") { deleted id } }";
    refused(&b, "NOT_FOUND", delete_project, json!({})).await;
    assert_eq!(
        ok(&a, delete_project, json!({})).await["deleteProject"],
        json!({ "deleted": true, "id": "acme/api" })
    );
    assert!(ok(&a, WHERE, json!({ "id": ids[3] })).await["task"].is_null());
    assert_eq!(
        strs(
            &ok(&a, COUNTS, json!({ "org": "acme" })).await["projects"],
            "slug"
        ),
        ["web"]
    );
    let delete_org = "mutation { deleteOrganization(slug: \"acme\") { deleted id } }";
    refused(&b, "NOT_FOUND", delete_org, json!({})).await;
    assert_eq!(
        ok(&a, delete_org, json!({})).await["deleteOrganization"],
        json!({ "deleted": true, "id": "acme" })
    );
    assert_eq!(
        ok(&a, ORGS, json!({})).await["organizations"],
        json!([{ "slug": "default", "role": null }])
    );
    assert!(ok(&a, WHERE, json!({ "id": ids[0] })).await["task"].is_null());
    refused(&a, "NOT_FOUND", delete_org, json!({})).await;
}
