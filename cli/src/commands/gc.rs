//! `strata gc`: collect crash leftovers and unreferenced blobs, and report
//! how the catalog and the tiers disagree.

use crate::app::App;
use crate::args::GcArgs;
use crate::output;
use strata_core::gc;

pub async fn run(app: &App, args: GcArgs) -> anyhow::Result<()> {
    // Under the dry-run switch gc removes nothing; `--live` (already applied
    // to the configuration) lifts it.
    let switched = app.store.config().lifecycle.dry_run;
    if switched && !args.dry_run {
        eprintln!("{}", strata_queue::plan::dry_run_notice());
    }
    let report = gc::collect(&app.store, args.dry_run || switched, "cli").await?;
    if args.json {
        return output::json(&report);
    }
    let verb = if report.dry_run { "Would remove" } else { "Removed" };
    let removed = report.removed();
    println!(
        "{verb} {} file(s), {}; untouched: anything modified after {}.",
        removed.files,
        output::bytes(removed.bytes),
        output::time(report.cutoff)
    );
    let mut t = output::table(&["tier", "removed", "bytes", "crash leftovers", "unreferenced blobs", "too young"]);
    for r in &report.tiers {
        t.add_row(vec![
            r.tier.to_string(),
            r.removed.files.to_string(),
            output::bytes(r.removed.bytes),
            r.leftovers.files.to_string(),
            r.unreferenced.files.to_string(),
            r.too_young.files.to_string(),
        ]);
    }
    println!("{t}");
    let unknown: Vec<_> = report.strays.iter().filter(|s| s.kind == "unknown").collect();
    if !unknown.is_empty() {
        println!("Files strata never writes (left alone):");
        for s in unknown {
            println!("  {} {} ({})", s.tier, s.path.escape_debug(), output::bytes(s.bytes));
        }
    }
    if report.missing.is_empty() {
        println!("Every live artifact's blob is in its tier.");
    } else {
        println!("Live artifacts whose blob is missing from their tier:");
        for m in &report.missing {
            println!("  {} (id {}): {} tier, {}", m.artifact, m.id, m.tier, m.path);
        }
    }
    Ok(())
}
