//! Object store tiers: building an S3, Azure or GCS client from a tier's
//! location, with what its table leaves out read from the conventional
//! environment variables (`AWS_*`, `AZURE_*`, `GOOGLE_*`).

use super::error::TierError;
use crate::artifact::Tier;
use crate::config::{Backend, TierLocation};
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::client::{HttpConnector, HttpRequestBody, ReqwestConnector};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::signer::{Method, Signer};
use object_store::{
    Attribute, Attributes, ClientConfigKey, ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
};
use std::sync::Arc;
use std::time::Duration;

/// An object store tier as opened: the store rooted at the location's
/// path, a signer for the requests the store's API has no call for (reading
/// back what storage class an object was given), and the response header
/// that reports the class.
pub(super) struct Opened {
    pub store: Arc<dyn ObjectStore>,
    pub class: ClassReader,
}

/// Reads back the storage class (S3, GCS) or access tier (Azure) an object
/// was written with, through a signed `HEAD`.
#[derive(Debug, Clone)]
pub(super) struct ClassReader {
    signer: Arc<dyn Signer>,
    header: &'static str,
    /// What the store reports when the header is absent (S3 leaves it out
    /// for `STANDARD`).
    absent: Option<&'static str>,
}

/// The store `store`, rooted at `prefix`, with its class reader.
fn rooted<T: ObjectStore + Signer>(
    store: T,
    prefix: Option<&ObjectPath>,
    header: &'static str,
    absent: Option<&'static str>,
) -> Opened {
    let (store, signer): (Arc<dyn ObjectStore>, Arc<dyn Signer>) = match prefix {
        Some(prefix) => {
            let rooted = Arc::new(PrefixStore::new(store, prefix.clone()));
            (rooted.clone(), rooted)
        }
        None => {
            let store = Arc::new(store);
            (store.clone(), store)
        }
    };
    Opened { store, class: ClassReader { signer, header, absent } }
}

/// Opens the object store `location` names (`backend` is not local), rooted
/// at the location's path within its bucket or container.
pub(super) fn open(tier: Tier, location: &TierLocation, backend: Backend) -> Result<Opened, TierError> {
    let refuse = |message: String| TierError::Open { tier, location: location.url.clone(), message };
    let url = url::Url::parse(&location.url).map_err(|e| refuse(format!("not a valid URL: {e}")))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(refuse("the URL names no bucket or container, as in s3://bucket/prefix".into()));
    }
    let prefix = url.path().trim_matches('/');
    let prefix = match prefix {
        "" => None,
        p => Some(ObjectPath::parse(p).map_err(|e| refuse(format!("invalid prefix {p:?}: {e}")))?),
    };
    let prefix = prefix.as_ref();
    let retry = location.max_retries.map(|max_retries| RetryConfig { max_retries, ..RetryConfig::default() });
    let built: object_store::Result<Opened> = match backend {
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
            b.build().map(|s| rooted(s, prefix, "x-amz-storage-class", Some("STANDARD")))
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
            b.build().map(|s| rooted(s, prefix, "x-ms-access-tier", None))
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
            b.build().map(|s| rooted(s, prefix, "x-goog-storage-class", None))
        }
    };
    built.map_err(|e| refuse(e.to_string()))
}

impl ClassReader {
    /// The storage class the store reports for the object at `path`.
    pub(super) async fn read(&self, tier: Tier, path: &ObjectPath) -> Result<String, TierError> {
        let failed = |e: &dyn std::fmt::Display| TierError::io("read the storage class of", tier, path, e);
        let url = self
            .signer
            .signed_url(Method::HEAD, path, Duration::from_secs(60))
            .await
            .map_err(|e| TierError::store("sign a HEAD of", tier, path, e))?;
        // The store signed for the endpoint it uses, which its own options
        // allowed: plain HTTP only where the store speaks it.
        let client = ReqwestConnector::default()
            .connect(&ClientOptions::new().with_allow_http(url.scheme() == "http"))
            .map_err(|e| failed(&e))?;
        let request = http::Request::builder()
            .method(Method::HEAD)
            .uri(url.as_str())
            .body(HttpRequestBody::empty())
            .map_err(|e| failed(&e))?;
        let response = client.execute(request).await.map_err(|e| failed(&e))?;
        if !response.status().is_success() {
            return Err(failed(&format!("HEAD answered {}", response.status())));
        }
        match response.headers().get(self.header) {
            Some(v) => Ok(v.to_str().map_err(|e| failed(&e))?.to_owned()),
            None => self.absent.map(str::to_owned).ok_or_else(|| failed(&format!("no {} header", self.header))),
        }
    }
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
