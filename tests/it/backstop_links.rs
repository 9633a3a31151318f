//! The IAM backstop when links change (against moto's IAM): unlinking a blocked user's
//! IAM user (admin API) or deleting the user removes the deny the backstop put there,
//! driven by the `iam_link_changed` event (reconciliation runs only at start here); a
//! deny left behind because the event was missed goes at reconciliation, while a deny
//! the backstop never put stays; an IAM user moved from one blocked user to another
//! keeps its deny throughout. Admin audit rows (`iam_deny_removed`) say what was done.

use crate::common;

use std::time::Duration;

use bedrock_gate::domain::{Actor, IamPrincipalKind};
use bedrock_gate::ops::blocking::BlockDuration;
use common::admin::Api;
use common::moto::Moto;
use common::{Gate, GateOptions};
use serde_json::Value;

const DENY: &str = "BedrockGateDeny";

fn actor() -> Actor {
    Actor::system("test")
}

/// A gate with the backstop on moto, reconciling only at start (`shared_db`: another
/// gate's database).
async fn gate(moto: &Moto, shared_db: Option<String>) -> Gate {
    Gate::start(GateOptions {
        overrides: vec![
            ("BEDROCK_GATE_IAM__ENABLED".into(), "true".into()),
            ("BEDROCK_GATE_IAM__ENDPOINT_URL".into(), moto.url.clone()),
            ("BEDROCK_GATE_IAM__RECONCILE_SECS".into(), "3600".into()),
        ],
        shared_db,
        ..Default::default()
    })
    .await
}

async fn create_iam_users(moto: &Moto, names: &[&str]) {
    for name in names {
        moto.iam()
            .create_user()
            .user_name(*name)
            .send()
            .await
            .unwrap();
    }
}

/// Creates `user` linked to IAM user `iam_user`.
async fn linked_user(gate: &Gate, user: &str, iam_user: &str) {
    gate.user(user, "research").await;
    gate.ops
        .link_iam(&actor(), user, IamPrincipalKind::IamUser, iam_user)
        .await
        .unwrap();
}

async fn block(gate: &Gate, user: &str) {
    gate.ops
        .block(
            &actor(),
            user,
            BlockDuration::Indefinite,
            Some("test".into()),
        )
        .await
        .unwrap();
}

/// The admin audit rows of `operation` on IAM user `iam_user`.
async fn iam_audit(api: &Api, operation: &str, iam_user: &str) -> Vec<Value> {
    let page = api
        .get_ok(&format!(
            "/api/v1/audit/admin?operation={operation}&resource=iam_user:{iam_user}"
        ))
        .await;
    page["entries"].as_array().unwrap().clone()
}

/// Waits (at most 10 s) until every event is delivered to the `iam` subscriber.
async fn wait_iam_delivered(gate: &Gate) {
    for _ in 0..200 {
        let newest = gate.store.events(None, 1).await.unwrap()[0].id;
        let deliveries = gate.store.deliveries("iam").await.unwrap();
        if deliveries.iter().all(|d| d.3) && deliveries.iter().any(|d| d.0 == newest) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the iam subscriber did not take every event: {:?}",
        gate.store.deliveries("iam").await.unwrap()
    );
}

/// A gate where blocked alice's IAM user `iam_user` carries the deny (and `others`
/// are blocked too), stopped; then alice's link is removed while no subscriber runs.
async fn unlinked_while_down(moto: &Moto, iam_user: &str, others: &[&str]) -> Gate {
    let mut first = gate(moto, None).await;
    linked_user(&first, "alice", iam_user).await;
    for u in others {
        first.user(u, "research").await;
        block(&first, u).await;
    }
    block(&first, "alice").await;
    moto.wait_policy(iam_user, DENY, true).await;
    wait_iam_delivered(&first).await;
    first.stop_in_place().await;
    first
        .ops
        .unlink_iam(&actor(), "alice", IamPrincipalKind::IamUser, iam_user)
        .await
        .unwrap();
    first
}

#[tokio::test(flavor = "multi_thread")]
async fn unlinking_or_deleting_a_blocked_user_removes_the_deny() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    create_iam_users(&moto, &["alice-iam", "bob-iam"]).await;
    let gate = gate(&moto, None).await;
    let api = Api::new(&gate, "links").await;
    linked_user(&gate, "alice", "alice-iam").await;
    linked_user(&gate, "bob", "bob-iam").await;
    block(&gate, "alice").await;
    block(&gate, "bob").await;
    moto.wait_policy("alice-iam", DENY, true).await;
    moto.wait_policy("bob-iam", DENY, true).await;

    // Unlinking through the admin API: the deny goes, and the audit log says so.
    let unlinked = api
        .call("DELETE", "/api/v1/users/alice/iam-links/alice-iam", None)
        .await;
    assert_eq!(unlinked.status, 200, "{}", unlinked.text);
    moto.wait_policy("alice-iam", DENY, false).await;
    let rows = iam_audit(&api, "iam_deny_removed", "alice-iam").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["before"]["present"], true);
    assert_eq!(rows[0]["after"]["present"], false);
    assert_eq!(rows[0]["after"]["user"], "alice");
    assert!(
        rows[0]["after"]["why"]
            .as_str()
            .unwrap()
            .contains("unlinked from alice by api:links"),
        "{rows:?}"
    );
    // Still blocked, but no longer this IAM user's business.
    assert_eq!(
        serde_json::to_value(gate.ops.user_info("alice").await.unwrap()).unwrap()["blocked"],
        true
    );

    // Deleting the user: the same.
    gate.ops.delete_user(&actor(), "bob").await.unwrap();
    moto.wait_policy("bob-iam", DENY, false).await;
    let rows = iam_audit(&api, "iam_deny_removed", "bob-iam").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["after"]["user"], "bob");

    // Linking an IAM user to a blocked user puts the deny on it at once.
    gate.ops
        .link_iam(&actor(), "alice", IamPrincipalKind::IamUser, "bob-iam")
        .await
        .unwrap();
    moto.wait_policy("bob-iam", DENY, true).await;
    // (The first link's event may have found bob blocked already and put it then.)
    let rows = iam_audit(&api, "iam_deny_put", "bob-iam").await;
    assert_eq!(
        rows[0]["after"]["why"], "linked to alice by test",
        "{rows:?}"
    );
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deny_left_behind_goes_at_reconciliation_and_one_never_put_stays() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    create_iam_users(&moto, &["alice-iam", "stranger-iam"]).await;
    // A deny of the same name that the backstop never put, on an IAM user never linked.
    moto.iam()
        .put_user_policy()
        .user_name("stranger-iam")
        .policy_name(DENY)
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();
    // The subscriber is down while alice is unlinked, and never hears of it.
    let first = unlinked_while_down(&moto, "alice-iam", &[]).await;
    let newest = first.store.events(None, 1).await.unwrap()[0].id;
    let db = sqlx::SqlitePool::connect(&first.db_url()).await.unwrap();
    sqlx::query("UPDATE event_consumers SET start_after = ? WHERE name = 'iam'")
        .bind(newest)
        .execute(&db)
        .await
        .unwrap();
    db.close().await;

    // The next start reconciles: the deny the backstop put goes, the other stays.
    let second = gate(&moto, Some(first.db_url())).await;
    moto.wait_policy("alice-iam", DENY, false).await;
    let api = Api::new(&second, "check").await;
    let rows = iam_audit(&api, "iam_deny_removed", "alice-iam").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        rows[0]["after"]["why"]
            .as_str()
            .unwrap()
            .contains("reconciliation"),
        "{rows:?}"
    );
    assert!(rows[0]["actor"].as_str().unwrap().starts_with("proxy:"));
    assert_eq!(moto.user_policies("stranger-iam").await, [DENY]);
    assert!(iam_audit(&api, "iam_deny_removed", "stranger-iam")
        .await
        .is_empty());
    second.stop().await;
    first.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_iam_user_moved_between_blocked_users_keeps_the_deny() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    create_iam_users(&moto, &["shared-iam"]).await;
    // While no subscriber runs, the IAM user moves from alice to bob (both blocked):
    // when the events are delivered, the unlink finds it linked to a blocked user.
    let first = unlinked_while_down(&moto, "shared-iam", &["bob"]).await;
    first
        .ops
        .link_iam(&actor(), "bob", IamPrincipalKind::IamUser, "shared-iam")
        .await
        .unwrap();
    let second = gate(&moto, Some(first.db_url())).await;
    wait_iam_delivered(&second).await;
    assert_eq!(moto.user_policies("shared-iam").await, [DENY]);
    let api = Api::new(&second, "check").await;
    assert!(iam_audit(&api, "iam_deny_removed", "shared-iam")
        .await
        .is_empty());

    // Alice's unblock is no longer this IAM user's business; bob's is.
    second.ops.unblock(&actor(), "alice", None).await.unwrap();
    wait_iam_delivered(&second).await;
    assert_eq!(moto.user_policies("shared-iam").await, [DENY]);
    second.ops.unblock(&actor(), "bob", None).await.unwrap();
    moto.wait_policy("shared-iam", DENY, false).await;
    second.stop().await;
    first.stop().await;
}
