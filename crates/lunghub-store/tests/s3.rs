//! The S3 blob store against a real S3-compatible server: moto's, started by `.ci/run` and
//! named by LUNGHUB_TEST_S3_ENDPOINT. Without it these tests fail; they never skip.
//!
//! Buckets are created, and the keys checked, with boto3 (LUNGHUB_PYTHON, also set by
//! `.ci/run`), so the layout is seen by a client other than the one under test.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use lunghub_store::{Blobs, S3Blobs, StoreError};
use sha2::{Digest, Sha256};

const HELLO_ID: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

struct Server {
    endpoint: String,
    python: String,
}

/// The server, with the AWS_* variables that `S3Blobs` reads set for it. Every test calls
/// this first, so the variables are set before any thread reads the environment.
fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let endpoint = std::env::var("LUNGHUB_TEST_S3_ENDPOINT").expect(
            "LUNGHUB_TEST_S3_ENDPOINT is not set: run the tests through `bash .ci/run`, which starts moto's S3 server",
        );
        let python = std::env::var("LUNGHUB_PYTHON").expect(
            "LUNGHUB_PYTHON is not set: run the tests through `bash .ci/run`, which installs boto3 in its virtual environment",
        );
        for (key, value) in [
            ("AWS_ENDPOINT_URL", endpoint.as_str()),
            ("AWS_REGION", "us-east-1"),
            // moto accepts any credentials; they must only be present.
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
        ] {
            // SAFETY: this runs once, inside the OnceLock, before any test of this binary
            // reads the environment (each starts by waiting here), so no thread reads it
            // while it changes.
            unsafe { std::env::set_var(key, value) };
        }
        Server { endpoint, python }
    })
}

/// Runs `script` with a boto3 S3 client named `s3` for the server; `sys.argv[2:]` are `args`.
fn boto3(script: &str, args: &[&str]) -> String {
    let server = server();
    let program = format!(
        "import sys, boto3\n\
         s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', \
         aws_access_key_id='test', aws_secret_access_key='test')\n{script}"
    );
    let output = Command::new(&server.python)
        .arg("-c")
        .arg(&program)
        .arg(&server.endpoint)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", server.python));
    assert!(
        output.status.success(),
        "boto3 failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("boto3 prints UTF-8")
}

/// A bucket no other test (or earlier run against the same server) has used.
fn fresh_bucket(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    let bucket = format!("lunghub-{tag}-{}-{nanos}", std::process::id());
    boto3("s3.create_bucket(Bucket=sys.argv[2])", &[&bucket]);
    bucket
}

fn keys_in(bucket: &str) -> Vec<String> {
    let listed = boto3(
        "pages = s3.get_paginator('list_objects_v2').paginate(Bucket=sys.argv[2])\n\
         print('\\n'.join(o['Key'] for p in pages for o in p.get('Contents', [])))",
        &[bucket],
    );
    let mut keys: Vec<String> = listed
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    keys.sort();
    keys
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// 6 MB of bytes that do not compress, so no layer can shortcut them.
fn big_blob() -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..6 * 1024 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

#[test]
fn blobs_round_trip_through_an_s3_bucket() {
    server();
    let bucket = fresh_bucket("roundtrip");
    let blobs =
        Blobs::open(Path::new("unused-by-s3"), Some(&format!("s3://{bucket}"))).expect("open");
    assert!(matches!(blobs, Blobs::S3(_)));
    assert!(
        !Path::new("unused-by-s3").exists(),
        "an S3 store must not create local folders"
    );
    assert_eq!(
        blobs.ids().expect("ids of an empty bucket"),
        Vec::<String>::new()
    );

    let id = blobs.put(b"hello").expect("put");
    assert_eq!(id, HELLO_ID);
    assert_eq!(blobs.put(b"hello").expect("put again"), id);
    assert!(blobs.contains(&id));
    assert_eq!(blobs.get(&id).expect("get"), b"hello");

    let big = big_blob();
    let big_id = blobs.put(&big).expect("put 6 MB");
    assert_eq!(big_id, sha256_hex(&big));
    assert!(
        blobs.get(&big_id).expect("get 6 MB") == big,
        "the 6 MB blob came back different"
    );
    assert_eq!(blobs.put(&big).expect("put 6 MB again"), big_id);

    let empty_id = blobs.put(b"").expect("put nothing");
    assert_eq!(blobs.get(&empty_id).expect("get nothing"), b"");

    let missing = sha256_hex(b"never stored");
    assert!(!blobs.contains(&missing));
    assert!(matches!(blobs.get(&missing), Err(StoreError::MissingBlob(m)) if m == missing));
    assert!(matches!(blobs.get("00ff"), Err(StoreError::MissingBlob(_))));
    assert_eq!(blobs.clean_partial_writes().expect("clean"), 0);

    let mut expected = vec![id.clone(), big_id.clone(), empty_id.clone()];
    expected.sort();
    assert_eq!(blobs.ids().expect("ids"), expected);
    let mut expected_keys: Vec<String> = expected
        .iter()
        .map(|i| format!("{}/{}/{i}", &i[0..2], &i[2..4]))
        .collect();
    expected_keys.sort();
    assert_eq!(
        keys_in(&bucket),
        expected_keys,
        "putting twice must not add objects"
    );
}

#[test]
fn a_prefix_in_the_url_is_honoured() {
    server();
    let bucket = fresh_bucket("prefix");
    let one = S3Blobs::from_url(&format!("s3://{bucket}/sites/one")).expect("open sites/one");
    let two = S3Blobs::from_url(&format!("s3://{bucket}/sites/two")).expect("open sites/two");
    let root = S3Blobs::from_url(&format!("s3://{bucket}")).expect("open the root");
    let one_again = S3Blobs::from_url(&format!("s3://{bucket}/sites/one/"))
        .expect("open with a trailing slash");
    assert_eq!(one.bucket(), bucket);

    let id = one.put(b"hello").expect("put");
    assert_eq!(id, HELLO_ID);
    assert_eq!(
        keys_in(&bucket),
        vec![format!("sites/one/2c/f2/{HELLO_ID}")]
    );
    assert_eq!(
        one.key_of(&id).as_ref(),
        format!("sites/one/2c/f2/{HELLO_ID}")
    );

    assert!(one.contains(&id));
    assert!(one_again.contains(&id));
    assert_eq!(
        one_again.get(&id).expect("get through the same prefix"),
        b"hello"
    );
    assert!(!two.contains(&id));
    assert!(matches!(two.get(&id), Err(StoreError::MissingBlob(_))));
    assert!(!root.contains(&id));

    assert_eq!(one.ids().expect("ids under sites/one"), vec![id.clone()]);
    assert_eq!(
        two.ids().expect("ids under sites/two"),
        Vec::<String>::new()
    );
    assert_eq!(
        root.ids().expect("ids at the root"),
        Vec::<String>::new(),
        "a prefixed blob is not at the root's content address"
    );

    // Another application's objects under the prefix are not blobs.
    boto3(
        "s3.put_object(Bucket=sys.argv[2], Key='sites/one/README', Body=b'x')\n\
         s3.put_object(Bucket=sys.argv[2], Key='sites/one/2c/f2/not-an-id', Body=b'x')\n\
         s3.put_object(Bucket=sys.argv[2], Key='sites/one/00/00/' + sys.argv[3], Body=b'hello')",
        &[&bucket, HELLO_ID],
    );
    assert_eq!(one.ids().expect("ids among strangers"), vec![id.clone()]);

    let two_id = two.put(b"two").expect("put under sites/two");
    assert_eq!(
        two.ids().expect("ids under sites/two"),
        vec![two_id.clone()]
    );
    assert!(!one.contains(&two_id));
}

#[test]
fn a_missing_bucket_is_an_error() {
    server();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    let blobs = S3Blobs::from_url(&format!("s3://lunghub-never-created-{nanos}")).expect("open");
    match blobs.put(b"hello") {
        Err(e @ StoreError::ObjectStore(_)) => {
            assert!(e.to_string().starts_with("S3 blob store error"), "{e}")
        }
        other => panic!("put into a missing bucket: expected an ObjectStore error, got {other:?}"),
    }
    assert!(matches!(blobs.ids(), Err(StoreError::ObjectStore(_))));
}

#[test]
fn open_refuses_a_bad_prefix() {
    server();
    assert!(matches!(
        S3Blobs::from_url("s3://bucket/a//b"),
        Err(StoreError::ObjectStore(_))
    ));
    assert!(matches!(
        S3Blobs::from_url("s3://bucket/a/../b"),
        Err(StoreError::ObjectStore(_))
    ));
    assert!(matches!(
        S3Blobs::from_url("s3:/bucket"),
        Err(StoreError::UnsupportedBlobUrl(_))
    ));
}

/// The command line opens, cleans and drops the store inside its tokio runtime, where
/// blocking on another runtime, or dropping one, would panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usable_from_inside_an_async_runtime() {
    server();
    let bucket = fresh_bucket("async");
    let blobs =
        Blobs::open(Path::new("unused-by-s3"), Some(&format!("s3://{bucket}/p"))).expect("open");
    assert_eq!(blobs.clean_partial_writes().expect("clean"), 0);
    let id = blobs.put(b"hello").expect("put");
    assert_eq!(blobs.get(&id).expect("get"), b"hello");
    assert!(blobs.contains(&id));
    assert_eq!(blobs.ids().expect("ids"), vec![id]);
    drop(blobs);
}

#[tokio::test(flavor = "current_thread")]
async fn usable_from_inside_a_current_thread_runtime() {
    server();
    let bucket = fresh_bucket("current");
    let blobs = S3Blobs::from_url(&format!("s3://{bucket}")).expect("open");
    assert_eq!(blobs.put(b"hello").expect("put"), HELLO_ID);
    assert_eq!(blobs.get(HELLO_ID).expect("get"), b"hello");
}

/// Intake stores blobs from rayon threads, many at once, through one store.
#[test]
fn many_threads_share_one_store() {
    server();
    let bucket = fresh_bucket("threads");
    let blobs = S3Blobs::from_url(&format!("s3://{bucket}")).expect("open");
    let mut ids: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let blobs = &blobs;
                scope.spawn(move || {
                    (0..10)
                        .map(|i| blobs.put(format!("blob {t} {i}").as_bytes()).expect("put"))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("thread"))
            .collect()
    });
    ids.sort();
    assert_eq!(ids.len(), 80);
    assert_eq!(blobs.ids().expect("ids"), ids);
}
