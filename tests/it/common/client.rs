//! The JSON HTTP client a test acts through, and the response it returns.

use reqwest::Method;
use serde_json::Value;

/// A response: status and JSON body (`Value::Null` when the body is not JSON).
#[derive(Debug, Clone)]
pub struct Res {
    pub status: u16,
    pub body: Value,
}

impl Res {
    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        self.body
    }

    /// Asserts an error response: this status, a sentence and a code.
    #[track_caller]
    pub fn expect_error(self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        assert!(
            self.body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "no error sentence: {}",
            self.body
        );
        assert!(
            self.body["code"].as_str().is_some_and(|c| !c.is_empty()),
            "no error code: {}",
            self.body
        );
        self.body
    }
}

/// A JSON HTTP client for one actor.
#[derive(Clone)]
pub struct Client {
    pub(super) http: reqwest::Client,
    pub(super) base: String,
    pub(super) actor: Option<(String, String)>,
    pub(super) token: Option<String>,
}

impl Client {
    /// The `Authorization: Bearer` credential this client sends (an API key or a JWT).
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The same caller talking to another server (a replica) at `base`.
    pub fn at(&self, base: &str) -> Client {
        Client {
            base: base.to_owned(),
            ..self.clone()
        }
    }

    /// The `(actor_type, actor_id)` of the `X-Actor-*` headers this client sends.
    pub fn actor(&self) -> Option<(&str, &str)> {
        self.actor.as_ref().map(|(t, id)| (t.as_str(), id.as_str()))
    }

    /// Sends a request with an optional JSON body.
    pub async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Res {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some((t, id)) = &self.actor {
            req = req.header("X-Actor-Type", t).header("X-Actor-ID", id);
        }
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.expect("request failed");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        Res {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    /// Sends a request with a JSON body and extra headers (values as raw
    /// bytes, so a test can send what a well-behaved client would not).
    pub async fn send_with(
        &self,
        method: Method,
        path: &str,
        body: &Value,
        headers: &[(&str, &[u8])],
    ) -> Res {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .json(body);
        for (name, value) in headers {
            let value = reqwest::header::HeaderValue::from_bytes(value).expect("a header value");
            req = req.header(*name, value);
        }
        if let Some((t, id)) = &self.actor {
            req = req.header("X-Actor-Type", t).header("X-Actor-ID", id);
        }
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.expect("request failed");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        Res {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    /// `POST path` with `Idempotency-Key: key`.
    pub async fn post_keyed(&self, path: &str, body: Value, key: &str) -> Res {
        self.send_with(
            Method::POST,
            path,
            &body,
            &[("Idempotency-Key", key.as_bytes())],
        )
        .await
    }

    /// Sends raw bytes as the body.
    pub async fn send_raw(&self, method: Method, path: &str, body: Vec<u8>) -> Res {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .header("content-type", "application/json")
            .body(body);
        if let Some((t, id)) = &self.actor {
            req = req.header("X-Actor-Type", t).header("X-Actor-ID", id);
        }
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.expect("request failed");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        Res {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    pub async fn get(&self, path: &str) -> Res {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Res {
        self.send(Method::POST, path, Some(&body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Res {
        self.send(Method::PATCH, path, Some(&body)).await
    }

    pub async fn delete(&self, path: &str) -> Res {
        self.send(Method::DELETE, path, None).await
    }

    /// `POST /tasks/{task}/{action}` (claim, complete, fail, reject, cancel, reopen, …).
    pub async fn act(&self, task: i64, action: &str, body: Value) -> Res {
        self.post(&format!("/tasks/{task}/{action}"), body).await
    }

    /// Creates a task in `default/main` and returns it.
    pub async fn create_task(&self, body: Value) -> Value {
        self.post("/tasks", body).await.expect(201)["task"].clone()
    }
}
