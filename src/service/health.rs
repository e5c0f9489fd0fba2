//! Whether the service can serve: the store answers.

use chrono::{DateTime, Utc};

use super::Ats;
use crate::time;

/// The service's health at one moment.
#[derive(Clone, Debug)]
pub struct Health {
    /// True when the store answered.
    pub database_ok: bool,
    /// When it was checked.
    pub checked_at: DateTime<Utc>,
}

impl Health {
    /// `ok`, or `degraded` when the store does not answer.
    pub fn status(&self) -> &'static str {
        if self.database_ok { "ok" } else { "degraded" }
    }

    /// `ok` or `unreachable`.
    pub fn database(&self) -> &'static str {
        if self.database_ok {
            "ok"
        } else {
            "unreachable"
        }
    }

    /// The server version.
    pub fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }
}

impl Ats {
    /// Checks the store.
    pub async fn health(&self) -> Health {
        Health {
            database_ok: self.store.conn().ping().await.is_ok(),
            checked_at: time::now(),
        }
    }
}
