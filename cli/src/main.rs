//! The `strata` command: parses arguments, loads configuration, and calls
//! into the library crates. It is the composition root of the workspace.

mod app;
mod args;
mod commands;
mod output;

use clap::Parser;
use std::io::IsTerminal;
use std::process::ExitCode;
use strata_core::config::env;

/// Whether log lines may carry colours: only on a terminal, and never when
/// `NO_COLOR` is set to anything but the empty string.
fn colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env(env::LOG)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour());
    // `STRATA_LOG_FORMAT=json`: one JSON object per line, for log shippers.
    if std::env::var(env::LOG_FORMAT).is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        logs.json().init();
    } else {
        logs.init();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(commands::dispatch(cli));
    // Let background clean-ups (e.g. removing the partial file of a failed
    // upload) finish before the process exits.
    runtime.shutdown_timeout(std::time::Duration::from_secs(10));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(app::exit_code(&e))
        }
    }
}
