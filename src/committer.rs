//! Group commit for lifecycle changes and uploads. Handlers and puts hand
//! their catalog changes (a compare-and-set with its event, a blob release, a
//! claim release, a new artifact) to one committer task, which applies every
//! change waiting at that moment in a single write transaction. Each change
//! keeps its own semantics; only the commit is shared, so a burst of jobs or
//! uploads costs one synced commit, not one each.

use crate::artifact::{Artifact, Codec, State, Tier};
use crate::catalog::{Catalog, EventRow, WriteTx};
use crate::clock::SharedClock;
use crate::event::{EventKind, NewEvent};
use crate::id::TenantId;
use crate::store::StoreError;
use crate::tiers::{BlobRef, Landing, Tiers};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

/// Most changes applied in one transaction.
const MAX_BATCH: usize = 512;

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

#[derive(Debug)]
enum Op {
    Change(Box<Change>),
    ReleaseBlob(BlobRelease),
    ReleaseClaim { id: i64, token: String },
    Ingest(Box<Ingest>),
}

impl Op {
    /// The tenant whose rows the op reads before it writes (a claim release
    /// is a compare-and-set alone).
    fn tenant(&self) -> Option<&TenantId> {
        match self {
            Op::Change(c) => Some(&c.artifact.tenant),
            Op::ReleaseBlob(r) => Some(&r.tenant),
            Op::Ingest(i) => Some(&i.artifact.tenant),
            Op::ReleaseClaim { .. } => None,
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

type Request = (Op, oneshot::Sender<Result<Outcome, StoreError>>);

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

    async fn submit(&self, op: Op) -> Result<Outcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx.send((op, reply)).await.map_err(|_| StoreError::Committer("the committer has stopped".into()))?;
        answer.await.map_err(|_| StoreError::Committer("the committer dropped a change".into()))?
    }

    async fn submit_flag(&self, op: Op) -> Result<bool, StoreError> {
        match self.submit(op).await? {
            Outcome::Applied(applied) => Ok(applied),
            Outcome::Ingested(_) => Err(StoreError::Committer("an ingest's answer to another change".into())),
        }
    }

    /// Applies a change; false when the row no longer matches (nothing changed).
    pub async fn apply(&self, change: Change) -> Result<bool, StoreError> {
        self.submit_flag(Op::Change(Box::new(change))).await
    }

    /// Releases a blob if unreferenced; true when it was deleted.
    pub async fn release_blob(&self, release: BlobRelease) -> Result<bool, StoreError> {
        self.submit_flag(Op::ReleaseBlob(release)).await
    }

    /// Ends a job's claim on an artifact; false when it no longer held it.
    pub async fn release_claim(&self, id: i64, token: &str) -> Result<bool, StoreError> {
        self.submit_flag(Op::ReleaseClaim { id, token: token.to_owned() }).await
    }

    /// Records an upload (see [`Ingest`]): the inserted artifact and the one
    /// it replaced. [`StoreError::AlreadyExists`] or [`StoreError::Held`]
    /// when a live artifact has the key and may not be replaced.
    pub async fn ingest(&self, ingest: Ingest) -> Result<(Artifact, Option<Artifact>), StoreError> {
        match self.submit(Op::Ingest(Box::new(ingest))).await? {
            Outcome::Ingested(done) => Ok(*done),
            Outcome::Applied(_) => Err(StoreError::Committer("another change's answer to an ingest".into())),
        }
    }
}

async fn run(catalog: Catalog, tiers: Tiers, clock: SharedClock, mut rx: mpsc::Receiver<Request>) {
    let mut batch: Vec<Request> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let ops: Vec<&Op> = batch.iter().map(|(op, _)| op).collect();
        match apply_all(&catalog, &tiers, &clock, &ops).await {
            Ok(results) => {
                for ((_, reply), result) in batch.drain(..).zip(results) {
                    let _ = reply.send(Ok(result));
                }
            }
            // One bad change must not fail the others: apply them one by one.
            Err(_) => {
                for (op, reply) in batch.drain(..) {
                    let result = apply_all(&catalog, &tiers, &clock, &[&op])
                        .await
                        .and_then(|r| r.into_iter().next().ok_or_else(|| StoreError::Committer("no answer".into())));
                    let _ = reply.send(result);
                }
            }
        }
    }
}

async fn apply_all(
    catalog: &Catalog,
    tiers: &Tiers,
    clock: &SharedClock,
    ops: &[&Op],
) -> Result<Vec<Outcome>, StoreError> {
    // Every op reads and writes within its tenant's rows, blobs and chain.
    let mut tx = catalog.begin_write_in(ops.iter().filter_map(|op| op.tenant()).map(Some)).await?;
    let mut results = Vec::with_capacity(ops.len());
    for op in ops {
        results.push(apply_one(&mut tx, tiers, clock, op).await?);
    }
    tx.commit().await?;
    Ok(results)
}

async fn apply_one(tx: &mut WriteTx, tiers: &Tiers, clock: &SharedClock, op: &Op) -> Result<Outcome, StoreError> {
    match op {
        Op::Ingest(ingest_op) => ingest(tx, tiers, ingest_op).await,
        Op::Change(c) => {
            let a = &c.artifact;
            if let Some(blob) = &c.ensure_blob {
                // Blobs are only released under this write lock: a copy still
                // present now stays until the change below references it.
                let dest = BlobRef { tenant: &a.tenant, blake3: &a.blake3, codec: blob.codec };
                if !tiers.exists(blob.tier, &dest).await? {
                    let source = BlobRef { codec: blob.from_codec, ..dest.clone() };
                    tiers.copy_verified(blob.from_tier, &source, blob.tier, blob.codec, a.size).await?;
                }
            }
            let saved = tx.save(a, c.expected_generation, Some(&c.token), clock.now()).await?;
            if saved {
                tx.append_event(clock.now(), None, Some(a), &c.event).await?;
            }
            if c.release_claim {
                tx.release(a.id, &c.token).await?;
            }
            Ok(Outcome::Applied(saved))
        }
        Op::ReleaseBlob(r) => {
            let unreferenced = tx.blob_refs(&r.tenant, &r.blake3, r.tier).await? == 0;
            if unreferenced {
                tiers.delete(r.tier, &BlobRef { tenant: &r.tenant, blake3: &r.blake3, codec: r.codec }).await?;
            }
            if let Some((id, token)) = &r.claim {
                tx.release(*id, token).await?;
            }
            Ok(Outcome::Applied(unreferenced))
        }
        Op::ReleaseClaim { id, token } => Ok(Outcome::Applied(tx.release(*id, token).await?)),
    }
}

/// Records an upload in `tx`: the new row with its `ingested` and
/// `retention.default_applied` events, replacing (tombstoning) a live row of
/// the same key when overwriting. The landed bytes are settled last, under
/// the write lock, so no concurrent blob release can delete the address
/// between that and the commit.
async fn ingest(tx: &mut WriteTx, tiers: &Tiers, op: &Ingest) -> Result<Outcome, StoreError> {
    record_ingest(tx, tiers, op).await.map(|done| Outcome::Ingested(Box::new(done)))
}

/// [`ingest`]'s work: the inserted artifact and the one it replaced.
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
    let rows = [&event, &applied].map(|event| EventRow { tenant: None, artifact: Some(&inserted), event });
    tx.append_events(now, &rows).await?;
    tiers.settle(&op.landing, &key.tenant).await?;
    Ok((inserted, replaced))
}
