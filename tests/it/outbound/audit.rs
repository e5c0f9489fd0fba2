//! The audit log: each audited action once, with its actor and target.
