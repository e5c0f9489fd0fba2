//! The schema's one extension, [`Guards`]: error codes ([`DefaultCode`]),
//! document bounds ([`DocumentBounds`]) and the per-caller gate ([`Gate`]),
//! each hook handed to the part that owns it.
//!
//! One extension rather than three because async-graphql runs every field
//! of every request through each extension's `resolve` hook (a boxed future
//! per extension per field), none of which these use.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextRequest,
    NextSubscribe, NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Response, ServerError, ServerResult, ValidationResult, Variables};
use futures_util::stream::BoxStream;

use super::bounds::DocumentBounds;
use super::error::DefaultCode;
use super::gate::Gate;

/// Makes one [`Guarded`] per request from the three parts.
pub struct Guards {
    pub codes: DefaultCode,
    pub bounds: DocumentBounds,
    pub gate: Gate,
}

impl ExtensionFactory for Guards {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Guarded {
            codes: self.codes.create(),
            bounds: self.bounds.create(),
            gate: self.gate.create(),
        })
    }
}

/// One request's guards.
struct Guarded {
    codes: Arc<dyn Extension>,
    bounds: Arc<dyn Extension>,
    gate: Arc<dyn Extension>,
}

#[async_graphql::async_trait::async_trait]
impl Extension for Guarded {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        self.codes.request(ctx, next).await
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        self.codes.subscribe(ctx, stream, next)
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        self.bounds.parse_query(ctx, query, variables, next).await
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        self.gate.validation(ctx, next).await
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        self.gate.execute(ctx, operation_name, next).await
    }
}
