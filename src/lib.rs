//! strata core: everything about artifacts that knows nothing of queues or HTTP.
//!
//! - [`id`]: identifiers that can only be built by parsing.
//! - [`artifact`], [`event`]: the data model.
//! - [`config`]: defaults, TOML and environment.
//! - [`clock`]: injectable time and `--as-of` parsing.
//! - [`tiers`]: the hot/warm/cold object stores (the only module naming `object_store`).
//! - [`catalog`]: SQLite or PostgreSQL through sqlx's `Any` driver (the only module naming sqlx).
//! - [`lifecycle`]: the pure decision function shared by planner, handlers and dry run.
//! - [`query`]: artifact queries (filters, order, page) shared by `strata ls` and the API.
//! - [`store`]: put/get/list/remove over catalog and tiers.
//! - [`error_kind`]: what a failure means, for the CLI, the API and the job retries alike.
//! - [`claims`]: the planner's, a restore's and an erasure's claims on artifacts.
//! - [`committer`]: group commit of the lifecycle's catalog changes.
//! - [`gc`]: collection of crash leftovers and unreferenced blobs, and reconciliation.
//! - [`retention`]: holds on artifacts, workflows and tenants.
//! - [`tokens`]: tenant API tokens, stored hashed.
//! - [`upcoming`]: notice before deletion, what the policy deletes next.

pub mod artifact;
pub mod catalog;
pub mod claims;
pub mod clock;
pub mod committer;
pub mod config;
pub mod digest;
pub mod error_kind;
pub mod event;
pub mod gc;
pub mod id;
pub mod insights;
pub mod lifecycle;
pub mod query;
pub mod retention;
pub mod store;
mod store_error;
pub mod tiers;
pub mod tokens;
pub mod upcoming;
pub mod webhook;
