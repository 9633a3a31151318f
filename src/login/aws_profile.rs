//! One profile's section of the AWS shared config file (`$AWS_CONFIG_FILE`, else
//! `~/.aws/config`): the keys this command owns (`credential_process`, and `region` when
//! given) are set in `[profile NAME]` (`[default]` for `default`); every other line of the
//! file, and the section's other keys, are kept as they are.

use std::path::PathBuf;

use super::saved::{home, private_dir, write_private};
use super::LoginError;

/// The AWS config file's path.
pub(crate) fn path() -> Result<PathBuf, LoginError> {
    match std::env::var_os("AWS_CONFIG_FILE").filter(|v| !v.is_empty()) {
        Some(p) => Ok(PathBuf::from(p)),
        None => Ok(home()?.join(".aws").join("config")),
    }
}

/// A profile name the file can hold: letters, digits, `-`, `_`, `.`.
pub(crate) fn check_name(name: &str) -> Result<(), LoginError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(LoginError::Usage(format!(
            "`{name}` is not a profile name (1 to 64 letters, digits, `-`, `_`, `.`)"
        )))
    }
}

/// The section header of `profile`.
pub(crate) fn header(profile: &str) -> String {
    if profile == "default" {
        "[default]".to_string()
    } else {
        format!("[profile {profile}]")
    }
}

/// `text` with `settings` set in `profile`'s section (the section is added at the end
/// when missing).
pub(crate) fn apply(text: &str, profile: &str, settings: &[(&str, String)]) -> String {
    let wanted = header(profile);
    let is_header = |l: &str| l.trim_start().starts_with('[');
    let key_of = |l: &str| l.split('=').next().map(|k| k.trim().to_string());
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| {
        let t = l.trim();
        t == wanted || (profile != "default" && squash(t) == squash(&wanted))
    });
    let ours: Vec<String> = settings.iter().map(|(k, v)| format!("{k} = {v}")).collect();
    let mut out: Vec<String> = Vec::new();
    match start {
        None => {
            out.extend(lines.iter().map(|l| l.to_string()));
            if out.last().is_some_and(|l| !l.trim().is_empty()) {
                out.push(String::new());
            }
            out.push(wanted);
            out.extend(ours);
        }
        Some(start) => {
            let end = lines[start + 1..]
                .iter()
                .position(|l| is_header(l))
                .map_or(lines.len(), |p| start + 1 + p);
            out.extend(lines[..=start].iter().map(|l| l.to_string()));
            out.extend(ours);
            let mut kept: Vec<String> = lines[start + 1..end]
                .iter()
                .filter(|l| {
                    let key = key_of(l);
                    !settings.iter().any(|(k, _)| key.as_deref() == Some(*k))
                })
                .map(|l| l.to_string())
                .collect();
            // Blank lines before the next section stay after our keys.
            while kept.first().is_some_and(|l| l.trim().is_empty()) && kept.len() > 1 {
                let blank = kept.remove(0);
                kept.push(blank);
            }
            out.extend(kept);
            out.extend(lines[end..].iter().map(|l| l.to_string()));
        }
    }
    let mut joined = out.join("\n");
    joined.push('\n');
    joined
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Sets `settings` in `profile` in the AWS config file; the directory is made if
/// missing (0700), a new file is 0600, an existing file keeps its other content.
pub(crate) fn write(profile: &str, settings: &[(&str, String)]) -> Result<PathBuf, LoginError> {
    let path = path()?;
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(LoginError::Local(format!(
                "cannot read {}: {e}",
                path.display()
            )))
        }
    };
    if let Some(dir) = path.parent().filter(|d| !d.exists()) {
        private_dir(dir)?;
    }
    write_private(&path, apply(&text, profile, settings).as_bytes())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp() -> Vec<(&'static str, String)> {
        vec![
            (
                "credential_process",
                "/bin/bg credentials --server https://g".into(),
            ),
            ("region", "eu-west-1".into()),
        ]
    }

    #[test]
    fn a_missing_profile_is_added_at_the_end() {
        let before = "[default]\nregion = us-east-1\n";
        assert_eq!(
            apply(before, "gate", &cp()),
            "[default]\nregion = us-east-1\n\n[profile gate]\n\
             credential_process = /bin/bg credentials --server https://g\nregion = eu-west-1\n"
        );
        assert_eq!(
            apply("", "gate", &cp()),
            "[profile gate]\ncredential_process = /bin/bg credentials --server https://g\n\
             region = eu-west-1\n"
        );
    }

    #[test]
    fn only_that_profiles_keys_change() {
        let before = "[profile a]\nregion = x\n\n[profile gate]\nregion = old\n\
                      output = json\ncredential_process = old\n\n[profile b]\nregion = y\n";
        assert_eq!(
            apply(before, "gate", &cp()),
            "[profile a]\nregion = x\n\n[profile gate]\n\
             credential_process = /bin/bg credentials --server https://g\nregion = eu-west-1\n\
             output = json\n\n[profile b]\nregion = y\n"
        );
        // Without a region, the profile's region stays.
        let only = vec![cp().remove(0)];
        assert!(apply(before, "gate", &only).contains("region = old"));
        assert_eq!(header("default"), "[default]");
    }

    #[test]
    fn profile_names_are_checked() {
        assert!(check_name("bedrock-gate_1.x").is_ok());
        assert!(check_name("a]b").is_err());
        assert!(check_name("").is_err());
    }
}
