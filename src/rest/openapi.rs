//! `GET /openapi.json` (OpenAPI 3.1), built from the declarations in
//! `operations.rs`, and the Swagger UI at `GET /docs`, whose assets are
//! compiled into the binary. `openapi.json` at the repository root is
//! [`json`]'s output (`ats-server openapi`).

use std::collections::BTreeMap;

use axum::Router;
use utoipa::PartialSchema;
use utoipa::openapi::path::{
    HttpMethod, Operation as DocOperation, OperationBuilder, Parameter, ParameterBuilder,
    ParameterIn, PathItem,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, LicenseBuilder, OpenApi as Document,
    OpenApiBuilder, Paths, Ref, RefOr, Required, Response, ResponseBuilder, Responses,
};
use utoipa_swagger_ui::{Config, SwaggerUi};

use super::bodies::{CursorExpiredBody, ErrorBody};
use super::operation::{
    Answer, Auth, Component, Failure, Operation, PROJECT_SCOPE, Schemas, Tag, path_param_doc,
    path_param_is_numeric,
};
use super::operations::OPERATIONS;
use crate::actor::ActorType;
use crate::app::AppState;

const DESCRIPTION: &str = "Agent Task Service: tasks handed between AI agents and humans, with \
    leases and live events. Every task route also exists under \
    `/orgs/{org}/projects/{project}`, where a task of another project is 404. \
    Errors are `{\"error\": \"<sentence>\", \"code\": \"<CODE>\"}`.";

/// The OpenAPI document of the REST API: every operation of
/// [`OPERATIONS`], the task routes also under [`PROJECT_SCOPE`].
pub fn document() -> Document {
    let mut schemas = Schemas::new();
    let error_body = Component::of::<ErrorBody>().register(&mut schemas);
    let expired_body = Component::of::<CursorExpiredBody>().register(&mut schemas);
    let mut paths = Paths::new();
    for op in OPERATIONS {
        for (path, operation_id) in op.rest_routes() {
            let scoped = path != op.path;
            let operation = operation(op, operation_id, scoped, &mut schemas);
            let mut item = PathItem::new(http_method(op.method), operation);
            if scoped {
                item.parameters = Some(
                    ["org", "project"]
                        .map(|name| RefOr::T(path_param(op, PROJECT_SCOPE, name)))
                        .into(),
                );
            }
            match paths.paths.get_mut(&path) {
                Some(existing) => existing.merge_operations(item),
                None => {
                    paths.paths.insert(path, item);
                }
            }
        }
    }
    let schemas: BTreeMap<String, _> = schemas
        .into_iter()
        .map(|(name, schema)| {
            let schema = crate::service::documented::with_field_rules(&name, schema);
            (name, schema)
        })
        .collect();
    let mut components = ComponentsBuilder::new().schemas_from_iter(schemas);
    for failure in Failure::ALL {
        let body = match failure {
            Failure::Gone => expired_body.clone(),
            _ => error_body.clone(),
        };
        let content = ContentBuilder::new().schema(Some(body)).build();
        let mut response = ResponseBuilder::new()
            .description(failure.description())
            .content("application/json", content);
        if failure == Failure::TooManyRequests {
            let seconds = utoipa::openapi::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::Integer)
                .minimum(Some(1));
            let mut header = utoipa::openapi::header::Header::new(seconds);
            header.description = Some("Seconds to wait before trying again.".to_owned());
            response = response.header("Retry-After", header);
        }
        let response = response.build();
        components = components.response(failure.name(), response);
    }
    let license = LicenseBuilder::new()
        .name(env!("CARGO_PKG_LICENSE"))
        .identifier(Some(env!("CARGO_PKG_LICENSE")))
        .build();
    let info = InfoBuilder::new()
        .title("ATS REST API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(DESCRIPTION))
        .license(Some(license))
        .build();
    let tags = Tag::ALL.map(|tag| {
        TagBuilder::new()
            .name(tag.name())
            .description(Some(tag.description()))
            .build()
    });
    OpenApiBuilder::new()
        .info(info)
        .paths(paths)
        .components(Some(components.build()))
        .tags(Some(tags))
        .build()
}

/// [`document`] as the pretty-printed JSON of `openapi.json`, ending in a newline.
pub fn json() -> String {
    let mut json = document()
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    json.push('\n');
    json
}

/// The document's entry for `op` on one of its routes. On the project-scoped
/// route the org and project come from the path, so query filters of the
/// same names go away.
fn operation(
    op: &Operation,
    operation_id: String,
    scoped: bool,
    schemas: &mut Schemas,
) -> DocOperation {
    let (summary, description) = summary_and_description(op.doc);
    let mut parameters: Vec<Parameter> = op
        .path_params()
        .map(|name| path_param(op, op.path, name))
        .collect();
    if let Some(query) = op.query {
        parameters.extend(
            query
                .parameters()
                .into_iter()
                .filter(|p| !(scoped && (p.name == "org" || p.name == "project"))),
        );
    }
    if op.auth == Auth::Actor {
        parameters.extend(actor_headers());
    }
    if op.idempotent() {
        parameters.push(idempotency_key_header());
    }
    let request_body = op.body.map(|body| {
        let content = ContentBuilder::new()
            .schema(Some(body.schema.register(schemas)))
            .build();
        RequestBodyBuilder::new()
            .content("application/json", content)
            .required(Some(Required::True))
            .description(
                body.may_be_empty
                    .then_some("May be empty: no body reads as `{}`"),
            )
            .build()
    });
    let mut responses = Responses::new();
    for answer in std::iter::once(&op.ok).chain(op.also) {
        responses.responses.insert(
            answer.status.to_string(),
            RefOr::T(response(answer, schemas)),
        );
    }
    for failure in op.failures() {
        responses.responses.insert(
            failure.status().to_string(),
            RefOr::Ref(Ref::from_response_name(failure.name())),
        );
    }
    OperationBuilder::new()
        .operation_id(Some(operation_id))
        .tag(op.tag.name())
        .summary(summary)
        .description(description)
        .parameters((!parameters.is_empty()).then_some(parameters))
        .request_body(request_body)
        .responses(responses)
        .build()
}

fn response(answer: &Answer, schemas: &mut Schemas) -> Response {
    let content = ContentBuilder::new()
        .schema(Some(answer.body.register(schemas)))
        .build();
    ResponseBuilder::new()
        .description(answer.description)
        .content("application/json", content)
        .build()
}

/// The first paragraph of a doc comment, and the rest.
fn summary_and_description(doc: &[&str]) -> (Option<String>, Option<String>) {
    let lines: Vec<&str> = doc
        .iter()
        .map(|l| l.strip_prefix(' ').unwrap_or(l).trim_end())
        .collect();
    let text = lines.join("\n");
    let text = text.trim();
    let (summary, description) = text.split_once("\n\n").unwrap_or((text, ""));
    let some = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
    (some(summary), some(description))
}

/// The `{name}` segment of `path`, an operation of `op`.
fn path_param(op: &Operation, path: &str, name: &str) -> Parameter {
    let description = op
        .params
        .iter()
        .find(|(param, _)| *param == name)
        .map(|(_, doc)| *doc)
        .or_else(|| path_param_doc(path, name));
    let schema: RefOr<Schema> = if path_param_is_numeric(name) && path.starts_with("/tasks/") {
        // A task id that is not a positive integer is refused (400).
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(1))
            .into()
    } else if path_param_is_numeric(name) {
        i64::schema()
    } else if name == "actor_type" {
        ActorType::schema()
    } else {
        String::schema()
    };
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(description)
        .schema(Some(schema))
        .build()
}

/// The `X-Actor-*` headers that name the caller in open mode, with the
/// rules `Actor::new` holds them to (400 otherwise): visible ASCII (an HTTP
/// header value), an id of 1 to 200 characters that is not blank, a name of
/// at most 200.
fn actor_headers() -> [Parameter; 3] {
    let max = crate::actor::MAX_ACTOR_FIELD;
    let text = |min: usize, pattern: &str| -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length((min > 0).then_some(min))
            .max_length(Some(max))
            .pattern(Some(pattern))
            .into()
    };
    [
        (
            "X-Actor-Type",
            "Who acts: human (default), agent or system. Needs `X-Actor-ID`.",
            ActorType::schema(),
        ),
        (
            "X-Actor-ID",
            "The actor's id (1 to 200 characters, not blank); without actor headers the caller is human:anonymous",
            text(1, "^[ -~]*[!-~][ -~]*$"),
        ),
        (
            "X-Actor-Name",
            "The actor's display name (at most 200 characters)",
            text(0, "^[ -~]*$"),
        ),
    ]
    .map(|(name, description, schema)| {
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(description))
            .schema(Some(schema))
            .build()
    })
}

/// The `Idempotency-Key` header of the writes that take one.
fn idempotency_key_header() -> Parameter {
    ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Sent again with the same request by the same caller within 24 h, answers the first answer (status and body) without writing again; with another request, 422 IDEMPOTENCY_KEY_REUSED; while the first still runs, waits for it (409 IDEMPOTENCY_KEY_IN_FLIGHT after 10 s). 1 to 255 printable ASCII characters.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(crate::service::idempotency::MAX_KEY_LEN))
                .pattern(Some("^[ -~]+$")),
        ))
        .build()
}

fn http_method(method: &str) -> HttpMethod {
    match method {
        "GET" => HttpMethod::Get,
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        "PATCH" => HttpMethod::Patch,
        "DELETE" => HttpMethod::Delete,
        "HEAD" => HttpMethod::Head,
        "OPTIONS" => HttpMethod::Options,
        "TRACE" => HttpMethod::Trace,
        other => unreachable!("no OpenAPI method {other}"),
    }
}

/// `GET /openapi.json` and the Swagger UI under `/docs`. The UI's online
/// spec validator is off, so the page makes no request off this server.
pub fn routes() -> Router<AppState> {
    SwaggerUi::new("/docs")
        .url("/openapi.json", document())
        .config(Config::default().validator_url("none"))
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_segment_is_described() {
        for op in OPERATIONS {
            for name in op.path_params() {
                let param = path_param(op, op.path, name);
                assert!(
                    param.description.is_some(),
                    "{}: say what {{{name}}} is with `param {name} \"…\"`",
                    op.name
                );
            }
            for (name, _) in op.params {
                assert!(
                    op.path_params().any(|p| p == *name),
                    "{}: `param {name}` is not a segment of {}",
                    op.name,
                    op.path
                );
            }
        }
    }

    #[test]
    fn doc_comments_split_into_summary_and_description() {
        assert_eq!(
            summary_and_description(&[" One line,", " two lines.", "", " More."]),
            (Some("One line,\ntwo lines.".into()), Some("More.".into()))
        );
        assert_eq!(summary_and_description(&[]), (None, None));
    }

    #[test]
    fn every_idempotent_operation_exists() {
        for name in crate::rest::operation::IDEMPOTENT {
            assert!(
                OPERATIONS.iter().any(|op| op.name == *name),
                "{name} is not an operation"
            );
        }
    }

    #[test]
    fn every_operation_has_a_summary() {
        let document = document();
        for (path, item) in &document.paths.paths {
            for op in [&item.get, &item.post, &item.patch, &item.delete]
                .into_iter()
                .flatten()
            {
                assert!(op.summary.is_some(), "{path}: no summary");
            }
        }
    }
}
