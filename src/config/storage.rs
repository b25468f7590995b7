//! Where each tier keeps its bytes.

use super::Secret;
use serde::Deserialize;
use std::path::PathBuf;

/// Where each tier keeps its bytes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Base directory of the local tiers (`STORAGE_BASE_PATH`); default `<data-dir>/tiers`.
    pub base_path: Option<PathBuf>,
    /// Hot tier location (`STORAGE_HOT_PATH`): a directory, a `file://` URL,
    /// or an object store URL, given as a string or as a `[storage.hot]`
    /// table (see [`TierLocation`]).
    #[serde(deserialize_with = "tier_location")]
    pub hot: Option<TierLocation>,
    /// Warm tier location (`STORAGE_WARM_PATH`).
    #[serde(deserialize_with = "tier_location")]
    pub warm: Option<TierLocation>,
    /// Cold tier location (`STORAGE_COLD_PATH`).
    #[serde(deserialize_with = "tier_location")]
    pub cold: Option<TierLocation>,
    /// Sync every tier write (file, then directory) and every catalog commit
    /// to stable storage before it counts as done (`STRATA_FSYNC`; default
    /// true). False trades durability on power loss for speed.
    pub fsync: bool,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self { base_path: None, hot: None, warm: None, cold: None, fsync: true }
    }
}

/// The kinds of store a tier location can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A local directory: a path or a `file://` URL.
    Local,
    /// An S3-compatible store: `s3://bucket/prefix`.
    S3,
    /// Azure Blob Storage: `az://container/prefix` (also `azure://`).
    Azure,
    /// Google Cloud Storage: `gs://bucket/prefix`.
    Gcs,
}

/// One tier's location: a directory, a `file://` URL, or an object store
/// (`s3://bucket/prefix`, `az://container/prefix` or `azure://…`,
/// `gs://bucket/prefix`).
///
/// Written as a plain string (`hot = "s3://bucket/hot"`) or as a table
/// whose `url` is that string and whose other keys configure the object
/// store's client. What a table leaves out comes from the conventional
/// environment variables (`AWS_*`, `AZURE_*`, `GOOGLE_*`), as the object
/// store clients read them. Secrets are never shown by `Debug`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierLocation {
    /// The location itself.
    pub url: String,
    /// The service endpoint, for S3-compatible stores and emulators
    /// (`AWS_ENDPOINT_URL`, `AZURE_STORAGE_ENDPOINT`).
    pub endpoint: Option<String>,
    /// The S3 region (`AWS_REGION`).
    pub region: Option<String>,
    /// The storage class every blob of the tier is written in: on S3
    /// `STANDARD`, `STANDARD_IA`, `GLACIER_IR`, …; on Azure the access tier
    /// `Hot`, `Cool` or `Cold`; on GCS `STANDARD`, `NEARLINE`, `COLDLINE`, ….
    pub storage_class: Option<String>,
    /// Allow plain `http://` endpoints (`AWS_ALLOW_HTTP`, `AZURE_ALLOW_HTTP`,
    /// `GOOGLE_ALLOW_HTTP`).
    pub allow_http: Option<bool>,
    /// S3 access key id (`AWS_ACCESS_KEY_ID`).
    pub access_key_id: Option<String>,
    /// S3 secret access key (`AWS_SECRET_ACCESS_KEY`).
    pub secret_access_key: Option<Secret>,
    /// Azure storage account name (`AZURE_STORAGE_ACCOUNT_NAME`).
    pub account: Option<String>,
    /// Azure storage account key (`AZURE_STORAGE_ACCOUNT_KEY`).
    pub access_key: Option<Secret>,
    /// Google service account key, the JSON text (`GOOGLE_SERVICE_ACCOUNT_KEY`).
    pub service_account_key: Option<Secret>,
    /// How many times the client retries a failed request (with backoff)
    /// before the operation fails as transient; default 10.
    pub max_retries: Option<usize>,
}

impl TierLocation {
    /// A location given by its URL or path alone.
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), ..Self::default() }
    }

    /// Which kind of store the location names, or why it names none.
    pub fn backend(&self) -> Result<Backend, String> {
        let Some((scheme, _)) = self.url.split_once("://") else {
            return Ok(Backend::Local);
        };
        match scheme.to_ascii_lowercase().as_str() {
            "file" => Ok(Backend::Local),
            "s3" => Ok(Backend::S3),
            "az" | "azure" => Ok(Backend::Azure),
            "gs" => Ok(Backend::Gcs),
            other => Err(format!(
                "unknown scheme {other:?} in {:?}: a tier location is a directory, a file:// URL, \
                 s3://bucket/prefix, az://container/prefix (also azure://) or gs://bucket/prefix",
                self.url
            )),
        }
    }

    /// The names of the object-store options that are set.
    fn store_options(&self) -> Vec<&'static str> {
        let set = [
            ("endpoint", self.endpoint.is_some()),
            ("region", self.region.is_some()),
            ("storage_class", self.storage_class.is_some()),
            ("allow_http", self.allow_http.is_some()),
            ("access_key_id", self.access_key_id.is_some()),
            ("secret_access_key", self.secret_access_key.is_some()),
            ("account", self.account.is_some()),
            ("access_key", self.access_key.is_some()),
            ("service_account_key", self.service_account_key.is_some()),
            ("max_retries", self.max_retries.is_some()),
        ];
        set.into_iter().filter(|(_, on)| *on).map(|(name, _)| name).collect()
    }

    /// Refuses an unknown scheme, and object-store options on a local directory.
    pub(super) fn check(&self) -> Result<(), String> {
        if self.url.trim().is_empty() {
            return Err("is empty".into());
        }
        if self.backend()? == Backend::Local
            && let Some(first) = self.store_options().first()
        {
            return Err(format!("{first} applies to object stores only, and {:?} is a local directory", self.url));
        }
        Ok(())
    }
}

/// Reads a tier location from a string (its URL or path) or from a table.
fn tier_location<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<TierLocation>, D::Error> {
    struct Visitor;
    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = TierLocation;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a directory or URL, or a table with `url` and object store options")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<TierLocation, E> {
            Ok(TierLocation::new(v))
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<TierLocation, A::Error> {
            TierLocation::deserialize(serde::de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_any(Visitor).map(Some)
}
