//! HTTP and WebSocket endpoints: `/graphql`, `/graphql/ws`, `/graphiql`.

use async_graphql::dataloader::{DataLoader, HashMapCache};
use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource};
use async_graphql::{Data, Request};
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::Router;
use axum::extract::{State, WebSocketUpgrade};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, Method};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;

use super::loaders::{EventsLoader, HandoffsLoader, MessagesLoader, SubtasksLoader, TaskLoader};
use crate::actor::Actor;
use crate::error::Error;
use crate::rest::{AppState, caller};
use crate::service::{Ats, Principal};

/// The GraphQL routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/graphql", get(execute).post(execute))
        .route("/graphql/ws", get(subscribe))
        .route("/graphiql", get(graphiql))
}

/// Per-connection data of a subscription socket: the actor and DataLoaders,
/// marked live so that `TaskEvent.task` always reads the task afresh.
fn request_data(ats: &Ats, actor: Actor) -> Data {
    let mut data = Data::default();
    data.insert(actor);
    data.insert(DataLoader::with_cache(
        MessagesLoader(ats.clone()),
        tokio::spawn,
        HashMapCache::default(),
    ));
    data.insert(DataLoader::with_cache(
        EventsLoader(ats.clone()),
        tokio::spawn,
        HashMapCache::default(),
    ));
    data.insert(DataLoader::with_cache(
        TaskLoader(ats.clone()),
        tokio::spawn,
        HashMapCache::default(),
    ));
    data.insert(DataLoader::with_cache(
        SubtasksLoader(ats.clone()),
        tokio::spawn,
        HashMapCache::default(),
    ));
    data.insert(DataLoader::with_cache(
        HandoffsLoader(ats.clone()),
        tokio::spawn,
        HashMapCache::default(),
    ));
    data.insert(super::types::ReadableProjects::default());
    data.insert(super::loaders::LiveConnection);
    data
}

fn with_request_data(req: Request, ats: &Ats, actor: Actor) -> Request {
    req.data(actor)
        .data(DataLoader::with_cache(
            MessagesLoader(ats.clone()),
            tokio::spawn,
            HashMapCache::default(),
        ))
        .data(DataLoader::with_cache(
            EventsLoader(ats.clone()),
            tokio::spawn,
            HashMapCache::default(),
        ))
        .data(DataLoader::with_cache(
            TaskLoader(ats.clone()),
            tokio::spawn,
            HashMapCache::default(),
        ))
        .data(DataLoader::with_cache(
            SubtasksLoader(ats.clone()),
            tokio::spawn,
            HashMapCache::default(),
        ))
        .data(DataLoader::with_cache(
            HandoffsLoader(ats.clone()),
            tokio::spawn,
            HashMapCache::default(),
        ))
        .data(super::types::ReadableProjects::default())
}

fn is_mutation(req: &Request) -> bool {
    match async_graphql::parser::parse_query(&req.query) {
        Ok(doc) => doc
            .operations
            .iter()
            .any(|(_, op)| op.node.ty == async_graphql::parser::types::OperationType::Mutation),
        Err(_) => false,
    }
}

/// Whether `req` only signs in or registers (`login`, `register`), which need
/// no credentials even when the server requires them.
fn is_public(req: &Request) -> bool {
    use async_graphql::parser::types::{OperationType, Selection};
    let Ok(doc) = async_graphql::parser::parse_query(&req.query) else {
        return false;
    };
    let op = doc.operations.iter().find(|(name, _)| {
        req.operation_name.is_none() || name.map(|n| n.as_str()) == req.operation_name.as_deref()
    });
    let Some((_, op)) = op else { return false };
    if doc.operations.iter().count() > 1 && req.operation_name.is_none() {
        return false;
    }
    op.node.ty == OperationType::Mutation
        && op.node.selection_set.node.items.iter().all(|sel| {
            matches!(&sel.node, Selection::Field(f)
                if matches!(f.node.name.node.as_str(), "login" | "register" | "__typename"))
        })
}

fn error_response(err: async_graphql::Error) -> Response {
    let resp =
        async_graphql::Response::from_errors(vec![err.into_server_error(Default::default())]);
    GraphQLResponse::from(resp).into_response()
}

async fn execute(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    req: GraphQLRequest,
) -> Response {
    let req = req.into_inner();
    if method == Method::GET && is_mutation(&req) {
        return error_response(super::error::bad_request(
            "mutations must be sent with POST",
        ));
    }
    let (actor, principal) = match caller(&headers, &state).await {
        Ok(c) => c,
        Err(Error::Unauthenticated(_))
            if !headers.contains_key(AUTHORIZATION) && is_public(&req) =>
        {
            (Actor::anonymous(), None)
        }
        Err(e) => {
            let mut resp = error_response(super::error::to_gql(e));
            *resp.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
            return resp;
        }
    };
    let req = with_request_data(req, &state.ats, actor).data(principal);
    GraphQLResponse::from(state.schema.execute(req).await).into_response()
}

/// The actor of a subscription connection: credentials in the `connection_init`
/// payload (`{"Authorization": "Bearer …"}`) or the `?token=` query parameter;
/// in open mode without credentials, the payload's `X-Actor-*` (or
/// `actor_type`/`actor_id`/`actor_name`) fields.
async fn caller_from_init(
    ats: &Ats,
    payload: &Value,
    query_token: Option<String>,
) -> async_graphql::Result<(Actor, Option<Principal>)> {
    let auth = ["Authorization", "authorization"]
        .iter()
        .find_map(|k| payload.get(*k).and_then(Value::as_str))
        .map(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
                .unwrap_or(v)
                .to_owned()
        });
    if let Some(token) = auth.or(query_token) {
        return ats
            .authenticate(&token)
            .await
            .map(|p| (p.actor.clone(), Some(p)))
            .map_err(|e| async_graphql::Error::new(e.public_message()));
    }
    if ats.auth_mode() == crate::auth::AuthMode::Required {
        return Err(async_graphql::Error::new(
            "credentials required: send Authorization in connection_init",
        ));
    }
    let field = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| payload.get(*k).and_then(Value::as_str))
            .map(str::to_owned)
    };
    let actor_type = field(&["X-Actor-Type", "x-actor-type", "actor_type", "actorType"]);
    let actor_id = field(&[
        "X-Actor-ID",
        "X-Actor-Id",
        "x-actor-id",
        "actor_id",
        "actorId",
    ]);
    let actor_name = field(&["X-Actor-Name", "x-actor-name", "actor_name", "actorName"]);
    let actor = match (actor_type, actor_id) {
        (None, None) => Actor::anonymous(),
        (t, Some(id)) => Actor::new(t.as_deref().unwrap_or("human"), &id, actor_name.as_deref())
            .map_err(|e| async_graphql::Error::new(e.public_message()))?,
        (Some(_), None) => {
            return Err(async_graphql::Error::new(
                "actor id is required with actor type",
            ));
        }
    };
    Ok((actor, None))
}

/// Query of `GET /graphql/ws`.
#[derive(Debug, serde::Deserialize)]
struct WsQuery {
    token: Option<String>,
}

async fn subscribe(
    State(state): State<AppState>,
    protocol: GraphQLProtocol,
    axum::extract::Query(q): axum::extract::Query<WsQuery>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let schema = state.schema.clone();
    let ats = state.ats.clone();
    let query_token = q.token;
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |stream| {
            GraphQLWebSocket::new(stream, schema, protocol)
                .on_connection_init(move |payload| async move {
                    let query_token = query_token;
                    let (actor, principal) = caller_from_init(&ats, &payload, query_token).await?;
                    let mut data = request_data(&ats, actor);
                    data.insert(principal);
                    Ok(data)
                })
                .serve()
        })
        .into_response()
}

async fn graphiql() -> Html<String> {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/graphql/ws")
            .title("ATS GraphiQL")
            .finish(),
    )
}
