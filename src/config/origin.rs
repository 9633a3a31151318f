//! Where the configuration came from: which file was read (and why that one), and for
//! every key whether its value is the built-in default, the file's, or an environment
//! variable's. Errors use it to point at `file:line:column` or the variable;
//! `config show` uses it to say where each value came from.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::{CONFIG_ENV, ENV_PREFIX};

/// The configuration file read when neither `--config` nor `$BEDROCK_GATE_CONFIG` names
/// one, if it exists (the systemd unit and the Docker image use the same path).
pub(crate) const DEFAULT_CONFIG_PATH: &str = "/etc/bedrock-gate/bedrock-gate.toml";
/// Moves the default configuration path (for tests and packaging; operators use
/// `--config` or `$BEDROCK_GATE_CONFIG`).
pub(crate) const DEFAULT_CONFIG_PATH_ENV: &str = "BEDROCK_GATE_DEFAULT_CONFIG_PATH";

/// Where one key's value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// Built in.
    Default,
    /// The configuration file.
    File,
    /// This environment variable.
    Env(String),
}

/// The file that was read and why that one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ConfigFile {
    /// Its path.
    pub(crate) path: PathBuf,
    /// `--config`, `$BEDROCK_GATE_CONFIG` or `default path`.
    pub(crate) chosen_by: &'static str,
}

/// The file (if any) and the keys set by it and by environment variables.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Origin {
    /// The file read, if any.
    pub(crate) file: Option<ConfigFile>,
    /// Dotted keys set in the file.
    file_keys: BTreeSet<String>,
    /// Dotted keys set by environment variables, with the variable.
    env_keys: BTreeMap<String, String>,
}

impl Origin {
    /// The file to read: `--config`, else `$BEDROCK_GATE_CONFIG`, else the default path
    /// when a file exists there.
    pub(crate) fn choose_file(cli: Option<&Path>, env: &[(String, String)]) -> Option<ConfigFile> {
        let var = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        if let Some(path) = cli {
            return Some(ConfigFile {
                path: path.to_path_buf(),
                chosen_by: "--config",
            });
        }
        if let Some(path) = var(CONFIG_ENV).filter(|p| !p.is_empty()) {
            return Some(ConfigFile {
                path: path.into(),
                chosen_by: "$BEDROCK_GATE_CONFIG",
            });
        }
        let default = var(DEFAULT_CONFIG_PATH_ENV).unwrap_or_else(|| DEFAULT_CONFIG_PATH.into());
        Path::new(&default).is_file().then(|| ConfigFile {
            path: default.into(),
            chosen_by: "default path",
        })
    }

    /// The origin of a configuration read from `file` (its `text`) and `env`.
    pub(crate) fn new(
        file: Option<ConfigFile>,
        text: Option<&str>,
        env: &[(String, String)],
    ) -> Self {
        let mut file_keys = BTreeSet::new();
        if let Some(table) = text.and_then(|t| t.parse::<toml::Table>().ok()) {
            for (section, value) in &table {
                match value {
                    toml::Value::Table(keys) => {
                        file_keys.extend(keys.keys().map(|k| format!("{section}.{k}")));
                    }
                    _ => {
                        file_keys.insert(section.clone());
                    }
                }
            }
        }
        let env_keys = env
            .iter()
            .filter_map(|(name, _)| {
                let (section, key) = name.strip_prefix(ENV_PREFIX)?.split_once("__")?;
                Some((
                    format!(
                        "{}.{}",
                        section.to_ascii_lowercase(),
                        key.to_ascii_lowercase()
                    ),
                    name.clone(),
                ))
            })
            .collect();
        Self {
            file,
            file_keys,
            env_keys,
        }
    }

    /// Where `key` (`section.key`) got its value.
    pub(crate) fn source(&self, key: &str) -> Source {
        let key = key.split('[').next().unwrap_or(key);
        if let Some(var) = self.env_keys.get(key) {
            Source::Env(var.clone())
        } else if self.file_keys.contains(key) {
            Source::File
        } else {
            Source::Default
        }
    }

    /// Where to look for `key` in an error: the variable that set it, or
    /// `file:line:column` of the key in the file (`text`).
    pub(crate) fn locate(&self, key: &str, text: Option<&str>) -> Option<String> {
        match self.source(key) {
            Source::Env(var) => Some(format!("set by {var}")),
            Source::File => {
                let file = self.file.as_ref()?;
                let at = text.and_then(|t| key_position(t, key.split('[').next().unwrap_or(key)));
                Some(match at {
                    Some((line, col)) => format!("at {}:{line}:{col}", file.path.display()),
                    None => format!("in {}", file.path.display()),
                })
            }
            Source::Default => None,
        }
    }
}

/// The line and column (1-based) where `key` (`section.key`) is written in `text`.
fn key_position(text: &str, key: &str) -> Option<(usize, usize)> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let mut parts = key.split('.');
    let section = parts.next()?;
    let (k, item) = doc.get_key_value(section)?;
    let span = match parts.next() {
        Some(name) => item.as_table_like()?.get_key_value(name)?.0.span()?,
        None => k.span()?,
    };
    Some(line_column(text, span.start))
}

/// The line and column (1-based, in characters) of byte `offset` in `text`.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn sources_and_positions() {
        let text = "[proxy]\nlisten = \"x\"\n\n[quota]\n  warning_percent = 90\n";
        let file = ConfigFile {
            path: "/etc/g.toml".into(),
            chosen_by: "--config",
        };
        let o = Origin::new(
            Some(file),
            Some(text),
            &env(&[("BEDROCK_GATE_QUOTA__TIMEZONE", "UTC"), ("HOME", "/root")]),
        );
        assert_eq!(o.source("proxy.listen"), Source::File);
        assert_eq!(
            o.source("quota.timezone"),
            Source::Env("BEDROCK_GATE_QUOTA__TIMEZONE".into())
        );
        assert_eq!(o.source("admin.listen"), Source::Default);
        assert_eq!(
            o.locate("proxy.listen", Some(text)).as_deref(),
            Some("at /etc/g.toml:2:1")
        );
        assert_eq!(
            o.locate("quota.warning_percent", Some(text)).as_deref(),
            Some("at /etc/g.toml:5:3")
        );
        assert_eq!(
            o.locate("quota.timezone", Some(text)).as_deref(),
            Some("set by BEDROCK_GATE_QUOTA__TIMEZONE")
        );
        assert_eq!(o.locate("admin.listen", Some(text)), None);
    }

    #[test]
    fn the_default_path_is_used_only_when_it_exists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.toml");
        let moved = env(&[(DEFAULT_CONFIG_PATH_ENV, path.to_str().unwrap())]);
        assert_eq!(Origin::choose_file(None, &moved), None);
        std::fs::write(&path, "").unwrap();
        let chosen = Origin::choose_file(None, &moved).unwrap();
        assert_eq!(
            (chosen.path.as_path(), chosen.chosen_by),
            (path.as_path(), "default path")
        );
        let mut both = moved.clone();
        both.push((CONFIG_ENV.into(), "/x.toml".into()));
        assert_eq!(
            Origin::choose_file(None, &both).unwrap().chosen_by,
            "$BEDROCK_GATE_CONFIG"
        );
        let cli = Origin::choose_file(Some(Path::new("/y.toml")), &both).unwrap();
        assert_eq!(cli.chosen_by, "--config");
    }

    #[test]
    fn line_and_column_count_characters() {
        assert_eq!(line_column("ab\ncé d", 7), (2, 4));
        assert_eq!(line_column("x", 0), (1, 1));
    }
}
