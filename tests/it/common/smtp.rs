//! A real SMTP server for tests: `tests/python/smtp_sink.py` (aiosmtpd) in a child
//! process, with every message it accepts parsed into a [`Mail`].

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// One accepted message.
#[derive(Clone, Debug)]
pub struct Mail {
    /// Envelope recipients.
    pub rcpt: Vec<String>,
    /// `Subject`.
    pub subject: String,
    /// The text/plain part.
    pub text: String,
    /// The text/html part.
    pub html: String,
    /// `multipart/alternative`.
    pub content_type: String,
    /// Whether the client authenticated.
    pub auth: bool,
}

/// A running SMTP sink.
pub struct SmtpSink {
    /// Its port on 127.0.0.1.
    pub port: u16,
    child: Child,
    mails: Arc<Mutex<Vec<Mail>>>,
}

/// A port nobody listens on now, below the ephemeral range (32768 and up on Linux), so
/// that listeners bound to port 0 later (a gate's) cannot take it while it is unused.
pub fn free_port() -> u16 {
    loop {
        let port = 20_000 + (rand::random::<u16>() % 10_000);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl SmtpSink {
    /// Starts the sink on `port`, requiring `auth` (user, password) when given.
    pub async fn start(port: u16, auth: Option<(&str, &str)>) -> SmtpSink {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/smtp_sink.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script).arg(port.to_string());
        if let Some((u, p)) = auth {
            cmd.arg(u).arg(p);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 with aiosmtpd (pip install -r tests/python/requirements.txt)");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the SMTP sink did not start")
            .unwrap();
        assert_eq!(
            first.as_deref(),
            Some("ready"),
            "the SMTP sink did not start"
        );
        let mails = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&mails);
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let v: Value = serde_json::from_str(&line).unwrap();
                let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
                sink.lock().push(Mail {
                    rcpt: v["rcpt_tos"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|r| r.as_str().unwrap().to_string())
                        .collect(),
                    subject: s("subject"),
                    text: s("text"),
                    html: s("html"),
                    content_type: s("content_type"),
                    auth: v["auth"].as_bool().unwrap_or(false),
                });
            }
        });
        SmtpSink { port, child, mails }
    }

    /// `smtp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message so far.
    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().clone()
    }

    /// Waits (up to `secs`) until `check` holds on the messages; panics with them if not.
    pub async fn wait_until(&self, secs: u64, what: &str, check: impl Fn(&[Mail]) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        while tokio::time::Instant::now() < deadline {
            if check(&self.mails()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let subjects: Vec<String> = self.mails().iter().map(|m| m.subject.clone()).collect();
        panic!("timed out waiting for {what}; mails: {subjects:#?}");
    }

    /// Stops the server.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
