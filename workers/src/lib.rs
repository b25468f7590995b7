//! strata's job execution: the Redis backend of the queue contract
//! ([`queue::redis`]), the worker [`pool`] with retries and dead letters,
//! [`backoff`] and the [`scheduler`] loop. The contract itself (the `Queue`
//! trait, the embedded backend, planning into a queue, the metrics) is
//! `strata-queue`'s. Only this crate knows the Redis wire format.

pub mod backoff;
pub mod pool;
pub mod queue;
pub mod scheduler;
