//! `strata serve` (the HTTP API) and `strata run` (the API, the scheduler
//! and workers in one process), each until SIGINT or SIGTERM.

use crate::app::{App, UsageError};
use crate::args::ServeArgs;
use crate::commands::lifecycle::print_report;
use crate::commands::ops::shutdown_signal;
use anyhow::Context as _;
use std::io::Write;
use std::sync::Arc;
use strata_api::state::ApiState;
use strata_jobs::handlers::Context;
use strata_queue::lanes::all_lanes;
use strata_queue::metrics::JobMetrics;
use strata_workers::pool::{Mode, WorkerPool};
use strata_workers::scheduler;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Binds the API's address and says where it is: the first line of
/// standard output, for scripts that pass port 0.
async fn listen(app: &App, args: ServeArgs) -> anyhow::Result<TcpListener> {
    let listen = args.listen.unwrap_or_else(|| app.store.config().api.listen.clone());
    let listener = TcpListener::bind(&listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    if app.store.config().api.admin_token.is_none() {
        eprintln!(
            "No admin token is configured (STRATA_ADMIN_TOKEN or [api] admin_token): nobody can reach operator routes."
        );
    }
    println!("Listening on http://{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    Ok(listener)
}

/// Serves the API on `listener` until `stop` turns true; `/metrics` reports
/// the jobs counted in `jobs`.
async fn serve_until(
    app: &App,
    listener: TcpListener,
    jobs: Arc<JobMetrics>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let address = listener.local_addr()?;
    let shutdown = async move {
        let _ = stop.wait_for(|stop| *stop).await;
    };
    let state = ApiState::new(app.store.clone(), app.queue.clone()).with_job_metrics(jobs);
    strata_api::serve(listener, state, shutdown).await?;
    eprintln!("Stopped serving on http://{address}.");
    Ok(())
}

pub async fn serve(app: &App, args: ServeArgs) -> anyhow::Result<()> {
    app.announce_dry_run();
    let listener = listen(app, args).await?;
    serve_until(app, listener, Arc::default(), shutdown_signal()).await
}

pub async fn run(app: &App, args: ServeArgs) -> anyhow::Result<()> {
    let expr = app.store.config().scheduler.cron.clone();
    let cron = scheduler::parse_cron(&expr).map_err(|e| UsageError(e.to_string()))?;
    let lanes = crate::commands::ops::worker_lanes(app, all_lanes(app.store.config()))?;
    let listener = listen(app, args).await?;
    let stop = shutdown_signal();
    let actor = format!("worker:{}", std::process::id());
    let jobs = Arc::new(JobMetrics::default());
    let pool = WorkerPool::new(app.queue.clone(), Context::new(app.store.clone(), &actor), lanes.clone())
        .with_metrics(jobs.clone());
    eprintln!("Running the API, the scheduler ({expr:?}) and workers on lanes {} (Ctrl-C to stop).", lanes.join(", "));
    let (report, (), ()) = tokio::try_join!(
        async { Ok::<_, anyhow::Error>(pool.run(Mode::UntilShutdown, stop.clone()).await?) },
        async { Ok(scheduler::run(&app.store, app.queue.as_ref(), &cron, stop.clone()).await?) },
        serve_until(app, listener, jobs, stop.clone()),
    )?;
    print_report(&report);
    Ok(())
}
