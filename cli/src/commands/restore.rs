//! `strata restore`: by key, by name alone, in bulk, or a list of what is
//! restorable.

use super::lifecycle::drain;
use crate::app::{App, UsageError};
use crate::args::RestoreArgs;
use crate::output;
use chrono::Utc;
use std::io::{BufRead, IsTerminal, Write};
use strata_core::artifact::{Artifact, Tier};
use strata_core::id::{ArtifactKey, Scope};
use strata_core::query::{ArtifactQuery, NamePattern};
use strata_jobs::payload::PRIORITY_LANE;
use strata_jobs::planner;
use strata_queue::message::to_new_jobs;

/// Whether `a` can be restored as `args` asks: warm or cold, from the tier asked.
fn restorable(args: &RestoreArgs, a: &Artifact) -> bool {
    a.tier != Tier::Hot && args.from_tier.is_none_or(|t| t == a.tier)
}

/// The live artifacts in `scope` (everything when empty) that `args` may restore.
async fn restorable_in(app: &App, args: &RestoreArgs, scope: Scope) -> anyhow::Result<Vec<Artifact>> {
    let query = ArtifactQuery { tenant: scope.tenant, workflow: scope.workflow, ..ArtifactQuery::default() };
    Ok(app.store.query(&query).await?.into_iter().filter(|a| restorable(args, a)).collect())
}

async fn restore_targets(app: &App, args: &RestoreArgs) -> anyhow::Result<Vec<Artifact>> {
    let target = args.target.as_deref().ok_or_else(|| UsageError("name the artifact to restore (or --list)".into()))?;
    if args.bulk {
        let scope = Scope::parse(target).map_err(|e| UsageError(e.to_string()))?;
        if scope.tenant.is_none() {
            return Err(UsageError("--bulk needs TENANT or TENANT/WORKFLOW".into()).into());
        }
        return restorable_in(app, args, scope).await;
    }
    if target.matches('/').count() == 2 {
        let key = ArtifactKey::parse(target).map_err(|e| UsageError(e.to_string()))?;
        let a = app.store.find(&key).await?;
        return Ok(if restorable(args, &a) { vec![a] } else { Vec::new() });
    }
    if target.contains('/') {
        return Err(UsageError(format!("{target:?} is neither TENANT/WORKFLOW/NAME nor a name alone")).into());
    }
    by_name(app, args, target).await.map(|a| a.into_iter().collect())
}

/// The restorable artifact named `name` in any tenant and workflow: the
/// one there is, or, among several, the one picked at a terminal prompt.
async fn by_name(app: &App, args: &RestoreArgs, name: &str) -> anyhow::Result<Option<Artifact>> {
    // A name cannot hold `*` or `?`, so as a pattern it matches itself only.
    let pattern = NamePattern::parse(name).map_err(|e| UsageError(format!("{name:?} is not a name: {e}")))?;
    let query = ArtifactQuery { name: Some(pattern), ..ArtifactQuery::default() };
    let named = app.store.query(&query).await?;
    if named.is_empty() {
        return Err(UsageError(format!("no live artifact is named {name:?}")).into());
    }
    let mut candidates: Vec<Artifact> = named.into_iter().filter(|a| restorable(args, a)).collect();
    match candidates.len() {
        0 => Ok(None),
        1 => Ok(candidates.pop()),
        n => {
            let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
            eprintln!("{n} restorable artifacts are named {name:?}:");
            eprint!("{}", numbered(&candidates));
            if !interactive {
                return Err(
                    UsageError(format!("{name:?} is ambiguous: restore one of them by TENANT/WORKFLOW/NAME")).into()
                );
            }
            eprint!("Restore which one? [1-{n}, or nothing to cancel] ");
            std::io::stderr().flush()?;
            let mut answer = String::new();
            std::io::stdin().lock().read_line(&mut answer)?;
            match pick(&answer, n)? {
                Some(i) => Ok(Some(candidates.swap_remove(i))),
                None => Err(UsageError("cancelled: nothing restored".into()).into()),
            }
        }
    }
}

/// The candidates as a numbered table.
fn numbered(candidates: &[Artifact]) -> String {
    let mut t = output::table(&["#", "artifact", "tier", "size", "created"]);
    for (i, a) in candidates.iter().enumerate() {
        t.add_row(vec![
            (i + 1).to_string(),
            a.key().to_string(),
            a.tier.to_string(),
            output::bytes(a.size),
            output::time(a.created_at),
        ]);
    }
    format!("{t}\n")
}

/// The index `answer` picks among `n` numbered candidates: `None` for an
/// empty answer (cancel), an error for anything but a number from 1 to `n`.
fn pick(answer: &str, n: usize) -> Result<Option<usize>, UsageError> {
    let answer = answer.trim();
    if answer.is_empty() {
        return Ok(None);
    }
    match answer.parse::<usize>() {
        Ok(i) if (1..=n).contains(&i) => Ok(Some(i - 1)),
        _ => Err(UsageError(format!("{answer:?} is not a number from 1 to {n}: nothing restored"))),
    }
}

/// `--list`: what is restorable, from warm and cold, in the target's scope.
async fn list(app: &App, args: &RestoreArgs) -> anyhow::Result<()> {
    let scope = Scope::parse(args.target.as_deref().unwrap_or_default()).map_err(|e| UsageError(e.to_string()))?;
    let found = restorable_in(app, args, scope).await?;
    if args.json {
        return output::json(&found);
    }
    if found.is_empty() {
        println!("Nothing is restorable: no live artifact is warm or cold.");
        return Ok(());
    }
    let mut t = output::table(&["artifact", "tier", "size", "stored", "created", "expires"]);
    for a in &found {
        t.add_row(vec![
            a.key().to_string(),
            a.tier.to_string(),
            output::bytes(a.size),
            output::bytes(a.stored_size),
            output::time(a.created_at),
            output::time_or(a.expires_at, "never"),
        ]);
    }
    println!("{t}");
    Ok(())
}

pub async fn restore(app: &App, args: RestoreArgs) -> anyhow::Result<()> {
    if args.list {
        return list(app, &args).await;
    }
    let targets = restore_targets(app, &args).await?;
    if targets.is_empty() {
        println!("Nothing to restore: no matching warm or cold artifact.");
        return Ok(());
    }
    if args.dry_run {
        for a in &targets {
            println!("Would restore {} from the {} tier ({}).", a.key(), a.tier, output::bytes(a.size));
        }
        return Ok(());
    }
    let mut jobs = Vec::with_capacity(targets.len());
    for a in &targets {
        jobs.push(planner::plan_restore(&app.store, &a.key(), args.days, Utc::now(), "cli").await?);
    }
    app.queue.enqueue(&to_new_jobs(&jobs, app.store.config())).await?;
    if !args.wait {
        for a in &targets {
            println!("Restore of {} from the {} tier is queued on the {} lane.", a.key(), a.tier, PRIORITY_LANE);
        }
        return Ok(());
    }
    drain(app, vec![PRIORITY_LANE.to_owned()], targets.len() > 1).await?;
    let mut failed = 0;
    for a in &targets {
        // Restored means hot and pinned; anything else is a failed restore.
        match app.store.find(&a.key()).await {
            Ok(now) if now.tier == Tier::Hot && now.pinned_hot_until.is_some() => println!(
                "Restored {} to the {} tier; it stays hot until {}.",
                now.key(),
                now.tier,
                output::time_or(now.pinned_hot_until, "-")
            ),
            Ok(now) => {
                failed += 1;
                eprintln!("Restore of {} failed: it is still in the {} tier.", now.key(), now.tier);
            }
            Err(e) => {
                failed += 1;
                eprintln!("Restore of {} failed: {e}.", a.key());
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} restores failed; see `strata dlq list`", targets.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::pick;

    #[test]
    fn a_pick_is_a_number_in_range_or_nothing() {
        assert_eq!(pick("2\n", 3).unwrap(), Some(1));
        assert_eq!(pick(" 1 ", 1).unwrap(), Some(0));
        assert_eq!(pick("\n", 3).unwrap(), None);
        for bad in ["0", "4", "x", "-1", "1.5"] {
            assert!(pick(bad, 3).is_err(), "{bad}");
        }
    }
}
