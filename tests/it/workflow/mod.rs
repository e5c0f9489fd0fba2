//! Workflow end to end (SPEC §4): claim-next under concurrency, attempts,
//! bulk create, dependencies, subtasks and handoffs.

mod claim_batch;
mod claim_next;
mod dependencies;
mod subtasks;
