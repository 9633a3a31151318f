//! What the real `serve` binary logs: its start-up lines (version and commit, listeners
//! as bound, database, time zone, what is configured), one access line per call with
//! every field an operator greps for, JSON lines that parse, and one short line naming
//! what to set when there are no upstream credentials.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bedrock_gate::config::Config;
use bedrock_gate::ops::Ops;
use bedrock_gate::store::Limits;
use common::serve::{Serve, WAIT};
use common::upstream::{FakeUpstream, INPUT_TOKENS, OUTPUT_TOKENS};
use serde_json::Value;

/// A config file in `dir`: ports 0, an SQLite database there, the test master key,
/// `upstream` as the endpoint, and `extra` appended.
fn write_config(dir: &Path, upstream: &str, extra: &str) -> PathBuf {
    use base64::Engine as _;
    let key = base64::engine::general_purpose::STANDARD.encode(common::MASTER_KEY);
    let path = dir.join("gate.toml");
    let text = format!(
        "[proxy]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n\
         [upstream]\nregion = \"{}\"\nendpoint = \"{upstream}\"\n\
         [database]\nurl = \"sqlite://{}?mode=rwc\"\nmaster_key = \"{key}\"\n\
         [quota]\ntimezone = \"Europe/Madrid\"\n{extra}",
        common::REGION,
        dir.join("gate.db").display(),
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Creates user `alice` with a key for tool `cli` on the database of `config`; returns
/// the bearer token.
async fn alice(config: &Path) -> String {
    let config = Config::load(Some(config)).unwrap();
    let (ops, _) = Ops::open(&config).await.unwrap();
    let key = common::user_with_key(&ops, "alice", "research", Limits::default(), "cli").await;
    ops.close().await;
    key.bearer_token
}

/// A `serve` started on a fresh directory with user `alice`: with the fake upstream and
/// its credentials (`upstream`), or with none and no credentials.
struct Trial {
    _upstream: Option<FakeUpstream>,
    _dir: tempfile::TempDir,
    token: String,
    serve: Serve,
}

impl Trial {
    async fn start(extra_config: &str, upstream: bool) -> Trial {
        let upstream = match upstream {
            true => Some(common::fake_upstream().await),
            false => None,
        };
        let endpoint = upstream
            .as_ref()
            .map_or_else(|| "http://127.0.0.1:9".to_string(), FakeUpstream::url);
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path(), &endpoint, extra_config);
        let token = alice(&config).await;
        let credentials: &[(&str, &str)] = match upstream {
            Some(_) => &[
                ("AWS_ACCESS_KEY_ID", common::UPSTREAM_KEY_ID),
                ("AWS_SECRET_ACCESS_KEY", common::UPSTREAM_SECRET),
            ],
            None => &[],
        };
        let serve = Serve::start(&config, dir.path(), credentials);
        Trial {
            _upstream: upstream,
            _dir: dir,
            token,
            serve,
        }
    }
}

/// The proxy address the "serving" line names (a JSON line).
fn proxy_url(line: &Value) -> Option<String> {
    if !line["message"].as_str()?.starts_with("serving") {
        return None;
    }
    line["proxy"].as_str().map(str::to_string)
}

/// The proxy address the "serving" line names (a text line: `... proxy=URL ...`).
fn proxy_url_text(line: &str) -> Option<String> {
    if !line.contains("serving") {
        return None;
    }
    let at = line.find("proxy=")?;
    line[at + "proxy=".len()..]
        .split_whitespace()
        .next()
        .map(str::to_string)
}

/// Calls Converse until the proxy knows the key (its change watcher polls the database).
async fn converse_when_known(url: &str, token: &str) -> http::Response<bytes::Bytes> {
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, resp) = common::converse(url, token).await;
        if status != 403 {
            return resp;
        }
        assert!(
            Instant::now() < deadline,
            "the proxy never accepted the key"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn json_logs_parse_and_every_call_has_an_access_line() {
    // Named bindings: the upstream and the directory live until the test ends.
    let Trial {
        _upstream,
        _dir,
        token,
        serve,
    } = Trial::start("[log]\nformat = \"json\"\n", true).await;
    let json = |l: &str| serde_json::from_str::<Value>(l).ok();
    let url = serve
        .line("the serving line", |l| json(l).as_ref().and_then(proxy_url))
        .await;
    assert!(
        url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"),
        "{url}"
    );

    let resp = converse_when_known(&url, &token).await;
    assert_eq!(resp.status(), 200);
    let request_id = resp.headers()["x-amzn-requestid"]
        .to_str()
        .unwrap()
        .to_string();
    let access = serve
        .line("the access line", |l| {
            json(l)
                .filter(|v| v["target"] == "bedrock_gate::access" && v["request_id"] == *request_id)
        })
        .await;
    assert_eq!(access["level"], "INFO");
    assert_eq!(access["user"], "alice");
    assert_eq!(access["tool"], "cli");
    assert_eq!(access["model"], "anthropic.claude-3-haiku-20240307-v1:0");
    assert_eq!(access["operation"], "Converse");
    assert_eq!(access["status"], 200);
    assert_eq!(access["input_tokens"], INPUT_TOKENS);
    assert_eq!(access["output_tokens"], OUTPUT_TOKENS);
    assert!(access["cost_usd"].as_f64().unwrap() > 0.0, "{access}");
    assert!(access["latency_ms"].is_u64(), "{access}");
    assert!(access.get("not_sent").is_none(), "{access}");
    assert!(access["timestamp"].is_string());

    // A refusal has its line too: no user known, status and error type.
    let (status, refused) = common::converse(&url, "not-a-key").await;
    assert_eq!(status, 403);
    let refused_id = refused.headers()["x-amzn-requestid"]
        .to_str()
        .unwrap()
        .to_string();
    let line = serve
        .line("the refusal's access line", |l| {
            json(l).filter(|v| v["request_id"] == *refused_id)
        })
        .await;
    assert_eq!(line["user"], "-");
    assert_eq!(line["status"], 403);

    let lines = serve.all();
    for l in &lines {
        assert!(json(l).is_some(), "every line is one JSON object: {l}");
    }
    let find = |message: &str| {
        lines
            .iter()
            .filter_map(|l| json(l))
            .find(|v| {
                v["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with(message))
            })
            .unwrap_or_else(|| panic!("no `{message}` line in:\n{}", lines.join("\n")))
    };
    let version = find("bedrock-gate ");
    let message = version["message"].as_str().unwrap();
    assert!(
        message.contains(env!("CARGO_PKG_VERSION")) && message.contains("(commit "),
        "{message}"
    );
    let database = find("database ready");
    let shown = database["database"].as_str().unwrap();
    assert!(
        shown.starts_with("sqlite /") && shown.ends_with("gate.db"),
        "{shown}"
    );
    let serving = find("serving");
    assert!(serving["admin"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:"));
    let configured = find("configured");
    assert_eq!(configured["timezone"], "Europe/Madrid");
    assert_eq!(configured["email"], "off");
    assert_eq!(configured["access_log"], true);
    serve.stop();
}

#[tokio::test]
async fn access_lines_can_be_switched_off() {
    let Trial {
        _upstream,
        _dir: dir,
        token,
        serve,
    } = Trial::start("[log]\naccess = false\n", true).await;
    let url = serve.line("the serving line", proxy_url_text).await;
    let resp = converse_when_known(&url, &token).await;
    assert_eq!(resp.status(), 200);
    let dir_path = dir.path().to_path_buf();
    // The call's record is written once the call ends; by then an access line would be.
    let config = Config::load(Some(&dir_path.join("gate.toml"))).unwrap();
    let (ops, _) = Ops::open(&config).await.unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        let info = serde_json::to_value(ops.user_info("alice").await.unwrap()).unwrap();
        if info["usage"]["day"]["requests"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the call was never recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ops.close().await;
    assert!(
        !serve
            .all()
            .iter()
            .any(|l| l.contains("bedrock_gate::access")),
        "{:?}",
        serve.all()
    );
    serve.stop();
}

#[tokio::test]
async fn missing_upstream_credentials_are_one_short_line_saying_what_to_set() {
    let Trial {
        _upstream,
        _dir,
        token,
        serve,
    } = Trial::start("", false).await;
    let url = serve.line("the serving line", proxy_url_text).await;
    let resp = converse_when_known(&url, &token).await;
    assert_eq!(resp.status(), 503);
    serve
        .line("the access line", |l| {
            (l.contains("bedrock_gate::access") && l.contains("not_sent=\"no_credentials\""))
                .then_some(())
        })
        .await;
    let lines = serve.all();
    // The credential loader's own line (the system alert of the notifications, which
    // says the same thing to the administrators, is a different line and target).
    let nags: Vec<&String> = lines
        .iter()
        .filter(|l| {
            l.contains("bedrock_gate::proxy::upstream::credentials")
                && l.contains("upstream AWS credentials")
        })
        .collect();
    assert_eq!(nags.len(), 1, "{lines:#?}");
    assert!(nags[0].contains("AWS_ACCESS_KEY_ID"), "{}", nags[0]);
    assert!(nags[0].len() < 600, "{} bytes: {}", nags[0].len(), nags[0]);
    serve.stop();
}
