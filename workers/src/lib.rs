//! strata's job execution: the [`queue::Queue`] trait and its backends, the
//! worker [`pool`] with retries and dead letters, the [`scheduler`] loop and the
//! Prometheus [`metrics`].
//! Only this crate knows the queue's wire format.

pub mod backoff;
pub mod metrics;
pub mod pool;
pub mod queue;
pub mod scheduler;
