//! Fuzzing the configuration loader: any file text and environment overrides are either
//! a validated configuration (which `config show` can print) or an error that names a
//! key or the file.

use crate::config::origin::ConfigFile;
use crate::config::Config;

/// The TOML file text, then after a NUL byte the environment as `NAME=VALUE` lines.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (file, env) = text.split_once('\0').unwrap_or((text, ""));
    let env: Vec<(String, String)> = env
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let chosen = ConfigFile {
        path: "fuzz.toml".into(),
        chosen_by: "--config",
    };
    match Config::from_text(Some(chosen), Some(file), &env) {
        Ok(config) => {
            let _ = config.shown();
        }
        Err(e) => {
            let message = e.to_string();
            assert!(!message.is_empty(), "an empty configuration error");
        }
    }
}
