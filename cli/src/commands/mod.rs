//! One module per command group; [`dispatch`] routes a parsed command line.

mod artifacts;
mod demo;
mod events;
mod gc;
mod lifecycle;
mod metrics;
mod ops;
mod retention;
mod serve;
mod tenant;

use crate::app::App;
use crate::args::{Cli, Command, LifecycleCommand, QueueCommand};

/// Runs the parsed command.
pub async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let global = cli.global;
    if let Command::Demo(args) = &cli.command {
        return demo::run(&global, args).await;
    }
    let app = App::open(&global).await?;
    match cli.command {
        Command::Put(args) => artifacts::put(&app, args).await,
        Command::Get(args) => artifacts::get(&app, args).await,
        Command::Ls(args) => artifacts::ls(&app, args).await,
        Command::Rm(args) => artifacts::rm(&app, args).await,
        Command::Tenant(cmd) => tenant::run(&app, cmd).await,
        Command::Lifecycle(LifecycleCommand::Run(args)) => lifecycle::run(&app, args).await,
        Command::Lifecycle(LifecycleCommand::Summary { json }) => lifecycle::summary(&app, json).await,
        Command::Lifecycle(LifecycleCommand::Plan { policy, as_of, json }) => {
            lifecycle::what_if(&app, &global, &policy, as_of.as_deref(), json).await
        }
        Command::Restore(args) => lifecycle::restore(&app, args).await,
        Command::Retention(cmd) => retention::run(&app, cmd).await,
        Command::Explain(args) => retention::explain(&app, args).await,
        Command::Erase(args) => retention::erase(&app, args).await,
        Command::Serve(args) => serve::serve(&app, args).await,
        Command::Run(args) => serve::run(&app, args).await,
        Command::Worker(args) => ops::worker(&app, args).await,
        Command::Scheduler => ops::scheduler(&app).await,
        Command::Queue(QueueCommand::Stats { json }) => ops::queue_stats(&app, json).await,
        Command::Dlq(cmd) => ops::dlq(&app, cmd).await,
        Command::Events(args) => events::run(&app, args).await,
        Command::Metrics => metrics::run(&app).await,
        Command::Gc(args) => gc::run(&app, args).await,
        Command::Migrate => {
            println!("Catalog at {} is up to date.", global.data_dir.join("catalog.db").display());
            Ok(())
        }
        Command::Demo(_) => Ok(()),
    }
}
