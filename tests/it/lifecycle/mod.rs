//! The task lifecycle (SPEC §3): the transition table as data, the same
//! rules status by status, concurrent claims, and leases.

mod answers;
mod claims;
mod leases;
mod remembered;
mod statuses;
mod table;
