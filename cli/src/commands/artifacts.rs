//! `strata put|get|ls|rm`.

use crate::app::{App, UsageError};
use crate::args::{GetArgs, KeyValue, LsArgs, PutArgs, RmArgs};
use crate::output;
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use strata_core::artifact::Artifact;
use strata_core::clock::parse_instant;
use strata_core::id::ArtifactKey;
use strata_core::query::ArtifactQuery;
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

/// Where `get` puts the bytes, decided from what is at the output path now.
enum Destination {
    /// Standard output: no `-o`, or `-o -`.
    Stdout,
    /// Nothing yet, or a regular file: a verified copy is renamed over it.
    Replace(PathBuf),
    /// A character device or FIFO: written in place, never replaced.
    InPlace(PathBuf),
}

/// Why `get` will not write to `path`, or `None` when it will write in place.
#[cfg(unix)]
fn not_writable_in_place(file_type: std::fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_char_device() || file_type.is_fifo() {
        None
    } else if file_type.is_block_device() {
        Some("is a block device; strata does not write to block devices")
    } else if file_type.is_socket() {
        Some("is a socket")
    } else {
        Some("is not a regular file")
    }
}

/// Why `get` will not write to `path`, or `None` when it will write in place.
#[cfg(not(unix))]
fn not_writable_in_place(_file_type: std::fs::FileType) -> Option<&'static str> {
    Some("is not a regular file")
}

/// Looks at the output path without following a symbolic link.
fn destination(output: Option<&Path>) -> Result<Destination, UsageError> {
    let Some(path) = output.filter(|p| *p != Path::new("-")) else {
        return Ok(Destination::Stdout);
    };
    let refuse = |why: &str| UsageError(format!("cannot write to {}: it {why}", path.display()));
    let file_type = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta.file_type(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Destination::Replace(path.to_owned())),
        Err(e) => return Err(UsageError(format!("cannot write to {}: {e}", path.display()))),
    };
    if file_type.is_file() {
        Ok(Destination::Replace(path.to_owned()))
    } else if file_type.is_symlink() {
        Err(refuse(
            "is a symbolic link; strata does not write through links (give the path it points to, or `-o -` for standard output)",
        ))
    } else if file_type.is_dir() {
        Err(refuse("is a directory"))
    } else {
        match not_writable_in_place(file_type) {
            None => Ok(Destination::InPlace(path.to_owned())),
            Some(why) => Err(refuse(why)),
        }
    }
}

/// The artifact in a temporary file under the data directory, verified
/// against its digest: what is copied to standard output or into a device,
/// so that no unverified byte reaches either.
async fn verified_copy(app: &App, key: &ArtifactKey) -> anyhow::Result<(Artifact, tempfile::NamedTempFile)> {
    let tmp_dir = app.store.data_dir().join("tmp");
    std::fs::create_dir_all(&tmp_dir)?;
    let tmp = tempfile::NamedTempFile::new_in(&tmp_dir)?;
    let a = app.store.get_to_file(key, tmp.path()).await?;
    Ok((a, tmp))
}

async fn copy_into(
    verified: &tempfile::NamedTempFile,
    out: &mut (impl tokio::io::AsyncWrite + Unpin),
) -> anyhow::Result<()> {
    let mut file = tokio::fs::File::open(verified.path()).await?;
    tokio::io::copy(&mut file, out).await?;
    out.flush().await?;
    Ok(())
}

pub async fn get(app: &App, args: GetArgs) -> anyhow::Result<()> {
    let (a, path) = match destination(args.output.as_deref())? {
        Destination::Stdout => {
            let (_, verified) = verified_copy(app, &args.key).await?;
            return copy_into(&verified, &mut tokio::io::stdout()).await;
        }
        Destination::Replace(path) => (app.store.get_to_file(&args.key, &path).await?, path),
        Destination::InPlace(path) => {
            let (a, verified) = verified_copy(app, &args.key).await?;
            // Opened for writing only: never created, truncated or replaced.
            let mut out = tokio::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .await
                .map_err(|e| UsageError(format!("cannot write to {}: {e}", path.display())))?;
            if out.metadata().await?.is_file() {
                return Err(UsageError(format!("cannot write to {}: it changed while opening", path.display())).into());
            }
            copy_into(&verified, &mut out).await?;
            (a, path)
        }
    };
    eprintln!("Wrote {} ({}) from the {} tier to {}.", a.key(), output::bytes(a.size), a.tier, path.display());
    Ok(())
}

pub async fn ls(app: &App, args: LsArgs) -> anyhow::Result<()> {
    let now = app.store.clock().now();
    let instant = |flag: &str, value: Option<String>| -> anyhow::Result<Option<DateTime<Utc>>> {
        value.map(|v| parse_instant(&v, now).map_err(|e| UsageError(format!("{flag}: {e}")).into())).transpose()
    };
    let pairs = |tags: Vec<KeyValue>| tags.into_iter().map(|KeyValue(k, v)| (k, v)).collect();
    let query = ArtifactQuery {
        tenant: args.scope.tenant,
        workflow: args.scope.workflow,
        tier: args.tier,
        name: args.name,
        all_tags: pairs(args.tags),
        any_tags: pairs(args.any_tags),
        created_after: instant("--created-after", args.created_after)?,
        created_before: instant("--created-before", args.created_before)?,
        min_size: args.min_size,
        max_size: args.max_size,
        latest: args.latest,
        sort: args.sort,
        descending: args.desc,
        include_deleted: args.all,
        after: None,
        limit: args.limit,
    };
    let artifacts = app.store.query(&query).await?;
    // A tombstone's state says what ended it (`rm`, an overwrite, the
    // lifecycle, an erasure), from its last such event.
    let tombstones: Vec<i64> = artifacts.iter().filter(|a| !a.state.is_live()).map(|a| a.id).collect();
    let endings = app.store.catalog().tombstone_endings(&tombstones).await?;
    let state = |a: &Artifact| endings.get(&a.id).cloned().unwrap_or_else(|| a.state.to_string());
    if args.json {
        let listed: Vec<serde_json::Value> = artifacts
            .iter()
            .map(|a| {
                let mut v = serde_json::to_value(a)?;
                v["state"] = serde_json::Value::String(state(a));
                Ok(v)
            })
            .collect::<Result<_, serde_json::Error>>()?;
        return output::json(&listed);
    }
    let mut t = output::table(&["artifact", "tier", "state", "size", "stored", "codec", "created", "expires"]);
    for a in &artifacts {
        t.add_row(vec![
            a.key().to_string(),
            a.tier.to_string(),
            match a.dead_lettered_at {
                Some(_) => format!("{}, dead-lettered", state(a)),
                None => state(a),
            },
            output::bytes(a.size),
            output::bytes(a.stored_size),
            a.codec.to_string(),
            output::time(a.created_at),
            output::time_or(a.expires_at, "never"),
        ]);
    }
    println!("{t}");
    let (live, gone): (Vec<&Artifact>, Vec<&Artifact>) = artifacts.iter().partition(|a| a.state.is_live());
    let total: u64 = live.iter().map(|a| a.size).sum();
    println!("{} artifacts, {}", live.len(), output::bytes(total));
    if !gone.is_empty() {
        let mut by_ending: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
        for a in &gone {
            *by_ending.entry(state(a)).or_default() += 1;
        }
        let each: Vec<String> = by_ending.iter().map(|(ending, n)| format!("{n} {ending}")).collect();
        println!(
            "and {} tombstones, not counted above ({}), which held {}",
            gone.len(),
            each.join(", "),
            output::bytes(gone.iter().map(|a| a.size).sum())
        );
    }
    Ok(())
}

pub async fn rm(app: &App, args: RmArgs) -> anyhow::Result<()> {
    let a = app.store.remove(&args.key, "cli").await?;
    println!("Deleted {} ({} freed from the {} tier).", a.key(), output::bytes(a.stored_size), a.tier);
    Ok(())
}
