//! `strata demo`: seeds a fresh data dir with realistic artifacts across
//! tenants on different plans, then steps simulated time through the
//! lifecycle, printing what each step did.

use crate::app::{App, UsageError};
use crate::args::{DemoArgs, Global};
use crate::commands::lifecycle::run_lifecycle;
use crate::output;
use chrono::{DateTime, Duration, Utc};
use indicatif::ProgressBar;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use strata_core::artifact::{State, Tier};
use strata_core::catalog::ArtifactFilter;
use strata_core::id::{ArtifactKey, ArtifactName, TenantId, WorkflowName};
use strata_core::retention::Target;
use strata_core::store::PutOptions;
use strata_core::tiers::BlobRef;
use strata_jobs::planner;
use strata_queue::DeadFilter;
use strata_queue::message::to_new_jobs;

/// The simulated days at which the lifecycle runs.
const STEPS: [i64; 5] = [0, 8, 31, 91, 366];

const WORKFLOWS: [&str; 4] = ["nightly-build", "weekly-report", "release", "audit"];
const LINES: [&str; 6] = [
    "INFO  build started for target x86_64-unknown-linux-gnu",
    "INFO  compiling 214 crates with 2 jobs",
    "WARN  test suite slow: integration::lifecycle took 4.2s",
    "INFO  uploaded coverage report (81.4% lines)",
    "ERROR flaky test retried: queue::redelivery",
    "INFO  artifact signed with key 7f3a…",
];

fn content(rng: &mut StdRng, i: usize) -> (String, Vec<u8>) {
    match i % 3 {
        0 => {
            let n = rng.random_range(20..400);
            let rows: Vec<serde_json::Value> = (0..n)
                .map(|k| {
                    serde_json::json!({
                        "test": format!("suite::case_{k}"),
                        "status": if rng.random_bool(0.95) { "passed" } else { "failed" },
                        "duration_ms": rng.random_range(1..5000),
                    })
                })
                .collect();
            let doc = serde_json::json!({ "run": i, "results": rows });
            (format!("report-{i:05}.json"), serde_json::to_vec_pretty(&doc).unwrap_or_default())
        }
        1 => {
            let n = rng.random_range(50..1500);
            let text: String = (0..n)
                .map(|k| {
                    format!(
                        "2026-11-24T10:{:02}:{:02}Z {}\n",
                        k / 60 % 60,
                        k % 60,
                        LINES[rng.random_range(0..LINES.len())]
                    )
                })
                .collect();
            (format!("build-{i:05}.log"), text.into_bytes())
        }
        _ => {
            let mut bytes = vec![0u8; rng.random_range(1024..48 * 1024)];
            rng.fill(&mut bytes[..]);
            (format!("bundle-{i:05}.bin"), bytes)
        }
    }
}

struct StepRow {
    day: i64,
    planned: usize,
    tiers: [(u64, u64, u64); 3],
    eligible: u64,
    purged: u64,
    dead: u64,
}

async fn snapshot(app: &App, day: i64, planned: usize) -> anyhow::Result<StepRow> {
    let mut row = StepRow { day, planned, tiers: [(0, 0, 0); 3], eligible: 0, purged: 0, dead: 0 };
    for t in app.store.catalog().tier_totals().await? {
        match t.state {
            State::Active | State::Eligible => {
                let slot = &mut row.tiers[t.tier as usize];
                slot.0 += t.artifacts as u64;
                slot.1 += t.bytes as u64;
                slot.2 += t.stored_bytes as u64;
                if t.state == State::Eligible {
                    row.eligible += t.artifacts as u64;
                }
            }
            State::Purged | State::Erased => row.purged += t.artifacts as u64,
        }
    }
    row.dead = app.queue.stats().await?.iter().map(|s| s.dead).sum();
    Ok(row)
}

fn print_step(row: &StepRow, as_of: DateTime<Utc>) {
    println!("\nDay {} (as of {}): {} actions", row.day, output::time(as_of), row.planned);
    let mut t = output::table(&["tier", "artifacts", "bytes", "stored", "saved by compression"]);
    for (tier, (n, bytes, stored)) in Tier::ALL.iter().zip(row.tiers) {
        t.add_row(vec![
            tier.to_string(),
            n.to_string(),
            output::bytes(bytes),
            output::bytes(stored),
            output::bytes(bytes.saturating_sub(stored)),
        ]);
    }
    println!("{t}");
    println!("eligible for deletion: {}   purged: {}   dead letters: {}", row.eligible, row.purged, row.dead);
}

pub async fn run(global: &Global, args: &DemoArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let app = App::open(global, crate::app::Opening::default()).await?;
    if !app.store.catalog().tenants().await?.is_empty() {
        return Err(UsageError(format!(
            "the demo needs a fresh data directory, and {} already has tenants: remove it or pass --data-dir NEW_DIR",
            global.data_dir.display()
        ))
        .into());
    }
    let tenants: Vec<(TenantId, &str)> = match &args.tenant {
        Some(t) => vec![(t.clone(), "pro")],
        None => [("acme", "pro"), ("globex", "free"), ("initech", "enterprise"), ("umbrella", "basic")]
            .into_iter()
            .map(|(t, p)| (TenantId::parse(t).expect("demo tenant ids are valid"), p))
            .collect(),
    };
    for (tenant, plan) in &tenants {
        app.store.add_tenant(tenant, plan, "demo").await?;
    }
    println!(
        "Seeding {} artifacts across {} tenants ({})…",
        args.count,
        tenants.len(),
        tenants.iter().map(|(t, p)| format!("{t}: {p}")).collect::<Vec<_>>().join(", ")
    );
    let mut rng = StdRng::seed_from_u64(args.seed);
    let bar = ProgressBar::new(args.count as u64);
    let mut previous: Option<Vec<u8>> = None;
    for i in 0..args.count {
        let (tenant, _) = &tenants[i % tenants.len()];
        let (name, mut bytes) = content(&mut rng, i);
        // Every 15th upload repeats the previous upload of its tenant's
        // stream of content, so deduplication has something to do.
        if let Some(p) = previous.as_ref().filter(|_| i % 15 == 14) {
            bytes = p.clone();
        }
        previous = Some(bytes.clone());
        let class = match i {
            i if i % 40 == 39 => Some("permanent-record".to_owned()),
            i if i % 25 == 24 => Some("release-evidence".to_owned()),
            i if i % 10 == 9 => Some("ephemeral".to_owned()),
            _ => None,
        };
        let key = ArtifactKey {
            tenant: tenant.clone(),
            workflow: WorkflowName::parse(WORKFLOWS[(i / tenants.len()) % WORKFLOWS.len()])?,
            name: ArtifactName::parse(&name)?,
        };
        let opts = PutOptions { class, actor: "demo".into(), ..PutOptions::default() };
        app.store.put(&key, &bytes[..], opts).await?;
        bar.inc(1);
    }
    bar.finish_and_clear();

    let t0 = app.store.now();
    let mut rows = Vec::new();
    for day in STEPS {
        let as_of = t0 + Duration::days(day);
        if day == 31 {
            corrupt_one_warm_blob(&app).await?;
            hold_one_workflow(&app, &tenants).await?;
        }
        if day == 91 {
            restore_two_cold(&app, as_of).await?;
        }
        let (plan, _) = run_lifecycle(&app, as_of, true, false).await?;
        let row = snapshot(&app, day, plan.items.len()).await?;
        print_step(&row, as_of);
        rows.push(row);
    }

    println!("\nSummary");
    let mut t =
        output::table(&["day", "actions", "hot", "warm", "cold", "cold stored", "eligible", "purged", "dead letters"]);
    for r in &rows {
        t.add_row(vec![
            r.day.to_string(),
            r.planned.to_string(),
            r.tiers[0].0.to_string(),
            r.tiers[1].0.to_string(),
            r.tiers[2].0.to_string(),
            format!("{} of {}", output::bytes(r.tiers[2].2), output::bytes(r.tiers[2].1)),
            r.eligible.to_string(),
            r.purged.to_string(),
            r.dead.to_string(),
        ]);
    }
    println!("{t}");
    let counts = app.store.catalog().event_counts().await?;
    println!("Events: {}", counts.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", "));
    let dead = app.queue.dead_letters(&DeadFilter::default(), 5).await?;
    for d in &dead {
        println!("Dead letter {} ({}): {}", d.id, d.kind, d.last_error);
    }
    println!(
        "Done in {:.1}s. Data is in {}; try `strata --data-dir {} lifecycle summary`, `… ls --tier cold`, `… events`, `… dlq list`.",
        started.elapsed().as_secs_f64(),
        global.data_dir.display(),
        global.data_dir.display()
    );
    Ok(())
}

/// Damages one warm blob used by a single artifact, to show that the
/// lifecycle detects corruption and dead-letters the job instead of
/// spreading bad bytes.
async fn corrupt_one_warm_blob(app: &App) -> anyhow::Result<()> {
    let warm = app.store.list(&ArtifactFilter { tier: Some(Tier::Warm), ..ArtifactFilter::default() }).await?;
    let Some(victim) = warm.iter().find(|a| {
        a.name.as_str().ends_with(".bin")
            && a.expires_at.is_none()
            && warm.iter().filter(|b| b.blake3 == a.blake3).count() == 1
    }) else {
        return Ok(());
    };
    let blob = BlobRef { tenant: &victim.tenant, blake3: &victim.blake3, codec: victim.codec };
    let Some(path) = app.store.tiers().local_path(Tier::Warm, &blob) else { return Ok(()) };
    std::fs::write(&path, b"bit rot")?;
    println!("\n(Demo: corrupted the warm blob of {} to show corruption handling.)", victim.key());
    Ok(())
}

/// Places a legal hold on the first free-plan tenant's audit workflow: its
/// artifacts outlive their retention.
async fn hold_one_workflow(app: &App, tenants: &[(TenantId, &str)]) -> anyhow::Result<()> {
    let Some((tenant, _)) = tenants.iter().find(|(_, plan)| *plan == "free") else {
        return Ok(());
    };
    let target = Target::Workflow(tenant.clone(), WorkflowName::parse("audit")?);
    let hold = app.store.place_hold(&target, "demo: legal hold on the audit trail", "demo").await?;
    println!("\n(Demo: hold {} on {target}: its artifacts will not expire.)", hold.id);
    Ok(())
}

/// Restores two cold artifacts through the priority lane.
async fn restore_two_cold(app: &App, at: DateTime<Utc>) -> anyhow::Result<()> {
    let cold = app.store.list(&ArtifactFilter { tier: Some(Tier::Cold), ..ArtifactFilter::default() }).await?;
    let mut jobs = Vec::new();
    for a in cold.iter().filter(|a| a.state == State::Active).take(2) {
        jobs.push(planner::plan_restore(&app.store, &a.key(), Some(30), at, "demo").await?);
        println!("\n(Demo: restoring {} from cold.)", a.key());
    }
    app.queue.enqueue(&to_new_jobs(&jobs, app.store.config())).await?;
    Ok(())
}
