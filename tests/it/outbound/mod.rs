//! Issue 17, outbound: signed webhooks with durable, retried deliveries
//! (`webhooks.rs`, `delivery.rs`, `durability.rs`) and the audit log
//! (`audit.rs`), and their retention (`retention.rs`).

mod audit;
mod delivery;
mod durability;
mod retention;
mod webhooks;
