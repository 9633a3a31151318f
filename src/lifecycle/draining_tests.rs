//! Tests of connection draining: an in-flight request finishes before its connection
//! closes, and what is left after the grace period is closed.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use super::ConnectionSet;

/// A connection served by `set` whose one request waits for `release` (after signalling
/// `started`), and the client end of it.
async fn slow_request(
    set: &mut ConnectionSet,
    started: Arc<Notify>,
    release: Arc<Notify>,
) -> TcpStream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (stream, _) = listener.accept().await.unwrap();
    set.spawn(move |watcher| async move {
        let service = service_fn(move |_req| {
            let (started, release) = (Arc::clone(&started), Arc::clone(&release));
            async move {
                started.notify_one();
                release.notified().await;
                Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"done"))))
            }
        });
        let builder = auto::Builder::new(TokioExecutor::new());
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let _ = watcher.watch(conn.into_owned()).await;
    });
    client
        .write_all(b"GET / HTTP/1.1\r\nhost: test\r\n\r\n")
        .await
        .unwrap();
    client
}

#[tokio::test]
async fn draining_lets_an_in_flight_request_finish_then_closes_its_connection() {
    let (started, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let mut set = ConnectionSet::new();
    let mut client = slow_request(&mut set, Arc::clone(&started), Arc::clone(&release)).await;
    started.notified().await;

    let drain = set.drain(Duration::from_secs(30));
    tokio::pin!(drain);
    assert!(
        futures_util::poll!(&mut drain).is_pending(),
        "draining waits for the request in flight"
    );
    release.notify_one();
    let mut response = Vec::new();
    let (finished, read) = tokio::join!(drain, client.read_to_end(&mut response));
    read.unwrap();
    assert!(finished, "finished within the grace period, not cut off");
    let text = String::from_utf8(response).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("done"), "the whole response: {text}");
}

#[tokio::test]
async fn draining_closes_what_is_left_after_the_grace_period() {
    let (started, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let mut set = ConnectionSet::new();
    let mut client = slow_request(&mut set, Arc::clone(&started), release).await;
    started.notified().await;

    let grace = Duration::from_millis(50);
    let begun = tokio::time::Instant::now();
    assert!(!set.drain(grace).await, "the request never finishes");
    assert!(begun.elapsed() >= grace);
    let mut response = Vec::new();
    client.read_to_end(&mut response).await.unwrap();
    assert!(response.is_empty(), "closed without an answer");
}
