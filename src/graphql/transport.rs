//! HTTP and WebSocket endpoints: `/graphql`, `/graphql/ws`, `/graphiql`.

use async_graphql::dataloader::{DataLoader, HashMapCache};
use std::str::FromStr;

use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource, WebSocketProtocols, WsMessage};
use async_graphql::{Data, Request};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::Router;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{Query, State, WebSocketUpgrade};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};

use super::loaders::{EventsLoader, HandoffsLoader, MessagesLoader, SubtasksLoader, TaskLoader};
use crate::app::sockets;
use crate::app::{AppState, ClientIp};
use crate::auth::caller::{Caller, SocketQuery};
use crate::error::Error;
use crate::service::{Ats, Viewer};

/// The GraphQL routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/graphql", get(execute).post(execute))
        .route("/graphql/ws", get(subscribe))
        .route("/graphiql", get(graphiql))
}

/// Per-request data: the viewer and DataLoaders over its rights.
pub fn request_data(ats: &Ats, viewer: Viewer) -> Data {
    let mut data = Data::default();
    macro_rules! loaders {
        ($($loader:ident),*) => {$(
            data.insert(DataLoader::with_cache(
                $loader(ats.clone(), viewer.clone()),
                tokio::spawn,
                HashMapCache::default(),
            ));
        )*};
    }
    loaders!(
        MessagesLoader,
        EventsLoader,
        TaskLoader,
        SubtasksLoader,
        HandoffsLoader
    );
    data.insert(viewer);
    data
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

/// Whether `req` only signs in, registers or resets a password (`login`,
/// `register`, `resetPassword`), which need
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
                if matches!(f.node.name.node.as_str(), "login" | "register" | "resetPassword" | "__typename"))
        })
}

/// Refuses a request whose document or variables hold a NUL character.
fn refuse_nul(req: &Request) -> Result<(), Error> {
    refuse_nul_in(&req.query, &req.variables)
}

/// Refuses a document or variables holding a NUL character (spelled
/// `\u0000` in the document, or in any string or key of the variables).
/// Checked here for HTTP requests, and by [`super::bounds::DocumentBounds`]
/// for every operation, however it came (`/graphql/ws` too).
pub(super) fn refuse_nul_in(
    query: &str,
    variables: &async_graphql::Variables,
) -> Result<(), Error> {
    fn walk(v: &async_graphql::Value) -> Result<(), Error> {
        use async_graphql::Value as V;
        match v {
            V::String(s) => crate::service::validate::no_nul(s),
            V::List(items) => items.iter().try_for_each(walk),
            V::Object(map) => map.iter().try_for_each(|(k, v)| {
                crate::service::validate::no_nul(k.as_str())?;
                walk(v)
            }),
            _ => Ok(()),
        }
    }
    crate::service::validate::no_nul_escape(query.as_bytes())?;
    variables.iter().try_for_each(|(k, v)| {
        crate::service::validate::no_nul(k.as_str())?;
        walk(v)
    })
}

fn error_response(err: async_graphql::Error) -> Response {
    let resp =
        async_graphql::Response::from_errors(vec![err.into_server_error(Default::default())]);
    GraphQLResponse::from(resp).into_response()
}

async fn execute(
    State(state): State<AppState>,
    client: ClientIp,
    method: Method,
    headers: HeaderMap,
    req: GraphQLRequest,
) -> Response {
    let mut req = req.into_inner();
    if let Err(e) = refuse_nul(&req) {
        return error_response(super::error::to_gql(e));
    }
    // Before `is_mutation` and `is_public` parse the document: a document
    // nested a few hundred brackets deep overflows the parser's stack.
    if let Err(e) = super::bounds::before_parsing(&req.query) {
        let resp = async_graphql::Response::from_errors(vec![e]);
        return GraphQLResponse::from(resp).into_response();
    }
    if method == Method::GET && is_mutation(&req) {
        return error_response(super::error::bad_request(
            "mutations must be sent with POST",
        ));
    }
    let viewer = match Caller::from_headers(&headers) {
        Ok(caller) => state.ats.viewer(&caller).await,
        Err(e) => Err(e),
    };
    match viewer {
        Ok(viewer) => {
            viewer.set_origin(crate::app::request_id(&headers), Some(client.0.to_string()));
            req.data = request_data(&state.ats, viewer)
        }
        // Signing in needs no credentials; its resolvers take no viewer.
        Err(Error::Unauthenticated(_))
            if !headers.contains_key(AUTHORIZATION) && is_public(&req) => {}
        Err(e) => {
            let status = e.status();
            let mut resp = error_response(super::error::to_gql(e));
            *resp.status_mut() = status;
            return resp;
        }
    }
    // `login` and `register` count against the client's sign-in limit.
    req.data.insert(client);
    let budget = std::time::Duration::from_millis(state.config.graphql_timeout_ms);
    let started = tokio::time::Instant::now();
    // `timeout` polls the request once before looking at the clock, so a
    // request that finished in that poll is checked against the budget too.
    match tokio::time::timeout(budget, state.schema.execute(req)).await {
        Ok(resp) if started.elapsed() <= budget => GraphQLResponse::from(resp).into_response(),
        _ => {
            let mut resp = error_response(super::error::to_gql(Error::Timeout(format!(
                "the request ran past its time budget of {} ms and was stopped",
                budget.as_millis()
            ))));
            *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            resp
        }
    }
}

/// `GET /graphql/ws`: both subscription subprotocols. The caller comes from
/// the `connection_init` payload or the upgrade request; once known, the
/// socket is closed with 4403 as soon as its credential stops holding (a
/// revoked key, a removed identity, an expired token), and with 1001 when
/// the server shuts down.
async fn subscribe(
    State(state): State<AppState>,
    client: ClientIp,
    headers: HeaderMap,
    Query(query): Query<SocketQuery>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let Some(protocol) = subprotocol(&headers) else {
        return Error::bad_request(
            "Sec-WebSocket-Protocol must name graphql-transport-ws or graphql-ws",
        )
        .into_response();
    };
    let upgrade = upgrade.protocols(ALL_WEBSOCKET_PROTOCOLS);
    let slot = match state.sockets.admit(Some(client.0)) {
        Ok(slot) => slot,
        Err(refusal) => return sockets::refuse(upgrade, &refusal),
    };
    // A malformed credential on the upgrade itself is refused at init.
    let upgrade_caller = Caller::from_socket(&headers, &query).ok();
    sockets::configure(upgrade, state.config.ws_max_message_bytes)
        .on_upgrade(move |socket| async move {
            let _slot = slot;
            serve_socket(state, socket, protocol, upgrade_caller, client).await
        })
        .into_response()
}

/// The first subscription subprotocol the client offers that we speak.
fn subprotocol(headers: &HeaderMap) -> Option<WebSocketProtocols> {
    headers
        .get(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',')
                .find_map(|p| WebSocketProtocols::from_str(p.trim()).ok())
        })
}

/// The close code for a `connection_init` the service refused: 4401 without
/// valid credentials, 4403 for credentials that may not subscribe.
fn init_refusal(e: &Error) -> (u16, String) {
    let code = match e {
        Error::Unauthenticated(_) => 4401,
        _ => 4403,
    };
    (code, e.public_message())
}

async fn serve_socket(
    state: AppState,
    socket: WebSocket,
    protocol: WebSocketProtocols,
    upgrade_caller: Option<Caller>,
    client: ClientIp,
) {
    let (mut sink, stream) = socket.split();
    let (viewer_tx, mut viewer_rx) = tokio::sync::watch::channel::<Option<Viewer>>(None);
    let mut init_watch = viewer_rx.clone();
    // Messages in, until the first error or oversized message; a message
    // over the limit leaves the close frame to send here.
    let max_message = state.config.ws_max_message_bytes;
    let max_before_init = sockets::MAX_INIT_MESSAGE.min(max_message);
    let oversize: std::sync::Arc<std::sync::Mutex<Option<(u16, String)>>> = Default::default();
    let too_big = oversize.clone();
    let initialised = viewer_rx.clone();
    let input = stream
        .map(move |msg| {
            let refuse = |limit, when| {
                *too_big.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(sockets::too_big_close(limit, when));
                None
            };
            match msg {
                Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                    let m = m.into_data();
                    if m.len() > max_before_init && initialised.borrow().is_none() {
                        return refuse(max_before_init, "before connection_init");
                    }
                    Some(Some(m))
                }
                Ok(_) => Some(None),
                Err(e) if sockets::is_too_big(&e) => refuse(max_message, "per message"),
                Err(_) => None,
            }
        })
        .take_while(|item| futures_util::future::ready(item.is_some()))
        .filter_map(|item| futures_util::future::ready(item.flatten()));
    let refused: std::sync::Arc<std::sync::Mutex<Option<Error>>> = Default::default();
    let refusal = refused.clone();
    let ats = state.ats.clone();
    let executor = super::SharingExecutor::new(
        state.schema.clone(),
        state.shared_subscriptions.clone(),
        state.ats.clone(),
    );
    let output = async_graphql::http::WebSocket::new(executor, input, protocol).on_connection_init(
        move |payload| async move {
            let refuse = |e: Error| {
                let message = e.public_message();
                *refusal.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                async_graphql::Error::new(message)
            };
            let caller = Caller::from_init_payload(&payload, upgrade_caller).map_err(refuse)?;
            let viewer = ats.viewer(&caller).await.map_err(refuse)?;
            let _ = viewer_tx.send(Some(viewer.clone()));
            let mut data = request_data(&ats, viewer);
            data.insert(super::loaders::LiveConnection);
            // A `login` sent over the socket counts against its address.
            data.insert(client);
            Ok(data)
        },
    );
    futures_util::pin_mut!(output);
    let revoked = async {
        let viewer = loop {
            if let Some(v) = viewer_rx.borrow_and_update().clone() {
                break v;
            }
            if viewer_rx.changed().await.is_err() {
                return std::future::pending().await;
            }
        };
        // Watched in a task of its own: a check suspended here while this
        // socket waits to send would hold its database connection.
        let ats = state.ats.clone();
        let watcher =
            sockets::OwnedTask::spawn(async move { ats.credential_revoked(&viewer).await });
        match watcher.await {
            Ok(err) => err,
            Err(_) => std::future::pending().await,
        }
    };
    futures_util::pin_mut!(revoked);
    let mut shutdown = state.shutdown.clone();
    // A socket that never completes `connection_init` is closed with 4408.
    let init_timeout = std::time::Duration::from_millis(state.config.ws_init_timeout_ms);
    let initialised = async {
        let _ = init_watch.wait_for(|v| v.is_some()).await;
    };
    let init_deadline = tokio::time::timeout(init_timeout, initialised);
    futures_util::pin_mut!(init_deadline);
    let mut init_pending = true;
    let mut output_ended = false;
    let close = loop {
        tokio::select! {
            item = output.next() => match item {
                Some(WsMessage::Text(text)) => {
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                    // graphql-ws answers a refused init with `connection_error`
                    // and leaves the socket open: close it.
                    let init_error = refused.lock().unwrap_or_else(|p| p.into_inner()).take();
                    if let Some(e) = init_error {
                        break init_refusal(&e);
                    }
                }
                Some(WsMessage::Close(code, reason)) => {
                    let init_error = refused.lock().unwrap_or_else(|p| p.into_inner()).take();
                    break match init_error {
                        Some(e) => init_refusal(&e),
                        None => (code, reason),
                    };
                }
                None => match oversize.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    Some(close) => {
                        output_ended = true;
                        break close;
                    }
                    None => return,
                },
            },
            timed = &mut init_deadline, if init_pending => {
                init_pending = false;
                if timed.is_err() {
                    break (4408, "connection initialisation timeout".to_owned());
                }
            },
            err = &mut revoked => break (4403, err.public_message()),
            _ = shutdown.changed() => break (1001, sockets::SHUTDOWN_REASON.to_owned()),
        }
    };
    let _ = sink
        .send(Message::Close(Some(CloseFrame {
            code: close.0,
            reason: close.1.into(),
        })))
        .await;
    let _ = sink.close().await;
    // Wait (briefly) for the client's close reply: what it sends meanwhile
    // is read and dropped, and the input ends with its close frame.
    if !output_ended {
        let _ = tokio::time::timeout(sockets::CLOSE_LINGER, async {
            while output.next().await.is_some() {}
        })
        .await;
    }
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
