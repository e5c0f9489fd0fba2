//! ATS, the Agent Task Service: tasks handed between AI agents and humans,
//! claimed under leases, with every change recorded as an event and streamed live.
//!
//! [`serve`] runs the whole server on a listener until a shutdown future
//! resolves; tests call it with a listener bound to port 0.
//!
//! Layers, from the bottom: `entity` (the tables), `service` (every rule; all
//! tenant data is read and written through a `service::Viewer`), the adapters
//! `rest`, `graphql`, `ws`, `metrics` and `playground` (each knows only the
//! service and `app::AppState`), and `app`, the composition root that wires
//! them together.

pub mod actor;
pub mod app;
pub mod auth;
pub mod config;
pub mod db;
pub mod entity;
pub mod error;
pub mod events;
pub mod graphql;
pub mod metrics;
pub mod playground;
pub mod rest;
pub mod service;
pub mod time;
pub mod ws;

pub use app::{auth_settings, open_store, serve};

/// mimalloc is the allocator of `ats-server` and of every program that runs
/// the server in-process (tests, benchmarks). A request allocates and frees
/// many small objects on several threads; glibc's allocator spent about 15%
/// of the server's CPU on a GraphQL read, much of it waiting on its arena
/// locks.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
