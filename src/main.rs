//! The `haat` binary: parse the command line, load settings, run the command.

use std::process::ExitCode;

use clap::Parser;
use haat::cli::Cli;
use haat::config::Settings;

/// jemalloc instead of glibc's allocator: the order path allocates and frees many small JSON
/// values across the worker threads, where glibc spent a quarter of the node's CPU
/// (consolidating and unlinking chunks). Node CPU per checkout fell by about a sixth
/// (BENCHMARKS.md, "jemalloc"). Its options are compiled in (`.cargo/config.toml`).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
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
