//! Bounds on a GraphQL document checked as soon as it is parsed, before
//! validation (whose overlapping-fields rule costs the square of a
//! document's aliases) and before the cost model:
//! - at most [`MAX_FIELDS`] field selections (aliases and fragment uses each
//!   count), refused with `QUERY_TOO_COMPLEX` and the limit;
//! - at most one sign-in (`login` or `register`): each runs argon2, and
//!   aliases would let one request test many passwords;
//! - no NUL character in the document or the variables (refused with
//!   `BAD_REQUEST`, as over REST), whichever transport brought it: over
//!   `/graphql/ws` it reached the store (SQLite kept it; PostgreSQL failed).
//! - brackets (`{`, `[`, `(`) nested at most [`MAX_NESTING`] deep, checked
//!   on the text before it is parsed: the parser and the value checks
//!   recurse once per level, and a list value nested 300 deep overflowed a
//!   worker's stack and aborted the whole process (found by the GraphQL
//!   fuzz).
//!
//! A document that passed is kept, parsed, in a small cache keyed by its
//! text ([`DOCUMENTS`] of them, up to [`CACHED_DOCUMENT_BYTES`] each):
//! clients send the same few documents again and again, and parsing was
//! about a tenth of the CPU of a small read. The cache only skips work: a
//! document in it passed every check above, and the variables are checked
//! on every request.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult, Variables};

/// The mutations that check a password.
const SIGN_IN_FIELDS: [&str; 4] = ["login", "register", "changePassword", "resetPassword"];

/// The most field selections a document may hold, over all its operations
/// (the dashboard's largest query holds under a hundred).
pub const MAX_FIELDS: usize = 500;

/// The most names (of fields, aliases, arguments, types, …) a document's
/// text may hold. Every field selection is a name, so a document with more
/// is refused before it is parsed: parsing costs about a millisecond per
/// 2 KiB, and a document of thousands of aliases would hold a worker for tens
/// of milliseconds only to be refused.
const MAX_NAMES: usize = 4 * MAX_FIELDS;

/// The deepest brackets (`{`, `[`, `(`) may nest in a document's text.
/// Selections are held to `MAX_DEPTH` (12) anyway; this leaves room for
/// list and object values (a JSON literal), far below what overflows a
/// 2 MiB stack in a debug build (about 300).
pub const MAX_NESTING: usize = 64;

fn too_many_fields() -> ServerError {
    let mut err = ServerError::new(
        format!(
            "the query is over the limit of {MAX_FIELDS} fields: ask for fewer fields or aliases"
        ),
        None,
    );
    let mut ext = async_graphql::ErrorExtensionValues::default();
    ext.set("code", "QUERY_TOO_COMPLEX");
    ext.set("limit", MAX_FIELDS);
    err.extensions = Some(ext);
    err
}

/// Where the comment or string starting at `i` ends (the index after it),
/// or `None` when none starts there.
fn past_comment_or_string(bytes: &[u8], mut i: usize) -> Option<usize> {
    match bytes[i] {
        b'#' => {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            Some(i + 1)
        }
        b'"' if bytes[i..].starts_with(b"\"\"\"") => {
            i += 3;
            while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            Some(i + 3)
        }
        b'"' => {
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            Some(i + 1)
        }
        _ => None,
    }
}

/// Whether the brackets of a GraphQL document's text, outside strings and
/// comments, nest deeper than `limit` (unbalanced ones count as they come).
fn nests_deeper_than(text: &str, limit: usize) -> bool {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        if let Some(next) = past_comment_or_string(bytes, i) {
            i = next;
            continue;
        }
        match bytes[i] {
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    false
}

fn too_deeply_nested() -> ServerError {
    let mut err = ServerError::new(
        format!("the document nests brackets more than {MAX_NESTING} deep"),
        None,
    );
    let mut ext = async_graphql::ErrorExtensionValues::default();
    ext.set("code", "BAD_REQUEST");
    ext.set("limit", MAX_NESTING);
    err.extensions = Some(ext);
    err
}

/// How many names a GraphQL document's text holds, outside strings and
/// comments: a bound on its field selections, read without parsing.
fn names_in(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut names = 0;
    let mut i = 0;
    while i < bytes.len() {
        if let Some(next) = past_comment_or_string(bytes, i) {
            i = next;
            continue;
        }
        match bytes[i] {
            b'_' | b'a'..=b'z' | b'A'..=b'Z' => {
                names += 1;
                while i < bytes.len() && (bytes[i] == b'_' || bytes[i].is_ascii_alphanumeric()) {
                    i += 1;
                }
                continue;
            }
            b'0'..=b'9' => {
                // A number, exponent and all (`1e5` is not a name).
                while i < bytes.len() && (bytes[i] == b'.' || bytes[i].is_ascii_alphanumeric()) {
                    i += 1;
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    names
}

/// The bounds a document's text must keep before anything parses it: at
/// most [`MAX_NAMES`] names and [`MAX_NESTING`] levels of brackets. Every
/// parse of a request's document comes after this, the transport's own
/// (`GET` refuses mutations; required mode lets sign-ins in without
/// credentials) as well as the schema's.
pub(crate) fn before_parsing(query: &str) -> ServerResult<()> {
    if names_in(query) > MAX_NAMES {
        return Err(too_many_fields());
    }
    if nests_deeper_than(query, MAX_NESTING) {
        return Err(too_deeply_nested());
    }
    Ok(())
}

/// How many parsed documents [`DocumentBounds`] keeps.
const DOCUMENTS: usize = 512;
/// The longest document text it keeps parsed.
const CACHED_DOCUMENT_BYTES: usize = 16 * 1024;

/// Refuses a document over [`MAX_FIELDS`] or whose mutations hold more
/// than one sign-in field, and keeps the documents that passed, parsed.
pub struct DocumentBounds(Arc<Checked>);

/// The extension behind [`DocumentBounds`], one for the whole schema.
struct Checked {
    /// Parsed documents that passed, by their text, least recently used first out.
    documents: Mutex<lru::LruCache<String, Arc<ExecutableDocument>>>,
}

impl Default for DocumentBounds {
    fn default() -> Self {
        let capacity = NonZeroUsize::new(DOCUMENTS).expect("DOCUMENTS is not zero");
        Self(Arc::new(Checked {
            documents: Mutex::new(lru::LruCache::new(capacity)),
        }))
    }
}

impl ExtensionFactory for DocumentBounds {
    fn create(&self) -> Arc<dyn Extension> {
        self.0.clone()
    }
}

impl Checked {
    fn cached(&self, query: &str) -> Option<ExecutableDocument> {
        let mut documents = self.documents.lock().unwrap_or_else(|e| e.into_inner());
        documents
            .get(query)
            .map(|doc| ExecutableDocument::clone(doc))
    }

    fn keep(&self, query: &str, doc: &ExecutableDocument) {
        if query.len() <= CACHED_DOCUMENT_BYTES {
            let mut documents = self.documents.lock().unwrap_or_else(|e| e.into_inner());
            documents.put(query.to_owned(), Arc::new(doc.clone()));
        }
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for Checked {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        if let Err(e) = super::transport::refuse_nul_in(query, variables) {
            return Err(super::error::to_gql(e).into_server_error(Default::default()));
        }
        if let Some(doc) = self.cached(query) {
            return Ok(doc);
        }
        before_parsing(query)?;
        let doc = next.run(ctx, query, variables).await?;
        check(&doc)?;
        self.keep(query, &doc);
        Ok(doc)
    }
}

/// The bounds of a parsed document: [`MAX_FIELDS`], one sign-in.
fn check(doc: &ExecutableDocument) -> ServerResult<()> {
    let mut fields = 0;
    let within = doc.operations.iter().all(|(_, op)| {
        walk_fields(
            doc,
            &op.node.selection_set.node,
            MAX_FIELDS + 1,
            &mut |_| {
                fields += 1;
            },
        ) && fields <= MAX_FIELDS
    });
    if !within || fields > MAX_FIELDS {
        return Err(too_many_fields());
    }
    let count: usize = doc
        .operations
        .iter()
        .filter(|(_, op)| op.node.ty == OperationType::Mutation)
        .map(|(_, op)| sign_ins(doc, &op.node.selection_set.node))
        .sum();
    if count > 1 {
        let mut err = ServerError::new(
            "at most one login or register per request: send each sign-in on its own",
            None,
        );
        let mut ext = async_graphql::ErrorExtensionValues::default();
        ext.set("code", "BAD_REQUEST");
        err.extensions = Some(ext);
        return Err(err);
    }
    Ok(())
}

/// Sign-in fields among the root selections, through fragments. A hostile
/// document may nest fragments deeply or in a loop (validation, which
/// refuses loops, runs later): the walk is bounded ([`walk_fields`]), and a
/// document too big to walk counts as holding two sign-ins.
fn sign_ins(doc: &ExecutableDocument, set: &SelectionSet) -> usize {
    let mut n = 0;
    let whole = walk_fields(doc, set, VISITS, &mut |name| {
        n += usize::from(SIGN_IN_FIELDS.contains(&name));
    });
    if whole { n } else { n.max(2) }
}

/// How many selections a walk may look at.
const VISITS: usize = 10_000;
/// How deep through fragments it may go (deeper ends the walk).
const DEPTH: usize = 32;

/// Calls `visit` with the name of every field selected in `set` and in the
/// selection sets below it, through inline fragments and fragment spreads,
/// looking at no more than `budget` selections and [`DEPTH`] levels of
/// nesting. Returns whether the whole document was walked.
pub(crate) fn walk_fields(
    doc: &ExecutableDocument,
    set: &SelectionSet,
    mut budget: usize,
    visit: &mut impl FnMut(&str),
) -> bool {
    walk(doc, set, &mut budget, 0, visit)
}

fn walk(
    doc: &ExecutableDocument,
    set: &SelectionSet,
    budget: &mut usize,
    depth: usize,
    visit: &mut impl FnMut(&str),
) -> bool {
    if depth > DEPTH {
        return false;
    }
    for item in &set.items {
        if *budget == 0 {
            return false;
        }
        *budget -= 1;
        let below = match &item.node {
            Selection::Field(f) => {
                visit(f.node.name.node.as_str());
                &f.node.selection_set.node
            }
            Selection::InlineFragment(frag) => &frag.node.selection_set.node,
            Selection::FragmentSpread(spread) => {
                match doc.fragments.get(&spread.node.fragment_name.node) {
                    Some(frag) => &frag.node.selection_set.node,
                    None => continue,
                }
            }
        };
        if !walk(doc, below, budget, depth + 1, visit) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::{names_in, nests_deeper_than};

    #[test]
    fn nesting_is_measured_outside_strings_and_comments() {
        assert!(!nests_deeper_than("{ a { b(x: [[1]]) } }", 5));
        assert!(nests_deeper_than("{ a { b(x: [[1]]) } }", 4));
        assert!(!nests_deeper_than("{ f(s: \"[[[[[[\") } # {{{{{{\n", 2));
        assert!(!nests_deeper_than(
            "{ f(s: \"\"\"{{{{ \\\"\"\" [[[[\"\"\") }",
            2
        ));
        assert!(nests_deeper_than(&"[".repeat(300), 64));
        assert!(!nests_deeper_than(&"[]".repeat(300), 1));
    }

    #[test]
    fn names_are_counted_outside_strings_comments_and_numbers() {
        assert_eq!(names_in("{ a: task(id: \"1\") { id } }"), 4);
        assert_eq!(names_in("# a b c\n{ x }"), 1);
        assert_eq!(names_in("{ f(s: \"a b \\\" c\", n: 1e5, m: 2.5E3) }"), 4);
        assert_eq!(names_in("{ f(s: \"\"\"x \\\"\"\" y\"\"\") }"), 2);
        assert_eq!(names_in("{ f(s: \"unterminated"), 2);
    }
}
