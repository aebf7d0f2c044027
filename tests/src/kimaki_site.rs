//! The Kimaki plugin on the "VPS" (a loopback sshd with tmux), driving an
//! agent session started through sinc, against the Discord stand-in and a
//! transcription stub: for its tests and its benchmark.

use crate::discord::{Discord, TOKEN};
use crate::transcription_stub::TranscriptionStub;
use crate::{Client, Sshd};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The bot, its Discord, the "VPS" and the "laptop".
pub struct KimakiSite {
    /// Discord.
    pub discord: Discord,
    /// The transcription service.
    pub transcription: TranscriptionStub,
    /// The "VPS".
    pub sshd: Sshd,
    /// The "laptop".
    pub client: Client,
    _base: tempfile::TempDir,
    /// The remote base folder, in the VPS user's home.
    pub base: PathBuf,
    /// The channel `app`.
    pub channel: String,
    /// A member with the Kimaki role.
    pub alice: String,
    /// The sinc binary on the VPS.
    pub remote_sinc: String,
}

impl KimakiSite {
    /// The bot running on the VPS, the channel `app` linked to nothing yet,
    /// `alice` with the Kimaki role; `agent` is the agent's script, `settings` more lines of
    /// `[plugins.kimaki]`.
    pub fn start(agent: &str, settings: &str) -> KimakiSite {
        let discord = Discord::start();
        let transcription = TranscriptionStub::start();
        let sshd = Sshd::start();
        let base = sshd.home_folder("sinc-kimaki-");
        let agent = sshd.remote_script("agent", agent);
        let mut client = Client::new(&sshd, &agent.to_string_lossy());
        client.set_env("SINC_REMOTE_BASE", &base.path().to_string_lossy());
        let config = std::fs::read_to_string(client.config_file()).unwrap();
        client.write_config(&format!(
            "{config}[plugins.kimaki]\napi_base_url = {:?}\ntranscription_base_url = {:?}\nagent = {:?}\n{settings}\n\
             [secrets]\nkimaki_bot_token = {TOKEN:?}\nkimaki_transcription_key = \"sk-test-transcribe\"\n",
            discord.api(),
            transcription.url,
            agent.to_string_lossy()
        ));
        client.ok(&["plugin", "add", &crate::plugin_component("kimaki").to_string_lossy(), "--yes"]);
        let channel = discord.add_channel("app");
        let alice = discord.add_member("alice", &["Kimaki"], false);
        let started = client.json(&["start"]);
        let remote_sinc = started["remote_binary"]["path"].as_str().unwrap().to_owned();
        let registered = Instant::now();
        while discord.commands().as_array().is_none_or(Vec::is_empty) {
            assert!(
                registered.elapsed() < Duration::from_secs(30),
                "the bot did not register its commands; Discord saw {:?}\nthe daemon's log:\n{}",
                discord.calls().iter().map(|c| format!("{} {}", c.method, c.target)).collect::<Vec<_>>(),
                daemon_log(&sshd)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let base_path = base.path().to_path_buf();
        KimakiSite { discord, transcription, sshd, client, _base: base, base: base_path, channel, alice, remote_sinc }
    }

    /// The project's folder on the VPS.
    pub fn remote_project(&self) -> PathBuf {
        let entries: Vec<PathBuf> = std::fs::read_dir(&self.base).unwrap().flatten().map(|e| e.path()).collect();
        assert_eq!(entries.len(), 1, "{entries:?}");
        entries[0].clone()
    }

    /// Run slash command `name` as `user` in `channel`; its responses once
    /// there are `count`.
    pub fn command(&self, channel: &str, user: &str, name: &str, options: Value, count: usize) -> Vec<Value> {
        let id = self.discord.command(channel, user, name, options);
        self.discord.wait_for(&format!("/{name} to be answered"), |d| {
            let r = d.responses(&id);
            (r.len() >= count).then_some(r)
        })
    }

    /// `/project add` for the project, then `/new`: the session's thread.
    pub fn thread(&self) -> String {
        let folder = self.remote_project().to_string_lossy().into_owned();
        let added = self.command(
            &self.channel,
            &self.alice,
            "project",
            json!([{ "name": "add", "type": 1,
            "options": [{ "name": "folder", "type": 3, "value": folder }] }]),
            1,
        );
        assert!(added[0]["data"]["content"].as_str().unwrap().contains("This channel is the project"), "{added:?}");
        let started = self.command(&self.channel, &self.alice, "new", json!([]), 2);
        assert_eq!(started[0]["type"], 5, "deferred: {started:?}");
        let said = started[1]["content"].as_str().unwrap();
        assert!(said.starts_with("Started `sinc-"), "{said}");
        let threads = self.discord.threads(&self.channel);
        assert_eq!(threads.len(), 1);
        assert_eq!(threads[0]["type"], 11, "a public thread");
        threads[0]["id"].as_str().unwrap().to_owned()
    }

    /// The session's screen.
    pub fn screen(&self) -> String {
        let out = self.sshd.tmux(&["capture-pane", "-p", "-S", "-400", "-t", &format!("={}:", self.id())]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Wait at most `within` until the session's screen shows `text`.
    pub fn wait_for_agent(&self, text: &str, within: Duration) {
        crate::wait_until(within, text, || self.screen().contains(text).then_some(()));
    }

    /// The session's id.
    pub fn id(&self) -> String {
        self.client.ok(&["id"]).trim().to_owned()
    }

    /// Wait until the thread has a bot message containing `text`.
    pub fn wait_for_post(&self, thread: &str, text: &str) -> String {
        self.discord.wait_for(&format!("`{text}` in the thread"), |d| {
            let all = d.bot_text(thread);
            all.contains(text).then_some(all)
        })
    }
}

/// The VPS daemon's log.
pub fn daemon_log(sshd: &Sshd) -> String {
    fn find(dir: &Path) -> Option<PathBuf> {
        for e in std::fs::read_dir(dir).ok()?.flatten() {
            let path = e.path();
            if path.file_name().is_some_and(|n| n == "daemon.log") {
                return Some(path);
            }
            if path.is_dir()
                && let Some(found) = find(&path)
            {
                return Some(found);
            }
        }
        None
    }
    find(&sshd.remote_root()).and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default()
}
