//! The dashboard's side of the admin listener against a real `serve`: login with an
//! admin token (cookie flags), the session cookie as an alternative to the bearer
//! token, CSRF required on changes made with it, audit rows naming the token, logout
//! and revoked tokens ending sessions; `/api/v1/summary`, the `operation` filter of
//! `/api/v1/usage`, and the embedded assets with their headers.

use crate::common;

use common::admin::{request, Answer, Api};
use common::{Engine, Gate, GateOptions};
use serde_json::{json, Value};

/// A browser's view of one session: the cookie and the CSRF token.
struct Browser {
    base: String,
    cookie: String,
    csrf: String,
}

impl Browser {
    async fn login(base: &str, token: &str, extra: &[(&str, &str)]) -> (Answer, Option<Browser>) {
        let mut headers = vec![("content-type", "application/json")];
        headers.extend_from_slice(extra);
        let a = request(
            "POST",
            &format!("{base}/api/v1/session/login"),
            &headers,
            &json!({ "token": token }).to_string(),
        )
        .await;
        if a.status != 201 {
            return (a, None);
        }
        let set = a.header("set-cookie").unwrap();
        let cookie = set.split(';').next().unwrap().to_string();
        let csrf = a.json()["csrf_token"].as_str().unwrap().to_string();
        let b = Browser {
            base: base.to_string(),
            cookie,
            csrf,
        };
        (a, Some(b))
    }

    async fn call(&self, method: &str, path: &str, csrf: Option<&str>, body: &str) -> Answer {
        let mut headers = vec![
            ("cookie", self.cookie.as_str()),
            ("content-type", "application/json"),
        ];
        if let Some(c) = csrf {
            headers.push(("x-csrf-token", c));
        }
        request(method, &format!("{}{path}", self.base), &headers, body).await
    }
}

async fn start(engine: Engine) -> (Gate, Api) {
    let gate = Gate::start(GateOptions {
        engine,
        ..Default::default()
    })
    .await;
    let api = Api::new(&gate, "ops-bot").await;
    (gate, api)
}

#[tokio::test]
async fn sessions_need_csrf_for_changes_and_end_at_logout() {
    for engine in common::engines() {
        let (gate, api) = start(engine).await;
        let base = gate.admin_url.clone();

        let (a, none) = Browser::login(&base, "bga_not-a-token", &[]).await;
        assert!(none.is_none());
        assert_eq!(a.status, 401);
        assert!(a.message().contains("unknown or revoked"), "{}", a.text);
        let (a, _) = Browser::login(&base, "", &[]).await;
        assert_eq!(a.status, 401, "{}", a.text);
        let bad = request(
            "POST",
            &format!("{base}/api/v1/session/login"),
            &[],
            "{\"tok\": 1}",
        )
        .await;
        assert_eq!(bad.status, 400, "{}", bad.text);

        let (a, b) = Browser::login(&base, &api.token, &[]).await;
        let b = b.unwrap();
        let set = a.header("set-cookie").unwrap();
        for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
            assert!(set.contains(flag), "{set}");
        }
        assert!(!set.contains("Secure"), "plain HTTP: {set}");
        assert!(!set.contains(&api.token), "{set}");
        assert_eq!(a.json()["token_name"], "ops-bot");
        let (a, _) = Browser::login(&base, &api.token, &[("x-forwarded-proto", "https")]).await;
        assert!(a.header("set-cookie").unwrap().contains("; Secure"));

        // Reads with the cookie alone; the session says who and its CSRF token.
        assert_eq!(b.call("GET", "/api/v1/teams", None, "").await.status, 200);
        let s = b.call("GET", "/api/v1/session", None, "").await;
        assert_eq!(s.status, 200, "{}", s.text);
        assert_eq!(s.json()["csrf_token"].as_str().unwrap(), b.csrf);

        // Changes need the CSRF token.
        let body = json!({"name": "research"}).to_string();
        let a = b.call("POST", "/api/v1/teams", None, &body).await;
        assert_eq!(a.status, 403, "{}", a.text);
        assert!(a.message().contains("X-CSRF-Token"), "{}", a.text);
        let a = b.call("POST", "/api/v1/teams", Some("forged"), &body).await;
        assert_eq!(a.status, 403, "{}", a.text);
        assert!(api
            .get_ok("/api/v1/teams")
            .await
            .as_array()
            .unwrap()
            .is_empty());
        let a = b.call("POST", "/api/v1/teams", Some(&b.csrf), &body).await;
        assert_eq!(a.status, 201, "{}", a.text);

        // The audit log names the token the session was made from.
        let log = api
            .get_ok("/api/v1/audit/admin?resource=team:research")
            .await;
        assert_eq!(log["entries"][0]["actor"], "dashboard:ops-bot", "{log}");
        let log = api.get_ok("/api/v1/audit/admin?operation=login").await;
        assert_eq!(log["entries"].as_array().unwrap().len(), 2, "{log}");

        // Logout needs the CSRF token too, then the old cookie is refused.
        assert_eq!(
            b.call("POST", "/api/v1/session/logout", None, "")
                .await
                .status,
            403
        );
        let a = b
            .call("POST", "/api/v1/session/logout", Some(&b.csrf), "")
            .await;
        assert_eq!(a.status, 200, "{}", a.text);
        assert_eq!(a.json()["ended"], true);
        assert!(a.header("set-cookie").unwrap().contains("Max-Age=0"));
        let a = b.call("GET", "/api/v1/teams", None, "").await;
        assert_eq!(a.status, 401);
        assert!(a.message().contains("log in again"), "{}", a.text);
        let log = api.get_ok("/api/v1/audit/admin?operation=logout").await;
        assert_eq!(log["entries"][0]["actor"], "dashboard:ops-bot", "{log}");

        // Revoking the token ends its sessions.
        let (_, c) = Browser::login(&base, &api.token, &[]).await;
        let c = c.unwrap();
        assert_eq!(c.call("GET", "/api/v1/users", None, "").await.status, 200);
        let a = api
            .call("POST", "/api/v1/admin/tokens/ops-bot/revoke", None)
            .await;
        assert_eq!(a.status, 200, "{}", a.text);
        assert_eq!(c.call("GET", "/api/v1/users", None, "").await.status, 401);

        // A bearer caller has no session to show.
        let other = Api::new(&gate, "other").await;
        assert_eq!(other.call("GET", "/api/v1/session", None).await.status, 400);
        gate.stop().await;
    }
}

#[tokio::test]
async fn summary_totals_the_organisation_and_usage_filters_by_operation() {
    let (gate, api) = start(Engine::Sqlite).await;
    let limits = |daily: f64, monthly: f64| json!({"daily_budget_usd": daily, "monthly_budget_usd": monthly, "daily_requests": 100});
    for (team, l) in [
        ("research", limits(5.0, 100.0)),
        ("platform", limits(2.5, 50.0)),
    ] {
        let a = api
            .call(
                "POST",
                "/api/v1/teams",
                Some(json!({"name": team, "limits": l})),
            )
            .await;
        assert_eq!(a.status, 201, "{}", a.text);
    }
    let a = api
        .call("POST", "/api/v1/teams", Some(json!({"name": "free"})))
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let alice = gate.user("alice", "research").await;
    gate.user("bob", "platform").await;
    for _ in 0..3 {
        let (status, _) = common::converse(&gate.url, &alice.key.bearer_token).await;
        assert_eq!(status, 200);
    }
    let records = gate.records(3).await;
    let cost: f64 = records.iter().map(|r| r.cost_usd).sum();
    assert!(cost > 0.0);
    let a = api
        .call(
            "POST",
            "/api/v1/users/bob/block",
            Some(json!({"reason": "test"})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);

    let s: Value = api.get_ok("/api/v1/summary").await;
    assert_eq!(s["usage"]["day"]["requests"], 3, "{s}");
    assert_eq!(s["usage"]["month"]["requests"], 3, "{s}");
    assert!((s["usage"]["month"]["cost_usd"].as_f64().unwrap() - cost).abs() < 1e-9);
    assert_eq!(s["team_limits_total"]["monthly_budget_usd"], 150.0);
    assert_eq!(s["team_limits_total"]["daily_budget_usd"], 7.5);
    assert_eq!(s["team_limits_total"]["daily_requests"], 200);
    assert_eq!(s["team_limits_total"]["monthly_requests"], Value::Null);
    assert_eq!(
        s["teams_without_limits"], 3,
        "no team sets every limit: {s}"
    );
    assert_eq!(s["teams"], 3);
    assert_eq!(s["users"], 2);
    assert_eq!(s["blocked"], 1);
    assert_eq!(s["timezone"], "CET");
    assert_eq!(s["warning_percent"], 80);
    assert_eq!(s["today"].as_str().unwrap().len(), 10);
    assert!((28..=31).contains(&s["days_in_month"].as_u64().unwrap()));

    let page = api.get_ok("/api/v1/usage?operation=Converse").await;
    assert_eq!(page["records"].as_array().unwrap().len(), 3);
    let page = api.get_ok("/api/v1/usage?operation=InvokeModel").await;
    assert!(page["records"].as_array().unwrap().is_empty());
    let csv = api
        .get_with("/api/v1/usage?operation=Converse&format=csv", &[])
        .await;
    assert_eq!(csv.status, 200);
    assert_eq!(
        csv.text.lines().count(),
        4,
        "header and 3 calls: {}",
        csv.text
    );
    let csv = api
        .get_with("/api/v1/usage?operation=InvokeModel&format=csv", &[])
        .await;
    assert_eq!(csv.status, 200);
    assert!(csv.text.trim().is_empty(), "no call: {}", csv.text);
    let unauth = request(
        "GET",
        &format!("{}/api/v1/summary", gate.admin_url),
        &[],
        "",
    )
    .await;
    assert_eq!(unauth.status, 401);
    gate.stop().await;
}

#[tokio::test]
async fn the_dashboard_is_served_from_the_binary_with_a_strict_policy() {
    let (gate, _api) = start(Engine::Sqlite).await;
    let base = gate.admin_url.clone();
    let page = request("GET", &format!("{base}/"), &[], "").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(page.header("cache-control").as_deref(), Some("no-cache"));
    assert!(page.text.contains("/assets/app.js"));
    assert!(
        !page.text.contains("http://") && !page.text.contains("https://"),
        "no CDN"
    );
    let js = request("GET", &format!("{base}/assets/app.js"), &[], "").await;
    assert_eq!(js.status, 200);
    assert_eq!(
        js.header("content-type").as_deref(),
        Some("text/javascript; charset=utf-8")
    );
    let etag = js.header("etag").unwrap();
    let again = request(
        "GET",
        &format!("{base}/assets/app.js"),
        &[("if-none-match", &etag)],
        "",
    )
    .await;
    assert_eq!(again.status, 304);
    let css = request("GET", &format!("{base}/assets/app.css"), &[], "").await;
    assert_eq!(
        css.header("content-type").as_deref(),
        Some("text/css; charset=utf-8")
    );
    let missing = request("GET", &format!("{base}/assets/nope.js"), &[], "").await;
    assert_eq!(missing.status, 404);
    gate.stop().await;
}
