//! Who acts in a test, in one line:
//!
//! ```ignore
//! let olga = app.user("olga").in_org("acme", Role::Owner).with_project("web").await;
//! let bot = app.agent("bot-7").in_org("acme", Role::Member).await;
//! let sam = app.user("sam").with_grant("acme", "web", "r").await;
//! ```
//!
//! `app.user(id)` is `human:<id>`, `app.agent(id)` is `agent:<id>`; awaiting
//! the builder gives a [`Client`] acting as them. In open auth mode that is
//! just the `X-Actor-*` headers; on a [`TestApp::required_auth`] server the
//! user is registered (once per app; `password-1234`) and the client sends its
//! API key. An org named for the first time is created: by this user when it
//! is to be its owner, else by `human:<org>-owner`. A project is created by its
//! org's owner the first time it is named. Every set-up request must succeed.

use std::collections::{HashMap, HashSet};
use std::future::{Future, IntoFuture};
use std::pin::Pin;

use serde_json::json;

use super::app::TestApp;
use super::client::Client;

/// The password [`TestApp::user`] registers with in required auth mode.
pub const PASSWORD: &str = "password-1234";

/// An org role (SPEC §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Owner,
    Admin,
    Member,
    Viewer,
}

impl Role {
    /// The role as the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Viewer => "viewer",
        }
    }
}

/// What the builder has made on one server.
#[derive(Default)]
pub struct Registry {
    /// Clients of users already resolved, by `(actor_type, actor_id)`.
    users: HashMap<(String, String), Client>,
    /// Each org's owner: who created it, and a client acting as them.
    owners: HashMap<String, ((String, String), Client)>,
    /// `(org, project)` pairs created.
    projects: HashSet<(String, String)>,
}

enum Step {
    Org(String, Role),
    Project(String, String),
    Grant {
        org: String,
        namespace: String,
        access: String,
    },
}

/// A user being set up; await it for a [`Client`].
#[must_use = "await the user to make it"]
pub struct User<'a> {
    app: &'a TestApp,
    actor_type: &'static str,
    id: String,
    email: Option<String>,
    steps: Vec<Step>,
}

impl TestApp {
    /// `human:<id>`.
    pub fn user(&self, id: &str) -> User<'_> {
        User::new(self, "human", id)
    }

    /// `agent:<id>`.
    pub fn agent(&self, id: &str) -> User<'_> {
        User::new(self, "agent", id)
    }

    /// A client acting as `org`'s owner; the org is made (owned by
    /// `human:<org>-owner`) when the builder has not made it yet.
    pub async fn owner_of(&self, org: &str) -> Client {
        if let Some((_, owner)) = self.registry.lock().unwrap().owners.get(org) {
            return owner.clone();
        }
        let (actor_type, id) = ("human".to_owned(), format!("{org}-owner"));
        let owner = self.resolve(&actor_type, &id, None).await;
        self.create_org(org, (actor_type, id), &owner).await;
        owner
    }

    async fn resolve(&self, actor_type: &str, id: &str, email: Option<&str>) -> Client {
        let key = (actor_type.to_owned(), id.to_owned());
        if let Some(c) = self.registry.lock().unwrap().users.get(&key) {
            return c.clone();
        }
        let client = if self.auth_required {
            let mut body =
                json!({ "actor_type": actor_type, "actor_id": id, "password": PASSWORD });
            if let Some(email) = email {
                body["email"] = json!(email);
            }
            let reg = self.client().post("/auth/register", body).await.expect(201);
            self.bearer(reg["api_key"].as_str().expect("an api_key"))
        } else {
            self.actor(actor_type, id)
        };
        self.registry
            .lock()
            .unwrap()
            .users
            .insert(key, client.clone());
        client
    }

    async fn create_org(&self, org: &str, who: (String, String), by: &Client) {
        let res = by.post("/orgs", json!({ "slug": org })).await;
        assert_eq!(
            res.status, 201,
            "the users builder could not make org {org} (was it made without it?): {}",
            res.body
        );
        self.registry
            .lock()
            .unwrap()
            .owners
            .insert(org.to_owned(), (who, by.clone()));
    }

    async fn ensure_project(&self, org: &str, project: &str) {
        let key = (org.to_owned(), project.to_owned());
        if self.registry.lock().unwrap().projects.contains(&key) {
            return;
        }
        let owner = self.owner_of(org).await;
        owner
            .post(&format!("/orgs/{org}/projects"), json!({ "slug": project }))
            .await
            .expect(201);
        self.registry.lock().unwrap().projects.insert(key);
    }
}

impl<'a> User<'a> {
    fn new(app: &'a TestApp, actor_type: &'static str, id: &str) -> Self {
        Self {
            app,
            actor_type,
            id: id.to_owned(),
            email: None,
            steps: Vec::new(),
        }
    }

    /// The email to register with (required auth mode).
    pub fn with_email(mut self, email: &str) -> Self {
        self.email = Some(email.to_owned());
        self
    }

    /// A member of `org` with `role` (the org is made if needed).
    pub fn in_org(mut self, org: &str, role: Role) -> Self {
        self.steps.push(Step::Org(org.to_owned(), role));
        self
    }

    /// Project `project` in the org named last by [`in_org`](Self::in_org).
    pub fn with_project(mut self, project: &str) -> Self {
        let org = self
            .steps
            .iter()
            .rev()
            .find_map(|s| match s {
                Step::Org(org, _) => Some(org.clone()),
                _ => None,
            })
            .expect("with_project follows in_org");
        self.steps.push(Step::Project(org, project.to_owned()));
        self
    }

    /// A permission grant in `org` on `namespace` (`"*"` or a project slug)
    /// with `access` (`"r"` or `"rw"`), given by the org's owner.
    pub fn with_grant(mut self, org: &str, namespace: &str, access: &str) -> Self {
        self.steps.push(Step::Grant {
            org: org.to_owned(),
            namespace: namespace.to_owned(),
            access: access.to_owned(),
        });
        self
    }

    /// Makes the user and what it belongs to; returns a client acting as it.
    pub async fn client(self) -> Client {
        let app = self.app;
        let me = app
            .resolve(self.actor_type, &self.id, self.email.as_deref())
            .await;
        let who = (self.actor_type.to_owned(), self.id.clone());
        for step in self.steps {
            match step {
                Step::Org(org, role) => app.join(&org, role, &who, &me).await,
                Step::Project(org, project) => app.ensure_project(&org, &project).await,
                Step::Grant {
                    org,
                    namespace,
                    access,
                } => {
                    let owner = app.owner_of(&org).await;
                    let grant = json!({ "actor_type": who.0, "actor_id": who.1,
                                        "namespace": namespace, "access": access });
                    owner
                        .post(&format!("/orgs/{org}/permissions"), grant)
                        .await
                        .expect(201);
                }
            }
        }
        me
    }
}

impl TestApp {
    async fn join(&self, org: &str, role: Role, who: &(String, String), me: &Client) {
        let known = self.registry.lock().unwrap().owners.get(org).cloned();
        let owner = match known {
            None if role == Role::Owner => return self.create_org(org, who.clone(), me).await,
            None => self.owner_of(org).await,
            Some((owner_id, _)) if &owner_id == who => {
                assert_eq!(
                    role,
                    Role::Owner,
                    "{who:?} owns {org}: it cannot join as {role:?}"
                );
                return;
            }
            Some((_, owner)) => owner,
        };
        let member = json!({ "actor_type": who.0, "actor_id": who.1, "role": role.as_str() });
        owner
            .post(&format!("/orgs/{org}/members"), member)
            .await
            .expect(201);
    }
}

impl<'a> IntoFuture for User<'a> {
    type Output = Client;
    type IntoFuture = Pin<Box<dyn Future<Output = Client> + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.client())
    }
}
