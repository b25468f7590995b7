//! Group commit for lifecycle changes and uploads. Handlers and puts hand
//! their catalog changes (a compare-and-set with its event, a blob release, a
//! claim release, a new artifact) to one committer task, which applies every
//! change waiting at that moment in a single write transaction. Each change
//! keeps its own semantics; only the commit is shared, so a burst of jobs or
//! uploads costs one synced commit, not one each.

use crate::artifact::{Artifact, Codec, State, Tier};
use crate::catalog::{Catalog, EventRow, Save, WriteTx};
use crate::clock::SharedClock;
use crate::event::{EventKind, NewEvent};
use crate::id::{ArtifactKey, TenantId};
use crate::store_error::StoreError;
use crate::tiers::{BlobRef, Landing, Tiers};
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

/// Most changes applied in one transaction.
const MAX_BATCH: usize = 512;

/// Tier operations (existence checks, deletions) a commit runs at once.
const FILE_OPS: usize = 64;

/// A blob a change needs present in a tier when it commits: a copy written
/// before the transaction, copied again from its source if a concurrent
/// release removed it.
#[derive(Debug, Clone)]
pub struct EnsureBlob {
    /// The tier.
    pub tier: Tier,
    /// Its encoding there.
    pub codec: Codec,
    /// The tier the copy came from (still holding the source until the switch).
    pub from_tier: Tier,
    /// The source's encoding.
    pub from_codec: Codec,
}

/// A compare-and-set of one artifact row with its event.
#[derive(Debug, Clone)]
pub struct Change {
    /// The row as it should become.
    pub artifact: Artifact,
    /// The generation the row must still have.
    pub expected_generation: i64,
    /// The job token the row must still carry.
    pub token: String,
    /// The event recorded when the change applies.
    pub event: NewEvent,
    /// Also end the job's claim (whether or not the change applied).
    pub release_claim: bool,
    /// A blob that must exist when the change commits.
    pub ensure_blob: Option<EnsureBlob>,
}

/// Deletion of a blob that no live artifact references any more, optionally
/// ending a job's claim in the same transaction.
#[derive(Debug, Clone)]
pub struct BlobRelease {
    /// Owning tenant.
    pub tenant: TenantId,
    /// The blob's digest.
    pub blake3: String,
    /// The tier it is in.
    pub tier: Tier,
    /// Its encoding there.
    pub codec: Codec,
    /// `(artifact id, token)` of a claim to end.
    pub claim: Option<(i64, String)>,
}

/// A new artifact to record, with the upload that holds its bytes.
#[derive(Debug, Clone)]
pub struct Ingest {
    /// The row to insert.
    pub artifact: Artifact,
    /// The landed bytes, settled into the hot tier in the transaction.
    pub landing: Landing,
    /// Replace a live artifact of the same key (unless it is held).
    pub overwrite: bool,
    /// Who is writing (for the events).
    pub actor: String,
}

/// One lifecycle write for [`Committer::apply_many`].
#[derive(Debug, Clone)]
pub enum LifecycleWrite {
    /// A compare-and-set with its event.
    Change(Box<Change>),
    /// A blob release.
    ReleaseBlob(BlobRelease),
    /// The end of a job's claim.
    ReleaseClaim {
        /// The artifact.
        id: i64,
        /// The job's token.
        token: String,
    },
}

#[derive(Debug)]
enum Op {
    Write(LifecycleWrite),
    Ingest(Box<Ingest>),
}

impl Op {
    /// The tenant whose rows the op reads before it writes (a claim release
    /// is a compare-and-set alone).
    fn tenant(&self) -> Option<&TenantId> {
        match self {
            Op::Write(LifecycleWrite::Change(c)) => Some(&c.artifact.tenant),
            Op::Write(LifecycleWrite::ReleaseBlob(r)) => Some(&r.tenant),
            Op::Ingest(i) => Some(&i.artifact.tenant),
            Op::Write(LifecycleWrite::ReleaseClaim { .. }) => None,
        }
    }
}

/// What applying an [`Op`] gave.
#[derive(Debug)]
enum Outcome {
    /// Whether a change, release or claim release took effect.
    Applied(bool),
    /// The inserted artifact, and the one it replaced.
    Ingested(Box<(Artifact, Option<Artifact>)>),
}

/// Ops that commit together, and where their outcomes go, one per op.
type Request = (Vec<Op>, oneshot::Sender<Vec<Result<Outcome, StoreError>>>);

/// The handle to the committer task.
#[derive(Debug, Clone)]
pub struct Committer {
    tx: mpsc::Sender<Request>,
}

impl Committer {
    /// Starts the committer task for this catalog and these tiers.
    pub fn start(catalog: Catalog, tiers: Tiers, clock: SharedClock) -> Self {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(catalog, tiers, clock, rx));
        Self { tx }
    }

    async fn submit(&self, ops: Vec<Op>) -> Result<Vec<Result<Outcome, StoreError>>, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx.send((ops, reply)).await.map_err(|_| StoreError::Committer("the committer has stopped".into()))?;
        answer.await.map_err(|_| StoreError::Committer("the committer dropped a change".into()))
    }

    async fn submit_one(&self, op: Op) -> Result<Outcome, StoreError> {
        self.submit(vec![op]).await?.pop().unwrap_or_else(|| Err(StoreError::Committer("no answer".into())))
    }

    async fn submit_flag(&self, write: LifecycleWrite) -> Result<bool, StoreError> {
        flag(self.submit_one(Op::Write(write)).await)
    }

    /// Releases a blob if unreferenced; true when it was deleted.
    pub async fn release_blob(&self, release: BlobRelease) -> Result<bool, StoreError> {
        self.submit_flag(LifecycleWrite::ReleaseBlob(release)).await
    }

    /// Applies `writes` in one transaction, with multi-row statements: one
    /// compare-and-set for all the changes, one insert of their events, one
    /// count of the released blobs' references, one release of the claims.
    /// Returns each write's outcome, in order (as [`Committer::apply`],
    /// [`Committer::release_blob`] and [`Committer::release_claim`] would);
    /// should the transaction fail, each write is applied on its own.
    pub async fn apply_many(&self, writes: Vec<LifecycleWrite>) -> Result<Vec<Result<bool, StoreError>>, StoreError> {
        let outcomes = self.submit(writes.into_iter().map(Op::Write).collect()).await?;
        Ok(outcomes.into_iter().map(flag).collect())
    }

    /// Records an upload (see [`Ingest`]): the inserted artifact and the one
    /// it replaced. [`StoreError::AlreadyExists`] or [`StoreError::Held`]
    /// when a live artifact has the key and may not be replaced.
    pub async fn ingest(&self, ingest: Ingest) -> Result<(Artifact, Option<Artifact>), StoreError> {
        match self.submit_one(Op::Ingest(Box::new(ingest))).await? {
            Outcome::Ingested(done) => Ok(*done),
            Outcome::Applied(_) => Err(StoreError::Committer("another change's answer to an ingest".into())),
        }
    }
}

fn flag(outcome: Result<Outcome, StoreError>) -> Result<bool, StoreError> {
    match outcome? {
        Outcome::Applied(applied) => Ok(applied),
        Outcome::Ingested(_) => Err(StoreError::Committer("an ingest's answer to another change".into())),
    }
}

async fn run(catalog: Catalog, tiers: Tiers, clock: SharedClock, mut rx: mpsc::Receiver<Request>) {
    let mut batch: Vec<Request> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let ops: Vec<&Op> = batch.iter().flat_map(|(ops, _)| ops).collect();
        match apply_all(&catalog, &tiers, &clock, &ops).await {
            Ok(results) => {
                let mut results = results.into_iter();
                for (ops, reply) in batch.drain(..) {
                    let _ = reply.send(results.by_ref().take(ops.len()).map(Ok).collect());
                }
            }
            // One bad change must not fail the others: apply them one by one.
            Err(_) => {
                for (ops, reply) in batch.drain(..) {
                    let mut outcomes = Vec::with_capacity(ops.len());
                    for op in &ops {
                        let result = apply_all(&catalog, &tiers, &clock, &[op]).await.and_then(|r| {
                            r.into_iter().next().ok_or_else(|| StoreError::Committer("no answer".into()))
                        });
                        outcomes.push(result);
                    }
                    let _ = reply.send(outcomes);
                }
            }
        }
    }
}

/// Applies `ops` in one transaction: uploads one by one, then every
/// lifecycle change, blob release and claim release with multi-row
/// statements. Changes come before releases, so a blob a change needs is
/// counted as referenced by the releases of the same batch.
async fn apply_all(
    catalog: &Catalog,
    tiers: &Tiers,
    clock: &SharedClock,
    ops: &[&Op],
) -> Result<Vec<Outcome>, StoreError> {
    // Every op reads and writes within its tenant's rows, blobs and chain.
    let mut tx = catalog.begin_write_in(ops.iter().filter_map(|op| op.tenant()).map(Some)).await?;
    let now = clock.now();
    let mut results: Vec<Option<Outcome>> = ops.iter().map(|_| None).collect();
    let (mut changes, mut releases, mut claims) = (Vec::new(), Vec::new(), Vec::new());
    let ingests: Vec<(usize, &Ingest)> = ops
        .iter()
        .enumerate()
        .filter_map(|(i, op)| match op {
            Op::Ingest(ingest) => Some((i, ingest.as_ref())),
            Op::Write(_) => None,
        })
        .collect();
    for ((i, _), done) in ingests.iter().zip(ingest_all(&mut tx, tiers, &ingests).await?) {
        results[*i] = Some(Outcome::Ingested(Box::new(done)));
    }
    for (i, op) in ops.iter().enumerate() {
        match op {
            Op::Ingest(_) => {}
            Op::Write(LifecycleWrite::Change(c)) => changes.push((i, c.as_ref())),
            Op::Write(LifecycleWrite::ReleaseBlob(r)) => releases.push((i, r)),
            Op::Write(LifecycleWrite::ReleaseClaim { id, token }) => claims.push((Some(i), *id, token.as_str())),
        }
    }
    // Blobs are only released under this write lock: a copy still present
    // now stays until the change below references it.
    let mut checks = Vec::new();
    for (_, c) in &changes {
        if let Some(blob) = &c.ensure_blob {
            checks.push(ensure_blob(tiers, &c.artifact, blob));
        }
    }
    futures::stream::iter(checks).buffer_unordered(FILE_OPS).try_collect::<()>().await?;
    let saves: Vec<Save> = changes
        .iter()
        .map(|(_, c)| Save { artifact: &c.artifact, expected_generation: c.expected_generation, token: Some(&c.token) })
        .collect();
    let saved = tx.save_many(&saves, now).await?;
    let events: Vec<EventRow> = changes
        .iter()
        .zip(&saved)
        .filter(|(_, saved)| **saved)
        .map(|((_, c), _)| EventRow { tenant: None, artifact: Some(&c.artifact), event: &c.event, at: None })
        .collect();
    tx.append_events(now, &events).await?;
    for ((i, c), saved) in changes.iter().zip(saved) {
        results[*i] = Some(Outcome::Applied(saved));
        if c.release_claim {
            claims.push((None, c.artifact.id, c.token.as_str()));
        }
    }
    let blobs: Vec<(&TenantId, &str, Tier)> =
        releases.iter().map(|(_, r)| (&r.tenant, r.blake3.as_str(), r.tier)).collect();
    let refs = tx.blob_refs_many(&blobs).await?;
    let mut deletions = Vec::new();
    for ((_, r), refs) in releases.iter().zip(&refs) {
        if *refs == 0 {
            deletions.push(delete_blob(tiers, r));
        }
    }
    futures::stream::iter(deletions).buffer_unordered(FILE_OPS).try_collect::<()>().await?;
    for ((i, r), refs) in releases.iter().zip(refs) {
        if let Some((id, token)) = &r.claim {
            claims.push((None, *id, token.as_str()));
        }
        results[*i] = Some(Outcome::Applied(refs == 0));
    }
    let pairs: Vec<(i64, &str)> = claims.iter().map(|(_, id, token)| (*id, *token)).collect();
    let released = tx.release_many(&pairs).await?;
    for ((i, _, _), released) in claims.iter().zip(released) {
        if let Some(i) = i {
            results[*i] = Some(Outcome::Applied(released));
        }
    }
    tx.commit().await?;
    results.into_iter().map(|r| r.ok_or_else(|| StoreError::Committer("an op without an outcome".into()))).collect()
}

/// Makes sure the blob a change needs is in its tier: a copy written before
/// the transaction, copied again from its source if a concurrent release
/// removed it.
async fn ensure_blob(tiers: &Tiers, a: &Artifact, blob: &EnsureBlob) -> Result<(), StoreError> {
    let dest = BlobRef { tenant: &a.tenant, blake3: &a.blake3, codec: blob.codec };
    if !tiers.exists(blob.tier, &dest).await? {
        let source = BlobRef { codec: blob.from_codec, ..dest.clone() };
        tiers.copy_verified(blob.from_tier, &source, blob.tier, blob.codec, a.size).await?;
    }
    Ok(())
}

/// Deletes a released blob that nothing references any more.
async fn delete_blob(tiers: &Tiers, r: &BlobRelease) -> Result<(), StoreError> {
    Ok(tiers.delete(r.tier, &BlobRef { tenant: &r.tenant, blake3: &r.blake3, codec: r.codec }).await?)
}

/// Records uploads in `tx`, as [`record_ingest`] would one after the
/// other, with multi-row statements: one read of the live rows at their
/// keys, one compare-and-set of the rows they replace, one insert, one
/// insert of the events. Uploads to the same key in one batch are recorded
/// one by one, in order. Any upload that may not be recorded fails the call
/// (the committer then records each upload on its own).
async fn ingest_all(
    tx: &mut WriteTx,
    tiers: &Tiers,
    ingests: &[(usize, &Ingest)],
) -> Result<Vec<(Artifact, Option<Artifact>)>, StoreError> {
    let keys: Vec<ArtifactKey> = ingests.iter().map(|(_, op)| op.artifact.key()).collect();
    let distinct: std::collections::HashSet<&ArtifactKey> = keys.iter().collect();
    if ingests.len() < 2 || distinct.len() < keys.len() {
        let mut done = Vec::with_capacity(ingests.len());
        for (_, op) in ingests {
            done.push(record_ingest(tx, tiers, op).await?);
        }
        return Ok(done);
    }
    let live = tx.find_live_many(&keys).await?;
    let mut replaced = Vec::with_capacity(ingests.len());
    for ((key, old), (_, op)) in keys.iter().zip(live).zip(ingests) {
        replaced.push(match old {
            Some(_) if !op.overwrite => return Err(StoreError::AlreadyExists(key.clone())),
            Some(old) if old.held => return Err(StoreError::Held(key.clone())),
            old => old,
        });
    }
    let tombs: Vec<(Artifact, DateTime<Utc>, i64)> = replaced
        .iter()
        .zip(ingests)
        .filter_map(|(old, (_, op))| old.as_ref().map(|old| (old, op.artifact.created_at)))
        .map(|(old, at)| (Artifact { state: State::Purged, next_due_at: None, ..old.clone() }, at, old.generation))
        .collect();
    // A replaced row is tombstoned at its replacement's instant.
    for (tomb, at, generation) in &tombs {
        let saves = [Save { artifact: tomb, expected_generation: *generation, token: None }];
        tx.save_many(&saves, *at).await?;
    }
    let rows: Vec<&Artifact> = ingests.iter().map(|(_, op)| &op.artifact).collect();
    let inserted = tx.insert_artifacts(&rows).await?;
    let mut events = Vec::with_capacity(3 * ingests.len());
    for ((old, new), (_, op)) in replaced.iter().zip(&inserted).zip(ingests) {
        if let Some(old) = old {
            let data = json!({ "blake3": old.blake3, "size": old.size });
            events.push((old, NewEvent::new(EventKind::Overwritten, &op.actor, data), op.artifact.created_at));
        }
        let [ingested, applied] = ingest_events(new, &op.actor);
        events.push((new, ingested, op.artifact.created_at));
        events.push((new, applied, op.artifact.created_at));
    }
    let rows: Vec<EventRow> = events
        .iter()
        .map(|(a, event, at)| EventRow { tenant: None, artifact: Some(a), event, at: Some(*at) })
        .collect();
    tx.append_events(ingests[0].1.artifact.created_at, &rows).await?;
    let mut settles = Vec::with_capacity(ingests.len());
    for ((_, op), key) in ingests.iter().zip(&keys) {
        settles.push(async move { tiers.settle(&op.landing, &key.tenant).await });
    }
    futures::stream::iter(settles).buffer_unordered(FILE_OPS).try_collect::<()>().await?;
    Ok(inserted.into_iter().zip(replaced).collect())
}

/// The `ingested` and `retention.default_applied` events of a new artifact.
fn ingest_events(inserted: &Artifact, actor: &str) -> [NewEvent; 2] {
    let event = NewEvent::new(
        EventKind::Ingested,
        actor,
        json!({
            "size": inserted.size,
            "blake3": inserted.blake3,
            "sha256": inserted.sha256,
            "tier": inserted.tier,
            "class": inserted.class,
            "expires_at": inserted.expires_at,
        }),
    );
    let rule = match &inserted.class {
        Some(class) => format!("class {class}"),
        None => format!("plan {}", inserted.plan),
    };
    let applied = NewEvent::new(
        EventKind::RetentionDefaultApplied,
        actor,
        json!({ "rule": rule, "class": inserted.class, "plan": inserted.plan, "expires_at": inserted.expires_at }),
    );
    [event, applied]
}

/// Records an upload in `tx`: the new row with its `ingested` and
/// `retention.default_applied` events, replacing (tombstoning) a live row of
/// the same key when overwriting. The landed bytes are settled last, under
/// the write lock, so no concurrent blob release can delete the address
/// between that and the commit. Returns the inserted artifact and the one
/// it replaced.
pub(crate) async fn record_ingest(
    tx: &mut WriteTx,
    tiers: &Tiers,
    op: &Ingest,
) -> Result<(Artifact, Option<Artifact>), StoreError> {
    let (artifact, overwrite, actor) = (&op.artifact, op.overwrite, op.actor.as_str());
    let key = artifact.key();
    let now = artifact.created_at;
    let replaced = match tx.find_live(&key).await? {
        Some(_) if !overwrite => return Err(StoreError::AlreadyExists(key)),
        Some(old) if old.held => return Err(StoreError::Held(key)),
        Some(old) => {
            let tomb = Artifact { state: State::Purged, next_due_at: None, ..old.clone() };
            tx.save(&tomb, old.generation, None, now).await?;
            let event = NewEvent::new(EventKind::Overwritten, actor, json!({ "blake3": old.blake3, "size": old.size }));
            tx.append_event(now, None, Some(&old), &event).await?;
            Some(old)
        }
        None => None,
    };
    let inserted = tx.insert_artifact(artifact).await?;
    let [event, applied] = ingest_events(&inserted, actor);
    let rows = [&event, &applied].map(|event| EventRow { tenant: None, artifact: Some(&inserted), event, at: None });
    tx.append_events(now, &rows).await?;
    tiers.settle(&op.landing, &key.tenant).await?;
    Ok((inserted, replaced))
}
