//! What sync never copies out of a plugin's sync folder, whatever the
//! plugin or the user's ignore files say: the files agents and tools keep
//! logins, tokens and keys in. Gitignore patterns, matched at any depth;
//! checked before every other rule on both sides, so neither side's
//! credentials reach the other and neither side's are overwritten or
//! deleted. The one definition of the list (docs/agent-config-sync.md shows
//! it, a test keeps the two the same).

/// The credentials list.
pub const CREDENTIALS: [&str; 22] = [
    // Claude Code's login on Linux (OAuth tokens).
    ".credentials.json",
    // OpenCode's provider keys (kept in its data folder; listed in case a
    // user links or copies it into a synced folder).
    "auth.json",
    "credentials",
    "credentials.json",
    "*.credentials",
    ".git-credentials",
    ".netrc",
    ".npmrc",
    ".pypirc",
    ".env",
    ".env.*",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    "*token*.json",
    "*secret*.json",
    // Claude Code's account state (the OAuth account, per-project trust).
    ".claude.json",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::ignore::{IgnoreRules, IgnoreSpec};
    use sinc_sync_core::RelPath;

    #[test]
    fn agents_logins_and_keys_are_on_it_and_their_settings_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let spec = IgnoreSpec { never: CREDENTIALS.map(String::from).to_vec(), ..IgnoreSpec::default() };
        let rules = IgnoreRules::load(dir.path(), &spec).unwrap();
        let ignored = |path: &str| rules.is_ignored(&RelPath::new(path).unwrap(), false);
        for path in
            [".credentials.json", "auth.json", "mcp/.env", "keys/deploy.pem", "oauth_token.json", ".claude.json"]
        {
            assert!(ignored(path), "{path} is a credential");
        }
        for path in ["settings.json", "CLAUDE.md", "commands/review.md", "opencode.json", "AGENTS.md", "agent/plan.md"]
        {
            assert!(!ignored(path), "{path} is configuration");
        }
    }

    #[test]
    fn the_docs_list_every_pattern() {
        let doc = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/agent-config-sync.md"));
        for pattern in CREDENTIALS {
            assert!(doc.contains(&format!("`{pattern}`")), "docs/agent-config-sync.md must list `{pattern}`");
        }
    }
}
