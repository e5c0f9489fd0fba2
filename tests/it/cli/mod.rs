//! The `ats` binary against a live server (SPEC §9): the seed's patterns,
//! actors and exit codes, the task, workflow, project and org commands, the
//! access commands in required mode, where settings come from, and `watch`.

mod access_commands;
mod auth_commands;
mod basics;
mod claim_batch;
mod config_precedence;
mod config_projects;
mod idempotency_keys;
mod list;
mod output_extras;
mod patterns;
mod projects;
mod skill_doc;
mod task_commands;
mod watch;
mod watch_restarts;
mod workflow_commands;
