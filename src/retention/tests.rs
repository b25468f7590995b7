use super::*;
use crate::catalog::{EventFilter, HoldTerms, Principal};
use crate::clock::{Clock, ManualClock, to_millis};
use crate::config::Config;
use chrono::Duration;
use std::sync::Arc;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    clock: ManualClock,
    tenant: TenantId,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Utc::now());
    let store = Store::open(dir.path(), Config::default(), Arc::new(clock.clone())).await.unwrap();
    let tenant = TenantId::parse("acme").unwrap();
    store.add_tenant(&tenant, "free", "test").await.unwrap();
    Fixture { _dir: dir, store, clock, tenant }
}

async fn refusals(store: &Store) -> Vec<String> {
    let filter = EventFilter { kind: Some("hold_release_refused".into()), ..EventFilter::default() };
    let events = store.catalog.events(&filter).await.unwrap();
    events.iter().map(|e| e.data["refused"].as_str().unwrap_or_default().to_owned()).collect()
}

#[tokio::test]
async fn a_compliance_hold_is_released_by_nobody_before_its_date() {
    let f = fixture().await;
    let target = Target::Tenant(f.tenant.clone());
    let until = f.clock.now() + Duration::days(10);
    let terms = HoldTerms { reason: "regulator".into(), owner: Principal::Operator, until: Some(until) };
    let hold = f.store.place_hold_on(&target, &terms, "legal").await.unwrap();
    assert_eq!(hold.until.map(to_millis), Some(to_millis(until)));

    let release = || f.store.release_hold(&target, hold.id, "early", "ops", &Principal::Operator);
    let err = release().await.unwrap_err();
    assert!(matches!(err, StoreError::Hold(HoldError::Locked { .. })), "{err}");
    f.clock.advance(Duration::days(10) - Duration::seconds(1));
    let err = release().await.unwrap_err();
    assert!(
        matches!(err, StoreError::Hold(HoldError::Locked { .. })),
        "one second before its date it still holds: {err}"
    );
    assert_eq!(refusals(&f.store).await, ["locked", "locked"]);
    let active = f.store.catalog.holds(Some(&f.tenant), false).await.unwrap();
    assert_eq!(active.len(), 1, "a refused release changes nothing");

    f.clock.advance(Duration::seconds(1));
    let released = release().await.unwrap();
    assert!(released.released_at.is_some());
    assert!(f.store.catalog.holds(Some(&f.tenant), false).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_tenant_releases_only_its_own_holds_even_after_a_compliance_date() {
    let f = fixture().await;
    let target = Target::Tenant(f.tenant.clone());
    let tenant = Principal::Tenant(f.tenant.clone());
    let until = f.clock.now() + Duration::days(1);
    let operator = HoldTerms { reason: "case 7".into(), owner: Principal::Operator, until: Some(until) };
    let ours = HoldTerms { reason: "our audit".into(), owner: tenant.clone(), until: Some(until) };
    let operator = f.store.place_hold_on(&target, &operator, "ops").await.unwrap();
    let ours = f.store.place_hold_on(&target, &ours, "api:acme").await.unwrap();
    assert_eq!(ours.owner, tenant);
    f.clock.advance(Duration::days(2));

    let err = f.store.release_hold(&target, operator.id, "mine now", "api:acme", &tenant).await.unwrap_err();
    assert!(matches!(err, StoreError::Hold(HoldError::NotOwner { .. })), "{err}");
    f.store.release_hold(&target, ours.id, "done", "api:acme", &tenant).await.unwrap();
    f.store.release_hold(&target, operator.id, "closed", "ops", &Principal::Operator).await.unwrap();
    assert_eq!(refusals(&f.store).await, ["not_owner"]);
}

#[tokio::test]
async fn holds_need_a_date_ahead_and_their_own_tenant() {
    let f = fixture().await;
    let target = Target::Tenant(f.tenant.clone());
    let now = f.clock.now();
    for until in [now, now - Duration::days(1), now + Duration::days(MAX_COMPLIANCE_DAYS + 1)] {
        let terms = HoldTerms { reason: "r".into(), owner: Principal::Operator, until: Some(until) };
        let err = f.store.place_hold_on(&target, &terms, "ops").await.unwrap_err();
        assert!(matches!(err, StoreError::Hold(HoldError::BadDate { .. })), "{err}");
    }
    let stranger = HoldTerms::legal("r");
    let stranger = HoldTerms { owner: Principal::Tenant(TenantId::parse("globex").unwrap()), ..stranger };
    let err = f.store.place_hold_on(&target, &stranger, "api:globex").await.unwrap_err();
    assert!(matches!(err, StoreError::UnknownTenant(_)), "{err}");
    assert!(f.store.catalog.holds(None, true).await.unwrap().is_empty());
}

#[tokio::test]
async fn with_tenant_holds_off_a_tenant_places_none_but_releases_its_own() {
    let f = fixture().await;
    let target = Target::Tenant(f.tenant.clone());
    let tenant = Principal::Tenant(f.tenant.clone());
    let terms = HoldTerms { owner: tenant.clone(), ..HoldTerms::legal("ours") };
    let ours = f.store.place_hold_on(&target, &terms, "api:acme").await.unwrap();
    let Fixture { _dir: dir, store, clock, .. } = f;
    drop(store);
    let mut config = Config::default();
    config.retention.tenant_holds = false;
    let store = Store::open(dir.path(), config, Arc::new(clock)).await.unwrap();
    let err = store.place_hold_on(&target, &terms, "api:acme").await.unwrap_err();
    assert!(matches!(err, StoreError::Hold(HoldError::TenantHoldsDisabled)), "{err}");
    store.release_hold(&target, ours.id, "done", "api:acme", &tenant).await.unwrap();
    store.place_hold_on(&target, &HoldTerms::legal("operator's"), "ops").await.unwrap();
}
