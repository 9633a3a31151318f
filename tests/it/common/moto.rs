//! moto's server (PyPI `moto[server]`) as a local IAM for the backstop's tests: started
//! on a free port by the test, killed with it. A missing moto is a skip, unless
//! `GATE_TEST_REQUIRE_CLIENTS=1` makes it a failure.

use std::process::Stdio;
use std::time::Duration;

use aws_credential_types::Credentials;
use tokio::process::{Child, Command};

/// A running moto server.
pub struct Moto {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    child: Child,
}

impl Moto {
    /// Starts `python3 -m moto.server` on a free port and waits until it answers; `None`
    /// (a skip) when moto is not installed.
    pub async fn start() -> Option<Moto> {
        if !super::clients::python_ok("import moto.server, flask").await {
            super::clients::missing(
                "moto[server] is not installed (pip install -r tests/python/requirements.txt)",
            );
            return None;
        }
        let port = super::local::free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start moto_server");
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..300 {
            if let Ok((status, _)) = super::http_get(&format!("{url}/moto-api/")).await {
                if status < 500 {
                    return Some(Moto { url, child });
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("moto_server did not answer on {url} within 15 s");
    }

    /// An IAM client of the test, on this moto.
    pub fn iam(&self) -> aws_sdk_iam::Client {
        let conf = aws_sdk_iam::Config::builder()
            .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
            .region(aws_sdk_iam::config::Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .endpoint_url(&self.url)
            .build();
        aws_sdk_iam::Client::from_conf(conf)
    }

    /// The inline policy names of an IAM user.
    pub async fn user_policies(&self, user: &str) -> Vec<String> {
        self.iam()
            .list_user_policies()
            .user_name(user)
            .send()
            .await
            .unwrap()
            .policy_names()
            .to_vec()
    }

    /// Waits (at most 15 s) until `user` has (or has not) the inline policy `name`.
    pub async fn wait_policy(&self, user: &str, name: &str, present: bool) {
        for _ in 0..300 {
            if self.user_policies(user).await.iter().any(|p| p == name) == present {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "IAM user {user}: policy {name} never became {}",
            if present { "present" } else { "absent" }
        );
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
