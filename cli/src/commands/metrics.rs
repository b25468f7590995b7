//! `strata metrics`: Prometheus text exposition of the catalog's and the
//! queue's state, derived from durable data (the event log, the catalog, the
//! queue), so every process reports the same numbers. Suitable for a
//! textfile collector.

use crate::app::App;
use std::fmt::Write;

pub async fn run(app: &App) -> anyhow::Result<()> {
    let mut out = String::new();
    let deletions = app.store.catalog.deletion_totals().await?;
    writeln!(out, "# HELP retention_deletes_total Artifacts deleted by retention (purge) or erasure, per plan.")?;
    writeln!(out, "# TYPE retention_deletes_total counter")?;
    for (plan, kind, n, _) in &deletions {
        let reason = if kind == "erased" { "erasure" } else { "retention" };
        writeln!(out, "retention_deletes_total{{plan=\"{plan}\",reason=\"{reason}\"}} {n}")?;
    }
    writeln!(out, "# HELP retention_bytes_freed_total Bytes freed by retention (purge) or erasure, per plan.")?;
    writeln!(out, "# TYPE retention_bytes_freed_total counter")?;
    for (plan, kind, _, bytes) in &deletions {
        let reason = if kind == "erased" { "erasure" } else { "retention" };
        writeln!(out, "retention_bytes_freed_total{{plan=\"{plan}\",reason=\"{reason}\"}} {bytes}")?;
    }
    let bounds = [0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0, 600.0];
    let (counts, total, sum) = app.store.catalog.run_duration_histogram(&bounds).await?;
    writeln!(
        out,
        "# HELP retention_cleanup_seconds Duration of lifecycle runs planned and carried out in one process."
    )?;
    writeln!(out, "# TYPE retention_cleanup_seconds histogram")?;
    for (bound, count) in bounds.iter().zip(&counts) {
        writeln!(out, "retention_cleanup_seconds_bucket{{le=\"{bound}\"}} {count}")?;
    }
    writeln!(out, "retention_cleanup_seconds_bucket{{le=\"+Inf\"}} {total}")?;
    writeln!(out, "retention_cleanup_seconds_sum {sum}")?;
    writeln!(out, "retention_cleanup_seconds_count {total}")?;
    writeln!(out, "# HELP strata_tier_artifacts Live artifacts per tenant and tier.")?;
    writeln!(out, "# TYPE strata_tier_artifacts gauge")?;
    let totals = app.store.catalog.tier_totals().await?;
    for t in totals.iter().filter(|t| t.state.is_live()) {
        writeln!(
            out,
            "strata_tier_artifacts{{tenant=\"{}\",tier=\"{}\",state=\"{}\"}} {}",
            t.tenant, t.tier, t.state, t.artifacts
        )?;
    }
    writeln!(out, "# HELP strata_tier_bytes Stored bytes of live artifacts per tenant and tier.")?;
    writeln!(out, "# TYPE strata_tier_bytes gauge")?;
    for t in totals.iter().filter(|t| t.state.is_live()) {
        writeln!(
            out,
            "strata_tier_bytes{{tenant=\"{}\",tier=\"{}\",state=\"{}\"}} {}",
            t.tenant, t.tier, t.state, t.stored_bytes
        )?;
    }
    writeln!(out, "# HELP strata_queue_jobs Jobs per lane and state.")?;
    writeln!(out, "# TYPE strata_queue_jobs gauge")?;
    let stats = app.queue.stats().await?;
    for s in &stats {
        for (state, n) in [("waiting", s.waiting), ("in_flight", s.in_flight), ("delayed", s.delayed), ("dead", s.dead)]
        {
            writeln!(out, "strata_queue_jobs{{lane=\"{}\",state=\"{state}\"}} {n}", s.lane)?;
        }
    }
    writeln!(out, "# HELP strata_queue_oldest_waiting_seconds Age of the oldest waiting job per lane.")?;
    writeln!(out, "# TYPE strata_queue_oldest_waiting_seconds gauge")?;
    for s in &stats {
        writeln!(
            out,
            "strata_queue_oldest_waiting_seconds{{lane=\"{}\"}} {}",
            s.lane,
            s.oldest_waiting_secs.unwrap_or(0.0)
        )?;
    }
    print!("{out}");
    Ok(())
}
