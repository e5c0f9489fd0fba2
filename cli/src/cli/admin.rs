//! Arguments of the project, organization, identity and access commands.

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum ProjectCmd {
    /// Bind the current directory to a project (.ats/project.json)
    Init {
        /// org/project (or use --org and --project)
        path: Option<String>,
        /// Overwrite an existing binding
        #[arg(long)]
        force: bool,
        /// Do not check that the project exists on the server
        #[arg(long)]
        skip_existence_check: bool,
    },
    /// List projects of every organization, with task counts
    List,
    /// Create a project (and its organization when missing)
    Create {
        /// org/project
        path: String,
        /// Display name
        #[arg(long)]
        name: Option<String>,
        /// Description
        #[arg(long)]
        description: Option<String>,
    },
    /// Set the global default project (~/.ats/config)
    Switch {
        /// org/project
        path: String,
        /// Do not check that the project exists on the server
        #[arg(long)]
        skip_existence_check: bool,
    },
    /// Show the active project and where it comes from
    Current,
    /// Show global, local and effective configuration
    Show,
    /// Rename a project (and its organization)
    Rename {
        /// org/project to rename
        from: String,
        /// New org/project
        to: Option<String>,
        /// New project slug
        #[arg(long)]
        slug: Option<String>,
        /// New display name
        #[arg(long)]
        name: Option<String>,
    },
    /// Delete a project and its tasks
    Delete {
        /// org/project
        path: String,
        /// Confirm the deletion
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum OrgCmd {
    /// List the organizations you can see
    List,
    /// Create an organization (you become its owner)
    Create {
        slug: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// Show an organization
    Show { slug: String },
    /// Change an organization's slug, name or description
    Update {
        slug: String,
        #[arg(long = "slug")]
        new_slug: Option<String>,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete an organization with all its projects and tasks (owner only)
    Delete {
        slug: String,
        /// Confirm the deletion
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuthCmd {
    /// Register an identity; prints its API key (shown once)
    Register {
        /// Actor id (unique per type)
        #[arg(long)]
        id: String,
        /// human, agent or system
        #[arg(long = "type", default_value = "human")]
        actor_type: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        email: Option<String>,
        /// Password (or ATS_PASSWORD)
        #[arg(long, env = "ATS_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Save the new API key in ~/.ats/config
        #[arg(long)]
        save: bool,
        /// An invitation's token (needed when the server registers by invitation)
        #[arg(long)]
        invitation: Option<String>,
    },
    /// Log in and save the token in ~/.ats/config
    Login {
        /// Email address
        #[arg(long, conflicts_with = "id")]
        email: Option<String>,
        /// Actor id
        #[arg(long)]
        id: Option<String>,
        /// Actor type with --id
        #[arg(long = "type")]
        actor_type: Option<String>,
        /// Password (or ATS_PASSWORD)
        #[arg(long, env = "ATS_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// End the saved login token's session on the server, and forget the
    /// saved token and API key
    Logout,
    /// Change your password (every earlier login token ends; the new token is saved)
    Password {
        /// Current password (or ATS_PASSWORD)
        #[arg(long, env = "ATS_PASSWORD", hide_env_values = true)]
        current: String,
        /// New password, at least 8 characters (or ATS_NEW_PASSWORD)
        #[arg(long = "new", env = "ATS_NEW_PASSWORD", hide_env_values = true)]
        new_password: String,
    },
    /// Set a new password with a reset token from `ats-server password-reset`
    ResetPassword {
        /// The reset token
        #[arg(long)]
        token: String,
        /// New password, at least 8 characters (or ATS_NEW_PASSWORD)
        #[arg(long = "new", env = "ATS_NEW_PASSWORD", hide_env_values = true)]
        new_password: String,
    },
    /// Show (or with flags, change) your identity
    Me {
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        email: Option<String>,
        /// Profile as a JSON object
        #[arg(long)]
        profile: Option<String>,
    },
    /// Look up an identity's public fields
    Whois {
        actor_id: String,
        #[arg(long = "type")]
        actor_type: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyCmd {
    /// Create an API key (the key is shown once)
    Create {
        name: String,
        /// RFC 3339 expiry time
        #[arg(long)]
        expires_at: Option<String>,
        /// The key may only read
        #[arg(long)]
        read_only: bool,
        /// Limit the key to this project (org/project; repeat for several)
        #[arg(long = "limit-to", value_name = "ORG/PROJECT")]
        projects: Vec<String>,
    },
    /// List your API keys
    List,
    /// Revoke an API key
    Revoke { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum GuardianCmd {
    /// (agent) Create a link token for a human to confirm
    Link,
    /// (human) Confirm a guardianship link token
    Confirm { token: String },
    /// List your guardians and guarded agents
    List,
    /// Remove a guardianship
    Remove { id: i64 },
    /// (guardian) Issue an API key for one of your agents
    IssueKey {
        agent_id: String,
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum MemberCmd {
    /// List the members
    List,
    /// Add a member (actor written type:id, e.g. agent:builder)
    Add {
        actor: String,
        /// owner, admin, member or viewer
        #[arg(long, default_value = "member")]
        role: String,
    },
    /// Change a member's role
    SetRole { actor: String, role: String },
    /// Remove a member
    Remove { actor: String },
}

#[derive(Debug, Subcommand)]
pub enum InvitationCmd {
    /// Invite an email address or an actor (type:id)
    Create {
        #[arg(long, conflicts_with = "actor", required_unless_present = "actor")]
        email: Option<String>,
        #[arg(long)]
        actor: Option<String>,
        /// owner, admin, member or viewer
        #[arg(long, default_value = "member")]
        role: String,
    },
    /// List the organization's invitations
    List,
    /// List your own pending invitations
    Mine,
    /// Accept an invitation
    Accept { token: String },
    /// Decline an invitation
    Decline { token: String },
}

#[derive(Debug, Subcommand)]
pub enum PermissionCmd {
    /// Grant an actor (type:id) access to a project slug or *
    Grant {
        actor: String,
        /// Project slug or *
        #[arg(long, default_value = "*")]
        namespace: String,
        /// r or rw
        #[arg(long, default_value = "r")]
        access: String,
    },
    /// List the organization's permissions
    List,
    /// Revoke a permission
    Revoke { id: i64 },
}
