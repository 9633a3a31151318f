//! The request path's CPU cost without the network: hash the body, verify the caller's
//! SigV4 signature, and re-sign for upstream, for a 2 KB Converse request. Also each
//! step alone, and the usage tap over a ConverseStream body.
//!
//! Run: `cargo bench --bench hot_path`.

use std::sync::Arc;
use std::time::SystemTime;

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use bedrock_gate::auth::crypto::{bearer_hash, MasterKey};
use bedrock_gate::auth::directory::{Directory, DirectoryHandle};
use bedrock_gate::auth::Authenticator;
use bedrock_gate::proxy::upstream::{CredentialCache, Upstream};
use bedrock_gate::store::ActiveKey;
use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use sha2::{Digest, Sha256};

const KEY_ID: &str = "BGBENCHKEY0000000001";
const SECRET: &str = "benchSecretbenchSecretbenchSecretbenchSe";
const REGION: &str = "eu-west-1";
const URL: &str = "http://127.0.0.1:8080/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse";

fn body_2kb() -> Bytes {
    let text = "lorem ipsum dolor sit amet ".repeat(70);
    let body = serde_json::json!({
        "messages": [{"role": "user", "content": [{"text": text}]}],
        "inferenceConfig": {"maxTokens": 512}
    })
    .to_string();
    assert!(body.len() >= 1900 && body.len() <= 2100, "{}", body.len());
    Bytes::from(body)
}

fn signed_parts(body: &[u8]) -> http::request::Parts {
    let identity = Credentials::new(KEY_ID, SECRET, None, None, "bench").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name("bedrock")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let headers = [
        ("host", "127.0.0.1:8080"),
        ("content-type", "application/json"),
        ("user-agent", "aws-sdk-rust/1.0 bench"),
    ];
    let signable =
        SignableRequest::new("POST", URL, headers.into_iter(), SignableBody::Bytes(body)).unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut req = http::Request::post(URL);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    for (k, v) in instructions.headers() {
        req = req.header(k, v);
    }
    req.body(()).unwrap().into_parts().0
}

fn fixtures() -> (Authenticator, Upstream) {
    bedrock_gate::install_crypto_provider();
    let master = MasterKey::from_bytes(&[1u8; 32]);
    let key = ActiveKey {
        access_key_id: KEY_ID.into(),
        tool: "bench".into(),
        secret_enc: master.encrypt(KEY_ID, SECRET).unwrap(),
        bearer_hash: bearer_hash("token"),
        user_id: 1,
        username: "alice".into(),
        person: "Alice".into(),
        team_id: 1,
        team: "t".into(),
    };
    let (dir, _) = Directory::build(vec![key], &master);
    let auth = Authenticator::new(Arc::new(DirectoryHandle::new(dir)), REGION);
    let creds = Arc::new(CredentialCache::new(SharedCredentialsProvider::new(
        Credentials::new("AKIAUPSTREAM", "upstreamsecret", None, None, "bench"),
    )));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(creds.refresh()).unwrap();
    let endpoint: http::Uri = "https://bedrock-runtime.eu-west-1.amazonaws.com"
        .parse()
        .unwrap();
    let upstream = rt.block_on(async { Upstream::new(&endpoint, REGION, creds).unwrap() });
    (auth, upstream)
}

fn hot_path(c: &mut Criterion) {
    let (auth, upstream) = fixtures();
    let body = body_2kb();
    let parts = signed_parts(&body);
    let hash = hex::encode(Sha256::digest(&body));

    let mut group = c.benchmark_group("hot_path_2kb_converse");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("hash+verify+resign", |b| {
        b.iter(|| {
            let hash = hex::encode(Sha256::digest(black_box(&body)));
            let principal = auth.authenticate(&parts, &hash, SystemTime::now()).unwrap();
            let req = upstream.prepare(&parts, body.clone(), &hash).unwrap();
            black_box((principal, req));
        })
    });
    group.bench_function("body_sha256", |b| {
        b.iter(|| black_box(hex::encode(Sha256::digest(black_box(&body)))))
    });
    group.bench_function("verify_sigv4", |b| {
        b.iter(|| black_box(auth.authenticate(&parts, &hash, SystemTime::now()).unwrap()))
    });
    group.bench_function("resign_aws_sigv4", |b| {
        b.iter(|| black_box(upstream.prepare(&parts, body.clone(), &hash).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, hot_path);
criterion_main!(benches);
