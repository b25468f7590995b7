//! Local directory tiers: where a configured location points on this
//! machine, and the file system store over it.

use super::error::TierError;
use crate::artifact::Tier;
use object_store::local::LocalFileSystem;
use std::path::{Path, PathBuf};

/// The local directory of a configured tier location: a path, or a
/// `file://` URL naming this machine (`file:///abs/path` or
/// `file://localhost/abs/path`, percent-decoded).
pub(super) fn local_root(tier: Tier, location: &str) -> Result<PathBuf, TierError> {
    let refuse = |message: String| TierError::Open { tier, location: location.to_owned(), message };
    if location.get(..7).is_some_and(|scheme| scheme.eq_ignore_ascii_case("file://")) {
        let url = url::Url::parse(location).map_err(|e| refuse(format!("not a valid file:// URL: {e}")))?;
        return match url.host_str() {
            None | Some("") | Some("localhost") => url.to_file_path().map_err(|()| {
                refuse("a file:// URL must name an absolute path, as in file:///var/lib/strata/hot".into())
            }),
            Some(host) => Err(refuse(format!(
                "a file:// URL must name a local path (file:///path), not one on host {host:?}; \
                 mount remote storage and give its local path instead"
            ))),
        };
    }
    if location.contains("://") {
        return Err(refuse("not a local directory or file:// URL".into()));
    }
    Ok(PathBuf::from(location))
}

/// Creates `root` if needed (with `create`; otherwise a missing `root` is
/// an error) and opens the file system store over it. Writes go to a
/// staging file renamed into place; with `fsync`, the file and then its
/// directory are synced before a write returns.
pub(super) fn open(tier: Tier, root: &Path, fsync: bool, create: bool) -> Result<LocalFileSystem, TierError> {
    let open_err = |e: &dyn std::fmt::Display| TierError::Open {
        tier,
        location: root.display().to_string(),
        message: e.to_string(),
    };
    if create {
        std::fs::create_dir_all(root).map_err(|e| open_err(&e))?;
    } else if !std::fs::metadata(root).map_err(|e| open_err(&e))?.is_dir() {
        return Err(open_err(&"not a directory"));
    }
    // Fan-out directories are kept when they empty: removing and
    // recreating them costs more than the empty directory entries.
    Ok(LocalFileSystem::new_with_prefix(root).map_err(|e| open_err(&e))?.with_fsync(fsync))
}

/// Checks that the tier's directory is there.
pub(super) async fn check(tier: Tier, root: &Path) -> Result<(), TierError> {
    match tokio::fs::metadata(root).await {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(TierError::io("stat", tier, root.display(), "not a directory")),
        Err(e) => Err(TierError::io("stat", tier, root.display(), e)),
    }
}
