//! What users read when they stumble (issue 29): a misspelt flag gets clap's "did you
//! mean" and no usage line that looks as if the flag were required; an unknown
//! configuration key gets a suggestion; the long help does not repeat a block per
//! value of `--output`; small costs show as the dashboard shows them.

use crate::common;

use std::process::{Command, Output};

use common::{converse, Gate, GateOptions};

const BIN: &str = env!("CARGO_BIN_EXE_bedrock-gate");

fn run(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("BEDROCK_GATE_CONFIG")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_misspelt_flag_gets_did_you_mean_and_no_usage_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &["user", "set-limits", "alice", "--daily-request", "5"],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(
        err.trim_end(),
        "error: unexpected argument '--daily-request' found; did you mean '--daily-requests'?\n\
         (see `bedrock-gate user set-limits --help`)"
    );
    let out = run(dir.path(), &["usre", "list"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("did you mean"), "{}", stderr(&out));
    // A missing argument still shows the usage.
    let out = run(dir.path(), &["user", "set-limits"]);
    assert!(
        stderr(&out).contains("Usage: bedrock-gate user set-limits <USERNAME>"),
        "{}",
        stderr(&out)
    );
    // Nothing was created by any of them.
    assert!(!dir.path().join("bedrock-gate.db").exists());
}

#[test]
fn an_unknown_configuration_key_gets_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gate.toml");
    std::fs::write(&config, "[quota]\ndefault_daly_requests = 5\n").unwrap();
    let out = run(
        dir.path(),
        &["--config", config.to_str().unwrap(), "user", "list"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("`quota.default_daly_requests`")
            && err.contains("unknown key; did you mean `default_daily_requests`?"),
        "{err}"
    );
}

#[test]
fn long_help_says_output_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["user", "set-limits", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = help.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.trim_start().starts_with("--output"))
        .expect("--output in the help");
    assert!(!help.contains("Possible values"), "{help}");
    assert!(
        lines[at + 1].contains("text") && lines[at + 1].contains("json"),
        "{help}"
    );
    assert!(
        lines[at + 2].trim_start().starts_with("--"),
        "one description line: {help}"
    );
}

#[tokio::test]
async fn usage_shows_a_call_of_a_fraction_of_a_cent_as_the_dashboard_does() {
    let gate = Gate::start(GateOptions::default()).await;
    let alice = gate.user("alice", "research").await;
    let (status, _) = converse(&gate.url, &alice.key.bearer_token).await;
    assert_eq!(status, 200);
    let record = &gate.records(1).await[0];
    assert!(
        record.cost_usd > 0.0 && record.cost_usd < 0.005,
        "{}",
        record.cost_usd
    );
    let shown = format!("{:.6}", record.cost_usd);
    let shown = format!("${}", shown.trim_end_matches('0').trim_end_matches('.'));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gate.toml");
    use base64::Engine as _;
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"{}\"\nmaster_key = \"{}\"\n",
            gate.db_url(),
            base64::engine::general_purpose::STANDARD.encode(common::MASTER_KEY)
        ),
    )
    .unwrap();
    let out = run(
        dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "usage",
            "--user",
            "alice",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(&shown), "{shown} in:\n{text}");
    assert!(!text.contains("$0.00 "), "{text}");
    gate.stop().await;
}
