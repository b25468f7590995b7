//! Garbage collection: removes the bytes no live artifact can reach, and
//! reconciles the catalog with the tiers.
//!
//! Collected, once older than `gc.min_age_secs` (by file modification time,
//! or an object's last-modified time in an object store tier):
//! crash leftovers (files under a tenant's `.staging/`, partial copies named
//! `<blob>#N` that the local store writes before renaming) and blobs that no
//! live artifact references. An unreferenced blob is deleted through
//! [`Store::release_blob`], which re-checks references under the catalog's
//! write lock, so a write that could still commit it either finds it there
//! or writes it again (see [`crate::committer`]). Files whose names strata
//! never writes are reported, never removed.

use crate::artifact::{Codec, Tier};
use crate::catalog::LiveBlob;
use crate::event::{EventKind, NewEvent};
use crate::id::TenantId;
use crate::store::{Store, StoreError};
use crate::tiers::TierError;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Serialize;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Blob releases submitted at once (the committer applies them in one commit).
const RELEASES_IN_FLIGHT: usize = 256;

/// A number of files and their bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Files.
    pub files: u64,
    /// Their total size in bytes.
    pub bytes: u64,
}

impl Tally {
    fn add(&mut self, bytes: u64) {
        self.files += 1;
        self.bytes += bytes;
    }
}

/// What a collection found (and removed, unless it was a dry run) in one tier.
#[derive(Debug, Clone, Serialize)]
pub struct TierReport {
    /// The tier.
    pub tier: Tier,
    /// Everything removed (or, in a dry run, to be removed): `leftovers` plus `unreferenced`.
    pub removed: Tally,
    /// Crash leftovers removed: staging files and partial copies.
    pub leftovers: Tally,
    /// Blobs no live artifact referenced, removed.
    pub unreferenced: Tally,
    /// Leftovers and unreferenced blobs kept because they are younger than the window.
    pub too_young: Tally,
}

/// A file found in a tier that no live artifact references.
#[derive(Debug, Clone, Serialize)]
pub struct Stray {
    /// The tier.
    pub tier: Tier,
    /// Its path inside the tier.
    pub path: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// `leftover` (staging file or partial copy), `blob` (a content address
    /// no live artifact references) or `unknown` (a name strata never writes).
    pub kind: &'static str,
    /// Whether it was removed (or, in a dry run, would be).
    pub removed: bool,
}

/// A live artifact whose blob is not in its tier.
#[derive(Debug, Clone, Serialize)]
pub struct MissingBlob {
    /// The artifact's id.
    pub id: i64,
    /// The artifact's key.
    pub artifact: String,
    /// The tier its row names.
    pub tier: Tier,
    /// The blob's path inside that tier.
    pub path: String,
}

/// The outcome of a collection, with the reconciliation of catalog and tiers.
#[derive(Debug, Clone, Serialize)]
pub struct GcReport {
    /// Nothing was removed; `removed` counts what would have been.
    pub dry_run: bool,
    /// When it ran.
    pub at: DateTime<Utc>,
    /// Files modified after this were left alone.
    pub cutoff: DateTime<Utc>,
    /// Per tier, hot to cold.
    pub tiers: Vec<TierReport>,
    /// Every file no live artifact references (removed or not).
    pub strays: Vec<Stray>,
    /// Live artifacts whose blob is missing from their tier.
    pub missing: Vec<MissingBlob>,
}

impl GcReport {
    /// Files and bytes removed over all tiers.
    pub fn removed(&self) -> Tally {
        self.tiers
            .iter()
            .fold(Tally::default(), |t, r| Tally { files: t.files + r.removed.files, bytes: t.bytes + r.removed.bytes })
    }
}

/// How strata names a file in a tier.
#[derive(Debug, PartialEq, Eq)]
enum Name {
    /// A staging file or a partial copy.
    Leftover,
    /// A content address.
    Blob { tenant: String, blake3: String, codec: Codec },
    /// Not a name strata writes.
    Unknown,
}

fn is_blake3(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `{tenant}/.staging/…`, `{tenant}/{fan}/{blake3}[.zst]` or either with `#N`.
fn classify(rel: &str) -> Name {
    let parts: Vec<&str> = rel.split('/').collect();
    if parts.first().is_none_or(|t| TenantId::parse(t).is_err()) {
        return Name::Unknown;
    }
    if parts.len() >= 3 && parts[1] == ".staging" {
        return Name::Leftover;
    }
    let [tenant, fan, file] = parts.as_slice() else { return Name::Unknown };
    let (file, partial) = match file.split_once('#') {
        Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => (base, true),
        Some(_) => return Name::Unknown,
        None => (*file, false),
    };
    let (blake3, codec) = match file.strip_suffix(".zst") {
        Some(b) => (b, Codec::Zstd),
        None => (file, Codec::None),
    };
    if !is_blake3(blake3) || blake3.get(..2) != Some(*fan) {
        return Name::Unknown;
    }
    if partial {
        return Name::Leftover;
    }
    Name::Blob { tenant: (*tenant).to_owned(), blake3: blake3.to_owned(), codec }
}

/// A regular file (or anything else that is not a directory) in a tier.
struct Found {
    rel: String,
    bytes: u64,
    modified: Option<DateTime<Utc>>,
    regular: bool,
}

/// Every file under `root`, depth first; symbolic links are not followed.
fn walk(root: &Path) -> std::io::Result<Vec<Found>> {
    let mut found = Vec::new();
    let mut dirs = vec![PathBuf::new()];
    while let Some(rel_dir) = dirs.pop() {
        let entries = match std::fs::read_dir(root.join(&rel_dir)) {
            Ok(entries) => entries,
            // Removed while we looked (a fan-out directory is never removed,
            // but an operator may tidy up).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let rel = rel_dir.join(entry.file_name());
            let meta = match entry.path().symlink_metadata() {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if meta.is_dir() {
                dirs.push(rel);
                continue;
            }
            let rel = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
            found.push(Found {
                rel,
                bytes: meta.len(),
                modified: meta.modified().ok().map(DateTime::<Utc>::from),
                regular: meta.is_file(),
            });
        }
    }
    Ok(found)
}

/// Removes a leftover file; one already gone counts as removed.
fn remove(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

type BlobId = (String, String, Tier, Codec);

fn blob_id(b: &LiveBlob) -> BlobId {
    (b.tenant.clone(), b.blake3.clone(), b.tier, b.codec)
}

fn blob_path(tenant: &str, blake3: &str, codec: Codec) -> String {
    let suffix = if codec == Codec::Zstd { ".zst" } else { "" };
    format!("{tenant}/{}/{blake3}{suffix}", blake3.get(..2).unwrap_or("00"))
}

/// Collects what no live artifact can reach and reports it, with the live
/// artifacts whose blob is missing. A dry run removes nothing and records
/// nothing; a real run records one `gc_completed` event.
pub async fn collect(store: &Store, dry_run: bool, actor: &str) -> Result<GcReport, StoreError> {
    let at = store.clock.now();
    let window = chrono::Duration::seconds(i64::try_from(store.config.gc.min_age_secs).unwrap_or(i64::MAX));
    let cutoff = at.checked_sub_signed(window).unwrap_or(DateTime::<Utc>::MIN_UTC);
    check_roots(store)?;
    let before = store.catalog.live_blobs().await?;
    let live: HashSet<BlobId> = before.iter().map(blob_id).collect();
    let mut seen: HashSet<BlobId> = HashSet::new();
    let mut tiers = Vec::with_capacity(Tier::ALL.len());
    let mut strays = Vec::new();
    for &tier in Tier::ALL {
        let root = store.tiers.root(tier).map(Path::to_owned);
        let found = match &root {
            Some(root) => {
                let scan_root = root.clone();
                let scan_error = |e: &dyn std::fmt::Display| TierError::Io {
                    op: "scan",
                    tier,
                    path: root.display().to_string(),
                    message: e.to_string(),
                };
                tokio::task::spawn_blocking(move || walk(&scan_root))
                    .await
                    .map_err(|e| scan_error(&e))?
                    .map_err(|e| scan_error(&e))?
            }
            None => store
                .tiers
                .list(tier)
                .await?
                .into_iter()
                .map(|o| Found { rel: o.key, bytes: o.bytes, modified: Some(o.modified), regular: true })
                .collect(),
        };
        let mut report = TierReport {
            tier,
            removed: Tally::default(),
            leftovers: Tally::default(),
            unreferenced: Tally::default(),
            too_young: Tally::default(),
        };
        let mut releases = Vec::new();
        for f in found {
            let young = f.modified.is_none_or(|m| m > cutoff);
            let name = if f.regular { classify(&f.rel) } else { Name::Unknown };
            let kind = match name {
                Name::Unknown => {
                    strays.push(Stray { tier, path: f.rel, bytes: f.bytes, kind: "unknown", removed: false });
                    continue;
                }
                Name::Blob { tenant, blake3, codec } => {
                    let id = (tenant, blake3, tier, codec);
                    if live.contains(&id) {
                        seen.insert(id);
                        continue;
                    }
                    if !young {
                        releases.push((id, f));
                        continue;
                    }
                    "blob"
                }
                Name::Leftover if young => "leftover",
                Name::Leftover => {
                    if !dry_run {
                        remove_leftover(store, tier, root.as_deref(), &f.rel).await?;
                    }
                    report.leftovers.add(f.bytes);
                    strays.push(Stray { tier, path: f.rel, bytes: f.bytes, kind: "leftover", removed: true });
                    continue;
                }
            };
            report.too_young.add(f.bytes);
            strays.push(Stray { tier, path: f.rel, bytes: f.bytes, kind, removed: false });
        }
        let released: Vec<Result<(Found, bool), StoreError>> = futures::stream::iter(releases)
            .map(|((tenant, blake3, tier, codec), f)| async move {
                if dry_run {
                    return Ok((f, true));
                }
                let tenant = TenantId::parse(&tenant).map_err(|e| TierError::Io {
                    op: "release",
                    tier,
                    path: f.rel.clone(),
                    message: e.to_string(),
                })?;
                let removed = store.release_blob(&tenant, &blake3, tier, codec, None).await?;
                Ok((f, removed))
            })
            .buffer_unordered(RELEASES_IN_FLIGHT)
            .collect()
            .await;
        for r in released {
            let (f, removed) = r?;
            if removed {
                report.unreferenced.add(f.bytes);
            }
            strays.push(Stray { tier, path: f.rel, bytes: f.bytes, kind: "blob", removed });
        }
        report.removed = Tally {
            files: report.leftovers.files + report.unreferenced.files,
            bytes: report.leftovers.bytes + report.unreferenced.bytes,
        };
        tiers.push(report);
    }
    let missing = missing_blobs(store, &before, &seen).await?;
    let report = GcReport { dry_run, at, cutoff, tiers, strays, missing };
    if !dry_run {
        record(store, &report, actor).await?;
    }
    Ok(report)
}

/// Removes a leftover, from the tier's directory or through its store.
async fn remove_leftover(store: &Store, tier: Tier, root: Option<&Path>, rel: &str) -> Result<(), TierError> {
    let Some(root) = root else {
        return store.tiers.delete_key(tier, rel).await;
    };
    let path = root.join(rel);
    tokio::task::spawn_blocking(move || remove(&path))
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r)
        .map_err(|e| TierError::Io { op: "remove", tier, path: rel.to_owned(), message: e.to_string() })
}

/// Refuses tiers that share a directory or object store location, or where
/// one lies inside another: a blob of one would look unreferenced from the other.
fn check_roots(store: &Store) -> Result<(), TierError> {
    let place = |tier: Tier| match store.tiers.root(tier) {
        Some(root) => std::fs::canonicalize(root).unwrap_or_else(|_| root.to_owned()),
        None => PathBuf::from(store.tiers.location(tier).trim_end_matches('/')),
    };
    for (i, &a) in Tier::ALL.iter().enumerate() {
        for &b in &Tier::ALL[i + 1..] {
            if store.tiers.root(a).is_some() != store.tiers.root(b).is_some() {
                continue;
            }
            let (ra, rb) = (place(a), place(b));
            if ra.starts_with(&rb) || rb.starts_with(&ra) {
                return Err(TierError::Open {
                    tier: a,
                    location: ra.display().to_string(),
                    message: format!(
                        "overlaps the {b} tier at {}; gc cannot tell their blobs apart, so it does not run",
                        rb.display()
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Live artifacts whose blob the walk did not find, and that still name the
/// same tier and codec after it (a tier move in between is not a loss) and
/// whose blob is still absent.
async fn missing_blobs(
    store: &Store,
    before: &[LiveBlob],
    seen: &HashSet<BlobId>,
) -> Result<Vec<MissingBlob>, StoreError> {
    let unseen: HashMap<i64, &LiveBlob> =
        before.iter().filter(|b| !seen.contains(&blob_id(b))).map(|b| (b.id, b)).collect();
    if unseen.is_empty() {
        return Ok(Vec::new());
    }
    let mut missing = Vec::new();
    for now in store.catalog.live_blobs().await? {
        let Some(earlier) = unseen.get(&now.id) else { continue };
        if **earlier != now {
            continue;
        }
        let path = blob_path(&now.tenant, &now.blake3, now.codec);
        let exists = match store.tiers.root(now.tier) {
            Some(root) => tokio::fs::symlink_metadata(root.join(&path)).await.is_ok(),
            None => store.tiers.exists_key(now.tier, &path).await?,
        };
        if !exists {
            missing.push(MissingBlob { id: now.id, artifact: now.key, tier: now.tier, path });
        }
    }
    Ok(missing)
}

/// Records the run as one `gc_completed` event.
async fn record(store: &Store, report: &GcReport, actor: &str) -> Result<(), StoreError> {
    let per_tier: serde_json::Map<String, serde_json::Value> = report
        .tiers
        .iter()
        .map(|t| {
            let v = json!({
                "files": t.removed.files,
                "bytes": t.removed.bytes,
                "leftovers": t.leftovers.files,
                "unreferenced": t.unreferenced.files,
            });
            (t.tier.as_str().to_owned(), v)
        })
        .collect();
    let removed = report.removed();
    let data = json!({
        "removed_files": removed.files,
        "removed_bytes": removed.bytes,
        "tiers": per_tier,
        "missing_blobs": report.missing.len(),
        "cutoff": report.cutoff,
    });
    let mut tx = store.catalog.begin_write().await?;
    tx.append_event(report.at, None, None, &NewEvent::new(EventKind::GcCompleted, actor, data)).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_classified_as_strata_writes_them() {
        let b = "ab".to_owned() + &"0".repeat(62);
        assert_eq!(
            classify(&format!("acme/ab/{b}")),
            Name::Blob { tenant: "acme".into(), blake3: b.clone(), codec: Codec::None }
        );
        assert_eq!(
            classify(&format!("acme/ab/{b}.zst")),
            Name::Blob { tenant: "acme".into(), blake3: b.clone(), codec: Codec::Zstd }
        );
        assert_eq!(classify(&format!("acme/ab/{b}.zst#1")), Name::Leftover);
        assert_eq!(classify(&format!("acme/ab/{b}#12")), Name::Leftover);
        assert_eq!(classify("acme/.staging/3f/3f00aa"), Name::Leftover);
        assert_eq!(classify("acme/.staging/3f/3f00aa#1"), Name::Leftover);
        assert_eq!(classify(&format!("acme/cd/{b}")), Name::Unknown, "wrong fan-out");
        assert_eq!(classify(&format!("acme/ab/{b}#x")), Name::Unknown);
        assert_eq!(classify("acme/ab/notes.txt"), Name::Unknown);
        assert_eq!(classify("README"), Name::Unknown);
        assert_eq!(classify(&format!("ac%me/ab/{b}")), Name::Unknown);
    }
}
