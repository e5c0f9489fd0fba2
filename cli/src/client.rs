//! The HTTP client: credentials or actor headers on every request, and
//! server errors turned into [`CliError`]s.

use std::time::Duration;

use reqwest::{Method, Url};
use serde_json::Value;

use crate::config::{ConfigFile, Settings};
use crate::error::{CliError, CliResult};

/// Who the requests act as.
#[derive(Clone, Debug, Default)]
pub struct Identity {
    /// API key or JWT, sent as `Authorization: Bearer`.
    pub bearer: Option<String>,
    /// Open-mode actor headers, sent only without credentials.
    pub actor_type: Option<String>,
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
}

impl Identity {
    /// The identity the settings describe.
    pub fn from_settings(s: &Settings) -> Self {
        Self {
            bearer: s.credential.as_ref().map(|c| c.value.clone()),
            actor_type: s.actor_type.as_ref().map(|c| c.value.clone()),
            actor_id: s.actor_id.as_ref().map(|c| c.value.clone()),
            actor_name: s.actor_name.as_ref().map(|c| c.value.clone()),
        }
    }
}

/// A client of one ATS server.
pub struct Client {
    http: reqwest::Client,
    base: Url,
    identity: Identity,
    verbose: bool,
    /// `(org, project)` when task routes are scoped to a project.
    scope: Option<(String, String)>,
    /// The global config file when the credential is the login token saved
    /// there: on 401 the CLI signs in again (ATS_PASSWORD) or says how.
    login: Option<ConfigFile>,
    /// A token got by signing in again, used instead of the saved one.
    renewed: std::sync::Mutex<Option<String>>,
}

/// Why a saved login token no longer works, and what to do.
const SESSION_EXPIRED: &str = "your login session has expired (a login token lasts an hour): \
run `ats auth login` to sign in again, or set ATS_PASSWORD so that ats signs in again by itself";

/// Parses and checks a server URL.
pub fn parse_base(url: &str) -> CliResult<Url> {
    let base = Url::parse(url.trim_end_matches('/'))
        .map_err(|e| CliError::usage(format!("invalid server URL '{url}': {e}")))?;
    if !matches!(base.scheme(), "http" | "https") {
        return Err(CliError::usage(format!(
            "invalid server URL '{url}': use http:// or https://"
        )));
    }
    Ok(base)
}

impl Client {
    /// A client for the configured server.
    pub fn new(settings: &Settings, verbose: bool) -> CliResult<Self> {
        let base = parse_base(&settings.url.value)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("ats-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::usage(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Self {
            http,
            base,
            identity: Identity::from_settings(settings),
            verbose,
            scope: settings.scope(),
            login: settings.login_token.then(|| settings.global.clone()),
            renewed: std::sync::Mutex::new(None),
        })
    }

    /// The same server, authenticated with `bearer` only.
    pub fn with_bearer(&self, bearer: &str) -> Self {
        Self {
            http: self.http.clone(),
            base: self.base.clone(),
            identity: Identity {
                bearer: Some(bearer.to_owned()),
                ..Identity::default()
            },
            verbose: self.verbose,
            scope: self.scope.clone(),
            login: None,
            renewed: std::sync::Mutex::new(None),
        }
    }

    /// The server's base URL.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// Who requests act as.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The path of a task route: scoped to the configured project, or unscoped.
    pub fn task_path(&self, rest: &[&str]) -> Vec<String> {
        let mut segs: Vec<String> = match &self.scope {
            Some((org, project)) => vec![
                "orgs".into(),
                org.clone(),
                "projects".into(),
                project.clone(),
                "tasks".into(),
            ],
            None => vec!["tasks".into()],
        };
        segs.extend(rest.iter().map(|s| (*s).to_owned()));
        segs
    }

    /// The URL of `segments` (each percent-encoded) with `query`.
    pub fn url(&self, segments: &[String], query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        {
            let mut path = url.path_segments_mut().expect("http URLs have paths");
            path.pop_if_empty();
            for s in segments {
                path.push(s);
            }
        }
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        url
    }

    /// Sends a request; a 2xx answer's JSON body (`null` when empty). When
    /// the saved login token has expired, signs in again once and retries
    /// (with ATS_PASSWORD and the identity `ats auth login` saved), or says
    /// to run `ats auth login`.
    pub async fn send(
        &self,
        method: Method,
        segments: &[String],
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> CliResult<Value> {
        // One key per write, the same on this call's own retry.
        let key = (method != Method::GET).then(idempotency_key);
        let key = key.as_deref();
        match self
            .send_once(method.clone(), segments, query, body, key)
            .await
        {
            Err(CliError::Server {
                status: 401, code, ..
            }) if self.login.is_some() => {
                if self.sign_in_again().await? {
                    return self.send_once(method, segments, query, body, key).await;
                }
                Err(CliError::Server {
                    status: 401,
                    message: SESSION_EXPIRED.to_owned(),
                    code,
                })
            }
            other => other,
        }
    }

    /// Signs in again with ATS_PASSWORD and the login the global file
    /// remembers; saves the new token. False when that is not possible.
    async fn sign_in_again(&self) -> CliResult<bool> {
        let Some(global) = &self.login else {
            return Ok(false);
        };
        let password = std::env::var("ATS_PASSWORD").unwrap_or_default();
        let login = global.data.get("login").cloned().unwrap_or(Value::Null);
        if password.is_empty() || !login.is_object() {
            return Ok(false);
        }
        let mut body = login;
        body["password"] = Value::from(password);
        let anonymous = self.with_bearer("");
        let res = match anonymous
            .send_once(
                Method::POST,
                &segs(&["auth", "login"]),
                &[],
                Some(&body),
                None,
            )
            .await
        {
            Ok(res) => res,
            Err(CliError::Server { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        let Some(token) = res["token"].as_str() else {
            return Ok(false);
        };
        let mut global = global.clone();
        global.set("token", Some(Value::from(token)));
        global.save()?;
        if self.verbose {
            eprintln!("(the login session had expired: signed in again)");
        }
        *self.renewed.lock().unwrap_or_else(|p| p.into_inner()) = Some(token.to_owned());
        Ok(true)
    }

    async fn send_once(
        &self,
        method: Method,
        segments: &[String],
        query: &[(&str, String)],
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> CliResult<Value> {
        let url = self.url(segments, query);
        if self.verbose {
            eprintln!("→ {method} {url}");
        }
        let mut req = self.http.request(method, url.clone());
        let renewed = self
            .renewed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match renewed.as_ref().or(self.identity.bearer.as_ref()) {
            Some(token) if !token.is_empty() => req = req.bearer_auth(token),
            Some(_) => {}
            None => {
                if let Some(t) = &self.identity.actor_type {
                    req = req.header("X-Actor-Type", t);
                }
                if let Some(id) = &self.identity.actor_id {
                    req = req.header("X-Actor-ID", id);
                }
                if let Some(name) = &self.identity.actor_name {
                    req = req.header("X-Actor-Name", name);
                }
            }
        }
        if let Some(key) = idempotency_key {
            req = req.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(|e| self.transport_error(&e))?;
        let status = resp.status();
        if self.verbose {
            eprintln!("← {}", status.as_u16());
        }
        let text = resp.text().await.map_err(|e| self.transport_error(&e))?;
        let value: Option<Value> = if text.trim().is_empty() {
            Some(Value::Null)
        } else {
            serde_json::from_str(&text).ok()
        };
        if status.is_success() {
            return value.ok_or_else(|| CliError::Server {
                status: status.as_u16(),
                message: format!("the server answered with something that is not JSON: {text}"),
                code: "BAD_RESPONSE".into(),
            });
        }
        let (message, code) = match &value {
            Some(v) if v["error"].is_string() => (
                v["error"].as_str().unwrap_or_default().to_owned(),
                v["code"].as_str().unwrap_or("ERROR").to_owned(),
            ),
            _ => (
                format!(
                    "{} {}",
                    status.as_u16(),
                    status.canonical_reason().unwrap_or("error")
                ),
                "HTTP_ERROR".to_owned(),
            ),
        };
        Err(CliError::Server {
            status: status.as_u16(),
            message,
            code,
        })
    }

    fn transport_error(&self, e: &reqwest::Error) -> CliError {
        if e.is_builder() {
            // e.g. an actor name that is not a valid header value.
            return CliError::usage(format!(
                "cannot build the request: {}",
                std::error::Error::source(e).map_or_else(|| e.to_string(), ToString::to_string)
            ));
        }
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            reason = format!("{reason}: {s}");
            source = s.source();
        }
        CliError::Unreachable {
            url: self.base.to_string(),
            reason,
        }
    }

    pub async fn get(&self, segs: &[String], query: &[(&str, String)]) -> CliResult<Value> {
        self.send(Method::GET, segs, query, None).await
    }

    pub async fn post(&self, segs: &[String], body: &Value) -> CliResult<Value> {
        self.send(Method::POST, segs, &[], Some(body)).await
    }

    pub async fn patch(&self, segs: &[String], body: &Value) -> CliResult<Value> {
        self.send(Method::PATCH, segs, &[], Some(body)).await
    }

    pub async fn delete(&self, segs: &[String]) -> CliResult<Value> {
        self.send(Method::DELETE, segs, &[], None).await
    }
}

/// A fresh `Idempotency-Key`: 128 random bits in the UUID v4 layout. The
/// server answers a repeat of the same write with the same key by the
/// first answer, so a retried write happens once.
pub fn idempotency_key() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // No system randomness: time and process id still make the key
        // unique to this write.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        b = (nanos ^ (u128::from(std::process::id()) << 96)).to_be_bytes();
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// Path segments from string slices.
pub fn segs(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| (*s).to_owned()).collect()
}
