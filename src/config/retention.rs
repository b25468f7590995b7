//! Retention plans and classes.

use super::{ClassRule, Days, NeverWord, PlanWord};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Retention: plans, classes and the grace period before purge.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Retention for a tenant whose plan has no entry.
    pub default_days: Days,
    /// Days between eligibility and purge.
    pub grace_days: u32,
    /// Retention days per plan (`RETENTION_DAYS_FREE`, `_BASIC`, `_PRO`, `_ENTERPRISE`).
    pub plans: BTreeMap<String, Days>,
    /// Retention classes by name.
    pub classes: BTreeMap<String, ClassRule>,
    /// The newest N live artifacts of every workflow are never eligible; 0 = off.
    pub keep_latest: u32,
    /// `keep_latest` per plan, overriding the default.
    pub keep_latest_by_plan: BTreeMap<String, u32>,
    /// `keep_latest` per tenant, overriding its plan's.
    pub keep_latest_by_tenant: BTreeMap<String, u32>,
    /// Whether tenants' tokens may place holds (`RETENTION_TENANT_HOLDS`).
    pub tenant_holds: bool,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        let plans = [
            ("free", Days::Days(30)),
            ("basic", Days::Days(90)),
            ("pro", Days::Days(365)),
            ("enterprise", Days::Never(NeverWord::Unlimited)),
        ];
        let classes = [
            ("ephemeral", ClassRule::Fixed(Days::Days(7))),
            ("standard", ClassRule::Plan(PlanWord::Plan)),
            ("release-evidence", ClassRule::Fixed(Days::Days(730))),
            ("permanent-record", ClassRule::Fixed(Days::Never(NeverWord::Never))),
        ];
        Self {
            default_days: Days::Days(365),
            grace_days: 7,
            plans: plans.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            classes: classes.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            keep_latest: 0,
            keep_latest_by_plan: BTreeMap::new(),
            keep_latest_by_tenant: BTreeMap::new(),
            tenant_holds: true,
        }
    }
}
