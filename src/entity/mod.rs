//! SeaORM entities, one per table. Only the service layer uses them.

pub mod api_key;
pub mod audit_entry;
pub mod escalation;
pub mod event;
pub mod guardian_link;
pub mod guardianship;
pub mod handoff;
pub mod identity;
pub mod invitation;
pub mod message;
pub mod org;
pub mod org_member;
pub mod password_reset;
pub mod permission;
pub mod project;
pub mod revoked_token;
pub mod task;
pub mod task_dependency;
pub mod webhook;
pub mod webhook_delivery;
