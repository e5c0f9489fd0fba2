//! One error type for the CLI, each kind with its exit code:
//! 1 the server refused, 2 usage or configuration, 3 the server is unreachable.

use std::fmt;

/// Why a command failed.
#[derive(Debug)]
pub enum CliError {
    /// The server answered with an error status.
    Server {
        status: u16,
        message: String,
        code: String,
    },
    /// The server refused outside HTTP (a WebSocket error frame): no status.
    Refused { message: String, code: String },
    /// Bad arguments, configuration or local files.
    Usage(String),
    /// No answer from the server.
    Unreachable { url: String, reason: String },
}

/// The result of a CLI operation.
pub type CliResult<T> = Result<T, CliError>;

impl CliError {
    /// A usage or configuration error.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::Usage(message.into())
    }

    /// The error as the original CLI (v1.3) printed it after `Error: `: the
    /// server's sentence alone, without its code and status.
    pub fn classic(&self) -> String {
        match self {
            Self::Server { message, .. } | Self::Refused { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Server { .. } | Self::Refused { .. } => 1,
            Self::Usage(_) => 2,
            Self::Unreachable { .. } => 3,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Server {
                status,
                message,
                code,
            } => write!(f, "{message} ({code}, HTTP {status})"),
            Self::Refused { message, code } => write!(f, "{message} ({code})"),
            Self::Usage(message) => f.write_str(message),
            Self::Unreachable { url, reason } => write!(
                f,
                "cannot reach the ATS server at {url}: {reason}\n\
                 Is it running? Set the address with --url, ATS_URL or `url` in ~/.ats/config."
            ),
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        Self::Usage(e.to_string())
    }
}
