//! How the request types' rules appear in the OpenAPI document, where a
//! `#[schema(…)]` attribute cannot say them: the closed vocabularies a
//! request names (roles, access levels, sort keys), and the schemas of the
//! fields whose items or alternatives carry rules of their own.
//!
//! The rules themselves live where they are checked (`validate.rs`, the
//! service functions); these only describe them, so generated requests (the
//! CI fuzzer's among them) get past validation. The document's tests hold
//! the numbers here to the constants there.

use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AllOfBuilder, AnyOfBuilder, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type,
};

/// Not blank: at least one character that is not white space. Values are
/// trimmed before their length is checked.
pub const NOT_BLANK: &str = r"\S";

/// An org or project slug (`validate::slug`).
pub const SLUG: &str = "^[a-z0-9][a-z0-9-]{0,62}$";

/// A role in an organization.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, deleting the org included.
    Owner,
    /// Manages the org, its members and projects.
    Admin,
    /// Reads and writes tasks (the default).
    Member,
    /// Reads only.
    Viewer,
}

/// What a namespace permission grants.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
pub enum PermissionAccess {
    /// Read.
    #[serde(rename = "r")]
    Read,
    /// Read and write.
    #[serde(rename = "rw")]
    ReadWrite,
}

/// The key a task list is ordered by.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskSortKey {
    /// When the task was created (the default).
    CreatedAt,
    /// When it last changed.
    UpdatedAt,
    /// Its priority.
    Priority,
    /// Its title.
    Title,
}

/// The direction of a task list's order.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SortDirection {
    /// Smallest first.
    Asc,
    /// Largest first (the default).
    Desc,
}

/// The actor types an identity may register as (`system` is the service's own).
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RegistrableActorType {
    /// A person (the default).
    Human,
    /// An AI agent.
    Agent,
}

fn string(min: Option<usize>, max: Option<usize>, pattern: Option<&str>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(min)
        .max_length(max)
        .pattern(pattern)
}

fn nullable(types: impl IntoIterator<Item = Type>) -> SchemaType {
    types.into_iter().chain([Type::Null]).collect()
}

/// `outputs` of `complete`: an object (one output), an array of outputs, or
/// nothing.
pub fn outputs() -> Schema {
    ObjectBuilder::new()
        .schema_type(nullable([Type::Object, Type::Array]))
        .description(Some(
            "Results to append to the task's `outputs`: an object (one output) or an array \
             of outputs; the task's outputs stay within 1 MiB in all.",
        ))
        .into()
}

/// `parts` of a message: 1 to 100 parts, each text, data, a URL or a file.
pub fn message_parts() -> Schema {
    let kind = |name: &str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some([name]))
    };
    let url = || string(Some(1), None, Some(NOT_BLANK));
    let text = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("type", kind("text"))
        .property("content", ObjectBuilder::new().schema_type(Type::String))
        .required("type")
        .required("content")
        .description(Some("Text."));
    let data = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("type", kind("data"))
        .property(
            "content",
            ObjectBuilder::new()
                .schema_type(SchemaType::AnyValue)
                .description(Some("Any JSON value.")),
        )
        .required("type")
        .required("content")
        .description(Some("JSON data."));
    let link = |name: &'static str, mime_required: bool| {
        let mut part = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("type", kind(name))
            .property("url", url())
            .property("mime", ObjectBuilder::new().schema_type(Type::String))
            .property("name", ObjectBuilder::new().schema_type(Type::String))
            .property(
                "content",
                ObjectBuilder::new().schema_type(SchemaType::AnyValue),
            )
            .required("type")
            .required("url");
        if mime_required {
            part = part.required("mime");
        }
        part
    };
    let part = OneOfBuilder::new()
        .item(text)
        .item(data)
        .item(link("url", false).description(Some("A link.")))
        .item(link("file", true).description(Some("A file, by its URL and MIME type.")));
    ArrayBuilder::new()
        .schema_type(nullable([Type::Array]))
        .items(part)
        .min_items(Some(1))
        .max_items(Some(super::messages::MAX_PARTS))
        .description(Some(
            "Required: 1 to 100 parts `{type, …}`: `text` (string `content`), `data` (any JSON \
             `content`), `url` (`url`), or `file` (`url` and `mime`); at most 256 KiB in all, \
             serialized.",
        ))
        .into()
}

/// `next_steps` of a handoff: at most 100 steps, each 1 to 2 000 characters
/// and not blank.
pub fn next_steps() -> Schema {
    ArrayBuilder::new()
        .schema_type(nullable([Type::Array]))
        .items(string(Some(1), Some(2000), Some(NOT_BLANK)))
        .max_items(Some(100))
        .description(Some(
            "What the next session should do: at most 100 steps, each not blank and at most \
             2 000 bytes (UTF-8).",
        ))
        .into()
}

/// `projects` of a new API key: 1 to 100 `org/project` names.
pub fn key_projects() -> Schema {
    ArrayBuilder::new()
        .schema_type(nullable([Type::Array]))
        .items(string(
            Some(3),
            Some(127),
            Some("^[a-z0-9][a-z0-9-]{0,62}/[a-z0-9][a-z0-9-]{0,62}$"),
        ))
        .min_items(Some(1))
        .max_items(Some(100))
        .description(Some(
            "Limit the key to these 1 to 100 `org/project` names (default: all projects).",
        ))
        .into()
}

/// An email address as the service takes one: a local part, `@`, and a
/// domain with a dot that does not start with one; at most 254 characters.
/// (Stated in printable ASCII, where characters and bytes count alike.)
pub fn email() -> Schema {
    string(
        Some(3),
        Some(254),
        Some(r"^[!-?A-~]+@[!-\-/-?A-~][!-?A-~]*\.[!-?A-~]*$"),
    )
    .schema_type(nullable([Type::String]))
    .description(Some("An email address (at most 254 characters)."))
    .into()
}

/// A request body's schema with the rules between its fields that no
/// field's schema can state: `NewInvitation` takes an `email` or an
/// `actor_id`, not both; `Login` an `email` or an `actor_id` (the email wins
/// when both are sent). Other schemas are returned as they are.
pub fn with_field_rules(name: &str, schema: RefOr<Schema>) -> RefOr<Schema> {
    let (fields, exclusive) = match name {
        "NewInvitation" => (["email", "actor_id"], true),
        "Login" => (["email", "actor_id"], false),
        _ => return schema,
    };
    let given = |field: &str| -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property(field, ObjectBuilder::new().schema_type(Type::String))
            .required(field)
            .into()
    };
    let choice: Schema = if exclusive {
        fields
            .iter()
            .fold(OneOfBuilder::new(), |b, f| b.item(given(f)))
            .into()
    } else {
        fields
            .iter()
            .fold(AnyOfBuilder::new(), |b, f| b.item(given(f)))
            .into()
    };
    AllOfBuilder::new().item(schema).item(choice).into()
}
