//! `sinc plugin new NAME`: a plugin crate that builds and passes its test
//! as written, with the SDK of this very sinc vendored in `sdk/` (so it
//! matches the host, and works offline once wit-bindgen is fetched).

use std::path::Path;

/// The SDK's files, as this sinc was built with them.
const SDK_FILES: &[(&str, &str)] = &[
    ("sdk/Cargo.toml", include_str!("../../../plugin-sdk/Cargo.toml")),
    ("sdk/src/lib.rs", include_str!("../../../plugin-sdk/src/lib.rs")),
    ("sdk/src/fetch.rs", include_str!("../../../plugin-sdk/src/fetch.rs")),
    ("sdk/src/git.rs", include_str!("../../../plugin-sdk/src/git.rs")),
    ("sdk/src/terminal.rs", include_str!("../../../plugin-sdk/src/terminal.rs")),
    ("sdk/wit/plugin.wit", include_str!("../../../plugin-sdk/wit/plugin.wit")),
    ("sdk/README.md", include_str!("../../../plugin-sdk/README.md")),
];

/// The new crate's own files, for a plugin called `name`.
fn crate_files(name: &str) -> Vec<(String, String)> {
    let ident = name.replace('-', "_");
    vec![
        (
            "Cargo.toml".into(),
            format!(
                "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[lib]\ncrate-type = [\"cdylib\"]\n\n\
                 [dependencies]\nsinc-plugin-sdk = {{ path = \"sdk\" }}\n\n[profile.release]\nopt-level = \"s\"\nlto = true\npanic = \"abort\"\n\n\
                 # The vendored SDK is part of this crate, not a workspace of its own.\n[workspace]\n"
            ),
        ),
        (
            "sinc-plugin.toml".into(),
            format!(
                "# Read by `sinc plugin add`: who the plugin is and what it may do.\nname = \"{name}\"\nversion = \"0.1.0\"\n\
                 description = \"What {name} does, in one line\"\nruns-on = \"local\"\n\n\
                 # Nothing is allowed unless listed here (see sdk/README.md).\n[permissions]\n"
            ),
        ),
        (
            "src/lib.rs".into(),
            format!(
                "//! The {name} plugin: `sinc {name} [WORDS…]` echoes its words, counted.\n\n\
                 use sinc_plugin_sdk::prelude::*;\n\n\
                 sinc_plugin_sdk::manifest!(\"../sinc-plugin.toml\");\n\n\
                 /// What the command prints (plain logic: tested natively).\n\
                 pub fn reply(words: &[String], calls: u64) -> String {{\n    \
                 format!(\"{name} #{{calls}}: {{}}\\n\", words.join(\" \"))\n}}\n\n\
                 struct Plugin{ident};\n\n\
                 impl Plugin for Plugin{ident} {{\n    \
                 fn init(_config: String) -> Result<(), String> {{\n        Ok(())\n    }}\n\n    \
                 fn on_event(_event: Event) -> Result<(), String> {{\n        Ok(())\n    }}\n\n    \
                 fn commands() -> Vec<Command> {{\n        \
                 vec![Command {{ name: \"{name}\".into(), summary: \"Echo words (the {name} plugin)\".into() }}]\n    }}\n\n    \
                 fn run_command(_name: String, args: Vec<String>) -> CommandOutput {{\n        \
                 let calls = match kv::get(\"calls\") {{\n            \
                 Ok(Some(v)) => String::from_utf8_lossy(&v).parse().unwrap_or(0) + 1,\n            _ => 1,\n        }};\n        \
                 if let Err(e) = kv::set(\"calls\", calls.to_string().as_bytes()) {{\n            \
                 return CommandOutput::fail(format!(\"cannot count: {{e}}\\n\"));\n        }}\n        \
                 CommandOutput::ok(reply(&args, calls))\n    }}\n\n    \
                 fn shutdown() {{}}\n}}\n\n\
                 sinc_plugin_sdk::export_plugin!(Plugin{ident});\n\n\
                 #[cfg(test)]\nmod tests {{\n    use super::*;\n\n    \
                 #[test]\n    fn the_reply_numbers_the_call() {{\n        \
                 assert_eq!(reply(&[\"a\".into(), \"b\".into()], 3), \"{name} #3: a b\\n\");\n    }}\n}}\n"
            ),
        ),
        (
            "README.md".into(),
            format!(
                "# {name}\n\nA sinc plugin. Build, test and install it:\n\n```sh\nrustup target add wasm32-wasip2\n\
                 cargo test\ncargo build --release --target wasm32-wasip2\n\
                 sinc plugin add target/wasm32-wasip2/release/{ident}.wasm\nsinc {name} hello\n```\n\n\
                 The guide is `sdk/README.md`.\n"
            ),
        ),
        ("sdk/.gitignore".into(), "/target\n".into()),
        (".gitignore".into(), "/target\n".into()),
    ]
}

/// Why a scaffold could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The name is not a plugin name.
    #[error("`{0}` cannot name a plugin: use lowercase letters, digits and `-`, starting with a letter")]
    BadName(String),
    /// The folder exists.
    #[error("{0} already exists; choose another name or folder")]
    Exists(String),
    /// Writing failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// What.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Write a new plugin crate called `name` into the folder `dir` (which must
/// not exist).
pub fn write(dir: &Path, name: &str) -> Result<(), ScaffoldError> {
    if !sinc_plugin_host::manifest::valid_name(name) || super::super::cli::args::is_builtin_command(name) {
        return Err(ScaffoldError::BadName(name.to_owned()));
    }
    if dir.exists() {
        return Err(ScaffoldError::Exists(dir.display().to_string()));
    }
    let files = crate_files(name).into_iter().chain(SDK_FILES.iter().map(|(p, t)| ((*p).to_owned(), (*t).to_owned())));
    for (relative, text) in files {
        let path = dir.join(&relative);
        let io = |source| ScaffoldError::Io { path: path.display().to_string(), source };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::write(&path, text).map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_folders_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["Bad", "1x", "with space", "status", "plugin"] {
            assert!(matches!(write(&dir.path().join("x"), bad), Err(ScaffoldError::BadName(_))), "{bad}");
        }
        assert!(matches!(write(dir.path(), "ok"), Err(ScaffoldError::Exists(_))));
        let target = dir.path().join("my-plugin");
        write(&target, "my-plugin").unwrap();
        let manifest = std::fs::read_to_string(target.join("sinc-plugin.toml")).unwrap();
        let parsed = sinc_plugin_host::Manifest::parse(&manifest).unwrap();
        assert_eq!(parsed.name, "my-plugin");
        assert!(target.join("sdk/wit/plugin.wit").exists() && target.join("src/lib.rs").exists());
    }
}
