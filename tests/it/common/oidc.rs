//! A real OpenID provider for the sign-in tests: tests/js/oidc-provider.mjs (npm
//! `oidc-provider`, pinned in tests/js/package.json, installed by `npm ci --prefix
//! tests/js`) on port 0 with scripted users, and the exchange of its ID tokens at the
//! proxy's `POST /_gate/v1/credentials`. A missing node or `oidc-provider` is a skip,
//! unless `GATE_TEST_REQUIRE_CLIENTS=1`.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncBufReadExt;

use super::clients::{missing, node_available};
use super::Gate;

/// A running tests/js/oidc-provider.mjs; it exits when dropped (stdin closes, and the
/// child is killed on drop).
pub struct Provider {
    _child: tokio::process::Child,
    /// Its issuer URL (`http://127.0.0.1:PORT`).
    pub issuer: String,
}

/// Starts the provider; `None` (a skip) when node or the package is missing.
pub async fn provider() -> Option<Provider> {
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    if !js.join("node_modules/oidc-provider/package.json").is_file() {
        missing("oidc-provider is not installed (npm ci --prefix tests/js)");
        return None;
    }
    if !node_available().await {
        missing("node is not installed");
        return None;
    }
    let mut child = tokio::process::Command::new("node")
        .arg(js.join("oidc-provider.mjs"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(out).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the provider did not start within 30 s")
        .unwrap()
        .expect("the provider printed nothing");
    let v: Value = serde_json::from_str(&line).unwrap();
    // Keep reading what it writes (a closed pipe would end it).
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Some(Provider {
        _child: child,
        issuer: v["issuer"].as_str().unwrap().to_string(),
    })
}

impl Provider {
    /// An ID token for `user` issued to `client`, valid `ttl` seconds.
    pub async fn id_token(&self, user: &str, client: &str, ttl: u64) -> String {
        let url = format!(
            "{}/test/id-token?user={user}&client={client}&ttl={ttl}",
            self.issuer
        );
        let (status, body) = super::http_get(&url).await.unwrap();
        assert_eq!(status, 200, "{body}");
        body
    }

    /// An ID token for the `gate` client naming `user` in exactly `groups`.
    pub async fn id_token_in(&self, user: &str, groups: &[&str]) -> String {
        let url = format!(
            "{}/test/id-token?user={user}&client=gate&ttl=3600&groups={}",
            self.issuer,
            groups.join(",")
        );
        let (status, body) = super::http_get(&url).await.unwrap();
        assert_eq!(status, 200, "{body}");
        body
    }
}

/// `POST /_gate/v1/credentials` with `token`; status and JSON body.
pub async fn exchange(gate: &Gate, token: &str) -> (u16, Value) {
    let (status, r) = super::raw_post(
        &format!("{}/_gate/v1/credentials", gate.url),
        &[("authorization", &format!("Bearer {token}"))],
        b"",
    )
    .await;
    (status, serde_json::from_slice(r.body()).unwrap())
}
