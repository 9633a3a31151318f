//! A private MariaDB server for fault tests: `mariadbd` on a fresh datadir in a
//! temporary directory, on its own free port and socket, which the test can freeze
//! (SIGSTOP), thaw (SIGCONT), kill (SIGKILL) and start again on the same datadir and
//! port. Readiness is observed (a TCP connection and a query), never slept for. The
//! server is killed when the value is dropped.
//!
//! The shared server of the other tests (`GATE_TEST_MYSQL_URL`) is never touched.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::Connection;

/// The server binary.
const MARIADBD: &str = "/usr/sbin/mariadbd";
/// How long a start (or restart, with crash recovery) may take to answer a query.
const READY_WITHIN: Duration = Duration::from_secs(60);
/// Options shared by the datadir's initialisation and every start (InnoDB's log size
/// must match). Small files: the datadir is about 26 MB.
const INNODB: [&str; 2] = ["--innodb-log-file-size=8M", "--innodb-buffer-pool-size=32M"];

/// A running (or frozen, or killed) private `mariadbd`.
pub struct PrivateMariaDb {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl PrivateMariaDb {
    /// Initialises a datadir and starts the server on it; `None` (with the reason
    /// printed) when MariaDB is not installed, unless `GATE_TEST_REQUIRE_MYSQL=1`, which
    /// makes that a failure.
    pub async fn start() -> Option<PrivateMariaDb> {
        let install = which("mariadb-install-db");
        if !Path::new(MARIADBD).exists() || install.is_none() {
            let why = format!(
                "{MARIADBD} or mariadb-install-db is not installed; the database fault tests need them"
            );
            assert!(
                std::env::var("GATE_TEST_REQUIRE_MYSQL").as_deref() != Ok("1"),
                "GATE_TEST_REQUIRE_MYSQL=1 but {why}"
            );
            super::skips::skipped(&why);
            return None;
        }
        let install = install.unwrap();
        // Initialising a datadir has failed here once in many runs, with several tests
        // doing it at once on a loaded machine: tried again on a fresh directory.
        let mut attempt = 0;
        let dir = loop {
            attempt += 1;
            let dir = tempfile::tempdir().unwrap();
            let datadir = dir.path().join("data");
            let out = Command::new(&install)
                .arg("--no-defaults")
                .arg("--auth-root-authentication-method=normal")
                .arg(format!("--datadir={}", datadir.display()))
                .arg(format!("--user={}", user()))
                .arg("--skip-test-db")
                .args(INNODB)
                .output()
                .unwrap();
            if out.status.success() {
                break dir;
            }
            let why = format!(
                "mariadb-install-db failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(attempt < 3, "{why}");
            eprintln!("{why}; trying again");
        };
        let port = super::local::free_port();
        let mut server = PrivateMariaDb {
            dir,
            port,
            child: None,
        };
        server.launch().await;
        Some(server)
    }

    /// `mysql://root@127.0.0.1:PORT` (no database).
    pub fn server_url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}", self.port)
    }

    /// Creates database `name` and returns its URL.
    pub async fn create_database(&self, name: &str) -> String {
        let mut conn = sqlx::MySqlConnection::connect(&self.server_url())
            .await
            .unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        format!("{}/{name}", self.server_url())
    }

    /// The server's process id (while it runs or is frozen).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server was killed").id()
    }

    /// SIGSTOP: the server keeps its sockets (connections and new TCP handshakes are
    /// accepted by the kernel) but answers nothing.
    pub fn freeze(&self) {
        signal("STOP", self.pid());
    }

    /// SIGCONT after [`Self::freeze`].
    pub fn thaw(&self) {
        signal("CONT", self.pid());
    }

    /// SIGKILL, then waits until the process is gone (its sockets closed).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            child.wait().unwrap();
        }
    }

    /// Starts the server again on the same datadir and port (InnoDB recovers what the
    /// kill left) and waits until it answers.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "kill the server before restarting it");
        self.launch().await;
    }

    /// A query on a fresh connection, to see whether the server answers within `within`.
    pub async fn answers(&self, within: Duration) -> bool {
        let url = self.server_url();
        let probe = async {
            let mut conn = sqlx::MySqlConnection::connect(&url).await?;
            sqlx::query("SELECT 1").execute(&mut conn).await?;
            conn.close().await
        };
        matches!(tokio::time::timeout(within, probe).await, Ok(Ok(())))
    }

    /// The server's error log so far.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.path("error.log")).unwrap_or_default()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    async fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path("stdout.log"))
            .unwrap();
        let child = Command::new(MARIADBD)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", self.path("data").display()))
            .arg(format!("--user={}", user()))
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", self.path("mysqld.sock").display()))
            .arg(format!("--pid-file={}", self.path("mysqld.pid").display()))
            .arg(format!("--log-error={}", self.path("error.log").display()))
            .arg(format!("--tmpdir={}", self.dir.path().display()))
            .arg("--skip-grant-tables")
            .arg("--skip-name-resolve")
            .args(INNODB)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if self.answers(Duration::from_secs(2)).await {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "mariadbd exited with {status} before it was ready:\n{}",
                    self.error_log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "mariadbd did not answer within {READY_WITHIN:?}:\n{}",
                self.error_log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for PrivateMariaDb {
    fn drop(&mut self) {
        // SIGKILL ends a frozen process too.
        self.kill();
    }
}

/// Sends `SIG<name>` to `pid` with kill(1) (no unsafe code in the tests).
fn signal(name: &str, pid: u32) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} {pid} failed");
}

/// The user the server runs as (mariadbd insists on being told when it is root).
fn user() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `name` on the `PATH` (or in /usr/bin).
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}
