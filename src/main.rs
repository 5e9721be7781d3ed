//! The `haat` binary: parse the command line, load settings, run the command.

use std::process::ExitCode;

use clap::Parser;
use haat::cli::Cli;
use haat::config::Settings;

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    let mut settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("haat: {error}");
            return ExitCode::from(2);
        }
    };
    // The buyer tool talks to a person: the node's info log would bury its answers. Its
    // warnings still show, and HAAT_LOG chooses otherwise.
    if matches!(cli.command, haat::cli::Command::Buyer(_)) && std::env::var_os("HAAT_LOG").is_none()
    {
        settings.telemetry.log_level = "warn".into();
    }
    haat::telemetry::init(&settings.telemetry);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("haat: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(haat::cli::run(cli.command, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("haat: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// glibc gives threads that allocate at once arenas of their own (up to eight per core), and
/// each arena keeps what was freed in it. The node's threads (tokio and actix workers, one per
/// SQLite connection) spread search pages over many arenas: on 100,000 items the node peaked
/// at 189 MB, and at 155 MB with two arenas, at the same speed (BENCHMARKS.md). glibc's own
/// `MALLOC_ARENA_MAX`, when set, is left to decide.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets an allocator parameter; it is called before any thread
        // of this process starts.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}
