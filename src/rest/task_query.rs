//! The query string of `GET /tasks`: filters, order and page.

use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::{Error, Result};
use crate::service::documented::{SortDirection, TaskSortKey};
use crate::service::paging::TaskCursor;
use crate::service::{SortBy, TaskQuery, paging, validate};
use crate::time;

/// Query string of `GET /tasks`. List values (`status`, `type`, `channel`) are
/// comma-separated, at most 100 each.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListParams {
    /// Statuses to include: pending, in_progress, completed, cancelled, failed, rejected.
    #[param(
        pattern = "^ *(pending|in_progress|completed|cancelled|failed|rejected)? *(, *(pending|in_progress|completed|cancelled|failed|rejected)? *)*$"
    )]
    status: Option<String>,
    /// Task types to include (comma-separated, at most 100).
    #[serde(rename = "type")]
    task_type: Option<String>,
    /// Channels to include (comma-separated, at most 100).
    channel: Option<String>,
    /// Only tasks held by this assignee id.
    assignee_id: Option<String>,
    /// Page size (default 50, at most 500).
    #[param(minimum = 1)]
    limit: Option<i64>,
    /// Tasks to skip.
    #[param(minimum = 0)]
    offset: Option<i64>,
    /// Only tasks after this position: the `next_cursor` of the previous
    /// page (same filters and order). Pages by cursor stay fast at any
    /// depth; not with `offset`.
    #[param(pattern = "^[A-Za-z0-9_-]+$")]
    after: Option<String>,
    /// RFC 3339: only tasks created after this time.
    #[param(format = DateTime)]
    created_after: Option<String>,
    /// RFC 3339: only tasks changed after this time.
    #[param(format = DateTime)]
    updated_after: Option<String>,
    /// Exact priority (1–10).
    #[param(minimum = 1, maximum = 10)]
    priority: Option<i64>,
    /// Lowest priority (1–10).
    #[param(minimum = 1, maximum = 10)]
    min_priority: Option<i64>,
    /// Highest priority (1–10).
    #[param(minimum = 1, maximum = 10)]
    max_priority: Option<i64>,
    /// Case-insensitive text in title or description.
    search: Option<String>,
    /// created_at (default), updated_at, priority or title.
    #[param(value_type = Option<TaskSortKey>, inline)]
    sort_by: Option<String>,
    /// asc or desc (default).
    #[param(value_type = Option<SortDirection>, inline)]
    sort_dir: Option<String>,
    /// Only tasks of this project id.
    project_id: Option<i32>,
    /// Only subtasks of this task.
    parent_id: Option<i64>,
    /// Only tasks claimable now (`true`) or not (`false`).
    claimable: Option<bool>,
    /// Only open tasks past their deadline (`true`) or the others (`false`).
    overdue: Option<bool>,
    /// Only tasks of this organization (slug).
    org: Option<String>,
}

fn list_of(v: Option<&str>) -> Vec<String> {
    v.map(|v| {
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

fn time_param(name: &str, v: Option<&str>) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
    v.map(|s| {
        time::parse(s).ok_or_else(|| {
            Error::bad_request(format!("{name} must be an RFC 3339 time, got '{s}'"))
        })
    })
    .transpose()
}

impl ListParams {
    /// The service query these parameters ask for; 400 on a bad value.
    pub(super) fn into_query(self) -> Result<TaskQuery> {
        let statuses = list_of(self.status.as_deref())
            .iter()
            .map(|s| crate::service::parse_status(s))
            .collect::<Result<Vec<_>>>()?;
        let sort_by = match self.sort_by.as_deref().unwrap_or("created_at") {
            "created_at" => SortBy::CreatedAt,
            "updated_at" => SortBy::UpdatedAt,
            "priority" => SortBy::Priority,
            "title" => SortBy::Title,
            other => {
                return Err(Error::bad_request(format!(
                    "unknown sort_by '{other}': expected created_at, updated_at, priority or title"
                )));
            }
        };
        let ascending = match self.sort_dir.as_deref().unwrap_or("desc") {
            "asc" => true,
            "desc" => false,
            other => {
                return Err(Error::bad_request(format!(
                    "unknown sort_dir '{other}': expected asc or desc"
                )));
            }
        };
        let limit = paging::TASK_PAGE.size("limit", self.limit, paging::Overflow::Clamp)?;
        let offset = paging::offset(self.offset)?;
        let after = self
            .after
            .as_deref()
            .map(|a| TaskCursor::decode("after", a))
            .transpose()?;
        if after.is_some() && offset > 0 {
            return Err(Error::bad_request("after and offset do not go together"));
        }
        Ok(TaskQuery {
            statuses,
            types: list_of(self.task_type.as_deref()),
            channels: list_of(self.channel.as_deref()),
            assignee_id: self.assignee_id.filter(|a| !a.is_empty()),
            priority: validate::priority_filter("priority", self.priority)?,
            min_priority: validate::priority_filter("min_priority", self.min_priority)?,
            max_priority: validate::priority_filter("max_priority", self.max_priority)?,
            search: self.search,
            created_after: time_param("created_after", self.created_after.as_deref())?,
            updated_after: time_param("updated_after", self.updated_after.as_deref())?,
            project_id: self.project_id,
            parent_id: self.parent_id,
            org: self.org,
            claimable: self.claimable,
            overdue: self.overdue,
            sort_by,
            ascending,
            limit,
            offset,
            after,
            count: true,
            ..TaskQuery::default()
        })
    }
}
