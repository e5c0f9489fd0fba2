//! `ats-server`: runs the Agent Task Service, or its migrations, or prints
//! its GraphQL schema or OpenAPI document.

use std::io::IsTerminal;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use ats::config::{Command, Config, redact_url};

#[tokio::main]
async fn main() {
    if let Err(err) = init_logging() {
        eprintln!("ats-server: {err}");
        std::process::exit(2);
    }
    let config = Config::parse();
    if let Err(err) = run(config).await {
        tracing::error!(error = %err, "ats-server stopped");
        std::process::exit(1);
    }
}

/// Logs go to stdout, filtered by `RUST_LOG` (default `info`). `ATS_LOG_FORMAT`
/// picks the format: `text` (the default: human-readable lines, coloured only
/// when stdout is a terminal and `NO_COLOR` is not set) or `json` (one JSON
/// object per line, for log collectors).
fn init_logging() -> Result<(), String> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    let format = std::env::var("ATS_LOG_FORMAT").unwrap_or_default();
    match format.trim().to_ascii_lowercase().as_str() {
        "" | "text" => {
            let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
            logs.with_ansi(std::io::stdout().is_terminal() && !no_color)
                .init();
        }
        "json" => logs.json().flatten_event(true).with_ansi(false).init(),
        _ => {
            return Err(format!(
                "ATS_LOG_FORMAT must be `text` or `json`, not `{format}`"
            ));
        }
    }
    Ok(())
}

async fn run(config: Config) -> ats::error::Result<()> {
    match config.command.clone() {
        Some(Command::Migrate) => {
            ats::open_store(&config).await?;
            tracing::info!(database = %redact_url(&config.database_url), "migrations applied");
            Ok(())
        }
        Some(Command::PasswordReset { who }) => {
            let issued = ats::app::issue_password_reset(&config, &who).await?;
            println!(
                "reset token for {}:{} (valid until {}, usable once):\n{}\n\nPOST /auth/password/reset {{\"token\": \"…\", \"new_password\": \"…\"}}",
                issued.actor_type,
                issued.actor_id,
                ats::time::format(&issued.expires_at),
                issued.token
            );
            Ok(())
        }
        Some(Command::Schema) => {
            print!("{}", ats::graphql::sdl());
            Ok(())
        }
        Some(Command::Openapi) => {
            print!("{}", ats::rest::openapi::json());
            Ok(())
        }
        Some(Command::Serve) | None => {
            let listener = tokio::net::TcpListener::bind(config.listen)
                .await
                .map_err(|e| {
                    ats::error::Error::Internal(format!("cannot listen on {}: {e}", config.listen))
                })?;
            let addr = listener
                .local_addr()
                .map_err(|e| ats::error::Error::Internal(e.to_string()))?;
            tracing::info!(
                database = %redact_url(&config.database_url),
                "ATS listening on http://{addr} — dashboard http://{addr}/, GraphiQL http://{addr}/graphiql, API http://{addr}/tasks, events ws://{addr}/ws, health http://{addr}/health"
            );
            ats::serve(listener, config, shutdown_signal()).await
        }
    }
}

/// Resolves at the first SIGTERM or SIGINT (Ctrl-C); `serve` then shuts
/// down gracefully within `ATS_SHUTDOWN_GRACE_MS`.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    let signal = tokio::select! {
        _ = ctrl_c => "SIGINT",
        _ = term => "SIGTERM",
    };
    tracing::info!(signal, "shutdown requested");
}
