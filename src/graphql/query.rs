//! Query root.

use async_graphql::connection::{self, Connection, EmptyFields};
use async_graphql::dataloader::Loader;
use async_graphql::{Context, ID, Lookahead, Object, SimpleObject};

use super::loaders::{
    Cached, EventsLoader, HandoffsLoader, LoadError, MessagesLoader, SubtasksLoader, TaskLoader,
    ThreadPage,
};

use super::error::bad_request;
use super::inputs::{TaskEventFilter, TaskFilter, TaskOrder, numeric_id};
use super::types::{Health, Organization, Project, Task, TaskEvent, TaskStats};
use super::{GqlResult, OrGql, ats, viewer};
use crate::error::Error;
use crate::service::paging::{HISTORY_PAGE, TASK_PAGE};
use crate::service::paging::{Overflow, TaskCursor};
use crate::service::views::TaskView;
use crate::service::{Scope, StatsScope};

/// `totalCount` on task connections.
#[derive(SimpleObject)]
pub struct TotalCount {
    /// How many tasks match, over all pages.
    pub total_count: u64,
}

/// A page of tasks (Relay). Cursors are keyset positions
/// ([`TaskCursor`]), so a page costs the same at any depth.
pub type TaskConnection = Connection<String, Task, TotalCount, EmptyFields>;

/// Page size when neither `first` nor `last` is given.
const DEFAULT_PAGE: u64 = 50;

/// Resolves a Relay page of tasks: `first` reads forward from `after`,
/// `last` backward from `before` (or from the end), both bounded by the
/// other cursor; `first` and `last` together keep the last `last` of the
/// first `first`. `totalCount` is counted only when selected.
pub async fn task_connection(
    ctx: &Context<'_>,
    filter: TaskFilter,
    order: Option<TaskOrder>,
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> GqlResult<TaskConnection> {
    let ats = ats(ctx).clone();
    let who = viewer(ctx)?.clone();
    let mut q = filter.to_query(order)?;
    let scope = match (&filter.org, &filter.project) {
        (Some(_), Some(_)) => {
            Scope::from_slugs(filter.org.clone(), filter.project.clone()).gql()?
        }
        (None, Some(_)) => return Err(bad_request("filter.project needs filter.org")),
        _ => Scope::Any,
    };
    let size = |name: &str, n: Option<i32>| -> GqlResult<Option<u64>> {
        n.map(|n| TASK_PAGE.relay_size(name, i64::from(n)).gql())
            .transpose()
    };
    let (first, last) = (size("first", first)?, size("last", last)?);
    let cursor = |name: &str, c: &Option<String>| {
        c.as_deref()
            .map(|c| TaskCursor::decode(name, c))
            .transpose()
            .gql()
    };
    q.after = cursor("after", &after)?;
    q.before = cursor("before", &before)?;
    q.count = ctx.look_ahead().field("totalCount").exists();
    match (first, last) {
        (None, Some(last)) => {
            q.limit = last;
            q.from_end = true;
        }
        (first, _) => q.limit = first.unwrap_or(DEFAULT_PAGE),
    }
    let sort_by = q.sort_by;
    let from_end = q.from_end;
    let page = ats.list_tasks(&who, &scope, q).await.gql()?;
    let mut tasks = page.tasks;
    let (mut has_previous, has_next) = if from_end {
        (page.more, before.is_some())
    } else {
        (after.is_some(), page.more || before.is_some())
    };
    if let (Some(_), Some(last)) = (first, last)
        && tasks.len() as u64 > last
    {
        tasks.drain(..tasks.len() - last as usize);
        has_previous = true;
    }
    let mut conn = Connection::with_additional_fields(
        has_previous,
        has_next,
        TotalCount {
            total_count: page.count.unwrap_or_default(),
        },
    );
    conn.edges.extend(
        tasks
            .into_iter()
            .map(|t| connection::Edge::new(sort_by.cursor(&t).encode(), Task::from(t))),
    );
    let look = ctx.look_ahead();
    let levels = [look.field("nodes"), look.field("edges").field("node")];
    let tasks: Vec<&TaskView> = conn.edges.iter().map(|e| &*e.node.0).collect();
    prime(ctx, &levels, &tasks).await?;
    Ok(conn)
}

/// The thread pages the `messages` fields of the tasks selected at `levels`
/// ask for, of each of the tasks `ids` (none for a field whose arguments its
/// resolver will refuse).
fn thread_pages(levels: &[Lookahead<'_>], ids: &[i64]) -> Vec<ThreadPage> {
    use async_graphql::Value;
    let fields = levels
        .iter()
        .flat_map(|l| l.field("messages").selection_fields());
    let mut pages = Vec::new();
    for field in fields {
        let Ok(args) = field.arguments() else {
            continue;
        };
        let mut first = None;
        let mut after = None;
        for (name, value) in &args {
            match (name.as_str(), value) {
                ("first", Value::Number(n)) => first = n.as_i64(),
                ("after", Value::String(s)) => after = Some(s.as_str()),
                _ => {}
            }
        }
        for &id in ids {
            if let Ok(page) = super::types::thread_page(id, first, after) {
                pages.push(page);
            }
        }
    }
    pages.sort_unstable_by_key(|p| (p.task, p.after, p.first));
    pages.dedup();
    pages
}

/// Loads `keys` with `loader`'s own batch load, at once, into the request's
/// cache. Going round the DataLoader's queue skips its wait for more keys
/// (a millisecond, on a timer task): every key is already known here.
async fn fill<K, L>(loader: &Cached<L>, keys: Vec<K>) -> GqlResult<()>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    L: Loader<K, Error = LoadError>,
    L::Value: Clone,
{
    let found = loader
        .loader()
        .load(&keys)
        .await
        .map_err(|e| (*e).clone())?;
    loader.feed_many(found).await;
    Ok(())
}

/// Loads, in one batch each, the per-task lists the query selects and the
/// tasks behind `parent`, `dependsOn` and `blockedBy`, of the `tasks` whose
/// selections are `levels` (a page's `nodes` and `edges.node`, or one task),
/// so that resolving them task by task only reads the request's loader cache
/// (and the number of statements does not depend on how the resolvers'
/// loads happen to interleave).
async fn prime(ctx: &Context<'_>, levels: &[Lookahead<'_>], tasks: &[&TaskView]) -> GqlResult<()> {
    let wants = |f: &str| levels.iter().any(|l| l.field(f).exists());
    let ids: Vec<i64> = tasks.iter().map(|t| t.id).collect();
    let mut related: Vec<i64> = Vec::new();
    if wants("parent") {
        related.extend(tasks.iter().filter_map(|t| t.parent_id));
    }
    if wants("dependsOn") || wants("blockedBy") {
        related.extend(tasks.iter().flat_map(|t| t.depends_on.iter().copied()));
    }
    if !related.is_empty() {
        related.sort_unstable();
        related.dedup();
        fill(ctx.data_unchecked::<Cached<TaskLoader>>(), related).await?;
    }
    let pages = thread_pages(levels, &ids);
    if !pages.is_empty() {
        fill(ctx.data_unchecked::<Cached<MessagesLoader>>(), pages).await?;
    }
    if ids.is_empty() {
        return Ok(());
    }
    if wants("events") {
        fill(ctx.data_unchecked::<Cached<EventsLoader>>(), ids.clone()).await?;
    }
    if wants("subtasks") {
        fill(ctx.data_unchecked::<Cached<SubtasksLoader>>(), ids.clone()).await?;
    }
    if wants("handoffs") {
        fill(ctx.data_unchecked::<Cached<HandoffsLoader>>(), ids).await?;
    }
    Ok(())
}

/// Read operations.
#[derive(Default)]
pub struct QueryRoot;

#[Object]
impl QueryRoot {
    /// Service health.
    #[graphql(complexity = "super::READ_COST + child_complexity")]
    async fn health(&self, ctx: &Context<'_>) -> Health {
        let h = ats(ctx).health().await;
        Health {
            status: h.status().to_owned(),
            version: h.version().to_owned(),
            database: h.database().to_owned(),
            timestamp: h.checked_at.into(),
        }
    }

    /// One task, with its thread and history available as fields.
    #[graphql(complexity = "super::READ_COST + child_complexity")]
    async fn task(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Task>> {
        let id = numeric_id("id", &id)?;
        match ats(ctx).task_view(viewer(ctx)?, &Scope::Any, id).await {
            Ok(t) => {
                prime(ctx, &[ctx.look_ahead()], &[&t]).await?;
                Ok(Some(Task::from(t)))
            }
            Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(super::error::to_gql(e)),
        }
    }

    /// Tasks matching `filter`, as a Relay connection with `totalCount`.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "super::page_cost(first, last, child_complexity)")]
    async fn tasks(
        &self,
        ctx: &Context<'_>,
        filter: Option<TaskFilter>,
        order_by: Option<TaskOrder>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<TaskConnection> {
        task_connection(
            ctx,
            filter.unwrap_or_default(),
            order_by,
            first,
            after,
            last,
            before,
        )
        .await
    }

    /// Stored events after the cursor `after` (an event id), oldest first:
    /// `first` of them (1–1000, default 100). Without `after`, from the
    /// oldest event kept; an `after` before the retained log (events older
    /// than the retention period are pruned) is refused with
    /// `extensions.code` `CURSOR_EXPIRED` and `extensions.prunedThrough`, the
    /// oldest cursor still accepted.
    #[graphql(complexity = "super::READ_COST + super::history_cost(first, child_complexity)")]
    async fn task_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<TaskEventFilter>,
        after: Option<ID>,
        first: Option<i32>,
    ) -> GqlResult<Vec<TaskEvent>> {
        let first = HISTORY_PAGE
            .size("first", first.map(i64::from), Overflow::Refuse)
            .gql()?;
        let ats = ats(ctx);
        let viewer = viewer(ctx)?;
        let q = filter.unwrap_or_default().to_query(after.as_ref())?;
        let filter = ats.event_filter(viewer, &q).await.gql()?;
        let rows = ats
            .read_events(viewer, &filter, q.after, first)
            .await
            .gql()?;
        Ok(rows
            .iter()
            .map(|e| TaskEvent::from(crate::service::views::EventView::from(e)))
            .collect())
    }

    /// Every organization.
    #[graphql(complexity = "super::READ_COST + super::list_cost(child_complexity)")]
    async fn organizations(&self, ctx: &Context<'_>) -> GqlResult<Vec<Organization>> {
        let orgs = ats(ctx).list_orgs(viewer(ctx)?).await.gql()?;
        Ok(orgs.into_iter().map(Organization).collect())
    }

    /// One organization by slug.
    #[graphql(complexity = "super::READ_COST + child_complexity")]
    async fn organization(
        &self,
        ctx: &Context<'_>,
        slug: String,
    ) -> GqlResult<Option<Organization>> {
        match ats(ctx).get_org(viewer(ctx)?, &slug).await {
            Ok(o) => Ok(Some(Organization(o))),
            Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(super::error::to_gql(e)),
        }
    }

    /// The projects of an organization, with task counts.
    #[graphql(complexity = "super::COUNT_COST + super::UNPAGED_LIST * child_complexity")]
    async fn projects(&self, ctx: &Context<'_>, org: String) -> GqlResult<Vec<Project>> {
        let projects = ats(ctx)
            .list_projects(viewer(ctx)?, &org, true)
            .await
            .gql()?;
        Ok(projects.into_iter().map(Project).collect())
    }

    /// One project, with task counts.
    #[graphql(complexity = "super::COUNT_COST + child_complexity")]
    async fn project(
        &self,
        ctx: &Context<'_>,
        org: String,
        slug: String,
    ) -> GqlResult<Option<Project>> {
        match ats(ctx).list_projects(viewer(ctx)?, &org, true).await {
            Ok(projects) => Ok(projects.into_iter().find(|p| p.slug == slug).map(Project)),
            Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(super::error::to_gql(e)),
        }
    }

    /// Task statistics, over everything or one org or project.
    #[graphql(complexity = "super::COUNT_COST + child_complexity")]
    async fn stats(
        &self,
        ctx: &Context<'_>,
        org: Option<String>,
        project: Option<String>,
    ) -> GqlResult<TaskStats> {
        let stats = ats(ctx)
            .stats(viewer(ctx)?, &StatsScope { org, project })
            .await
            .gql()?;
        Ok(TaskStats(stats))
    }
}
