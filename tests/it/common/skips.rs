//! Skipped tests, said once at the end: every test that skips for want of something
//! (MariaDB, Claude Code, Chromium, node packages, python clients) calls [`skipped`]
//! with what is missing and how to get it. Each skip is appended to
//! `<target>/tmp/skipped-tests-<pid>.txt`; the first one starts a watcher process that
//! waits for this test binary to exit and then prints ONE line on its stderr: how many
//! tests skipped, grouped by what they miss, and the file naming them. (libtest has no
//! end-of-run hook, and a summary printed from inside a test would be captured.)

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

use parking_lot::Mutex;

/// The file this process's skips go to.
fn skip_file() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("skipped-tests-{}.txt", std::process::id()))
}

/// Records that the running test skips (all of it, or a variant) because `what` is
/// missing; `what` says how to enable it, e.g. "Claude Code is not installed (npm ci
/// --prefix tests/js)". The same skip of one test is recorded once.
pub fn skipped(what: &str) {
    static SEEN: OnceLock<Mutex<HashSet<(String, String)>>> = OnceLock::new();
    let test = std::thread::current()
        .name()
        .unwrap_or("(unnamed test)")
        .to_string();
    let what = what.replace(['\t', '\n'], " ");
    let first = SEEN
        .get_or_init(Default::default)
        .lock()
        .insert((test.clone(), what.clone()));
    if !first {
        return;
    }
    // Captured with the test's output (shown with --nocapture or when it fails).
    eprintln!("skipping: {what}");
    let file = skip_file();
    let appended = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)
        .and_then(|mut f| writeln!(f, "{what}\t{}\t{test}", env!("CARGO_CRATE_NAME")));
    if appended.is_ok() {
        start_watcher(&file);
    }
}

/// Once per process: a shell that waits for this process to end, then prints the
/// summary line of `file` on the inherited stderr (the file stays, naming the tests).
fn start_watcher(file: &std::path::Path) {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        let script = r#"
tail --pid="$1" -s 0.1 -f /dev/null 2>/dev/null
awk -F '\t' -v file="$2" '
  { n++; if (!($1 in c)) order[++k] = $1; c[$1]++ }
  END {
    if (n == 0) exit
    s = "SKIPPED " n " test(s) of " $2 ":"
    for (i = 1; i <= k; i++) s = s " [" c[order[i]] "x] " order[i] ";"
    print s " names in " file
  }' "$2" >&2
"#;
        let _ = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("skip-summary")
            .arg(std::process::id().to_string())
            .arg(file)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .spawn();
    });
}
