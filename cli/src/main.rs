//! `ats`: the command-line client of the Agent Task Service (SPEC §9).

// Printing never panics on a closed pipe (`ats list | head`): these shadow
// std's macros for the whole crate. On stdout a broken pipe ends the process
// quietly with success, since the reader has all it wanted; other write
// errors, and any error on stderr, are ignored.
macro_rules! println {
    () => { $crate::pipe::out(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::pipe::out(format_args!("{}\n", format_args!($($arg)*))) };
}
macro_rules! eprintln {
    () => { $crate::pipe::err(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::pipe::err(format_args!("{}\n", format_args!($($arg)*))) };
}

mod pipe;

mod cli;
mod client;
mod commands;
mod config;
mod error;
mod output;
mod progress;
mod watch;

use clap::Parser;
use serde_json::json;

use cli::{Cli, Command};
use commands::{Ctx, access, auth, orgs, projects, tasks, workflow};
use error::CliResult;
use output::{Output, Style};

fn main() {
    let cli = Cli::parse();
    match &cli.command {
        Command::Completion { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut stdout = pipe::Stdout;
            clap_complete::generate(*shell, &mut cmd, "ats", &mut stdout);
            return;
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command().display_name("ats");
            if let Err(e) = clap_mangen::Man::new(cmd).render(&mut pipe::Stdout) {
                eprintln!("Error: cannot write the manual page: {e}");
                std::process::exit(2);
            }
            return;
        }
        _ => {}
    }
    let out = Output::new(cli.global.format);
    // TLS (https:// and wss:// servers) uses rustls with the ring provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = runtime.block_on(run(cli, out)) {
        // The original's line by default; the code and status with ATS_OUTPUT=modern.
        let text = if out.modern {
            e.to_string()
        } else {
            e.classic()
        };
        eprintln!("{} {text}", out.paint_err("Error:", Style::Red));
        std::process::exit(e.exit_code());
    }
}

async fn run(cli: Cli, out: Output) -> CliResult<()> {
    let cwd = std::env::current_dir()?;
    let settings = config::Settings::resolve(&cli.global, &cwd)?;
    let client = client::Client::new(&settings, cli.global.verbose)?;
    let ctx = Ctx {
        settings,
        client,
        out,
        cwd,
    };
    match &cli.command {
        Command::Health => tasks::health(&ctx).await,
        Command::Stats => tasks::stats(&ctx).await,
        Command::Create(a) => tasks::create(&ctx, a).await,
        Command::Bulk { file } => tasks::bulk(&ctx, file).await,
        Command::Get { id } => tasks::get(&ctx, *id).await,
        Command::List(a) => tasks::list(&ctx, a).await,
        Command::Update(a) => tasks::update(&ctx, a).await,
        Command::Claim { id, lease } => {
            let body = lease.map_or_else(|| json!({}), |l| json!({ "lease_duration": l }));
            tasks::action(&ctx, *id, "claim", body, "claimed").await
        }
        Command::ClaimNext {
            channel,
            task_type,
            min_priority,
            lease,
            limit,
            wait,
        } => {
            let claim = workflow::Claim {
                channel: channel.as_deref(),
                task_type: task_type.as_deref(),
                min_priority: *min_priority,
                lease: *lease,
                wait: *wait,
            };
            workflow::claim_next(&ctx, &claim, *limit).await
        }
        Command::Complete { id, outputs } => {
            let body = match outputs {
                Some(o) => json!({ "outputs": commands::json_arg("--outputs", o)? }),
                None => json!({}),
            };
            tasks::action(&ctx, *id, "complete", body, "completed").await
        }
        Command::Cancel(a) => reason(&ctx, a, "cancel", "cancelled").await,
        Command::Fail(a) => reason(&ctx, a, "fail", "failed").await,
        Command::Reject(a) => reason(&ctx, a, "reject", "rejected").await,
        Command::Reopen(a) => reason(&ctx, a, "reopen", "reopened").await,
        Command::Delete { id } => tasks::delete(&ctx, *id).await,
        Command::Message(m) => workflow::message(&ctx, m).await,
        Command::Events { id, after, limit } => workflow::events(&ctx, *id, *after, *limit).await,
        Command::Subtask(c) => workflow::subtask(&ctx, c).await,
        Command::Handoff(c) => workflow::handoff(&ctx, c).await,
        Command::Watch(a) => workflow::watch(&ctx, a).await,
        Command::Project(c) => projects::project(&ctx, c).await,
        Command::Org(c) => orgs::org(&ctx, c).await,
        Command::Auth(c) => auth::auth(&ctx, c).await,
        Command::ApiKey(c) => auth::api_key(&ctx, c).await,
        Command::Guardian(c) => auth::guardian(&ctx, c).await,
        Command::Member(c) => access::member(&ctx, c).await,
        Command::Invitation(c) => access::invitation(&ctx, c).await,
        Command::Permission(c) => access::permission(&ctx, c).await,
        Command::Completion { .. } | Command::Man => Ok(()),
    }
}

async fn reason(ctx: &Ctx, a: &cli::ReasonArgs, action: &str, done: &str) -> CliResult<()> {
    let body = a
        .reason
        .as_ref()
        .map_or_else(|| json!({}), |r| json!({ "reason": r }));
    tasks::action(ctx, a.id, action, body, done).await
}
