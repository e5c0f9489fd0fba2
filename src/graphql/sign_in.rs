//! At most one sign-in (`login` or `register`) per GraphQL document: each
//! runs argon2, and aliases would let one request test many passwords.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult, Variables};

/// The mutations that check a password.
const SIGN_IN_FIELDS: [&str; 2] = ["login", "register"];

/// Refuses a document whose mutations hold more than one sign-in field.
pub struct OneSignIn;

impl ExtensionFactory for OneSignIn {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(OneSignIn)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for OneSignIn {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        let count: usize = doc
            .operations
            .iter()
            .filter(|(_, op)| op.node.ty == OperationType::Mutation)
            .map(|(_, op)| sign_ins(&doc, &op.node.selection_set.node))
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
        Ok(doc)
    }
}

/// Sign-in fields among the root selections, through fragments. A hostile
/// document may nest fragments deeply or in a loop (validation, which
/// refuses loops, runs later): at most [`VISITS`] selections and [`DEPTH`]
/// levels are looked at, and a document that needs more counts as holding
/// two sign-ins.
fn sign_ins(doc: &ExecutableDocument, set: &SelectionSet) -> usize {
    let mut budget = VISITS;
    let n = count(doc, set, &mut budget, 0);
    if budget == 0 { n.max(2) } else { n }
}

/// How many selections the count may look at.
const VISITS: usize = 10_000;
/// How deep through fragments it may go (deeper uses up the budget).
const DEPTH: usize = 32;

fn count(doc: &ExecutableDocument, set: &SelectionSet, budget: &mut usize, depth: usize) -> usize {
    if depth > DEPTH {
        *budget = 0;
        return 0;
    }
    let mut n = 0;
    for item in &set.items {
        if *budget == 0 {
            return n;
        }
        *budget -= 1;
        n += match &item.node {
            Selection::Field(f) => usize::from(SIGN_IN_FIELDS.contains(&f.node.name.node.as_str())),
            Selection::InlineFragment(frag) => {
                count(doc, &frag.node.selection_set.node, budget, depth + 1)
            }
            Selection::FragmentSpread(spread) => {
                match doc.fragments.get(&spread.node.fragment_name.node) {
                    Some(frag) => count(doc, &frag.node.selection_set.node, budget, depth + 1),
                    None => 0,
                }
            }
        };
    }
    n
}
