//! The command line: global options and every command (clap derive).

use clap::{Args, Parser, Subcommand, ValueEnum};

mod admin;

pub use admin::{
    ApiKeyCmd, AuthCmd, GuardianCmd, InvitationCmd, MemberCmd, OrgCmd, PermissionCmd, ProjectCmd,
};

/// ats — the command-line client of the Agent Task Service.
///
/// Settings come from flags, then environment variables (ATS_URL, ATS_ORG,
/// ATS_PROJECT, ATS_CHANNEL, ATS_ACTOR_TYPE, ATS_ACTOR_ID, ATS_ACTOR_NAME,
/// ATS_API_KEY), then the project binding (.ats/project.json found walking up
/// from the working directory), then ~/.ats/config, then defaults.
///
/// Output is the lines the original ats CLI (v1.3) printed; ATS_OUTPUT=modern
/// prints this CLI's own layouts instead. -f json prints the server's objects.
///
/// Exit codes: 0 success, 1 the server refused (its error on stderr),
/// 2 usage or configuration error, 3 the server could not be reached.
#[derive(Debug, Parser)]
#[command(
    name = "ats",
    display_name = "ats-cli",
    version = concat!("v", env!("CARGO_PKG_VERSION")),
    max_term_width = 100,
    help_template = HELP_TEMPLATE,
    after_help = EXAMPLES
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// `ats --help` laid out as the original CLI's help: the title line, the
/// usage line, what it is, the commands, the options, then examples.
const HELP_TEMPLATE: &str = "
ATS CLI - Agent Task Service Command Line Interface {version}

USAGE:
  ats <command> [options]

{about-with-newline}
COMMANDS:
{subcommands}

GLOBAL OPTIONS:
{options}{after-help}";

/// The examples at the end of `ats --help`.
const EXAMPLES: &str = "EXAMPLES:
  ats list                                  # Show pending tasks
  ats list --all                            # Show all tasks
  ats list --since 1d --priority 7+         # High-priority tasks from last day
  ats create \"Review PR #123\" --priority 8  # Create a task
  ats get 42                                # View task details
  ats claim 42                              # Claim a task
  ats complete 42                           # Mark complete
  ats message add 42 \"On it\"                # Add a comment
  ats watch --channel support               # Watch events
  ats project list                          # List all projects
  ats project switch myorg/myproject        # Switch to a project";

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Server URL [default: http://127.0.0.1:8080]
    #[arg(short = 'u', long, global = true)]
    pub url: Option<String>,
    /// Organization (slug)
    #[arg(long, global = true)]
    pub org: Option<String>,
    /// Project (slug)
    #[arg(long, global = true)]
    pub project: Option<String>,
    /// Output format (--output is the same option)
    #[arg(short = 'f', long, visible_alias = "output", global = true, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Actor type when no credentials are sent: human, agent or system
    #[arg(long, global = true)]
    pub actor_type: Option<String>,
    /// Actor id when no credentials are sent
    #[arg(long, global = true)]
    pub actor_id: Option<String>,
    /// Actor display name when no credentials are sent
    #[arg(long, global = true)]
    pub actor_name: Option<String>,
    /// API key or token sent as Authorization: Bearer (prefer ATS_API_KEY)
    #[arg(long, global = true, hide_env_values = true)]
    pub api_key: Option<String>,
    /// Show HTTP requests on stderr
    #[arg(short = 'v', long, global = true)]
    pub verbose: bool,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable tables and lines
    Table,
    /// The server's JSON objects (for jq)
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the server's health
    Health,
    /// Task statistics: totals, by status, by channel
    Stats,
    /// Create a task
    Create(CreateArgs),
    /// Create many tasks at once from a JSON file (array of tasks, or - for stdin)
    Bulk {
        /// File holding a JSON array of tasks (or {"tasks": [...]}); - reads stdin
        file: String,
    },
    /// Show a task with its messages
    Get { id: i64 },
    /// List tasks (pending ones unless --all or --status)
    List(ListArgs),
    /// Change a task's fields
    Update(UpdateArgs),
    /// Claim a task (start working on it under a lease)
    Claim {
        id: i64,
        /// Lease duration in milliseconds [server default: 60000]
        #[arg(long)]
        lease: Option<i64>,
    },
    /// Claim the most urgent claimable pending task
    ClaimNext {
        /// Only tasks of this channel [default: ATS_CHANNEL]
        #[arg(short, long)]
        channel: Option<String>,
        /// Only tasks of this type
        #[arg(short = 't', long = "type")]
        task_type: Option<String>,
        /// Only tasks at least this urgent (1-10)
        #[arg(long)]
        min_priority: Option<i64>,
        /// Lease duration in milliseconds
        #[arg(long)]
        lease: Option<i64>,
        /// Claim up to this many tasks at once (1-100), each with its own lease
        #[arg(long)]
        limit: Option<i64>,
        /// With nothing claimable, wait up to this many milliseconds for work (max 30000)
        #[arg(long)]
        wait: Option<i64>,
    },
    /// Complete a task you hold
    Complete {
        id: i64,
        /// Outputs as JSON (an object or an array)
        #[arg(long)]
        outputs: Option<String>,
    },
    /// Cancel a task
    Cancel(ReasonArgs),
    /// Fail a task you hold
    Fail(ReasonArgs),
    /// Reject a task
    Reject(ReasonArgs),
    /// Reopen a finished task (back to pending)
    Reopen(ReasonArgs),
    /// Delete a task
    Delete { id: i64 },
    /// Messages on a task's thread
    #[command(subcommand)]
    Message(MessageCmd),
    /// A task's event history
    Events {
        id: i64,
        /// Only events with a larger id
        #[arg(long)]
        after: Option<i64>,
        /// At most this many events
        #[arg(long)]
        limit: Option<i64>,
    },
    /// Subtasks of a task
    #[command(subcommand)]
    Subtask(SubtaskCmd),
    /// Handoffs: context passed from one worker session to the next
    #[command(subcommand)]
    Handoff(HandoffCmd),
    /// Watch task events live (reconnects and resumes without losing events)
    Watch(WatchArgs),
    /// Projects and the local project binding
    #[command(subcommand)]
    Project(ProjectCmd),
    /// Organizations
    #[command(subcommand)]
    Org(OrgCmd),
    /// Registration, login and your identity
    #[command(subcommand)]
    Auth(AuthCmd),
    /// Your API keys
    #[command(subcommand, name = "api-key", alias = "api-keys")]
    ApiKey(ApiKeyCmd),
    /// Guardians: humans who vouch for agents
    #[command(subcommand)]
    Guardian(GuardianCmd),
    /// Members of the organization
    #[command(subcommand)]
    Member(MemberCmd),
    /// Invitations to an organization
    #[command(subcommand, alias = "invite")]
    Invitation(InvitationCmd),
    /// Namespace permissions in the organization
    #[command(subcommand)]
    Permission(PermissionCmd),
    /// Print a shell completion script: ats completion bash > /etc/bash_completion.d/ats
    Completion {
        /// bash, zsh, fish, powershell or elvish
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): ats man > ats.1; man ./ats.1
    Man,
}

/// Fields of a new task.
#[derive(Debug, Args)]
pub struct TaskFields {
    /// Longer text
    #[arg(short, long)]
    pub description: Option<String>,
    /// Task type [server default: task]
    #[arg(short = 't', long = "type")]
    pub task_type: Option<String>,
    /// Channel [default: ATS_CHANNEL, else the server's: default]
    #[arg(short, long)]
    pub channel: Option<String>,
    /// Priority 1-10, higher is more urgent [server default: 5]
    #[arg(short, long)]
    pub priority: Option<i64>,
    /// Payload as a JSON object
    #[arg(long)]
    pub payload: Option<String>,
    /// Ids of tasks that must complete first (comma-separated)
    #[arg(long, value_delimiter = ',')]
    pub depends_on: Vec<i64>,
    /// Most times the task may be claimed
    #[arg(long)]
    pub max_attempts: Option<i64>,
    /// Not claimable before this RFC 3339 time (e.g. 2026-12-24T09:00:00Z)
    #[arg(long, value_name = "TIME", conflicts_with = "run_in")]
    pub run_at: Option<String>,
    /// Not claimable before this long from now (90s, 30m, 1h, 2d, 1w)
    #[arg(long = "in", value_name = "DURATION")]
    pub run_in: Option<String>,
    /// Due by this RFC 3339 time: still open then, it escalates
    #[arg(long, value_name = "TIME", conflicts_with = "due_in")]
    pub due_at: Option<String>,
    /// Due this long from now (90s, 30m, 1h, 2d, 1w)
    #[arg(long, value_name = "DURATION")]
    pub due_in: Option<String>,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Title (1-500 characters)
    pub title: String,
    #[command(flatten)]
    pub fields: TaskFields,
    /// Make it a subtask of this task
    #[arg(long)]
    pub parent: Option<i64>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// All statuses (default: pending only)
    #[arg(short, long)]
    pub all: bool,
    /// Statuses (comma-separated): pending, in_progress, completed, cancelled, failed, rejected
    #[arg(short, long)]
    pub status: Option<String>,
    /// Task types (comma-separated)
    #[arg(short = 't', long = "type")]
    pub task_type: Option<String>,
    /// Channels (comma-separated) [default: ATS_CHANNEL]
    #[arg(short, long)]
    pub channel: Option<String>,
    /// Only tasks held by this assignee id
    #[arg(long)]
    pub assignee: Option<String>,
    /// Created since: RFC 3339 time or a duration ago (90s, 30m, 1h, 2d, 1w)
    #[arg(short = 'S', long)]
    pub since: Option<String>,
    /// Updated since: RFC 3339 time or a duration ago
    #[arg(long)]
    pub updated_since: Option<String>,
    /// Priority: 8, 7+ (at least) or 5-8 (range)
    #[arg(short, long)]
    pub priority: Option<String>,
    /// Text in title or description (case-insensitive)
    #[arg(short = 'q', long)]
    pub search: Option<String>,
    /// Sort by created, updated, priority or title
    #[arg(long, value_parser = ["created", "updated", "priority", "title"])]
    pub sort: Option<String>,
    /// Reverse the order (oldest / lowest first)
    #[arg(short, long)]
    pub reverse: bool,
    /// Only tasks of this project id
    #[arg(long)]
    pub project_id: Option<i64>,
    /// Only subtasks of this task
    #[arg(long)]
    pub parent: Option<i64>,
    /// Page size (server default 50, at most 500)
    #[arg(short, long)]
    pub limit: Option<i64>,
    /// Tasks to skip
    #[arg(long)]
    pub offset: Option<i64>,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    pub id: i64,
    /// New title
    #[arg(long)]
    pub title: Option<String>,
    /// New status (goes through the lifecycle rules)
    #[arg(long)]
    pub status: Option<String>,
    #[command(flatten)]
    pub fields: TaskFields,
}

#[derive(Debug, Args)]
pub struct ReasonArgs {
    pub id: i64,
    /// Why
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum MessageCmd {
    /// Post a message
    Add {
        id: i64,
        /// The text (or JSON with --type data, a URL with --type url or file)
        content: String,
        /// Part type: text, data, url or file
        #[arg(short = 't', long = "type", default_value = "text")]
        part_type: String,
        /// MIME type of a file part
        #[arg(long)]
        mime: Option<String>,
    },
    /// List a task's messages
    List {
        id: i64,
        /// At most this many
        #[arg(long)]
        limit: Option<i64>,
        /// Only messages with a larger id
        #[arg(long)]
        after: Option<i64>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SubtaskCmd {
    /// Create a subtask
    Add {
        parent: i64,
        title: String,
        #[command(flatten)]
        fields: Box<TaskFields>,
    },
    /// List the subtasks
    List { parent: i64 },
}

#[derive(Debug, Subcommand)]
pub enum HandoffCmd {
    /// Record a handoff
    Add {
        id: i64,
        /// What was done and where things stand
        #[arg(long)]
        summary: String,
        /// A next step (repeat for several)
        #[arg(long = "next-step")]
        next_steps: Vec<String>,
    },
    /// List a task's handoffs
    List { id: i64 },
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Only these channels (comma-separated) [default: ATS_CHANNEL]
    #[arg(short, long)]
    pub channel: Option<String>,
    /// Only these task types (comma-separated)
    #[arg(short = 't', long = "type")]
    pub task_type: Option<String>,
    /// Only these event types (comma-separated), e.g. task.created,task.completed
    #[arg(short, long)]
    pub events: Option<String>,
    /// Replay stored events after this event id first
    #[arg(long)]
    pub after: Option<i64>,
    /// Only events of this task
    #[arg(long)]
    pub task: Option<i64>,
}
