//! Who did something: `(actor_type, actor_id, actor_name)`.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The kinds of actor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ActorType {
    /// A person.
    Human,
    /// An AI agent.
    Agent,
    /// The service itself or another automated system.
    System,
}

impl ActorType {
    /// The lowercase name used in APIs and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Human => "human",
            Self::Agent => "agent",
            Self::System => "system",
        }
    }

    /// Parses `human`, `agent` or `system`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "human" => Ok(Self::Human),
            "agent" => Ok(Self::Agent),
            "system" => Ok(Self::System),
            other => Err(Error::bad_request(format!(
                "unknown actor type '{other}': expected human, agent or system"
            ))),
        }
    }
}

/// The actor behind a request, an event, a task or a message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Actor {
    /// human, agent or system.
    pub actor_type: ActorType,
    /// Unique per type.
    pub id: String,
    /// Display name, when known.
    pub name: Option<String>,
}

/// The longest actor id or name accepted.
pub const MAX_ACTOR_FIELD: usize = 200;

impl Actor {
    /// Builds an actor from untrusted parts, checking each.
    pub fn new(actor_type: &str, id: &str, name: Option<&str>) -> Result<Self> {
        let actor_type = ActorType::parse(actor_type)?;
        let id = id.trim();
        if id.is_empty() || id.chars().count() > MAX_ACTOR_FIELD {
            return Err(Error::bad_request(format!(
                "actor id must be 1 to {MAX_ACTOR_FIELD} characters"
            )));
        }
        let name = name.map(str::trim).filter(|n| !n.is_empty());
        if name.is_some_and(|n| n.chars().count() > MAX_ACTOR_FIELD) {
            return Err(Error::bad_request(format!(
                "actor name must be at most {MAX_ACTOR_FIELD} characters"
            )));
        }
        Ok(Self {
            actor_type,
            id: id.to_owned(),
            name: name.map(str::to_owned),
        })
    }

    /// The actor of requests that name nobody.
    pub fn anonymous() -> Self {
        Self {
            actor_type: ActorType::Human,
            id: "anonymous".to_owned(),
            name: None,
        }
    }

    /// The service itself (the lease reaper).
    pub fn system() -> Self {
        Self {
            actor_type: ActorType::System,
            id: "ats".to_owned(),
            name: Some("ATS".to_owned()),
        }
    }

    /// True when `(type, id)` names this actor.
    pub fn is(&self, actor_type: &str, id: &str) -> bool {
        self.actor_type.as_str() == actor_type && self.id == id
    }

    /// `agent:worker-1`, for messages.
    pub fn label(&self) -> String {
        format!("{}:{}", self.actor_type.as_str(), self.id)
    }
}
