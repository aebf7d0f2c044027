//! `sinc kimaki status [--json]`: the bot's connection, its servers and
//! its links, for the user (from the laptop or on the VPS).

use crate::plugin::Bot;
use serde_json::json;
use sinc_plugin_sdk::CommandOutput;

impl Bot {
    /// What `sinc kimaki status` prints.
    pub(crate) fn status_command(&self, args: &[String]) -> CommandOutput {
        if let Some(other) = args.iter().find(|a| *a != "--json") {
            return CommandOutput::usage(format!(
                "sinc kimaki status: unknown argument `{other}` (usage: sinc kimaki status [--json])"
            ));
        }
        let json = !args.is_empty();
        let state = self.connection_state();
        let projects: Vec<_> = self
            .links
            .projects
            .iter()
            .map(|(channel, folder)| json!({ "channel": channel, "folder": folder }))
            .collect();
        let threads: Vec<_> = self
            .links
            .threads
            .iter()
            .map(
                |(thread, t)| json!({ "thread": thread, "session": t.session, "channel": t.channel, "ended": t.ended }),
            )
            .collect();
        if json {
            let value = json!({
                "state": state, "servers": self.servers(), "projects": projects, "threads": threads,
                "waiting_posts": self.api.waiting(),
            });
            return CommandOutput::ok(format!("{value:#}\n"));
        }
        let mut out = format!("Discord: {state}\nservers: {}\n", self.servers().len());
        out.push_str(&format!("projects ({}):\n", projects.len()));
        for (channel, folder) in &self.links.projects {
            out.push_str(&format!("  channel {channel} → {folder}\n"));
        }
        out.push_str(&format!("threads ({}):\n", threads.len()));
        for (thread, t) in &self.links.threads {
            let ended = if t.ended { " (ended)" } else { "" };
            out.push_str(&format!("  thread {thread} → {}{ended}\n", t.session));
        }
        CommandOutput::ok(out)
    }
}
