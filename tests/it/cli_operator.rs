//! The operator's first hour with the real binary: the CLI finds the service's database
//! through the default configuration path from any directory, commands that only read
//! never create a database, files are owner-only, `config show` and `doctor` say where
//! things are and what to fix, every error is one sentence naming the flag, key, file
//! position or variable with the right exit code, and lists are tables that say when
//! they are empty.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_bedrock-gate");

/// A sandbox: a config file (`gate.toml`) whose database lives in `dir`, and a clean
/// environment (no config variables, no AWS credentials).
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new(extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[database]\nurl = \"sqlite://{}?mode=rwc\"\n{extra}",
            dir.path().join("gate.db").display()
        );
        std::fs::write(dir.path().join("gate.toml"), text).unwrap();
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.current_dir(self.dir.path());
        for (k, _) in std::env::vars() {
            if k.starts_with("BEDROCK_GATE_") || k.starts_with("AWS_") {
                c.env_remove(k);
            }
        }
        c.env(
            "BEDROCK_GATE_DEFAULT_CONFIG_PATH",
            self.path("no-default.toml"),
        );
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd()
            .arg("--config")
            .arg(self.path("gate.toml"))
            .args(args)
            .output()
            .unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        parse(&self.run(&all))
    }
}

fn parse(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        stderr(out)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Exit `code`, an error of at most `lines` lines containing every one of `needles`.
fn fails(out: &Output, code: i32, lines: usize, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert!(
        err.lines().count() <= lines,
        "at most {lines} line(s): {err}"
    );
    for n in needles {
        assert!(err.contains(n), "`{n}` in: {err}");
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_default_config_path_reaches_the_services_database_from_any_directory() {
    let service = Sandbox::new("");
    let elsewhere = tempfile::tempdir().unwrap();
    let run = |dir: &Path, args: &[&str]| {
        let mut c = service.cmd();
        c.current_dir(dir).env(
            "BEDROCK_GATE_DEFAULT_CONFIG_PATH",
            service.path("gate.toml"),
        );
        c.args(args).output().unwrap()
    };
    parse(&run(
        service.dir.path(),
        &["team", "create", "ops", "--output", "json"],
    ));
    let teams = parse(&run(
        elsewhere.path(),
        &["team", "list", "--output", "json"],
    ));
    assert_eq!(
        teams[0]["name"], "ops",
        "same database from another directory"
    );
    assert!(!elsewhere.path().join("bedrock-gate.db").exists());
    let shown = parse(&run(
        elsewhere.path(),
        &["config", "show", "--output", "json"],
    ));
    assert_eq!(shown["file_chosen_by"], "default path");
    assert_eq!(
        shown["file"].as_str().unwrap(),
        service.path("gate.toml").to_str().unwrap()
    );

    // Without a file at the default path: built-in defaults, and a read command
    // refuses to create `bedrock-gate.db` here.
    let mut c = service.cmd();
    let out = c
        .current_dir(elsewhere.path())
        .args(["user", "list"])
        .output()
        .unwrap();
    fails(
        &out,
        1,
        1,
        &["bedrock-gate.db", "does not exist", "migrate"],
    );
    assert!(!elsewhere.path().join("bedrock-gate.db").exists());
    assert!(!elsewhere.path().join("bedrock-gate.db.key").exists());
}

#[test]
fn read_commands_never_create_a_database_and_files_are_owner_only() {
    let s = Sandbox::new("");
    for args in [
        &["user", "list"][..],
        &["team", "info", "x"],
        &["key", "list"],
        &["usage"],
        &["audit"],
        &["pricing", "list"],
    ] {
        let out = s.run(args);
        let db = s.path("gate.db");
        fails(&out, 1, 1, &[db.to_str().unwrap(), "does not exist"]);
        assert!(!db.exists(), "{args:?} created the database");
    }
    s.json(&["team", "create", "t"]);
    s.json(&["user", "create", "a", "A", "t"]);
    s.json(&["user", "create-key", "a", "cli"]);
    #[cfg(unix)]
    for f in ["gate.db", "gate.db-wal", "gate.db-shm", "gate.db.key"] {
        if s.path(f).exists() {
            assert_eq!(mode(&s.path(f)), 0o600, "{f}");
        }
    }
}

#[test]
fn config_show_masks_secrets_and_names_each_source() {
    let s = Sandbox::new(
        "[email]\nsmtp_url = \"smtp://mailer:hunter2@127.0.0.1:2525\"\nfrom = \"gate@x.io\"\n",
    );
    let out = s
        .cmd()
        .arg("--config")
        .arg(s.path("gate.toml"))
        .args(["config", "show", "--output", "json"])
        .env("BEDROCK_GATE_QUOTA__TIMEZONE", "UTC")
        .output()
        .unwrap();
    let shown = parse(&out);
    assert!(!shown.to_string().contains("hunter2"), "{shown}");
    let key = |k: &str| {
        shown["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["key"] == k)
            .unwrap_or_else(|| panic!("{k} in {shown}"))
            .clone()
    };
    assert_eq!(key("quota.timezone")["value"], "UTC");
    assert_eq!(
        key("quota.timezone")["source"],
        "env:BEDROCK_GATE_QUOTA__TIMEZONE"
    );
    assert_eq!(key("email.smtp_url")["source"], "file");
    assert_eq!(
        key("email.smtp_url")["value"],
        "smtp://mailer:***@127.0.0.1:2525"
    );
    assert_eq!(key("proxy.listen")["source"], "default");
    assert_eq!(shown["file_chosen_by"], "--config");
    assert!(shown["database"].as_str().unwrap().contains("gate.db"));
    let text = stdout(&s.run(&["config", "show"]));
    assert!(text.contains("chosen by --config"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("KEY")), "{text}");
    assert!(!s.path("gate.db").exists(), "config show opens nothing");
}

#[test]
fn doctor_says_what_to_fix_and_exits_1() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open_port = open.local_addr().unwrap().port();
    let s = Sandbox::new(&format!(
        "[upstream]\nendpoint = \"http://127.0.0.1:{open_port}\"\n\
         [email]\nsmtp_url = \"smtp://127.0.0.1:{closed_port}\"\nfrom = \"g@x.io\"\n"
    ));
    let doctor = |s: &Sandbox| {
        s.cmd()
            .arg("--config")
            .arg(s.path("gate.toml"))
            .args(["doctor", "--output", "json"])
            .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", "secret")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", s.path("none"))
            .env("AWS_SHARED_CREDENTIALS_FILE", s.path("none"))
            .output()
            .unwrap()
    };
    let out = doctor(&s);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let status = |name: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == name)
            .unwrap_or_else(|| panic!("{name} in {report}"))
            .clone()
    };
    assert_eq!(status("database")["status"], "failed");
    assert!(status("database")["fix"]
        .as_str()
        .unwrap()
        .contains("migrate"));
    assert!(!s.path("gate.db").exists(), "doctor creates nothing");
    assert_eq!(status("smtp")["status"], "failed");
    assert!(status("smtp")["detail"]
        .as_str()
        .unwrap()
        .contains(&closed_port.to_string()));
    assert_eq!(status("upstream credentials")["status"], "ok", "{report}");
    assert_eq!(status("upstream endpoint")["status"], "ok");
    assert_eq!(status("tls files")["status"], "skipped");
    assert_eq!(status("iam")["status"], "skipped");
    assert!(
        stderr(&out).contains("2 check(s) failed"),
        "{}",
        stderr(&out)
    );

    // Fixed: the database exists and the mail server answers.
    let mail = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mail_port = mail.local_addr().unwrap().port();
    let text = std::fs::read_to_string(s.path("gate.toml"))
        .unwrap()
        .replace(&closed_port.to_string(), &mail_port.to_string());
    std::fs::write(s.path("gate.toml"), text).unwrap();
    s.json(&["migrate"]);
    let out = doctor(&s);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(report["ok"], true);
}

#[test]
fn usage_errors_exit_2_in_one_or_two_lines() {
    let s = Sandbox::new("");
    s.json(&["team", "create", "t"]);
    s.json(&["user", "create", "alice", "Alice", "t"]);
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["team", "create", "u", "--daily-requests", "-5"],
            &["--daily-requests", "from 0 to"],
        ),
        (
            &["team", "create", "u", "--daily-budget-usd", "1e300"],
            &["--daily-budget-usd", "1000000"],
        ),
        (
            &["user", "set-limits", "alice", "--monthly-budget-usd=-1"],
            &["from 0 to 1000000"],
        ),
        (
            &["pricing", "set", "m", "1e300", "1"],
            &["is not a price from 0 to 1000"],
        ),
        (
            &["pricing", "set", "m", "abc", "2"],
            &["`abc` is not a price"],
        ),
        (
            &["pricing", "set", "m", "1", "-2"],
            &["`-2` is not a price"],
        ),
        (&["usage", "--from", "yesterday"], &["--from", "2026-11-24"]),
        (&["usage", "--limit=-1"], &["--limit", "from 1 to"]),
        (&["usage", "--limit", "-1"], &["--limit", "from 1 to"]),
        (&["audit", "--limit", "0"], &["--limit"]),
        (
            &["user", "create", "bob", "Bob", "t", "--email", "notanemail"],
            &["--email", "not an email address"],
        ),
        (
            &["user", "block", "alice", "--duration", "99999999d"],
            &["366d", "indefinite"],
        ),
        (
            &["user", "block", "alice", "--duration", "5x"],
            &["90s", "2h30m", "1w"],
        ),
        (
            &["user", "block", "alice", "--until", "2020-01-01"],
            &["not in the future"],
        ),
        (
            &["user", "block", "alice", "--until", "soon"],
            &["--until", "2026-12-01"],
        ),
        (
            &[
                "user",
                "block",
                "alice",
                "--until",
                "2030-01-01",
                "--duration",
                "1h",
            ],
            &["--until"],
        ),
        (
            &["user", "list", "--near-limit", "0"],
            &["--near-limit", "from 1 to 100"],
        ),
        (&["user", "frobnicate"], &["frobnicate"]),
        (
            &["user", "create", "x"],
            &["<PERSON_NAME> <TEAM>", "Usage: bedrock-gate user create"],
        ),
        (&["user", "rename", "alice", "a b"], &["user name `a b`"]),
    ];
    for (args, needles) in cases {
        let out = s.run(args);
        assert!(!stderr(&out).contains("-- -"), "{args:?}: {}", stderr(&out));
        fails(&out, 2, 2, needles);
    }
    assert_eq!(
        s.json(&["user", "info", "alice"])["blocked"],
        false,
        "nothing changed"
    );

    let out = s.run(&["audit", "--user", "nobody"]);
    fails(&out, 1, 1, &["user `nobody` not found"]);
    let out = s.run(&["user", "unblock", "alice"]);
    fails(&out, 1, 1, &["not blocked"]);

    // The usual duration forms work.
    for (d, secs) in [("90s", 90), ("2h30m", 9000), ("1w", 604_800)] {
        let v = s.json(&["user", "block", "alice", "--duration", d]);
        let left = v["blocked_until"].as_i64().unwrap() - chrono_now_ms();
        assert!(left > (secs - 60) * 1000 && left <= secs * 1000, "{d}: {v}");
        assert!(v["blocked_until_rfc3339"].is_string(), "{v}");
    }
    let end = chrono::Utc::now() + chrono::Duration::days(2);
    let v = s.json(&["user", "block", "alice", "--until", &end.to_rfc3339()]);
    let off = v["blocked_until"].as_i64().unwrap() - end.timestamp_millis();
    assert!(off.abs() < 60_000, "{v}");
}

fn chrono_now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[test]
fn configuration_errors_name_the_place() {
    let s = Sandbox::new("[proxy]\nlisten = \"nowhere\"\n");
    let out = s.run(&["migrate"]);
    fails(&out, 1, 1, &["proxy.listen", "gate.toml:4:1", "nowhere"]);
    let s = Sandbox::new("[proxy]\nlisten = \n");
    let out = s.run(&["migrate"]);
    fails(&out, 1, 1, &["gate.toml:4:", "not valid TOML"]);
    let s = Sandbox::new("");
    let out = s
        .cmd()
        .arg("--config")
        .arg(s.path("gate.toml"))
        .arg("migrate")
        .env("BEDROCK_GATE_QUOTA__WARNING_PERCENT", "250")
        .output()
        .unwrap();
    fails(
        &out,
        1,
        1,
        &[
            "quota.warning_percent",
            "BEDROCK_GATE_QUOTA__WARNING_PERCENT",
        ],
    );
    let out = s
        .cmd()
        .arg("--config")
        .arg(s.path("missing.toml"))
        .arg("migrate")
        .output()
        .unwrap();
    fails(&out, 1, 1, &["missing.toml", "No such file", "--config"]);
}

#[test]
fn a_bad_master_key_or_database_is_named_before_anything_is_created() {
    let s = Sandbox::new("master_key = \"c2hvcnQ=\"\n");
    for args in [&["migrate"][..], &["team", "create", "t"]] {
        let out = s.run(args);
        fails(
            &out,
            1,
            1,
            &["database.master_key", "32 bytes", "got 5 bytes"],
        );
    }
    assert!(!s.path("gate.db").exists());

    let s = Sandbox::new("");
    s.json(&["migrate"]);
    std::fs::write(s.path("gate.db.key"), "not base64!\n").unwrap();
    let out = s.run(&["user", "list"]);
    fails(&out, 1, 1, &["gate.db.key", "32 bytes"]);

    let nowhere = tempfile::tempdir().unwrap();
    let gone = nowhere.path().join("no/such/dir/gate.db");
    let out = Sandbox::new("")
        .cmd()
        .args(["team", "create", "t"])
        .env(
            "BEDROCK_GATE_DATABASE__URL",
            format!("sqlite://{}?mode=rwc", gone.display()),
        )
        .output()
        .unwrap();
    fails(&out, 1, 1, &[gone.to_str().unwrap(), "cannot create it"]);

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let out = Sandbox::new("")
        .cmd()
        .args(["user", "list"])
        .env(
            "BEDROCK_GATE_DATABASE__URL",
            format!("mysql://root:pw@127.0.0.1:{port}/gate"),
        )
        .env(
            "BEDROCK_GATE_DATABASE__MASTER_KEY",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        )
        .output()
        .unwrap();
    fails(
        &out,
        1,
        1,
        &[&format!("MySQL 127.0.0.1:{port}/gate"), "refused"],
    );
    assert!(!stderr(&out).contains("pw"), "{}", stderr(&out));
}

#[test]
fn lists_are_tables_that_say_when_they_are_empty() {
    let s = Sandbox::new("");
    s.json(&["migrate"]);
    assert_eq!(stdout(&s.run(&["team", "list"])).trim(), "no teams");
    assert_eq!(stdout(&s.run(&["user", "list"])).trim(), "no users");
    assert_eq!(stdout(&s.run(&["key", "list"])).trim(), "no keys");
    s.json(&["team", "create", "red", "--daily-budget-usd", "12.5"]);
    s.json(&["team", "create", "blue"]);
    s.json(&[
        "user",
        "create",
        "a-user-with-a-rather-long-name",
        "A",
        "red",
    ]);
    s.json(&["user", "create", "bo", "Bo", "red", "--daily-requests", "0"]);

    let teams = stdout(&s.run(&["team", "list"]));
    let lines: Vec<&str> = teams.lines().collect();
    assert!(
        lines[0].starts_with("TEAM") && lines[0].contains("TODAY USD"),
        "{teams}"
    );
    assert!(teams.contains("$12.50/unlimited"), "{teams}");
    assert!(teams.contains("$0.00"), "{teams}");
    let users = stdout(&s.run(&["user", "list"]));
    let lines: Vec<&str> = users.lines().collect();
    assert!(lines[0].starts_with("USER"), "{users}");
    let team_col = lines[0].find("TEAM").unwrap();
    assert!(
        lines
            .iter()
            .skip(1)
            .all(|l| l[team_col..].starts_with("red")),
        "{users}"
    );

    assert_eq!(
        stdout(&s.run(&["user", "list", "--blocked"])).trim(),
        "no blocked users"
    );
    let near = s.json(&["user", "list", "--near-limit"]);
    assert_eq!(near.as_array().unwrap().len(), 1, "{near}");
    assert_eq!(near[0]["username"], "bo");

    s.json(&[
        "user",
        "block",
        "bo",
        "--duration",
        "1h",
        "--reason",
        "testing",
    ]);
    let info = stdout(&s.run(&["user", "info", "bo"]));
    assert!(info.contains("status:     blocked until"), "{info}");
    assert!(info.contains("(testing); not protected"), "{info}");
    assert!(
        info.contains("0 requests, 0 in / 0 out tokens, $0.00"),
        "{info}"
    );
    assert!(info.contains("no keys"), "{info}");
    let blocked = s.json(&["user", "list", "--blocked"]);
    assert_eq!(blocked[0]["username"], "bo");
    s.json(&["user", "protect", "a-user-with-a-rather-long-name"]);
    let info = stdout(&s.run(&["user", "info", "a-user-with-a-rather-long-name"]));
    assert!(
        info.contains("not blocked; protected from limits (standing)"),
        "{info}"
    );

    let moved = s.json(&["user", "move", "bo", "blue"]);
    assert_eq!(moved["team"], "blue");
    let renamed = s.json(&["user", "rename", "bo", "bob"]);
    assert_eq!(renamed["username"], "bob");
    let team = s.json(&["team", "rename", "blue", "navy"]);
    assert_eq!(team["name"], "navy");
    let info = s.json(&["user", "info", "bob"]);
    assert_eq!(info["team"], "navy");
    assert_eq!(info["blocked"], true, "the block follows the new name");
    assert!(info["created_at_rfc3339"].as_str().unwrap().contains('T'));
    let teams = s.json(&["team", "list"]);
    let navy = teams
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "navy")
        .unwrap();
    assert_eq!(navy["members"], 1);
    let audit = s.json(&["admin", "audit"]);
    let ops: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["operation"].as_str().unwrap())
        .collect();
    for op in ["move_user", "rename_user", "rename_team"] {
        assert!(ops.contains(&op), "{op} in {ops:?}");
    }
    let out = s.run(&["user", "move", "bob", "navy"]);
    fails(&out, 1, 1, &["already in team `navy`"]);
}
