//! Service errors as GraphQL errors with `extensions.code`.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextRequest, NextSubscribe,
};
use async_graphql::futures_util::stream::{BoxStream, StreamExt};
use async_graphql::{ErrorExtensions, Response};

use crate::error::Error;

/// Result of a resolver.
pub type GqlResult<T> = async_graphql::Result<T>;

/// Converts a service result, keeping the error's code. Use this rather than
/// `?` on a service error: async-graphql's blanket conversion would drop the code.
pub trait OrGql<T> {
    /// The result with a GraphQL error carrying `extensions.code`.
    fn gql(self) -> GqlResult<T>;
}

impl<T> OrGql<T> for Result<T, Error> {
    fn gql(self) -> GqlResult<T> {
        self.map_err(to_gql)
    }
}

/// The GraphQL error for a service error.
pub fn to_gql(e: Error) -> async_graphql::Error {
    if let Error::Internal(detail) = &e {
        tracing::error!(error = %detail, "graphql operation failed");
    }
    let code = match &e {
        Error::PayloadTooLarge(_) => "BAD_REQUEST",
        other => other.code(),
    };
    let retry_after = match &e {
        Error::RateLimited { retry_after, .. } => Some(*retry_after),
        _ => None,
    };
    // Ids go out as strings, like the `ID`s they are (`oldestId`, `prunedThrough`).
    let details: Vec<(String, String)> = e
        .details()
        .into_iter()
        .map(|(key, value)| (camel_case(key), value.to_string()))
        .collect();
    async_graphql::Error::new(e.public_message()).extend_with(|_, ext| {
        ext.set("code", code);
        if let Some(seconds) = retry_after {
            ext.set("retryAfter", seconds);
        }
        for (key, value) in &details {
            ext.set(key, value.as_str());
        }
    })
}

/// `oldest_id` → `oldestId`.
fn camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A BAD_REQUEST error.
pub fn bad_request(msg: impl Into<String>) -> async_graphql::Error {
    to_gql(Error::bad_request(msg))
}

/// Gives `extensions.code` to every error that has none. Those async-graphql
/// finds in the request itself (syntax, unknown fields, variables, depth and
/// complexity limits, which have no path; argument values and validators,
/// refused as a field runs) get `BAD_REQUEST`. The service's own errors
/// always carry their code already, so any other error raised while a
/// field ran is a fault of ours: `INTERNAL`, never blamed on the request.
pub struct DefaultCode;

impl ExtensionFactory for DefaultCode {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DefaultCode)
    }
}

fn with_codes(mut resp: Response) -> Response {
    for err in &mut resp.errors {
        // async-graphql's own refusals of a document over a limit: say which
        // limit, and what it is.
        let refused = match err.message.as_str() {
            "Query is too complex." => Some(("QUERY_TOO_COMPLEX", super::MAX_COMPLEXITY, "cost")),
            "Query is nested too deep." => Some(("QUERY_TOO_DEEP", super::MAX_DEPTH, "depth")),
            _ => None,
        };
        let ext = err.extensions.get_or_insert_with(Default::default);
        if let Some((code, limit, what)) = refused {
            err.message = format!(
                "the query is over the {what} limit of {limit}: ask for fewer fields, aliases or items per page"
            );
            ext.set("code", code);
            ext.set("limit", limit);
        } else if ext.get("code").is_none() {
            let from_a_field = !err.path.is_empty();
            // async-graphql's own refusals of argument and variable values.
            let bad_argument = [
                "Failed to parse",
                "Expected input type",
                "Invalid value",
                "Variable ",
            ]
            .iter()
            .any(|p| err.message.starts_with(p));
            if from_a_field && !bad_argument {
                tracing::error!(error = %err.message, path = ?err.path, "GraphQL field failed without a code");
                ext.set("code", "INTERNAL");
            } else {
                ext.set("code", "BAD_REQUEST");
            }
        }
    }
    resp
}

#[async_graphql::async_trait::async_trait]
impl Extension for DefaultCode {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        with_codes(next.run(ctx).await)
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        next.run(ctx, stream).map(with_codes).boxed()
    }
}
