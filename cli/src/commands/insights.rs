//! `strata baseline set|ls|rm`, `strata compare`, `strata trend`.

use crate::app::{App, UsageError};
use crate::args::{BaselineCommand, CompareArgs, SetArgs, TrendArgs};
use crate::output;
use strata_core::clock::parse_instant;
use strata_core::insights::{Against, ArtifactSet, Change, TrendBy};

/// The set the arguments select; a tenant is required.
fn set_of(args: SetArgs) -> anyhow::Result<ArtifactSet> {
    let tenant = args.scope.tenant.ok_or_else(|| UsageError("a set needs TENANT or TENANT/WORKFLOW".into()))?;
    Ok(ArtifactSet {
        tenant,
        workflow: args.scope.workflow,
        tags: args.tags.into_iter().map(|kv| (kv.0, kv.1)).collect(),
        name: args.name,
    })
}

fn signed_bytes(n: i64) -> String {
    let sign = if n < 0 { "-" } else { "+" };
    format!("{sign}{}", output::bytes(n.unsigned_abs()))
}

pub async fn baseline(app: &App, cmd: BaselineCommand) -> anyhow::Result<()> {
    match cmd {
        BaselineCommand::Set { baseline, set, replace } => {
            let set = set_of(set)?;
            let b = app.store.mark_baseline(&set, &baseline, replace, "cli").await?;
            println!(
                "Marked baseline {} of tenant {}: {} artifacts, {} ({}).",
                b.name,
                b.tenant,
                b.artifacts,
                output::bytes(b.bytes),
                b.selection
            );
        }
        BaselineCommand::Ls { tenant, json } => {
            let list = app.store.catalog().baselines(tenant.as_ref()).await?;
            if json {
                return output::json(&list);
            }
            let mut t = output::table(&["tenant", "baseline", "set", "artifacts", "bytes", "marked", "by"]);
            for b in &list {
                t.add_row(vec![
                    b.tenant.clone(),
                    b.name.clone(),
                    output::text(&b.selection),
                    b.artifacts.to_string(),
                    output::bytes(b.bytes),
                    output::time(b.created_at),
                    output::text(&b.created_by),
                ]);
            }
            println!("{t}");
        }
        BaselineCommand::Rm { tenant, name } => {
            app.store.remove_baseline(&tenant, &name, "cli").await?;
            println!("Removed baseline {name} of tenant {tenant}.");
        }
    }
    Ok(())
}

pub async fn compare(app: &App, args: CompareArgs) -> anyhow::Result<()> {
    let against = Against::parse(&args.against).map_err(|e| UsageError(format!("--against: {e}")))?;
    let c = app.store.compare(&set_of(args.set)?, &against).await?;
    if args.json {
        return output::json(&c);
    }
    let mut t = output::table(&["change", "artifact", "baseline", "now", "delta"]);
    let size = |s: Option<u64>| s.map_or_else(|| "-".to_owned(), output::bytes);
    let mut rows = |what: &str, changes: &[Change]| {
        for ch in changes {
            t.add_row(vec![
                what.to_owned(),
                output::text(&format!("{}/{}", ch.workflow, ch.name)),
                size(ch.baseline_size),
                size(ch.current_size),
                signed_bytes(ch.delta_bytes),
            ]);
        }
    };
    rows("added", &c.added);
    rows("removed", &c.removed);
    rows("changed", &c.changed);
    println!("{} against {}:", c.set, c.against);
    if c.added.is_empty() && c.removed.is_empty() && c.changed.is_empty() {
        println!("no differences.");
    } else {
        println!("{t}");
    }
    println!(
        "{} added, {} removed, {} changed, {} unchanged; {} artifacts, {} → {} artifacts, {} ({}).",
        c.added.len(),
        c.removed.len(),
        c.changed.len(),
        c.unchanged,
        c.baseline_artifacts,
        output::bytes(c.baseline_bytes),
        c.current_artifacts,
        output::bytes(c.current_bytes),
        signed_bytes(c.delta_bytes)
    );
    Ok(())
}

pub async fn trend(app: &App, args: TrendArgs) -> anyhow::Result<()> {
    let tenant = args.scope.tenant.ok_or_else(|| UsageError("trend needs TENANT or TENANT/WORKFLOW".into()))?;
    let by = TrendBy::parse(&args.by).map_err(|e| UsageError(format!("--by: {e}")))?;
    let since = match args.since.as_deref() {
        Some(s) => Some(parse_instant(s, app.store.now()).map_err(|e| UsageError(format!("--since: {e}")))?),
        None => None,
    };
    let workflow = args.scope.workflow.as_ref().map(|w| w.as_str());
    let points = app.store.trend(&tenant, workflow, &by, since).await?;
    if args.json {
        return output::json(&points);
    }
    let group = match &by {
        TrendBy::Day => "day".to_owned(),
        TrendBy::Tag(key) => key.clone(),
    };
    let mut t = output::table(&["workflow", &group, "artifacts", "bytes", "stored", "ratio"]);
    for p in &points {
        t.add_row(vec![
            p.workflow.clone(),
            output::text(&p.bucket),
            p.artifacts.to_string(),
            output::bytes(p.bytes),
            output::bytes(p.stored_bytes),
            format!("{:.2}x", p.compression_ratio),
        ]);
    }
    println!("{t}");
    Ok(())
}
