//! Invitations (SPEC §5): an admin invites by email and by actor; the
//! tokens are shown only at creation; an invitee lists its invitations and
//! accepts (and then reads and writes the org's tasks) or declines; someone
//! else's token does not work; the last owner stays; a member cannot invite.

use serde_json::{Value, json};

use crate::common::shapes::id;
use crate::common::{Client, Role, TestApp};

crate::on_both_backends!(
    start = crate::common::TestApp::required_auth;
    invitations_are_listed_without_their_tokens,
    an_invitee_accepts_and_then_works_in_the_org,
    an_invitee_declines_and_stays_out,
    the_last_owner_stays_and_a_member_cannot_invite,
);

/// `human:olga` owns acme/web with one task; `human:ivan` (ivan@example.com)
/// and `agent:bot-7` are registered. Olga invites ivan by email (member) and
/// bot-7 by actor (viewer).
struct Invited {
    owner: Client,
    ivan: Client,
    bot: Client,
    task: i64,
    email_token: String,
    actor_token: String,
}

async fn invited(app: &TestApp) -> Invited {
    let owner = app
        .user("olga")
        .in_org("acme", Role::Owner)
        .with_project("web")
        .await;
    let task = id(&owner
        .post("/orgs/acme/projects/web/tasks", json!({ "title": "t" }))
        .await
        .expect(201)["task"]);
    let ivan = app.user("ivan").with_email("ivan@example.com").await;
    let bot = app.agent("bot-7").await;
    ivan.get(&format!("/tasks/{task}")).await.expect_error(404);
    let invite = |body: Value| {
        let owner = owner.clone();
        async move {
            let made = owner.post("/orgs/acme/invitations", body).await.expect(201);
            made["token"].as_str().unwrap().to_owned()
        }
    };
    let email_token = invite(json!({ "email": "ivan@example.com", "role": "member" })).await;
    let actor_token =
        invite(json!({ "actor_type": "agent", "actor_id": "bot-7", "role": "viewer" })).await;
    Invited {
        owner,
        ivan,
        bot,
        task,
        email_token,
        actor_token,
    }
}

async fn invitations_are_listed_without_their_tokens(app: TestApp) {
    let i = invited(&app).await;
    let listed = i.owner.get("/orgs/acme/invitations").await.expect(200);
    assert_eq!(listed["invitations"].as_array().unwrap().len(), 2);
    assert!(
        !listed.to_string().contains(&i.email_token),
        "tokens are shown only at creation"
    );
    let mine = i.ivan.get("/auth/invitations").await.expect(200);
    assert_eq!(mine["invitations"].as_array().unwrap().len(), 1);
    assert_eq!(mine["invitations"][0]["org"], "acme");
}

async fn an_invitee_accepts_and_then_works_in_the_org(app: TestApp) {
    let i = invited(&app).await;
    let (ivan, task) = (&i.ivan, i.task);
    // Someone else's token does not work for me.
    ivan.post(
        &format!("/auth/invitations/{}/accept", i.actor_token),
        json!({}),
    )
    .await
    .expect_error(404);
    let accept = format!("/auth/invitations/{}/accept", i.email_token);
    let accepted = ivan.post(&accept, json!({})).await.expect(200);
    assert_eq!(accepted["invitation"]["status"], "accepted");
    ivan.get(&format!("/tasks/{task}")).await.expect(200);
    ivan.patch(&format!("/tasks/{task}"), json!({ "priority": 9 }))
        .await
        .expect(200);
    ivan.post(&accept, json!({})).await.expect_error(409);
    let members = i.owner.get("/orgs/acme/members").await.expect(200);
    let ids: Vec<&str> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["actor_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["olga", "ivan"]);
}

async fn an_invitee_declines_and_stays_out(app: TestApp) {
    let i = invited(&app).await;
    let declined = i
        .bot
        .post(
            &format!("/auth/invitations/{}/decline", i.actor_token),
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(declined["invitation"]["status"], "declined");
    i.bot
        .get(&format!("/tasks/{}", i.task))
        .await
        .expect_error(404);
}

async fn the_last_owner_stays_and_a_member_cannot_invite(app: TestApp) {
    let i = invited(&app).await;
    let owner = &i.owner;
    owner
        .patch("/orgs/acme/members/human/olga", json!({ "role": "admin" }))
        .await
        .expect_error(409);
    owner
        .delete("/orgs/acme/members/human/olga")
        .await
        .expect_error(409);
    let accept = format!("/auth/invitations/{}/accept", i.email_token);
    i.ivan.post(&accept, json!({})).await.expect(200);
    i.ivan
        .post(
            "/orgs/acme/invitations",
            json!({ "email": "x@example.com" }),
        )
        .await
        .expect_error(403);
}
