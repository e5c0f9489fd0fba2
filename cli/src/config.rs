//! Where settings come from: flags > environment > project binding > global
//! file (`~/.ats/config`) > defaults.
//!
//! The project binding is `.ats/project.json`, found by walking up from the
//! working directory; an `.ats/config` written by the older CLI is read too.
//! Both files hold `{"organization": …, "project": …}`; the global file may
//! also hold `url`, `actor: {type, id, name}`, `api_key` and the `token` that
//! `ats auth login` saves.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::cli::GlobalArgs;
use crate::error::{CliError, CliResult};

/// The server used when nothing else names one.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";
/// The org and project used when nothing else names them.
pub const DEFAULT_ORG: &str = "default";
pub const DEFAULT_PROJECT: &str = "main";

/// Where a setting came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env(&'static str),
    Project(PathBuf),
    Global(PathBuf),
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Flag => f.write_str("command-line flag"),
            Self::Env(name) => write!(f, "environment ({name})"),
            Self::Project(p) => write!(f, "project file {}", p.display()),
            Self::Global(p) => write!(f, "global config {}", p.display()),
            Self::Default => f.write_str("default"),
        }
    }
}

/// A setting and where it came from.
#[derive(Clone, Debug)]
pub struct Sourced {
    pub value: String,
    pub source: Source,
}

/// A JSON config file: its path and its contents (an empty object when absent).
#[derive(Clone, Debug)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub data: Map<String, Value>,
    pub exists: bool,
}

impl ConfigFile {
    /// Reads `path`; a missing file is empty, an unreadable one an error.
    pub fn load(path: PathBuf) -> CliResult<Self> {
        match std::fs::read_to_string(&path) {
            Ok(text) if text.trim().is_empty() => Ok(Self {
                path,
                data: Map::new(),
                exists: true,
            }),
            Ok(text) => match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(data)) => Ok(Self {
                    path,
                    data,
                    exists: true,
                }),
                Ok(_) | Err(_) => Err(CliError::usage(format!(
                    "{} is not a JSON object; fix or remove it",
                    path.display()
                ))),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self {
                path,
                data: Map::new(),
                exists: false,
            }),
            Err(e) => Err(CliError::usage(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    /// A string value (`org` is read as an alias of `organization`).
    pub fn get(&self, key: &str) -> Option<String> {
        let v = self.data.get(key).or_else(|| match key {
            "organization" => self.data.get("org"),
            _ => None,
        })?;
        v.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
    }

    /// A value of the `actor` object.
    pub fn actor(&self, key: &str) -> Option<String> {
        self.data
            .get("actor")?
            .get(key)?
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    }

    /// Sets (or with `None` removes) a key.
    pub fn set(&mut self, key: &str, value: Option<Value>) {
        match value {
            Some(v) => {
                self.data.insert(key.to_owned(), v);
            }
            None => {
                self.data.remove(key);
            }
        }
    }

    /// Writes the file (creating its directory), readable only by its owner.
    pub fn save(&self) -> CliResult<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| CliError::usage(format!("cannot create {}: {e}", dir.display())))?;
        }
        let text = serde_json::to_string_pretty(&Value::Object(self.data.clone()))
            .map_err(|e| CliError::usage(e.to_string()))?;
        write_private(&self.path, &format!("{text}\n"))
    }

    /// The contents with secrets replaced, for display.
    pub fn redacted(&self) -> Value {
        let mut data = self.data.clone();
        for key in ["api_key", "token"] {
            if data.contains_key(key) {
                data.insert(key.to_owned(), json!("<redacted>"));
            }
        }
        Value::Object(data)
    }
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> CliResult<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let err = |e: std::io::Error| CliError::usage(format!("cannot write {}: {e}", path.display()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(err)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(err)?;
    file.write_all(text.as_bytes()).map_err(err)
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> CliResult<()> {
    std::fs::write(path, text)
        .map_err(|e| CliError::usage(format!("cannot write {}: {e}", path.display())))
}

/// The home directory (`$HOME`).
pub fn home_dir() -> CliResult<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| CliError::usage("HOME is not set: cannot find ~/.ats/config"))
}

/// `~/.ats/config`.
pub fn global_path() -> CliResult<PathBuf> {
    Ok(home_dir()?.join(".ats").join("config"))
}

/// The nearest project binding above `start`: `.ats/project.json`, or the
/// older CLI's `.ats/config` (but never the global `~/.ats/config`).
pub fn find_project_file(start: &Path, global: &Path) -> Option<PathBuf> {
    for dir in start.ancestors() {
        let json = dir.join(".ats").join("project.json");
        if json.is_file() {
            return Some(json);
        }
        let old = dir.join(".ats").join("config");
        if old.is_file() && old != global {
            return Some(old);
        }
    }
    None
}

/// Everything a command needs to know about where and as whom to talk.
#[derive(Clone, Debug)]
pub struct Settings {
    pub url: Sourced,
    pub org: Sourced,
    pub project: Sourced,
    pub actor_type: Option<Sourced>,
    pub actor_id: Option<Sourced>,
    pub actor_name: Option<Sourced>,
    /// An API key or JWT sent as `Authorization: Bearer`.
    pub credential: Option<Sourced>,
    /// The credential is the login token saved in the global file.
    pub login_token: bool,
    pub channel: Option<String>,
    pub global: ConfigFile,
    pub local: Option<ConfigFile>,
}

fn env(name: &'static str) -> Option<Sourced> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .map(|value| Sourced {
            value,
            source: Source::Env(name),
        })
}

fn flag(v: &Option<String>) -> Option<Sourced> {
    v.clone().filter(|v| !v.is_empty()).map(|value| Sourced {
        value,
        source: Source::Flag,
    })
}

fn from_file(file: Option<&ConfigFile>, value: Option<String>, project: bool) -> Option<Sourced> {
    let file = file?;
    value.map(|value| Sourced {
        value,
        source: if project {
            Source::Project(file.path.clone())
        } else {
            Source::Global(file.path.clone())
        },
    })
}

impl Settings {
    /// Resolves every setting from flags, environment, the project binding
    /// found from `cwd`, and the global file.
    pub fn resolve(args: &GlobalArgs, cwd: &Path) -> CliResult<Self> {
        let global = ConfigFile::load(global_path()?)?;
        let local = find_project_file(cwd, &global.path)
            .map(ConfigFile::load)
            .transpose()?;
        let l = local.as_ref();
        let g = Some(&global);
        let pick = |flag_v: Option<Sourced>,
                    env_name: Option<&'static str>,
                    read: &dyn Fn(&ConfigFile) -> Option<String>|
         -> Option<Sourced> {
            flag_v
                .or_else(|| env_name.and_then(env))
                .or_else(|| from_file(l, l.and_then(read), true))
                .or_else(|| from_file(g, g.and_then(read), false))
        };
        let or_default = |s: Option<Sourced>, d: &str| {
            s.unwrap_or_else(|| Sourced {
                value: d.to_owned(),
                source: Source::Default,
            })
        };
        let url = or_default(
            pick(flag(&args.url), Some("ATS_URL"), &|f| f.get("url")),
            DEFAULT_URL,
        );
        let org = or_default(
            pick(flag(&args.org), Some("ATS_ORG"), &|f| f.get("organization")),
            DEFAULT_ORG,
        );
        let project = or_default(
            pick(flag(&args.project), Some("ATS_PROJECT"), &|f| {
                f.get("project")
            }),
            DEFAULT_PROJECT,
        );
        let actor_type = pick(flag(&args.actor_type), Some("ATS_ACTOR_TYPE"), &|f| {
            f.actor("type")
        });
        let actor_id = pick(flag(&args.actor_id), Some("ATS_ACTOR_ID"), &|f| {
            f.actor("id")
        });
        let actor_name = pick(flag(&args.actor_name), Some("ATS_ACTOR_NAME"), &|f| {
            f.actor("name")
        });
        // Secrets come from flags, the environment or the global file only:
        // a project binding is often committed to a repository. For the same
        // reason the global file's secret never goes to a URL a project
        // binding chose.
        let url_from_project = matches!(url.source, Source::Project(_));
        let credential = flag(&args.api_key)
            .or_else(|| env("ATS_API_KEY"))
            .or_else(|| {
                (!url_from_project)
                    .then(|| from_file(g, global.get("api_key"), false))
                    .flatten()
            })
            .or_else(|| {
                (!url_from_project)
                    .then(|| from_file(g, global.get("token"), false))
                    .flatten()
            });
        // The token `ats auth login` saved (not an API key): it expires.
        let login_token = credential.as_ref().is_some_and(|c| {
            matches!(c.source, Source::Global(_)) && global.get("token").as_ref() == Some(&c.value)
        });
        Ok(Self {
            url,
            org,
            project,
            actor_type,
            actor_id,
            actor_name,
            credential,
            login_token,
            channel: env("ATS_CHANNEL").map(|s| s.value),
            global,
            local,
        })
    }

    /// The org and project when either was configured (not defaults): task
    /// commands then use the scoped routes.
    pub fn scope(&self) -> Option<(String, String)> {
        (self.org.source != Source::Default || self.project.source != Source::Default)
            .then(|| (self.org.value.clone(), self.project.value.clone()))
    }

    /// `org/project`.
    pub fn project_path(&self) -> String {
        format!("{}/{}", self.org.value, self.project.value)
    }
}

/// Splits `org/project`.
pub fn split_project(path: &str) -> CliResult<(String, String)> {
    match path.split_once('/') {
        Some((org, project))
            if !org.is_empty() && !project.is_empty() && !project.contains('/') =>
        {
            Ok((org.to_owned(), project.to_owned()))
        }
        _ => Err(CliError::usage(format!(
            "'{path}' is not a project path: write it as org/project"
        ))),
    }
}
