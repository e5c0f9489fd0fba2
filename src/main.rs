//! `ats-server`: runs the Agent Task Service, or its migrations.

use clap::Parser;
use tracing_subscriber::EnvFilter;

use ats::config::{Command, Config, redact_url};

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let config = Config::parse();
    if let Err(err) = run(config).await {
        tracing::error!(error = %err, "ats-server stopped");
        std::process::exit(1);
    }
}

async fn run(config: Config) -> ats::error::Result<()> {
    match config.command {
        Some(Command::Migrate) => {
            ats::open_store(&config).await?;
            tracing::info!(database = %redact_url(&config.database_url), "migrations applied");
            Ok(())
        }
        Some(Command::Schema) => {
            print!("{}", ats::graphql::sdl());
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
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
