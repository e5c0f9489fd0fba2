//! A real HTTP receiver for webhook tests: an axum server on a free
//! loopback port that records every request (path, headers, body) and
//! answers from a script — a list of statuses used in turn (the last one
//! repeats), an optional delay, and `302` answers that point at another
//! path of the same receiver (so a followed redirect would show).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use serde_json::Value;
use tokio::sync::oneshot;

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: String,
    pub at: Instant,
}

impl Received {
    /// A header (by lower-case name).
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

#[derive(Default)]
struct Script {
    statuses: Vec<u16>,
    delay: Duration,
    received: Vec<Received>,
}

/// A running receiver; stops when dropped.
pub struct Receiver {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    script: Arc<Mutex<Script>>,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn answer(
    State(script): State<Arc<Mutex<Script>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (status, delay) = {
        let mut s = script.lock().unwrap();
        let n = s.received.len();
        s.received.push(Received {
            path: uri.path().to_owned(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                .collect(),
            body: String::from_utf8_lossy(&body).into_owned(),
            at: Instant::now(),
        });
        let status = s
            .statuses
            .get(n)
            .or(s.statuses.last())
            .copied()
            .unwrap_or(200);
        (status, s.delay)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let code = StatusCode::from_u16(status).unwrap();
    if code.is_redirection() {
        return (code, [("location", "/redirected")], "").into_response();
    }
    (code, "ok").into_response()
}

impl Receiver {
    /// A receiver answering `statuses` in turn (the last repeats; 200 when empty).
    pub async fn start(statuses: &[u16]) -> Self {
        Self::with_delay(statuses, Duration::ZERO).await
    }

    /// The same, each answer after `delay`.
    pub async fn with_delay(statuses: &[u16], delay: Duration) -> Self {
        let script = Arc::new(Mutex::new(Script {
            statuses: statuses.to_vec(),
            delay,
            received: Vec::new(),
        }));
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Self {
            base,
            script,
            stop: Some(stop),
        }
    }

    /// The URL of `path` on this receiver.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Everything received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.script.lock().unwrap().received.clone()
    }

    /// Waits (up to `within`) until at least `n` requests have come, and returns them.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver got {} requests, not {n}, within {within:?}: {got:#?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Verifies a Standard Webhooks signature with an HMAC-SHA256 of our own
/// (not the server's code): true when one of the `v1,` signatures in
/// `header` is that of `{id}.{timestamp}.{body}` under `secret` (`whsec_…`).
pub fn signed_by(secret: &str, r: &Received) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("a whsec_ secret"))
        .expect("a base64 secret");
    let signed = format!(
        "{}.{}.{}",
        r.header("webhook-id"),
        r.header("webhook-timestamp"),
        r.body
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(signed.as_bytes());
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    r.header("webhook-signature")
        .split(' ')
        .any(|sig| sig == expected)
}
