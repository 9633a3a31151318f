//! A client of the admin API for tests: requests with or without a token, answers as
//! status, headers and body (JSON parsed where it is JSON).

use std::time::Duration;

use bedrock_gate::domain::Actor;
use http_body_util::BodyExt;
use serde_json::Value;

use super::Gate;

/// An answer of the admin listener.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: http::HeaderMap,
    /// The body as text.
    pub text: String,
}

impl Answer {
    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}), status {}: {}", self.status, self.text))
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    }

    /// The `message` of an error body, checking the error shape on the way.
    pub fn message(&self) -> String {
        assert_eq!(
            self.header("content-type").as_deref(),
            Some("application/json"),
            "error bodies are JSON: {self:?}"
        );
        self.json()["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no message: {}", self.text))
            .to_string()
    }
}

/// One request to `url` with `headers` and an optional body.
pub async fn request(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let mut req = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(http_body_util::Full::new(bytes::Bytes::from(
            body.to_string(),
        )))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    Answer {
        status: parts.status.as_u16(),
        headers: parts.headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// The admin API of a running gate, with one token.
pub struct Api {
    /// `http://127.0.0.1:PORT` of the admin listener.
    pub base: String,
    /// The admin token sent.
    pub token: String,
}

impl Api {
    /// Creates a token named `name` through the service layer and returns a client
    /// using it.
    pub async fn new(gate: &Gate, name: &str) -> Api {
        let t = gate
            .ops
            .create_admin_token(
                &Actor::system("test"),
                name,
                bedrock_gate::domain::TokenScope::Admin,
            )
            .await
            .unwrap();
        Api {
            base: gate.admin_url.clone(),
            token: t.token,
        }
    }

    /// A request with the token; `body` is sent as JSON when given.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        let auth = format!("Bearer {}", self.token);
        let text = body.map(|b| b.to_string()).unwrap_or_default();
        request(
            method,
            &format!("{}{path}", self.base),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            &text,
        )
        .await
    }

    /// A raw-body request with the token.
    pub async fn raw(&self, method: &str, path: &str, body: &str) -> Answer {
        let auth = format!("Bearer {}", self.token);
        request(
            method,
            &format!("{}{path}", self.base),
            &[("authorization", &auth)],
            body,
        )
        .await
    }

    /// A GET with the token and extra headers.
    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        let auth = format!("Bearer {}", self.token);
        let mut all = vec![("authorization", auth.as_str())];
        all.extend_from_slice(headers);
        request("GET", &format!("{}{path}", self.base), &all, "").await
    }

    /// A GET that must answer 200 with JSON.
    pub async fn get_ok(&self, path: &str) -> Value {
        let a = self.call("GET", path, None).await;
        assert_eq!(a.status, 200, "GET {path}: {}", a.text);
        a.json()
    }

    /// Calls `method path` until `check` holds on the answer (at most 10 s).
    pub async fn until(&self, method: &str, path: &str, check: impl Fn(&Answer) -> bool) -> Answer {
        for _ in 0..200 {
            let a = self.call(method, path, None).await;
            if check(&a) {
                return a;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{method} {path} never reached the expected state");
    }
}
