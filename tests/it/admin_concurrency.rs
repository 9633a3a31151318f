//! Admin changes are never lost under concurrency, on two proxies sharing one MariaDB
//! database (issue #27, item 3):
//!
//! - pairs of changes sent at the same instant to the two proxies' admin APIs (protect ‖
//!   block, unblock ‖ unprotect, unblock ‖ protect), many rounds: each answers 200 (or
//!   503 with `Retry-After`), the final row is what one of the serial orders gives, the
//!   audit trail replayed gives the final row, and both proxies serve it;
//! - a protection or a 7-day block given while a proxy one poll behind refuses the
//!   user's calls for a daily limit: the automatic block that follows never undoes it;
//! - a change and its state version bump commit together: when the bump fails, nothing
//!   is committed (and the command says so); when it works, the other proxy serves the
//!   change.

use crate::common;

use std::time::{Duration, Instant};

use bedrock_gate::domain::{Actor, BlockKind};
use bedrock_gate::store::{BlockStatus, Limits};
use common::admin::{Answer, Api};
use common::{converse, Engine, Gate, GateOptions};
use serde_json::{json, Value};
use sqlx::Connection as _;

/// Rounds of each concurrent pair.
const PAIR_ROUNDS: usize = 30;
/// Rounds of automatic blocks against each administrator's change.
const AUTO_ROUNDS: usize = 5;
/// How long a change may take to show on every proxy (the README promises 2 s; the
/// test allows for a loaded machine).
const PROPAGATION: Duration = Duration::from_secs(5);

/// Two proxies on one fresh MariaDB database (the second polling for changes every
/// `second_poll`), or `None` when MariaDB is not configured (a failure with
/// `GATE_TEST_REQUIRE_MYSQL=1`).
async fn two_proxies(second_poll: Duration) -> Option<(Gate, Gate)> {
    common::mysql_server()?;
    let a = Gate::start(GateOptions {
        engine: Engine::MySql,
        ..Default::default()
    })
    .await;
    let b = Gate::start(GateOptions {
        shared_db: Some(a.db_url()),
        poll_interval: Some(second_poll),
        ..Default::default()
    })
    .await;
    Some((a, b))
}

/// One admin token, as clients of both proxies' admin APIs.
async fn apis(a: &Gate, b: &Gate) -> (Api, Api) {
    let on_a = Api::new(a, "concurrency").await;
    let on_b = Api {
        base: b.admin_url.clone(),
        token: on_a.token.clone(),
    };
    for api in [&on_a, &on_b] {
        api.until("GET", "/api/v1/blocks", |r| r.status == 200)
            .await;
    }
    (on_a, on_b)
}

/// The blocking state the pairs move between: a manual block, standing protection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct State {
    blocked: bool,
    protected: bool,
}

impl State {
    fn of(row: &BlockStatus) -> State {
        State {
            blocked: row.blocked,
            protected: row.administrative_safe,
        }
    }
}

/// An administrator's change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Block,
    Unblock,
    Protect,
    Unprotect,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Block => "block",
            Op::Unblock => "unblock",
            Op::Protect => "protect",
            Op::Unprotect => "unprotect",
        }
    }

    fn from_audit(op: &str) -> Op {
        [Op::Block, Op::Unblock, Op::Protect, Op::Unprotect]
            .into_iter()
            .find(|o| o.name() == op)
            .unwrap_or_else(|| panic!("unexpected audit operation {op}"))
    }

    /// What the change does, by the documented rules (a manual block keeps standing
    /// protection; protection never lifts a manual block).
    fn apply(self, s: State) -> State {
        match self {
            Op::Block => State { blocked: true, ..s },
            Op::Unblock => State {
                blocked: false,
                ..s
            },
            Op::Protect => State {
                protected: true,
                ..s
            },
            Op::Unprotect => State {
                protected: false,
                ..s
            },
        }
    }

    async fn send(self, api: &Api, user: &str) -> Answer {
        let body = match self {
            Op::Block => Some(json!({"duration": "indefinite", "reason": "concurrency"})),
            _ => None,
        };
        api.call(
            "POST",
            &format!("/api/v1/users/{user}/{}", self.name()),
            body,
        )
        .await
    }
}

/// Whether an answer says the change was applied (200), may have been (503, which
/// must carry `Retry-After`), or is a failure of the test.
fn applied(op: Op, a: &Answer) -> bool {
    match a.status {
        200 => true,
        503 => {
            assert!(a.header("retry-after").is_some(), "503 without Retry-After");
            false
        }
        s => panic!("{} answered {s}: {}", op.name(), a.text),
    }
}

/// Every final state the serial orders of the changes can give: those that answered
/// 200 always applied, those that answered 503 may or may not have.
fn serial_outcomes(start: State, changes: &[(Op, bool)]) -> Vec<State> {
    let mut out = Vec::new();
    let n = changes.len();
    for mask in 0..(1u32 << n) {
        let chosen: Vec<Op> = (0..n)
            .filter(|&i| mask & (1 << i) != 0)
            .map(|i| changes[i].0)
            .collect();
        if (0..n).any(|i| changes[i].1 && mask & (1 << i) == 0) {
            continue;
        }
        for order in [chosen.clone(), chosen.iter().rev().copied().collect()] {
            out.push(order.iter().fold(start, |s, op| op.apply(s)));
        }
    }
    out
}

/// The user's blocking row as stored.
async fn row(gate: &Gate, user: &str) -> BlockStatus {
    let id = gate.store.user(user).await.unwrap().id;
    gate.store
        .block_status(id)
        .await
        .unwrap()
        .unwrap_or_default()
}

/// The user's blocking audit rows as (id, operation), oldest first.
async fn audit(gate: &Gate, user: &str) -> Vec<(i64, String)> {
    let mut rows: Vec<(i64, String)> = gate
        .ops
        .audit(Some(user), 10_000)
        .await
        .unwrap()
        .iter()
        .map(|e| {
            let v = serde_json::to_value(e).unwrap();
            (v["id"].as_i64().unwrap(), e.operation.to_string())
        })
        .collect();
    rows.sort();
    rows
}

/// Brings the user to `want` through the service layer.
async fn set_state(gate: &Gate, user: &str, want: State) {
    let actor = Actor::system("test-setup");
    let now = State::of(&row(gate, user).await);
    if now.blocked != want.blocked {
        if want.blocked {
            let d = bedrock_gate::ops::blocking::BlockDuration::Indefinite;
            gate.ops.block(&actor, user, d, None).await.unwrap();
        } else {
            gate.ops.unblock(&actor, user, None).await.unwrap();
        }
    }
    if now.protected != want.protected {
        gate.ops
            .protect(&actor, user, want.protected)
            .await
            .unwrap();
    }
    assert_eq!(State::of(&row(gate, user).await), want);
}

/// Waits until both proxies serve the database's current state, then checks that
/// both answer the user's call as `state` says (403 while blocked, else 200) and that
/// both admin APIs show it.
async fn proxies_agree(gates: [&Gate; 2], apis: [&Api; 2], user: &str, token: &str, state: State) {
    for (gate, api) in gates.into_iter().zip(apis) {
        gate.wait_applied().await;
        let (status, _) = converse(&gate.url, token).await;
        let want = if state.blocked { 403 } else { 200 };
        assert_eq!(status, want, "{user} on {} for {state:?}", gate.url);
        let info = api.get_ok(&format!("/api/v1/users/{user}")).await;
        assert_eq!(info["blocked"], state.blocked, "{info}");
        assert_eq!(info["administrative_safe"], state.protected, "{info}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_pairs_of_admin_changes_on_two_proxies_are_never_lost() {
    let Some((a, b)) = two_proxies(Duration::from_millis(100)).await else {
        return;
    };
    let (api_a, api_b) = apis(&a, &b).await;
    let clear = State {
        blocked: false,
        protected: false,
    };
    let pairs = [
        ("pb", clear, Op::Protect, Op::Block),
        (
            "uu",
            State {
                blocked: true,
                protected: true,
            },
            Op::Unblock,
            Op::Unprotect,
        ),
        (
            "up",
            State {
                blocked: true,
                protected: false,
            },
            Op::Unblock,
            Op::Protect,
        ),
    ];
    let mut answers = std::collections::BTreeMap::<u16, usize>::new();
    for (user, start, first, second) in pairs {
        let key = common::user_with_key(&a.ops, user, "ops", Limits::default(), "t").await;
        a.wait_key_known(&key.bearer_token, true).await;
        b.wait_key_known(&key.bearer_token, true).await;
        for round in 0..PAIR_ROUNDS {
            set_state(&a, user, start).await;
            let seen = audit(&a, user).await.last().map_or(0, |r| r.0);
            // Alternate which proxy gets which change.
            let (one, two) = if round % 2 == 0 {
                (&api_a, &api_b)
            } else {
                (&api_b, &api_a)
            };
            let (r1, r2) = tokio::join!(first.send(one, user), second.send(two, user));
            *answers.entry(r1.status).or_default() += 1;
            *answers.entry(r2.status).or_default() += 1;
            let changes = [(first, applied(first, &r1)), (second, applied(second, &r2))];
            let end = State::of(&row(&a, user).await);
            let outcomes = serial_outcomes(start, &changes);
            assert!(
                outcomes.contains(&end),
                "{user} round {round}: {first:?} ({}) ‖ {second:?} ({}) from {start:?} ended \
                 {end:?}; serial orders give {outcomes:?}",
                r1.status,
                r2.status
            );
            // The trail of the round, replayed, gives the row; each 200 is in it.
            let trail: Vec<Op> = audit(&a, user)
                .await
                .into_iter()
                .filter(|(id, _)| *id > seen)
                .map(|(_, op)| Op::from_audit(&op))
                .collect();
            let replayed = trail.iter().fold(start, |s, op| op.apply(s));
            assert_eq!(replayed, end, "{user} round {round}: trail {trail:?}");
            for (op, sure) in changes {
                assert!(
                    !sure || trail.contains(&op),
                    "{op:?} answered 200: {trail:?}"
                );
            }
            proxies_agree([&a, &b], [&api_a, &api_b], user, &key.bearer_token, end).await;
        }
    }
    eprintln!(
        "answers to {} concurrent changes: {answers:?}",
        6 * PAIR_ROUNDS
    );
    b.stop().await;
    a.stop().await;
}

/// Waits until `user` is blocked (by the proxies' automatic block).
async fn wait_blocked(gate: &Gate, user: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !row(gate, user).await.blocked {
        assert!(Instant::now() < deadline, "{user} was never blocked");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn automatic_blocks_never_undo_a_protection_or_a_longer_manual_block() {
    // The second proxy sees changes one poll (up to a second) late, so calls it
    // refuses for the daily limit right after a change are refused on a stale view.
    let Some((a, b)) = two_proxies(Duration::from_secs(1)).await else {
        return;
    };
    let (api_a, api_b) = apis(&a, &b).await;
    let daily = |n| Limits {
        daily_requests: Some(n),
        ..Default::default()
    };
    let mut stale = 0;
    for round in 0..2 * AUTO_ROUNDS {
        let protect = round % 2 == 0;
        let user = format!("auto{round}");
        // Another user over their limit on the same proxy: once their automatic block is
        // written, the proxy has handled every earlier quota event (one at a time, in
        // order), so `user`'s automatic block, if any, is in the database.
        let gauge = format!("gauge{round}");
        let key = common::user_with_key(&a.ops, &user, "ops", daily(2), "t").await;
        let gauge_key = common::user_with_key(&a.ops, &gauge, "ops", daily(1), "t").await;
        for k in [&key, &gauge_key] {
            a.wait_key_known(&k.bearer_token, true).await;
            b.wait_key_known(&k.bearer_token, true).await;
        }
        for _ in 0..2 {
            assert_eq!(converse(&b.url, &key.bearer_token).await.0, 200);
        }
        b.wait_applied().await;
        let (path, body) = if protect {
            (format!("/api/v1/users/{user}/protect"), None)
        } else {
            (
                format!("/api/v1/users/{user}/block"),
                Some(json!({"duration": "7d", "reason": "laptop stolen"})),
            )
        };
        let change = api_a.call("POST", &path, body);
        // The change and calls over the limit on the other proxy, at once, then more.
        let burst = async {
            let mut statuses = Vec::new();
            for _ in 0..3 {
                statuses.push(converse(&b.url, &key.bearer_token).await.0);
            }
            statuses
        };
        let (answer, mut statuses) = tokio::join!(change, burst);
        assert_eq!(answer.status, 200, "{}", answer.text);
        statuses.push(converse(&b.url, &key.bearer_token).await.0);
        if statuses.contains(&400) {
            stale += 1;
        }
        assert_eq!(converse(&b.url, &gauge_key.bearer_token).await.0, 200);
        assert_eq!(converse(&b.url, &gauge_key.bearer_token).await.0, 400);
        wait_blocked(&a, &gauge).await;

        let end = row(&a, &user).await;
        let trail = audit(&a, &user).await;
        let last = &trail.last().unwrap().1;
        if protect {
            assert!(
                end.administrative_safe && !end.blocked,
                "round {round}: the protection was undone ({statuses:?}): {end:?}, {trail:?}"
            );
            assert_eq!(last, "protect", "{trail:?}");
        } else {
            let week = chrono::Utc::now().timestamp_millis() + 6 * 86_400_000;
            assert!(
                end.blocked
                    && end.kind == Some(BlockKind::Manual)
                    && end.blocked_until.is_some_and(|u| u > week),
                "round {round}: the 7-day block was replaced ({statuses:?}): {end:?}, {trail:?}"
            );
            assert_eq!(last, "block", "{trail:?}");
        }
        let state = State::of(&end);
        proxies_agree([&a, &b], [&api_a, &api_b], &user, &key.bearer_token, state).await;
    }
    eprintln!(
        "{stale} of {} rounds had calls refused on a stale view",
        2 * AUTO_ROUNDS
    );
    assert!(
        stale > 0,
        "no call was refused on a stale view: the race was not exercised"
    );
    b.stop().await;
    a.stop().await;
}

/// The real binary's command line on `db_url`.
fn cli(db_url: &str, args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gate.toml");
    let key = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(common::MASTER_KEY)
    };
    std::fs::write(
        &path,
        format!("[database]\nurl = \"{db_url}\"\nmaster_key = \"{key}\"\n"),
    )
    .unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_bedrock-gate"))
        .arg("--config")
        .arg(&path)
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_and_its_state_version_bump_commit_together() {
    let Some((a, b)) = two_proxies(Duration::from_millis(100)).await else {
        return;
    };
    let (_api_a, api_b) = apis(&a, &b).await;
    let vic = common::user_with_key(&a.ops, "vic", "ops", Limits::default(), "t").await;
    b.wait_key_known(&vic.bearer_token, true).await;
    let mut db = sqlx::MySqlConnection::connect(&a.db_url()).await.unwrap();
    sqlx::query(
        "CREATE TRIGGER refuse_bump BEFORE UPDATE ON state_version FOR EACH ROW \
         SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'state version bump refused by the test'",
    )
    .execute(&mut db)
    .await
    .unwrap();
    let trail = audit(&a, "vic").await.len();

    // The bump fails: the command fails and nothing of the change is committed.
    let out = cli(&a.db_url(), &["user", "block", "vic", "--duration", "7d"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!row(&a, "vic").await.blocked, "committed without its bump");
    let out = cli(
        &a.db_url(),
        &["user", "set-limits", "vic", "--daily-requests", "5"],
    );
    assert_eq!(out.status.code(), Some(1));
    let info = api_b.get_ok("/api/v1/users/vic").await;
    assert_eq!(
        info["limits"]["daily_requests"],
        Value::Null,
        "committed without its bump"
    );
    let answer = api_b.call("POST", "/api/v1/users/vic/protect", None).await;
    assert_ne!(answer.status, 200, "{}", answer.text);
    assert!(!row(&a, "vic").await.administrative_safe);
    assert_eq!(
        audit(&a, "vic").await.len(),
        trail,
        "audited without a change"
    );

    // With the bump working, the other proxy serves the change.
    sqlx::query("DROP TRIGGER refuse_bump")
        .execute(&mut db)
        .await
        .unwrap();
    let out = cli(&a.db_url(), &["user", "block", "vic", "--duration", "7d"]);
    assert!(out.status.success());
    let deadline = Instant::now() + PROPAGATION;
    while converse(&b.url, &vic.bearer_token).await.0 != 403 {
        assert!(
            Instant::now() < deadline,
            "the other proxy never refused vic"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    db.close().await.unwrap();
    b.stop().await;
    a.stop().await;
}
