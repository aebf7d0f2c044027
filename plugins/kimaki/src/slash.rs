//! The slash commands: starting a session in a new thread, listing,
//! stopping, its state, the project's changes, the session's last output,
//! linking a channel to a project folder. A member who may not gets a
//! short answer only they see.

use crate::commands::{self, Asked};
use crate::discord::Body;
use crate::links::{self, Thread};
use crate::plugin::Bot;
use crate::screen::Screen;
use crate::text;
use serde_json::{Value, json};
use sinc_plugin_sdk::prelude::*;
use sinc_plugin_sdk::terminal;

/// The answer in a channel that is no project.
const NOT_A_PROJECT: &str = "This channel is not a project: `/project add` links it to a folder.";

/// One interaction being answered.
struct Asking {
    id: String,
    token: String,
    channel: String,
    guild: String,
}

impl Bot {
    /// A slash command arrived.
    pub(crate) fn interaction(&mut self, d: &Value) {
        if d["type"] != 2 || !self.concerns_us(d) {
            return;
        }
        let asking = Asking {
            id: d["id"].as_str().unwrap_or_default().to_owned(),
            token: d["token"].as_str().unwrap_or_default().to_owned(),
            channel: d["channel_id"].as_str().unwrap_or_default().to_owned(),
            guild: d["guild_id"].as_str().unwrap_or_default().to_owned(),
        };
        let name = d["data"]["name"].as_str().unwrap_or_default();
        if let Err(why) = self.check(d) {
            let user = d["member"]["user"]["id"].as_str().unwrap_or("?");
            warn!("refused /{name} from user {user} in channel {}: {why}", asking.channel);
            self.say(&asking, &format!("🚫 Not allowed: {why}."), true);
            return;
        }
        info!("/{name} in channel {}", asking.channel);
        match commands::parse(&d["data"], self.settings.output_lines) {
            Asked::New { prompt } => self.new_session(&asking, prompt.as_deref()),
            Asked::Sessions => {
                let answer = self.sessions_list();
                self.say(&asking, &answer, false);
            }
            Asked::Stop => match self.session_here(&asking) {
                Some(session) => {
                    let answer = match live_sessions::stop(&session) {
                        Ok(()) => format!("⏹️ Stopping `{session}`."),
                        Err(e) => format!("❌ Could not stop `{session}`: {}", e.reason()),
                    };
                    self.say(&asking, &answer, false);
                }
                None => self.say(&asking, "Run `/stop` in a session's thread.", true),
            },
            Asked::Status => {
                let answer = self.status(&asking);
                self.say(&asking, &answer, false);
            }
            Asked::Diff => match self.links.project_of(&asking.channel).map(str::to_owned) {
                Some(project) => self.later(&asking, |_| diff(&project)),
                None => self.say(&asking, NOT_A_PROJECT, true),
            },
            Asked::Output { lines } => match self.session_here(&asking) {
                Some(session) => self.later(&asking, |_| output(&session, lines)),
                None => self.say(&asking, "Run `/output` in a session's thread.", true),
            },
            Asked::ProjectAdd { folder } => {
                let answer = self.project_add(&asking, &folder);
                self.say(&asking, &answer, false);
            }
            Asked::Share { path } => match self.links.project_of(&asking.channel).map(str::to_owned) {
                Some(project) => {
                    let channel = asking.channel.clone();
                    self.later(&asking, |bot| match bot.share(&channel, &project, &path) {
                        Ok(()) => format!("Shared `{path}`."),
                        Err(why) => format!("❌ {why}"),
                    });
                }
                None => self.say(&asking, NOT_A_PROJECT, true),
            },
            Asked::ProjectRemove => {
                let answer = if self.links.remove_project(&asking.channel) {
                    self.save_links();
                    "This channel is no longer a project; its threads stop following their sessions.".to_owned()
                } else {
                    "This channel was not a project.".to_owned()
                };
                self.say(&asking, &answer, false);
            }
            Asked::Unknown(what) => self.say(&asking, &format!("Unknown command `{what}`."), true),
        }
    }

    /// Answer at once.
    fn say(&mut self, asking: &Asking, content: &str, ephemeral: bool) {
        if let Err(why) = self.api.reply(&asking.id, &asking.token, content, ephemeral) {
            warn!("answering an interaction: {why}");
        }
    }

    /// Answer "thinking…" now and `work`'s text when it is done.
    fn later(&mut self, asking: &Asking, work: impl FnOnce(&mut Bot) -> String) {
        if let Err(why) = self.api.defer(&asking.id, &asking.token) {
            return warn!("answering an interaction: {why}");
        }
        let answer = work(self);
        let app = self.app_id.clone();
        if let Err(why) = self.api.complete(&app, &asking.token, &answer) {
            warn!("answering an interaction: {why}");
        }
    }

    /// The session of the thread asked in.
    fn session_here(&self, asking: &Asking) -> Option<String> {
        self.links.threads.get(&asking.channel).map(|t| t.session.clone())
    }

    fn new_session(&mut self, asking: &Asking, prompt: Option<&str>) {
        let parent = self.links.threads.get(&asking.channel).map_or(asking.channel.clone(), |t| t.channel.clone());
        let Some(project) = self.links.projects.get(&parent).cloned() else {
            return self.say(
                asking,
                "This channel is not a project yet: `/project add folder:~/code/app` links it to a folder on the VPS.",
                true,
            );
        };
        let guild = asking.guild.clone();
        let prompt = prompt.map(str::to_owned);
        self.later(asking, move |bot| bot.start_in_thread(&parent, &project, &guild, prompt.as_deref()));
    }

    /// Start (or find) the session of `project` and the thread that follows
    /// it; what to tell the member.
    fn start_in_thread(&mut self, parent: &str, project: &str, guild: &str, prompt: Option<&str>) -> String {
        let session = match sessions::start(project, self.settings.agent.as_deref()) {
            Ok(id) => id,
            Err(e) => return format!("❌ Could not start a session in `{project}`: {}", e.reason()),
        };
        let send = |bot: &mut Bot, thread: &str| {
            if let Some(prompt) = prompt {
                bot.screens.entry(session.clone()).or_default().expect(prompt);
                if let Err(e) = sessions::send(&session, &prompt.replace(['\r', '\n'], " "), true) {
                    bot.api.queue(thread, &format!("❌ Could not type the prompt: {}", e.reason()));
                }
            }
        };
        if let Some(thread) = self.links.thread_of(&session).map(str::to_owned) {
            send(self, &thread);
            return format!("Session `{session}` already runs: <#{thread}>.");
        }
        let folder = project.rsplit('/').find(|s| !s.is_empty()).unwrap_or(project);
        let name: String = format!("{folder} · {session}").chars().take(100).collect();
        let body = json!({ "name": name, "type": 11, "auto_archive_duration": 10080 });
        let thread = match self.api.call("POST", &format!("/channels/{parent}/threads"), Body::Json(&body)) {
            Ok(t) => t["id"].as_str().unwrap_or_default().to_owned(),
            Err(why) => return format!("❌ Session `{session}` started, but its thread could not be made: {why}"),
        };
        self.links.threads.insert(
            thread.clone(),
            Thread { session: session.clone(), channel: parent.to_owned(), guild: guild.to_owned(), ended: false },
        );
        self.save_links();
        // Follow from what it shows now.
        let mut screen = Screen::default();
        if let Ok(now) = sessions::screen(&session, crate::plugin::SCROLLBACK) {
            screen.fresh(&terminal::strip_ansi(&now));
        }
        self.screens.insert(session.clone(), screen);
        self.api.queue(
            &thread,
            &format!("Session `{session}` in `{project}`. Write here to type to its agent; `/output`, `/diff`, `/status`, `/stop`."),
        );
        send(self, &thread);
        format!("Started `{session}`: <#{thread}>.")
    }

    fn sessions_list(&self) -> String {
        let list = match sessions::list() {
            Ok(list) => list,
            Err(e) => return format!("❌ {}", e.reason()),
        };
        if list.is_empty() {
            return "No sessions on the VPS.".into();
        }
        let lines: Vec<String> = list
            .iter()
            .map(|i| {
                let thread = self.links.thread_of(&i.session.id).map(|t| format!(" <#{t}>")).unwrap_or_default();
                format!("• `{}` {} in `{}`{thread}", i.session.id, state_name(i.state), i.session.remote_path)
            })
            .collect();
        lines.join("\n")
    }

    fn status(&self, asking: &Asking) -> String {
        let list = sessions::list().unwrap_or_default();
        if let Some(session) = self.session_here(asking) {
            return match list.iter().find(|i| i.session.id == session) {
                Some(i) => format!(
                    "`{session}` {}, {} terminal(s) attached.\nLast line: `{}`",
                    state_name(i.state),
                    i.attached,
                    terminal::strip_ansi(&i.last_line).replace('`', "'")
                ),
                None => format!("`{session}` has ended."),
            };
        }
        match self.links.project_of(&asking.channel) {
            Some(project) => {
                let running = list.iter().find(|i| i.session.remote_path == project);
                match running {
                    Some(i) => format!("Project `{project}`: session `{}` {}.", i.session.id, state_name(i.state)),
                    None => format!("Project `{project}`: no session; `/new` starts one."),
                }
            }
            None => NOT_A_PROJECT.into(),
        }
    }

    fn project_add(&mut self, asking: &Asking, folder: &str) -> String {
        if self.links.threads.contains_key(&asking.channel) {
            return "Run `/project add` in a channel, not in a session's thread.".into();
        }
        let Some(home) = self.home.clone() else { return "❌ The plugin cannot see the home folder.".into() };
        let home = home.trim_end_matches('/');
        let path = match links::project_folder(home, folder) {
            Ok(path) => path,
            Err(why) => return format!("❌ {why}"),
        };
        if path == home {
            return "❌ Not the home folder itself: give a project's folder under it.".into();
        }
        // Not reached through a symbolic link (it could lead to a hidden
        // folder, or out of the home folder).
        if links::through_link(home, path.strip_prefix(home).unwrap_or_default()) {
            return format!("❌ `{path}` goes through a symbolic link; give the folder's real path.");
        }
        if !std::fs::metadata(&path).is_ok_and(|m| m.is_dir()) {
            return format!("❌ `{path}` is not a folder on the VPS (the bot sees the folders under `{home}`).");
        }
        self.links.projects.insert(asking.channel.clone(), path.clone());
        self.save_links();
        format!("📁 This channel is the project `{path}`: `/new` starts its session in a thread.")
    }
}

fn state_name(state: sessions::State) -> &'static str {
    match state {
        sessions::State::Working => "working",
        sessions::State::Waiting => "waiting for an answer",
        sessions::State::Idle => "idle",
        sessions::State::Exited => "exited",
    }
}

/// The project's changed files and a diffstat.
fn diff(project: &str) -> String {
    let git = |args: &[&str]| {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        process::run("git", &args, Some(project), &[]).map_err(|e| e.reason())
    };
    let status = match git(&["status", "--short", "--untracked-files=all"]) {
        Ok(out) if out.status == Some(0) => String::from_utf8_lossy(&out.stdout).into_owned(),
        Ok(out) => return format!("❌ `{project}`: {}", String::from_utf8_lossy(&out.stderr).trim()),
        Err(why) => return format!("❌ git: {why}"),
    };
    if status.trim().is_empty() {
        return format!("No changes in `{project}`.");
    }
    let stat =
        git(&["diff", "--stat", "HEAD"]).map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    format!("Changes in `{project}`:\n{}", text::code_block(&format!("{}\n{}", status.trim_end(), stat.trim_end())))
}

/// The last `lines` lines of session `session`'s screen.
fn output(session: &str, lines: u32) -> String {
    match sessions::screen(session, lines) {
        Ok(screen) => {
            let clean = terminal::strip_ansi(&screen);
            let all: Vec<&str> = clean.lines().map(str::trim_end).collect();
            let end = all.iter().rposition(|l| !l.is_empty()).map_or(0, |i| i + 1);
            let start = end.saturating_sub(lines as usize);
            text::code_block(&all[start..end].join("\n"))
        }
        Err(e) => format!("❌ {}", e.reason()),
    }
}
