//! A planned job as a queue message: its lane, its kind's stable name and
//! its JSON payload.

use crate::NewJob;
use strata_core::config::Config;
use strata_jobs::payload::Job;
use strata_jobs::planner;

/// The queue form of planned jobs, each on its lane (`queue.tenant_lanes`).
pub fn to_new_jobs(jobs: &[Job], config: &Config) -> Vec<NewJob> {
    planner::queued(jobs, config)
}
