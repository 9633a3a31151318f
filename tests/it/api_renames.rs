//! The admin API answers what the command line answers: moving a user to another team,
//! renaming users and teams (usage follows the new name, the old name is gone), the user
//! list's `blocked` and `near_limit` filters and the team list's spend, each change in the
//! admin audit log; on every engine.

use crate::common;

use common::admin::Api;
use common::{engines, Gate, GateOptions};
use serde_json::{json, Value};

async fn post(api: &Api, path: &str, body: Value) -> Value {
    let a = api.call("POST", path, Some(body)).await;
    assert!(a.status < 300, "POST {path}: {} {}", a.status, a.text);
    a.json()
}

#[tokio::test]
async fn move_rename_and_filtered_lists() {
    for engine in engines() {
        let gate = Gate::start(GateOptions {
            engine,
            ..Default::default()
        })
        .await;
        let api = Api::new(&gate, "tester").await;
        post(&api, "/api/v1/teams", json!({"name": "red"})).await;
        post(&api, "/api/v1/teams", json!({"name": "blue"})).await;
        let body = json!({"username": "ann", "person_name": "Ann", "team": "red",
                          "limits": {"daily_requests": 0}});
        post(&api, "/api/v1/users", body).await;
        let body = json!({"username": "bo", "person_name": "Bo", "team": "red"});
        post(&api, "/api/v1/users", body).await;

        let moved = post(&api, "/api/v1/users/ann/move", json!({"team": "blue"})).await;
        assert_eq!(moved["team"], "blue");
        let again = api
            .call(
                "POST",
                "/api/v1/users/ann/move",
                Some(json!({"team": "blue"})),
            )
            .await;
        assert_eq!(again.status, 409, "{}", again.text);
        let nowhere = api
            .call(
                "POST",
                "/api/v1/users/ann/move",
                Some(json!({"team": "green"})),
            )
            .await;
        assert_eq!(nowhere.status, 404, "{}", nowhere.text);

        let renamed = post(
            &api,
            "/api/v1/users/ann/rename",
            json!({"new_name": "anna"}),
        )
        .await;
        assert_eq!(renamed["username"], "anna");
        assert!(renamed["created_at_rfc3339"].is_string(), "{renamed}");
        assert_eq!(api.call("GET", "/api/v1/users/ann", None).await.status, 404);
        let taken = api
            .call(
                "POST",
                "/api/v1/users/anna/rename",
                Some(json!({"new_name": "bo"})),
            )
            .await;
        assert_eq!(taken.status, 409, "{}", taken.text);
        let bad = api
            .call(
                "POST",
                "/api/v1/users/anna/rename",
                Some(json!({"new_name": "a b"})),
            )
            .await;
        assert_eq!(bad.status, 400, "{}", bad.text);

        let team = post(
            &api,
            "/api/v1/teams/blue/rename",
            json!({"new_name": "navy"}),
        )
        .await;
        assert_eq!(team["name"], "navy");
        let info = api.get_ok("/api/v1/users/anna").await;
        assert_eq!(info["team"], "navy", "members follow the team's new name");

        // anna has a daily limit of 0: fully used, so near any limit.
        let near = api.get_ok("/api/v1/users?near_limit=80").await;
        let names: Vec<&str> = near
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["anna"]);
        assert_eq!(near[0]["used_percent"], 100.0);
        let blocked = api.get_ok("/api/v1/users?blocked=true").await;
        assert_eq!(blocked, json!([]));
        post(&api, "/api/v1/users/bo/block", json!({"duration": "2h30m"})).await;
        let blocked = api.get_ok("/api/v1/users?blocked=true").await;
        assert_eq!(blocked.as_array().unwrap().len(), 1);
        assert_eq!(blocked[0]["username"], "bo");
        let bad = api.call("GET", "/api/v1/users?near_limit=0", None).await;
        assert_eq!(bad.status, 400, "{}", bad.text);

        let teams = api.get_ok("/api/v1/teams").await;
        let navy = teams
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "navy")
            .unwrap();
        assert_eq!(navy["members"], 1);
        assert_eq!(navy["usage"]["day"]["cost_usd"], 0.0);

        let audit = api.get_ok("/api/v1/audit/admin?limit=50").await;
        let text = audit.to_string();
        for op in ["move_user", "rename_user", "rename_team"] {
            assert!(text.contains(op), "{op} in the admin audit log: {text}");
        }
        gate.stop().await;
    }
}
