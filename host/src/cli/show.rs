//! `sinc config show` and `sinc id`: local, offline commands.

use super::args::GlobalArgs;
use super::context::Context;
use super::output;
use crate::error::{Error, Result};
use crate::session_id::{self, SessionId};
use std::path::Path;

/// Print the merged configuration with the source of each value.
pub fn config(ctx: &Context) -> Result<i32> {
    let value = serde_json::to_value(ctx.config()).map_err(|e| Error::Failure(e.to_string()))?;
    let mut rows: Vec<(String, serde_json::Value)> = Vec::new();
    flatten("", &value, &mut rows);
    if ctx.global.json {
        let values: Vec<serde_json::Value> = rows
            .iter()
            .map(|(k, v)| serde_json::json!({ "key": k, "value": v, "source": ctx.loaded.origin_of(k).to_string() }))
            .collect();
        output::json(&serde_json::json!({
            "config_file": ctx.loaded.config_file,
            "config_file_exists": ctx.loaded.config_file_exists,
            "project_file": ctx.loaded.project_file,
            "profile": ctx.loaded.profile,
            "values": values,
        }));
        return Ok(0);
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|(k, v)| {
            let shown = match v {
                serde_json::Value::Null => "(unset)".to_owned(),
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            vec![k.clone(), shown, ctx.loaded.origin_of(k).to_string()]
        })
        .collect();
    let file_note = if ctx.loaded.config_file_exists { "" } else { " (does not exist)" };
    output::line(&format!("config file: {}{file_note}", ctx.loaded.config_file.display()));
    if let Some(p) = &ctx.loaded.project_file {
        output::line(&format!("project file: {}", p.display()));
    }
    if let Some(p) = &ctx.loaded.profile {
        output::line(&format!("profile: {p}"));
    }
    output::line("");
    anstream::print!("{}", output::table(&["KEY", "VALUE", "SOURCE"], &table));
    Ok(0)
}

fn flatten(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, serde_json::Value)>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, v, out);
            }
        }
        other => out.push((prefix.to_owned(), other.clone())),
    }
}

/// Print the session id of a folder.
pub fn id(global: &GlobalArgs, path: Option<&Path>) -> Result<i32> {
    let path = match path {
        Some(p) => p.to_path_buf(),
        None => {
            std::env::current_dir().map_err(|e| Error::Failure(format!("cannot read the current directory: {e}")))?
        }
    };
    let canonical = session_id::project_path(&path)
        .map_err(|e| Error::Failure(format!("cannot resolve {}: {e}", path.display())))?;
    let id = SessionId::for_path(&canonical);
    if global.json {
        output::json(&serde_json::json!({
            "id": id.to_string(),
            "path": canonical,
            "project": id.project_name(),
            "remote_folder": id.remote_folder_name(),
        }));
    } else {
        output::line(&id.to_string());
    }
    Ok(0)
}
