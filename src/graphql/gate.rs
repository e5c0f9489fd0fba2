//! How many expensive GraphQL requests one caller may have running at
//! once. The cost model bounds one request; this bounds one caller: a
//! caller that sends documents near the cost limit in parallel holds at most
//! this many requests' worth of pool connections, and the rest of the pool
//! stays for others. Cheaper requests (a dashboard's reads) are not
//! counted. A caller is its identity when it sent credentials, else its
//! address (open-mode actor headers are free to change, an address is not).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextValidation,
};
use async_graphql::{Pos, Response, ServerError, ValidationResult};

use crate::app::ClientIp;
use crate::error::Error;
use crate::service::Viewer;

/// The cost from which a request counts as expensive: a fifth of the most
/// a request may cost (a page of 50 tasks with a dozen fields costs about
/// 1,000; a dashboard's largest query under 5,000).
pub const EXPENSIVE: usize = super::MAX_COMPLEXITY / 5;

/// Who a request counts against.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CallerKey {
    /// A registered identity, by id.
    Identity(i64),
    /// A caller without credentials, by address.
    Address(IpAddr),
}

/// Requests in flight per caller.
pub struct CallerGate {
    limit: usize,
    in_flight: Mutex<HashMap<CallerKey, usize>>,
}

/// One request's place at the gate; given back when dropped.
pub struct Permit {
    gate: Arc<CallerGate>,
    key: CallerKey,
}

impl CallerGate {
    /// A gate letting each caller run `limit` requests at once (0: no limit).
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit,
            in_flight: Mutex::new(HashMap::new()),
        })
    }

    /// A place for one more request of `key`, or 429 `RATE_LIMITED` when
    /// the caller already runs as many as it may.
    pub fn enter(self: &Arc<Self>, key: CallerKey) -> Result<Permit, Error> {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        let n = in_flight.entry(key.clone()).or_default();
        if self.limit > 0 && *n >= self.limit {
            return Err(Error::rate_limited(
                format!(
                    "too many GraphQL requests running for this caller (at most {} at once): wait for one to finish",
                    self.limit
                ),
                std::time::Duration::from_secs(1),
            ));
        }
        *n += 1;
        Ok(Permit {
            gate: self.clone(),
            key,
        })
    }

    /// Callers with requests running (for tests and metrics).
    pub fn callers(&self) -> usize {
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut in_flight = self
            .gate
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = in_flight.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                in_flight.remove(&self.key);
            }
        }
    }
}

/// The schema extension that holds expensive requests to the gate.
pub struct Gate(pub Arc<CallerGate>);

impl ExtensionFactory for Gate {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(GatedRequest {
            gate: self.0.clone(),
            complexity: AtomicUsize::new(0),
        })
    }
}

struct GatedRequest {
    gate: Arc<CallerGate>,
    complexity: AtomicUsize,
}

#[async_graphql::async_trait::async_trait]
impl Extension for GatedRequest {
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        self.complexity.store(result.complexity, Ordering::Relaxed);
        Ok(result)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let complexity = self.complexity.load(Ordering::Relaxed);
        if complexity < EXPENSIVE {
            return next.run(ctx, operation_name).await;
        }
        let identity = ctx
            .data_opt::<Viewer>()
            .and_then(|v| v.principal())
            .map(|p| p.identity_id());
        let key = match (identity, ctx.data_opt::<ClientIp>()) {
            (Some(id), _) => CallerKey::Identity(id),
            (None, Some(ip)) => CallerKey::Address(ip.0),
            (None, None) => CallerKey::Address(std::net::Ipv6Addr::UNSPECIFIED.into()),
        };
        match self.gate.enter(key) {
            Ok(_permit) => next.run(ctx, operation_name).await,
            Err(e) => Response::from_errors(vec![
                super::error::to_gql(e).into_server_error(Pos::default()),
            ]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_caller_has_its_own_places_and_gets_them_back() {
        let gate = CallerGate::new(2);
        let a = CallerKey::Identity(1);
        let b = CallerKey::Address("10.0.0.1".parse().unwrap());
        let first = gate.enter(a.clone()).unwrap();
        let _second = gate.enter(a.clone()).unwrap();
        let refused = gate.enter(a.clone()).err().unwrap();
        assert_eq!(refused.code(), "RATE_LIMITED");
        assert_eq!(refused.retry_after(), Some(1));
        let _other = gate.enter(b).unwrap();
        drop(first);
        let _again = gate.enter(a).unwrap();
        assert_eq!(gate.callers(), 2);
    }
}
