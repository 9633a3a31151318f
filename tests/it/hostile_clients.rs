//! Clients that try to hold the proxy's memory and descriptors: bodies announced by
//! callers who cannot sign, more body bytes than the shared budget, bodies that trickle,
//! connections that send nothing, and more connections than the cap. Each is driven over
//! raw TCP, so the test controls exactly what is sent and when; every wait is for
//! something observable (an answer, a close), with a generous safety deadline.

use crate::common;

use std::time::{Duration, SystemTime};

use common::{sigv4_headers, Gate, GateOptions, REGION};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CONVERSE: &str = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse";
/// How long any single wait may take before the test gives up (a hang, not a timing).
const SAFETY: Duration = Duration::from_secs(30);

fn overrides(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| {
            (
                format!("BEDROCK_GATE_PROXY__{}", k.to_uppercase()),
                v.to_string(),
            )
        })
        .collect()
}

async fn gate(pairs: &[(&str, &str)]) -> Gate {
    Gate::start(GateOptions {
        overrides: overrides(pairs),
        ..Default::default()
    })
    .await
}

async fn connect(gate: &Gate) -> TcpStream {
    TcpStream::connect(gate.url.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// A Converse body of exactly `size` bytes (valid JSON, padded with spaces).
fn body_of(size: usize) -> Vec<u8> {
    let mut b = br#"{"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#.to_vec();
    b.resize(size, b' ');
    b
}

/// The request head for `body`, signed with `key` (id, secret), or with the given
/// Authorization value instead.
fn request_head(
    gate: &Gate,
    body: &[u8],
    key: Option<(&str, &str)>,
    auth: Option<&str>,
) -> Vec<u8> {
    let url = format!("{}{CONVERSE}", gate.url);
    let len = body.len().to_string();
    let mut headers: Vec<(String, String)> = match key {
        Some((id, secret)) => sigv4_headers(
            &url,
            body,
            id,
            secret,
            REGION,
            SystemTime::now(),
            &[("content-type", "application/json")],
        ),
        None => vec![
            ("host".into(), "gate".into()),
            ("content-type".into(), "application/json".into()),
        ],
    };
    if let Some(a) = auth {
        headers.push(("authorization".into(), a.into()));
    }
    headers.push(("content-length".into(), len));
    let mut text = format!("POST {CONVERSE} HTTP/1.1\r\n");
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str("\r\n");
    text.into_bytes()
}

/// Reads one HTTP/1.1 response: status, head text and body.
async fn response(stream: &mut TcpStream) -> (u16, String, String) {
    let read = async {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if buf.len() >= end + 4 + len {
                    let status = head[9..12].parse().unwrap();
                    let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned();
                    return (status, head, body);
                }
            }
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(
                n > 0,
                "closed before a whole response: {}",
                String::from_utf8_lossy(&buf)
            );
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(SAFETY, read)
        .await
        .expect("no response")
}

/// Waits until the server closes `stream` (EOF or reset), reading whatever comes first.
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let wait = async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(SAFETY, wait).await.unwrap_or(false)
}

#[tokio::test]
async fn callers_who_cannot_sign_are_refused_before_their_body_is_read() {
    let gate = gate(&[]).await;
    let big = body_of(20 << 20);
    for (key, auth, error) in [
        (
            Some(("BGUNKNOWNKEY00000000", "x")),
            None,
            "UnrecognizedClientException",
        ),
        (
            None,
            Some("Bearer not-a-token"),
            "UnrecognizedClientException",
        ),
        (None, None, "UnrecognizedClientException"),
        (
            None,
            Some("AWS4-HMAC-SHA256 garbage"),
            "InvalidSignatureException",
        ),
    ] {
        let mut s = connect(&gate).await;
        // The head announces 20 MB; not one byte of it is sent.
        s.write_all(&request_head(&gate, &big, key, auth))
            .await
            .unwrap();
        let (status, head, _) = response(&mut s).await;
        assert_eq!(status, 403, "{key:?} {auth:?}: {head}");
        assert!(head.contains(&error.to_lowercase()), "{head}");
    }
    assert_eq!(gate.upstream.count(), 0);
    gate.stop().await;
}

/// Two of a header that authenticates (a valid signature and garbage, or two dates) is
/// ambiguous: refused from the head, whichever comes first.
#[tokio::test]
async fn ambiguous_credentials_are_refused_from_the_head() {
    let gate = gate(&[]).await;
    let alice = gate.user("alice", "research").await;
    let key = Some((
        alice.key.access_key_id.as_str(),
        alice.key.secret_access_key.as_str(),
    ));
    let body = body_of(100);
    let signed = request_head(&gate, &body, key, None);
    let bearer = format!("Bearer {}", alice.key.bearer_token);
    let with_token = request_head(&gate, &body, None, Some(&bearer));
    for head in [
        // A valid signature, then garbage.
        request_head(&gate, &body, key, Some("AWS4-HMAC-SHA256 garbage")),
        // A valid bearer token, then an unknown one.
        with_header(&with_token, "authorization: Bearer not-a-token"),
        // A valid signature with a second date.
        with_header(&signed, "x-amz-date: 20200101T000000Z"),
    ] {
        let mut s = connect(&gate).await;
        s.write_all(&head).await.unwrap();
        let (status, head, body) = response(&mut s).await;
        assert_eq!(status, 403, "{head}");
        assert!(head.contains("invalidsignatureexception"), "{head}");
        assert!(body.contains("more than one"), "{body}");
    }
    assert_eq!(gate.upstream.count(), 0);
    // The same requests with one of each header are served.
    for head in [&signed, &with_token] {
        let mut s = connect(&gate).await;
        s.write_all(head).await.unwrap();
        s.write_all(&body).await.unwrap();
        assert_eq!(response(&mut s).await.0, 200);
    }
    gate.stop().await;
}

/// `head` with one more header line.
fn with_header(head: &[u8], line: &str) -> Vec<u8> {
    let text = String::from_utf8(head.to_vec()).unwrap();
    let (first, rest) = text.split_once("\r\n").unwrap();
    format!("{first}\r\n{line}\r\n{rest}").into_bytes()
}

#[tokio::test]
async fn bodies_past_the_shared_budget_get_503_and_the_budget_comes_back() {
    // Bodies up to 1 MB; 1.5 MB of bodies in memory at once.
    let gate = gate(&[
        ("max_body_bytes", "1048576"),
        ("max_pending_body_bytes", "1572864"),
    ])
    .await;
    let alice = gate.user("alice", "research").await;
    let key = Some((
        alice.key.access_key_id.as_str(),
        alice.key.secret_access_key.as_str(),
    ));
    // A holds 1 MB: announced, half sent.
    let a_body = body_of(1 << 20);
    let mut a = connect(&gate).await;
    a.write_all(&request_head(&gate, &a_body, key, None))
        .await
        .unwrap();
    a.write_all(&a_body[..1 << 19]).await.unwrap();
    // B's 600 KB do not fit beside it: 503 with Retry-After, at once.
    let b_body = body_of(600 << 10);
    let deadline = tokio::time::Instant::now() + SAFETY;
    let refused = loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "B was never refused"
        );
        let mut b = connect(&gate).await;
        b.write_all(&request_head(&gate, &b_body, key, None))
            .await
            .unwrap();
        // Refused from its head, B may find the connection closed before its body is
        // all written; the answer is there to read either way.
        if let Err(e) = b.write_all(&b_body).await {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
        }
        let (status, head, body) = response(&mut b).await;
        if status == 503 {
            break (head, body);
        }
        // A's head may not have been read yet when B arrived; B went through then.
        assert_eq!(status, 200, "{head}");
    };
    assert!(
        refused.0.contains("serviceunavailableexception"),
        "{}",
        refused.0
    );
    assert!(refused.0.contains("retry-after: 1"), "{}", refused.0);
    assert!(
        refused.1.contains("max_pending_body_bytes"),
        "{}",
        refused.1
    );
    // A finishes and is served; its bytes are given back, and B fits now.
    a.write_all(&a_body[1 << 19..]).await.unwrap();
    let (status, head, _) = response(&mut a).await;
    assert_eq!(status, 200, "{head}");
    let mut b = connect(&gate).await;
    b.write_all(&request_head(&gate, &b_body, key, None))
        .await
        .unwrap();
    b.write_all(&b_body).await.unwrap();
    let (status, head, _) = response(&mut b).await;
    assert_eq!(status, 200, "{head}");
    gate.stop().await;
}

#[tokio::test]
async fn a_trickling_body_is_cut_at_its_deadline() {
    // One second for any body, plus one second per 1,000 bytes received.
    let gate = gate(&[
        ("body_timeout_secs", "1"),
        ("min_body_bytes_per_sec", "1000"),
    ])
    .await;
    let alice = gate.user("alice", "research").await;
    let key = Some((
        alice.key.access_key_id.as_str(),
        alice.key.secret_access_key.as_str(),
    ));
    let body = body_of(100_000);
    let mut s = connect(&gate).await;
    s.write_all(&request_head(&gate, &body, key, None))
        .await
        .unwrap();
    s.write_all(&body[..10]).await.unwrap();
    // Nothing more is sent: the proxy answers 408 on its own.
    let (status, head, message) = response(&mut s).await;
    assert_eq!(status, 408, "{head}");
    assert!(head.contains("requesttimeoutexception"), "{head}");
    assert!(message.contains("too slowly"), "{message}");
    assert_eq!(gate.upstream.count(), 0);
    gate.stop().await;
}

#[tokio::test]
async fn idle_connections_are_closed_and_calls_in_flight_are_not() {
    let gate = Gate::start(GateOptions {
        overrides: overrides(&[("idle_timeout_secs", "1")]),
        // A stream that takes about three seconds: longer than the idle timeout.
        event_delay: Duration::from_millis(300),
        ..Default::default()
    })
    .await;
    // A connection that never sends anything.
    let mut silent = connect(&gate).await;
    assert!(
        closed_by_server(&mut silent).await,
        "a silent connection stays open"
    );

    // A call whose answer streams for longer than the idle timeout completes.
    let alice = gate.user("alice", "research").await;
    let client = common::sdk_client(&gate.url, &alice.key);
    let mut stream = client
        .converse_stream()
        .model_id("anthropic.claude-3-haiku-20240307-v1:0")
        .messages(
            aws_sdk_bedrockruntime::types::Message::builder()
                .role(aws_sdk_bedrockruntime::types::ConversationRole::User)
                .content(aws_sdk_bedrockruntime::types::ContentBlock::Text(
                    "hi".into(),
                ))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .stream;
    let mut events = 0;
    while let Some(_event) = stream.recv().await.unwrap() {
        events += 1;
    }
    assert!(events > 3, "the stream was cut after {events} events");
    let records = gate.records(1).await;
    assert_eq!(records[0].status_code, 200);
    assert!(records[0].output_tokens > 0);
    gate.stop().await;
}

#[tokio::test]
async fn a_half_sent_request_head_is_cut_at_the_header_deadline() {
    let gate = gate(&[("header_timeout_secs", "1")]).await;
    let mut s = connect(&gate).await;
    s.write_all(format!("POST {CONVERSE} HTTP/1.1\r\nhost: gate\r\n").as_bytes())
        .await
        .unwrap();
    assert!(
        closed_by_server(&mut s).await,
        "a half-sent head stays open"
    );
    gate.stop().await;
}

#[tokio::test]
async fn past_the_connection_cap_new_connections_get_503() {
    let gate = gate(&[("max_connections", "2")]).await;
    let first = connect(&gate).await;
    let _second = connect(&gate).await;
    let mut third = connect(&gate).await;
    third
        .write_all(b"GET / HTTP/1.1\r\nhost: gate\r\n\r\n")
        .await
        .unwrap();
    let (status, head, body) = response(&mut third).await;
    assert_eq!(status, 503, "{head}");
    assert!(head.contains("serviceunavailableexception"), "{head}");
    assert!(head.contains("retry-after: 1"), "{head}");
    assert!(body.contains("max_connections"), "{body}");
    // When one closes, its place is free again.
    drop(first);
    let deadline = tokio::time::Instant::now() + SAFETY;
    loop {
        let mut s = connect(&gate).await;
        s.write_all(b"GET /ping HTTP/1.1\r\nhost: gate\r\n\r\n")
            .await
            .unwrap();
        let (status, _, _) = response(&mut s).await;
        if status != 503 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the closed place never came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    gate.stop().await;
}
