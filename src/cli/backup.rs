//! `backup`: prints what the service layer's online backup wrote (`ops::backup`).

use std::path::Path;

use super::args::Output;
use crate::config::Config;

/// Copies the database and its master key; says where they are and what else to keep.
pub(super) async fn backup(config: &Config, out: Output, to: &Path) -> anyhow::Result<()> {
    let view = crate::ops::backup::backup(config, to).await?;
    let mut text = format!("backed up {} into {}", view.database, view.backup.display());
    if let Some(key) = &view.master_key {
        text.push_str(&format!("\nmaster key copied into {}", key.display()));
    }
    if let Some(note) = &view.note {
        text.push_str(&format!("\nnote: {note}"));
    }
    super::print(out, &view, text);
    Ok(())
}
