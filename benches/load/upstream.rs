//! A fast fake Bedrock runtime for the load benchmark: answers Converse, InvokeModel and
//! ConverseStream with realistic bodies, token-count headers and event streams, as fast
//! as it can. It does not check signatures (the integration tests' upstream does); it is
//! the "direct" baseline every proxy is compared against.
//!
//! `cargo run --release --example bench-upstream -- [LISTEN] [HOLD_MS]`: prints
//! `listening on ADDR`. Models whose id contains `hold` stream one event every HOLD_MS
//! milliseconds (default 1000) for a minute, to keep streams open.

#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

fn frame(event: &str, payload: &str) -> Vec<u8> {
    bedrock_gate::usage::eventstream::encode_event(event, payload.as_bytes()).expect("small frame")
}

fn stream_events() -> Vec<Bytes> {
    let mut v = vec![Bytes::from(frame(
        "messageStart",
        r#"{"p":"abcd","role":"assistant"}"#,
    ))];
    for word in [
        "Hello",
        " from",
        " the",
        " load",
        " benchmark",
        " upstream.",
    ] {
        v.push(Bytes::from(frame(
            "contentBlockDelta",
            &format!(r#"{{"contentBlockIndex":0,"delta":{{"text":"{word}"}},"p":"abcdefgh"}}"#),
        )));
    }
    v.push(Bytes::from(frame(
        "contentBlockStop",
        r#"{"contentBlockIndex":0,"p":"ab"}"#,
    )));
    v.push(Bytes::from(frame(
        "messageStop",
        r#"{"p":"abc","stopReason":"end_turn"}"#,
    )));
    v.push(Bytes::from(frame(
        "metadata",
        r#"{"metrics":{"latencyMs":412},"p":"abcdef","usage":{"inputTokens":812,"outputTokens":96,"totalTokens":908}}"#,
    )));
    v
}

const CONVERSE: &str = r#"{"metrics":{"latencyMs":412},"output":{"message":{"content":[{"text":"Hello from the load benchmark upstream. This answer is about as long as a short real completion, so that the proxy reads and forwards a realistic body."}],"role":"assistant"}},"stopReason":"end_turn","usage":{"inputTokens":812,"outputTokens":96,"totalTokens":908}}"#;

type Body = BoxBody<Bytes, Infallible>;

async fn handle(
    req: Request<Incoming>,
    events: std::sync::Arc<Vec<Bytes>>,
    hold: Duration,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().to_string();
    // Read (and drop) the request body like a real server.
    let _ = req.into_body().collect().await;
    let builder =
        Response::builder().header("x-amzn-requestid", "00000000-0000-0000-0000-000000000000");
    let response = if path.contains("/converse-stream") {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(16);
        let holding = path.contains("hold");
        tokio::spawn(async move {
            if holding {
                let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
                let mut i = 0;
                while tokio::time::Instant::now() < deadline {
                    let e = events[1 + i % 6].clone();
                    if tx.send(Ok(Frame::data(e))).await.is_err() {
                        return;
                    }
                    i += 1;
                    tokio::time::sleep(hold).await;
                }
            }
            for e in events.iter() {
                if tx.send(Ok(Frame::data(e.clone()))).await.is_err() {
                    return;
                }
            }
        });
        let stream = tokio_stream_from(rx);
        builder
            .header("content-type", "application/vnd.amazon.eventstream")
            .body(BodyExt::boxed(StreamBody::new(stream)))
    } else if path.ends_with("/invoke") {
        builder
            .header("content-type", "application/json")
            .header("x-amzn-bedrock-input-token-count", "812")
            .header("x-amzn-bedrock-output-token-count", "96")
            .header("x-amzn-bedrock-invocation-latency", "412")
            .body(Full::new(Bytes::from_static(br#"{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"Hello from the load benchmark upstream."}],"stop_reason":"end_turn","usage":{"input_tokens":812,"output_tokens":96}}"#)).boxed())
    } else {
        builder
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(CONVERSE.as_bytes())).boxed())
    };
    Ok(response.unwrap_or_else(|_| Response::new(Full::new(Bytes::new()).boxed())))
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Frame<Bytes>, Infallible>>,
) -> impl futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:0".into());
    let hold = Duration::from_millis(args.next().and_then(|s| s.parse().ok()).unwrap_or(1000));
    let listener = tokio::net::TcpListener::bind(&listen).await.expect("bind");
    println!("listening on {}", listener.local_addr().expect("addr"));
    let events = std::sync::Arc::new(stream_events());
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let events = events.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(req, events.clone(), hold));
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
