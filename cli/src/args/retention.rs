//! The arguments of the retention commands: `restore`, `erase`, `explain`
//! and `retention …`.

use super::{IdParser, tier};
use clap::{Args, Subcommand};
use strata_core::artifact::Tier;
use strata_core::id::{ArtifactKey, TenantId};
use strata_core::retention::Target;

/// `strata restore`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    strata restore acme/nightly/report.json --wait\n  \
    strata restore report.json          # by name alone, when one artifact is named so\n  \
    strata restore --list acme          # what is restorable from warm and cold\n  \
    strata restore acme/nightly --bulk --from-tier cold")]
pub struct RestoreArgs {
    /// TENANT/WORKFLOW/NAME, or a NAME alone (restored when one restorable
    /// artifact has it; several are listed, and on a terminal one is picked);
    /// with --bulk or --list, TENANT or TENANT/WORKFLOW.
    #[arg(required_unless_present = "list")]
    pub target: Option<String>,
    /// List what is restorable (warm and cold) instead of restoring.
    #[arg(long, conflicts_with_all = ["bulk", "dry_run", "wait", "days"])]
    pub list: bool,
    /// With --list, print JSON.
    #[arg(long, requires = "list")]
    pub json: bool,
    /// Restore every warm or cold artifact under TENANT[/WORKFLOW].
    #[arg(long)]
    pub bulk: bool,
    /// Only restore from this tier (warm or cold).
    #[arg(long, value_parser = tier)]
    pub from_tier: Option<Tier>,
    /// Days to keep it hot, 1 to 3650 (default: `tiers.restore_days`).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=i64::from(strata_core::config::MAX_RESTORE_DAYS)))]
    pub days: Option<u32>,
    /// Only print what would be restored.
    #[arg(long)]
    pub dry_run: bool,
    /// Run the restore in this process and wait for it.
    #[arg(long)]
    pub wait: bool,
}

/// `strata erase`.
#[derive(Debug, Args)]
pub struct EraseArgs {
    /// TENANT, TENANT/WORKFLOW or TENANT/WORKFLOW/NAME.
    #[arg(value_parser = hold_target)]
    pub target: Target,
    /// Why (mandatory; recorded in every event).
    #[arg(long)]
    pub reason: String,
    /// Who asks.
    #[arg(long, default_value = "cli")]
    pub actor: String,
    /// Run the erasure in this process and wait for it.
    #[arg(long)]
    pub wait: bool,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `strata explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// TENANT/WORKFLOW/NAME.
    #[arg(value_parser = IdParser(ArtifactKey::parse))]
    pub key: ArtifactKey,
    /// Explain as of this time (default now).
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `strata retention …`.
#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Place a hold on an artifact, a workflow or a whole tenant: nothing it
    /// covers becomes eligible, is purged or deleted until it is released.
    Hold {
        /// TENANT/WORKFLOW/NAME, TENANT/WORKFLOW or TENANT.
        #[arg(value_parser = hold_target)]
        target: Target,
        /// Why (mandatory).
        #[arg(long)]
        reason: String,
        /// Who places it.
        #[arg(long, default_value = "cli")]
        actor: String,
        /// Make it a compliance hold: nobody, an operator included, can
        /// release it before TIME (RFC 3339, a date, or relative: +365d).
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        /// Print the hold as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Move an artifact's expiry later (strictly), with a reason.
    Extend {
        /// TENANT/WORKFLOW/NAME.
        #[arg(value_parser = IdParser(ArtifactKey::parse))]
        key: ArtifactKey,
        /// The new expiry: RFC 3339, a date, or relative (+90d).
        #[arg(long, value_name = "TIME")]
        until: String,
        /// Why (mandatory).
        #[arg(long)]
        reason: String,
        /// Who extends it.
        #[arg(long, default_value = "cli")]
        actor: String,
    },
    /// Mark every expired, unheld, unprotected artifact eligible now (the
    /// eligibility sweep, run here without the queue).
    Sweep {
        /// Sweep as of this time (default now).
        #[arg(long, value_name = "TIME")]
        as_of: Option<String>,
        /// Only list what would become eligible (the default under
        /// LIFECYCLE_DRY_RUN / RETENTION_DRY_RUN).
        #[arg(long, conflicts_with = "live")]
        dry_run: bool,
        /// Mark for real even when LIFECYCLE_DRY_RUN / RETENTION_DRY_RUN makes dry runs the default.
        #[arg(long)]
        live: bool,
    },
    /// Release a hold.
    Release {
        /// The target the hold was placed on.
        #[arg(value_parser = hold_target)]
        target: Target,
        /// The hold's id (from `retention hold` or `retention holds`).
        hold_id: i64,
        /// Why (mandatory).
        #[arg(long)]
        reason: String,
        /// Who releases it.
        #[arg(long, default_value = "cli")]
        actor: String,
    },
    /// List holds.
    Holds {
        /// Only this tenant's.
        #[arg(value_parser = IdParser(TenantId::parse))]
        tenant: Option<TenantId>,
        /// Include released holds.
        #[arg(long)]
        all: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// What the current policy will make eligible for deletion, or purge,
    /// within a window: when, and by which rule (held and kept artifacts
    /// are left out: nothing deletes them).
    Upcoming {
        /// The window, from now (or --as-of): 7d, 12h, 30m.
        #[arg(long, default_value = "7d", value_name = "SPAN")]
        within: String,
        /// Only this tenant's.
        #[arg(long, value_parser = IdParser(TenantId::parse))]
        tenant: Option<TenantId>,
        /// Start the window at this time instead of now.
        #[arg(long, value_name = "TIME")]
        as_of: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// An artifact's retention events, in order (every version of the name).
    History {
        /// TENANT/WORKFLOW/NAME.
        #[arg(value_parser = IdParser(ArtifactKey::parse))]
        key: ArtifactKey,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn hold_target(s: &str) -> Result<Target, String> {
    Target::parse(s).map_err(|e| e.to_string())
}
