//! The command line: parses arguments, loads the configuration, runs one command and
//! maps the outcome to an exit code (0 success, 1 failure, 2 usage error). Errors go to
//! stderr as one sentence (clap's own in at most two lines); `--output json` prints
//! exactly one JSON document on stdout. Commands that only read never create a database.

mod admin;
pub(crate) mod args;
mod backup;
mod blocking;
mod cloudtrail;
mod config_show;
mod directory;
mod doctor;
mod health;
mod iam;
mod limit_args;
mod login;
mod reports;
mod table;
mod tls;
mod users;
mod values;

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use args::{Cli, Command, Output};

use crate::config::Config;
use crate::domain::Actor;
use crate::ops::{Ops, OpsError};
use crate::store::OpenMode;

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            // --help, --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{}", short_usage_error(&e));
            return ExitCode::from(2);
        }
    };
    crate::install_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}{}", one_sentence(&e), unknown_outcome_note(&e));
            ExitCode::from(exit_code(&e))
        }
    }
}

/// For a change whose outcome is unknown (the database connection failed during its
/// commit, or the transaction ran out of time): says so plainly.
fn unknown_outcome_note(e: &anyhow::Error) -> &'static str {
    let unknown = e.chain().any(
        |c| matches!(c.downcast_ref::<OpsError>(), Some(OpsError::Store(s)) if s.outcome_unknown()),
    );
    if unknown {
        " (the change may or may not have been applied: look at the current state before \
         running the command again)"
    } else {
        ""
    }
}

/// A bad value on the command line that only the command itself can see (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct UsageError(pub(crate) String);

/// 2 for usage errors (a bad argument, or input the service refuses as invalid), else 1.
fn exit_code(e: &anyhow::Error) -> u8 {
    let usage = e.chain().any(|c| {
        c.downcast_ref::<UsageError>().is_some()
            || matches!(c.downcast_ref::<OpsError>(), Some(OpsError::Invalid(_)))
    });
    if usage {
        2
    } else {
        1
    }
}

/// clap's error in at most two lines: what is wrong, then the usage of the command. A
/// misspelt flag or subcommand gets clap's "did you mean" instead of a usage line (the
/// usage clap prints then shows the suggested flag as if it were required).
fn short_usage_error(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let text = e.render().to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let mut first = lines
        .next()
        .unwrap_or("error: invalid arguments")
        .to_string();
    let mut rest: Vec<&str> = lines.collect();
    // "the following required arguments were not provided:" lists them on the next lines.
    if first.ends_with(':') {
        let listed: Vec<&str> = rest
            .iter()
            .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more"))
            .copied()
            .collect();
        first = format!("{first} {}", listed.join(" "));
        rest.drain(..listed.len());
    }
    let usage = rest.iter().find(|l| l.starts_with("Usage:"));
    let suggested = [ContextKind::SuggestedArg, ContextKind::SuggestedSubcommand]
        .into_iter()
        .find_map(|kind| match e.get(kind) {
            Some(ContextValue::String(s)) => Some(s.clone()),
            Some(ContextValue::Strings(v)) if !v.is_empty() => Some(v.join("' or '")),
            _ => None,
        });
    let unknown = matches!(
        e.kind(),
        ErrorKind::UnknownArgument | ErrorKind::InvalidSubcommand
    );
    if unknown {
        let hint = suggested
            .map(|s| format!("; did you mean '{s}'?"))
            .unwrap_or_default();
        return format!(
            "{first}{hint}\n(see `{} --help`)",
            command_path(usage.copied())
        );
    }
    let usage = usage
        .map(|u| format!("\n{u} (see --help)"))
        .unwrap_or_default();
    format!("{first}{usage}")
}

/// `bedrock-gate user set-limits`: the words of clap's usage line before the first
/// option or argument.
fn command_path(usage: Option<&str>) -> String {
    let words: Vec<&str> = usage
        .map(|u| u.trim_start_matches("Usage:").split_whitespace())
        .into_iter()
        .flatten()
        .take_while(|w| !w.starts_with(['-', '<', '[']))
        .collect();
    if words.is_empty() {
        "bedrock-gate".to_string()
    } else {
        words.join(" ")
    }
}

fn one_sentence(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
    }
    parts.join(": ")
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // Commands that need neither the configuration nor the database.
    match &cli.command {
        Command::Tls(args::TlsCommand::SelfSigned { out, names, force }) => {
            return tls::self_signed(cli.output, out, names, *force);
        }
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut command, "bedrock-gate", &mut script);
            return write_stdout(&script);
        }
        Command::Man { out } => return man(out.as_deref()),
        _ => {}
    }
    if matches!(
        cli.command,
        Command::Login { .. } | Command::Credentials { .. } | Command::Logout { .. }
    ) {
        return login::run(cli.output, cli.command).await;
    }
    let config = Config::load(cli.config.as_deref())?;
    crate::logging::init(&config.log, matches!(cli.command, Command::Serve));
    let out = cli.output;
    let mode = match &cli.command {
        Command::Serve => return serve(config).await,
        Command::Config(_) => return config_show::show(&config, out),
        Command::Doctor => return doctor::doctor(&config, out).await,
        Command::Health { ready, addr } => {
            return health::health(&config, out, *addr, *ready).await
        }
        Command::Backup { to } => return backup::backup(&config, out, to).await,
        c if only_reads(c) => OpenMode::MustExist,
        _ => OpenMode::CreateIfMissing,
    };
    let (ops, applied) = Ops::open_with(&config, mode).await?;
    let actor = Actor::cli(cli.actor.as_deref());
    let result = match cli.command {
        Command::Iam(cmd) => iam::iam(&ops, &config, out, cmd, &actor).await,
        command => dispatch(&ops, out, command, applied, &actor).await,
    };
    ops.close().await;
    result
}

/// Commands that only read: they never create a database.
fn only_reads(c: &Command) -> bool {
    use args::{AdminCommand as A, KeyCommand as K, PricingCommand as P};
    use args::{TeamCommand as T, UserCommand as U};
    matches!(
        c,
        Command::Team(T::List | T::Info { .. })
            | Command::User(U::List { .. } | U::Info { .. })
            | Command::Key(K::List { .. })
            | Command::Pricing(P::List)
            | Command::Usage(_)
            | Command::Audit { .. }
            | Command::Admin(A::ListTokens | A::Audit { .. })
            | Command::Iam(args::IamCommand::Status { .. })
    )
}

async fn dispatch(
    ops: &Ops,
    out: Output,
    command: Command,
    applied: usize,
    actor: &Actor,
) -> anyhow::Result<()> {
    match command {
        Command::Serve
        | Command::Config(_)
        | Command::Doctor
        | Command::Health { .. }
        | Command::Backup { .. }
        | Command::Tls(_)
        | Command::Completions { .. }
        | Command::Man { .. }
        | Command::Login { .. }
        | Command::Credentials { .. }
        | Command::Logout { .. } => {}
        Command::Migrate => print(
            out,
            &serde_json::json!({"applied": applied}),
            format!("applied {applied} migration(s)"),
        ),
        Command::Team(cmd) => directory::team(ops, out, cmd, actor).await?,
        Command::User(cmd) => users::user(ops, out, cmd, actor).await?,
        Command::Key(cmd) => directory::key(ops, out, cmd, actor).await?,
        Command::Pricing(cmd) => reports::pricing(ops, out, cmd, actor).await?,
        Command::Usage(args) => reports::usage(ops, out, args).await?,
        Command::Reports(args::ReportsCommand::Rebuild) => reports::rebuild(ops, out).await?,
        Command::Audit { user, limit } => blocking::audit(ops, out, user, limit).await?,
        Command::Reset => blocking::reset(ops, out, actor).await?,
        Command::Admin(cmd) => admin::admin(ops, out, cmd, actor).await?,
        Command::Cloudtrail(cmd) => cloudtrail::cloudtrail(ops, out, cmd, actor).await?,
        Command::Iam(_) => {}
    }
    Ok(())
}

/// `man`: the page of the whole command on stdout, or one page per command into `dir`.
fn man(dir: Option<&std::path::Path>) -> anyhow::Result<()> {
    let command = <Cli as clap::CommandFactory>::command();
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the directory {}", dir.display()))?;
            clap_mangen::generate_to(command, dir)
                .with_context(|| format!("cannot write man pages into {}", dir.display()))?;
        }
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut page)
                .context("cannot render the man page")?;
            write_stdout(&page)?;
        }
    }
    Ok(())
}

/// Writes `bytes` to stdout; a reader that stopped early (`| head`) is not an error.
fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("cannot write to stdout"))
        }
        _ => Ok(()),
    }
}

/// Prints a command's result: the view as one JSON document, or the text.
pub(crate) fn print(out: Output, view: &impl serde::Serialize, text: String) {
    match out {
        Output::Json => match serde_json::to_string(view) {
            Ok(json) => println!("{json}"),
            Err(e) => eprintln!("error: cannot encode the result as JSON: {e}"),
        },
        Output::Text => {
            if !text.is_empty() {
                println!("{text}");
            }
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let shutdown = shutdown_signal();
    let proxy = tokio::net::TcpListener::bind(config.proxy.listen)
        .await
        .with_context(|| format!("cannot listen on proxy.listen {}", config.proxy.listen))?;
    let admin = tokio::net::TcpListener::bind(config.admin.listen)
        .await
        .with_context(|| format!("cannot listen on admin.listen {}", config.admin.listen))?;
    let listeners = crate::serve::Listeners { proxy, admin };
    crate::serve::run(
        config,
        listeners,
        crate::serve::ServeOptions::default(),
        shutdown,
    )
    .await?;
    Ok(())
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed when this is called, not
/// when the future is first polled, so a signal that arrives while `serve` is still
/// starting up already means "shut down" instead of killing the process.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let handlers = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        )
    };
    async move {
        #[cfg(unix)]
        {
            match handlers {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => tracing::info!("SIGTERM received"),
                        _ = int.recv() => tracing::info!("SIGINT received"),
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
