//! Service errors as GraphQL errors with `extensions.code`.

use async_graphql::ErrorExtensions;

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
    async_graphql::Error::new(e.public_message()).extend_with(|_, ext| ext.set("code", code))
}

/// A BAD_REQUEST error.
pub fn bad_request(msg: impl Into<String>) -> async_graphql::Error {
    to_gql(Error::bad_request(msg))
}
