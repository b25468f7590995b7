//! One module per command group; [`dispatch`] routes a parsed command line.

mod artifacts;
mod demo;
mod doctor;
mod events;
mod gc;
mod insights;
mod lifecycle;
mod metrics;
mod ops;
mod restore;
mod retention;
mod serve;
mod tenant;
mod webhook;

use crate::app::{App, Opening};
use crate::args::{
    BaselineCommand, Cli, Command, DlqCommand, LifecycleCommand, QueueCommand, RetentionCommand, TenantCommand,
    TokenCommand, WebhookCommand,
};

/// How a command opens the data directory: commands that only read never
/// create it; `--live` lifts the dry-run switch; the processes that move
/// blobs first check that no tier directory has moved away from its blobs.
fn opening(command: &Command) -> Opening {
    let read_only = matches!(
        command,
        Command::Get(_)
            | Command::Ls(_)
            | Command::Explain(_)
            | Command::Queue(_)
            | Command::Metrics
            | Command::Events(_)
            | Command::Dlq(DlqCommand::List { .. })
            | Command::Tenant(TenantCommand::Ls { .. } | TenantCommand::Token(TokenCommand::Ls { .. }))
            | Command::Webhook(WebhookCommand::Ls { .. } | WebhookCommand::Deliveries { .. })
            | Command::Baseline(BaselineCommand::Ls { .. })
            | Command::Compare(_)
            | Command::Trend(_)
            | Command::Retention(
                RetentionCommand::Holds { .. } | RetentionCommand::History { .. } | RetentionCommand::Upcoming { .. }
            )
            | Command::Lifecycle(LifecycleCommand::Summary { .. } | LifecycleCommand::Plan { .. })
    );
    let live = match command {
        Command::Lifecycle(LifecycleCommand::Run(args)) => args.live,
        Command::Retention(RetentionCommand::Sweep { live, .. }) => *live,
        Command::Serve(args) | Command::Run(args) => args.live,
        Command::Worker(args) => args.live,
        Command::Scheduler(args) => args.live,
        Command::Gc(args) => args.live,
        _ => false,
    };
    let check_tiers = matches!(
        command,
        Command::Lifecycle(LifecycleCommand::Run(_))
            | Command::Serve(_)
            | Command::Run(_)
            | Command::Worker(_)
            | Command::Scheduler(_)
            | Command::Gc(_)
    );
    Opening { read_only, live, check_tiers }
}

/// Runs the parsed command.
pub async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let global = cli.global;
    if let Command::Demo(args) = &cli.command {
        return demo::run(&global, args).await;
    }
    if let Command::Doctor(args) = &cli.command {
        return doctor::run(&global, args).await;
    }
    let app = App::open(&global, opening(&cli.command)).await?;
    match cli.command {
        Command::Put(args) => artifacts::put(&app, args).await,
        Command::Get(args) => artifacts::get(&app, args).await,
        Command::Ls(args) => artifacts::ls(&app, args).await,
        Command::Rm(args) => artifacts::rm(&app, args).await,
        Command::Tenant(cmd) => tenant::run(&app, cmd).await,
        Command::Webhook(cmd) => webhook::run(&app, cmd).await,
        Command::Baseline(cmd) => insights::baseline(&app, cmd).await,
        Command::Compare(args) => insights::compare(&app, args).await,
        Command::Trend(args) => insights::trend(&app, args).await,
        Command::Lifecycle(LifecycleCommand::Run(args)) => lifecycle::run(&app, args).await,
        Command::Lifecycle(LifecycleCommand::Summary { json }) => lifecycle::summary(&app, json).await,
        Command::Lifecycle(LifecycleCommand::Plan { policy, as_of, json }) => {
            lifecycle::what_if(&app, &global, &policy, as_of.as_deref(), json).await
        }
        Command::Restore(args) => restore::restore(&app, args).await,
        Command::Retention(cmd) => retention::run(&app, cmd).await,
        Command::Explain(args) => retention::explain(&app, args).await,
        Command::Erase(args) => retention::erase(&app, args).await,
        Command::Serve(args) => serve::serve(&app, args).await,
        Command::Run(args) => serve::run(&app, args).await,
        Command::Worker(args) => ops::worker(&app, args).await,
        Command::Scheduler(_) => ops::scheduler(&app).await,
        Command::Queue(QueueCommand::Stats { json }) => ops::queue_stats(&app, json).await,
        Command::Dlq(cmd) => ops::dlq(&app, cmd).await,
        Command::Events(args) => events::run(&app, args).await,
        Command::Metrics => metrics::run(&app).await,
        Command::Gc(args) => gc::run(&app, args).await,
        Command::Migrate => {
            println!("Catalog at {} is up to date.", app.store.catalog().location());
            Ok(())
        }
        Command::Demo(_) | Command::Doctor(_) => Ok(()),
    }
}
