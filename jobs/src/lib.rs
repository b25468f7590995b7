//! strata's lifecycle jobs: what a job carries ([`payload`]), how the planner
//! decides what is due ([`planner`]), and one handler per job kind
//! ([`handlers`]), webhook notices among them ([`notify`]). Nothing here
//! knows how jobs are queued.

pub mod handlers;
pub mod notify;
pub mod payload;
pub mod planner;

pub use handlers::{Context, JobError, Outcome};
pub use payload::{Job, JobKind};
pub use planner::{Plan, PlannedItem};
