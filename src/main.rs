//! The thin binary: parse, set up logging, run, map the error to an exit code.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use o365_activities::cli::{Cli, Command, MockTenantCommand};
use o365_activities::commands;
use o365_activities::config::{
    BatchConfig, DemoConfig, GenerateConfig, PullConfig, ServeConfig, TriageConfig,
};
use o365_activities::error::{exit_code, AppError};
use o365_activities::http::TokioSleeper;

/// glibc gives threads that allocate arenas of their own, and memory freed in one arena is not
/// reused by another: the longer a pull or batch runs, the more its threads (async workers,
/// the window copier, blocking completions) hold between them, several MB in all. One arena
/// keeps peak memory independent of the mailbox's size; measured, it costs no speed here.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn use_one_malloc_arena() {
    // SAFETY: mallopt only sets an allocator parameter, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn use_one_malloc_arena() {}

fn main() -> ExitCode {
    use_one_malloc_arena();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() {
                exit_code::USAGE as u8
            } else {
                0
            });
        }
    };
    init_logging(cli.quiet, cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("o365-activities: error: cannot start the async runtime: {err}");
            return ExitCode::from(exit_code::OTHER as u8);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("o365-activities: error: {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::from(err.exit_code() as u8)
        }
    }
}

async fn run(cli: Cli) -> Result<(), AppError> {
    let quiet = cli.quiet;
    let verbose = cli.verbose;
    match cli.command {
        Command::Pull(args) => {
            let config = PullConfig::from_args(&args, chrono::Utc::now(), quiet)?;
            if !quiet {
                for note in &config.notes {
                    eprintln!("note: {note}");
                }
            }
            let summary = commands::pull::run(&config, Arc::new(TokioSleeper), ctrl_c()).await?;
            if !quiet && !config.dry_run {
                summary.print();
            }
            Ok(())
        }
        Command::MockTenant(MockTenantCommand::Generate(args)) => {
            commands::mock_tenant::generate(&GenerateConfig::from_args(&args, quiet)?)
        }
        Command::MockTenant(MockTenantCommand::Serve(args)) => {
            commands::mock_tenant::serve(ServeConfig::from_args(&args, verbose)?, ctrl_c()).await
        }
        Command::Batch(args) => {
            let config = BatchConfig::from_args(&args, chrono::Utc::now(), quiet)?;
            commands::batch::run(config, Arc::new(TokioSleeper), ctrl_c()).await
        }
        Command::Verify(args) => commands::verify::run(&args, quiet),
        Command::Triage(args) => commands::triage::run(&TriageConfig::from_args(&args, quiet)?),
        Command::Demo(args) => {
            let config = DemoConfig::from_args(&args, quiet)?;
            commands::demo::run(&config, Arc::new(TokioSleeper), ctrl_c()).await
        }
    }
}

/// Resolves on the first Ctrl-C (never, if the handler cannot be installed).
async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn init_logging(quiet: bool, verbose: u8) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "o365_activities=debug,warn",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("O365_ACTIVITIES_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .init();
}
