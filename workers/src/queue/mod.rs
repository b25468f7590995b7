//! The queue backends this crate adds to the contract of `strata-queue`:
//! Redis Streams, for scale-out.

pub mod redis;

#[cfg(test)]
mod pool_suite;
