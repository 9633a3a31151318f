//! HTTPS on the proxy listener: with `proxy.tls_cert` and `proxy.tls_key` set, the proxy
//! serves TLS (rustls) and offers HTTP/2 and HTTP/1.1 by ALPN. With a client trusting the
//! test certificate, one call over each protocol reaches the upstream and is recorded.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use bedrock_gate::domain::{Actor, LimitsUpdate};
use bedrock_gate::ops::users::CreateUser;
use bytes::Bytes;
use common::{Gate, GateOptions};
use http_body_util::{BodyExt, Full};

fn tls_client(
    ca_der: Vec<u8>,
    h2: bool,
) -> hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(ca_der))
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    // The connector offers by ALPN exactly the versions enabled here.
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only();
    let https = if h2 {
        builder.enable_http2().build()
    } else {
        builder.enable_http1().build()
    };
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(https)
}

#[tokio::test]
async fn the_proxy_serves_https_with_http2_and_http1() {
    bedrock_gate::install_crypto_provider();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    let gate = Gate::start(GateOptions {
        overrides: common::local::tls_overrides(&cert_path, &key_path),
        ..Default::default()
    })
    .await;
    // The harness's helpers speak plain HTTP; set up the user directly.
    let actor = Actor::system("test");
    gate.ops
        .create_team(&actor, "t", &LimitsUpdate::default())
        .await
        .unwrap();
    gate.ops
        .create_user(
            &actor,
            &CreateUser {
                username: "tina".into(),
                person_name: "Tina".into(),
                team: "t".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let key = gate.ops.issue_key(&actor, "tina", "t").await.unwrap().key;
    let port = gate.url.rsplit(':').next().unwrap().to_string();
    let https = format!("https://localhost:{port}");

    for (h2, version) in [
        (true, http::Version::HTTP_2),
        (false, http::Version::HTTP_11),
    ] {
        let client = tls_client(cert.cert.der().to_vec(), h2);
        let mut status = 0;
        for _ in 0..100 {
            let req = http::Request::post(format!(
                "{https}/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
            ))
            .header("authorization", format!("Bearer {}", key.bearer_token))
            .body(Full::new(Bytes::from_static(b"{\"messages\":[]}")))
            .unwrap();
            let resp = client.request(req).await.unwrap();
            status = resp.status().as_u16();
            if status == 200 {
                assert_eq!(resp.version(), version);
                let body = resp.into_body().collect().await.unwrap().to_bytes();
                assert!(String::from_utf8_lossy(&body).contains("inputTokens"));
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await; // key propagation
        }
        assert_eq!(status, 200, "{version:?}");
    }

    // Plain HTTP to the TLS listener is not served.
    let plain = common::http_get(&format!("http://127.0.0.1:{port}/")).await;
    assert!(plain.is_err() || plain.unwrap().0 != 200);

    let records = gate.records(2).await;
    assert!(records.iter().all(|r| r.username == "tina"));
    assert_eq!(gate.upstream.valid_count(), 2);
    gate.stop().await;
}
