//! `strata retention hold|extend|sweep|release|holds|history|upcoming`.

use crate::app::{App, UsageError};
use crate::args::{EraseArgs, ExplainArgs, RetentionCommand};
use crate::commands::lifecycle::drain;
use crate::output;
use chrono::Utc;
use strata_core::catalog::{EventFilter, Hold, HoldTerms, Principal};
use strata_core::clock::parse_instant;
use strata_core::event::RETENTION_HISTORY;
use strata_core::upcoming::{Deletion, window_end};
use strata_jobs::handlers::{self, Context, Outcome};
use strata_jobs::payload::JobKind;
use strata_jobs::payload::PRIORITY_LANE;
use strata_jobs::planner;
use strata_queue::message::to_new_jobs;
use strata_queue::plan::{self, PLAN_LIMIT};

pub async fn run(app: &App, cmd: RetentionCommand) -> anyhow::Result<()> {
    match cmd {
        RetentionCommand::Hold { target, reason, actor, until, json } => {
            let until = until
                .map(|t| parse_instant(&t, Utc::now()).map_err(|e| UsageError(format!("--until: {e}"))))
                .transpose()?;
            let terms = HoldTerms { reason, owner: Principal::Operator, until };
            let hold = app.store.place_hold_on(&target, &terms, &actor).await?;
            if json {
                return output::json(&hold);
            }
            let reason = output::text(&terms.reason);
            match hold.until {
                Some(until) => println!(
                    "Placed compliance hold {} on {target} ({reason}): nobody can release it before {}.",
                    hold.id,
                    output::time(until)
                ),
                None => println!("Placed hold {} on {target} ({reason}).", hold.id),
            }
        }
        RetentionCommand::Extend { key, until, reason, actor } => {
            let until = parse_instant(&until, Utc::now()).map_err(|e| UsageError(format!("--until: {e}")))?;
            let a = app.store.extend(&key, until, &reason, &actor).await?;
            println!(
                "Extended {key}: it now expires {} ({}).",
                output::time_or(a.expires_at, "never"),
                output::text(&reason)
            );
        }
        RetentionCommand::Sweep { as_of, dry_run, live: _ } => {
            let as_of = crate::commands::lifecycle::as_of(as_of.as_deref())?;
            let started = std::time::Instant::now();
            let kinds = [JobKind::Eligibility];
            let dry_run = app.announce_dry_run() || dry_run;
            let plan = if dry_run {
                plan::dry_run(&app.store, as_of, "sweep", Some(&kinds)).await?
            } else {
                planner::plan_kinds(&app.store, as_of, false, PLAN_LIMIT, "sweep", Some(&kinds)).await?
            };
            let ctx = Context::new(app.store.clone(), "sweep");
            let mut marked = 0;
            for job in &plan.jobs {
                if handlers::run(&ctx, job).await? == Outcome::Done {
                    marked += 1;
                }
            }
            if let Some(id) = plan.run_id {
                app.store.catalog().finish_run(id, started.elapsed()).await?;
            }
            for item in plan.items.iter().filter(|_| dry_run) {
                println!("Would mark {} eligible ({}).", item.key, item.rule);
            }
            let verb = if dry_run { "would become" } else { "became" };
            let n = if dry_run { plan.items.len() } else { marked };
            println!("{n} artifacts {verb} eligible as of {}.", output::time(as_of));
        }
        RetentionCommand::Release { target, hold_id, reason, actor } => {
            app.store.release_hold(&target, hold_id, &reason, &actor, &Principal::Operator).await?;
            println!("Released hold {hold_id} on {target} ({}).", output::text(&reason));
        }
        RetentionCommand::Holds { tenant, all, json } => {
            let holds = app.store.catalog().holds(tenant.as_ref(), all).await?;
            if json {
                return output::json(&holds);
            }
            let mut t = output::table(&["id", "target", "reason", "actor", "owner", "until", "placed", "released"]);
            for h in &holds {
                let target = [Some(h.tenant.clone()), h.workflow.clone(), h.artifact.clone()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join("/");
                t.add_row(vec![
                    h.id.to_string(),
                    target,
                    output::text(&h.reason),
                    output::text(&h.actor),
                    owner(h),
                    output::time_or(h.until, "-"),
                    output::time(h.applied_at),
                    output::time_or(h.released_at, "-"),
                ]);
            }
            println!("{t}");
        }
        RetentionCommand::Upcoming { within, tenant, as_of, json } => {
            let now = crate::commands::lifecycle::as_of(as_of.as_deref())?;
            let until = window_end(&within, now).map_err(|e| UsageError(format!("--within: {e}")))?;
            if let Some(t) = &tenant {
                app.store.tenant(t).await?;
            }
            let steps = app.store.upcoming(tenant.as_ref(), now, until).await?;
            if json {
                return output::json(&steps);
            }
            let mut t = output::table(&["when", "artifact", "event", "rule", "tier", "size"]);
            for s in &steps {
                let when = if s.at < now { format!("{} (overdue)", output::time(s.at)) } else { output::time(s.at) };
                let rule = if s.follows { format!("{} after eligibility", s.rule) } else { s.rule.to_string() };
                t.add_row(vec![
                    when,
                    output::text(&s.key),
                    s.event.as_str().to_owned(),
                    rule,
                    s.tier.to_string(),
                    s.size.to_string(),
                ]);
            }
            if !steps.is_empty() {
                println!("{t}");
            }
            let eligible = steps.iter().filter(|s| s.event == Deletion::DeletionEligible).count();
            let purged = steps.len() - eligible;
            println!(
                "Between {} and {}: {eligible} artifacts become eligible for deletion, {purged} are purged.",
                output::time(now),
                output::time(until)
            );
        }
        RetentionCommand::History { key, json } => {
            let events =
                app.store.catalog().events(&EventFilter { key: Some(key.clone()), ..EventFilter::default() }).await?;
            let history: Vec<_> =
                events.into_iter().filter(|e| RETENTION_HISTORY.contains(&e.event_type.as_str())).collect();
            if json {
                return output::json(&history);
            }
            let mut t = output::table(&["seq", "time", "event", "actor", "reason", "details"]);
            for e in &history {
                t.add_row(vec![
                    e.seq.to_string(),
                    output::time(e.timestamp),
                    e.event_type.clone(),
                    output::text(&e.actor),
                    output::text(e.reason.as_deref().unwrap_or_default()),
                    output::text(&e.data.to_string()),
                ]);
            }
            println!("{t}");
        }
    }
    Ok(())
}

/// Who placed a hold, as the tables show it.
fn owner(h: &Hold) -> String {
    h.owner.tenant().map_or_else(|| "operator".to_owned(), |t| format!("tenant {t}"))
}

pub async fn explain(app: &App, args: ExplainArgs) -> anyhow::Result<()> {
    let as_of = crate::commands::lifecycle::as_of(args.as_of.as_deref())?;
    let e = app.store.explain(&args.key, as_of).await?;
    if args.json {
        return output::json(&e);
    }
    let a = &e.artifact;
    println!("{}", a.key());
    println!(
        "  tier:      {} ({}, {} stored of {})",
        a.tier,
        a.codec,
        output::bytes(a.stored_size),
        output::bytes(a.size)
    );
    println!("  state:     {}", a.state);
    if let Some(at) = a.dead_lettered_at {
        println!(
            "  dead-lettered: since {} (strata dlq list); `dlq retry` or `dlq discard` releases it",
            output::time(at)
        );
    }
    println!("  created:   {}", output::time(a.created_at));
    println!("  expires:   {} — {}", output::time_or(a.expires_at, "never"), e.expiry_rule);
    if e.holds.is_empty() {
        println!("  holds:     none");
    }
    if let Some(n) = e.kept_as_one_of_newest {
        println!("  kept:      one of the {n} newest of its workflow (retention.keep_latest): never eligible");
    }
    for h in &e.holds {
        let scope = match (&h.workflow, &h.artifact) {
            (_, Some(_)) => "this artifact".to_owned(),
            (Some(w), None) => format!("workflow {w}"),
            (None, None) => format!("tenant {}", h.tenant),
        };
        let lock = h.until.map(|u| format!(", compliance until {}", output::time(u))).unwrap_or_default();
        println!(
            "  hold {}:    on {scope} since {} by {} ({}{lock}): {}",
            h.id,
            output::time(h.applied_at),
            output::text(&h.actor),
            owner(h),
            output::text(&h.reason)
        );
    }
    match &e.due {
        Some(due) => {
            println!("  due now:   {} (by {}) as of {}", due.action.job_kind(), due.rule, output::time(e.as_of))
        }
        None => println!("  due now:   nothing as of {}", output::time(e.as_of)),
    }
    match e.schedule.iter().find(|s| s.at > e.as_of) {
        Some(next) => {
            println!("  next:      {} at {} (by {})", next.action.job_kind(), output::time(next.at), next.rule)
        }
        None if e.due.is_none() => println!("  next:      nothing scheduled"),
        None => {}
    }
    Ok(())
}

pub async fn erase(app: &App, args: EraseArgs) -> anyhow::Result<()> {
    let erasure = planner::plan_erase(&app.store, &args.target, &args.reason, &args.actor).await?;
    app.queue.enqueue(&to_new_jobs(&erasure.jobs, app.store.config())).await?;
    let report = if args.wait && !erasure.jobs.is_empty() {
        Some(drain(app, vec![PRIORITY_LANE.to_owned()], !args.json).await?)
    } else {
        None
    };
    let blocked: Vec<String> = erasure.blocked.iter().map(ToString::to_string).collect();
    // What outranks the erasure, per blocked artifact: a hold, a permanent
    // record's class, or both.
    let mut why = Vec::with_capacity(erasure.blocked.len());
    for key in &erasure.blocked {
        let a = app.store.find(key).await?;
        let mut reasons = Vec::new();
        if a.held {
            reasons.push("a hold".to_owned());
        }
        if app.store.config().is_permanent_record(a.class.as_deref()) {
            reasons.push(format!("a permanent record (class {})", a.class.as_deref().unwrap_or("-")));
        }
        why.push(if reasons.is_empty() {
            "a protection that has since ended".to_owned()
        } else {
            reasons.join(" and ")
        });
    }
    if args.json {
        let blocked_by: serde_json::Map<String, serde_json::Value> =
            blocked.iter().cloned().zip(why.iter().cloned().map(serde_json::Value::String)).collect();
        return output::json(&serde_json::json!({
            "target": args.target.to_string(),
            "artifacts": erasure.jobs.len(),
            "blocked": blocked,
            "blocked_by": blocked_by,
            "erased": report.as_ref().map(|r| r.count("erase", Outcome::Done)),
        }));
    }
    match &report {
        Some(r) => println!("Erased {} artifacts under {}.", r.count("erase", Outcome::Done), args.target),
        None => println!(
            "Erasure of {} artifacts under {} is queued on the {PRIORITY_LANE} lane.",
            erasure.jobs.len(),
            args.target
        ),
    }
    for (key, why) in blocked.iter().zip(&why) {
        println!("Blocked by {why}: {key}");
    }
    Ok(())
}
