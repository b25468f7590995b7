//! `strata events` and `strata events export`.

use crate::app::App;
use crate::args::{EventFilterArgs, EventsArgs, EventsCommand};
use crate::output;
use std::io::Write;
use strata_core::catalog::EventFilter;
use strata_core::event::Event;

fn filter_of(args: EventFilterArgs, default_limit: Option<i64>) -> EventFilter {
    EventFilter {
        tenant: args.tenant,
        key: args.artifact,
        kind: args.kind,
        limit: args.limit.or(default_limit),
        newest: true,
        ..EventFilter::default()
    }
}

/// One export line: the event's fields with its details lifted to the top
/// level (`from_tier`, `to_tier`, `age_days`, …), as audit tools expect.
fn audit_line(e: &Event) -> serde_json::Value {
    let mut line = match serde_json::to_value(e) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    line.remove("data");
    if let serde_json::Value::Object(data) = &e.data {
        for (k, v) in data {
            line.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    // Every line says whether it records a dry run, as the audit log does.
    line.entry("dry_run").or_insert(serde_json::Value::Bool(false));
    serde_json::Value::Object(line)
}

pub async fn run(app: &App, args: EventsArgs) -> anyhow::Result<()> {
    if let Some(EventsCommand::Verify { json }) = args.command {
        let report = app.store.catalog().verify_events().await?;
        if json {
            output::json(&report)?;
        }
        return match report.problem {
            None => {
                if !json {
                    let chains = if report.chains == 1 { "chain" } else { "chains" };
                    println!(
                        "The event log is intact: {} events verified in {} {chains}.",
                        report.checked, report.chains
                    );
                }
                Ok(())
            }
            Some(problem) => Err(anyhow::anyhow!("the event log was tampered with: {problem}")),
        };
    }
    if let Some(EventsCommand::Export { filter, output }) = args.command {
        let events = app.store.catalog().events(&filter_of(filter, None)).await?;
        // `-o -` is standard output, as it is for `get`.
        let output = output.filter(|path| path.as_os_str() != "-");
        let mut out: Box<dyn Write> = match &output {
            Some(path) => Box::new(std::io::BufWriter::new(std::fs::File::create(path)?)),
            None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
        };
        for e in &events {
            serde_json::to_writer(&mut out, &audit_line(e))?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        if let Some(path) = output {
            eprintln!("Exported {} events to {}.", events.len(), path.display());
        }
        return Ok(());
    }
    let events = app.store.catalog().events(&filter_of(args.filter, Some(50))).await?;
    if args.json {
        return output::json(&events);
    }
    let mut t = output::table(&["seq", "time", "event", "artifact", "actor", "details"]);
    for e in &events {
        let key = [e.tenant_id.clone(), e.workflow_id.clone(), e.artifact_id.clone()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("/");
        let mut details = e.data.to_string();
        if details.len() > 80 {
            let cut = (0..=77).rev().find(|i| details.is_char_boundary(*i)).unwrap_or(0);
            details.truncate(cut);
            details.push('…');
        }
        t.add_row(vec![
            e.seq.to_string(),
            output::time(e.timestamp),
            e.event_type.clone(),
            key,
            output::text(&e.actor),
            output::text(&details),
        ]);
    }
    println!("{t}");
    Ok(())
}
