//! Prometheus text exposition: the durable state every process reads alike
//! (the event log, the catalog, the queue) and this process's own job
//! counters and histograms.

use crate::{Queue, QueueError};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;
use strata_core::catalog::{CatalogError, HistogramCounts, TierTotal};
use strata_core::store::Store;

/// Buckets (seconds) of job and request durations.
pub const DURATION_BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0];
/// Buckets (seconds) of the lag from an action becoming due to its taking effect.
const LAG_BUCKETS: &[f64] = &[0.1, 1.0, 10.0, 60.0, 300.0, 900.0, 3600.0, 21_600.0, 86_400.0];
/// Buckets (seconds) of lifecycle run durations.
const RUN_BUCKETS: &[f64] = &[0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0, 600.0];

/// One number of a tier total, for a gauge.
type TierValue = fn(&TierTotal) -> i64;

/// Reading the durable state failed.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The catalog could not be read.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The queue could not be read.
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// A histogram with fixed upper bounds; bucket counts are cumulative.
#[derive(Debug, Clone)]
pub struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    /// An empty histogram with these upper bounds (ascending).
    pub fn new(bounds: &'static [f64]) -> Self {
        Self { bounds, buckets: vec![0; bounds.len()], sum: 0.0, count: 0 }
    }

    /// Counts one observation.
    pub fn observe(&mut self, value: f64) {
        for (bound, n) in self.bounds.iter().zip(&mut self.buckets) {
            if value <= *bound {
                *n += 1;
            }
        }
        self.sum += value;
        self.count += 1;
    }

    /// Writes the `_bucket`, `_sum` and `_count` lines; `labels` is empty or
    /// ends with a comma.
    pub fn write(&self, out: &mut String, name: &str, labels: &str) {
        for (bound, n) in self.bounds.iter().zip(&self.buckets) {
            let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {}", self.count);
        let labels = match labels.trim_end_matches(',') {
            "" => String::new(),
            l => format!("{{{l}}}"),
        };
        let _ = writeln!(out, "{name}_sum{labels} {}", self.sum);
        let _ = writeln!(out, "{name}_count{labels} {}", self.count);
    }
}

/// Writes the `# HELP` and `# TYPE` lines of a metric.
pub fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Escapes a label value for the text format.
pub fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Counters and histograms of the jobs this process ran.
#[derive(Debug)]
pub struct JobMetrics {
    inner: Mutex<JobInner>,
}

#[derive(Debug, Default)]
struct JobInner {
    outcomes: BTreeMap<(String, String), u64>,
    durations: BTreeMap<String, Histogram>,
    fetch_failures: u64,
    fetch_retry: Duration,
}

impl Default for JobMetrics {
    fn default() -> Self {
        Self { inner: Mutex::new(JobInner::default()) }
    }
}

impl JobMetrics {
    /// Counts one job of `kind` that ended with `outcome` (`done`, `stale`,
    /// `skipped`, `retried`, `dead_lettered`) after running for `took`.
    pub fn record(&self, kind: &str, outcome: &str, took: Duration) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *inner.outcomes.entry((kind.to_owned(), outcome.to_owned())).or_default() += 1;
        inner
            .durations
            .entry(kind.to_owned())
            .or_insert_with(|| Histogram::new(DURATION_BUCKETS))
            .observe(took.as_secs_f64());
    }

    /// Counts a failed fetch from the queue, after which the worker waits
    /// `retry_in` (0 once a fetch succeeds again).
    pub fn record_fetch(&self, failed: bool, retry_in: Duration) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if failed {
            inner.fetch_failures += 1;
        }
        inner.fetch_retry = retry_in;
    }

    /// Jobs of `kind` counted with `outcome` so far.
    pub fn count(&self, kind: &str, outcome: &str) -> u64 {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.outcomes.get(&(kind.to_owned(), outcome.to_owned())).copied().unwrap_or(0)
    }

    /// Appends this process's job metrics in the text format.
    pub fn write(&self, out: &mut String) {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        header(out, "strata_jobs_total", "counter", "Jobs run by this process, by kind and outcome.");
        for ((kind, outcome), n) in &inner.outcomes {
            let (kind, outcome) = (escape(kind), escape(outcome));
            let _ = writeln!(out, "strata_jobs_total{{kind=\"{kind}\",outcome=\"{outcome}\"}} {n}");
        }
        header(out, "strata_job_duration_seconds", "histogram", "Time a job's handler ran, by kind.");
        for (kind, h) in &inner.durations {
            h.write(out, "strata_job_duration_seconds", &format!("kind=\"{}\",", escape(kind)));
        }
        header(out, "strata_worker_fetch_failures_total", "counter", "Fetches from the queue that failed.");
        let _ = writeln!(out, "strata_worker_fetch_failures_total {}", inner.fetch_failures);
        header(
            out,
            "strata_worker_fetch_retry_seconds",
            "gauge",
            "How long the worker waits before its next fetch after a failed one (0 while fetches succeed).",
        );
        let _ = writeln!(out, "strata_worker_fetch_retry_seconds {}", inner.fetch_retry.as_secs_f64());
    }
}

/// A histogram from the catalog's counts at or under each of `bounds`.
fn histogram(bounds: &'static [f64], (counts, total, sum): HistogramCounts) -> Histogram {
    Histogram {
        bounds,
        buckets: counts.iter().map(|&n| u64::try_from(n).unwrap_or(0)).collect(),
        sum,
        count: u64::try_from(total).unwrap_or(0),
    }
}

/// Appends the metrics derived from durable data (retention deletes and
/// bytes freed per plan, lifecycle run outcomes and durations, the
/// eligibility-to-action lag per kind, artifacts and bytes per
/// tenant and tier, queue depth per lane and state, oldest waiting job), so
/// every process reports the same numbers.
pub async fn write_durable(store: &Store, queue: &dyn Queue, out: &mut String) -> Result<(), MetricsError> {
    let deletions = store.catalog().deletion_totals().await?;
    let reason = |kind: &str| if kind == "erased" { "erasure" } else { "retention" };
    header(out, "retention_deletes_total", "counter", "Artifacts deleted by retention (purge) or erasure, per plan.");
    for (plan, kind, n, _) in &deletions {
        let plan = escape(plan);
        let _ = writeln!(out, "retention_deletes_total{{plan=\"{plan}\",reason=\"{}\"}} {n}", reason(kind));
    }
    header(out, "retention_bytes_freed_total", "counter", "Bytes freed by retention (purge) or erasure, per plan.");
    for (plan, kind, _, bytes) in &deletions {
        let plan = escape(plan);
        let _ = writeln!(out, "retention_bytes_freed_total{{plan=\"{plan}\",reason=\"{}\"}} {bytes}", reason(kind));
    }
    header(
        out,
        "retention_cleanup_runs_total",
        "counter",
        "Lifecycle runs ended (their last job finished), by status: failure when any job was dead-lettered.",
    );
    for (status, n) in store.catalog().run_outcomes().await? {
        let _ = writeln!(out, "retention_cleanup_runs_total{{status=\"{}\"}} {n}", escape(&status));
    }
    header(
        out,
        "retention_cleanup_seconds",
        "histogram",
        "Duration of lifecycle runs, from planning to their last job finishing, whoever carried them out.",
    );
    histogram(RUN_BUCKETS, store.catalog().run_duration_histogram(RUN_BUCKETS).await?).write(
        out,
        "retention_cleanup_seconds",
        "",
    );
    header(
        out,
        "strata_eligibility_lag_seconds",
        "histogram",
        "From the instant an artifact's action became due to the action taking effect, by kind.",
    );
    for (kind, counts) in store.catalog().lag_histograms(LAG_BUCKETS).await? {
        histogram(LAG_BUCKETS, counts).write(
            out,
            "strata_eligibility_lag_seconds",
            &format!("kind=\"{}\",", escape(&kind)),
        );
    }
    let totals = store.catalog().tier_totals().await?;
    let gauges: [(&str, &str, TierValue); 2] = [
        ("strata_tier_artifacts", "Live artifacts per tenant and tier.", |t| t.artifacts),
        ("strata_tier_bytes", "Stored bytes of live artifacts per tenant and tier.", |t| t.stored_bytes),
    ];
    for (name, help, value) in gauges {
        header(out, name, "gauge", help);
        for t in totals.iter().filter(|t| t.state.is_live()) {
            let tenant = escape(&t.tenant);
            let _ =
                writeln!(out, "{name}{{tenant=\"{tenant}\",tier=\"{}\",state=\"{}\"}} {}", t.tier, t.state, value(t));
        }
    }
    let stats = crate::lanes::lane_stats(queue, store.config()).await?;
    header(out, "strata_queue_jobs", "gauge", "Jobs per lane and state.");
    for s in &stats {
        for (state, n) in [("waiting", s.waiting), ("in_flight", s.in_flight), ("delayed", s.delayed), ("dead", s.dead)]
        {
            let _ = writeln!(out, "strata_queue_jobs{{lane=\"{}\",state=\"{state}\"}} {n}", escape(&s.lane));
        }
    }
    header(out, "strata_dead_letters", "gauge", "Dead-lettered jobs per lane.");
    for s in &stats {
        let _ = writeln!(out, "strata_dead_letters{{lane=\"{}\"}} {}", escape(&s.lane), s.dead);
    }
    header(out, "strata_queue_oldest_waiting_seconds", "gauge", "Age of the oldest waiting job per lane.");
    for s in &stats {
        let _ = writeln!(
            out,
            "strata_queue_oldest_waiting_seconds{{lane=\"{}\"}} {}",
            escape(&s.lane),
            s.oldest_waiting_secs.unwrap_or(0.0)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_counted() {
        let m = JobMetrics::default();
        m.record("promote", "done", Duration::from_millis(3));
        m.record("promote", "done", Duration::from_millis(70));
        m.record("purge", "retried", Duration::from_secs(2));
        let mut out = String::new();
        m.write(&mut out);
        assert!(out.contains("strata_jobs_total{kind=\"promote\",outcome=\"done\"} 2"), "{out}");
        assert!(out.contains("strata_jobs_total{kind=\"purge\",outcome=\"retried\"} 1"), "{out}");
        assert!(out.contains("strata_job_duration_seconds_bucket{kind=\"promote\",le=\"0.005\"} 1"), "{out}");
        assert!(out.contains("strata_job_duration_seconds_bucket{kind=\"promote\",le=\"0.1\"} 2"), "{out}");
        assert!(out.contains("strata_job_duration_seconds_bucket{kind=\"promote\",le=\"+Inf\"} 2"), "{out}");
        assert!(out.contains("strata_job_duration_seconds_count{kind=\"promote\"} 2"), "{out}");
        assert_eq!(m.count("promote", "done"), 2);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
