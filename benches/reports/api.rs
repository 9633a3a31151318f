//! The reports through the admin API, as the dashboard and scripts get them: a real
//! `serve::run` on port 0 over the seeded database, an admin token, and HTTP/1.1
//! keep-alive GETs timed from the request to the last byte of the body (JSON parsed by
//! the client, so a report that is fast to query but slow to serialise shows).

use std::time::{Duration, Instant};

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use bedrock_gate::config::Config;
use bedrock_gate::domain::{Actor, TokenScope};
use bedrock_gate::ops::Ops;
use bedrock_gate::serve::{self, Listeners, ServeOptions};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::Value;

type Http = Client<HttpConnector, Empty<Bytes>>;

struct Api {
    client: Http,
    base: String,
    bearer: String,
}

impl Api {
    /// One GET; panics on anything but 200 (a benchmark of errors is worthless).
    async fn get(&self, path: &str) -> Value {
        let req = http::Request::get(format!("{}{path}", self.base))
            .header("authorization", &self.bearer)
            .body(Empty::new())
            .unwrap();
        let resp = self.client.request(req).await.unwrap();
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).unwrap()
    }
}

/// Rows in a JSON answer: an array's length, or a page's `records`.
fn rows(v: &Value) -> usize {
    v.as_array()
        .or_else(|| v["records"].as_array())
        .map_or(0, Vec::len)
}

/// Starts `serve` on `config`'s database, runs each report `runs` times through
/// `/api/v1`, prints a table row per report, and stops the server.
pub async fn measure(
    config: Config,
    ops: &Ops,
    runs: usize,
    stats: fn(Vec<Duration>) -> (Duration, Duration),
) {
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", admin.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let options = ServeOptions {
        credentials: Some(SharedCredentialsProvider::new(Credentials::new(
            "AKIDBENCH",
            "bench",
            None,
            None,
            "bench",
        ))),
        ..ServeOptions::default()
    };
    let server = tokio::spawn(serve::run(
        config,
        Listeners { proxy, admin },
        options,
        async move {
            let _ = stopped.await;
        },
    ));
    let name = format!(
        "bench-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    );
    let token = ops
        .create_admin_token(&Actor::system("bench"), &name, TokenScope::Admin)
        .await
        .unwrap()
        .token;
    let api = Api {
        client: Client::builder(hyper_util::rt::TokioExecutor::new()).build_http(),
        base,
        bearer: format!("Bearer {token}"),
    };

    // The cursor of page 51 of user0123's 100-record pages, followed through the API.
    let mut cursor = String::new();
    for _ in 0..50 {
        let page = api
            .get(&format!("/api/v1/usage?user=user0123&limit=100{cursor}"))
            .await;
        let next = page["next_cursor"].as_str().unwrap();
        cursor = format!("&cursor={}", utf8_percent_encode(next, NON_ALPHANUMERIC));
    }
    let reports = [
        (
            "month (Oct) per team, all teams",
            "/api/v1/aggregates?group_by=team&from=2026-10-01&to=2026-10-31".to_string(),
        ),
        (
            "one day per user, one team (team07)",
            "/api/v1/aggregates?group_by=user&from=2026-10-15&to=2026-10-15&team=team07".into(),
        ),
        (
            "one user's records, first page of 100",
            "/api/v1/usage?user=user0123&limit=100".into(),
        ),
        (
            "one user's records, page 51 of 100 by cursor",
            format!("/api/v1/usage?user=user0123&limit=100{cursor}"),
        ),
        (
            "month (Oct) per model, all teams",
            "/api/v1/aggregates?group_by=model&from=2026-10-01&to=2026-10-31".into(),
        ),
        (
            "all users with today's and this month's usage",
            "/api/v1/users".into(),
        ),
    ];
    println!(
        "\n| report (through `/api/v1`, HTTP/1.1 keep-alive) | rows out | median ms | p90 ms |"
    );
    println!("|---|---:|---:|---:|");
    for (name, path) in reports {
        let n = rows(&api.get(&path).await); // warm-up
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let t = Instant::now();
            api.get(&path).await;
            times.push(t.elapsed());
        }
        let (median, p90) = stats(times);
        println!(
            "| {name} | {n} | {:.2} | {:.2} |",
            median.as_secs_f64() * 1000.0,
            p90.as_secs_f64() * 1000.0
        );
    }
    ops.revoke_admin_token(&Actor::system("bench"), &name)
        .await
        .unwrap();
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
