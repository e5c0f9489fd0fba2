//! SeaORM entities, one per table. Only the service layer uses them.

pub mod event;
pub mod message;
pub mod org;
pub mod org_member;
pub mod project;
pub mod task;
