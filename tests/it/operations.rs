//! docs/OPERATIONS.md as an operator follows it: the backup and restore blocks run as
//! written (in bash, with the guide's paths moved into a temporary directory and
//! `systemctl` left to the test, which stops and starts the real `serve` itself), on
//! SQLite and, when `mysqldump` is installed, on MariaDB; and `bedrock-gate health`
//! against a running service.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::SystemTime;

use common::serve::Serve;
use common::{raw_post, sigv4_headers, BODY, CONVERSE, REGION, UPSTREAM_KEY_ID, UPSTREAM_SECRET};

const BIN: &str = env!("CARGO_BIN_EXE_bedrock-gate");

/// The shell block after `<!-- ops:NAME -->` in docs/OPERATIONS.md.
fn block(name: &str) -> String {
    let guide =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/OPERATIONS.md"))
            .unwrap();
    let marker = format!("<!-- ops:{name} -->\n```sh\n");
    let start = guide
        .find(&marker)
        .unwrap_or_else(|| panic!("no block {name}"))
        + marker.len();
    let len = guide[start..].find("```").unwrap();
    guide[start..start + len].to_string()
}

/// Runs `script` in bash with `bedrock-gate` on the PATH, the guide's paths replaced by
/// `paths`, `systemctl` a no-op (the test runs the service) and `install`'s owner and
/// group options dropped (no `bedrock-gate` system user here).
fn run_block(script: &str, paths: &[(&str, String)], env: &[(&str, String)]) -> Output {
    let mut text = script.to_string();
    for (from, to) in paths {
        text = text.replace(from, to);
    }
    let prelude = r#"set -euo pipefail
systemctl() { :; }
install() { local a=(); while (($#)); do case $1 in -o|-g) shift 2;; *) a+=("$1"); shift;; esac; done; command install "${a[@]}"; }
"#;
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("{prelude}{text}"))
        .env("PATH", path)
        .env_remove("BEDROCK_GATE_CONFIG")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the guide's block failed ({}):\n{text}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The CLI with `config`; panics with its output unless it succeeds.
fn cli(config: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("BEDROCK_GATE_CONFIG")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A configuration as a deployment has it: the database by absolute URL, the master key
/// beside an SQLite database unless `master_key` is given.
fn write_config(
    root: &Path,
    state: &Path,
    db_url: &str,
    upstream: &str,
    master_key: bool,
) -> PathBuf {
    use base64::Engine as _;
    let key = if master_key {
        format!(
            "master_key = \"{}\"\n",
            base64::engine::general_purpose::STANDARD.encode(common::MASTER_KEY)
        )
    } else {
        String::new()
    };
    let path = root.join("bedrock-gate.toml");
    std::fs::write(
        &path,
        format!(
            "[proxy]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"{}\"\n\
             [admin]\nlisten = \"127.0.0.1:0\"\n\
             [upstream]\nregion = \"{REGION}\"\nendpoint = \"{upstream}\"\n\
             [database]\nurl = \"{db_url}\"\n{key}",
            state.join("spill").display()
        ),
    )
    .unwrap();
    path
}

fn start(config: &Path, home: &Path) -> Serve {
    Serve::start(
        config,
        home,
        &[
            ("AWS_ACCESS_KEY_ID", UPSTREAM_KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", UPSTREAM_SECRET),
        ],
    )
}

/// The admin listener's address from the `serving` line.
async fn admin_addr(serve: &Serve) -> String {
    serve
        .line("the serving line", |l| {
            let rest = &l[l.find("serving")?..];
            let url = rest.split("admin=").nth(1)?.split_whitespace().next()?;
            Some(url.trim_start_matches("http://").to_string())
        })
        .await
}

/// One SigV4-signed Converse call: its status.
async fn signed_call(proxy: &str, key: &serde_json::Value) -> u16 {
    let url = format!("{proxy}{CONVERSE}");
    let headers = [("content-type", "application/json")];
    let signed = sigv4_headers(
        &url,
        BODY,
        key["access_key_id"].as_str().unwrap(),
        key["secret_access_key"].as_str().unwrap(),
        REGION,
        SystemTime::now(),
        &headers,
    );
    let refs: Vec<(&str, &str)> = signed
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    raw_post(&url, &refs, BODY).await.0
}

/// Waits (up to a minute) until `status` answers 200.
async fn until<F, Fut>(what: &str, status: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = u16>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let got = status().await;
        if got == 200 {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: still {got}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn usernames(config: &Path) -> Vec<String> {
    let list: serde_json::Value =
        serde_json::from_str(&cli(config, &["--output", "json", "user", "list"])).unwrap();
    let rows = list
        .as_array()
        .or_else(|| list["users"].as_array())
        .unwrap()
        .clone();
    rows.iter()
        .map(|u| u["username"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_guide_backs_up_a_serving_sqlite_database_and_restores_it_with_its_key() {
    let upstream = common::fake_upstream().await;
    let root = tempfile::tempdir().unwrap();
    let state = root.path().join("var-lib");
    let backups = root.path().join("backups");
    std::fs::create_dir_all(&state).unwrap();
    let db = state.join("bedrock-gate.db");
    let config = write_config(
        root.path(),
        &state,
        &format!("sqlite://{}?mode=rwc", db.display()),
        &upstream.url(),
        false,
    );
    let serve = start(&config, root.path());
    let proxy = serve.proxy_url().await;
    cli(&config, &["team", "create", "research"]);
    cli(&config, &["user", "create", "alice", "Alice", "research"]);
    let key: serde_json::Value = serde_json::from_str(&cli(
        &config,
        &["--output", "json", "user", "create-key", "alice", "cli"],
    ))
    .unwrap();
    until("alice's key works", || signed_call(&proxy, &key)).await;

    // The backup, while the proxy serves.
    let paths = [
        (
            "/etc/bedrock-gate/bedrock-gate.toml",
            config.display().to_string(),
        ),
        ("/var/backups/bedrock-gate", backups.display().to_string()),
        ("/var/lib/bedrock-gate", state.display().to_string()),
    ];
    run_block(&block("sqlite-backup"), &paths, &[]);
    let made: Vec<PathBuf> = std::fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let backup = made
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "db"))
        .expect("the backup file")
        .clone();
    let key_copy = PathBuf::from(format!("{}.key", backup.display()));
    assert_eq!(made.len(), 2, "the database and its key: {made:?}");
    for file in [&backup, &key_copy] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", file.display());
    }
    assert_eq!(
        std::fs::read(&key_copy).unwrap(),
        std::fs::read(state.join("bedrock-gate.db.key")).unwrap()
    );

    // After the backup: bob is created; the restore takes the state back to before him.
    cli(&config, &["user", "create", "bob", "Bob", "research"]);
    serve.stop();
    // A lost master key: without the copy in the backup, alice's SigV4 key would fail.
    std::fs::remove_file(state.join("bedrock-gate.db.key")).unwrap();

    let restore = block("sqlite-restore");
    let first = restore.lines().next().unwrap();
    assert!(first.starts_with("BACKUP="), "{first}");
    let restore = restore.replacen(first, &format!("BACKUP={}", backup.display()), 1);
    run_block(&restore, &paths, &[]);

    let serve = start(&config, root.path());
    let proxy = serve.proxy_url().await;
    assert_eq!(usernames(&config), vec!["alice".to_string()]);
    assert_eq!(
        signed_call(&proxy, &key).await,
        200,
        "the restored key's secret decrypts with the restored master key"
    );
    assert!(
        !serve
            .all()
            .iter()
            .any(|l| l.contains("could not be decrypted")),
        "{:?}",
        serve.all()
    );
    serve.stop();

    // The command never overwrites, and says why.
    let again = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .args(["backup", "--to"])
        .arg(&backup)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("already exists"), "{err}");
}

#[tokio::test]
async fn the_guide_dumps_and_restores_a_mysql_database() {
    let Some(server) = common::mysql_server() else {
        return;
    };
    if Command::new("mysqldump").arg("--version").output().is_err() {
        common::skips::skipped("mysqldump is not installed (apt-get install mariadb-client)");
        return;
    }
    let upstream = common::fake_upstream().await;
    let root = tempfile::tempdir().unwrap();
    let state = root.path().join("var-lib");
    let backups = root.path().join("backups");
    std::fs::create_dir_all(&state).unwrap();
    let suffix = format!("{}_{}", std::process::id(), rand_suffix());
    let db = format!("gate_ops_{suffix}");
    let restored = format!("gate_restored_{suffix}");
    let admin = Command::new("mysql")
        .args(mysql_args(&server))
        .args(["-e", &format!("CREATE DATABASE {db}")])
        .output()
        .unwrap();
    assert!(
        admin.status.success(),
        "{}",
        String::from_utf8_lossy(&admin.stderr)
    );
    let config = write_config(
        root.path(),
        &state,
        &format!("{server}/{db}"),
        &upstream.url(),
        true,
    );
    cli(&config, &["team", "create", "research"]);
    cli(&config, &["user", "create", "alice", "Alice", "research"]);
    let key: serde_json::Value = serde_json::from_str(&cli(
        &config,
        &["--output", "json", "user", "create-key", "alice", "cli"],
    ))
    .unwrap();

    let paths = [("/var/backups/bedrock-gate", backups.display().to_string())];
    let client_env = mysql_env(&server);
    let dump = block("mysql-backup");
    let first = dump.lines().next().unwrap();
    assert!(first.starts_with("DB=gate"), "{first}");
    run_block(
        &dump.replacen(first, &format!("DB={db}"), 1),
        &paths,
        &client_env,
    );
    let file = std::fs::read_dir(&backups)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();

    let restore = block("mysql-restore");
    let first = restore.lines().next().unwrap();
    assert!(first.starts_with("DUMP="), "{first}");
    let restore = restore
        .replacen(first, &format!("DUMP={}", file.display()), 1)
        .replace("gate_restored", &restored);
    run_block(&restore, &paths, &client_env);

    let restored_config = write_config(
        root.path(),
        &state,
        &format!("{server}/{restored}"),
        &upstream.url(),
        true,
    );
    let serve = start(&restored_config, root.path());
    let proxy = serve.proxy_url().await;
    assert_eq!(usernames(&restored_config), vec!["alice".to_string()]);
    assert_eq!(signed_call(&proxy, &key).await, 200);
    serve.stop();
    for name in [&db, &restored] {
        let _ = Command::new("mysql")
            .args(mysql_args(&server))
            .args(["-e", &format!("DROP DATABASE {name}")])
            .output();
    }
}

fn rand_suffix() -> u32 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
}

/// `mysql://user[:password]@host:port`: the client's host, port and user.
fn server_parts(server: &str) -> (String, String, String) {
    let rest = server
        .trim_start_matches("mysql://")
        .trim_start_matches("mariadb://");
    let (user, host) = rest.split_once('@').unwrap_or(("root", rest));
    let user = user.split(':').next().unwrap().to_string();
    let (host, port) = host.split_once(':').unwrap_or((host, "3306"));
    (host.to_string(), port.to_string(), user)
}

fn mysql_args(server: &str) -> Vec<String> {
    let (host, port, user) = server_parts(server);
    vec![
        format!("--host={host}"),
        format!("--port={port}"),
        format!("--user={user}"),
    ]
}

/// The client's settings as the guide expects them from the environment.
fn mysql_env(server: &str) -> Vec<(&'static str, String)> {
    let (host, port, user) = server_parts(server);
    vec![
        ("MYSQL_HOST", host),
        ("MYSQL_TCP_PORT", port),
        ("USER", user),
    ]
}

#[tokio::test]
async fn health_exits_0_while_the_service_answers_and_1_when_it_does_not() {
    let upstream = common::fake_upstream().await;
    let root = tempfile::tempdir().unwrap();
    let state = root.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let config = write_config(
        root.path(),
        &state,
        &format!("sqlite://{}?mode=rwc", state.join("gate.db").display()),
        &upstream.url(),
        true,
    );
    let serve = start(&config, root.path());
    let admin = admin_addr(&serve).await;
    let health = |extra: &[&str]| {
        Command::new(BIN)
            .arg("--config")
            .arg(&config)
            .arg("health")
            .args(["--addr", &admin])
            .args(extra)
            .output()
            .unwrap()
    };
    let up = health(&[]);
    assert_eq!(
        up.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    assert!(String::from_utf8_lossy(&up.stdout).contains("/healthz: 200"));
    until("health --ready", || async {
        if health(&["--ready"]).status.code() == Some(0) {
            200
        } else {
            503
        }
    })
    .await;
    serve.stop();
    let down = health(&[]);
    assert_eq!(down.status.code(), Some(1));
    let err = String::from_utf8_lossy(&down.stderr);
    assert!(
        err.contains("cannot connect to the admin listener"),
        "{err}"
    );
}
