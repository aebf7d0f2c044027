//! Writing settings into the user config file, keeping the user's comments and
//! layout (`sinc setup` edits an existing file instead of starting over).

use super::error::{ConfigError, Origin};
use super::layer;
use crate::atomic_file;
use std::path::Path;

/// Set dotted keys in the config file at `path` (created if missing), then
/// write it atomically with mode 0600. The result is validated before it is
/// written, so a bad value never reaches the file.
pub fn set_values(path: &Path, values: &[(String, toml::Value)]) -> Result<String, ConfigError> {
    let out = with_values(path, values)?;
    atomic_file::write(path, out.as_bytes(), 0o600)
        .map_err(|e| ConfigError::new(Origin::File(path.to_path_buf()), format!("cannot write: {e}")))?;
    Ok(out)
}

/// The text the config file at `path` would have with `values` set,
/// validated, without writing it.
pub fn with_values(path: &Path, values: &[(String, toml::Value)]) -> Result<String, ConfigError> {
    let origin = Origin::File(path.to_path_buf());
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(ConfigError::new(origin, format!("cannot read: {e}"))),
    };
    layer::parse_user_file(path, &text)?;
    let mut doc: toml_edit::DocumentMut =
        text.parse().map_err(|e| ConfigError::new(origin.clone(), format!("cannot edit: {e}")))?;
    for (key, value) in values {
        let mut parts: Vec<&str> = key.split('.').collect();
        let Some(last) = parts.pop() else { continue };
        let mut table = doc.as_table_mut();
        for part in parts {
            let entry = table.entry(part).or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()));
            let Some(t) = entry.as_table_mut() else {
                return Err(ConfigError::new(origin, format!("`{part}` must be a table to set `{key}`")));
            };
            table = t;
        }
        table[last] = toml_edit::value(to_edit_value(value));
    }
    let out = doc.to_string();
    layer::parse_user_file(path, &out)?;
    Ok(out)
}

fn to_edit_value(value: &toml::Value) -> toml_edit::Value {
    match value {
        toml::Value::String(s) => s.as_str().into(),
        toml::Value::Integer(i) => (*i).into(),
        toml::Value::Float(f) => (*f).into(),
        toml::Value::Boolean(b) => (*b).into(),
        toml::Value::Array(items) => toml_edit::Value::Array(items.iter().map(to_edit_value).collect()),
        other => other.to_string().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_keep_comments_and_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.toml");
        std::fs::write(&p, "# my box\n[vps]\nhost = \"old\" # keep me\n").unwrap();
        set_values(&p, &[("vps.user".into(), "dev".into()), ("agent".into(), "claude".into())]).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("# my box"));
        assert!(text.contains("# keep me"));
        assert!(text.contains("user = \"dev\""));
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn bad_values_are_refused_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.toml");
        let err = set_values(&p, &[("vps.port".into(), toml::Value::Integer(0))]).unwrap_err();
        assert!(err.message.contains("port"), "{err}");
        assert!(!p.exists());
    }
}
