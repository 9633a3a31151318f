//! The metrics as a scrape shows them: labels, caps, outcomes and the fixed values.

use super::*;

fn metrics(per_user: bool, max_users: usize) -> Metrics {
    let config = MetricsConfig {
        per_user,
        max_users,
    };
    Metrics::new(
        &config,
        Box::new(|| BlockedUsers {
            manual: 2,
            automatic: 1,
        }),
    )
}

fn finished(outcome: Outcome) -> Finished {
    Finished {
        outcome,
        tokens: [120, 45, 10, 5],
        cost_usd: 0.25,
        upstream_latency: Some(Duration::from_millis(300)),
        first_byte: Some(Duration::from_millis(100)),
    }
}

#[test]
fn a_call_shows_in_every_family_without_a_user_label_by_default() {
    let m = metrics(false, 100);
    let l = m.labels("research", "alice", "anthropic.claude", true, "Converse");
    m.finished(&l, &finished(Outcome::Admitted));
    m.finished(&l, &finished(Outcome::Admitted));
    m.proxy_overhead(Duration::from_micros(40));
    let text = m.render().unwrap();
    let want = [
        r#"bedrock_gate_requests_total{outcome="admitted",team="research",model="anthropic.claude",operation="Converse"} 2"#,
        r#"bedrock_gate_tokens_total{team="research",model="anthropic.claude",type="input"} 240"#,
        r#"bedrock_gate_tokens_total{team="research",model="anthropic.claude",type="cache_write"} 10"#,
        r#"bedrock_gate_cost_usd_total{team="research",model="anthropic.claude"} 0.5"#,
        r#"bedrock_gate_upstream_latency_seconds_count{model="anthropic.claude",operation="Converse"} 2"#,
        r#"bedrock_gate_upstream_first_byte_seconds_count{model="anthropic.claude",operation="Converse"} 2"#,
        "bedrock_gate_proxy_overhead_seconds_count 1",
        r#"bedrock_gate_blocked_users{kind="manual"} 2"#,
        r#"bedrock_gate_blocked_users{kind="automatic"} 1"#,
        "bedrock_gate_record_queue_depth 0",
    ];
    for line in want {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    assert!(!text.contains("user="), "{text}");
    assert!(text.ends_with("# EOF\n"), "{text}");
}

#[test]
fn refusals_and_upstream_errors_carry_their_reason() {
    let m = metrics(false, 100);
    let l = m.labels("research", "alice", "anthropic.claude", true, "Converse");
    m.refused(
        &l,
        refusal_reason(&crate::error::GateError::QuotaExceeded(String::new())),
    );
    m.refused(&m.unauthenticated("Converse"), "unrecognized_client");
    let mut err = finished(Outcome::UpstreamError(upstream_error_reason(Some(
        "ThrottlingException",
    ))));
    err.tokens = [0; 4];
    err.cost_usd = 0.0;
    m.finished(&l, &err);
    let text = m.render().unwrap();
    for line in [
        r#"bedrock_gate_requests_total{outcome="refused",reason="quota_exceeded",team="research",model="anthropic.claude",operation="Converse"} 1"#,
        r#"bedrock_gate_requests_total{outcome="refused",reason="unrecognized_client",team="(none)",model="(none)",operation="Converse"} 1"#,
        r#"bedrock_gate_requests_total{outcome="upstream_error",reason="ThrottlingException",team="research",model="anthropic.claude",operation="Converse"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    // An upstream error is not also counted as admitted (its series exists, at zero).
    let admitted = r#"bedrock_gate_requests_total{outcome="admitted",team="research",model="anthropic.claude",operation="Converse"} 0"#;
    assert!(text.contains(admitted), "{text}");
}

#[test]
fn per_user_labels_are_capped() {
    let m = metrics(true, 2);
    for user in ["u1", "u2", "u3", "u4", "u1"] {
        let l = m.labels("t", user, "m", true, "Converse");
        m.finished(&l, &finished(Outcome::Admitted));
    }
    m.refused(&m.unauthenticated("Other"), "unrecognized_client");
    let text = m.render().unwrap();
    for line in [
        r#"bedrock_gate_requests_total{outcome="admitted",team="t",model="m",operation="Converse",user="u1"} 2"#,
        r#"bedrock_gate_requests_total{outcome="admitted",team="t",model="m",operation="Converse",user="u2"} 1"#,
        r#"bedrock_gate_requests_total{outcome="admitted",team="t",model="m",operation="Converse",user="other"} 2"#,
        r#"bedrock_gate_cost_usd_total{team="t",model="m",user="other"} 0.5"#,
        r#"team="(none)",model="(none)",operation="Other",user="(none)"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    assert!(!text.contains("u3"), "{text}");
    assert_eq!(m.calls.len(), 3);
}

#[test]
fn unpriced_models_are_capped_and_priced_ones_are_not() {
    let m = metrics(false, 100);
    let ids: Vec<String> = (0..MAX_UNPRICED_MODELS + 5)
        .map(|i| format!("x.model-{i}"))
        .collect();
    let labels: Vec<&str> = ids
        .iter()
        .map(|id| m.labels("t", "u", id, false, "Converse").model)
        .collect();
    assert_eq!(labels[0], "x.model-0");
    assert_eq!(
        labels[MAX_UNPRICED_MODELS - 1],
        ids[MAX_UNPRICED_MODELS - 1]
    );
    assert_eq!(labels[MAX_UNPRICED_MODELS], OTHER);
    assert_eq!(
        m.labels("t", "u", "priced.one", true, "Converse").model,
        "priced.one"
    );
    assert_eq!(
        m.labels("t", "u", "", false, "ListAsyncInvokes").model,
        NONE
    );
}

#[test]
fn grants_errors_and_the_queue_show() {
    let m = metrics(false, 100);
    m.chunk_grant("requests", true);
    m.chunk_grant("requests", true);
    m.chunk_grant("micro_usd", false);
    m.database_error("quota_grant");
    let q = m.record_queue();
    q.inc();
    q.inc();
    q.dec();
    let text = m.render().unwrap();
    for line in [
        r#"bedrock_gate_quota_chunk_grants_total{metric="requests",result="granted"} 2"#,
        r#"bedrock_gate_quota_chunk_grants_total{metric="micro_usd",result="exhausted"} 1"#,
        r#"bedrock_gate_database_errors_total{operation="quota_grant"} 1"#,
        "bedrock_gate_record_queue_depth 1",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
}
