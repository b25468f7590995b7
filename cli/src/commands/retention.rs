//! `strata retention hold|release|holds|history`.

use crate::app::App;
use crate::args::RetentionCommand;
use crate::output;
use strata_core::catalog::EventFilter;

/// The event kinds that make up an artifact's retention history.
const RETENTION_EVENTS: &[&str] = &[
    "ingested",
    "overwritten",
    "deleted",
    "hold_applied",
    "hold_released",
    "deletion_eligible",
    "eligibility_revoked",
    "purged",
];

pub async fn run(app: &App, cmd: RetentionCommand) -> anyhow::Result<()> {
    match cmd {
        RetentionCommand::Hold { target, reason, actor, json } => {
            let hold = app.store.place_hold(&target, &reason, &actor).await?;
            if json {
                return output::json(&hold);
            }
            println!("Placed hold {} on {target} ({reason}).", hold.id);
        }
        RetentionCommand::Release { target, hold_id, reason, actor } => {
            app.store.release_hold(&target, hold_id, &reason, &actor).await?;
            println!("Released hold {hold_id} on {target} ({reason}).");
        }
        RetentionCommand::Holds { tenant, all, json } => {
            let holds = app.store.catalog.holds(tenant.as_ref(), all).await?;
            if json {
                return output::json(&holds);
            }
            let mut t = output::table(&["id", "target", "reason", "actor", "placed", "released"]);
            for h in &holds {
                let target = [Some(h.tenant.clone()), h.workflow.clone(), h.artifact.clone()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join("/");
                t.add_row(vec![
                    h.id.to_string(),
                    target,
                    h.reason.clone(),
                    h.actor.clone(),
                    output::time(h.applied_at),
                    output::time_or(h.released_at, "-"),
                ]);
            }
            println!("{t}");
        }
        RetentionCommand::History { key, json } => {
            let events =
                app.store.catalog.events(&EventFilter { key: Some(key.clone()), ..EventFilter::default() }).await?;
            let history: Vec<_> =
                events.into_iter().filter(|e| RETENTION_EVENTS.contains(&e.event_type.as_str())).collect();
            if json {
                return output::json(&history);
            }
            let mut t = output::table(&["seq", "time", "event", "actor", "reason", "details"]);
            for e in &history {
                t.add_row(vec![
                    e.seq.to_string(),
                    output::time(e.timestamp),
                    e.event_type.clone(),
                    e.actor.clone(),
                    e.reason.clone().unwrap_or_default(),
                    e.data.to_string(),
                ]);
            }
            println!("{t}");
        }
    }
    Ok(())
}
