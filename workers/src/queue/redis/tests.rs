use super::*;
use chrono::Utc;
use redis::AsyncCommands;
use std::sync::Arc;
use std::sync::Mutex;
use strata_core::clock::ManualClock;
use strata_core::clock::SharedClock;
use strata_queue::NewJob;
use strata_testkit::proxy::{Claim, RedisProxy};
use strata_testkit::redis_url;

#[tokio::test]
async fn passes_the_shared_queue_suite() {
    let Some(url) = redis_url("queue::redis::tests::passes_the_shared_queue_suite") else { return };
    let prefixes = Mutex::new(Vec::new());
    strata_queue::suite::run_all(|retention| {
        let url = url.clone();
        let prefix = format!("strata-test-{}", uuid::Uuid::new_v4().simple());
        prefixes.lock().unwrap().push(prefix.clone());
        async move {
            let clock = ManualClock::new(Utc::now());
            let q = RedisQueue::connect(&url, &prefix, Arc::new(clock.clone())).await.unwrap();
            let q: Box<dyn Queue> = Box::new(q.with_retention(retention));
            (q, clock)
        }
    })
    .await;
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    for prefix in prefixes.into_inner().unwrap() {
        let keys: Vec<String> = con.keys(format!("{prefix}:*")).await.unwrap();
        if !keys.is_empty() {
            let _: () = con.del(keys).await.unwrap();
        }
    }
}

/// What a backend must do under the worker pool: one fresh prefix, removed after.
#[tokio::test]
async fn passes_the_pool_checks() {
    let Some(url) = redis_url("queue::redis::tests::passes_the_pool_checks") else { return };
    let prefix = format!("strata-test-{}", uuid::Uuid::new_v4().simple());
    let clock = ManualClock::new(Utc::now());
    let q = RedisQueue::connect(&url, &prefix, Arc::new(clock.clone())).await.unwrap();
    crate::queue::pool_suite::a_job_whose_lease_keeps_expiring_is_dead_lettered(Arc::new(q), &clock).await;
    let mut con = redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = con.keys(format!("{prefix}:*")).await.unwrap();
    if !keys.is_empty() {
        let _: () = con.del(keys).await.unwrap();
    }
}

#[tokio::test]
async fn a_lane_whose_data_was_lost_is_read_again() {
    let Some(url) = redis_url("queue::redis::tests::a_lane_whose_data_was_lost_is_read_again") else { return };
    let prefix = format!("strata-test-{}", uuid::Uuid::new_v4().simple());
    let clock = ManualClock::new(Utc::now());
    let q = RedisQueue::connect(&url, &prefix, Arc::new(clock)).await.unwrap();
    let lanes = vec!["default".to_owned()];
    let job = |n: u32| NewJob { lane: "default".into(), kind: "scan".into(), payload: n.to_string() };
    q.enqueue(&[job(1)]).await.unwrap();
    let first = q.fetch(&lanes, 10, Duration::from_secs(30)).await.unwrap();
    q.ack(&first).await.unwrap();
    // Redis restarts without its data: the stream and its group are gone.
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let wipe = |mut con: redis::aio::MultiplexedConnection| {
        let pattern = format!("{prefix}:*");
        async move {
            let keys: Vec<String> = con.keys(pattern).await.unwrap();
            if !keys.is_empty() {
                let _: () = con.del(keys).await.unwrap();
            }
        }
    };
    wipe(con.clone()).await;
    q.enqueue(&[job(2)]).await.unwrap();
    let again = q.fetch(&lanes, 10, Duration::from_secs(30)).await.unwrap();
    assert_eq!(again.iter().map(|d| d.payload.as_str()).collect::<Vec<_>>(), ["2"]);
    q.ack(&again).await.unwrap();
    assert_eq!(q.stats().await.unwrap()[0].pending(), 0);
    wipe(con.clone()).await;
    let _: () = redis::cmd("PING").query_async(&mut con).await.unwrap();
}

#[test]
fn passwords_never_reach_messages() {
    assert_eq!(redact("redis://:s3cret@db:6379/0"), "redis://:***@db:6379/0");
    assert_eq!(redact("redis://app:s3cret@db:6379"), "redis://app:***@db:6379");
    assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
}

#[tokio::test]
async fn an_unreachable_redis_fails_fast_naming_the_url() {
    let clock: SharedClock = Arc::new(ManualClock::new(Utc::now()));
    let err = RedisQueue::connect("redis://127.0.0.1:1/", "strata", clock).await.unwrap_err();
    assert!(err.to_string().contains("redis://127.0.0.1:1/"), "{err}");
}

#[tokio::test]
async fn a_redis_older_than_7_is_refused_naming_its_version_and_url() {
    let Some(url) = redis_url("queue::redis::tests::a_redis_older_than_7_is_refused_naming_its_version_and_url") else {
        return;
    };
    let prefix = format!("strata-test-{}", uuid::Uuid::new_v4().simple());
    let clock: SharedClock = Arc::new(ManualClock::new(Utc::now()));
    // Through the proxy, unchanged, the real Redis is accepted and answers.
    let actual = RedisProxy::start(&url, Claim::Actual).unwrap();
    let q = RedisQueue::connect(actual.url(), &prefix, clock.clone()).await.unwrap();
    assert!(q.stats().await.unwrap().iter().all(|lane| lane.pending() == 0));
    drop(q);
    assert_eq!(actual.rewrites(), []);

    let older = RedisProxy::start(&url, Claim::Redis62).unwrap();
    let Err(err) = RedisQueue::connect(older.url(), &prefix, clock).await else { panic!("Redis 6.2 was accepted") };
    let rewrites = older.rewrites();
    let claimed = &rewrites.first().expect("the proxy rewrote the version").claimed;
    assert!(claimed.starts_with("6.2."), "{rewrites:?}");
    let QueueError::Backend(message) = &err else { panic!("not a backend error: {err:?}") };
    assert_eq!(
        *message,
        format!("Redis at {} is version {claimed}; strata needs Redis 7.0 or later", redact(older.url()))
    );
}
