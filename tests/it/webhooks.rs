//! Webhooks against a local HTTP receiver: the json, slack and teams payload shapes,
//! the HMAC-SHA256 signature (checked here with the `hmac` crate, independently of the
//! proxy's code), the event filter, and retries after a receiver answers 500.

use crate::common;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use parking_lot::Mutex;
use serde_json::Value;
use sha2::Sha256;
use tokio::net::TcpListener;

use bedrock_gate::domain::Limits;
use common::{converse, Gate, GateOptions};

/// One request the receiver got: path, headers we care about, body, and what it answered.
#[derive(Clone, Debug)]
struct Hit {
    path: String,
    signature: Option<String>,
    event: Option<String>,
    delivery: Option<String>,
    body: Vec<u8>,
    answered: u16,
}

/// A receiver that answers 500 to the first `fail_first` requests on `/json`, 200 after.
async fn receiver(fail_first: usize) -> (String, Arc<Mutex<Vec<Hit>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits: Arc<Mutex<Vec<Hit>>> = Arc::new(Mutex::new(Vec::new()));
    let shared = Arc::clone(&hits);
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let hits = Arc::clone(&shared);
            tokio::spawn(async move {
                let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let hits = Arc::clone(&hits);
                    async move {
                        let header = |n: &str| {
                            req.headers()
                                .get(n)
                                .map(|v| v.to_str().unwrap().to_string())
                        };
                        let path = req.uri().path().to_string();
                        let signature = header("x-bedrock-gate-signature");
                        let event = header("x-bedrock-gate-event");
                        let delivery = header("x-bedrock-gate-delivery");
                        let body = req.into_body().collect().await.unwrap().to_bytes().to_vec();
                        let mut hits = hits.lock();
                        let earlier = hits.iter().filter(|h| h.path == "/json").count();
                        let answered = if path == "/json" && earlier < fail_first {
                            500
                        } else {
                            200
                        };
                        hits.push(Hit {
                            path,
                            signature,
                            event,
                            delivery,
                            body,
                            answered,
                        });
                        Ok::<_, Infallible>(
                            http::Response::builder()
                                .status(answered)
                                .body(Full::new(Bytes::from_static(b"ok")))
                                .unwrap(),
                        )
                    }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (url, hits)
}

fn json(hit: &Hit) -> Value {
    serde_json::from_slice(&hit.body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_get_their_shapes_signed_and_retried() {
    let (base, hits) = receiver(1).await;
    let extra = format!(
        "[[webhook]]\nurl = \"{base}/json\"\nformat = \"json\"\nsecret = \"hook-secret\"\n\
         events = [\"warning\", \"blocked\"]\n\
         [[webhook]]\nurl = \"{base}/slack\"\nformat = \"slack\"\nevents = [\"blocked\"]\n\
         [[webhook]]\nurl = \"{base}/teams\"\nformat = \"teams\"\nevents = [\"*\"]\n"
    );
    let gate = Gate::start(GateOptions {
        extra_config: extra,
        ..Default::default()
    })
    .await;
    let erin = gate
        .user_with_limits(
            "erin",
            "research",
            Limits {
                daily_requests: Some(5),
                ..Default::default()
            },
        )
        .await;
    for _ in 0..7 {
        converse(&gate.url, &erin.key.bearer_token).await;
    }
    // The warning and the block reach /json after its first answer (500) is retried.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        {
            let h = hits.lock();
            let ok = |p: &str, kind: &str| {
                h.iter()
                    .any(|x| x.path == p && x.answered == 200 && x.event.as_deref() == Some(kind))
            };
            if ok("/json", "warning")
                && ok("/json", "blocked")
                && ok("/slack", "blocked")
                && ok("/teams", "blocked")
            {
                break;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "webhooks not delivered: {:#?}",
            hits.lock()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let h = hits.lock().clone();

    // json: the key facts, flattened; only the events it asked for; signed.
    let j: Vec<&Hit> = h.iter().filter(|x| x.path == "/json").collect();
    assert!(j
        .iter()
        .all(|x| matches!(x.event.as_deref(), Some("warning" | "blocked"))));
    assert_eq!(j[0].answered, 500);
    let retried = j.iter().filter(|x| x.delivery == j[0].delivery).count();
    assert!(
        retried >= 2,
        "the failed delivery was retried with the same id: {j:#?}"
    );
    for x in &j {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"hook-secret").unwrap();
        mac.update(&x.body);
        let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(x.signature.as_deref(), Some(want.as_str()));
    }
    let warning = j
        .iter()
        .find(|x| x.event.as_deref() == Some("warning") && x.answered == 200)
        .map(|x| json(x))
        .unwrap();
    assert_eq!(warning["type"], "warning");
    assert_eq!(warning["user"], "erin");
    assert_eq!(warning["team"], "research");
    assert_eq!(warning["limit"], "daily_requests");
    assert_eq!(warning["limit_value"], 5);
    assert!(warning["used"].as_i64().unwrap() >= 4, "{warning}");
    assert!(
        warning["percent_used"].as_f64().unwrap() >= 80.0,
        "{warning}"
    );
    assert!(warning["period"].as_str().unwrap().len() == 10, "{warning}");
    assert!(
        warning["time"].as_str().unwrap().ends_with('Z'),
        "{warning}"
    );
    assert_eq!(warning["event"]["type"], "warning");

    // slack: text and blocks, no signature without a secret.
    let s: Vec<&Hit> = h.iter().filter(|x| x.path == "/slack").collect();
    assert_eq!(s.len(), 1, "only the block: {s:#?}");
    assert!(s[0].signature.is_none());
    let slack = json(s[0]);
    assert!(slack["text"]
        .as_str()
        .unwrap()
        .contains("erin was blocked automatically"));
    assert_eq!(slack["blocks"][0]["type"], "section");
    assert!(slack["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap()
        .starts_with("*User blocked*"));

    // teams: a MessageCard with facts; `*` includes the key issued before.
    let t: Vec<&Hit> = h.iter().filter(|x| x.path == "/teams").collect();
    assert!(
        t.iter().any(|x| x.event.as_deref() == Some("key_issued")),
        "{t:#?}"
    );
    let card = t
        .iter()
        .find(|x| x.event.as_deref() == Some("blocked"))
        .map(|x| json(x))
        .unwrap();
    assert_eq!(card["@type"], "MessageCard");
    assert_eq!(card["title"], "bedrock-gate: User blocked");
    let facts = card["sections"][0]["facts"].as_array().unwrap();
    assert!(facts
        .iter()
        .any(|f| f["name"] == "User" && f["value"] == "erin"));
    assert!(facts
        .iter()
        .any(|f| f["name"] == "Team" && f["value"] == "research"));
    gate.stop().await;
}
