//! The thin binary: parse, set up logging, run, map the error to an exit code.

use std::future::Future;
use std::process::ExitCode;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use o365_activities::cli::{Cli, Command, MockTenantCommand};
use o365_activities::commands;
use o365_activities::config::{
    BatchConfig, DemoConfig, GenerateConfig, PullConfig, ServeConfig, TriageConfig,
};
use o365_activities::error::{exit_code, AppError};
use o365_activities::http::{Clock, TokioSleeper};

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
    let cli = match o365_activities::cli::parse_from(std::env::args_os()) {
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
    init_logging(
        cli.quiet,
        cli.verbose,
        cli.color
            .enabled(std::io::IsTerminal::is_terminal(&std::io::stderr())),
    );
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
    let signal = Arc::new(AtomicI32::new(0));
    match runtime.block_on(run(cli, interrupt(Arc::clone(&signal)))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("o365-activities: error: {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            // Stopped by a signal: 128 + its number, as a shell reports a process it ended.
            let code = match (err.exit_code(), signal.load(Ordering::Relaxed)) {
                (exit_code::INTERRUPTED, signal) if signal > 0 => 128 + signal,
                (code, _) => code,
            };
            ExitCode::from(code as u8)
        }
    }
}

async fn run(cli: Cli, interrupt: impl Future<Output = ()> + Send) -> Result<(), AppError> {
    let quiet = cli.quiet;
    let verbose = cli.verbose;
    match cli.command {
        Command::Pull(args) => {
            // One clock for the run: the `--end` clamp reads the one the pull waits on.
            let time = Arc::new(TokioSleeper);
            let config = PullConfig::from_args(&args, time.now(), quiet)?;
            if !quiet {
                for note in &config.notes {
                    eprintln!("note: {note}");
                }
            }
            let summary = commands::pull::run(&config, time, interrupt).await?;
            if !quiet && !config.dry_run {
                summary.print();
            }
            Ok(())
        }
        Command::MockTenant(MockTenantCommand::Generate(args)) => {
            commands::mock_tenant::generate(&GenerateConfig::from_args(&args, quiet)?)
        }
        Command::MockTenant(MockTenantCommand::Serve(args)) => {
            commands::mock_tenant::serve(ServeConfig::from_args(&args, verbose)?, interrupt).await
        }
        Command::Batch(args) => {
            let time = Arc::new(TokioSleeper);
            let config = BatchConfig::from_args(&args, time.now(), quiet)?;
            commands::batch::run(config, time, interrupt).await
        }
        Command::Verify(args) => commands::verify::run(&args, quiet),
        Command::Triage(args) => {
            commands::triage::run(&TriageConfig::from_args(&args, quiet, cli.color)?)
        }
        Command::Completions { shell } => {
            let mut command = o365_activities::cli::command();
            clap_complete::generate(
                shell,
                &mut command,
                "o365-activities",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Man => {
            let mut page = Vec::new();
            clap_mangen::Man::new(o365_activities::cli::command())
                .render(&mut page)
                .map_err(|e| AppError::Other(format!("cannot render the man page: {e}")))?;
            o365_activities::output::write_stdout(&String::from_utf8_lossy(&page))?;
            Ok(())
        }
        Command::Demo(args) => {
            let time = Arc::new(TokioSleeper);
            let config = DemoConfig::from_args(&args, time.now(), quiet, cli.color)?;
            commands::demo::run(&config, time, interrupt).await
        }
    }
}

/// Resolves on the first SIGINT (Ctrl-C), SIGTERM (what `timeout`, systemd and container
/// runtimes send) or SIGHUP (a closed terminal), recording its number in `received`: each stops
/// the run the same way, keeping what was fetched. Never resolves if no handler can be
/// installed.
async fn interrupt(received: Arc<AtomicI32>) {
    // The signals' numbers, the same on every Unix.
    const SIGHUP: i32 = 1;
    const SIGINT: i32 = 2;
    const SIGTERM: i32 = 15;
    #[cfg(unix)]
    let number = {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut interrupt), Ok(mut terminate), Ok(mut hangup)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = interrupt.recv() => SIGINT,
            _ = terminate.recv() => SIGTERM,
            _ = hangup.recv() => SIGHUP,
        }
    };
    #[cfg(not(unix))]
    let number = {
        let _ = (SIGHUP, SIGTERM);
        if tokio::signal::ctrl_c().await.is_err() {
            return std::future::pending().await;
        }
        SIGINT
    };
    received.store(number, Ordering::Relaxed);
}

fn init_logging(quiet: bool, verbose: u8, ansi: bool) {
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
        .with_ansi(ansi)
        .with_target(false)
        .without_time()
        .init();
}
