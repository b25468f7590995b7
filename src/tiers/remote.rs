//! Object store tiers: building an S3, Azure or GCS client from a tier's
//! location, with what its table leaves out read from the conventional
//! environment variables (`AWS_*`, `AZURE_*`, `GOOGLE_*`).

use super::error::TierError;
use crate::artifact::Tier;
use crate::config::{Backend, TierLocation};
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{Attribute, Attributes, ClientConfigKey, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};
use std::sync::Arc;

/// Opens the object store `location` names (`backend` is not local), rooted
/// at the location's path within its bucket or container.
pub(super) fn open(tier: Tier, location: &TierLocation, backend: Backend) -> Result<Arc<dyn ObjectStore>, TierError> {
    let refuse = |message: String| TierError::Open { tier, location: location.url.clone(), message };
    let url = url::Url::parse(&location.url).map_err(|e| refuse(format!("not a valid URL: {e}")))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(refuse("the URL names no bucket or container, as in s3://bucket/prefix".into()));
    }
    let retry = location.max_retries.map(|max_retries| RetryConfig { max_retries, ..RetryConfig::default() });
    let built: object_store::Result<Arc<dyn ObjectStore>> = match backend {
        Backend::Local => return Err(refuse("a local directory is not an object store".into())),
        Backend::S3 => {
            let mut b = AmazonS3Builder::from_env().with_url(&location.url);
            if let Some(v) = &location.endpoint {
                b = b.with_endpoint(v);
            }
            if let Some(v) = &location.region {
                b = b.with_region(v);
            }
            if let Some(v) = location.allow_http {
                b = b.with_allow_http(v);
            }
            if let Some(v) = &location.access_key_id {
                b = b.with_access_key_id(v);
            }
            if let Some(v) = &location.secret_access_key {
                b = b.with_secret_access_key(v.expose());
            }
            if let Some(r) = retry {
                b = b.with_retry(r);
            }
            b.build().map(|s| Arc::new(s) as _)
        }
        Backend::Azure => {
            let mut b = MicrosoftAzureBuilder::from_env().with_url(&location.url);
            if let Some(v) = &location.endpoint {
                b = b.with_endpoint(v.clone());
            }
            if let Some(v) = &location.account {
                b = b.with_account(v);
            }
            if let Some(v) = &location.access_key {
                b = b.with_access_key(v.expose());
            }
            if let Some(v) = location.allow_http {
                b = b.with_allow_http(v);
            }
            if let Some(r) = retry {
                b = b.with_retry(r);
            }
            b.build().map(|s| Arc::new(s) as _)
        }
        Backend::Gcs => {
            let mut b = GoogleCloudStorageBuilder::from_env().with_url(&location.url);
            if let Some(v) = &location.service_account_key {
                b = b.with_service_account_key(v.expose());
            }
            if let Some(v) = location.allow_http {
                b = b.with_config(GoogleConfigKey::Client(ClientConfigKey::AllowHttp), v.to_string());
            }
            if let Some(r) = retry {
                b = b.with_retry(r);
            }
            b.build().map(|s| Arc::new(s) as _)
        }
    };
    let store = built.map_err(|e| refuse(e.to_string()))?;
    let prefix = url.path().trim_matches('/');
    if prefix.is_empty() {
        return Ok(store);
    }
    let prefix = ObjectPath::parse(prefix).map_err(|e| refuse(format!("invalid prefix {prefix:?}: {e}")))?;
    Ok(Arc::new(PrefixStore::new(store, prefix)))
}

/// The attributes every blob of the tier is written with: its storage class.
pub(super) fn attributes(location: &TierLocation) -> Attributes {
    let mut attributes = Attributes::new();
    if let Some(class) = &location.storage_class {
        attributes.insert(Attribute::StorageClass, class.clone().into());
    }
    attributes
}

/// The object a failed check writes (and deletes) to learn why it failed.
const PROBE: &str = ".strata-check";

/// Asks the store to list the tier's root, so that a bucket or container
/// that does not exist, or credentials it refuses, show at startup and in
/// readiness probes as an error naming the tier and its location. A failed
/// listing does not say why it failed, so a marker object is then written
/// (and deleted): a write's error tells a missing bucket from refused
/// credentials from an unreachable store.
pub(super) async fn check(tier: Tier, url: &str, store: &dyn ObjectStore) -> Result<(), TierError> {
    let Err(listed) = store.list_with_delimiter(None).await else { return Ok(()) };
    let open = |message: String| TierError::Open { tier, location: url.to_owned(), message };
    let probe = ObjectPath::from(PROBE);
    match store.put(&probe, PutPayload::new()).await {
        Err(e @ object_store::Error::NotFound { .. }) => {
            Err(open(format!("the bucket or container does not exist (create it first): {e}")))
        }
        Err(e @ (object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. })) => {
            Err(open(format!("the store refused the credentials: {e}")))
        }
        Ok(_) => {
            let _ = store.delete(&probe).await;
            Err(TierError::io("list", tier, url, listed))
        }
        Err(_) => Err(TierError::io("list", tier, url, listed)),
    }
}
