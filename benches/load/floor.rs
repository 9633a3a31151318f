//! The HTTP floor of the load benchmark: a bare reverse proxy on the same stack and
//! thread model as bedrock-gate (hyper server and pooled hyper client, one
//! single-threaded tokio runtime per core sharing the listening socket, one upstream pool
//! per thread), but with no authentication, quotas, signing, usage reading or records.
//!
//! It answers "how much of bedrock-gate's cost is the HTTP stack itself": the gap between
//! this row and nginx is hyper and tokio; the gap between this row and bedrock-gate is
//! bedrock-gate's own work.
//!
//! `cargo run --release --example bench-floor -- LISTEN UPSTREAM_URL [THREADS]`

#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

type Body = BoxBody<Bytes, hyper::Error>;

async fn forward(
    client: &Client<HttpConnector, Incoming>,
    upstream: &Uri,
    req: Request<Incoming>,
) -> Response<Body> {
    let (mut parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    parts.uri = Uri::builder()
        .scheme(upstream.scheme_str().unwrap_or("http"))
        .authority(upstream.authority().map_or("127.0.0.1", |a| a.as_str()))
        .path_and_query(path)
        .build()
        .expect("upstream uri");
    match client.request(Request::from_parts(parts, body)).await {
        Ok(resp) => resp.map(BodyExt::boxed),
        Err(_) => Response::builder()
            .status(503)
            .body(
                Full::new(Bytes::from_static(b"upstream unreachable"))
                    .map_err(|never| match never {})
                    .boxed(),
            )
            .expect("response"),
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let listen: SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:18098".into())
        .parse()
        .expect("listen address");
    let upstream: Uri = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:18090".into())
        .parse()
        .expect("upstream url");
    let threads: usize = args
        .next()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let listener = std::net::TcpListener::bind(listen).expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    println!("listening on {}", listener.local_addr().expect("addr"));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let listener = listener.try_clone().expect("clone listener");
            let upstream = upstream.clone();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                    let mut connector = HttpConnector::new();
                    connector.set_nodelay(true);
                    let client: Client<HttpConnector, Incoming> =
                        Client::builder(TokioExecutor::new())
                            .pool_max_idle_per_host(256)
                            .build(connector);
                    loop {
                        let Ok((stream, _)) = listener.accept().await else {
                            continue;
                        };
                        let _ = stream.set_nodelay(true);
                        let (client, upstream) = (client.clone(), upstream.clone());
                        tokio::spawn(async move {
                            let service = service_fn(move |req| {
                                let (client, upstream) = (client.clone(), upstream.clone());
                                async move {
                                    Ok::<_, Infallible>(forward(&client, &upstream, req).await)
                                }
                            });
                            let _ = auto::Builder::new(TokioExecutor::new())
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        });
                    }
                });
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
}
