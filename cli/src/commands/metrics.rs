//! `strata metrics`: Prometheus text exposition of the catalog's and the
//! queue's state, derived from durable data (the event log, the catalog, the
//! queue), so every process reports the same numbers. Suitable for a
//! textfile collector.

use crate::app::App;

pub async fn run(app: &App) -> anyhow::Result<()> {
    let mut out = String::new();
    strata_queue::metrics::write_durable(&app.store, app.queue.as_ref(), &mut out).await?;
    print!("{out}");
    Ok(())
}
