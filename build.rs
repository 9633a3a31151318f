//! Build script: records the git commit the binary is built from, for `--version` and
//! the start-up line. Tolerant: without git or a repository (a source tarball, a Docker
//! context without `.git`) the commit is `$GATE_GIT_COMMIT` if set, else "unknown".

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-env-changed=GATE_GIT_COMMIT");
    let commit = std::env::var("GATE_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            // Rebuild when HEAD moves: the HEAD file, the branch it names, packed refs.
            // Only files that exist: cargo reruns a build script on every build while a
            // watched file is missing (a repository without `packed-refs`), and so
            // recompiles the crate each time.
            let watch = |p: String| {
                if std::path::Path::new(&p).exists() {
                    println!("cargo:rerun-if-changed={p}");
                }
            };
            for path in ["HEAD", "packed-refs"] {
                if let Some(p) = git(&["rev-parse", "--git-path", path]) {
                    watch(p);
                }
            }
            if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
                if let Some(p) = git(&["rev-parse", "--git-path", &branch]) {
                    watch(p);
                }
            }
            git(&["rev-parse", "--short=12", "HEAD"])
        })
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=GATE_GIT_COMMIT={commit}");
}
