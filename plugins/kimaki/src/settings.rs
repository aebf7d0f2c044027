//! The plugin's settings (`[plugins.kimaki]` in config.toml).

use serde::Deserialize;

/// What the user set.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Discord's REST API.
    pub api_base_url: String,
    /// An OpenAI-compatible API for voice messages (`/audio/transcriptions`
    /// under it).
    pub transcription_base_url: String,
    /// The transcription model.
    pub transcription_model: String,
    /// Only this server (its id), when set; else every server the bot is in.
    pub guild: Option<String>,
    /// The role that may drive sessions.
    pub role: String,
    /// The role that may not, whatever else.
    pub blocked_role: String,
    /// Whether `!cmd` runs `cmd` in the project folder.
    pub shell_commands: bool,
    /// The folder, inside the project, attachments are saved in.
    pub attachments_folder: String,
    /// The largest attachment saved, in MiB.
    pub max_attachment_mb: u64,
    /// How many lines `/output` shows by default.
    pub output_lines: u32,
    /// The agent `/new` starts (default: the project's last, else the shell).
    pub agent: Option<String>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            api_base_url: "https://discord.com/api/v10".into(),
            transcription_base_url: "https://api.openai.com/v1".into(),
            transcription_model: "whisper-1".into(),
            guild: None,
            role: "Kimaki".into(),
            blocked_role: "no-kimaki".into(),
            shell_commands: false,
            attachments_folder: "discord-uploads".into(),
            max_attachment_mb: 10,
            output_lines: 40,
            agent: None,
        }
    }
}

impl Settings {
    /// The settings in `config` (a JSON object), checked.
    pub fn parse(config: &str) -> Result<Settings, String> {
        let mut s: Settings = if config.trim().is_empty() {
            Settings::default()
        } else {
            serde_json::from_str(config).map_err(|e| format!("[plugins.kimaki]: {e}"))?
        };
        s.api_base_url = s.api_base_url.trim_end_matches('/').to_owned();
        s.transcription_base_url = s.transcription_base_url.trim_end_matches('/').to_owned();
        let folder = s.attachments_folder.trim_matches('/');
        if folder.is_empty() || folder.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
            return Err(format!(
                "[plugins.kimaki] attachments_folder = {:?}: give a folder inside the project, like \"discord-uploads\"",
                s.attachments_folder
            ));
        }
        s.attachments_folder = folder.to_owned();
        // A plugin reads at most 16 MiB per HTTP answer.
        if !(1..=16).contains(&s.max_attachment_mb) {
            return Err("[plugins.kimaki] max_attachment_mb: give 1 to 16".into());
        }
        if s.role.trim().is_empty() || s.blocked_role.trim().is_empty() {
            return Err("[plugins.kimaki] role and blocked_role cannot be empty".into());
        }
        s.output_lines = s.output_lines.clamp(1, crate::commands::MAX_OUTPUT_LINES);
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_checks() {
        let s = Settings::parse("{}").unwrap();
        assert_eq!((s.role.as_str(), s.shell_commands, s.max_attachment_mb), ("Kimaki", false, 10));
        let s =
            Settings::parse(r#"{"api_base_url":"http://127.0.0.1:9/api/v10/","attachments_folder":"/in/"}"#).unwrap();
        assert_eq!((s.api_base_url.as_str(), s.attachments_folder.as_str()), ("http://127.0.0.1:9/api/v10", "in"));
        for bad in
            [r#"{"attachments_folder":"../x"}"#, r#"{"max_attachment_mb":0}"#, r#"{"role":" "}"#, r#"{"colour":1}"#]
        {
            assert!(Settings::parse(bad).is_err(), "{bad}");
        }
    }
}
