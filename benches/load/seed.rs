//! Seeds a migrated SQLite database with many users, each with one key, for the memory
//! measurement of the load benchmark (RSS with 100,000 users and keys loaded).
//!
//! `cargo run --release --example bench-seed -- sqlite://PATH BASE64_MASTER_KEY COUNT`

use base64::Engine as _;
use bedrock_gate::auth::crypto::{bearer_hash, IssuedKey, MasterKey};
use sqlx::sqlite::SqlitePoolOptions;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or("database url")?;
    let key_b64 = args.next().ok_or("master key")?;
    let count: usize = args.next().ok_or("count")?.parse()?;
    let key: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(key_b64)?
        .try_into()
        .map_err(|_| "master key must be 32 bytes")?;
    let master = MasterKey::from_bytes(&key);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await?;
    let mut tx = pool.begin().await?;
    sqlx::query("INSERT INTO teams (name, created_at) VALUES ('bulk', 0)")
        .execute(&mut *tx)
        .await?;
    let team_id: i64 = sqlx::query_scalar("SELECT id FROM teams WHERE name = 'bulk'")
        .fetch_one(&mut *tx)
        .await?;
    for i in 0..count {
        let name = format!("user{i:06}");
        let user_id: i64 = sqlx::query_scalar(
            "INSERT INTO users (username, person_name, team_id, created_at) VALUES (?, ?, ?, 0) RETURNING id",
        )
        .bind(&name)
        .bind(format!("Person {i}"))
        .bind(team_id)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO user_limits (user_id, daily_requests, monthly_requests, updated_at) VALUES (?, 350, 5000, 0)",
        )
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        let k = IssuedKey::generate();
        sqlx::query(
            "INSERT INTO api_keys (access_key_id, user_id, tool_name, secret_enc, bearer_hash, status, created_at) \
             VALUES (?, ?, 'bench', ?, ?, 'active', 0)",
        )
        .bind(&k.access_key_id)
        .bind(user_id)
        .bind(master.encrypt(&k.access_key_id, &k.secret_access_key)?)
        .bind(bearer_hash(&k.bearer_token))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    println!("seeded {count} users and keys");
    Ok(())
}
