//! `strata put|get|ls|rm`.

use crate::app::{App, UsageError};
use crate::args::{GetArgs, KeyValue, LsArgs, PutArgs, RmArgs};
use crate::output;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;
use strata_core::catalog::ArtifactFilter;
use strata_core::store::PutOptions;
use tokio::io::AsyncWriteExt;

/// Uploads from this size on show a progress bar.
const PROGRESS_FROM_BYTES: u64 = 8 * 1024 * 1024;

fn to_map(pairs: Vec<KeyValue>) -> serde_json::Map<String, serde_json::Value> {
    pairs.into_iter().map(|KeyValue(k, v)| (k, serde_json::Value::String(v))).collect()
}

pub async fn put(app: &App, args: PutArgs) -> anyhow::Result<()> {
    let opts = PutOptions {
        class: args.class,
        tags: to_map(args.tags),
        meta: to_map(args.meta),
        content_type: args.content_type,
        overwrite: args.overwrite,
        actor: "cli".into(),
    };
    let artifact = if args.file == Path::new("-") {
        app.store.put(&args.key, tokio::io::stdin(), opts).await?
    } else {
        if args.file.is_dir() {
            return Err(UsageError(format!("cannot read input file {}: it is a directory", args.file.display())).into());
        }
        let file = tokio::fs::File::open(&args.file)
            .await
            .map_err(|e| UsageError(format!("cannot read input file {}: {e}", args.file.display())))?;
        let len = file.metadata().await.map(|m| m.len()).unwrap_or(0);
        // Large uploads show their progress (on a terminal only).
        let bar = if len >= PROGRESS_FROM_BYTES { ProgressBar::new(len) } else { ProgressBar::hidden() };
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} ({eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let stored = app.store.put(&args.key, bar.wrap_async_read(file), opts).await;
        bar.finish_and_clear();
        stored?
    };
    if args.json {
        return output::json(&artifact);
    }
    println!(
        "Stored {} ({}, blake3 {}) in the hot tier; expires {}.",
        artifact.key(),
        output::bytes(artifact.size),
        &artifact.blake3[..16],
        output::time_or(artifact.expires_at, "never")
    );
    Ok(())
}

pub async fn get(app: &App, args: GetArgs) -> anyhow::Result<()> {
    match &args.output {
        Some(path) => {
            let a = app.store.get_to_file(&args.key, path).await?;
            eprintln!("Wrote {} ({}) from the {} tier to {}.", a.key(), output::bytes(a.size), a.tier, path.display());
        }
        None => {
            let tmp_dir = app.store.data_dir().join("tmp");
            std::fs::create_dir_all(&tmp_dir)?;
            let tmp = tempfile::NamedTempFile::new_in(&tmp_dir)?;
            app.store.get_to_file(&args.key, tmp.path()).await?;
            let mut file = tokio::fs::File::open(tmp.path()).await?;
            let mut stdout = tokio::io::stdout();
            tokio::io::copy(&mut file, &mut stdout).await?;
            stdout.flush().await?;
        }
    }
    Ok(())
}

pub async fn ls(app: &App, args: LsArgs) -> anyhow::Result<()> {
    let filter = ArtifactFilter {
        tenant: args.scope.tenant,
        workflow: args.scope.workflow,
        tier: args.tier,
        include_deleted: args.all,
    };
    let artifacts = app.store.list(&filter).await?;
    if args.json {
        return output::json(&artifacts);
    }
    let mut t = output::table(&["artifact", "tier", "state", "size", "stored", "codec", "created", "expires"]);
    for a in &artifacts {
        t.add_row(vec![
            a.key().to_string(),
            a.tier.to_string(),
            a.state.to_string(),
            output::bytes(a.size),
            output::bytes(a.stored_size),
            a.codec.to_string(),
            output::time(a.created_at),
            output::time_or(a.expires_at, "never"),
        ]);
    }
    println!("{t}");
    let total: u64 = artifacts.iter().map(|a| a.size).sum();
    println!("{} artifacts, {}", artifacts.len(), output::bytes(total));
    Ok(())
}

pub async fn rm(app: &App, args: RmArgs) -> anyhow::Result<()> {
    let a = app.store.remove(&args.key, "cli").await?;
    println!("Deleted {} ({} freed from the {} tier).", a.key(), output::bytes(a.stored_size), a.tier);
    Ok(())
}
