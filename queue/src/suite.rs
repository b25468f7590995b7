//! The behavioural suite every queue backend must pass. Each check takes a
//! fresh queue and the manual clock that queue reads, so time is stepped,
//! never slept through. What a backend must do under the worker pool is
//! checked where the pool lives (`strata-workers`).

#![allow(clippy::unwrap_used, reason = "a behavioural check stops at its first failure")]

use crate::{DeadFilter, DeadLetterRetention, Failure, NewJob, Queue, QueueError};
use chrono::Duration as ChronoDuration;
use std::time::Duration;
use strata_core::clock::{Clock, ManualClock};

const VIS: Duration = Duration::from_secs(30);

fn jobs(lane: &str, n: usize) -> Vec<NewJob> {
    (0..n).map(|i| NewJob { lane: lane.into(), kind: "scan".into(), payload: format!("{{\"n\":{i}}}") }).collect()
}

fn lanes(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

async fn total_pending(q: &dyn Queue) -> u64 {
    q.stats().await.unwrap().iter().map(|s| s.pending()).sum()
}

/// Batched enqueue, fetch in batches, ack: everything delivered once, then gone.
pub async fn enqueue_fetch_ack(q: &dyn Queue, _clock: &ManualClock) {
    assert_eq!(q.enqueue(&jobs("default", 1200)).await.unwrap(), 1200);
    let s = q.stats().await.unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!((s[0].waiting, s[0].in_flight), (1200, 0));
    let mut seen = std::collections::HashSet::new();
    loop {
        let batch = q.fetch(&lanes(&["default"]), 256, VIS).await.unwrap();
        if batch.is_empty() {
            break;
        }
        assert!(batch.len() <= 256);
        for d in &batch {
            assert_eq!(d.attempts, 1);
            assert!(seen.insert(d.payload.clone()), "delivered twice: {}", d.payload);
        }
        q.ack(&batch).await.unwrap();
    }
    assert_eq!(seen.len(), 1200);
    assert_eq!(total_pending(q).await, 0);
}

/// An expired lease makes the job fetchable again with one more attempt, and
/// the old holder's ack is ignored.
pub async fn expired_lease_is_redelivered(q: &dyn Queue, clock: &ManualClock) {
    q.enqueue(&jobs("default", 1)).await.unwrap();
    let first = q.fetch(&lanes(&["default"]), 10, VIS).await.unwrap();
    assert_eq!(first.len(), 1);
    assert!(q.fetch(&lanes(&["default"]), 10, VIS).await.unwrap().is_empty(), "leased job must not be fetched again");
    assert_eq!(q.stats().await.unwrap()[0].in_flight, 1);
    clock.advance(ChronoDuration::seconds(31));
    let second = q.fetch(&lanes(&["default"]), 10, VIS).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].attempts, 2);
    q.ack(&first).await.unwrap();
    assert_eq!(total_pending(q).await, 1, "a lost lease's ack must not delete the job");
    q.ack(&second).await.unwrap();
    assert_eq!(total_pending(q).await, 0);
}

/// When another worker takes over only part of an expired fetch, the old
/// holder's ack and failure of what it lost are ignored, even after it
/// extended what it still holds.
pub async fn a_partial_take_over_refuses_the_stale_ack(q: &dyn Queue, clock: &ManualClock) {
    q.enqueue(&jobs("default", 3)).await.unwrap();
    let first = q.fetch(&lanes(&["default"]), 3, VIS).await.unwrap();
    assert_eq!(first.len(), 3);
    clock.advance(ChronoDuration::seconds(31));
    let taken = q.fetch(&lanes(&["default"]), 1, VIS).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].attempts, 2);
    let lost = first.iter().find(|d| d.payload == taken[0].payload).unwrap();
    let kept: Vec<_> = first.iter().filter(|d| d.payload != taken[0].payload).cloned().collect();
    // Extending what it still holds may revive the expired lease (a backend
    // may extend a whole fetch): the lost job's ack must be refused anyway.
    q.extend(&kept[0], VIS).await.unwrap();
    assert!(!q.extend(lost, VIS).await.unwrap(), "not what it lost");
    q.ack(std::slice::from_ref(lost)).await.unwrap();
    assert_eq!(total_pending(q).await, 3, "the lost job's ack must not delete it");
    q.fail(lost, "stale", Failure::Dead).await.unwrap();
    assert!(q.dead_letters(&DeadFilter::default(), 10).await.unwrap().is_empty(), "nor its failure");
    q.ack(&taken).await.unwrap();
    assert_eq!(total_pending(q).await, 2);
    clock.advance(ChronoDuration::seconds(31));
    let rest = q.fetch(&lanes(&["default"]), 10, VIS).await.unwrap();
    assert_eq!(rest.len(), kept.len());
    q.ack(&rest).await.unwrap();
    assert_eq!(total_pending(q).await, 0);
}

/// A long job extends its lease and keeps it.
pub async fn extend_keeps_the_lease(q: &dyn Queue, clock: &ManualClock) {
    q.enqueue(&jobs("default", 1)).await.unwrap();
    let d = q.fetch(&lanes(&["default"]), 1, VIS).await.unwrap();
    clock.advance(ChronoDuration::seconds(20));
    assert!(q.extend(&d[0], VIS).await.unwrap());
    clock.advance(ChronoDuration::seconds(20));
    assert!(q.fetch(&lanes(&["default"]), 1, VIS).await.unwrap().is_empty());
    q.ack(&d).await.unwrap();
    assert_eq!(total_pending(q).await, 0);
}

/// A retry waits out its delay, counted as delayed meanwhile.
pub async fn retry_is_delayed(q: &dyn Queue, clock: &ManualClock) {
    q.enqueue(&jobs("default", 1)).await.unwrap();
    let d = q.fetch(&lanes(&["default"]), 1, VIS).await.unwrap();
    q.fail(&d[0], "transient", Failure::Retry(Duration::from_secs(10))).await.unwrap();
    let s = &q.stats().await.unwrap()[0];
    assert_eq!((s.waiting, s.in_flight, s.delayed), (0, 0, 1));
    assert!(q.fetch(&lanes(&["default"]), 1, VIS).await.unwrap().is_empty());
    clock.advance(ChronoDuration::seconds(10));
    let again = q.fetch(&lanes(&["default"]), 1, VIS).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    q.ack(&again).await.unwrap();
}

/// A transient retry waits out its delay like a retry but gives its attempt
/// back; the first failure's time is kept across retries and cleared when
/// the job is retried from the dead letters.
pub async fn transient_retry_keeps_attempts_and_first_failure(q: &dyn Queue, clock: &ManualClock) {
    q.enqueue(&jobs("default", 1)).await.unwrap();
    let d = q.fetch(&lanes(&["default"]), 1, VIS).await.unwrap();
    assert_eq!((d[0].attempts, d[0].first_failed_at), (1, None));
    let first = clock.now();
    q.fail(&d[0], "tier down", Failure::Transient(Duration::from_secs(5))).await.unwrap();
    assert_eq!(q.stats().await.unwrap()[0].delayed, 1);
    clock.advance(ChronoDuration::seconds(5));
    let d = q.fetch(&lanes(&["default"]), 1, VIS).await.unwrap();
    assert_eq!(d[0].attempts, 1, "a transient failure does not spend an attempt");
    let millis = |t: chrono::DateTime<chrono::Utc>| t.timestamp_millis();
    assert_eq!(d[0].first_failed_at.map(millis), Some(millis(first)));
    q.fail(&d[0], "bad", Failure::Retry(Duration::ZERO)).await.unwrap();
    clock.advance(ChronoDuration::seconds(1));
    let d = q.fetch(&lanes(&["default"]), 1, VIS).await.unwrap();
    assert_eq!(d[0].attempts, 2);
    assert_eq!(d[0].first_failed_at.map(millis), Some(millis(first)), "kept from the first failure");
    q.fail(&d[0], "dead", Failure::Dead).await.unwrap();
    assert_eq!(q.retry_dead(&DeadFilter::default()).await.unwrap(), 1);
    let d = q.fetch(&lanes(&["default"]), 1, VIS).await.unwrap();
    assert_eq!((d[0].attempts, d[0].first_failed_at), (1, None), "a retried dead letter starts afresh");
    q.ack(&d).await.unwrap();
    assert_eq!(total_pending(q).await, 0);
}

/// Dead letters keep their error and times; retry and discard work by id,
/// by filter and for all.
pub async fn dead_letters_list_retry_discard(q: &dyn Queue, clock: &ManualClock) {
    q.enqueue(&jobs("default", 3)).await.unwrap();
    let d = q.fetch(&lanes(&["default"]), 3, VIS).await.unwrap();
    for (i, delivery) in d.iter().enumerate() {
        q.fail(delivery, &format!("boom {i}"), Failure::Dead).await.unwrap();
    }
    let dead = q.dead_letters(&DeadFilter::default(), 100).await.unwrap();
    assert_eq!(dead.len(), 3);
    assert_eq!(dead[0].last_error, "boom 0");
    assert_eq!(dead[0].attempts, 1);
    assert!(dead[0].first_failed_at.is_some() && dead[0].last_failed_at.is_some());
    assert_eq!(q.stats().await.unwrap()[0].dead, 3);

    let one = DeadFilter { id: Some(dead[0].id.clone()), ..DeadFilter::default() };
    assert_eq!(q.retry_dead(&one).await.unwrap(), 1);
    let back = q.fetch(&lanes(&["default"]), 10, VIS).await.unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].attempts, 1, "a retried dead letter starts its attempts afresh");
    q.ack(&back).await.unwrap();

    let by_kind = DeadFilter { kind: Some("scan".into()), ..DeadFilter::default() };
    assert_eq!(q.dead_letters(&by_kind, 100).await.unwrap().len(), 2);
    let other_kind = DeadFilter { kind: Some("purge".into()), ..DeadFilter::default() };
    assert_eq!(q.discard_dead(&other_kind).await.unwrap(), 0);
    assert_eq!(q.discard_dead(&DeadFilter::default()).await.unwrap(), 2);
    assert!(q.dead_letters(&DeadFilter::default(), 100).await.unwrap().is_empty());
    let unknown = q.retry_dead(&one).await;
    assert!(matches!(&unknown, Err(QueueError::NotFound(_))), "an unknown id is not found: {unknown:?}");
    for bad in ["default@junk", "junk", "default@1-x", "{x}@1-0"] {
        let bad = DeadFilter { id: Some(bad.into()), ..DeadFilter::default() };
        assert!(matches!(q.retry_dead(&bad).await, Err(QueueError::NotFound(_))), "{bad:?}");
        assert!(matches!(q.discard_dead(&bad).await, Err(QueueError::NotFound(_))), "{bad:?}");
    }
    clock.advance(ChronoDuration::seconds(1));
}

/// Dead letters page from an id, which need not exist any more.
pub async fn dead_letters_page_from_an_id(q: &dyn Queue, _clock: &ManualClock) {
    q.enqueue(&jobs("default", 5)).await.unwrap();
    for d in q.fetch(&lanes(&["default"]), 5, VIS).await.unwrap() {
        q.fail(&d, "boom", Failure::Dead).await.unwrap();
    }
    let all: Vec<String> =
        q.dead_letters(&DeadFilter::default(), 100).await.unwrap().into_iter().map(|d| d.id).collect();
    assert_eq!(all.len(), 5);
    let from = |id: &str| DeadFilter { from: Some(id.to_owned()), ..DeadFilter::default() };
    let ids = |page: Vec<crate::DeadLetter>| page.into_iter().map(|d| d.id).collect::<Vec<_>>();
    assert_eq!(ids(q.dead_letters(&from(&all[2]), 2).await.unwrap()), all[2..4]);
    let one = DeadFilter { id: Some(all[2].clone()), ..DeadFilter::default() };
    q.discard_dead(&one).await.unwrap();
    assert_eq!(ids(q.dead_letters(&from(&all[2]), 10).await.unwrap()), all[3..], "a page starts at the next one");
    assert!(matches!(q.dead_letters(&from("junk"), 10).await, Err(QueueError::NotFound(_))));
}

/// The first lane listed is served first.
pub async fn priority_lane_first(q: &dyn Queue, _clock: &ManualClock) {
    q.enqueue(&jobs("default", 5)).await.unwrap();
    q.enqueue(&jobs("priority", 2)).await.unwrap();
    let d = q.fetch(&lanes(&["priority", "default"]), 3, VIS).await.unwrap();
    let lanes_seen: Vec<&str> = d.iter().map(|d| d.lane.as_str()).collect();
    assert_eq!(lanes_seen.iter().filter(|l| **l == "priority").count(), 2);
    assert_eq!(d.len(), 3);
    assert!(q.fetch(&lanes(&["other"]), 10, VIS).await.unwrap().is_empty(), "lanes are isolated");
}

/// Released deliveries come back at once without spending an attempt.
pub async fn release_does_not_count(q: &dyn Queue, _clock: &ManualClock) {
    q.enqueue(&jobs("default", 2)).await.unwrap();
    let d = q.fetch(&lanes(&["default"]), 2, VIS).await.unwrap();
    q.release(&d).await.unwrap();
    let again = q.fetch(&lanes(&["default"]), 2, VIS).await.unwrap();
    assert_eq!(again.len(), 2);
    assert!(again.iter().all(|d| d.attempts == 1));
}

/// Ten thousand retries due at the same instant are all redelivered.
pub async fn many_delayed_retries_come_back(q: &dyn Queue, clock: &ManualClock) {
    const N: usize = 10_000;
    q.enqueue(&jobs("default", N)).await.unwrap();
    let mut fetched = Vec::new();
    loop {
        let batch = q.fetch(&lanes(&["default"]), 1000, VIS).await.unwrap();
        if batch.is_empty() {
            break;
        }
        fetched.extend(batch);
    }
    assert_eq!(fetched.len(), N);
    for d in &fetched {
        q.fail(d, "later", Failure::Retry(Duration::from_secs(60))).await.unwrap();
    }
    assert_eq!(q.stats().await.unwrap()[0].delayed, N as u64);
    clock.advance(ChronoDuration::seconds(60));
    let mut redelivered = 0;
    loop {
        let batch = q.fetch(&lanes(&["default"]), 1000, VIS).await.unwrap();
        if batch.is_empty() {
            break;
        }
        assert!(batch.iter().all(|d| d.attempts == 2));
        redelivered += batch.len();
        q.ack(&batch).await.unwrap();
    }
    assert_eq!(redelivered, N);
    assert_eq!(total_pending(q).await, 0);
}

/// Dead letters are kept by count (the newest) and by age, per lane. The
/// queue must keep at most 2 for at most an hour.
pub async fn dead_letters_are_retained_by_count_and_age(q: &dyn Queue, clock: &ManualClock) {
    q.enqueue(&jobs("default", 3)).await.unwrap();
    let d = q.fetch(&lanes(&["default"]), 3, VIS).await.unwrap();
    for (i, delivery) in d.iter().enumerate() {
        clock.advance(ChronoDuration::seconds(1));
        q.fail(delivery, &format!("boom {i}"), Failure::Dead).await.unwrap();
    }
    let dead = q.dead_letters(&DeadFilter::default(), 100).await.unwrap();
    let errors: Vec<&str> = dead.iter().map(|d| d.last_error.as_str()).collect();
    assert_eq!(errors, ["boom 1", "boom 2"], "the newest two are kept");
    clock.advance(ChronoDuration::hours(2));
    q.enqueue(&jobs("default", 1)).await.unwrap();
    let d = q.fetch(&lanes(&["default"]), 1, VIS).await.unwrap();
    q.fail(&d[0], "late", Failure::Dead).await.unwrap();
    let dead = q.dead_letters(&DeadFilter::default(), 100).await.unwrap();
    assert_eq!(dead.iter().map(|d| d.last_error.as_str()).collect::<Vec<_>>(), ["late"], "older than an hour: gone");
}

/// The retention [`dead_letters_are_retained_by_count_and_age`] expects.
pub const SMALL_RETENTION: DeadLetterRetention =
    DeadLetterRetention { max_count: 2, max_age: Duration::from_secs(3600) };

/// Runs every check against fresh queues from `make`, which builds a queue
/// with the given dead-letter retention.
pub async fn run_all<F, Fut>(make: F)
where
    F: Fn(DeadLetterRetention) -> Fut,
    Fut: std::future::Future<Output = (Box<dyn Queue>, ManualClock)>,
{
    let (q, c) = make(SMALL_RETENTION).await;
    dead_letters_are_retained_by_count_and_age(q.as_ref(), &c).await;
    let make = || make(DeadLetterRetention::default());
    let (q, c) = make().await;
    enqueue_fetch_ack(q.as_ref(), &c).await;
    let (q, c) = make().await;
    expired_lease_is_redelivered(q.as_ref(), &c).await;
    let (q, c) = make().await;
    extend_keeps_the_lease(q.as_ref(), &c).await;
    let (q, c) = make().await;
    a_partial_take_over_refuses_the_stale_ack(q.as_ref(), &c).await;
    let (q, c) = make().await;
    retry_is_delayed(q.as_ref(), &c).await;
    let (q, c) = make().await;
    transient_retry_keeps_attempts_and_first_failure(q.as_ref(), &c).await;
    let (q, c) = make().await;
    dead_letters_list_retry_discard(q.as_ref(), &c).await;
    let (q, c) = make().await;
    priority_lane_first(q.as_ref(), &c).await;
    let (q, c) = make().await;
    dead_letters_page_from_an_id(q.as_ref(), &c).await;
    let (q, c) = make().await;
    release_does_not_count(q.as_ref(), &c).await;
    let (q, c) = make().await;
    many_delayed_retries_come_back(q.as_ref(), &c).await;
}
