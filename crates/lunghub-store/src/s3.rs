//! The S3-compatible blob store: `s3://BUCKET/PREFIX/ab/cd/abcd…` by sha256, the same
//! content addressing as [`LocalBlobs`](crate::LocalBlobs).

use std::future::Future;

use futures_util::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tokio::runtime::Runtime;

use crate::StoreError;
use crate::blobs::{blob_id, is_blob_id, shards};

/// Blobs in an S3-compatible bucket (AWS S3, or any server that speaks its API), under an
/// optional key prefix.
///
/// The API is synchronous, like [`LocalBlobs`](crate::LocalBlobs)'s, because intake stores
/// blobs from rayon worker threads, which are outside any async runtime. object_store is
/// async only, so the store owns a small runtime of its own and blocks on each request:
/// the caller's runtime, if any, is never borrowed, and rayon threads need none.
///
/// An S3 PUT is atomic, so unlike the local store there is no temporary object: a reader
/// sees the whole blob or nothing, and a crash can never leave a partial one.
#[derive(Debug)]
pub struct S3Blobs {
    store: AmazonS3,
    bucket: String,
    prefix: Path,
    // Only `Drop` takes it out, to shut it down without blocking.
    runtime: Option<Runtime>,
}

impl S3Blobs {
    /// Opens `s3://BUCKET` or `s3://BUCKET/PREFIX`. The endpoint, region and credentials come
    /// from the usual environment variables (`AWS_ENDPOINT_URL`, `AWS_REGION` or
    /// `AWS_DEFAULT_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, …). Nothing is
    /// sent to the server until the first request, and the bucket must already exist.
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| StoreError::UnsupportedBlobUrl(url.to_owned()))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(StoreError::UnsupportedBlobUrl(url.to_owned()));
        }
        let prefix = Path::parse(prefix).map_err(object_store::Error::from)?;
        // object_store's HTTPS client is built without a crypto provider of its own (see the
        // workspace Cargo.toml), so it takes the process default: ring, unless the binary
        // installed one already (then this does nothing).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let store = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            // Self-hosted S3 servers (MinIO, moto, Garage) commonly listen on plain HTTP
            // inside the hospital's network, and few of them serve virtual-hosted buckets.
            .with_allow_http(true)
            .with_virtual_hosted_style_request(false)
            .build()?;
        // Two workers drive the connections while the callers' own threads poll their
        // requests in `block_on`, so several rayon threads can upload at once.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("lunghub-s3")
            .enable_all()
            .build()
            .map_err(StoreError::Runtime)?;
        Ok(S3Blobs {
            store,
            bucket: bucket.to_owned(),
            prefix,
            runtime: Some(runtime),
        })
    }

    /// The object key of blob `id`.
    pub fn key_of(&self, id: &str) -> Path {
        let (shard1, shard2) = shards(id);
        self.prefix.clone().join(shard1).join(shard2).join(id)
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Whether blob `id` is in the store. A request that fails for another reason than the
    /// object's absence (the server is down, access is denied) also answers false, as an
    /// unreadable file does for [`LocalBlobs::contains`](crate::LocalBlobs::contains); use
    /// [`get`](Self::get) to tell the two apart.
    pub fn contains(&self, id: &str) -> bool {
        let key = self.key_of(id);
        self.block_on(async { self.store.head(&key).await }).is_ok()
    }

    /// Stores `bytes` and returns their id. Storing the same bytes twice is a no-op: the
    /// key is the content's hash, so an object already there holds these very bytes.
    pub fn put(&self, bytes: &[u8]) -> Result<String, StoreError> {
        let id = blob_id(bytes);
        let key = self.key_of(&id);
        self.block_on(async {
            match self.store.head(&key).await {
                Ok(_) => return Ok(()),
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
            // The payload must own its bytes; copy them only when they are really sent.
            self.store
                .put(&key, PutPayload::from(bytes.to_vec()))
                .await
                .map(|_| ())
        })?;
        Ok(id)
    }

    /// Deletes a blob; deleting one that is not there is not an error.
    pub fn remove(&self, id: &str) -> Result<(), StoreError> {
        let key = self.key_of(id);
        match self.block_on(async { self.store.delete(&key).await }) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    pub fn get(&self, id: &str) -> Result<Vec<u8>, StoreError> {
        let key = self.key_of(id);
        let fetched = self.block_on(async {
            let found = self.store.get(&key).await?;
            found.bytes().await
        });
        match fetched {
            Ok(bytes) => Ok(Vec::from(bytes)),
            Err(object_store::Error::NotFound { .. }) => {
                Err(StoreError::MissingBlob(id.to_owned()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Nothing to clean: S3 never exposes a partially written object, and the store
    /// writes no temporary ones.
    pub fn clean_partial_writes(&self) -> Result<usize, StoreError> {
        Ok(0)
    }

    /// Every blob id under the prefix, sorted. Objects that are not blobs at their
    /// content address (another application's files under the same prefix) are left out.
    pub fn ids(&self) -> Result<Vec<String>, StoreError> {
        let prefix = (!self.prefix.as_ref().is_empty()).then_some(&self.prefix);
        let listed: Vec<Path> = self.block_on(async {
            self.store
                .list(prefix)
                .map_ok(|meta| meta.location)
                .try_collect()
                .await
        })?;
        let mut ids: Vec<String> = listed
            .iter()
            .filter_map(|location| {
                let parts: Vec<_> = location.prefix_match(&self.prefix)?.collect();
                match parts.as_slice() {
                    [s1, s2, id]
                        if is_blob_id(id.as_ref())
                            && shards(id.as_ref()) == (s1.as_ref(), s2.as_ref()) =>
                    {
                        Some(id.as_ref().to_owned())
                    }
                    _ => None,
                }
            })
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// Runs `future` to completion on the store's runtime.
    ///
    /// Tokio panics when a thread that is running async code blocks on a runtime, and the
    /// command line holds and uses the store inside its own runtime. There the request runs
    /// on a short-lived helper thread instead; rayon threads, which store the bulk of the
    /// blobs, take the direct path.
    fn block_on<T: Send>(&self, future: impl Future<Output = T> + Send) -> T {
        let Some(runtime) = self.runtime.as_ref() else {
            unreachable!("the runtime is only taken out by Drop");
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return runtime.block_on(future);
        }
        std::thread::scope(
            |scope| match scope.spawn(|| runtime.block_on(future)).join() {
                Ok(output) => output,
                Err(panic) => std::panic::resume_unwind(panic),
            },
        )
    }
}

impl Drop for S3Blobs {
    fn drop(&mut self) {
        // Dropping a runtime waits for its threads, which tokio forbids (by panicking) when
        // the store is dropped inside async code; nothing of ours is left in flight here.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
