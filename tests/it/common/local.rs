//! Local stand-ins the tests share: free ports, a proxy whose upstream never answers, TLS
//! files from a one-off CA, a readable dump of a finished process, the two parts of a
//! Bedrock-shaped error answer, and a key probe that leaves no request row.

use std::path::{Path, PathBuf};
use std::process::Output;

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A proxy whose upstream accepts connections and never answers on them, with a 1 s
/// call timeout; and the task holding those connections (abort it when done).
pub async fn gate_with_silent_upstream() -> (super::Gate, tokio::task::JoinHandle<()>) {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let gate = super::Gate::start(super::GateOptions {
        upstream_override: Some(url),
        overrides: vec![("BEDROCK_GATE_UPSTREAM__TIMEOUT_SECS".into(), "1".into())],
        ..Default::default()
    })
    .await;
    (gate, holder)
}

/// The config overrides that make the proxy serve TLS with `cert` and `key`.
pub fn tls_overrides(cert: &Path, key: &Path) -> Vec<(String, String)> {
    vec![
        (
            "BEDROCK_GATE_PROXY__TLS_CERT".into(),
            cert.display().to_string(),
        ),
        (
            "BEDROCK_GATE_PROXY__TLS_KEY".into(),
            key.display().to_string(),
        ),
    ]
}

/// A one-off CA and a server certificate it signed for 127.0.0.1 and localhost, written
/// into `dir`: (CA file, certificate file, key file).
pub fn ca_signed_tls(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "bedrock-gate test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    // A subject of its own: with the CA's, clients would take it for self-signed.
    params
        .distinguished_name
        .push(DnType::CommonName, "bedrock-gate test");
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let paths = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&paths.0, ca.pem()).unwrap();
    std::fs::write(&paths.1, cert.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

/// A finished process's exit code, stdout and stderr, for assertion messages.
pub fn show(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The `x-amzn-ErrorType` of an answer (empty when none).
pub fn error_type(r: &http::Response<bytes::Bytes>) -> String {
    r.headers()
        .get("x-amzn-errortype")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// The `message` of a Bedrock-shaped error body (empty when none).
pub fn error_message(r: &http::Response<bytes::Bytes>) -> String {
    serde_json::from_slice::<serde_json::Value>(r.body()).unwrap()["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// A POST to the proxy at `url` with `bearer` that announces a 1 TB body and sends
/// none; the status of the answer (413 for a known key, 403 for an unknown one).
pub async fn oversized_post(url: &str, bearer: &str) -> u16 {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /model/m/converse HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {bearer}\r\n\
         content-type: application/json\r\ncontent-length: 1000000000000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    // The status line is all the probe needs.
    while !answer.windows(2).any(|w| w == b"\r\n") {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "the proxy closed the probe without an answer");
        answer.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&answer);
    line.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {line}"))
}
