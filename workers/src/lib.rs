//! strata's job execution: the [`queue::Queue`] trait and its backends, the
//! worker [`pool`] with retries and dead letters, and the [`scheduler`] loop.
//! Only this crate knows the queue's wire format.

pub mod backoff;
pub mod pool;
pub mod queue;
pub mod scheduler;
