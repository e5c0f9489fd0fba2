//! What a REST operation is, and the `operations!` macro that declares them.
//!
//! An [`Operation`] holds everything about one route: its name (the
//! `operationId`), method and path, the handler, the GraphQL field that offers
//! the same service call, and what `/openapi.json` says about it. The router
//! (`rest::routes`) and the document (`openapi::document`) are both built from
//! the one table, `operations::OPERATIONS`.
//!
//! The errors an operation documents come from two places. Those its
//! extractors and middleware answer are added by rule
//! ([`Operation::failures`]): every caller may get 401, a caller named by
//! `X-Actor-*` headers 400, a JSON body 400, 413 and 422, a query string or
//! a numeric path segment 400, and every request 422 for a NUL (`%00`) in its
//! URL. Those the service answers (403, 404, 409, and sometimes 400) are
//! listed in the declaration.
//!
//! The compiler holds a declaration to its handler: the route sends the
//! handler's `200` with the declared status, a declared body the handler does
//! not answer with is an error ([`answers`]), and so are an unknown tag, auth
//! or error status.

use std::collections::BTreeSet;

use axum::http::StatusCode;
use axum::routing::MethodRouter;
use utoipa::openapi::path::Parameter;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::{Ref, RefOr};
use utoipa::{IntoParams, ToSchema};

use super::bodies::Reply;
use crate::app::AppState;

/// The prefix of the project-scoped mount of the task routes.
pub const PROJECT_SCOPE: &str = "/orgs/{org}/projects/{project}";

/// Appended to the `operationId` of a task route's project-scoped copy.
pub const SCOPED_SUFFIX: &str = "_in_project";

/// One REST operation, as declared in `operations.rs`.
#[derive(Clone, Copy)]
pub struct Operation {
    /// Stable name; also the `operationId` of its REST route in `/openapi.json`.
    pub name: &'static str,
    /// REST method, upper case.
    pub method: &'static str,
    /// REST path template (`{id}`, `{org}`, `{project}`). A `/tasks…` path is
    /// also served under [`PROJECT_SCOPE`].
    pub path: &'static str,
    /// The GraphQL field, as `Type.field`: a `Query`/`Mutation` root field, or
    /// a field of an object type when the operation reads a part of one.
    pub graphql: &'static str,
    /// Its group in the document.
    pub tag: Tag,
    /// Who may call it.
    pub auth: Auth,
    /// The declaration's doc comment, one line per element: the first
    /// paragraph is the summary, the rest the description.
    pub(super) doc: &'static [&'static str],
    /// The handler on the route's method.
    pub(super) handler: fn() -> MethodRouter<AppState>,
    /// Descriptions of path segments that [`path_param_doc`] does not know.
    pub(super) params: &'static [(&'static str, &'static str)],
    /// The query string.
    pub(super) query: Option<Params>,
    /// The JSON request body.
    pub(super) body: Option<Body>,
    /// The answer on success; the handler's `200` is sent with this status.
    pub(super) ok: Answer,
    /// Other non-error answers (`503` of `GET /health`).
    pub(super) also: &'static [Answer],
    /// The errors the service answers; see [`Operation::failures`].
    pub(super) errors: &'static [Failure],
}

impl Operation {
    /// Every REST route of the operation as `(path template, operationId)`:
    /// `path`, and for task routes its project-scoped copy.
    pub fn rest_routes(&self) -> Vec<(String, String)> {
        let mut routes = vec![(self.path.to_owned(), self.name.to_owned())];
        if self.path.starts_with("/tasks") {
            routes.push((
                format!("{PROJECT_SCOPE}{}", self.path),
                format!("{}{SCOPED_SUFFIX}", self.name),
            ));
        }
        routes
    }

    /// The names of the `{…}` segments of [`Operation::path`], in order.
    pub fn path_params(&self) -> impl Iterator<Item = &'static str> {
        self.path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
    }

    /// True when the operation takes an `Idempotency-Key` header (see
    /// [`IDEMPOTENT`]).
    pub fn idempotent(&self) -> bool {
        IDEMPOTENT.contains(&self.name)
    }

    /// Every error response the operation documents: those its extractors
    /// and the middleware answer, by rule, and those declared.
    pub fn failures(&self) -> BTreeSet<Failure> {
        let mut failures: BTreeSet<Failure> = self.errors.iter().copied().collect();
        // A URL that spells a NUL character (`%00`) is refused before routing.
        failures.insert(Failure::Unprocessable);
        if self.auth != Auth::Public {
            failures.insert(Failure::Unauthorized);
        }
        if self.auth == Auth::Actor {
            // `X-Actor-*` headers that name no valid actor.
            failures.insert(Failure::BadRequest);
        }
        if self.body.is_some() {
            failures.extend([
                Failure::BadRequest,
                Failure::PayloadTooLarge,
                Failure::Unprocessable,
            ]);
        }
        if self.idempotent() {
            // A bad key 400, a key reused 422, a key still in flight 409.
            failures.extend([
                Failure::BadRequest,
                Failure::Conflict,
                Failure::Unprocessable,
            ]);
        }
        if self.query.is_some() || self.path_params().any(path_param_is_numeric) {
            failures.insert(Failure::BadRequest);
        }
        failures
    }
}

/// The operations whose handler reads an `Idempotency-Key` header
/// (`app::KeyedJson`): a repeat answers the first answer.
pub const IDEMPOTENT: &[&str] = &[
    "create_task",
    "create_tasks",
    "add_message",
    "claim_task",
    "complete_task",
    "fail_task",
    "reject_task",
    "cancel_task",
    "reopen_task",
    "release_task",
];

/// True for the path segments that must be integers (`{id}`: a task, a
/// permission, an API key, a guardianship); a bad one answers 400.
pub fn path_param_is_numeric(name: &str) -> bool {
    name == "id" || name == "delivery_id"
}

/// What a path segment is, when the name says it; `{token}` and the `{id}`
/// of anything but a task are described by their declaration.
pub fn path_param_doc(path: &str, name: &str) -> Option<&'static str> {
    Some(match name {
        "org" => "Organization slug",
        "project" => "Project slug",
        "actor_type" => "human, agent or system",
        "actor_id" => "Actor id",
        "agent_id" => "The agent's actor id",
        "id" if path.starts_with("/tasks/") => "Task id (a positive integer)",
        _ => return None,
    })
}

/// Who may call an operation; it decides the headers and the 401 it documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    /// Credentials, or in open mode the actor the `X-Actor-*` headers name
    /// (the default).
    Actor,
    /// Credentials, in every mode: the operation is about the caller's own
    /// identity.
    Credentials,
    /// Anyone: no caller is worked out.
    Public,
}

/// The groups of operations in the document (and in the Swagger UI).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tag {
    /// Task CRUD and lists.
    Tasks,
    /// Claim, complete, fail, reject, cancel, reopen.
    Lifecycle,
    /// A task's message thread.
    Messages,
    /// A task's history.
    Events,
    /// Aggregate task statistics.
    Stats,
    /// Organizations.
    Organizations,
    /// Projects inside organizations.
    Projects,
    /// Liveness and store reachability.
    Health,
    /// Registration, login, identity and API keys.
    Auth,
    /// Humans vouching for agents.
    Guardians,
    /// Organization members and roles.
    Members,
    /// Invitations to organizations.
    Invitations,
    /// Namespace permissions.
    Permissions,
    /// Signed webhooks and their deliveries.
    Webhooks,
    /// The audit log of an organization.
    Audit,
}

impl Tag {
    /// Every tag, in the order the document lists them.
    pub const ALL: [Tag; 15] = [
        Tag::Tasks,
        Tag::Lifecycle,
        Tag::Messages,
        Tag::Events,
        Tag::Stats,
        Tag::Organizations,
        Tag::Projects,
        Tag::Health,
        Tag::Auth,
        Tag::Guardians,
        Tag::Members,
        Tag::Invitations,
        Tag::Permissions,
        Tag::Webhooks,
        Tag::Audit,
    ];

    /// The tag's name in the document.
    pub fn name(self) -> &'static str {
        self.about().0
    }

    /// The tag's description in the document.
    pub fn description(self) -> &'static str {
        self.about().1
    }

    fn about(self) -> (&'static str, &'static str) {
        match self {
            Tag::Tasks => ("tasks", "Task CRUD and lists"),
            Tag::Lifecycle => ("lifecycle", "Claim, complete, fail, reject, cancel, reopen"),
            Tag::Messages => ("messages", "A task's message thread"),
            Tag::Events => ("events", "A task's history"),
            Tag::Stats => ("stats", "Aggregate task statistics"),
            Tag::Organizations => ("organizations", "Organizations"),
            Tag::Projects => ("projects", "Projects inside organizations"),
            Tag::Health => ("health", "Liveness and store reachability"),
            Tag::Auth => ("auth", "Registration, login, identity and API keys"),
            Tag::Guardians => ("guardians", "Humans vouching for agents"),
            Tag::Members => ("members", "Organization members and roles"),
            Tag::Invitations => ("invitations", "Invitations to organizations"),
            Tag::Permissions => ("permissions", "Namespace permissions (r / rw on a project)"),
            Tag::Webhooks => (
                "webhooks",
                "Signed webhooks (Standard Webhooks) and their deliveries",
            ),
            Tag::Audit => ("audit", "The audit log of an organization"),
        }
    }
}

/// An error response. Each is one component of the document,
/// `#/components/responses/<name>`, whose body is an `ErrorBody`; operations
/// refer to it by status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Failure {
    /// 400.
    BadRequest,
    /// 401.
    Unauthorized,
    /// 403.
    Forbidden,
    /// 404.
    NotFound,
    /// 409.
    Conflict,
    /// 410: a cursor before the retained event log (`CURSOR_EXPIRED`).
    Gone,
    /// 413.
    PayloadTooLarge,
    /// 422.
    Unprocessable,
    /// 429.
    TooManyRequests,
}

impl Failure {
    /// Every error response, in status order.
    pub const ALL: [Failure; 9] = [
        Failure::BadRequest,
        Failure::Unauthorized,
        Failure::Forbidden,
        Failure::NotFound,
        Failure::Conflict,
        Failure::Gone,
        Failure::PayloadTooLarge,
        Failure::Unprocessable,
        Failure::TooManyRequests,
    ];

    /// The error response of `status`. In a declaration (a constant), a
    /// status with no error response does not compile.
    pub const fn of(status: u16) -> Failure {
        match status {
            400 => Failure::BadRequest,
            401 => Failure::Unauthorized,
            403 => Failure::Forbidden,
            404 => Failure::NotFound,
            409 => Failure::Conflict,
            410 => Failure::Gone,
            413 => Failure::PayloadTooLarge,
            422 => Failure::Unprocessable,
            429 => Failure::TooManyRequests,
            _ => panic!("no error response is declared for this status"),
        }
    }

    /// Its HTTP status.
    pub fn status(self) -> u16 {
        self.about().0
    }

    /// Its component name.
    pub fn name(self) -> &'static str {
        self.about().1
    }

    /// What it means, in the document.
    pub fn description(self) -> &'static str {
        self.about().2
    }

    fn about(self) -> (u16, &'static str, &'static str) {
        match self {
            Failure::BadRequest => (
                400,
                "BadRequest",
                "400: the request could not be read (malformed JSON, a bad path or query value, `X-Actor-*` headers that name no valid actor).",
            ),
            Failure::Unauthorized => (
                401,
                "Unauthorized",
                "401: no valid credentials (required mode, or invalid/expired/revoked ones sent).",
            ),
            Failure::Forbidden => (
                403,
                "Forbidden",
                "403: visible to the caller, but this action needs more rights.",
            ),
            Failure::NotFound => (
                404,
                "NotFound",
                "404: no such record, or not visible to the caller.",
            ),
            Failure::Conflict => (
                409,
                "Conflict",
                "409: the record's current state does not allow this; or (code IDEMPOTENCY_KEY_IN_FLIGHT) the first request with this `Idempotency-Key` is still running after 10 s.",
            ),
            Failure::Gone => (
                410,
                "Gone",
                "410: the cursor `after` is before the retained event log (code CURSOR_EXPIRED): the events after it were pruned. `pruned_through` is the oldest cursor still accepted; read the current state again and resume from there.",
            ),
            Failure::PayloadTooLarge => (
                413,
                "PayloadTooLarge",
                "413: the request body is larger than the server accepts.",
            ),
            Failure::Unprocessable => (
                422,
                "Unprocessable",
                "422: well-formed JSON whose values break a rule (wrong type, out of range, missing), or text holding a NUL character (U+0000) anywhere in the request, `%00` in the URL included; or (code IDEMPOTENCY_KEY_REUSED) an `Idempotency-Key` sent again with another request.",
            ),
            Failure::TooManyRequests => (
                429,
                "TooManyRequests",
                "429: too many sign-in attempts from this address or on this account (code RATE_LIMITED); the Retry-After header says how many seconds to wait.",
            ),
        }
    }
}

/// Registered schemas, `(name, schema)`, as `ToSchema::schemas` fills them.
pub type Schemas = Vec<(String, RefOr<Schema>)>;

/// A named schema: registered under `#/components/schemas` (with the schemas
/// it refers to) and referred to by name.
#[derive(Clone, Copy)]
pub struct Component(fn(&mut Schemas) -> RefOr<Schema>);

impl Component {
    /// The schema of `T`.
    pub const fn of<T: ToSchema>() -> Self {
        Self(register::<T>)
    }

    /// Registers the schema in `schemas` and returns a reference to it.
    pub fn register(self, schemas: &mut Schemas) -> RefOr<Schema> {
        (self.0)(schemas)
    }
}

fn register<T: ToSchema>(schemas: &mut Schemas) -> RefOr<Schema> {
    let name = T::name();
    schemas.push((name.to_string(), T::schema()));
    T::schemas(schemas);
    Ref::from_schema_name(name).into()
}

/// The parameters of a query string type.
#[derive(Clone, Copy)]
pub struct Params(fn() -> Vec<Parameter>);

impl Params {
    /// The query parameters of `T`.
    pub const fn of<T: IntoParams>() -> Self {
        Self(query_params::<T>)
    }

    /// The parameters, in the type's field order.
    pub fn parameters(self) -> Vec<Parameter> {
        (self.0)()
    }
}

fn query_params<T: IntoParams>() -> Vec<Parameter> {
    T::into_params(|| Some(utoipa::openapi::path::ParameterIn::Query))
}

/// A JSON request body.
#[derive(Clone, Copy)]
pub struct Body {
    /// Its schema.
    pub schema: Component,
    /// True when every field is optional, so no body at all (read as `{}`) is fine.
    pub may_be_empty: bool,
}

/// A non-error answer: status, what it means, and its JSON body's schema.
#[derive(Clone, Copy)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// What the answer means.
    pub description: &'static str,
    /// The body's schema.
    pub body: Component,
}

/// An async handler function, whatever its extractors (up to six), by what
/// it resolves to.
pub trait HandlerFn<Args> {
    /// What the handler's future resolves to.
    type Output;
}

macro_rules! handler_fn {
    ($($arg:ident),*) => {
        impl<H, Fut, $($arg,)*> HandlerFn<($($arg,)*)> for H
        where
            H: FnOnce($($arg),*) -> Fut,
            Fut: Future,
        {
            type Output = Fut::Output;
        }
    };
}

handler_fn!();
handler_fn!(T1);
handler_fn!(T1, T2);
handler_fn!(T1, T2, T3);
handler_fn!(T1, T2, T3, T4);
handler_fn!(T1, T2, T3, T4, T5);
handler_fn!(T1, T2, T3, T4, T5, T6);

/// A handler's answer that carries a `B` body on success.
#[diagnostic::on_unimplemented(
    message = "the handler answers `{Self}`, not the `{B}` body its declaration documents",
    label = "this handler"
)]
pub trait Answers<B> {}

impl<B> Answers<B> for crate::error::Result<Reply<B>> {}

impl<B> Answers<B> for (StatusCode, Reply<B>) {}

/// Compiles only when `handler` answers with the `B` body its declaration
/// documents.
pub const fn answers<B, Args, H>(_handler: &H)
where
    H: HandlerFn<Args>,
    H::Output: Answers<B>,
{
}

/// Declares the REST operations: one entry per operation, from which the
/// route, its OpenAPI entry and its row of the operations table all come.
///
/// ```text
/// /// Summary (first paragraph of the doc comment); more paragraphs: description.
/// name: METHOD "/path/{param}" => module::handler,
///     tag Tag, graphql "Type.field",
///     [auth Credentials | auth Public,]       // default: Actor
///     [param name "what the path segment is",]...
///     [query ParamsType,]                     // IntoParams
///     [body BodyType [or empty],]             // ToSchema; `or empty`: may be omitted
///     ok STATUS BodyType "what it means" [or STATUS BodyType "what it means"]...
///     [, errors [STATUS, ...]];               // the service's errors; see `Operation::failures`
/// ```
macro_rules! operations {
    (@or $default:expr;) => { $default };
    (@or $default:expr; $value:expr) => { $value };
    (@empty) => { false };
    (@empty empty) => { true };
    ($(
        $(#[doc = $doc:literal])*
        $name:ident: $method:ident $path:literal => $handler:path,
            tag $tag:ident, graphql $graphql:literal
            $(, auth $auth:ident)?
            $(, param $param:ident $param_doc:literal)*
            $(, query $query:ident)?
            $(, body $body:ident $(or $empty:ident)?)?
            , ok $status:literal $ok:ident $ok_doc:literal
            $(or $also_status:literal $also:ident $also_doc:literal)*
            $(, errors [$($error:literal),* $(,)?])?;
    )*) => {
        /// Every operation of the REST API, in the order the API is described.
        pub const OPERATIONS: &[$crate::rest::operation::Operation] = &[$(
            $crate::rest::operation::Operation {
                name: stringify!($name),
                method: stringify!($method),
                path: $path,
                graphql: $graphql,
                tag: $crate::rest::operation::Tag::$tag,
                auth: operations!(@or $crate::rest::operation::Auth::Actor;
                    $($crate::rest::operation::Auth::$auth)?),
                doc: &[$($doc),*],
                handler: || axum::routing::on(axum::routing::MethodFilter::$method, $handler),
                params: &[$((stringify!($param), $param_doc)),*],
                query: operations!(@or None;
                    $(Some($crate::rest::operation::Params::of::<$query>()))?),
                body: operations!(@or None; $(Some($crate::rest::operation::Body {
                    schema: $crate::rest::operation::Component::of::<$body>(),
                    may_be_empty: operations!(@empty $($empty)?),
                }))?),
                ok: {
                    $crate::rest::operation::answers::<$ok, _, _>(&$handler);
                    $crate::rest::operation::Answer {
                        status: $status,
                        description: $ok_doc,
                        body: $crate::rest::operation::Component::of::<$ok>(),
                    }
                },
                also: &[$($crate::rest::operation::Answer {
                    status: $also_status,
                    description: $also_doc,
                    body: $crate::rest::operation::Component::of::<$also>(),
                }),*],
                errors: &[$($($crate::rest::operation::Failure::of($error)),*)?],
            }
        ),*];
    };
}

pub(super) use operations;
