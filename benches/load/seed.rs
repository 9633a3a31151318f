//! Seeds a database with many users, each with one key, for the memory measurement of the
//! load benchmark (RSS with 100,000 users and keys loaded). Users and keys are made
//! through the service layer, exactly as `user create` and `user create-key` make them.
//!
//! `cargo run --release --example bench-seed -- CONFIG.toml COUNT`

#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::path::Path;

use bedrock_gate::config::Config;
use bedrock_gate::domain::{Actor, LimitsUpdate};
use bedrock_gate::ops::users::CreateUser;
use bedrock_gate::ops::Ops;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let config = args.next().ok_or("usage: bench-seed CONFIG.toml COUNT")?;
    let count: usize = args.next().ok_or("COUNT")?.parse()?;
    let config = Config::load(Some(Path::new(&config)))?;
    let (ops, _) = Ops::open(&config).await?;
    let actor = Actor::system("bench-seed");
    ops.create_team(&actor, "bulk", &LimitsUpdate::default())
        .await?;
    let limits = LimitsUpdate {
        daily_requests: Some(Some(350)),
        monthly_requests: Some(Some(5000)),
        ..Default::default()
    };
    for i in 0..count {
        let name = format!("user{i:06}");
        ops.create_user(
            &actor,
            &CreateUser {
                username: name.clone(),
                person_name: format!("Person {i}"),
                team: "bulk".into(),
                limits,
                ..Default::default()
            },
        )
        .await?;
        ops.issue_key(&actor, &name, "bench").await?;
    }
    ops.close().await;
    println!("seeded {count} users and keys");
    Ok(())
}
