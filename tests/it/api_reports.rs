//! The admin API's reports against a real `serve` with real proxied calls: per-call
//! records with filters and paging, aggregates, users with their usage, and CSV that
//! matches JSON for every list.

use crate::common;

use common::admin::Api;
use common::{converse, Engine, Gate, GateOptions};
use serde_json::{json, Value};

async fn gate_with_calls(engine: Engine, calls: usize) -> (Gate, Api) {
    let gate = Gate::start(GateOptions {
        engine,
        ..Default::default()
    })
    .await;
    let api = Api::new(&gate, "tester").await;
    let ann = gate.user("ann", "red").await;
    let ben = gate.user("ben", "blue").await;
    for i in 0..calls {
        let who = if i % 2 == 0 { &ann } else { &ben };
        let (status, _) = converse(&gate.url, &who.key.bearer_token).await;
        assert_eq!(status, 200);
    }
    gate.records(calls).await;
    (gate, api)
}

#[tokio::test]
async fn usage_pages_filters_and_aggregates() {
    for engine in common::engines() {
        let (gate, api) = gate_with_calls(engine, 5).await;
        let page = api.get_ok("/api/v1/usage").await;
        let records = page["records"].as_array().unwrap();
        assert_eq!(records.len(), 5);
        assert_eq!(page["next_cursor"], Value::Null);
        let model = records[0]["model_id"].as_str().unwrap().to_string();

        // Paging visits every record once, newest first.
        let mut seen = Vec::new();
        let mut path = "/api/v1/usage?limit=2".to_string();
        loop {
            let p = api.get_ok(&path).await;
            seen.extend(
                p["records"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["request_uid"].clone()),
            );
            match p["next_cursor"].as_str() {
                Some(c) => path = format!("/api/v1/usage?limit=2&cursor={c}"),
                None => break,
            }
        }
        let all: Vec<Value> = records.iter().map(|r| r["request_uid"].clone()).collect();
        assert_eq!(seen, all);

        let ann = api.get_ok("/api/v1/usage?user=ann").await;
        assert_eq!(ann["records"].as_array().unwrap().len(), 3);
        let blue = api.get_ok("/api/v1/usage?team=blue&status=ok").await;
        assert_eq!(blue["records"].as_array().unwrap().len(), 2);
        let errors = api.get_ok("/api/v1/usage?status=error").await;
        assert_eq!(errors["records"].as_array().unwrap().len(), 0);
        let by_model = api.get_ok(&format!("/api/v1/usage?model={model}")).await;
        assert_eq!(by_model["records"].as_array().unwrap().len(), 5);
        let future = api.get_ok("/api/v1/usage?from=2999-01-01").await;
        assert_eq!(future["records"].as_array().unwrap().len(), 0);
        for (bad, names) in [
            ("status=weird", "status"),
            ("from=yesterday", "from"),
            ("limit=0", "limit"),
            ("limit=x", "limit"),
            ("cursor=!!", "cursor"),
        ] {
            let a = api.call("GET", &format!("/api/v1/usage?{bad}"), None).await;
            assert_eq!(a.status, 400, "{bad}: {}", a.text);
            assert!(a.message().contains(names), "{bad}: {}", a.text);
        }
        assert_eq!(
            api.call("GET", "/api/v1/usage?user=nope", None)
                .await
                .status,
            404
        );

        let by_user = api.get_ok("/api/v1/aggregates?group_by=user").await;
        let rows = by_user.as_array().unwrap();
        let ann_row = rows.iter().find(|r| r["key"] == "ann").unwrap();
        assert_eq!(ann_row["requests"], 3);
        let by_team = api.get_ok("/api/v1/aggregates?group_by=team").await;
        let total: i64 = by_team
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["requests"].as_i64().unwrap())
            .sum();
        assert_eq!(total, 5);
        for g in ["model", "day", "hour"] {
            let rows = api
                .get_ok(&format!("/api/v1/aggregates?group_by={g}"))
                .await;
            let total: i64 = rows
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["requests"].as_i64().unwrap())
                .sum();
            assert_eq!(total, 5, "group_by={g}");
        }
        let hours_of_ann = api
            .get_ok("/api/v1/aggregates?group_by=hour&user=ann")
            .await;
        let total: i64 = hours_of_ann
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["requests"].as_i64().unwrap())
            .sum();
        assert_eq!(total, 3);
        for bad in [
            "group_by=week",
            "",
            "group_by=user&from=2026-13-01",
            "group_by=user&from=2026-02-01&to=2026-01-01",
        ] {
            let a = api
                .call("GET", &format!("/api/v1/aggregates?{bad}"), None)
                .await;
            assert_eq!(a.status, 400, "{bad}: {}", a.text);
        }
        assert_eq!(
            api.call("GET", "/api/v1/aggregates?group_by=user&team=nope", None)
                .await
                .status,
            404
        );

        // The user list carries usage today and this month.
        let users = api.get_ok("/api/v1/users").await;
        let ann = users
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["username"] == "ann")
            .unwrap();
        assert_eq!(ann["usage"]["day"]["requests"], 3);
        assert_eq!(ann["usage"]["month"]["requests"], 3);
        assert!(ann["usage"]["day"]["cost_usd"].as_f64().unwrap() > 0.0);
        gate.stop().await;
    }
}

/// A JSON value as the CSV writes it.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Every row of `csv` equals the JSON object at the same place, field by field.
fn assert_same(path: &str, json_rows: &[Value], csv_text: &str) {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), json_rows.len(), "{path}: {csv_text}");
    for (row, obj) in rows.iter().zip(json_rows) {
        let obj = obj.as_object().unwrap();
        let mut keys: Vec<&String> = obj.keys().collect();
        keys.sort();
        assert_eq!(
            keys,
            header.iter().collect::<Vec<_>>(),
            "{path}: columns are the fields"
        );
        for (name, value) in header.iter().zip(row.iter()) {
            assert_eq!(value, cell(&obj[name]), "{path}: column {name}");
        }
    }
}

#[tokio::test]
async fn csv_matches_json_for_every_list() {
    let (gate, api) = gate_with_calls(Engine::Sqlite, 4).await;
    api.call(
        "POST",
        "/api/v1/users/ann/block",
        Some(json!({"reason": "a, \"quoted\"\nreason"})),
    )
    .await;
    api.call("POST", "/api/v1/users/ben/protect", None).await;
    api.call(
        "PATCH",
        "/api/v1/users/ben/limits",
        Some(json!({"daily_requests": 9})),
    )
    .await;
    // (path, where the JSON rows are)
    let lists = [
        ("/api/v1/teams", None),
        ("/api/v1/users", None),
        ("/api/v1/keys", None),
        ("/api/v1/limits", None),
        ("/api/v1/blocks", None),
        ("/api/v1/prices", None),
        ("/api/v1/audit/blocking", None),
        ("/api/v1/admin/tokens", None),
        ("/api/v1/aggregates?group_by=user", None),
        ("/api/v1/aggregates?group_by=hour", None),
        ("/api/v1/usage?limit=1000", Some("records")),
        ("/api/v1/audit/admin?limit=1000", Some("entries")),
    ];
    for (path, field) in lists {
        let json = api.get_ok(path).await;
        let rows = match field {
            Some(f) => json[f].as_array().unwrap().clone(),
            None => json.as_array().unwrap().clone(),
        };
        assert!(!rows.is_empty(), "{path} lists something");
        let sep = if path.contains('?') { '&' } else { '?' };
        let by_query = api.get_with(&format!("{path}{sep}format=csv"), &[]).await;
        let by_accept = api.get_with(path, &[("accept", "text/csv")]).await;
        for a in [&by_query, &by_accept] {
            assert_eq!(a.status, 200, "{path}: {}", a.text);
            assert_eq!(
                a.header("content-type").as_deref(),
                Some("text/csv; charset=utf-8")
            );
            assert_same(path, &rows, &a.text);
        }
    }
    let bad = api.get_with("/api/v1/usage?format=xml", &[]).await;
    assert_eq!(bad.status, 400);
    let bad = api
        .get_with("/api/v1/usage?format=csv&status=weird", &[])
        .await;
    assert_eq!(bad.status, 400, "bad filters fail before the CSV starts");
    gate.stop().await;
}
