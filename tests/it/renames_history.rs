//! Renaming a user or a team carries their history: per-call records and every usage
//! rollup (per user, per team, per hour) answer under the new name with the same sums,
//! and nothing remains under the old one; a move leaves earlier calls with the old team.
//! On every engine.

use crate::common;
#[allow(
    dead_code,
    reason = "shared test data; this file needs its records only"
)]
use crate::rollup_data;

use bedrock_gate::domain::Actor;
use bedrock_gate::ops::aggregates::{AggregateQuery, AggregateRow, GroupBy};
use bedrock_gate::ops::Ops;
use chrono::NaiveDate;
use common::engines;
use rollup_data::{open, records, user_ids};

async fn sums(ops: &Ops, group_by: GroupBy) -> Vec<AggregateRow> {
    let day = |d| NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
    ops.aggregate(&AggregateQuery {
        group_by,
        from: day("2026-03-01"),
        to: day("2026-04-30"),
        user: None,
        team: None,
        model: None,
    })
    .await
    .unwrap()
}

fn renamed(rows: &[AggregateRow], old: &str, new: &str) -> Vec<AggregateRow> {
    let mut out: Vec<AggregateRow> = rows
        .iter()
        .cloned()
        .map(|mut r| {
            if r.key == old {
                r.key = new.to_string();
            }
            r
        })
        .collect();
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

#[tokio::test]
async fn renames_carry_records_and_rollups() {
    for engine in engines() {
        let (_db, store, ops) = open(engine).await;
        let ids = user_ids(&store).await;
        store.insert_requests(&records(7, 300, &ids)).await.unwrap();
        let by_user = sums(&ops, GroupBy::User).await;
        let by_team = sums(&ops, GroupBy::Team).await;
        let by_hour = sums(&ops, GroupBy::Hour).await;
        let actor = Actor::system("test");

        ops.rename_user(&actor, "alice", "alicia").await.unwrap();
        assert_eq!(
            sums(&ops, GroupBy::User).await,
            renamed(&by_user, "alice", "alicia")
        );
        ops.rename_team(&actor, "research", "lab").await.unwrap();
        assert_eq!(
            sums(&ops, GroupBy::Team).await,
            renamed(&by_team, "research", "lab")
        );
        assert_eq!(sums(&ops, GroupBy::Hour).await, by_hour);
        let info = ops.user_info("alicia").await.unwrap();
        assert_eq!(serde_json::to_value(&info).unwrap()["team"], "lab");

        // New calls under the new names add to the same sums.
        let ids = user_ids_now(&store, &["alicia", "bob", "carol"]).await;
        let mut more = records(8, 20, &ids);
        for r in &mut more {
            r.username = r.username.replace("alice", "alicia");
            r.team = r.team.replace("research", "lab");
        }
        store.insert_requests(&more).await.unwrap();
        let after: i64 = sums(&ops, GroupBy::User)
            .await
            .iter()
            .map(|r| r.requests)
            .sum();
        let before: i64 = by_user.iter().map(|r| r.requests).sum();
        assert_eq!(after, before + 20);

        // A move leaves earlier calls with the old team.
        ops.move_user(&actor, "carol", "lab").await.unwrap();
        let teams = sums(&ops, GroupBy::Team).await;
        assert!(teams.iter().any(|r| r.key == "sales"), "{teams:?}");

        // A deleted team's records keep its name: that name cannot be taken again.
        ops.delete_team(&actor, "sales").await.unwrap();
        ops.create_team(&actor, "temp", &Default::default())
            .await
            .unwrap();
        let e = ops.rename_team(&actor, "temp", "sales").await.unwrap_err();
        assert!(e.to_string().contains("earlier team `sales`"), "{e}");
    }
}

async fn user_ids_now(store: &bedrock_gate::store::Store, names: &[&str]) -> Vec<i64> {
    let mut ids = Vec::new();
    for n in names {
        ids.push(store.user(n).await.unwrap().id);
    }
    ids
}
